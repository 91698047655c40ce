//! Close, shutdown and half-close with real loopback peers (DESIGN.md §3.4): no byte
//! accepted by `send` before `close` is lost while the peer reads, the owner gets
//! exactly one Close, nothing is delivered after it, a stale command never turns a
//! flushing close into a force close, and a flush to a peer that never reads is
//! bounded by the linger timeout.
//!
//! Soak mode: `LUNET_SOAK=N cargo test --test socket_close` runs the half-close
//! echo scenario (`half_closed_peer_gets_every_echoed_byte_then_eof`) N times
//! instead of the default 20, in concurrent batches of 10, and reports every
//! failing repetition by number.
//!
//! Every wait is bounded and fails with what it waited for. The only sleeps are
//! delays that are part of a scenario ("the peer starts reading 1 s later").

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use lunet::socket::{Event, Owner, SocketConfig, SocketHandle, SocketId};

/// The owner handle the test thread plays.
const OWNER: Owner = 7;

// ----- helpers -----

/// How a peer's read ended: the bytes it got, and EOF (`Ok`) or the error.
struct ReadOutcome {
    data: Vec<u8>,
    end: io::Result<()>,
}

/// Reads until EOF or an error; a read that is still going after `within` ends with
/// a `TimedOut` error.
fn read_until_end(s: &mut TcpStream, within: Duration) -> ReadOutcome {
    let deadline = Instant::now() + within;
    let mut data = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let end = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no EOF within {within:?}"),
            ));
        }
        if let Err(e) = s.set_read_timeout(Some(left)) {
            break Err(e);
        }
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    ReadOutcome { data, end }
}

impl ReadOutcome {
    /// Checks the peer got exactly `want`, then EOF.
    fn check_all_then_eof(&self, want: &[u8]) -> Result<(), String> {
        compare(&self.data, want)?;
        match &self.end {
            Ok(()) => Ok(()),
            Err(e) => Err(format!(
                "got all {} bytes, then an error instead of EOF: {e}",
                want.len()
            )),
        }
    }

    /// Whether the read ended by EOF or a reset (not by a timeout).
    fn ended_by_eof_or_reset(&self) -> bool {
        match &self.end {
            Ok(()) => true,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
        }
    }

    fn describe_end(&self) -> String {
        match &self.end {
            Ok(()) => format!("EOF after {} bytes", self.data.len()),
            Err(e) => format!("error after {} bytes: {e}", self.data.len()),
        }
    }
}

