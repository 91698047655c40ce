//! The protocol-test runner behind `lunet test PATH...`.
//!
//! A test script is a Lua service that uses `require "lunet.test"` (the Lua
//! module `lua/lunet/test.lua`: cases, setup/teardown, timeouts, assertions,
//! `test.connect`, `test.getenv`; its header is the script writer's
//! reference). This module finds the scripts ([`discover()`]), runs each in a
//! fresh node ([`config`] says how the node is configured), collects what the
//! script reports, watches the time, and hands each outcome to an
//! [`Observer`] as it happens; [`report`] makes the console lines and
//! [`junit`] the JUnit XML. The `lunet` binary only parses arguments and
//! prints.
//!
//! ```no_run
//! use std::path::PathBuf;
//! use lunet::testing::{self, Options};
//!
//! // `()` observes nothing; `lunet test` prints each line as it comes.
//! let reports = testing::run(&[PathBuf::from("tests/lua")], &Options::default(), &mut ())?;
//! for report in &reports {
//!     for case in &report.cases {
//!         println!("{}", testing::report::case_line(&report.name(), case));
//!     }
//! }
//! assert!(testing::Summary::of(&reports).is_success());
//! # Ok::<(), testing::RunError>(())
//! ```
//!
//! # How a script runs
//! 1. Before the node boots, the runner registers a Rust service,
//!    `.lunet_test` (`reporter.rs`), that the module reports to with text
//!    messages: the script loaded, each case declared, each case's start
//!    (with its timeout) and end (status, message, location), done.
//! 2. The node boots as `lunet run` boots one, with the script as `start`.
//!    A script that fails to load (syntax error, a `require` or a service not
//!    found — the loader's message lists the paths searched) aborts the node;
//!    the file is reported as one FAIL with that message.
//! 3. The module runs the cases one at a time, in declaration order, and
//!    enforces each case's timeout with a timer in the script's service. The
//!    runner times each case (from its start report to its end report) and
//!    also watches it: a case that has not ended a grace period
//!    ([`Options::grace`], 1 s) after its timeout is stuck in Lua code that
//!    never yields (no timer can fire in that service), so the runner
//!    interrupts the service ([`crate::actor::Node::interrupt`]); the module
//!    reports that as TIMEOUT "running Lua code without yielding at
//!    FILE:LINE". If the case still has not ended two grace periods later
//!    (the code catches the interrupt's error and loops on), the runner gives
//!    up on the file: that case is a TIMEOUT, the cases after it FAIL as not
//!    run, and the node is shut down (shutdown interrupts every service until
//!    it stops, so the runner always ends). The same watch covers the loading
//!    of the script and the gaps between cases, with the default timeout plus
//!    5 s.
//! 4. If the script's service exits (`skynet.exit`, or it was killed) before
//!    its last case ended, the case running then FAILs saying so and the rest
//!    FAIL as not run. If the node is aborted (`skynet.abort`, or the script
//!    failed to load), the reports still queued for `.lunet_test` are lost
//!    with it, so the file may be one FAIL line naming the abort. A script
//!    that ends without reporting at all (it does not use `lunet.test`) is
//!    one FAIL line saying so.
//! 5. After the last case (or giving up) the node is shut down: services the
//!    cases started are killed, sockets are flushed and closed, every thread
//!    is joined. Then the next script runs; scripts never run concurrently,
//!    so the log captured ([`LogCapture`]) is that script's own.

mod capture;
pub mod config;
pub mod discover;
pub mod junit;
pub mod report;
mod reporter;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

pub use capture::{CaptureWriter, LogCapture};
pub use discover::{discover, DiscoverError};
pub use report::{CaseReport, FileReport, Status, Summary};

use crate::actor::{Handle, Node};
use reporter::{Ended, Event, Reporter};

/// The per-case timeout when neither the case, the script nor
/// [`Options::timeout`] sets one (`lunet.test`'s own default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest per-case timeout: a year. `lunet.test` refuses a longer one
/// (`test.timeout`, a case's `timeout`) and `lunet test --timeout` too.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86400);

/// `now + d`, or a century from now when that cannot be represented: a
/// deadline never overflows the clock.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86400)))
        .unwrap_or(now)
}

