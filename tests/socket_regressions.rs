//! Regression tests for bugs found in review, one test per fixed behaviour, on real
//! loopback sockets (and a unix datagram pair and a regular file for `bind`).
//!
//! Every wait is bounded and fails with what it waited for and the events seen so
//! far. Waits on the kernel (data acknowledged, a socket gone from `stats`) poll
//! with `eventually`; `stats` doubles as a barrier, since it travels through the
//! same command channel as every other command. The only fixed delays are short
//! quiet periods that show something does *not* happen.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use lunet::socket::{Event, Owner, SocketConfig, SocketHandle, SocketId, SocketServer};

/// The owner the test thread plays.
const OWNER: Owner = 1;
/// A second owner, for transfers.
const OTHER: Owner = 2;

/// A short quiet period used to show that something does *not* happen.
const QUIET: Duration = Duration::from_millis(200);

// ----- helpers -----

/// What the owners got for one socket, in order (events for other ids are skipped).
struct Seen<'a> {
    h: &'a Harness,
    id: SocketId,
    events: Vec<(Owner, Event)>,
}

impl<'a> Seen<'a> {
    fn new(h: &'a Harness, id: SocketId) -> Seen<'a> {
        Seen {
            h,
            id,
            events: Vec::new(),
        }
    }

    /// Records events for this socket until one matches `pred`; panics with `what`
    /// and the events so far after `WAIT`.
    fn until(&mut self, what: &str, pred: impl Fn(Owner, &Event) -> bool) -> (Owner, Event) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.h.events.recv_timeout(left) {
                Ok((owner, ev)) if ev.id() == self.id => {
                    self.events.push((owner, ev.clone()));
                    if pred(owner, &ev) {
                        return (owner, ev);
                    }
                }
                Ok(_) => {}
                Err(_) => panic!(
                    "timed out after {WAIT:?} waiting for {what}; events for {:?} so far: {}",
                    self.id,
                    self.summary()
                ),
            }
        }
    }

    /// Records events for this socket until none at all has come for `quiet` (at
    /// most `WAIT` in all).
    fn settle(&mut self, quiet: Duration) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.h.events.recv_timeout(quiet) {
                Ok((owner, ev)) if ev.id() == self.id => self.events.push((owner, ev)),
                Ok(_) => {}
                Err(_) => return,
            }
        }
        panic!(
            "events kept coming for {WAIT:?}; for {:?}: {}",
            self.id,
            self.summary()
        );
    }

    /// The events in order, as "owner 1: Close, owner 1: Data(5 B) ...".
    fn summary(&self) -> String {
        if self.events.is_empty() {
            return "(none)".into();
        }
        self.events
            .iter()
            .map(|(owner, ev)| format!("owner {owner}: {}", short(ev)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The events reduced to (owner, kind name), for exact comparisons.
    fn kinds(&self) -> Vec<(Owner, &'static str)> {
        self.events.iter().map(|(o, ev)| (*o, kind(ev))).collect()
    }
}

fn kind(ev: &Event) -> &'static str {
    match ev {
        Event::Data { .. } => "Data",
        Event::Connect { .. } => "Connect",
        Event::Close { .. } => "Close",
        Event::Accept { .. } => "Accept",
        Event::Error { .. } => "Error",
        Event::Udp { .. } => "Udp",
        Event::Warning { .. } => "Warning",
    }
}

/// An event, with long Data shown by its length only.
fn short(ev: &Event) -> String {
    match ev {
        Event::Data { data, .. } if data.len() > 32 => format!("Data({} B)", data.len()),
        Event::Data { data, .. } => format!("Data({:?})", String::from_utf8_lossy(data)),
        Event::Error { reason, .. } => format!("Error({reason:?})"),
        other => format!("{other:?}"),
    }
}

/// How a peer's read ended: the bytes it got, and EOF (`Ok`) or the error.
fn read_until_end(s: &mut TcpStream) -> (Vec<u8>, io::Result<()>) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    (data, end)
}

