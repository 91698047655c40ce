//! Flow control on real loopback sockets: `pause`/`resume` push back on a peer that
//! writes too much, and the send queue's high-water mark (Warning past the
//! threshold, at each doubling, and Warning(0) once the peer has drained it).

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use lunet::socket::{Event, SocketConfig, SocketId, DEFAULT_WARN_THRESHOLD};

const OWNER: u32 = 7;

/// More than the kernel can buffer on one loopback connection (send buffer of one
/// side plus receive buffer of the other, a few MiB here).
const CAP: usize = 32 << 20;

/// Writes `data[*sent..]` on a non-blocking socket until the kernel refuses more.
/// Returns how many bytes this call wrote.
fn write_until_blocked(peer: &mut TcpStream, data: &[u8], sent: &mut usize) -> usize {
    let start = *sent;
    while *sent < data.len() {
        match peer.write(&data[*sent..]) {
            Ok(0) => panic!("peer write returned 0 after {} bytes", *sent),
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("peer write failed after {} bytes: {e}", *sent),
        }
    }
    *sent - start
}

#[test]
fn paused_socket_delivers_nothing_and_blocks_the_peer_until_resumed() {
    let h = Harness::start();
    let sockets = h.sockets();
    let (listener, addr) = h.listen(OWNER);
    let mut peer = client(addr);
    let id = h.accept(listener, OWNER);
    sockets.pause(id);
    // `stats` waits for the socket thread, which handles our commands in order:
    // once it answers, the pause is in force and the peer may start writing.
    let _ = sockets.stats();

    let data = pattern(CAP, 11);
    peer.set_nonblocking(true).unwrap();
    let mut sent = 0;
    let mut last_growth = Instant::now();
    // The peer's writes must stop being accepted. The kernel may open a little
    // more room a few ms after the first WouldBlock (delayed ACK, receive-queue
    // collapsing), so "blocked" means: nothing accepted for 250 ms.
    eventually("the peer's writes block on the paused socket", || {
        if write_until_blocked(&mut peer, &data, &mut sent) > 0 {
            last_growth = Instant::now();
        }
        assert!(
            sent < data.len(),
            "the peer wrote {sent} bytes into a paused socket without ever blocking"
        );
        last_growth.elapsed() >= Duration::from_millis(250)
    });
    println!("the peer blocked after {sent} bytes");

    // Quiet period: a paused socket reports nothing (the events channel would also
    // hold any Data that came while the peer was writing).
    h.expect_silence(Duration::from_millis(300), "while paused");
    let more = write_until_blocked(&mut peer, &data, &mut sent);
    assert_eq!(
        more, 0,
        "the peer could write {more} more bytes 300 ms after blocking: it was not blocked"
    );

    // Resume: a writer thread finishes the peer's part (1 MiB more), then FIN.
    let total = sent + (1 << 20);
    assert!(total <= data.len());
    let tail = data[sent..total].to_vec();
    peer.set_nonblocking(false).unwrap();
    let writer = std::thread::spawn(move || {
        peer.write_all(&tail)
            .unwrap_or_else(|e| panic!("the peer could not finish writing after resume: {e}"));
        peer.shutdown(Shutdown::Write).unwrap();
        peer
    });
    sockets.resume(id);

    let mut got = Vec::with_capacity(total);
    loop {
        match h.next("Data after resume") {
            (o, Event::Data { id: d, data }) if o == OWNER && d == id => {
                got.extend_from_slice(&data)
            }
            (_, Event::Close { id: c }) if c == id => break,
            other => panic!("after resume: unexpected event {other:?}"),
        }
    }
    let mut peer = writer.join().expect("the peer's writer thread panicked");
    assert_eq!(got.len(), total, "bytes delivered after resume");
    assert!(
        got == data[..total],
        "delivered bytes differ from what the peer wrote (first difference at {})",
        got.iter()
            .zip(&data)
            .position(|(a, b)| a != b)
            .unwrap_or(total)
    );

    sockets.close(id);
    assert!(read_to_eof(&mut peer, "the peer after close").is_empty());
}