/// Compares what a peer got with what it should have got, without printing
/// megabytes: names the first differing byte or the short count.
fn compare(got: &[u8], want: &[u8]) -> Result<(), String> {
    check_prefix(got, want)?;
    if got.len() != want.len() {
        return Err(format!(
            "{} of {} bytes received (all of them correct), then the stream ended",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}

/// Checks `got` is a prefix of `want` (no byte wrong, none extra).
fn check_prefix(got: &[u8], want: &[u8]) -> Result<(), String> {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        return Err(format!(
            "byte {i} differs (got {:#04x}, want {:#04x}); {} of {} bytes received",
            got[i],
            want[i],
            got.len(),
            want.len()
        ));
    }
    if got.len() > want.len() {
        return Err(format!(
            "{} bytes received, {} more than were sent",
            got.len(),
            got.len() - want.len()
        ));
    }
    Ok(())
}

/// Queues `data` in 64 KiB sends; every send must be accepted.
fn send_all(sockets: &SocketHandle, id: SocketId, data: &Bytes) {
    for start in (0..data.len()).step_by(64 * 1024) {
        let end = (start + 64 * 1024).min(data.len());
        sockets
            .send(id, data.slice(start..end))
            .unwrap_or_else(|e| panic!("send of bytes {start}..{end} to {id:?} refused: {e}"));
    }
}

/// What the owner got for one socket, in order. Data is kept as its length only
/// (a peer sending junk can push hundreds of MiB through), plus the first 64 KiB of
/// delivered bytes in `received`.
struct Log<'a> {
    h: &'a Harness,
    id: SocketId,
    events: Vec<Seen>,
    received: Vec<u8>,
}

/// One event, as the log keeps it.
#[derive(Debug)]
enum Seen {
    Data(usize),
    Close,
    Error(String),
    Warning(usize),
    Other(String),
}

const KEEP_RECEIVED: usize = 64 * 1024;

impl<'a> Log<'a> {
    fn new(h: &'a Harness, id: SocketId) -> Log<'a> {
        Log {
            h,
            id,
            events: Vec::new(),
            received: Vec::new(),
        }
    }

    fn record(&mut self, ev: &Event) {
        if ev.id() != self.id {
            return;
        }
        self.events.push(match ev {
            Event::Data { data, .. } => {
                let keep = data
                    .len()
                    .min(KEEP_RECEIVED.saturating_sub(self.received.len()));
                self.received.extend_from_slice(&data[..keep]);
                Seen::Data(data.len())
            }
            Event::Close { .. } => Seen::Close,
            Event::Error { reason, .. } => Seen::Error(reason.clone()),
            Event::Warning { kib, .. } => Seen::Warning(*kib),
            other => Seen::Other(format!("{other:?}")),
        });
    }

    /// Records events until one for this socket matches `pred`; panics with `what`
    /// and the events so far after `WAIT`.
    fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.h.events.recv_timeout(left) {
                Ok((_, ev)) => {
                    self.record(&ev);
                    if ev.id() == self.id && pred(&ev) {
                        return ev;
                    }
                }
                Err(_) => panic!(
                    "timed out after {WAIT:?} waiting for {what}; events for {:?} so far: {}",
                    self.id,
                    self.summary()
                ),
            }
        }
    }

    /// Records events until none has come for `quiet` (at most `WAIT` in all).
    fn drain(&mut self, quiet: Duration) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.h.events.recv_timeout(quiet) {
                Ok((_, ev)) => self.record(&ev),
                Err(_) => return,
            }
        }
        panic!(
            "events for {:?} kept coming for {WAIT:?}: {}",
            self.id,
            self.summary()
        );
    }

    fn closes(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Seen::Close))
            .count()
    }

    fn errors(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Seen::Error(reason) => Some(reason.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Data events that came after the first Close.
    fn data_after_close(&self) -> usize {
        self.events
            .iter()
            .skip_while(|e| !matches!(e, Seen::Close))
            .filter(|e| matches!(e, Seen::Data(_)))
            .count()
    }

    /// The events in order, runs of Data folded ("Data×12 (786432 B), Close, ...").
    fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut run = (0usize, 0usize);
        let flush = |parts: &mut Vec<String>, run: &mut (usize, usize)| {
            if run.0 > 0 {
                parts.push(format!("Data×{} ({} B)", run.0, run.1));
                *run = (0, 0);
            }
        };
        for e in &self.events {
            match e {
                Seen::Data(len) => {
                    run.0 += 1;
                    run.1 += len;
                }
                other => {
                    flush(&mut parts, &mut run);
                    parts.push(match other {
                        Seen::Close => "Close".into(),
                        Seen::Error(reason) => format!("Error({reason:?})"),
                        Seen::Warning(kib) => format!("Warning({kib} KiB)"),
                        Seen::Other(text) => text.clone(),
                        Seen::Data(_) => unreachable!(),
                    });
                }
            }
        }
        flush(&mut parts, &mut run);
        if parts.is_empty() {
            "(none)".into()
        } else {
            parts.join(", ")
        }
    }

    /// Exactly one Close, and no Data after it.
    fn assert_one_close_no_data_after(&self, context: &str) {
        assert_eq!(
            self.closes(),
            1,
            "{context}: expected exactly one Close for {:?}; events: {}",
            self.id,
            self.summary()
        );
        assert_eq!(
            self.data_after_close(),
            0,
            "{context}: Data delivered after Close for {:?}; events: {}",
            self.id,
            self.summary()
        );
    }
}

