//! Memory per idle connection: how much user-space memory a server spends on a
//! connection that is open and quiet.
//!
//! # Processes
//! Each server kind is measured in a fresh child process (the bench binary run
//! again with [`ROLE_ENV`] set to `server KIND CONNS`), so memory an earlier
//! run freed, which the allocator keeps and would hand out again, cannot hide
//! growth. That process starts the server and runs its clients in a grandchild
//! (`clients ADDR`), so no client memory is counted and the two ends' file
//! descriptors (20,000 for 10,000 connections) do not share one process's
//! limit. The clients are blocking sockets driven by one-line commands on
//! stdin (`connect N`, `ping`, `close`), each answered on stdout once done.
//! Both children raise their soft limit on open files to the hard limit; the
//! bench uses fewer connections, and says so, if even that is too low.
//!
//! # Steps, in the server process
//! 1. Start the server (for lua, also a Rust reporter service and a small Lua
//!    probe service that asks the echo service for its Lua heap through the
//!    debug protocol: `MEM`, `GC`, and `STAT` for its task count).
//! 2. Warm up: 16 connections, a 1-byte echo on each, close; wait until the
//!    server has closed them (its open file count is back).
//! 3. Base: (lua: full GC of the echo service), settle 300 ms, read `VmRSS`
//!    (and the Lua heap).
//! 4. Accepted: connect N; wait until the server holds N more open files
//!    (accepted); for lua, also until the echo service has N more tasks (one
//!    coroutine per connection) with an empty mailbox; settle, read `VmRSS`
//!    and `collectgarbage("count")` (no GC). Nothing has been read yet.
//! 5. Echoed: one 1-byte echo on every connection (which proves every
//!    coroutine was in its read loop, and is back in `socket.read`); settle,
//!    read `VmRSS`, the Lua heap, and the Lua heap after a full GC ("live").
//!
//! Figures are (reading − base) / N, in bytes. The Lua heap is the echo
//! service's VM (`collectgarbage("count")`: everything its allocator holds,
//! the coroutines, their stacks, the socket tables); what `VmRSS` grew beyond
//! it is Rust (the socket slot, the service's read buffer, the mio
//! registration) and allocator overhead. `VmRSS` counts resident pages, so the
//! kernel's socket buffers are not in it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use lunet::actor::{ptype, Context, Handle, Message, Payload, Service};
use lunet::lua::{LuaEnv, LuaService};

use super::{lua::LuaServer, thousands, Kind, Server};

/// Set in the child processes: `server KIND CONNS` or `clients ADDR`.
pub const ROLE_ENV: &str = "LUNET_BENCH_ECHO_ROLE";

/// Connections of the warm-up.
const WARM: usize = 16;
/// Pause before each reading, for the last events to be handled.
const SETTLE: Duration = Duration::from_millis(300);
/// File descriptors kept free beyond the connections.
const FD_MARGIN: u64 = 100;
/// How long connecting or pinging all connections may take.
const CLIENT_LIMIT: Duration = Duration::from_secs(120);
/// How long the server may take to accept, close, or settle.
const SERVER_LIMIT: Duration = Duration::from_secs(60);
/// How long one server process may take in all.
const PROCESS_LIMIT: Duration = Duration::from_secs(300);
/// The issue's target for the Lua echo.
const TARGET_BYTES: f64 = 512.0;

/// Runs the role of a child process.
pub fn run_role(role: &str) -> ExitCode {
    let words: Vec<&str> = role.split_whitespace().collect();
    let result = match words.as_slice() {
        ["server", kind, conns] => match (Kind::parse(kind), conns.parse()) {
            (Some(kind), Ok(conns)) => footprint(kind, conns).map(|f| println!("{}", f.line())),
            _ => Err(format!("bad role {role:?}")),
        },
        ["clients", addr] => clients(addr),
        _ => Err(format!("bad role {role:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo bench ({role}): {e}");
            ExitCode::FAILURE
        }
    }
}

