//! JUnit XML for CI (`lunet test --junit FILE`).
//!
//! The shape CI tools read: one `<testsuites>` holding one `<testsuite>` per
//! test script (`name` = the script's path), one `<testcase>` per case
//! (`classname` = the script's path, `time` in seconds), a `<failure>` for a
//! FAIL or a TIMEOUT (`type` says which; `message` is the message, the body
//! adds the location), and the script's captured log in `<system-out>`. A
//! script that could not run its cases gets a testcase named `(script)` with
//! the failure. Text and attributes are escaped; characters XML 1.0 does not
//! allow (control characters other than tab, newline and carriage return) are
//! written as U+FFFD.

use std::fmt::Write as _;
use std::time::Duration;

use super::report::{FileReport, Status, Summary};

/// Escapes `text` for an attribute value or character data.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The JUnit XML document for `reports`.
pub fn to_xml(reports: &[FileReport]) -> String {
    let total = Summary::of(reports);
    let time: Duration = reports.iter().map(|r| r.duration).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"lunet test\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">",
        total.passed + total.failed,
        total.failed,
        secs(time)
    );
    for report in reports {
        let name = escape(&report.name());
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">",
            report.passed() + report.failed(),
            report.failed(),
            secs(report.duration)
        );
        for case in &report.cases {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{name}\" time=\"{}\"",
                escape(&case.name),
                secs(case.duration)
            );
            if case.status == Status::Ok {
                xml.push_str("/>\n");
                continue;
            }
            let body = match &case.location {
                Some(at) => format!("{} ({at})", case.message),
                None => case.message.clone(),
            };
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                escape(&case.message),
                case.status.word(),
                escape(&body)
            );
        }
        if let Some(error) = &report.error {
            let _ = writeln!(
                xml,
                "    <testcase name=\"(script)\" classname=\"{name}\" time=\"0.000\">\n      <failure message=\"{}\" type=\"FAIL\">{}</failure>\n    </testcase>",
                escape(error),
                escape(error)
            );
        }
        if !report.log.is_empty() {
            let _ = writeln!(xml, "    <system-out>{}</system-out>", escape(&report.log));
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::report::CaseReport;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(
            escape("a<b>&\"c\"'d'\n\t\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#10;&#9;\u{FFFD}"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn one_suite_per_file_one_case_per_case() {
        let reports = vec![
            FileReport {
                path: "a<b>_test.lua".into(),
                cases: vec![
                    CaseReport {
                        name: "passes".into(),
                        status: Status::Ok,
                        message: String::new(),
                        location: None,
                        duration: Duration::from_millis(12),
                    },
                    CaseReport {
                        name: "fails & says so".into(),
                        status: Status::Fail,
                        message: "expected \"x\", got \"y\"".into(),
                        location: Some("a_test.lua:3".into()),
                        duration: Duration::from_millis(1),
                    },
                ],
                log: "[:00000008] <hi>\n".into(),
                duration: Duration::from_millis(40),
                ..FileReport::default()
            },
            FileReport {
                path: "b_test.lua".into(),
                error: Some("syntax error near 'end'".into()),
                ..FileReport::default()
            },
        ];
        let xml = to_xml(&reports);
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(
            xml.contains("<testsuites name=\"lunet test\" tests=\"3\" failures=\"2\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"a&lt;b&gt;_test.lua\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"0.040\">"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testcase name=\"passes\" classname=\"a&lt;b&gt;_test.lua\" time=\"0.012\"/>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"expected &quot;x&quot;, got &quot;y&quot;\" type=\"FAIL\">expected &quot;x&quot;, got &quot;y&quot; (a_test.lua:3)</failure>"),
            "{xml}"
        );
        assert!(xml.contains("name=\"fails &amp; says so\""), "{xml}");
        assert!(
            xml.contains("<system-out>[:00000008] &lt;hi&gt;&#10;</system-out>"),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"(script)\" classname=\"b_test.lua\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
        assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
        assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
    }
}
