//! `lunet test`, the protocol-test runner, run as the real binary from the
//! crate root on the fixture scripts in `tests/runner_fixtures/` (named
//! without `_test` so that no directory run picks them up, except
//! `suite/`, which passes), on the project's own Lua tests (`tests/lua/`) and
//! on the examples' protocol tests (`examples/protocol_tests/`).
//!
//! Every process wait is bounded by [`WAIT`]: a process still running then is
//! killed and the test fails saying what it waited for, with its output.
//! Expected lines name the fixture's lines by the markers in them
//! (`-- [read]`), so editing a fixture does not silently shift them.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

const FIXTURES: &str = "tests/runner_fixtures";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `lunet ARGS...` started from the crate root, output piped.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lunet"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lunet binary runs")
}

/// A finished `lunet` process.
struct Run {
    status: ExitStatus,
    out: String,
    err: String,
}

impl Run {
    /// Everything it printed, for failure messages.
    fn shown(&self) -> String {
        format!(
            "status {}\n--- stdout:\n{}--- stderr:\n{}",
            self.status, self.out, self.err
        )
    }

    /// The stdout lines that are case or file lines (not log lines).
    fn results(&self) -> Vec<&str> {
        self.out
            .lines()
            .filter(|l| {
                ["ok ", "FAIL ", "TIMEOUT "]
                    .iter()
                    .any(|w| l.starts_with(w))
            })
            .collect()
    }

    fn last_line(&self) -> &str {
        self.out.lines().last().unwrap_or("")
    }
}

/// Runs `lunet ARGS...` to the end; kills it and panics after [`WAIT`].
fn lunet(args: &[&str]) -> Run {
    let mut child = spawn(args);
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (out.join().unwrap(), err.join().unwrap());
            panic!(
                "timed out after {WAIT:?} waiting for `lunet {}` to exit; killed it\n--- stdout:\n{out}--- stderr:\n{err}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        out: out.join().unwrap(),
        err: err.join().unwrap(),
    }
}

/// `lunet test ARGS...`.
fn test(args: &[&str]) -> Run {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    lunet(&all)
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// The line of `file` (from the crate root) holding `marker`.
fn line_of(file: &str, marker: &str) -> usize {
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    source
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker} in {file}"))
        + 1
}

/// A fresh temporary file path, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        TempFile(std::env::temp_dir().join(format!(
            "lunet-runner-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ----- outcomes and lines -----

#[test]
fn passing_cases_print_ok_lines_then_the_closing_line_and_exit_zero() {
    let file = fixture("assertions.lua");
    let run = test(&[&file]);
    assert!(run.status.success(), "{}", run.shown());
    let results = run.results();
    assert_eq!(results.len(), 9, "{}", run.shown());
    for line in &results {
        assert!(line.starts_with(&format!("ok      {file}: ")), "{line}");
        assert!(line.ends_with(" ms)") || line.ends_with(" s)"), "{line}");
    }
    assert!(
        results[0].starts_with(&format!("ok      {file}: ok and fail (")),
        "in declaration order: {results:?}"
    );
    assert_eq!(run.last_line(), "9 passed, 0 failed", "{}", run.shown());
    assert!(
        !run.out.contains("--- log of"),
        "no log for a passing file\n{}",
        run.shown()
    );
}

#[test]
fn a_failing_eq_shows_the_message_both_values_and_the_scripts_line() {
    let file = fixture("failures.lua");
    let run = test(&[&file]);
    assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    let bad_echo = line_of(&file, "[bad echo]");
    let raises = line_of(&file, "[raises]");
    let results = run.results();
    assert_eq!(results.len(), 4, "{}", run.shown());
    assert!(results[0].starts_with(&format!("ok      {file}: passes (")));
    assert_eq!(
        results[1],
        format!(
            "FAIL    {file}: bad echo: echo: expected \"hello\", got \"hell\" ({file}:{bad_echo})"
        )
    );
    assert_eq!(
        results[2],
        format!(
            "FAIL    {file}: raises: attempt to index a nil value (local 't') ({file}:{raises})"
        )
    );
    assert!(
        results[3].starts_with(&format!(
            "FAIL    {file}: error with a table: error object {{code = 7}} ({file}:"
        )),
        "{}",
        results[3]
    );
    assert_eq!(run.last_line(), "1 passed, 3 failed");
    // The log of a failed file follows its lines: the error's traceback.
    let log = run
        .out
        .split_once(&format!("--- log of {file} ---\n"))
        .unwrap_or_else(|| panic!("no log block\n{}", run.shown()))
        .1;
    assert!(log.starts_with("    "), "indented: {log}");
    assert!(log.contains("stack traceback:"), "{log}");
}

