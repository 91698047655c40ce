//! Helpers shared by the socket integration tests: a server whose events land in a
//! channel, waits that fail with a message instead of hanging, and loopback peers.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use lunet::socket::{Event, Owner, SocketConfig, SocketHandle, SocketId, SocketInfo, SocketServer};

#[path = "../../examples/socket_echo/owner.rs"]
pub mod echo;
pub mod lua;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A socket server whose events go to a channel the test reads.
pub struct Harness {
    pub server: SocketServer,
    pub events: Receiver<(Owner, Event)>,
}

impl Harness {
    pub fn start() -> Harness {
        Harness::with_config(SocketConfig::default())
    }

    pub fn with_config(config: SocketConfig) -> Harness {
        let (tx, events) = crossbeam_channel::unbounded();
        let server = SocketServer::start(config, move |owner, ev| {
            let _ = tx.send((owner, ev));
        })
        .expect("start the socket server");
        Harness { server, events }
    }

    pub fn sockets(&self) -> &SocketHandle {
        self.server.handle()
    }

    /// The next event, or a panic naming what was awaited.
    pub fn next(&self, what: &str) -> (Owner, Event) {
        self.events
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
    }

    /// Skips events until `pred` matches one; panics with `what` on timeout.
    pub fn wait_for(&self, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((_, ev)) if pred(&ev) => return ev,
                Ok(_) => {}
                Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
            }
        }
    }

    /// Asserts no event arrives within `quiet`.
    pub fn expect_silence(&self, quiet: Duration, context: &str) {
        if let Ok(ev) = self.events.recv_timeout(quiet) {
            panic!("{context}: unexpected event {ev:?}");
        }
    }

    /// Listens on 127.0.0.1 with a fresh port, starts the listener for `owner`,
    /// and consumes its Connect event.
    pub fn listen(&self, owner: Owner) -> (SocketId, SocketAddr) {
        let (id, addr) = self
            .sockets()
            .listen(owner, "127.0.0.1", 0, 1024)
            .expect("listen");
        self.sockets().start(owner, id);
        match self.next("the listener's Connect") {
            (
                o,
                Event::Connect {
                    id: got,
                    addr: Some(a),
                },
            ) if o == owner && got == id => {
                assert_eq!(a, addr)
            }
            other => panic!("expected the listener's Connect, got {other:?}"),
        }
        (id, addr)
    }

    /// Waits for an Accept on `listener`, starts the new socket for `owner`, and
    /// consumes its Connect. Returns the new socket's id.
    pub fn accept(&self, listener: SocketId, owner: Owner) -> SocketId {
        let id = match self.next("an Accept") {
            (
                _,
                Event::Accept {
                    listener: l, id, ..
                },
            ) if l == listener => id,
            other => panic!("expected Accept, got {other:?}"),
        };
        self.sockets().start(owner, id);
        match self.next("the accepted socket's Connect") {
            (_, Event::Connect { id: got, .. }) if got == id => {}
            other => panic!("expected Connect for {id:?}, got {other:?}"),
        }
        id
    }
}

/// A loopback client with read/write timeouts so no test can hang on it.
pub fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads until EOF (or fails on timeout/reset with a message).
pub fn read_to_eof(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => out,
        Err(e) => panic!("{what}: read failed after {} bytes: {e}", out.len()),
    }
}

/// A deterministic pattern so a lost, duplicated or reordered byte is caught.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(7) as u8 ^ seed)
        .collect()
}

/// Writes all of `data`, retrying short writes.
pub fn write_all(s: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    s.write_all(data)
}

/// Polls `cond` every few ms until it holds or `WAIT` passes; panics with `what`.
/// For conditions only the kernel can show (no event to wait on).
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("timed out after {WAIT:?} waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// Runs `f` on a named thread; `Pending::wait` collects its result without ever
/// waiting forever.
pub struct Pending<T> {
    pub rx: Receiver<T>,
    pub what: String,
}

pub fn spawn<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> Pending<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    Pending {
        rx,
        what: what.to_string(),
    }
}

impl<T> Pending<T> {
    pub fn wait(self, within: Duration) -> T {
        match self.rx.recv_timeout(within) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => {
                panic!("timed out after {within:?} waiting for {}", self.what)
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{} panicked (see its message above)", self.what)
            }
        }
    }
}

