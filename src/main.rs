//! The `lunet` command.
//!
//! `lunet run CONFIG [--set key=value]...` starts a Lua node from a config file
//! (see [`lunet::config`]) and runs it until the last service exits (only the
//! system daemons — launcher, service_mgr, logger — are left), a service calls
//! `skynet.abort()`, or the process gets Ctrl-C / SIGTERM; then it shuts the
//! runtime down gracefully (sockets flush, threads join). Exit status: 0, or 1
//! with a message on stderr when the config cannot be loaded (naming the file and
//! key) or the node cannot start (e.g. the `start` service is not found: the
//! message names it and the paths searched).
//!
//! Logs go through `tracing` to stdout (or the config's `logger` file), one line
//! per event, flushed as written: service lines (`skynet.error`, `print`) as
//! `[:0000000a] text`, the runtime's own as `[lunet] LEVEL target: message`.
//! `RUST_LOG` filters them (default `info`).
//!
//! `lunet test [--set key=value]... [--junit FILE] [--timeout SECS] [-v] PATH...`
//! runs protocol-test scripts with the runner of [`lunet::testing`] (which
//! documents how scripts are found, run and timed) and prints one line per
//! case as it ends, then exactly `N passed, M failed`. The node's log (service
//! lines, warnings) is captured per script and printed, indented under a
//! header, after the lines of a script that had a failure or a timeout (`-v`:
//! after every script). Exit status: 0 when every case passed and at least one
//! ran; 1 on any failure or timeout, or when nothing could be run (a missing
//! path, a directory without test scripts, a bad `--set`: the message on
//! stderr names it), or when the JUnit file cannot be written.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use lunet::config::Config;
use lunet::testing::{self, report, CaseReport, FileReport, LogCapture, Observer, Summary};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

const EXAMPLES: &str = "\
Examples:
  lunet run examples/echo/config.lua --set port=9001
  lunet test examples/protocol_tests
  lunet test tests/lua --junit report.xml
  lunet test examples/protocol_tests/external.lua --set target=127.0.0.1:7000";

const RUN_EXAMPLES: &str = "\
Examples:
  lunet run examples/echo/config.lua
  lunet run examples/echo/config.lua --set port=9001 --set thread=4
  RUST_LOG=debug lunet run config.lua";

const TEST_EXAMPLES: &str = "\
A directory is searched recursively for *_test.lua and test_*.lua; a file is
run as given. Each script runs in a fresh node; a test_config.lua next to the
scripts is their base config.

Examples:
  lunet test examples/protocol_tests
  lunet test tests/lua --junit report.xml
  lunet test tests/lua/call_test.lua --timeout 10 -v
  lunet test examples/protocol_tests/external.lua --set target=127.0.0.1:7000";

