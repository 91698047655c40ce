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

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use lunet::config::Config;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "lunet",
    version,
    about = "An actor runtime for server logic written in Lua (skynet-compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node from a config file (Lua syntax, skynet's keys) and run it
    /// until the last service exits, skynet.abort(), or Ctrl-C / SIGTERM.
    Run {
        /// The config file, e.g. config.lua holding `start = "main"`.
        config: PathBuf,
        /// Set or override a config key (repeatable): --set port=9001.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
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