/// The idle section: one server process per kind, then the table. Returns
/// whether anything failed.
pub fn section(kinds: &[Kind], conns: usize) -> bool {
    let limit = raise_fd_limit();
    let conns = conns.min(limit.saturating_sub(FD_MARGIN) as usize);
    println!();
    println!(
        "memory per idle connection: {} connections per server; the server and its clients in separate fresh processes",
        thousands(conns as f64)
    );
    if conns < WARM {
        println!("FAIL: the limit on open files ({limit}) leaves room for too few connections");
        return true;
    }
    let mut results = Vec::new();
    let mut failed = false;
    for &kind in kinds {
        match measure(kind, conns) {
            Ok(f) => results.push((kind, f)),
            Err(e) => {
                println!("{:<6} FAIL: {e}", kind.name());
                failed = true;
            }
        }
    }
    print_table(&results);
    failed
}

/// Runs the server process for `kind` and reads its result.
fn measure(kind: Kind, conns: usize) -> Result<Footprint, String> {
    let what = format!("the {} server process", kind.name());
    let mut process = Peer::spawn(&format!("server {} {conns}", kind.name()), &what)?;
    let line = process.ask(None, "footprint", PROCESS_LIMIT)?;
    process.finish(SERVER_LIMIT)?;
    Footprint::parse(&line).ok_or_else(|| format!("{what} printed {line:?}"))
}

fn print_table(results: &[(Kind, Footprint)]) {
    if results.is_empty() {
        return;
    }
    println!(
        "{:<6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}   at rest",
        "server", "RSS acc", "Lua acc", "RSS echo", "Lua echo", "Lua live", "not Lua"
    );
    println!("{}", "-".repeat(100));
    let dash = || "-".to_string();
    for (kind, f) in results {
        let heap = f.heap.map(|h| {
            [
                h.accepted - h.base,
                h.echoed - h.base,
                h.echoed_live - h.base,
            ]
            .map(|kib| kib * 1024.0 / f.conns as f64)
        });
        let bytes = |b: f64| format!("{b:.0}");
        let at_rest = match f.heap {
            Some(h) => format!(
                "RSS {:.1} MiB, Lua heap {:.0} KiB",
                f.rss[0] as f64 / (1 << 20) as f64,
                h.base
            ),
            None => format!("RSS {:.1} MiB", f.rss[0] as f64 / (1 << 20) as f64),
        };
        println!(
            "{:<6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}   {}",
            kind.name(),
            bytes(f.per_conn(1)),
            heap.map_or_else(dash, |h| bytes(h[0])),
            bytes(f.per_conn(2)),
            heap.map_or_else(dash, |h| bytes(h[1])),
            heap.map_or_else(dash, |h| bytes(h[2])),
            heap.map_or_else(dash, |h| bytes(f.per_conn(2) - h[1])),
            at_rest
        );
    }
    println!("(bytes per connection: growth over the connections / their number;");
    println!(" acc = all accepted, nothing read yet; echo = after one 1-byte echo on each;");
    println!(" Lua = the echo service's collectgarbage(\"count\"), live = after a full GC;");
    println!(
        " not Lua = RSS echo - Lua echo: Rust (socket slot, read buffer) and allocator overhead)"
    );
    if let Some((_, f)) = results.iter().find(|(k, _)| *k == Kind::Lua) {
        let worst = f.per_conn(1).max(f.per_conn(2));
        println!(
            "target (issue 4): idle connection of the Lua echo <= {TARGET_BYTES:.0} B: {worst:.0} B  {}",
            if worst <= TARGET_BYTES {
                "met"
            } else {
                "MISSED"
            }
        );
    }
}

/// What a server process measured.
struct Footprint {
    conns: usize,
    /// `VmRSS` in bytes: base, accepted, echoed.
    rss: [u64; 3],
    /// The echo service's Lua heap (lua only).
    heap: Option<Heap>,
}