/// A harness with one accepted, started connection and its blocking peer.
fn connected(config: SocketConfig) -> (Harness, SocketId, TcpStream) {
    let h = Harness::with_config(config);
    let (listener, addr) = h.listen(OWNER);
    let peer = client(addr);
    let id = h.accept(listener, OWNER);
    (h, id, peer)
}

// ----- half-close through the echo owner (with soak mode) -----

const DEFAULT_REPETITIONS: usize = 20;
const BATCH: usize = 10;
const HALF_CLOSE_BYTES: usize = 8 * MIB;

fn repetitions() -> usize {
    match std::env::var("LUNET_SOAK") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("LUNET_SOAK must be a number of repetitions, got {v:?}")),
        Err(_) => DEFAULT_REPETITIONS,
    }
}

/// Repetition `rep`'s payload: 8 MiB and a little, different for each.
fn half_close_data(rep: usize) -> Vec<u8> {
    pattern(HALF_CLOSE_BYTES + rep % 1000, rep as u8)
}

/// DESIGN §3.4 "peer sends FIN": the echo owner closes on Close with megabytes still
/// queued; the peer, reading only 1 s after its FIN, still gets every byte, then EOF.
#[test]
fn half_closed_peer_gets_every_echoed_byte_then_eof() {
    let reps = repetitions();
    let started = Instant::now();
    let server = echo::EchoServer::start(SocketConfig::default(), "127.0.0.1", 0).unwrap();
    let failures = half_close_failures(&server, reps, BATCH, half_close_data);
    eprintln!(
        "half-close: {reps} repetitions, {} failed, in {:.1?}",
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {reps} half-close repetitions lost bytes or EOF:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eventually("every echo connection is closed on the server", || {
        server.handle().stats().len() == 1
    });
    server.stop();
}

// ----- the owner's close and shutdown (the test thread is the owner) -----

/// The owner's close with 8 MiB queued while the peer keeps sending and reads
/// nothing at first: the close keeps reading and discarding (so the kernel never
/// resets the connection under our data), the peer gets exactly the 8 MiB then EOF,
/// and the owner gets one Close and no Data after it.
///
/// "No Data after the close call" is checked as "no Data after the Close event":
/// Data the socket thread delivered before it handled the close is legitimately
/// ahead of the Close in the owner's queue (the sink has one producer, so this order
/// is exact).
#[test]
fn close_with_queued_data_flushes_before_fin_while_peer_keeps_sending() {
    let (h, id, peer) = connected(SocketConfig::default());
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);

    // The peer writes junk until a write fails, and reads nothing for now.
    let stop = Arc::new(AtomicBool::new(false));
    let mut junk_out = peer.try_clone().expect("clone the peer socket");
    let stop_writer = stop.clone();
    let writer = spawn("the peer's junk writer", move || {
        let junk = vec![0xA5u8; 16 * 1024];
        let mut sent = 0usize;
        while !stop_writer.load(Ordering::Relaxed) {
            match junk_out.write(&junk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (sent, Some(e)),
            }
        }
        (sent, None)
    });
    log.until("the peer's junk to arrive as Data", |e| {
        matches!(e, Event::Data { .. })
    });

    let data = Bytes::from(pattern(8 * MIB, 41));
    send_all(&sockets, id, &data);
    sockets.close(id);
    log.until("Close after the owner's close", |e| {
        matches!(e, Event::Close { .. })
    });
    assert!(
        sockets.send(id, &b"late"[..]).is_err(),
        "send after close must be refused"
    );

    // While closing, the socket goes on reading (and discarding) the peer's junk.
    // (8 MiB is about twice what loopback kernel buffers absorb here, so part of it
    // is still in the socket's own queue.)
    let at_close = info(&sockets, id).expect("the closing socket is still flushing");
    assert_eq!(at_close.state, "closing", "{at_close:?}");
    assert!(
        at_close.queued > 0,
        "nothing left queued at close: {at_close:?}"
    );
    eventually(
        "the closing socket reads and discards 1 MiB more junk",
        || info(&sockets, id).is_some_and(|s| s.bytes_read >= at_close.bytes_read + MIB as u64),
    );

    // Now the peer reads: all 8 MiB, then EOF.
    let mut peer_in = peer;
    let reader = spawn("the peer's reader", move || {
        read_until_end(&mut peer_in, 2 * WAIT)
    });
    let got = reader.wait(3 * WAIT);
    if let Err(e) = got.check_all_then_eof(&data) {
        panic!(
            "peer after the owner's close (8 MiB queued, peer sending): {e}; owner events: {}",
            log.summary()
        );
    }
    wait_until_gone(&sockets, id, "the closed socket leaves the table");
    stop.store(true, Ordering::Relaxed);
    let (junk_sent, _) = writer.wait(2 * WAIT);
    log.drain(Duration::from_millis(200));

    log.assert_one_close_no_data_after("close while the peer keeps sending");
    assert!(
        log.errors().is_empty(),
        "no byte was lost, so no Error is due; events: {}",
        log.summary()
    );
    assert!(junk_sent > 0);
}

