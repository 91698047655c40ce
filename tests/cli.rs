//! The `lunet` binary: `lunet run CONFIG` on temporary configs.
//!
//! Every wait is bounded: a process that does not exit in time is killed
//! (SIGKILL) and the test fails saying what it waited for.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// A fresh directory holding `files`, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lunet-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lunet(args: &[&Path]) -> Child {
    let mut all = vec![Path::new("run")];
    all.extend_from_slice(args);
    lunet_with(&all)
}

fn lunet_with(args: &[&Path]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lunet"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lunet binary runs")
}

/// Waits for `child` to exit; kills it and panics after `WAIT`.
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {WAIT:?} waiting for {what}; killed it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `lunet run CONFIG` to the end: status, stdout, stderr.
fn run(config: &Path, what: &str) -> (ExitStatus, String, String) {
    run_with(&[Path::new("run"), config], what)
}

/// Runs `lunet ARGS...` to the end: status, stdout, stderr.
fn run_with(args: &[&Path], what: &str) -> (ExitStatus, String, String) {
    let mut child = lunet_with(args);
    // Read both pipes on threads so a chatty process never blocks on a full pipe.
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
    let status = wait(&mut child, what);
    (status, out.join().unwrap(), err.join().unwrap())
}

#[test]
fn a_three_line_node_prints_and_exits_zero() {
    let dir = Dir::new(&[
        ("config.lua", "start = \"main\"\n"),
        (
            "main.lua",
            r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.error("hello from main")
    skynet.exit()
end)
"#,
        ),
    ]);
    let (status, out, err) = run(&dir.path("config.lua"), "a node whose main exits");
    assert!(
        status.success(),
        "status {status}; stdout:\n{out}\nstderr:\n{err}"
    );
    let line = out
        .lines()
        .find(|l| l.ends_with("hello from main"))
        .unwrap_or_else(|| panic!("no log line in stdout:\n{out}\nstderr:\n{err}"));
    // [:0000000a] hello from main
    assert_eq!(line.len(), "[:00000000] hello from main".len(), "{line}");
    assert!(line.starts_with("[:"), "{line}");
    assert!(line[2..10].chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    assert_eq!(&line[10..12], "] ", "{line}");
}

#[test]
fn a_bad_config_value_names_the_file_and_key() {
    let dir = Dir::new(&[("config.lua", "start = \"main\"\nthread = \"x\"\n")]);
    let config = dir.path("config.lua");
    let (status, out, err) = run(&config, "a node with a bad config");
    assert!(!status.success(), "status {status}; stdout:\n{out}");
    assert!(err.contains(&config.display().to_string()), "{err}");
    assert!(err.contains("thread"), "{err}");
}

#[test]
fn a_memlimit_too_small_for_a_service_is_named() {
    let dir = Dir::new(&[("config.lua", "start = \"main\"\nmemlimit = 10000\n")]);
    let (status, out, err) = run(&dir.path("config.lua"), "a node with a tiny memlimit");
    assert!(!status.success(), "status {status}; stdout:\n{out}");
    assert!(
        err.contains("not enough memory (memlimit is 10000 bytes)"),
        "{err}"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = Dir::new(&[]);
    let config = dir.path("nope.lua");
    let (status, _, err) = run(&config, "a node without a config file");
    assert!(!status.success());
    assert!(err.contains(&config.display().to_string()), "{err}");
}

#[test]
fn a_missing_start_service_is_named_with_the_paths_searched() {
    let dir = Dir::new(&[("config.lua", "start = \"no_main_here\"\n")]);
    let (status, out, err) = run(&dir.path("config.lua"), "a node without its start service");
    assert!(!status.success(), "status {status}; stdout:\n{out}");
    assert!(err.contains("\"no_main_here\""), "{err}");
    assert!(
        err.contains(&dir.path("no_main_here.lua").display().to_string()),
        "{err}"
    );
}

#[test]
fn sigterm_shuts_a_running_node_down_with_status_zero() {
    let dir = Dir::new(&[
        ("config.lua", "start = \"main\"\n"),
        (
            "main.lua",
            r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.error("sleeping")
    skynet.sleep(100000000)
end)
"#,
        ),
    ]);
    let mut child = lunet(&[&dir.path("config.lua")]);
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.ends_with("] sleeping") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("timed out after {WAIT:?} waiting for the node to start");
            }
        }
    }
    // SAFETY: kill(2) on the pid of a child we own and have not reaped.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill(SIGTERM) failed");
    let status = wait(&mut child, "the node to exit after SIGTERM");
    assert!(status.success(), "status {status}");
}

#[test]
fn version_and_help() {
    let (status, out, _) = run_with(&[Path::new("--version")], "lunet --version");
    assert!(status.success());
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let (status, out, _) = run_with(&[Path::new("--help")], "lunet --help");
    assert!(status.success());
    assert!(out.contains("run"), "{out}");
    assert!(out.contains("test"), "{out}");
    for example in [
        "lunet run examples/echo/config.lua --set port=9001",
        "lunet test examples/protocol_tests",
        "lunet test tests/lua --junit report.xml",
        "lunet test examples/protocol_tests/external.lua --set target=127.0.0.1:7000",
    ] {
        assert!(out.contains(example), "--help shows {example:?}:\n{out}");
    }
    for (command, flags) in [
        ("run", &["--set"][..]),
        ("test", &["--set", "--junit", "--timeout", "--verbose"][..]),
    ] {
        let what = format!("lunet {command} --help");
        let (status, out, _) = run_with(&[Path::new(command), Path::new("--help")], &what);
        assert!(status.success(), "{what}");
        assert!(out.contains("Examples:"), "{what}:\n{out}");
        for flag in flags {
            assert!(out.contains(flag), "{what} shows {flag}:\n{out}");
        }
    }
}

#[test]
fn lunet_run_on_a_test_script_says_to_use_lunet_test() {
    let dir = Dir::new(&[
        ("config.lua", "start = \"x_test\"\n"),
        (
            "x_test.lua",
            "local test = require \"lunet.test\"\ntest.case(\"x\", function() end)\n",
        ),
    ]);
    let (status, out, err) = run(&dir.path("config.lua"), "lunet run on a test script");
    assert!(!status.success(), "status {status}; stdout:\n{out}");
    assert!(
        err.contains("lunet.test: run this script with `lunet test FILE`"),
        "{err}"
    );
}

#[test]
fn lunet_test_without_a_path_is_a_usage_error() {
    let (status, _, err) = run_with(&[Path::new("test")], "lunet test with no path");
    assert!(!status.success());
    assert!(err.contains("PATH"), "{err}");
}