#[test]
fn setup_and_teardown_run_around_each_case_and_their_errors_fail_it() {
    let file = fixture("setup_teardown.lua");
    let run = test(&[&file]);
    let results = run.results();
    assert_eq!(results.len(), 5, "{}", run.shown());
    assert!(results[0].starts_with("ok      "), "{}", run.shown());
    assert!(
        results[1].starts_with(&format!("FAIL    {file}: fails: on purpose ({file}:")),
        "{}",
        results[1]
    );
    assert!(
        results[2].starts_with(&format!(
            "FAIL    {file}: setup fails: setup: setup broke ({file}:"
        )),
        "{}",
        results[2]
    );
    assert!(
        results[3].starts_with(&format!(
            "FAIL    {file}: teardown fails: teardown: teardown broke ({file}:"
        )),
        "{}",
        results[3]
    );
    // The last case checks the order itself: teardown after the failed case,
    // none after the failed setup.
    assert!(
        results[4].starts_with(&format!("ok      {file}: order (")),
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "2 passed, 3 failed");
}

#[test]
fn a_case_blocked_in_socket_read_times_out_naming_the_call_and_its_line() {
    let file = fixture("blocked_read.lua");
    let started = Instant::now();
    let run = test(&[&file]);
    let read = line_of(&file, "[read]");
    let results = run.results();
    assert_eq!(results.len(), 2, "{}", run.shown());
    assert_eq!(
        results[0],
        format!(
            "TIMEOUT {file}: waits for a reply that never comes: after 0.5 s, waiting in socket.read at {file}:{read}"
        )
    );
    // The next case ran, and saw the timed-out case's connection closed.
    assert!(
        results[1].starts_with(&format!("ok      {file}: runs after the timeout (")),
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "1 passed, 1 failed");
    assert_eq!(run.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_case_that_never_yields_is_interrupted_and_the_next_case_runs() {
    let file = fixture("endless.lua");
    let run = test(&[&file]);
    let spin = line_of(&file, "[spin]");
    let results = run.results();
    assert_eq!(results.len(), 2, "{}", run.shown());
    assert_eq!(
        results[0],
        format!("TIMEOUT {file}: spins: after 0.5 s, running Lua code without yielding at {file}:{spin}")
    );
    assert!(results[1].starts_with(&format!("ok      {file}: runs after the spin (")));
    assert_eq!(run.last_line(), "1 passed, 1 failed");
}

#[test]
fn a_case_whose_service_waits_for_a_worker_is_not_interrupted() {
    let file = fixture("starved.lua");
    let run = test(&[&file]);
    let sleep = line_of(&file, "[sleep]");
    let results = run.results();
    assert_eq!(results.len(), 2, "{}", run.shown());
    assert_eq!(
        results[0],
        format!("TIMEOUT {file}: sleeps while hogs hold every worker: after 0.2 s, waiting in skynet.sleep at {file}:{sleep}"),
        "{}",
        run.shown()
    );
    assert!(
        results[1].starts_with(&format!("ok      {file}: runs once the hogs are done (")),
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "1 passed, 1 failed");
}

#[test]
fn a_case_that_catches_the_interrupt_is_given_up_and_the_runner_still_exits() {
    let file = fixture("stubborn.lua");
    let run = test(&[&file]);
    let results = run.results();
    assert_eq!(results.len(), 2, "{}", run.shown());
    assert!(
        results[0].starts_with(&format!(
            "TIMEOUT {file}: spins and catches everything: after 0.3 s, still running Lua code after the runner interrupted it"
        )),
        "{}",
        results[0]
    );
    assert_eq!(
        results[1],
        format!("FAIL    {file}: never runs: not run: an earlier case could not be stopped")
    );
    assert_eq!(run.last_line(), "0 passed, 2 failed");
    assert_eq!(run.status.code(), Some(1));
}

#[test]
fn the_default_timeout_comes_from_the_command_line_and_a_cases_own_wins() {
    let file = fixture("sleeps.lua");
    let run = test(&["--timeout", "0.3", &file]);
    let sleep = line_of(&file, "[sleep]");
    let results = run.results();
    assert_eq!(results.len(), 2, "{}", run.shown());
    assert_eq!(
        results[0],
        format!(
            "TIMEOUT {file}: sleeps 3 s: after 0.3 s, waiting in skynet.sleep at {file}:{sleep}"
        )
    );
    assert!(results[1].starts_with(&format!("ok      {file}: has its own timeout (")));
    let run = test(&["--timeout", "soon", &file]);
    assert!(!run.status.success());
    assert!(
        run.err.contains("positive number of seconds"),
        "{}",
        run.shown()
    );
}

// Found by probing huge timeouts: 1e19 s panicked the runner (an Instant
// overflow), 1e17 s wrapped to an instant TIMEOUT and 1e300 s stalled the
// file for 10 s before a misleading "its service is stuck".
#[test]
fn a_timeout_too_large_to_time_is_a_clear_error() {
    let file = fixture("huge_timeout.lua");
    let at = line_of(&file, "[huge]");
    for huge in ["1e19", "100000000000000000", "1e300"] {
        let set = format!("huge={huge}");
        let run = test(&["--set", &set, &file]);
        assert_eq!(
            run.results(),
            [format!(
                "FAIL    {file}: runtime error: {file}:{at}: test.timeout: the timeout must be a positive number of seconds, at most 31536000 (a year), got {huge}"
            )
            .replace("got 1e19", "got 1e+19")
            .replace("got 1e300", "got 1e+300")],
            "{}",
            run.shown()
        );
        assert_eq!(run.last_line(), "0 passed, 1 failed", "{}", run.shown());
        assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    }
    let run = test(&["--timeout", "1e19", &fixture("assertions.lua")]);
    assert_eq!(run.status.code(), Some(2), "{}", run.shown());
    assert!(
        run.err.contains("at most 31536000 (a year)"),
        "{}",
        run.shown()
    );
}

// ----- scripts that cannot run -----

#[test]
fn a_script_with_a_syntax_error_is_one_fail_line() {
    let file = fixture("syntax_error.lua");
    let run = test(&[&file]);
    let results = run.results();
    assert_eq!(results.len(), 1, "{}", run.shown());
    assert!(
        results[0].starts_with(&format!("FAIL    {file}: syntax error: ")),
        "{}",
        results[0]
    );
    assert!(results[0].contains("syntax_error.lua:6:"), "{}", results[0]);
    assert_eq!(run.last_line(), "0 passed, 1 failed");
    assert_eq!(run.status.code(), Some(1));
}

#[test]
fn a_require_not_found_fails_the_file_with_the_paths_searched() {
    let file = fixture("missing_require.lua");
    let run = test(&[&file]);
    assert!(
        run.out.contains(&format!("FAIL    {file}: ")),
        "{}",
        run.shown()
    );
    assert!(
        run.out.contains("module 'no_such_helper_module' not found"),
        "{}",
        run.shown()
    );
    assert!(
        run.out
            .contains(&format!("{FIXTURES}/no_such_helper_module.lua")),
        "the paths searched\n{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "0 passed, 1 failed");
}

#[test]
fn a_script_without_cases_or_that_calls_skynet_start_fails() {
    let file = fixture("no_cases.lua");
    let run = test(&[&file]);
    assert_eq!(
        run.results(),
        [format!(
            "FAIL    {file}: no cases declared: declare them with test.case(name, fn) at the top level of the script"
        )],
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "0 passed, 1 failed");
    assert_eq!(run.status.code(), Some(1));

    let file = fixture("calls_start.lua");
    let run = test(&[&file]);
    assert!(
        run.out
            .contains("lunet.test: a test script must not call skynet.start"),
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "0 passed, 1 failed");
}

#[test]
fn a_missing_path_is_named_and_nothing_runs() {
    let run = test(&[&fixture("assertions.lua"), "no/such/dir"]);
    assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    assert_eq!(
        run.err,
        "lunet test: no such file or directory: no/such/dir\n",
        "{}",
        run.shown()
    );
    assert_eq!(run.out, "", "nothing ran");
}

#[test]
fn a_bad_set_is_named_and_nothing_runs() {
    let run = test(&["--set", "thread=many", &fixture("assertions.lua")]);
    assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    assert!(
        run.err
            .starts_with("lunet test: --set thread=many: key \"thread\": expected"),
        "{}",
        run.shown()
    );
    assert_eq!(run.out, "");
}

// ----- the node a script runs in -----

#[test]
fn set_reaches_test_getenv() {
    let file = fixture("getenv.lua");
    let run = test(&["--set", "target=127.0.0.1:7777", &file]);
    assert!(run.status.success(), "{}", run.shown());
    assert_eq!(run.last_line(), "1 passed, 0 failed");
    let run = test(&[&file]);
    assert!(
        run.out
            .contains("target is set: expected \"127.0.0.1:7777\", got nil"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_case_starts_a_service_found_next_to_the_script() {
    let file = fixture("newservice.lua");
    let run = test(&[&file]);
    assert!(run.status.success(), "{}", run.shown());
    assert_eq!(run.last_line(), "2 passed, 0 failed");
    assert!(
        !run.out.contains("pinger ready"),
        "the log of a passing file is not shown"
    );
    let run = test(&["-v", &file]);
    assert!(
        run.out.contains(&format!("--- log of {file} ---")) && run.out.contains("] pinger ready"),
        "-v shows the log\n{}",
        run.shown()
    );
}

#[test]
fn a_directory_is_searched_and_its_test_config_is_the_base_config() {
    let dir = fixture("suite");
    let run = test(&[&dir]);
    assert!(run.status.success(), "{}", run.shown());
    let files: Vec<&str> = run
        .results()
        .iter()
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            format!("ok      {dir}/a_test.lua"),
            format!("ok      {dir}/a_test.lua"),
            format!("ok      {dir}/a_test.lua"),
            format!("ok      {dir}/test_b.lua"),
        ],
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "4 passed, 0 failed");
}

// ----- JUnit -----

/// Checks that `xml` is well formed as far as this report needs: tags nest
/// and close, and text holds no raw `<` or `&` that is not an entity.
fn check_xml(xml: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "raw & in {text:?}"
            );
        }
        let end = rest[start..].find('>').expect("a tag ends") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "raw < in tag {tag:?}");
        if tag.starts_with('?') {
        } else if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "closing {name}");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap());
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
}