/// Sends `data` to `id` in `chunk`-sized pieces (the peer is not reading) until
/// `enough(warnings)` holds. Every 16 chunks it waits for the socket thread (a
/// `stats` round trip) and collects the Warning events so far. Returns the bytes
/// sent and the warnings seen.
fn send_until(
    h: &Harness,
    id: SocketId,
    data: &Bytes,
    chunk: usize,
    enough: impl Fn(&[usize]) -> bool,
) -> (usize, Vec<usize>) {
    let mut sent = 0;
    let mut warnings = Vec::new();
    while !enough(&warnings) {
        assert!(
            sent + 16 * chunk <= data.len(),
            "sent {sent} bytes to a peer that does not read; warnings so far: {warnings:?}"
        );
        for _ in 0..16 {
            h.sockets()
                .send(id, data.slice(sent..sent + chunk))
                .expect("send to a live socket");
            sent += chunk;
        }
        let _ = h.sockets().stats();
        while let Ok(ev) = h.events.try_recv() {
            match ev {
                (OWNER, Event::Warning { id: w, kib }) if w == id => {
                    assert_ne!(kib, 0, "Warning(0) while the peer reads nothing");
                    warnings.push(kib);
                }
                other => panic!("while filling the queue: unexpected event {other:?}"),
            }
        }
    }
    (sent, warnings)
}

/// The peer reads everything and checks it; meanwhile the owner must get exactly
/// one Warning(0), and nothing else.
fn drain_and_expect_one_drained_warning(
    h: &Harness,
    id: SocketId,
    mut peer: TcpStream,
    expected: Bytes,
) -> TcpStream {
    let reader = std::thread::spawn(move || {
        let mut got = vec![0; expected.len()];
        peer.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("the peer could not read all {} bytes: {e}", got.len()));
        assert!(
            got == expected,
            "the peer got different bytes than were sent"
        );
        peer
    });
    match h.next("Warning(0) once the peer drains the queue") {
        (OWNER, Event::Warning { id: w, kib: 0 }) if w == id => {}
        other => panic!("expected Warning(0), got {other:?}"),
    }
    let peer = reader.join().expect("the peer's reader thread panicked");
    h.expect_silence(
        Duration::from_millis(200),
        "after Warning(0) (it must come once)",
    );
    let info = h.sockets().stats();
    let info = info.iter().find(|s| s.id == id).expect("socket in stats");
    assert_eq!(info.queued, 0, "queue after the drain");
    peer
}

#[test]
fn send_queue_warns_past_one_mib_at_each_doubling_and_once_when_drained() {
    let h = Harness::start();
    let (listener, addr) = h.listen(OWNER);
    let peer = client(addr);
    let id = h.accept(listener, OWNER);

    let threshold_kib = DEFAULT_WARN_THRESHOLD / 1024;
    let data = Bytes::from(pattern(CAP, 5));
    let start = Instant::now();
    // Fill until the queue has doubled twice past the threshold (the kernel takes
    // a few MiB first, so how much that is depends on the machine).
    let (sent, warnings) = send_until(&h, id, &data, 64 << 10, |w| {
        w.last().is_some_and(|&k| k > 4 * threshold_kib)
    });
    println!(
        "{sent} bytes sent, warnings {warnings:?} KiB in {:?}",
        start.elapsed()
    );

    assert!(
        warnings[0] > threshold_kib,
        "first warning {} KiB is not past the 1 MiB threshold",
        warnings[0]
    );
    for (k, &kib) in warnings.iter().enumerate() {
        assert!(
            kib > threshold_kib << k,
            "warning #{k} ({kib} KiB) came before the queue passed {} KiB: {warnings:?}",
            threshold_kib << k
        );
    }
    assert!(
        warnings.windows(2).all(|w| w[0] < w[1]),
        "warnings do not grow: {warnings:?}"
    );
    assert!(
        warnings.len() >= 3,
        "expected a warning at 1 MiB, 2 MiB and 4 MiB: {warnings:?}"
    );

    let mut peer = drain_and_expect_one_drained_warning(&h, id, peer, data.slice(..sent));
    h.sockets().close(id);
    assert!(read_to_eof(&mut peer, "the peer after close").is_empty());
}