/// The echo service's Lua heap in KiB at each step.
#[derive(Clone, Copy)]
struct Heap {
    /// After a full GC, before connecting.
    base: f64,
    accepted: f64,
    echoed: f64,
    /// After a full GC, once echoed.
    echoed_live: f64,
}

impl Footprint {
    /// Bytes per connection of `VmRSS` at step 1 (accepted) or 2 (echoed).
    fn per_conn(&self, step: usize) -> f64 {
        (self.rss[step] as f64 - self.rss[0] as f64) / self.conns as f64
    }

    /// The line the server process prints.
    fn line(&self) -> String {
        let heap = match self.heap {
            Some(h) => format!("{} {} {} {}", h.base, h.accepted, h.echoed, h.echoed_live),
            None => "- - - -".into(),
        };
        format!(
            "footprint {} {} {} {} {heap}",
            self.conns, self.rss[0], self.rss[1], self.rss[2]
        )
    }

    fn parse(line: &str) -> Option<Footprint> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["footprint", conns, r0, r1, r2, h0, h1, h2, h3] = words.as_slice() else {
            return None;
        };
        let heap = match [h0, h1, h2, h3].map(|h| h.parse::<f64>().ok()) {
            [Some(base), Some(accepted), Some(echoed), Some(echoed_live)] => Some(Heap {
                base,
                accepted,
                echoed,
                echoed_live,
            }),
            _ => None,
        };
        Some(Footprint {
            conns: conns.parse().ok()?,
            rss: [r0.parse().ok()?, r1.parse().ok()?, r2.parse().ok()?],
            heap,
        })
    }
}

// ----- the server process -----

/// Steps 1 to 5 of the module docs.
fn footprint(kind: Kind, conns: usize) -> Result<Footprint, String> {
    raise_fd_limit();
    let server = Server::start(kind).map_err(|e| format!("start the server: {e}"))?;
    let probe = match &server {
        Server::Lua(lua) => Some(HeapProbe::launch(lua)?),
        _ => None,
    };
    let mut clients = Peer::spawn(&format!("clients {}", server.addr()), "the client process")?;
    let base_fds = open_fds();

    clients.ask(Some(&format!("connect {WARM}")), "connected", CLIENT_LIMIT)?;
    wait_for("the warm-up connections to be accepted", || {
        Ok(open_fds() >= base_fds + WARM)
    })?;
    clients.ask(Some("ping"), "pinged", CLIENT_LIMIT)?;
    clients.ask(Some("close"), "closed", CLIENT_LIMIT)?;
    wait_for("the warm-up connections to be closed", || {
        Ok(open_fds() <= base_fds)
    })?;

    let base_heap = probe.as_ref().map(|p| p.ask("gc")).transpose()?;
    let base_tasks = probe.as_ref().map(|p| p.ask("tasks")).transpose()?;
    std::thread::sleep(SETTLE);
    let rss0 = rss_bytes()?;

    clients.ask(Some(&format!("connect {conns}")), "connected", CLIENT_LIMIT)?;
    wait_for("every connection to be accepted", || {
        Ok(open_fds() >= base_fds + conns)
    })?;
    if let (Some(p), Some(base)) = (&probe, base_tasks) {
        let want = base + conns as f64;
        wait_for("a coroutine per connection in the echo service", || {
            Ok(p.ask("tasks")? >= want && p.is_echo_idle())
        })?;
    }
    std::thread::sleep(SETTLE);
    let rss1 = rss_bytes()?;
    let accepted_heap = probe.as_ref().map(|p| p.ask("count")).transpose()?;

    clients.ask(Some("ping"), "pinged", CLIENT_LIMIT)?;
    if let Some(p) = &probe {
        wait_for("the echo service's mailbox to empty", || {
            Ok(p.is_echo_idle())
        })?;
    }
    std::thread::sleep(SETTLE);
    let rss2 = rss_bytes()?;
    let echoed_heap = probe.as_ref().map(|p| p.ask("count")).transpose()?;
    let echoed_live = probe.as_ref().map(|p| p.ask("gc")).transpose()?;

    clients.finish(CLIENT_LIMIT)?;
    server.stop();
    let heap = match (base_heap, accepted_heap, echoed_heap, echoed_live) {
        (Some(base), Some(accepted), Some(echoed), Some(echoed_live)) => Some(Heap {
            base,
            accepted,
            echoed,
            echoed_live,
        }),
        _ => None,
    };
    Ok(Footprint {
        conns,
        rss: [rss0, rss1, rss2],
        heap,
    })
}

