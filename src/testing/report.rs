//! Outcomes of test cases and files, and the console lines `lunet test`
//! prints for them.
//!
//! One line per case, the status padded to eight columns:
//!
//! ```text
//! ok      tests/lua/call_test.lua: call and ret (12 ms)
//! FAIL    tests/lua/call_test.lua: bad echo: expected "hello", got "hell" (tests/lua/call_test.lua:23)
//! TIMEOUT tests/lua/call_test.lua: reads back: after 5 s, waiting in socket.read at tests/lua/call_test.lua:31
//! ```
//!
//! A file that could not run its cases (it does not load, declares none, or
//! its node would not start) is one `FAIL    FILE: MESSAGE` line. A message
//! of several lines keeps its lines, each continuation indented eight
//! columns. The closing line is exactly `N passed, M failed`: a TIMEOUT
//! counts as failed, and so does a file that could not run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It returned, and so did setup and teardown.
    Ok,
    /// An assertion failed or an error was raised (or it could not run).
    Fail,
    /// It did not finish within its timeout.
    Timeout,
}

impl Status {
    /// The word on the console line: `ok`, `FAIL`, `TIMEOUT`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Timeout => "TIMEOUT",
        }
    }
}

/// One case's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    /// The name given to `test.case`.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// What went wrong (empty when it passed).
    pub message: String,
    /// `FILE:LINE` in the script where it went wrong, when known.
    pub location: Option<String>,
    /// From its start to its end, as seen by the runner.
    pub duration: Duration,
}

/// One test script's outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileReport {
    /// The script, as found (the path given, or joined to the directory given).
    pub path: PathBuf,
    /// Its cases that ran (or were given up on), in order.
    pub cases: Vec<CaseReport>,
    /// Why the script could not run (all of) its cases, if it could not.
    pub error: Option<String>,
    /// What the node logged while the script ran (when the runner was given a
    /// [`super::LogCapture`]).
    pub log: String,
    /// From the node's start to its shutdown.
    pub duration: Duration,
}

impl FileReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.status == Status::Ok).count()
    }

    /// Cases that failed or timed out, plus one if the file could not run.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed() + usize::from(self.error.is_some())
    }

    /// Whether something failed.
    pub fn has_failures(&self) -> bool {
        self.failed() > 0
    }

    /// The path as printed.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// The totals over every file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed or timed out, and files that could not run.
    pub failed: usize,
}

impl Summary {
    /// The totals of `reports`.
    pub fn of(reports: &[FileReport]) -> Summary {
        reports.iter().fold(Summary::default(), |s, r| Summary {
            passed: s.passed + r.passed(),
            failed: s.failed + r.failed(),
        })
    }

    /// Whether the run succeeded: nothing failed and at least one case ran.
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

/// Indents every line of `text` after the first by eight columns.
fn continued(text: &str) -> String {
    text.trim_end_matches('\n').replace('\n', "\n        ")
}

/// A duration as the console shows it: `12 ms`, `1.25 s`.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// The console line of one case of `file`.
pub fn case_line(file: &str, case: &CaseReport) -> String {
    let word = case.status.word();
    match case.status {
        Status::Ok => format!("{word:<8}{file}: {} ({})", case.name, human(case.duration)),
        _ => {
            let mut line = format!("{word:<8}{file}: {}: {}", case.name, case.message);
            if let Some(at) = &case.location {
                let _ = write!(line, " ({at})");
            }
            continued(&line)
        }
    }
}

/// The console line of a file that could not run its cases.
pub fn file_error_line(file: &str, message: &str) -> String {
    continued(&format!("{:<8}{file}: {message}", Status::Fail.word()))
}

/// The closing line: exactly `N passed, M failed`.
pub fn summary_line(summary: &Summary) -> String {
    format!("{} passed, {} failed", summary.passed, summary.failed)
}

/// The captured log of a file, under a header, each line indented four
/// columns; empty when nothing was logged.
pub fn log_block(report: &FileReport) -> String {
    if report.log.trim().is_empty() {
        return String::new();
    }
    let mut block = format!("--- log of {} ---\n", report.name());
    for line in report.log.trim_end_matches('\n').lines() {
        let _ = writeln!(block, "    {line}");
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(status: Status, message: &str, location: Option<&str>) -> CaseReport {
        CaseReport {
            name: "reads back".into(),
            status,
            message: message.into(),
            location: location.map(String::from),
            duration: Duration::from_millis(12),
        }
    }

    #[test]
    fn lines_for_each_status() {
        assert_eq!(
            case_line("a_test.lua", &case(Status::Ok, "", None)),
            "ok      a_test.lua: reads back (12 ms)"
        );
        assert_eq!(
            case_line(
                "a_test.lua",
                &case(
                    Status::Fail,
                    "expected \"hello\", got \"hell\"",
                    Some("a_test.lua:23")
                )
            ),
            "FAIL    a_test.lua: reads back: expected \"hello\", got \"hell\" (a_test.lua:23)"
        );
        assert_eq!(
            case_line(
                "a_test.lua",
                &case(
                    Status::Timeout,
                    "after 5 s, waiting in socket.read at a_test.lua:23",
                    None
                )
            ),
            "TIMEOUT a_test.lua: reads back: after 5 s, waiting in socket.read at a_test.lua:23"
        );
    }

    #[test]
    fn a_message_of_several_lines_is_indented() {
        assert_eq!(
            file_error_line("a_test.lua", "not found; searched:\n\tx.lua\n\ty.lua\n"),
            "FAIL    a_test.lua: not found; searched:\n        \tx.lua\n        \ty.lua"
        );
    }

    #[test]
    fn the_summary_counts_timeouts_and_broken_files_as_failed() {
        let good = FileReport {
            path: "a_test.lua".into(),
            cases: vec![case(Status::Ok, "", None), case(Status::Timeout, "t", None)],
            ..FileReport::default()
        };
        let broken = FileReport {
            path: "b_test.lua".into(),
            error: Some("syntax error".into()),
            ..FileReport::default()
        };
        let summary = Summary::of(&[good, broken]);
        assert_eq!(
            summary,
            Summary {
                passed: 1,
                failed: 2
            }
        );
        assert_eq!(summary_line(&summary), "1 passed, 2 failed");
        assert!(!summary.is_success());
        assert!(!Summary::default().is_success(), "no case ran");
        assert!(Summary {
            passed: 3,
            failed: 0
        }
        .is_success());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_micros(1500)), "1 ms");
        assert_eq!(human(Duration::from_millis(1250)), "1.25 s");
    }

    #[test]
    fn the_log_block_is_indented_under_a_header() {
        let report = FileReport {
            path: "a_test.lua".into(),
            log: "[:00000008] one\n[:00000008] two\n".into(),
            ..FileReport::default()
        };
        assert_eq!(
            log_block(&report),
            "--- log of a_test.lua ---\n    [:00000008] one\n    [:00000008] two\n"
        );
        assert_eq!(log_block(&FileReport::default()), "");
    }
}
