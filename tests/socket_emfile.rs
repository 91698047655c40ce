//! Running out of file descriptors: the listener refuses what it cannot hold, tells
//! its owner, keeps working, and the socket thread does not spin.
//!
//! The fd limit is per process, so the server runs in a child process: this test
//! binary re-executes itself to run the ignored `emfile_child` test with
//! `LUNET_EMFILE_CHILD=1`. The child lowers RLIMIT_NOFILE, starts a socket server
//! with an echo-like owner that counts the listener's Error events, prints
//! `LUNET-CHILD PORT <n>`, then answers `report` on stdin with
//! `LUNET-CHILD ERRORS <e> ACCEPTED <a> OPEN <o>` and ends on `quit` (or stdin
//! EOF, so it never outlives the parent). The parent is the test proper.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::Receiver;
use lunet::socket::Event;

const CHILD_ENV: &str = "LUNET_EMFILE_CHILD";
/// Every line of the child's protocol starts with this (libtest may print on the
/// same line before it).
const MARK: &str = "LUNET-CHILD ";
/// The child's soft RLIMIT_NOFILE.
const FD_LIMIT: u64 = 64;
/// Connections the parent opens: far more than the child can hold.
const CONNECTIONS: usize = 150;
/// The child gives up on its own after this long, whatever the parent does.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

// ----- the child -----

#[test]
#[ignore = "the server side of emfile_refuses_connections_without_spinning, run in a child process"]
fn emfile_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    lower_fd_limit(FD_LIMIT);

    const OWNER: u32 = 1;
    let h = Harness::start();
    let sockets = h.sockets();
    let (listener, addr) = h.listen(OWNER);
    println!("{MARK}PORT {}", addr.port());

    // stdin lines on a channel; EOF (the parent is gone) reads as "quit".
    let (line_tx, lines) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    let _ = line_tx.send(line);
                }
                Err(_) => break,
            }
        }
        let _ = line_tx.send("quit".to_string());
    });

    let mut counts = Counts::default();
    let handle = |counts: &mut Counts, event: Event| match event {
        Event::Accept { id, .. } => {
            counts.accepted += 1;
            counts.open += 1;
            sockets.start(OWNER, id);
        }
        Event::Data { id, data } => {
            let _ = sockets.send(id, data);
        }
        Event::Close { id } if id != listener => {
            counts.open -= 1;
            sockets.close(id);
        }
        Event::Error { id, reason } if id == listener => {
            counts.errors += 1;
            if counts.errors == 1 {
                eprintln!("child: first listener Error: {reason}");
            }
        }
        Event::Error { id, .. } => sockets.close(id),
        _ => {}
    };
    let deadline = Instant::now() + CHILD_LIFETIME;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        crossbeam_channel::select! {
            recv(h.events) -> ev => handle(&mut counts, ev.expect("the socket server is running").1),
            recv(lines) -> line => match line.as_deref() {
                Ok("report") => {
                    // Count every event already delivered before answering.
                    while let Ok((_, ev)) = h.events.try_recv() {
                        handle(&mut counts, ev);
                    }
                    let Counts { errors, accepted, open } = counts;
                    println!("{MARK}ERRORS {errors} ACCEPTED {accepted} OPEN {open}");
                }
                Ok("quit") | Err(_) => break,
                Ok(other) => eprintln!("child: unknown command {other:?}"),
            },
            default(left) => {
                eprintln!("child: no quit after {CHILD_LIFETIME:?}; exiting");
                break;
            }
        }
    }
    drop(h);
    println!("{MARK}BYE");
}

/// What the child's owner has seen.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Error events on the listener (connections refused for lack of fds).
    errors: u64,
    /// Accept events.
    accepted: u64,
    /// Accepted connections not closed yet.
    open: u64,
}

/// Lowers the soft RLIMIT_NOFILE of this process to `limit`.
fn lower_fd_limit(limit: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a live, writable `rlimit` on our stack; getrlimit only
    // writes one `rlimit` through the pointer.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    assert_eq!(r, 0, "getrlimit: {}", io::Error::last_os_error());
    rl.rlim_cur = (limit as libc::rlim_t).min(rl.rlim_max);
    // SAFETY: `rl` is a valid `rlimit` that setrlimit only reads; lowering the
    // soft limit affects nothing but this (child) process.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    assert_eq!(r, 0, "setrlimit: {}", io::Error::last_os_error());
}

// ----- the parent -----