/// Polls `done` every 20 ms until it holds, for at most [`SERVER_LIMIT`].
fn wait_for(what: &str, mut done: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let deadline = Instant::now() + SERVER_LIMIT;
    while !done()? {
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {SERVER_LIMIT:?} waiting for {what}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Asks the echo service about its Lua heap, through a Lua probe service.
const PROBE: &str = r#"
local skynet = require "skynet"
local reporter, echo = ...
reporter, echo = tonumber(reporter), tonumber(echo)
local query = {
    count = function() return skynet.call(echo, "debug", "MEM") end,
    gc = function() return skynet.call(echo, "debug", "GC") end,
    tasks = function() return skynet.call(echo, "debug", "STAT").task end,
}
skynet.start(function()
    skynet.dispatch("text", function(_, _, what)
        local ok, value = pcall(query[what])
        skynet.send(reporter, "text", (ok and "ok " or "error ") .. tostring(value))
    end)
end)
"#;

/// The Lua probe of the echo service's heap, and the Rust service its
/// answers come back to.
struct HeapProbe {
    node: Arc<lunet::actor::Node>,
    echo: Handle,
    probe: Handle,
    answers: Receiver<String>,
}

/// Hands every text message it gets to the bench.
struct Reporter(Sender<String>);

impl Service for Reporter {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        if message.ptype == ptype::TEXT {
            let text = String::from_utf8_lossy(message.payload.bytes()).into_owned();
            let _ = self.0.send(text);
        }
    }
}

impl HeapProbe {
    fn launch(server: &LuaServer) -> Result<HeapProbe, String> {
        let (tx, answers) = crossbeam_channel::unbounded();
        let runtime = &server.runtime;
        let reporter = runtime.launch(Box::new(Reporter(tx)), "bench-reporter")?;
        let args = vec![reporter.get().to_string(), server.echo.get().to_string()];
        let probe = LuaService::from_source(Arc::new(LuaEnv::default()), "heapprobe", PROBE, args);
        let probe = runtime.launch(Box::new(probe), "heapprobe")?;
        Ok(HeapProbe {
            node: runtime.node().clone(),
            echo: server.echo,
            probe,
            answers,
        })
    }

    /// `count` (KiB in use), `gc` (KiB after a full GC) or `tasks`.
    fn ask(&self, what: &str) -> Result<f64, String> {
        let payload = Payload::Bytes(bytes::Bytes::copy_from_slice(what.as_bytes()));
        self.node
            .send(Handle::SYSTEM, self.probe, ptype::TEXT, 0, payload)
            .map_err(|e| format!("send to the heap probe: {e}"))?;
        let answer = self
            .answers
            .recv_timeout(SERVER_LIMIT)
            .map_err(|_| format!("the heap probe did not answer {what:?}"))?;
        match answer.split_once(' ') {
            Some(("ok", value)) => value
                .parse()
                .map_err(|_| format!("the heap probe answered {what:?} with {value:?}")),
            _ => Err(format!("the heap probe failed on {what:?}: {answer}")),
        }
    }

    /// Whether the echo service has nothing waiting in its mailbox.
    fn is_echo_idle(&self) -> bool {
        self.node.mailbox_len(self.echo) == Some(0)
    }
}

/// This process's resident set, from `/proc/self/status`.
fn rss_bytes() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

/// Open file descriptors of this process (sockets the server accepted among
/// them).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Raises the soft limit on open files to the hard limit; returns the soft limit.
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit and setrlimit read or fill the `rlimit` they are given,
    // a live local that starts zeroed (all-zero is a valid `rlimit`).
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur as u64
    }
}

