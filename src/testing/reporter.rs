//! The runner's end of the wire: the Rust service `.lunet_test` that the Lua
//! module `lunet.test` reports to, and the events it decodes.
//!
//! The module sends text messages (ptype TEXT, session 0), one per event,
//! fields separated by tabs; inside a field a backslash, tab and newline are
//! written `\\`, `\t` and `\n`:
//!
//! | message | when |
//! |---|---|
//! | `hello SCRIPT` | the script required `lunet.test` (its chunk is loading) |
//! | `case NAME` | a case was declared (in order; the first is index 1) |
//! | `begin INDEX TIMEOUT` | case INDEX starts; it has TIMEOUT seconds |
//! | `watch TIMEOUT` | the case goes on for TIMEOUT more seconds (teardown after a timeout) |
//! | `end INDEX STATUS MESSAGE LOCATION` | case INDEX ended: `ok`, `FAIL` or `TIMEOUT` |
//! | `error MESSAGE` | the script cannot run (no cases declared) |
//! | `done` | every case ran |
//!
//! The reporter runs on a worker thread and forwards each event, with the
//! handle of the service that sent it, through a channel to the runner's
//! thread, which does the waiting and the timing (see [`super`]). A message
//! that does not decode is logged and dropped.

use std::time::Duration;

use crossbeam_channel::Sender;

use super::report::Status;
use crate::actor::{ptype, Context, Handle, Message, Service};

/// The name the reporter is registered under.
pub(crate) const NAME: &str = ".lunet_test";

/// One decoded report from the test script.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Event {
    Hello,
    Case { name: String },
    Begin { index: usize, timeout: Duration },
    Watch { timeout: Duration },
    End(Ended),
    Error { message: String },
    Done,
}

/// How a case ended, as the script reported it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ended {
    pub(crate) index: usize,
    pub(crate) status: Status,
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

/// The service: decodes text messages and forwards them.
pub(crate) struct Reporter {
    pub(crate) events: Sender<(Handle, Event)>,
}

impl Service for Reporter {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        if message.ptype != ptype::TEXT {
            return;
        }
        let text = String::from_utf8_lossy(message.payload.bytes());
        match parse(&text) {
            Ok(event) => {
                let _ = self.events.send((message.source, event));
            }
            Err(why) => {
                tracing::warn!(
                    "lunet test: bad report from {}: {why}: {text:?}",
                    message.source
                )
            }
        }
    }
}

/// Undoes the module's escaping of one field.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn seconds(field: &str) -> Result<Duration, String> {
    field
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("bad timeout {field:?}"))
}

fn index(field: &str) -> Result<usize, String> {
    field
        .parse::<usize>()
        .ok()
        .filter(|i| *i >= 1)
        .ok_or_else(|| format!("bad case index {field:?}"))
}

/// Decodes one message (see the module docs).
pub(crate) fn parse(text: &str) -> Result<Event, String> {
    let fields: Vec<String> = text.split('\t').map(unescape).collect();
    let field = |i: usize| -> Result<&str, String> {
        fields
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("field {i} missing"))
    };
    match field(0)? {
        "hello" => Ok(Event::Hello),
        "case" => Ok(Event::Case {
            name: field(1)?.to_string(),
        }),
        "begin" => Ok(Event::Begin {
            index: index(field(1)?)?,
            timeout: seconds(field(2)?)?,
        }),
        "watch" => Ok(Event::Watch {
            timeout: seconds(field(1)?)?,
        }),
        "end" => {
            let status = match field(2)? {
                "ok" => Status::Ok,
                "FAIL" => Status::Fail,
                "TIMEOUT" => Status::Timeout,
                other => return Err(format!("bad status {other:?}")),
            };
            let location = field(4)?;
            Ok(Event::End(Ended {
                index: index(field(1)?)?,
                status,
                message: field(3)?.to_string(),
                location: (!location.is_empty()).then(|| location.to_string()),
            }))
        }
        "error" => Ok(Event::Error {
            message: field(1)?.to_string(),
        }),
        "done" => Ok(Event::Done),
        other => Err(format!("unknown report {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_decodes() {
        assert_eq!(parse("hello\tx_test.lua"), Ok(Event::Hello));
        assert_eq!(
            parse("case\ta\\tb"),
            Ok(Event::Case {
                name: "a\tb".into()
            })
        );
        assert_eq!(
            parse("begin\t2\t0.5"),
            Ok(Event::Begin {
                index: 2,
                timeout: Duration::from_millis(500)
            })
        );
        assert_eq!(
            parse("watch\t5"),
            Ok(Event::Watch {
                timeout: Duration::from_secs(5)
            })
        );
        assert_eq!(
            parse("end\t1\tFAIL\tline one\\nline \\\\two\tx_test.lua:3"),
            Ok(Event::End(Ended {
                index: 1,
                status: Status::Fail,
                message: "line one\nline \\two".into(),
                location: Some("x_test.lua:3".into()),
            }))
        );
        assert_eq!(
            parse("end\t3\tok\t\t"),
            Ok(Event::End(Ended {
                index: 3,
                status: Status::Ok,
                message: String::new(),
                location: None,
            }))
        );
        assert_eq!(parse("done"), Ok(Event::Done));
    }

    #[test]
    fn bad_reports_say_what_is_wrong() {
        assert!(parse("begin\t0\t1").unwrap_err().contains("index"));
        assert!(parse("begin\t1\t-1").unwrap_err().contains("timeout"));
        assert!(parse("end\t1\tmaybe\t\t").unwrap_err().contains("status"));
        assert!(parse("end\t1").unwrap_err().contains("missing"));
        assert!(parse("what").unwrap_err().contains("unknown"));
    }
}