/// Checks a peer read exactly `want` and then EOF.
fn assert_got_then_eof(got: &(Vec<u8>, io::Result<()>), want: &[u8], context: &str) {
    let (data, end) = got;
    assert_eq!(
        String::from_utf8_lossy(data),
        String::from_utf8_lossy(want),
        "{context}: the peer's bytes (its read then ended with {end:?})"
    );
    if let Err(e) = end {
        panic!(
            "{context}: the peer got {:?}, then an error instead of EOF: {e} ({:?})",
            String::from_utf8_lossy(data),
            e.kind()
        );
    }
}

/// Bytes `s` has sent that its peer has not acknowledged yet (Linux SIOCOUTQ).
fn unacked(s: &TcpStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: the fd is an open TCP socket owned by `s`, which outlives the call;
    // TIOCOUTQ writes exactly one `c_int` through the pointer, which points at a
    // live local of that type.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    assert_eq!(r, 0, "ioctl(TIOCOUTQ): {}", io::Error::last_os_error());
    n.max(0) as usize
}

/// Waits until everything `peer` sent sits in the server's kernel receive buffer.
fn wait_delivered(peer: &TcpStream, what: &str) {
    eventually(what, || unacked(peer) == 0);
}

/// A harness with a started listener, a peer, and the peer's accepted connection
/// started for `OWNER`.
fn connected(config: SocketConfig) -> (Harness, SocketId, TcpStream) {
    let h = Harness::with_config(config);
    let (listener, addr) = h.listen(OWNER);
    let peer = client(addr);
    let id = h.accept(listener, OWNER);
    (h, id, peer)
}

/// The owner whose events park the socket thread (see `gated_harness`).
const GATE: Owner = 999;

/// Holds the socket thread inside the event sink, so commands can be queued
/// behind one another and handled in a single drain of the command channel.
struct Gate {
    sockets: SocketHandle,
    listener: SocketId,
    parked: Receiver<()>,
    release: Sender<()>,
}

impl Gate {
    /// Returns once the socket thread is blocked in the sink (at most `WAIT`).
    fn park(&self) {
        self.sockets.start(GATE, self.listener);
        self.parked
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the socket thread did not park within {WAIT:?}"));
    }

    /// Lets the socket thread go on.
    fn release(&self) {
        self.release
            .send_timeout((), WAIT)
            .unwrap_or_else(|_| panic!("the parked socket thread did not take the release"));
    }
}

/// A harness whose sink blocks (for at most `WAIT`) on a Connect for `GATE`, and a
/// gate that triggers it through a listener owned by `GATE` (each `start` of it
/// delivers a Connect to `GATE`).
fn gated_harness() -> (Harness, Gate) {
    let (tx, events) = crossbeam_channel::unbounded();
    let (parked_tx, parked) = crossbeam_channel::bounded(1);
    let (release, release_rx) = crossbeam_channel::bounded::<()>(0);
    let server = SocketServer::start(SocketConfig::default(), move |owner, ev| {
        if owner == GATE {
            // Only the gate listener's Connect parks; its Close at exit does not.
            if matches!(ev, Event::Connect { .. }) {
                let _ = parked_tx.send(());
                let _ = release_rx.recv_timeout(WAIT);
            }
        } else {
            let _ = tx.send((owner, ev));
        }
    })
    .expect("start the socket server");
    let h = Harness { server, events };
    let sockets = h.sockets().clone();
    let (listener, _) = sockets
        .listen(GATE, "127.0.0.1", 0, 1)
        .expect("listen for the gate");
    let gate = Gate {
        sockets,
        listener,
        parked,
        release,
    };
    (h, gate)
}

/// A file under the temp dir, removed when dropped (even if the test panics).
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "lunet-regression-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::write(&path, b"not a socket\n")
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ----- the regressions -----