#[test]
fn custom_warn_threshold_warns_at_its_own_size() {
    let config = SocketConfig {
        warn_threshold: 64 << 10,
        ..SocketConfig::default()
    };
    let h = Harness::with_config(config);
    let (listener, addr) = h.listen(OWNER);
    let peer = client(addr);
    let id = h.accept(listener, OWNER);

    let chunk = 16 << 10;
    let data = Bytes::from(pattern(CAP, 9));
    let (sent, warnings) = send_until(&h, id, &data, chunk, |w| !w.is_empty());
    println!("{sent} bytes sent, warnings {warnings:?} KiB");
    // The first warning comes with the push that takes the queue past 64 KiB.
    assert!(
        warnings[0] > 64 && warnings[0] <= 64 + chunk / 1024,
        "first warning at {} KiB, expected just past the 64 KiB threshold",
        warnings[0]
    );
    assert!(
        warnings.windows(2).all(|w| w[0] < w[1]),
        "warnings do not grow: {warnings:?}"
    );

    let mut peer = drain_and_expect_one_drained_warning(&h, id, peer, data.slice(..sent));
    h.sockets().close(id);
    assert!(read_to_eof(&mut peer, "the peer after close").is_empty());
}

#[test]
fn fin_that_arrives_while_paused_is_reported_after_the_data_on_resume() {
    let h = Harness::start();
    let (listener, addr) = h.listen(OWNER);
    let mut peer = client(addr);
    let id = h.accept(listener, OWNER);
    h.sockets().pause(id);
    let _ = h.sockets().stats(); // the pause is in force

    let data = pattern(300_000, 21);
    peer.write_all(&data).unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    h.expect_silence(
        Duration::from_millis(200),
        "paused, with data and FIN pending",
    );

    h.sockets().resume(id);
    let mut got = Vec::new();
    loop {
        match h.next("Data, then Close, after resume") {
            (OWNER, Event::Data { id: d, data }) if d == id => got.extend_from_slice(&data),
            (OWNER, Event::Close { id: c }) if c == id => break,
            other => panic!("after resume: unexpected event {other:?}"),
        }
    }
    assert!(
        got == data,
        "got {} of {} bytes, or different bytes",
        got.len(),
        data.len()
    );
    // Half-closed read: the owner can still answer before closing.
    h.sockets()
        .send(id, &b"bye"[..])
        .expect("send after the peer's FIN");
    h.sockets().close(id);
    assert_eq!(read_to_eof(&mut peer, "the peer after close"), b"bye");
}

#[test]
fn zero_warn_threshold_turns_warnings_off() {
    let h = Harness::with_config(SocketConfig {
        warn_threshold: 0,
        ..SocketConfig::default()
    });
    let (listener, addr) = h.listen(OWNER);
    let mut peer = client(addr);
    let id = h.accept(listener, OWNER);

    let chunk = 64 << 10;
    let data = Bytes::from(pattern(CAP, 17));
    let mut sent = 0;
    // Queue well past the default threshold (after the kernel's buffers are full).
    loop {
        for _ in 0..16 {
            h.sockets()
                .send(id, data.slice(sent..sent + chunk))
                .unwrap();
            sent += chunk;
        }
        let stats = h.sockets().stats();
        let queued = stats.iter().find(|s| s.id == id).expect("in stats").queued;
        if queued > 2 * DEFAULT_WARN_THRESHOLD {
            break;
        }
        assert!(
            sent + 16 * chunk <= data.len(),
            "the queue never passed 2 MiB"
        );
    }
    h.expect_silence(Duration::from_millis(100), "queue past 2 MiB, warnings off");

    let mut got = vec![0; sent];
    peer.read_exact(&mut got)
        .expect("the peer reads everything queued");
    assert!(
        got == data[..sent],
        "the peer got different bytes than were sent"
    );
    h.expect_silence(Duration::from_millis(200), "drained, warnings off");
    h.sockets().close(id);
    assert!(read_to_eof(&mut peer, "the peer after close").is_empty());
}