/// How to run the scripts.
#[derive(Clone, Debug)]
pub struct Options {
    /// `key=value` settings applied to every script's node (`--set`).
    pub overrides: Vec<String>,
    /// The default per-case timeout (`--timeout`); a script's
    /// `test.timeout` and a case's `opts.timeout` take precedence.
    pub timeout: Option<Duration>,
    /// How long past its timeout a case may hold its service before the
    /// runner interrupts it (and twice that after the interrupt before it
    /// gives up on the file).
    pub grace: Duration,
    /// Where the subscriber writes the log: emptied before each script,
    /// taken into [`FileReport::log`] after it.
    pub log: Option<LogCapture>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            overrides: Vec::new(),
            timeout: None,
            grace: Duration::from_secs(1),
            log: None,
        }
    }
}

/// Told of each outcome as it happens.
pub trait Observer {
    /// A case of `file` ended (or was given up on).
    fn case(&mut self, file: &Path, case: &CaseReport);
    /// A script is done: its node has shut down and its log is captured.
    fn file(&mut self, report: &FileReport);
}

/// Observes nothing (for callers that only want the reports).
impl Observer for () {
    fn case(&mut self, _: &Path, _: &CaseReport) {}
    fn file(&mut self, _: &FileReport) {}
}

/// Why nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The paths name no runnable script.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// A `--set` is not `key=value`, or sets a known key to a bad value.
    #[error("--set {arg}: {message}")]
    Override {
        /// The override as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Runs every script `paths` name (see [`discover()`]), one after the other;
/// returns their reports. An error means nothing was run.
pub fn run(
    paths: &[PathBuf],
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<Vec<FileReport>, RunError> {
    check_overrides(&options.overrides)?;
    let scripts = discover(paths)?;
    Ok(scripts
        .iter()
        .map(|script| run_file(script, options, observer))
        .collect())
}

/// Checks each override on an empty config, so a bad one is reported once,
/// before anything runs.
fn check_overrides(overrides: &[String]) -> Result<(), RunError> {
    let mut probe =
        crate::config::Config::from_source("--set", "").map_err(|e| RunError::Override {
            arg: String::new(),
            message: e.to_string(),
        })?;
    for arg in overrides {
        probe.set_override(arg).map_err(|e| RunError::Override {
            arg: arg.clone(),
            message: match e {
                crate::config::ConfigError::Invalid {
                    key, expected, got, ..
                } => format!("key \"{key}\": expected {expected}, got {got}"),
                other => other.to_string(),
            },
        })?;
    }
    Ok(())
}

/// Runs one script in a fresh node (see the module docs).
pub fn run_file(script: &Path, options: &Options, observer: &mut dyn Observer) -> FileReport {
    if let Some(log) = &options.log {
        log.take();
    }
    let started = Instant::now();
    let mut report = FileReport {
        path: script.to_path_buf(),
        ..FileReport::default()
    };
    match config::script_config(script, &options.overrides, options.timeout) {
        Ok(config) => {
            let (events, received) = crossbeam_channel::unbounded();
            let booted = crate::lua::start_node_with(&config, |runtime| {
                let handle =
                    runtime.launch(Box::new(Reporter { events }), "lunet test reporter")?;
                runtime.node().register_name(reporter::NAME, handle);
                runtime.node().set_daemon(handle);
                Ok(())
            });
            match booted {
                Ok(runtime) => {
                    let node = runtime.node().clone();
                    Watch::new(script, options, &node, &mut report, observer).run(&received);
                    runtime.shutdown();
                }
                Err(e) => report.error = Some(format!("cannot start the node: {e}")),
            }
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report.duration = started.elapsed();
    if let Some(log) = &options.log {
        report.log = log.take();
    }
    observer.file(&report);
    report
}

/// The runner's side of one script's run: events in, outcomes out, time
/// watched.
struct Watch<'a> {
    script: &'a Path,
    options: &'a Options,
    node: &'a Node,
    report: &'a mut FileReport,
    observer: &'a mut dyn Observer,
    /// The script's service, once it said hello.
    service: Option<Handle>,
    /// The cases declared, in order.
    names: Vec<String>,
    /// The case running: its index (1-based), start and timeout.
    current: Option<(usize, Instant, Duration)>,
    /// When the runner acts if nothing comes: interrupt, then give up.
    deadline: Instant,
    interrupted: bool,
    /// How many times in a row the deadline passed while the service was
    /// waiting for a worker rather than running.
    starved: u32,
    /// The last case that ended, so the rest can be reported as not run.
    ended: usize,
    /// The run is over (given up, or the node or service is gone).
    over: bool,
}

impl<'a> Watch<'a> {
    fn new(
        script: &'a Path,
        options: &'a Options,
        node: &'a Node,
        report: &'a mut FileReport,
        observer: &'a mut dyn Observer,
    ) -> Watch<'a> {
        let mut watch = Watch {
            script,
            options,
            node,
            report,
            observer,
            service: None,
            names: Vec::new(),
            current: None,
            deadline: Instant::now(),
            interrupted: false,
            starved: 0,
            ended: 0,
            over: false,
        };
        watch.between_cases();
        watch
    }

    /// How long loading, or a gap between cases, may take.
    fn phase_limit(&self) -> Duration {
        self.options
            .timeout
            .unwrap_or(DEFAULT_TIMEOUT)
            .saturating_add(Duration::from_secs(5))
    }

    fn between_cases(&mut self) {
        self.deadline = deadline_after(self.phase_limit());
        self.interrupted = false;
        self.starved = 0;
    }

    fn run(mut self, events: &Receiver<(Handle, Event)>) {
        /// How often the node's state is looked at while nothing comes.
        const TICK: Duration = Duration::from_millis(50);
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left.min(TICK)) {
                Ok((source, event)) => {
                    if self.event(source, event) {
                        return self.done();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // The reporter is dropped with the node's services: the
                    // node was aborted (the script failed to load).
                    let why = self.why_gone();
                    self.stop(why);
                    return;
                }
            }
            // Without a hello, the script may have ended (or never be a test):
            // only the daemons (the reporter among them) are left.
            let silent_end = self.service.is_none() && self.node.busy_count() == 0;
            if self.node.is_aborted()
                || silent_end
                || self.service.is_some_and(|s| !self.node.is_alive(s))
            {
                // What the script sent before is in the channel: take it first.
                while let Ok((source, event)) = events.try_recv() {
                    if self.event(source, event) {
                        return self.done();
                    }
                }
                let why = self.why_gone();
                self.stop(why);
                return;
            }
            if Instant::now() >= self.deadline {
                self.overdue();
                if self.over {
                    return;
                }
            }
        }
    }

    /// The script said it is done.
    fn done(&mut self) {
        if self.ended < self.names.len() && self.report.error.is_none() {
            let why = "the script said it was done before this case ran".to_string();
            self.not_run(self.ended + 1, &why);
        }
    }

    /// Handles one event; true when the script is done.
    fn event(&mut self, source: Handle, event: Event) -> bool {
        match event {
            Event::Hello => {
                self.service = Some(source);
                self.between_cases();
            }
            Event::Case { name } => self.names.push(name),
            Event::Begin { index, timeout } => {
                self.current = Some((index, Instant::now(), timeout));
                self.deadline = deadline_after(timeout.saturating_add(self.options.grace));
                self.interrupted = false;
                self.starved = 0;
            }
            Event::Watch { timeout } => {
                self.deadline = deadline_after(timeout.saturating_add(self.options.grace));
                self.interrupted = false;
                self.starved = 0;
            }
            Event::End(ended) => self.ended(ended),
            Event::Error { message } => self.report.error = Some(message),
            Event::Done => return true,
        }
        false
    }

    fn name_of(&self, index: usize) -> String {
        self.names
            .get(index - 1)
            .cloned()
            .unwrap_or_else(|| format!("case {index}"))
    }

    fn record(&mut self, case: CaseReport) {
        self.observer.case(self.script, &case);
        self.report.cases.push(case);
    }

    fn ended(&mut self, ended: Ended) {
        let duration = match self.current.take() {
            Some((index, start, _)) if index == ended.index => start.elapsed(),
            _ => Duration::ZERO,
        };
        let case = CaseReport {
            name: self.name_of(ended.index),
            status: ended.status,
            message: ended.message,
            location: ended.location,
            duration,
        };
        self.ended = ended.index;
        self.record(case);
        self.between_cases();
    }

    /// Cases `from..` were never run.
    fn not_run(&mut self, from: usize, why: &str) {
        for index in from..=self.names.len() {
            let case = CaseReport {
                name: self.name_of(index),
                status: Status::Fail,
                message: format!("not run: {why}"),
                location: None,
                duration: Duration::ZERO,
            };
            self.record(case);
        }
        self.ended = self.names.len();
    }

    /// Why the run cannot go on: the node was aborted or the script's
    /// service is gone.
    fn why_gone(&self) -> String {
        if self.node.is_aborted() {
            match self.node.abort_error() {
                Some(error) => cleaned(&error, self.script),
                None => "the node was aborted (skynet.abort)".to_string(),
            }
        } else if self.service.is_none() && self.node.busy_count() == 0 {
            "the script ended without reporting to the runner: a test script requires \"lunet.test\" at its top level and declares cases with test.case".to_string()
        } else if self.service.is_some_and(|s| !self.node.is_alive(s)) {
            "the test script's service exited (skynet.exit, or it was killed)".to_string()
        } else {
            "the test reporter is gone".to_string()
        }
    }

    /// Ends the run for `why`: on the case running, or on the file.
    fn stop(&mut self, why: String) {
        match self.current.take() {
            Some((index, start, _)) => {
                let case = CaseReport {
                    name: self.name_of(index),
                    status: Status::Fail,
                    message: why.clone(),
                    location: None,
                    duration: start.elapsed(),
                };
                self.record(case);
                self.ended = index;
                self.not_run(index + 1, "an earlier case ended the run");
            }
            None if self.ended > 0 && self.ended < self.names.len() => {
                self.not_run(self.ended + 1, &why);
            }
            None => {
                if self.report.error.is_none() {
                    self.report.error = Some(why);
                }
            }
        }
        self.over = true;
    }

    /// Nothing came before the deadline: interrupt the service, or give up.
    fn overdue(&mut self) {
        match (self.service, self.interrupted) {
            (Some(service), false)
                if !self.node.is_running(service) && self.starved < STARVED_CHECKS =>
            {
                // Its service is waiting for a worker (other services hold
                // them all), not running the case: wait before blaming it.
                self.starved += 1;
                self.deadline = deadline_after(self.options.grace);
            }
            (Some(service), false) => {
                tracing::warn!(
                    "lunet test: {} holds its service past its timeout: interrupting it",
                    self.script.display()
                );
                self.node.interrupt(service);
                self.interrupted = true;
                self.deadline = deadline_after(self.options.grace.saturating_mul(2));
            }
            _ => {
                let why = match self.current {
                    Some((_, _, timeout)) => {
                        return self.give_up_case(timeout);
                    }
                    None if self.service.is_none() => format!(
                        "no report from the script within {}: a test script requires \"lunet.test\" at its top level",
                        report::human(self.phase_limit())
                    ),
                    None => format!(
                        "no report from the script for {} between cases; its service is stuck",
                        report::human(self.phase_limit())
                    ),
                };
                self.stop(why);
            }
        }
    }

    /// The case running could not be stopped.
    fn give_up_case(&mut self, timeout: Duration) {
        let Some((index, start, _)) = self.current.take() else {
            return;
        };
        let case = CaseReport {
            name: self.name_of(index),
            status: Status::Timeout,
            message: match self.service {
                Some(service) if !self.node.is_running(service) => format!(
                    "after {}, its service got no worker for {} (other services held every worker thread); the file was abandoned",
                    secs(timeout),
                    report::human(self.options.grace.saturating_mul(STARVED_CHECKS))
                ),
                _ => format!(
                    "after {}, still running Lua code after the runner interrupted it (does it catch every error?); the file was abandoned",
                    secs(timeout)
                ),
            },
            location: None,
            duration: start.elapsed(),
        };
        self.record(case);
        self.ended = index;
        self.not_run(index + 1, "an earlier case could not be stopped");
        self.over = true;
    }
}

/// How many grace periods a case's deadline may be pushed back while its
/// service waits for a worker, before the file is given up.
const STARVED_CHECKS: u32 = 10;

/// A timeout as `lunet.test` prints it (`0.5 s`, `5 s`).
fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// The abort error of a node whose script failed to start, less bootstrap's
/// wrapping: `bootstrap: start service "x_test" failed: ` and the
/// launcher's `snlua x_test: ` say nothing the FAIL line does not.
fn cleaned(error: &str, script: &Path) -> String {
    let name = script
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let mut text = error;
    for prefix in [
        format!("bootstrap: start service {name:?} failed: "),
        format!("skynet.newservice {name}: "),
        format!("snlua {name}: "),
    ] {
        if let Some(rest) = text.strip_prefix(prefix.as_str()) {
            text = rest;
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_wrapping_is_removed_from_load_errors() {
        let script = Path::new("dir/x_test.lua");
        assert_eq!(
            cleaned(
                "bootstrap: start service \"x_test\" failed: skynet.newservice x_test: snlua x_test: dir/x_test.lua:3: boom",
                script
            ),
            "dir/x_test.lua:3: boom"
        );
        assert_eq!(cleaned("other", script), "other");
    }

    #[test]
    fn bad_overrides_are_refused_before_anything_runs() {
        let err = check_overrides(&["thread=x".into()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--set thread=x: key \"thread\""), "{err}");
        let err = check_overrides(&["nokey".into()]).unwrap_err().to_string();
        assert!(err.contains("nokey"), "{err}");
        check_overrides(&["target=127.0.0.1:7000".into()]).unwrap();
    }
}