/// The child process; killed on drop unless it has already exited.
struct ChildGuard {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl ChildGuard {
    fn spawn() -> ChildGuard {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "emfile_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child server");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("the child's stdout");
        let (tx, lines) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(MARK) {
                    let _ = tx.send(line[at + MARK.len()..].to_string());
                }
            }
            // Dropping `tx` tells the parent the child's stdout closed.
        });
        ChildGuard {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        writeln!(stdin, "{command}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot send {command:?} to the child: {e}"));
    }

    /// The next protocol line, which must start with `word`.
    fn expect(&self, word: &str) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) if line.starts_with(word) => line,
            Ok(other) => panic!("expected {word:?} from the child, got {other:?}"),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                panic!("timed out after {WAIT:?} waiting for {word:?} from the child")
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                panic!("the child exited (stdout closed) before sending {word:?}")
            }
        }
    }

    fn report(&mut self) -> Counts {
        self.send("report");
        let line = self.expect("ERRORS");
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(n.len(), 3, "bad report line {line:?}");
        Counts {
            errors: n[0],
            accepted: n[1],
            open: n[2],
        }
    }

    /// CPU time the child has used (user + system), from /proc/<pid>/stat.
    fn cpu_time(&self) -> Duration {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        // Fields after the command name (which may hold spaces) start with the
        // state, field 3; utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').expect("comm in stat") + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf takes a plain integer and touches no memory of ours.
        let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        assert!(per_sec > 0, "sysconf(_SC_CLK_TCK) failed");
        Duration::from_secs_f64(ticks as f64 / per_sec as f64)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            eprintln!("killing the EMFILE child process {}", self.child.id());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a client can tell about its connection without blocking.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Open,
    Closed,
}

fn look(mut s: &TcpStream) -> Seen {
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => Seen::Closed,
        Ok(n) => panic!("a client got {n} bytes it never asked for"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Seen::Open,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Seen::Closed,
        Err(e) => panic!("a client's read failed: {e}"),
    }
}

fn echo_round_trip(addr: SocketAddr, n: usize) {
    let mut clients: Vec<TcpStream> = (0..n).map(|_| client(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("hello {i:03}").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut buf = [0u8; 9];
        c.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("echo on new connection {i} after EMFILE: {e}"));
        assert_eq!(&buf, format!("hello {i:03}").as_bytes());
    }
}

#[test]
fn emfile_refuses_connections_without_spinning() {
    let mut child = ChildGuard::spawn();
    let port: u16 = child.expect("PORT")["PORT ".len()..]
        .trim()
        .parse()
        .expect("a port number");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    println!("child {} listens on {addr}", child.child.id());

    // Far more connections than the child has fds; all of them complete in the
    // kernel (the backlog), then the child accepts what it can and refuses the rest.
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS).map(|_| client(addr)).collect();
    let mut report = child.report();
    eventually("the child accepted or refused every connection", || {
        report = child.report();
        report.errors + report.accepted == CONNECTIONS as u64
    });
    println!("after {CONNECTIONS} connections: {report:?}");
    assert!(report.errors > 0, "no Error on the listener: {report:?}");
    assert!(
        report.accepted > 0 && report.accepted < FD_LIMIT,
        "accepted {} connections under a limit of {FD_LIMIT} fds",
        report.accepted
    );
    assert_eq!(report.open, report.accepted);

    // Each refused connection is closed by the server; the accepted ones stay open.
    for c in &conns {
        c.set_nonblocking(true).unwrap();
    }
    let mut closed = 0;
    eventually("the refused connections see EOF", || {
        closed = conns.iter().filter(|c| look(c) == Seen::Closed).count();
        closed as u64 >= report.errors
    });
    assert_eq!(
        closed as u64, report.errors,
        "connections closed by the server vs. Errors on the listener"
    );

    // Quiet period with every fd still taken: the child must be idle.
    let before = child.cpu_time();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = child.cpu_time().saturating_sub(before);
    let window = started.elapsed();
    println!("child CPU while out of fds: {used:?} in {window:?}");
    assert!(
        used < Duration::from_millis(300),
        "the child used {used:?} of CPU in {window:?} while out of fds: the socket thread spins"
    );

    // Still out of fds, the listener keeps working: one more is refused at once.
    let extra = client(addr);
    extra.set_nonblocking(true).unwrap();
    eventually("one more connection is refused while out of fds", || {
        look(&extra) == Seen::Closed
    });
    let mut after = child.report();
    eventually("the child counts an Error for the extra connection", || {
        after = child.report();
        after.errors > report.errors
    });
    assert_eq!(after.errors, report.errors + 1, "{after:?}");
    assert_eq!(after.accepted, report.accepted, "{after:?}");

    // Free the fds: new connections work again, echo and all.
    drop(extra);
    conns.clear();
    eventually("the child closed every accepted connection", || {
        child.report().open == 0
    });
    echo_round_trip(addr, 20);
    let last = child.report();
    println!("after recovery: {last:?}");
    assert_eq!(last.errors, report.errors + 1, "Errors after recovery");

    child.send("quit");
    child.expect("BYE");
    let mut status = None;
    eventually("the child exits after quit", || {
        status = child.child.try_wait().expect("try_wait");
        status.is_some()
    });
    assert!(status.unwrap().success(), "the child failed: {status:?}");
}