/// Closing an accepted socket that was never started still sends what was queued.
#[test]
fn close_before_start_still_delivers_queued_bytes() {
    // found by review: close of an unstarted accepted socket dropped the queued bytes
    let h = Harness::start();
    let sockets = h.sockets();
    let (listener, addr) = h.listen(OWNER);
    let mut peer = client(addr);
    let id = match h.next("the Accept") {
        (
            _,
            Event::Accept {
                listener: l, id, ..
            },
        ) if l == listener => id,
        other => panic!("expected an Accept on {listener:?}, got {other:?}"),
    };
    let mut seen = Seen::new(&h, id);

    sockets
        .send(id, &b"server full\n"[..])
        .expect("send to an accepted, unstarted socket is accepted");
    sockets.close(id);
    seen.until("Close after closing the unstarted socket", |_, e| {
        matches!(e, Event::Close { .. })
    });

    let got = read_until_end(&mut peer);
    assert_got_then_eof(&got, b"server full\n", "close before start");
    wait_until_gone(sockets, id, "the closed socket leaves the table");
    seen.settle(QUIET);
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Close")],
        "the owner should get exactly one Close; events: {}",
        seen.summary()
    );
}

/// Closing a connecting socket (the host name still being resolved) still sends
/// what was queued once connected; the owner, who let go, gets no Connect.
#[test]
fn close_before_connect_completes_still_delivers_queued_bytes() {
    // found by review: close while connecting dropped the bytes sent before it
    let (h, gate) = gated_harness();
    let sockets = h.sockets();
    let target = TcpListener::bind("127.0.0.1:0").expect("bind the peer's listener");
    let port = target.local_addr().unwrap().port();

    // The peer accepts one connection and reads it to the end, on its own thread.
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("the peer".into())
        .spawn(move || {
            let result = target.accept().map(|(mut s, _)| read_until_end(&mut s));
            let _ = tx.send(result);
        })
        .expect("spawn the peer");

    // A host name, so resolution runs on a helper thread. With the socket thread
    // parked, connect, send and close are all queued before it handles any of
    // them; it then handles them in one drain, so the close is handled while the
    // socket is still connecting (the resolver's answer can only queue up behind
    // it). Without the gate a descheduled test thread lets the connect complete
    // first, and the owner then rightly gets Connect before Close.
    gate.park();
    let id = sockets
        .connect(OWNER, "localhost", port)
        .expect("connect to localhost");
    sockets
        .send(id, &b"hello"[..])
        .expect("send while connecting is accepted");
    sockets.close(id);
    gate.release();
    let mut seen = Seen::new(&h, id);

    let got = match rx.recv_timeout(WAIT) {
        Ok(Ok(got)) => got,
        Ok(Err(e)) => panic!("the peer's accept failed: {e}"),
        Err(RecvTimeoutError::Timeout) => {
            seen.settle(QUIET);
            panic!(
                "timed out after {WAIT:?}: the peer was never connected to, or never saw \
                 EOF; events: {}",
                seen.summary()
            )
        }
        Err(RecvTimeoutError::Disconnected) => panic!("the peer's thread panicked"),
    };
    assert_got_then_eof(&got, b"hello", "close before connect completes");

    seen.until("Close after closing the connecting socket", |_, e| {
        matches!(e, Event::Close { .. })
    });
    wait_until_gone(sockets, id, "the closed socket leaves the table");
    seen.settle(QUIET);
    // `Conn::connected` with `close_pending` goes straight to Closing: no Connect
    // for an owner who has already let go.
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Close")],
        "the owner should get one Close and no Connect; events: {}",
        seen.summary()
    );
}

/// A bound datagram fd with several datagrams waiting delivers all of them, not
/// just the first short read.
#[test]
fn bound_datagram_fd_delivers_every_datagram() {
    // found by review: a short read was taken as "drained", stranding later datagrams
    let h = Harness::start();
    let sockets = h.sockets();
    let (mine, theirs) = UnixDatagram::pair().expect("a unix datagram pair");
    let datagrams: [&[u8]; 3] = [b"one", b"two", b"three"];
    for d in datagrams {
        theirs.send(d).expect("write a datagram");
    }

    let id = sockets
        .bind(OWNER, OwnedFd::from(mine))
        .expect("bind the datagram fd");
    sockets.start(OWNER, id);
    let mut seen = Seen::new(&h, id);
    seen.until(
        "the third datagram as Data",
        |_, e| matches!(e, Event::Data { data, .. } if &data[..] == b"three"),
    );
    seen.settle(QUIET);

    let got: Vec<String> = seen
        .events
        .iter()
        .map(|(owner, ev)| match ev {
            Event::Connect { addr: None, .. } if *owner == OWNER => "Connect".to_string(),
            Event::Data { data, .. } if *owner == OWNER => {
                String::from_utf8_lossy(data).into_owned()
            }
            other => format!("unexpected: owner {owner}: {}", short(other)),
        })
        .collect();
    assert_eq!(
        got,
        ["Connect", "one", "two", "three"],
        "every datagram, in order, with no further input; events: {}",
        seen.summary()
    );
    drop(theirs);
}