/// Compares what a peer got with what it should have got, without printing
/// megabytes: names the first differing byte or the short count.
pub fn compare(got: &[u8], want: &[u8]) -> Result<(), String> {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        return Err(format!(
            "byte {i} differs (got {:#04x}, want {:#04x}); {} of {} bytes received",
            got[i],
            want[i],
            got.len(),
            want.len()
        ));
    }
    if got.len() != want.len() {
        return Err(format!(
            "{} of {} bytes received (all of them correct)",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}

/// The socket server's view of `id`, if it still has it.
pub fn info(sockets: &SocketHandle, id: SocketId) -> Option<SocketInfo> {
    sockets.stats().into_iter().find(|s| s.id == id)
}

pub fn wait_until_gone(sockets: &SocketHandle, id: SocketId, what: &str) {
    eventually(what, || info(sockets, id).is_none());
}

/// Waits until only the listener is left on the echo server.
pub fn wait_until_only_listener_left(server: &echo::EchoServer, what: &str) {
    eventually(what, || server.handle().stats().len() == 1);
}

/// Reads until EOF, failing if the whole read takes longer than `within`.
pub fn read_until_eof(s: &mut TcpStream, within: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no EOF within {within:?} ({} bytes read)", out.len()),
            ));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e} after {} bytes", out.len()),
                ))
            }
        }
    }
}

/// Echo through `server` on `threads` × `per_thread` connections open at once,
/// connection `n` sending `payload(n)` then shutting down its write side: every
/// connection must get its payload back byte for byte, then EOF, and afterwards
/// only the listener may be left on the server.
pub fn echo_concurrently(
    server: &echo::EchoServer,
    threads: usize,
    per_thread: usize,
    payload: fn(usize) -> Vec<u8>,
) {
    let total = threads * per_thread;
    let addr = server.addr;
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();

    let drivers: Vec<_> = (0..threads)
        .map(|t| {
            let ready = ready_tx.clone();
            let go = go_rx.clone();
            spawn(&format!("echo client thread {t}"), move || {
                // Open all of this thread's connections first, so all of them are
                // open at once on the server.
                let mut conns: Vec<(usize, TcpStream)> = (0..per_thread)
                    .map(|i| (t * per_thread + i, client(addr)))
                    .collect();
                let _ = ready.send(t);
                go.recv_timeout(WAIT)
                    .expect("timed out waiting for the go signal");
                let mut failures = Vec::new();
                for (n, s) in &mut conns {
                    let sent = s
                        .write_all(&payload(*n))
                        .and_then(|()| s.shutdown(std::net::Shutdown::Write));
                    if let Err(e) = sent {
                        failures.push(format!("connection {n}: write: {e}"));
                    }
                }
                for (n, s) in &mut conns {
                    let result = read_until_eof(s, WAIT)
                        .map_err(|e| format!("read: {e}"))
                        .and_then(|got| compare(&got, &payload(*n)));
                    if let Err(e) = result {
                        failures.push(format!("connection {n}: {e}"));
                    }
                }
                failures
            })
        })
        .collect();

    for _ in 0..threads {
        if let Err(e) = ready_rx.recv_timeout(2 * WAIT) {
            panic!("waiting for the client threads to open their connections: {e}");
        }
    }
    eventually(
        &format!("the server holds all {total} connections open at once"),
        || server.handle().stats().len() > total,
    );
    for _ in 0..threads {
        go_tx.send(()).unwrap();
    }

    let mut failures = Vec::new();
    for d in drivers {
        failures.extend(d.wait(3 * WAIT));
    }
    assert!(
        failures.is_empty(),
        "{} of {} connections failed:\n{}",
        failures.len(),
        total,
        failures.join("\n")
    );
    wait_until_only_listener_left(
        server,
        &format!("all {total} echoed connections are closed"),
    );
}

/// The half-close scenario through `server`: each repetition's peer sends
/// `data(rep)`, shuts down its write side, reads nothing for 1 s (part of the
/// scenario: the echo piles up in the server's queue meanwhile), then must read
/// every byte back, then EOF. Repetitions run `batch` at a time, concurrently.
/// Returns the failures, one line per failed repetition.
pub fn half_close_failures(
    server: &echo::EchoServer,
    reps: usize,
    batch: usize,
    data: fn(usize) -> Vec<u8>,
) -> Vec<String> {
    let addr = server.addr;
    let repetition = move |rep: usize| -> Result<(), String> {
        let data = data(rep);
        let mut peer = client(addr);
        peer.write_all(&data)
            .map_err(|e| format!("writing {} bytes: {e}", data.len()))?;
        peer.shutdown(std::net::Shutdown::Write)
            .map_err(|e| format!("shutting down the write side: {e}"))?;
        std::thread::sleep(Duration::from_secs(1));
        let got = read_until_eof(&mut peer, 2 * WAIT).map_err(|e| format!("read: {e}"))?;
        compare(&got, &data)
    };
    let mut failures = Vec::new();
    for first in (0..reps).step_by(batch.max(1)) {
        let running: Vec<_> = (first..reps.min(first + batch))
            .map(|rep| {
                let what = format!("half-close repetition {rep}");
                (rep, spawn(&what, move || repetition(rep)))
            })
            .collect();
        for (rep, pending) in running {
            match pending.rx.recv_timeout(4 * WAIT) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("repetition {rep}: {e}")),
                Err(RecvTimeoutError::Timeout) => {
                    failures.push(format!("repetition {rep}: timed out after {:?}", 4 * WAIT))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    failures.push(format!("repetition {rep}: panicked (see above)"))
                }
            }
        }
    }
    failures
}