/// Input that arrives while a close is flushing is read (the socket's byte count
/// grows) and dropped: the owner never sees it as Data.
#[test]
fn data_arriving_after_close_is_read_and_discarded_never_delivered() {
    let (h, id, mut peer) = connected(SocketConfig::default());
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);

    // Keep the close flushing: 8 MiB the peer does not read yet.
    let data = Bytes::from(pattern(8 * MIB, 42));
    send_all(&sockets, id, &data);
    sockets.close(id);
    log.until("Close after the owner's close", |e| {
        matches!(e, Event::Close { .. })
    });
    let before = info(&sockets, id).expect("the socket is flushing its close");
    assert_eq!(before.state, "closing", "{before:?}");

    // The peer writes after the close; the socket must read it and drop it.
    let late = pattern(100 * 1024, 43);
    peer.write_all(&late).expect("the peer writes after close");
    eventually("the closing socket has read the peer's late bytes", || {
        info(&sockets, id).is_some_and(|s| s.bytes_read >= before.bytes_read + late.len() as u64)
    });
    log.drain(Duration::from_millis(100));
    assert_eq!(
        log.data_after_close(),
        0,
        "bytes read after close were delivered; events: {}",
        log.summary()
    );

    let got = read_until_end(&mut peer, 2 * WAIT);
    if let Err(e) = got.check_all_then_eof(&data) {
        panic!(
            "peer after close with late input: {e}; events: {}",
            log.summary()
        );
    }
    wait_until_gone(&sockets, id, "the closed socket leaves the table");
    log.drain(Duration::from_millis(100));
    log.assert_one_close_no_data_after("late input after close");
}

/// `shutdown` with megabytes queued does not flush: the peer's read ends (EOF or
/// reset) within 5 s although the linger is 30 s, with a correct prefix only, and
/// the owner gets one Close.
#[test]
fn shutdown_discards_queued_data_and_ends_the_peer_promptly() {
    let config = SocketConfig {
        linger: Duration::from_secs(30),
        ..SocketConfig::default()
    };
    let (h, id, mut peer) = connected(config);
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);

    // More than the kernel buffers hold, so most stays in the socket's queue.
    let data = Bytes::from(pattern(16 * MIB, 51));
    send_all(&sockets, id, &data);
    let before = info(&sockets, id).expect("the socket is open");
    assert!(
        before.queued > 0,
        "nothing queued before shutdown: {before:?}"
    );

    sockets.shutdown(id);
    log.until("Close after the owner's shutdown", |e| {
        matches!(e, Event::Close { .. })
    });
    wait_until_gone(&sockets, id, "the shut-down socket leaves the table");

    // The peer's read must end well before the 30 s linger: a shutdown does not
    // flush.
    let got = read_until_end(&mut peer, Duration::from_secs(5));
    assert!(
        got.ended_by_eof_or_reset(),
        "the peer should see EOF or a reset within 5 s of shutdown (linger is 30 s); \
         it saw: {}",
        got.describe_end()
    );
    if let Err(e) = check_prefix(&got.data, &data) {
        panic!("what the peer got before the shutdown took effect is wrong: {e}");
    }
    assert!(
        got.data.len() < data.len(),
        "the peer got all {} bytes although {} were still queued at shutdown",
        data.len(),
        before.queued
    );

    log.drain(Duration::from_millis(100));
    log.assert_one_close_no_data_after("shutdown with data queued");
}