/// The value of attribute `name` in `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    &tag[at..at + tag[at..].find('"').unwrap()]
}

#[test]
fn junit_has_a_suite_per_file_and_a_case_per_case() {
    let report = TempFile::new("junit.xml");
    let (pass, fail) = (fixture("assertions.lua"), fixture("failures.lua"));
    let run = test(&["--junit", report.path(), &pass, &fail]);
    assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    let xml = std::fs::read_to_string(&report.0).expect("the JUnit report was written");
    check_xml(&xml);
    let suites: Vec<&str> = xml
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("<testsuite "))
        .collect();
    assert_eq!(suites.len(), 2, "{xml}");
    assert_eq!(attr(suites[0], "name"), pass);
    assert_eq!(
        (attr(suites[0], "tests"), attr(suites[0], "failures")),
        ("9", "0")
    );
    assert_eq!(attr(suites[1], "name"), fail);
    assert_eq!(
        (attr(suites[1], "tests"), attr(suites[1], "failures")),
        ("4", "3")
    );
    assert_eq!(xml.matches("<testcase ").count(), 13, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 3, "{xml}");
    assert!(
        xml.contains(
            "message=\"echo: expected &quot;hello&quot;, got &quot;hell&quot;\" type=\"FAIL\""
        ),
        "{xml}"
    );
    let tops: Vec<&str> = xml
        .lines()
        .filter(|l| l.starts_with("<testsuites "))
        .collect();
    assert_eq!(
        (attr(tops[0], "tests"), attr(tops[0], "failures")),
        ("13", "3")
    );
    // The log of the failed file, escaped.
    assert!(xml.contains("<system-out>"), "{xml}");

    let run = test(&["--junit", "/no/such/dir/report.xml", &pass]);
    assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    assert!(
        run.err.contains("/no/such/dir/report.xml"),
        "{}",
        run.shown()
    );
}