/// TCP urgent data makes a read stop short at the urgent mark; the bytes after it
/// must still be read without any new input from the peer.
#[test]
fn urgent_data_does_not_strand_the_rest_of_the_stream() {
    // found by review: the short read at the urgent mark stalled the stream
    let (h, id, mut peer) = connected(SocketConfig::default());
    let sockets = h.sockets();
    sockets.pause(id);
    // `stats` answers only after the pause above has been handled.
    let paused = info(sockets, id).expect("the socket is open");
    assert_eq!(paused.state, "open", "{paused:?}");

    peer.write_all(b"abc").expect("the peer sends abc");
    // SAFETY: the fd is the open TCP socket owned by `peer`, which outlives the
    // call; the buffer is a static byte string of the length given.
    let sent = unsafe { libc::send(peer.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1, "send(MSG_OOB): {}", io::Error::last_os_error());
    peer.write_all(b"def").expect("the peer sends def");
    // Everything sits in the server's receive buffer before reading resumes, so
    // one readiness edge must be enough.
    wait_delivered(&peer, "the server's kernel has all the peer's bytes");

    sockets.resume(id);
    let mut seen = Seen::new(&h, id);
    let mut received = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !(received.len() >= 6 && received.ends_with(b"def")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match h.events.recv_timeout(left) {
            Ok((owner, ev)) if ev.id() == id => {
                seen.events.push((owner, ev.clone()));
                match ev {
                    Event::Data { data, .. } if owner == OWNER => received.extend_from_slice(&data),
                    other => panic!(
                        "unexpected event for owner {owner}: {}; events: {}",
                        short(&other),
                        seen.summary()
                    ),
                }
            }
            Ok(_) => {}
            Err(_) => panic!(
                "timed out after {WAIT:?}: after resume the owner got only {:?}; the rest \
                 of the stream is stranded behind the urgent mark; events: {}",
                String::from_utf8_lossy(&received),
                seen.summary()
            ),
        }
    }
    assert!(
        received == b"abcdef" || received == b"abcXdef",
        "the owner should get abc then def (the urgent X may be absent), got {:?}",
        String::from_utf8_lossy(&received)
    );
    seen.settle(QUIET);
    assert!(
        seen.events
            .iter()
            .all(|(_, e)| matches!(e, Event::Data { .. })),
        "only Data expected; events: {}",
        seen.summary()
    );
}

/// A linger too long to represent means "no limit": closing with bytes queued must
/// not overflow a deadline and kill the socket thread, and `stop` stays bounded by
/// the exit linger.
#[test]
fn huge_linger_does_not_panic_the_socket_thread() {
    // found by review: Instant + Duration::MAX panicked the socket thread on close
    let exit_linger = Duration::from_secs(1);
    let config = SocketConfig {
        linger: Duration::MAX,
        exit_linger,
        warn_threshold: 0,
        ..SocketConfig::default()
    };
    let (h, id, stuck_peer) = connected(config);
    let sockets = h.sockets().clone();
    let mut seen = Seen::new(&h, id);

    // More than loopback buffers absorb, to a peer that never reads.
    sockets
        .send(id, vec![0x5Au8; 16 * MIB])
        .expect("queue 16 MiB");
    sockets.close(id);
    seen.until("Close after the owner's close", |_, e| {
        matches!(e, Event::Close { .. })
    });
    let closing = info(&sockets, id)
        .expect("the socket thread answers stats, and the socket is still flushing");
    assert_eq!(closing.state, "closing", "{closing:?}");
    assert!(closing.queued > 0, "nothing left queued: {closing:?}");

    // The server still works: a new listener, connection and echo.
    let (listener, addr) = h.listen(OWNER);
    let mut peer = client(addr);
    let echo = h.accept(listener, OWNER);
    peer.write_all(b"ping").expect("the new peer writes");
    let mut got = Vec::new();
    while got.len() < 4 {
        match h.next("the new connection's Data") {
            (OWNER, Event::Data { id: d, data }) if d == echo => got.extend_from_slice(&data),
            other => panic!("expected Data on the new connection, got {other:?}"),
        }
    }
    assert_eq!(got, b"ping");
    sockets.send(echo, got).expect("echo the bytes back");
    let mut back = [0u8; 4];
    peer.read_exact(&mut back)
        .expect("the new peer reads the echo");
    assert_eq!(&back, b"ping");

    // `stop` must return once the exit linger runs out, though the closing
    // socket's own linger never does.
    let Harness { server, events } = h;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let started = Instant::now();
    std::thread::Builder::new()
        .name("stop".into())
        .spawn(move || {
            server.stop();
            let _ = tx.send(());
        })
        .expect("spawn the stopping thread");
    let limit = exit_linger + Duration::from_secs(5);
    match rx.recv_timeout(limit) {
        Ok(()) => {}
        Err(RecvTimeoutError::Timeout) => panic!(
            "stop did not return within {limit:?} (exit linger {exit_linger:?}) with a \
             closing socket whose linger is Duration::MAX"
        ),
        Err(RecvTimeoutError::Disconnected) => panic!("stop panicked"),
    }
    eprintln!("stop returned after {:?}", started.elapsed());
    drop((events, stuck_peer, peer));
}

/// An fd the poller refuses (a regular file) gives its owner Error, then Close.
#[test]
fn unregisterable_fd_reports_error_then_close() {
    // found by review: a failed poll registration gave an Error but never a Close
    let h = Harness::start();
    let sockets = h.sockets();
    let file = TempFile::new("unregisterable");
    let fd = std::fs::File::open(&file.0).expect("open the temp file");
    let id = sockets
        .bind(OWNER, OwnedFd::from(fd))
        .expect("bind the regular file");
    sockets.start(OWNER, id);

    let mut seen = Seen::new(&h, id);
    seen.until("Close after the failed registration", |_, e| {
        matches!(e, Event::Close { .. })
    });
    wait_until_gone(sockets, id, "the failed socket leaves the table");
    seen.settle(QUIET);
    // `start` emits Connect, then registering read interest fails.
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Connect"), (OWNER, "Error"), (OWNER, "Close")],
        "events: {}",
        seen.summary()
    );
    match &seen.events[1].1 {
        Event::Error { reason, .. } => assert!(
            reason.contains("poll register"),
            "the Error should say the poller refused the fd: {reason:?}"
        ),
        _ => unreachable!(),
    }
}