/// A flush to a peer that never reads is bounded: Close at once, then (no sooner
/// than the 300 ms linger) one Error naming the linger, the socket is gone, and the
/// peer then sees EOF or a reset after a correct prefix.
#[test]
fn close_to_a_peer_that_never_reads_ends_after_linger_with_an_error() {
    let linger = Duration::from_millis(300);
    let config = SocketConfig {
        linger,
        ..SocketConfig::default()
    };
    let (h, id, mut peer) = connected(config);
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);

    let data = Bytes::from(pattern(16 * MIB, 61));
    send_all(&sockets, id, &data);
    let closed_at = Instant::now();
    sockets.close(id);
    let first = log.until("Close or Error after the owner's close", |e| {
        matches!(e, Event::Close { .. } | Event::Error { .. })
    });
    assert!(
        matches!(first, Event::Close { .. }),
        "the owner must get Close at once, before any linger Error; got {first:?}"
    );

    let error = log.until("the linger timeout's Error", |e| {
        matches!(e, Event::Error { .. })
    });
    let waited = closed_at.elapsed();
    match &error {
        Event::Error { reason, .. } => assert!(
            reason.contains("linger"),
            "the Error should say the linger timeout ran out: {reason:?}"
        ),
        _ => unreachable!(),
    }
    assert!(
        waited >= linger,
        "the linger Error came {waited:?} after close, before the {linger:?} linger"
    );
    wait_until_gone(&sockets, id, "the lingering socket leaves the table");

    let got = read_until_end(&mut peer, WAIT);
    assert!(
        got.ended_by_eof_or_reset(),
        "after the linger timeout the peer should see EOF or a reset; it saw: {}",
        got.describe_end()
    );
    if let Err(e) = check_prefix(&got.data, &data) {
        panic!("what the peer got before the linger timeout is wrong: {e}");
    }

    log.drain(Duration::from_millis(100));
    log.assert_one_close_no_data_after("linger timeout");
    assert_eq!(
        log.errors().len(),
        1,
        "expected exactly one Error; events: {}",
        log.summary()
    );
}

/// The peer's FIN gives Data then exactly one Close; the owner may still send, and
/// what it sends before its close reaches the peer, then EOF.
#[test]
fn peer_fin_gives_one_close_and_the_owner_can_still_send() {
    let (h, id, mut peer) = connected(SocketConfig::default());
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);

    peer.write_all(b"abc").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    log.until("Close after the peer's FIN", |e| {
        matches!(e, Event::Close { .. })
    });
    assert_eq!(
        log.received,
        b"abc",
        "Data before Close should be the peer's bytes; events: {}",
        log.summary()
    );

    sockets
        .send(id, &b"reply"[..])
        .expect("the owner may send after the peer's FIN");
    sockets.close(id);
    let got = read_until_end(&mut peer, WAIT);
    if let Err(e) = got.check_all_then_eof(b"reply") {
        panic!("peer after its FIN: {e}; events: {}", log.summary());
    }

    wait_until_gone(&sockets, id, "the socket leaves the table after close");
    log.drain(Duration::from_millis(100));
    log.assert_one_close_no_data_after("peer FIN then owner reply");
    assert!(
        log.errors().is_empty(),
        "no Error expected; events: {}",
        log.summary()
    );
}