// ----- the project's Lua tests and the examples' protocol tests -----

#[test]
fn the_projects_own_lua_tests_pass() {
    let run = test(&["tests/lua"]);
    assert!(run.status.success(), "{}", run.shown());
    assert!(
        run.last_line().ends_with(" passed, 0 failed"),
        "{}",
        run.shown()
    );
}

#[test]
fn the_protocol_tests_of_the_examples_pass() {
    let run = test(&["examples/protocol_tests"]);
    assert!(run.status.success(), "{}", run.shown());
    for example in ["echo_test.lua", "chat_test.lua", "gameroom_test.lua"] {
        assert!(run.out.contains(example), "{example} ran\n{}", run.shown());
    }
    assert!(
        !run.out.contains("external.lua"),
        "external.lua runs only when named\n{}",
        run.shown()
    );
}

/// `lunet run` of an example, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn external_drives_an_echo_server_running_in_another_process() {
    let mut server = Server(spawn(&[
        "run",
        "examples/echo/config.lua",
        "--set",
        "port=0",
    ]));
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = server.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(at) = line.split("echo: listening on 127.0.0.1:").nth(1) {
                    break at.trim().parse::<u16>().expect("a port");
                }
            }
            Err(_) => {
                panic!("timed out after {WAIT:?} waiting for the echo server's listening line")
            }
        }
    };
    let target = format!("target=127.0.0.1:{port}");
    let run = test(&["examples/protocol_tests/external.lua", "--set", &target]);
    assert!(run.status.success(), "{}", run.shown());
    assert_eq!(run.last_line(), "4 passed, 0 failed", "{}", run.shown());
    drop(server);

    // Without a target, every case fails saying how to pass one.
    let run = test(&["examples/protocol_tests/external.lua"]);
    assert_eq!(run.status.code(), Some(1), "{}", run.shown());
    assert!(
        run.out
            .contains("setup: no target: pass the server's address with --set target=HOST:PORT"),
        "{}",
        run.shown()
    );
    assert_eq!(run.last_line(), "0 passed, 4 failed");
}