/// After the peer's FIN, a second start by the same owner gives Connect only; a
/// start by a new owner tells it Connect and Close.
#[test]
fn restart_after_peer_fin_by_same_owner_gives_no_second_close() {
    // found by review: start after the peer's FIN gave the same owner a second Close
    let (h, id, peer) = connected(SocketConfig::default());
    let sockets = h.sockets();
    let mut seen = Seen::new(&h, id);

    peer.shutdown(Shutdown::Write)
        .expect("the peer shuts down its write side");
    seen.until("Close after the peer's FIN", |_, e| {
        matches!(e, Event::Close { .. })
    });

    sockets.start(OWNER, id);
    seen.until("Connect after the same owner's start", |_, e| {
        matches!(e, Event::Connect { .. })
    });
    seen.settle(QUIET);
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Close"), (OWNER, "Connect")],
        "the same owner must not get a second Close; events: {}",
        seen.summary()
    );

    sockets.start(OTHER, id);
    seen.until("Close for the new owner", |o, e| {
        o == OTHER && matches!(e, Event::Close { .. })
    });
    seen.settle(QUIET);
    assert_eq!(
        seen.kinds(),
        vec![
            (OWNER, "Close"),
            (OWNER, "Connect"),
            (OTHER, "Connect"),
            (OTHER, "Close")
        ],
        "the new owner learns Connect then Close; events: {}",
        seen.summary()
    );
    drop(peer);
}