#[derive(Parser)]
#[command(
    name = "lunet",
    version,
    about = "An actor runtime for server logic written in Lua (skynet-compatible)",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node from a config file (Lua syntax, skynet's keys) and run it
    /// until the last service exits, skynet.abort(), or Ctrl-C / SIGTERM.
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        /// The config file, e.g. config.lua holding `start = "main"`.
        config: PathBuf,
        /// Set or override a config key (repeatable): --set port=9001.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Run protocol-test scripts (Lua services using `require "lunet.test"`):
    /// one line per case, then `N passed, M failed`.
    #[command(after_help = TEST_EXAMPLES)]
    Test {
        /// Test scripts, or directories to search for them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Set a config key in every script's node (repeatable):
        /// --set target=127.0.0.1:7000, read with test.getenv "target".
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Also write the results as JUnit XML to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// The default per-case timeout in seconds (5); test.timeout in a
        /// script and a case's own timeout take precedence.
        #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
        timeout: Option<Duration>,
        /// Print every script's log, not only the log of scripts that failed.
        #[arg(short, long)]
        verbose: bool,
    },
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| *d <= testing::MAX_TIMEOUT)
        .ok_or_else(|| {
            format!(
                "expected a positive number of seconds, at most {} (a year), got {text:?}",
                testing::MAX_TIMEOUT.as_secs()
            )
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, set } => match run(config, &set) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("lunet: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Test {
            paths,
            set,
            junit,
            timeout,
            verbose,
        } => match test(&paths, set, junit.as_deref(), timeout, verbose) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(message) => {
                eprintln!("lunet test: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `lunet test`: runs the scripts, prints as they go; returns whether every
/// case passed (and one ran).
fn test(
    paths: &[PathBuf],
    overrides: Vec<String>,
    junit: Option<&Path>,
    timeout: Option<Duration>,
    verbose: bool,
) -> Result<bool, String> {
    let capture = LogCapture::default();
    let writer = capture.clone();
    install_subscriber(BoxMakeWriter::new(move || writer.writer()))?;
    let options = testing::Options {
        overrides,
        timeout,
        log: Some(capture),
        ..testing::Options::default()
    };
    let mut printer = Printer { verbose };
    let reports = testing::run(paths, &options, &mut printer).map_err(|e| e.to_string())?;
    let summary = Summary::of(&reports);
    println!("{}", report::summary_line(&summary));
    if let Some(file) = junit {
        std::fs::write(file, testing::junit::to_xml(&reports))
            .map_err(|e| format!("cannot write the JUnit report {}: {e}", file.display()))?;
    }
    Ok(summary.is_success())
}

/// Prints each case's line as it ends, and a script's log after its lines
/// when it failed (always with `-v`).
struct Printer {
    verbose: bool,
}

impl Printer {
    fn print(text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

impl Observer for Printer {
    fn case(&mut self, file: &Path, case: &CaseReport) {
        Printer::print(&format!(
            "{}\n",
            report::case_line(&file.display().to_string(), case)
        ));
    }

    fn file(&mut self, file: &FileReport) {
        if let Some(error) = &file.error {
            Printer::print(&format!(
                "{}\n",
                report::file_error_line(&file.name(), error)
            ));
        }
        if self.verbose || file.has_failures() {
            Printer::print(&report::log_block(file));
        }
    }
}

fn run(path: PathBuf, overrides: &[String]) -> Result<(), String> {
    let mut config = Config::load(&path).map_err(|e| e.to_string())?;
    for arg in overrides {
        config.set_override(arg).map_err(|e| e.to_string())?;
    }
    init_logging(&config)?;

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot install the signal handler: {e}"))?;

    let runtime = lunet::lua::start_node(&config)?;
    let node = runtime.node().clone();
    while !node.wait_until_idle(Duration::from_millis(100)) {
        if stop.load(Ordering::SeqCst) {
            tracing::info!("signal received: shutting down");
            break;
        }
    }
    runtime.shutdown();
    match node.abort_error() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn init_logging(config: &Config) -> Result<(), String> {
    let writer = match config.logger() {
        Some(file) => {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .map_err(|e| {
                    format!(
                        "{}: key \"logger\": cannot open log file {}: {e}",
                        config.path().display(),
                        file.display()
                    )
                })?;
            BoxMakeWriter::new(std::sync::Mutex::new(log))
        }
        None => BoxMakeWriter::new(std::io::stdout),
    };
    install_subscriber(writer)
}

/// Logs to `writer`, one line per event (see [`LineFormat`]), filtered by
/// `RUST_LOG` (default `info`).
fn install_subscriber(writer: BoxMakeWriter) -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(LineFormat)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}

/// `[:0000000a] text` for service lines, `[lunet] LEVEL target: message` for
/// the rest.
struct LineFormat;

#[derive(Default)]
struct Fields {
    service: Option<String>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "service" => self.service = Some(format!("{value:?}")),
            name => self.rest.push_str(&format!(" {name}={value:?}")),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "service" => self.service = Some(value.to_string()),
            name => self.rest.push_str(&format!(" {name}={value}")),
        }
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        match (&fields.service, meta.target() == lunet::lua::log::TARGET) {
            (Some(service), true) => writeln!(writer, "[{service}] {}", fields.message),
            _ => writeln!(
                writer,
                "[lunet] {} {}: {}{}",
                meta.level(),
                meta.target(),
                fields.message,
                fields.rest
            ),
        }
    }
}