// ----- the client process -----

/// Holds the connections, driven by commands on stdin (see the module docs).
fn clients(addr: &str) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
    raise_fd_limit();
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("read a command: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["connect", n] => {
                let n: usize = n.parse().map_err(|_| format!("bad command {line:?}"))?;
                for _ in 0..n {
                    let stream = TcpStream::connect(addr)
                        .map_err(|e| format!("connect {addr} (with {} open): {e}", conns.len()))?;
                    stream
                        .set_nodelay(true)
                        .and_then(|()| stream.set_read_timeout(Some(CLIENT_LIMIT)))
                        .map_err(|e| format!("set socket options: {e}"))?;
                    conns.push(stream);
                }
                format!("connected {}", conns.len())
            }
            ["ping"] => {
                for c in &mut conns {
                    c.write_all(b"p").map_err(|e| format!("ping: write: {e}"))?;
                }
                for c in &mut conns {
                    let mut echo = [0u8; 1];
                    c.read_exact(&mut echo)
                        .map_err(|e| format!("ping: read the echo: {e}"))?;
                    if echo != *b"p" {
                        return Err(format!("ping: echoed {echo:?}, sent b\"p\""));
                    }
                }
                format!("pinged {}", conns.len())
            }
            ["close"] => {
                conns.clear();
                "closed".into()
            }
            _ => return Err(format!("bad command {line:?}")),
        };
        writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("answer: {e}"))?;
    }
    Ok(())
}

// ----- child processes -----

/// A child process running this bench binary in a role, spoken to by lines.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    what: String,
}

impl Peer {
    fn spawn(role: &str, what: &str) -> Result<Peer, String> {
        let exe = std::env::current_exe().map_err(|e| format!("find the bench binary: {e}"))?;
        let mut child = Command::new(exe)
            .env(ROLE_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("start {what}: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("bench-peer".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("start a thread: {e}"))?;
        Ok(Peer {
            stdin: child.stdin.take(),
            child,
            lines,
            what: what.to_string(),
        })
    }

    /// Sends `command` (if any) and waits for a line starting with `answer`.
    fn ask(
        &mut self,
        command: Option<&str>,
        answer: &str,
        limit: Duration,
    ) -> Result<String, String> {
        let what = &self.what;
        if let Some(command) = command {
            let stdin = self.stdin.as_mut().expect("stdin is open until finish");
            writeln!(stdin, "{command}")
                .and_then(|()| stdin.flush())
                .map_err(|e| format!("send {command:?} to {what}: {e}"))?;
        }
        let asked = command.unwrap_or("its result");
        match self.lines.recv_timeout(limit) {
            Ok(line) if line.starts_with(answer) => Ok(line),
            Ok(line) => Err(format!("{what} answered {line:?} to {asked:?}")),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("{what} did not answer {asked:?} within {limit:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => Err(format!(
                "{what} exited before answering {asked:?} (its error is above)"
            )),
        }
    }

    /// Closes its stdin and waits until it exits, successfully.
    fn finish(mut self, limit: Duration) -> Result<(), String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("{} failed: {status}", self.what)),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => return Err(format!("{} did not exit within {limit:?}", self.what)),
                Err(e) => return Err(format!("wait for {}: {e}", self.what)),
            }
        }
    }
}

impl Drop for Peer {
    /// A peer left running (after an error) is killed: it is this process's
    /// own child, found by its id.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