/// The owner keeps sending small chunks to a peer that is gone (closed with a
/// FIN, or reset if `reset`): exactly one Error, sends refused once it has come,
/// at most one Close, no Data after it.
fn send_to_vanished_peer(reset: bool) {
    let (h, id, peer) = connected(SocketConfig::default());
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);
    if reset {
        // Closing with unread input makes the peer's kernel send RST.
        sockets.send(id, &b"unread"[..]).unwrap();
        let mut buf = [0u8; 1];
        peer.peek(&mut buf)
            .expect("the peer has unread input before it closes");
    }
    drop(peer);

    let mut refused_at = None;
    for i in 0..2000 {
        if sockets.send(id, &b"ping"[..]).is_err() {
            refused_at = Some(i);
            break;
        }
        while let Ok((_, ev)) = h.events.try_recv() {
            if ev.id() == id && matches!(ev, Event::Error { .. }) {
                assert!(
                    sockets.send(id, &b"after error"[..]).is_err(),
                    "send accepted after the owner got {ev:?}"
                );
            }
            log.record(&ev);
        }
        // Part of the scenario: an owner sending now and then.
        std::thread::sleep(Duration::from_millis(1));
    }
    let Some(refused_at) = refused_at else {
        panic!(
            "2000 sends to a vanished peer were all accepted; events: {}",
            log.summary()
        )
    };
    if log.errors().is_empty() {
        log.until("an Error for the vanished peer", |e| {
            matches!(e, Event::Error { .. })
        });
    }
    assert!(
        sockets.send(id, &b"after error"[..]).is_err(),
        "send accepted after the Error; events: {}",
        log.summary()
    );
    wait_until_gone(&sockets, id, "the failed socket leaves the table");
    log.drain(Duration::from_millis(100));
    eprintln!(
        "vanished peer (reset: {reset}): sends refused from #{refused_at}; events: {}",
        log.summary()
    );

    assert_eq!(
        log.errors().len(),
        1,
        "expected exactly one Error (sends refused from send #{refused_at}); events: {}",
        log.summary()
    );
    assert!(
        log.closes() <= 1,
        "at most one Close expected; events: {}",
        log.summary()
    );
    assert_eq!(log.data_after_close(), 0, "events: {}", log.summary());
}

#[test]
fn sending_to_a_vanished_peer_gives_one_error_then_refuses() {
    send_to_vanished_peer(false);
}

#[test]
fn sending_to_a_reset_peer_gives_one_error_then_refuses() {
    send_to_vanished_peer(true);
}

/// close, then shutdown/pause/resume/close on the closing socket: none of them turns
/// the flushing close into a force close; the peer, reading late, gets all 8 MiB.
#[test]
fn stale_commands_never_force_close_a_flushing_close() {
    let (h, id, mut peer) = connected(SocketConfig::default());
    let sockets = h.sockets().clone();
    let mut log = Log::new(&h, id);

    let data = Bytes::from(pattern(8 * MIB, 91));
    send_all(&sockets, id, &data);
    sockets.close(id);
    sockets.shutdown(id);
    sockets.pause(id);
    sockets.resume(id);
    sockets.close(id);
    // `stats` goes through the same command channel, so every command above has
    // been handled when it answers.
    let after = info(&sockets, id).expect("a late shutdown force-closed a flushing close");
    assert_eq!(after.state, "closing", "{after:?}");
    assert!(
        after.queued > 0,
        "the test needs bytes still queued: {after:?}"
    );

    let got = read_until_end(&mut peer, 2 * WAIT);
    if let Err(e) = got.check_all_then_eof(&data) {
        panic!(
            "close followed by shutdown/pause/resume/close lost data: {e}; events: {}",
            log.summary()
        );
    }
    wait_until_gone(&sockets, id, "the flushed socket leaves the table");
    log.drain(Duration::from_millis(100));
    log.assert_one_close_no_data_after("close then stale commands");
    assert!(
        log.errors().is_empty(),
        "no Error expected; events: {}",
        log.summary()
    );
}