/// Closing with input the owner never read must not make the kernel reset the
/// connection: the peer gets the reply, then a clean EOF.
#[test]
fn close_with_unread_input_ends_with_eof_not_reset() {
    // found by review: close with unread input and nothing queued sent RST
    let (h, id, mut peer) = connected(SocketConfig::default());
    let sockets = h.sockets();
    sockets.pause(id);
    // `stats` answers only after the pause above has been handled.
    let paused = info(sockets, id).expect("the socket is open");
    assert_eq!(paused.state, "open", "{paused:?}");
    let mut seen = Seen::new(&h, id);

    let body = pattern(64 * 1024, 8);
    peer.write_all(&body).expect("the peer sends 64 KiB");
    wait_delivered(&peer, "the server's kernel holds the peer's 64 KiB");

    sockets.send(id, &b"bye\n"[..]).expect("send the reply");
    sockets.close(id);
    let got = read_until_end(&mut peer);
    assert_got_then_eof(&got, b"bye\n", "close with 64 KiB unread");

    drop(peer);
    wait_until_gone(sockets, id, "the closed socket leaves the table");
    seen.settle(QUIET);
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Close")],
        "one Close, no Data (paused) and no Error; events: {}",
        seen.summary()
    );
}

/// A failed resolution names the host it could not resolve.
#[test]
fn resolve_failure_names_the_host() {
    // found by review: the resolver's Error did not say which host failed
    let h = Harness::start();
    let id = h
        .sockets()
        .connect(OWNER, "no-such-host.invalid", 80)
        .expect("connect returns an id at once");
    let mut seen = Seen::new(&h, id);
    seen.until("the resolver's Error", |_, e| {
        matches!(e, Event::Error { .. })
    });
    seen.settle(QUIET);
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Error")],
        "a failed connect gives one Error and nothing else; events: {}",
        seen.summary()
    );
    match &seen.events[0].1 {
        Event::Error { reason, .. } => assert!(
            reason.contains("no-such-host.invalid"),
            "the Error should name the host: {reason:?}"
        ),
        _ => unreachable!(),
    }
}

/// `start` on a closing socket changes nothing, its owner included: the linger
/// Error still goes to the owner that closed it.
#[test]
fn start_on_a_closing_socket_keeps_its_owner() {
    // found by review: start on a closing socket handed it (and its Error) to a new owner
    let config = SocketConfig {
        linger: Duration::from_millis(300),
        warn_threshold: 0,
        ..SocketConfig::default()
    };
    let (h, id, stuck_peer) = connected(config);
    let sockets = h.sockets();
    let mut seen = Seen::new(&h, id);

    // More than loopback buffers absorb, to a peer that never reads.
    sockets
        .send(id, vec![0xA5u8; 16 * MIB])
        .expect("queue 16 MiB");
    sockets.close(id);
    seen.until("Close after the owner's close", |_, e| {
        matches!(e, Event::Close { .. })
    });

    sockets.start(OTHER, id);
    // `stats` answers only after the start above has been handled.
    let after = info(sockets, id).expect("the closing socket is still flushing");
    assert_eq!(after.state, "closing", "{after:?}");
    assert_eq!(
        after.owner, OWNER,
        "start on a closing socket changed its owner: {after:?}"
    );

    let (owner, error) = seen.until("the linger timeout's Error", |_, e| {
        matches!(e, Event::Error { .. })
    });
    assert_eq!(
        owner,
        OWNER,
        "the linger Error went to the wrong owner; events: {}",
        seen.summary()
    );
    match &error {
        Event::Error { reason, .. } => assert!(
            reason.contains("linger"),
            "the Error should name the linger timeout: {reason:?}"
        ),
        _ => unreachable!(),
    }
    wait_until_gone(sockets, id, "the lingering socket leaves the table");
    seen.settle(QUIET);
    assert_eq!(
        seen.kinds(),
        vec![(OWNER, "Close"), (OWNER, "Error")],
        "nothing for the would-be new owner; events: {}",
        seen.summary()
    );
    drop(stuck_peer);
}
