//! The direct-write fast path (`SocketConfig::direct_write`, DESIGN §3.5) with real
//! loopback peers: when the socket thread is asleep in poll and nothing is queued or
//! on its way for a connection, `send` writes to the fd from the caller's thread,
//! and only the rest of a partial write goes through the socket thread.
//!
//! Every test here runs with `direct_write: true` and checks that the fast path
//! keeps the contract of the queued one: every byte arrives, in order; packets from
//! concurrent senders are never interleaved, even when a direct write is partial; a
//! send never overtakes bytes still queued; a close after direct sends still
//! delivers everything before EOF; `stats` counts the bytes written directly. One
//! test checks that the fast path is really taken (a direct send does not wake the
//! socket thread), so the others cannot pass by silently using the queued path.
//!
//! Linux only: the socket thread is found, and its sleep and wake-ups observed,
//! through `/proc/self/task`; two tests find the server's fd of a connection in
//! `/proc/self/fd` (by its peer address) to give it a fixed, small send buffer
//! that fills and drains many times over.
//!
//! Every wait is bounded and fails with what it waited for. The only sleeps are
//! part of a scenario: the half-closed peer starts reading 1 s late, and the peer
//! of the ordering test reads at most 16 KiB a millisecond at first.

mod common;

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use lunet::socket::{Event, Owner, SocketConfig, SocketId};

/// The owner handle the test thread plays.
const OWNER: Owner = 7;

/// The configuration of every test in this file.
fn direct() -> SocketConfig {
    SocketConfig {
        direct_write: true,
        ..Default::default()
    }
}

// ----- helpers -----

/// How a peer's read ended: the bytes it got, and EOF (`Ok`) or the error.
struct ReadOutcome {
    data: Vec<u8>,
    end: io::Result<()>,
}

impl ReadOutcome {
    fn describe_end(&self) -> String {
        match &self.end {
            Ok(()) => format!("EOF after {} bytes", self.data.len()),
            Err(e) => format!("error after {} bytes: {e}", self.data.len()),
        }
    }

    /// Checks the read ended by EOF (not a timeout or a reset).
    fn check_eof(&self) -> Result<(), String> {
        match &self.end {
            Ok(()) => Ok(()),
            Err(_) => Err(format!("no EOF: {}", self.describe_end())),
        }
    }

    /// Checks the peer got exactly `want`, then EOF.
    fn check_all_then_eof(&self, want: &[u8]) -> Result<(), String> {
        compare(&self.data, want)?;
        self.check_eof()
    }
}

/// Reads until EOF or an error; a read still going after `within` ends with a
/// `TimedOut` error.
fn read_until_end(s: &mut TcpStream, within: Duration) -> ReadOutcome {
    read_paced(s, within, 0, |_| {})
}

/// `read_until_end`, at most 16 KiB a millisecond until `slow` bytes are in (a
/// peer that reads slowly at first), then as fast as it can; `on_read` is told how
/// much each read got.
fn read_paced(
    s: &mut TcpStream,
    within: Duration,
    slow: usize,
    mut on_read: impl FnMut(usize),
) -> ReadOutcome {
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
        let slowly = data.len() < slow;
        let want = if slowly { 16 * 1024 } else { buf.len() };
        match s.read(&mut buf[..want]) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                on_read(n);
                if slowly {
                    // The scenario's pace, not a wait for anything.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    ReadOutcome { data, end }
}

/// Reads exactly `n` bytes, failing if that takes longer than `within`.
fn read_exactly(s: &mut TcpStream, n: usize, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + within;
    let mut data = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{got} of {n} bytes within {within:?}"));
        }
        s.set_read_timeout(Some(left))
            .map_err(|e| format!("set the read timeout: {e}"))?;
        match s.read(&mut data[got..]) {
            Ok(0) => return Err(format!("EOF after {got} of {n} bytes")),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed after {got} of {n} bytes: {e}")),
        }
    }
    Ok(data)
}

/// Waits for the owner's Close for `id`, skipping Data and Warnings; an Error for
/// `id` fails the test.
fn wait_for_close(h: &Harness, id: SocketId, what: &str) {
    match h.wait_for(what, |e| {
        e.id() == id && matches!(e, Event::Close { .. } | Event::Error { .. })
    }) {
        Event::Close { .. } => {}
        other => panic!("{what}: got {other:?} instead"),
    }
}

// ----- the socket thread, as /proc shows it -----

/// The name the socket layer gives its thread.
const SOCKET_THREAD: &str = "lunet-socket";

/// Servers in this file are started one at a time, so the socket thread a start
/// adds to the process can be told apart from the others'.
static STARTING: Mutex<()> = Mutex::new(());

fn starting() -> MutexGuard<'static, ()> {
    STARTING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ids of this process's socket threads.
fn socket_threads() -> HashSet<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("list /proc/self/task");
    tasks
        .flatten()
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == SOCKET_THREAD).then_some(tid)
        })
        .collect()
}

/// Starts a server with `start` and returns it with the id of its socket thread.
fn start_with_thread<T>(start: impl FnOnce() -> T) -> (T, u32) {
    let _one_at_a_time = starting();
    let before = socket_threads();
    let server = start();
    // A new thread names itself once it runs, so it may take a moment to show.
    let mut new = Vec::new();
    eventually("the new socket thread shows up in /proc", || {
        new = socket_threads().difference(&before).copied().collect();
        !new.is_empty()
    });
    assert_eq!(new.len(), 1, "one start added socket threads {new:?}");
    (server, new[0])
}

fn start_harness() -> (Harness, u32) {
    start_with_thread(|| Harness::with_config(direct()))
}

fn start_echo() -> echo::EchoServer {
    start_with_thread(|| {
        echo::EchoServer::start(direct(), "127.0.0.1", 0).expect("start the echo server")
    })
    .0
}

/// The scheduler state of thread `tid` ('S' while it sleeps in a system call).
fn thread_state(tid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .unwrap_or_else(|e| panic!("read the stat of thread {tid}: {e}"));
    // "tid (comm) S ...": the comm may hold anything, so look after the last ')'.
    let after = &stat[stat.rfind(')').expect("a ')' in /proc stat") + 1..];
    after
        .trim_start()
        .chars()
        .next()
        .expect("a state in /proc stat")
}

/// How many times thread `tid` has gone to sleep (blocked) so far.
fn voluntary_switches(tid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))
        .unwrap_or_else(|e| panic!("read the status of thread {tid}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc status")
}

/// Waits until the socket thread sleeps. Its only blocking call is poll (no
/// sender holds a direct-write lock while this runs), so it is then in poll.
fn wait_until_asleep(tid: u32) {
    eventually("the socket thread is asleep in poll", || {
        thread_state(tid) == 'S'
    });
}

/// A harness with one accepted, started connection and its blocking peer, and the
/// id of the socket thread.
fn connected() -> (Harness, SocketId, TcpStream, u32) {
    let (h, tid) = start_harness();
    let (listener, addr) = h.listen(OWNER);
    let peer = client(addr);
    let id = h.accept(listener, OWNER);
    (h, id, peer, tid)
}

// ----- the kernel side of a connection -----

/// Sets a socket option taking an int (SO_RCVBUF, SO_SNDBUF) on `fd`.
fn set_int_option(fd: RawFd, option: libc::c_int, value: usize) {
    let value = libc::c_int::try_from(value).expect("the value fits a c_int");
    // SAFETY: setsockopt reads one c_int through a pointer to a live local of that
    // type, with its size. On a bad fd it fails, which the assert reports.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt({option}) on fd {fd}: {}",
        io::Error::last_os_error()
    );
}

/// The peer address of IPv4 socket `fd`, if it is one.
fn peer_of(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: a zeroed sockaddr_in is a valid value; getpeername writes at most
    // `len` bytes into it and updates `len`. On an fd that is not a socket (or was
    // just closed) it fails and nothing is read.
    unsafe {
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::getpeername(fd, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len);
        if rc != 0 || addr.sin_family != libc::AF_INET as libc::sa_family_t {
            return None;
        }
        let ip = std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
        Some(SocketAddr::from((ip, u16::from_be(addr.sin_port))))
    }
}

/// The socket server's fd for the connection whose other end is `peer` (found in
/// this process's fd table by its peer address).
fn server_side_fd(peer: &TcpStream) -> RawFd {
    let ours = peer.local_addr().expect("the peer's local address");
    let fds = std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd");
    let found: Vec<RawFd> = fds
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd != peer.as_raw_fd() && peer_of(fd) == Some(ours))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "fds whose peer is {ours}: {found:?} (expected the server's one)"
    );
    found[0]
}

// ----- the fast path is taken -----

/// A send to an idle connection while the socket thread sleeps is written by the
/// caller and does not wake the socket thread. Calibrated against `stats`, which
/// needs the socket thread and wakes it every time.
#[test]
fn direct_send_is_written_by_the_caller_without_waking_the_socket_thread() {
    const ROUNDS: u64 = 200;
    let (h, id, mut peer, tid) = connected();
    let sockets = h.sockets();

    let before = voluntary_switches(tid);
    for _ in 0..ROUNDS {
        wait_until_asleep(tid);
        assert!(info(sockets, id).is_some(), "the connection is gone");
    }
    let by_commands = voluntary_switches(tid) - before;
    assert!(
        by_commands >= ROUNDS / 2,
        "calibration: {ROUNDS} stats calls woke the socket thread only {by_commands} times; \
         the wake-up count is not being observed"
    );

    let before = voluntary_switches(tid);
    for i in 0..ROUNDS {
        wait_until_asleep(tid);
        let packet = format!("direct packet {i:08}");
        sockets
            .send(id, packet.clone().into_bytes())
            .unwrap_or_else(|e| panic!("send {i} refused: {e}"));
        let got = read_exactly(&mut peer, packet.len(), WAIT)
            .unwrap_or_else(|e| panic!("the peer reading packet {i}: {e}"));
        assert_eq!(got, packet.as_bytes(), "packet {i}");
    }
    let by_sends = voluntary_switches(tid) - before;
    eprintln!(
        "socket thread wake-ups: {by_commands} for {ROUNDS} stats calls, \
         {by_sends} for {ROUNDS} direct sends"
    );
    assert!(
        by_sends <= ROUNDS / 10,
        "{ROUNDS} sends to an idle connection woke the socket thread {by_sends} times \
         (stats calls: {by_commands}): the direct path was not taken"
    );
    assert_eq!(
        info(sockets, id).map(|s| s.bytes_written),
        Some(ROUNDS * "direct packet 00000000".len() as u64),
        "bytes written after the direct sends"
    );
}

// ----- echo -----

#[test]
fn echo_returns_every_byte_on_one_connection_written_and_read_concurrently() {
    let server = start_echo();
    let mut reader = client(server.addr);
    let mut writer = reader.try_clone().expect("clone the client socket");
    let data = pattern(MIB + 4321, 23);

    let to_send = data.clone();
    let writing = spawn("the echo writer", move || -> io::Result<()> {
        // Uneven chunk sizes: some echoes are small direct writes, some are large
        // enough to be partial.
        let mut offset = 0;
        let mut step = 1;
        while offset < to_send.len() {
            let end = (offset + step).min(to_send.len());
            writer.write_all(&to_send[offset..end])?;
            offset = end;
            step = step * 13 % 70001 + 1;
        }
        writer.shutdown(Shutdown::Write)
    });

    let got = read_until_end(&mut reader, 3 * WAIT);
    writing
        .wait(WAIT)
        .unwrap_or_else(|e| panic!("the echo writer failed: {e}"));
    if let Err(e) = got.check_all_then_eof(&data) {
        panic!("echo of 1 MiB on one connection with direct writes: {e}");
    }
    drop(reader);
    wait_until_only_listener_left(&server, "the echoed connection is closed on the server");
    server.stop();
}

const ECHO_THREADS: usize = 10;
const ECHO_PER_THREAD: usize = 10;

/// The payload of connection `n`: 4-64 KiB, its length, seed and offset depending
/// on `n`, so no two connections share one.
fn echo_payload(n: usize) -> Vec<u8> {
    let len = 4 * 1024 + (n * 7919) % (60 * 1024 + 1);
    let skip = n % 97;
    let mut p = pattern(len + skip, n as u8);
    p.drain(..skip);
    p
}

#[test]
fn echo_returns_every_byte_on_a_hundred_concurrent_connections() {
    let server = start_echo();
    echo_concurrently(&server, ECHO_THREADS, ECHO_PER_THREAD, echo_payload);
    server.stop();
}

// ----- half-close through the echo owner -----

const HALF_CLOSE_REPETITIONS: usize = 5;
const HALF_CLOSE_BYTES: usize = 8 * MIB;

/// Repetition `rep`'s payload: 8 MiB and a little, different for each.
fn half_close_data(rep: usize) -> Vec<u8> {
    pattern(HALF_CLOSE_BYTES + rep * 333, 100 + rep as u8)
}

/// DESIGN §3.4 "peer sends FIN" with direct writes: the echo owner closes on Close
/// with megabytes still queued (the echo fills the kernel buffers, so direct writes
/// turn partial); the peer, reading only 1 s after its FIN, still gets every byte,
/// then EOF.
#[test]
fn half_closed_peer_gets_every_echoed_byte_then_eof() {
    let server = start_echo();
    let failures = half_close_failures(
        &server,
        HALF_CLOSE_REPETITIONS,
        HALF_CLOSE_REPETITIONS,
        half_close_data,
    );
    assert!(
        failures.is_empty(),
        "{} of {HALF_CLOSE_REPETITIONS} half-close repetitions lost bytes or EOF:\n{}",
        failures.len(),
        failures.join("\n")
    );
    wait_until_only_listener_left(&server, "every echo connection is closed on the server");
    server.stop();
}

// ----- ordering under concurrent senders -----

const SENDERS: usize = 4;
/// Frame header: sender (u8), sequence number (u32 BE), payload length (u16 BE).
const HEADER: usize = 1 + 4 + 2;

/// Packets each sender sends.
const PACKETS: u32 = 2000;
/// Each sender sends this many packets, then waits until all have and the peer
/// starts reading.
const READ_AFTER: u32 = PACKETS / 4;
/// The peer reads at most 16 KiB a millisecond until it has this much, then as
/// fast as it can.
const SLOW_READ: usize = 2 * MIB;
/// From `READ_AFTER` on, senders keep the bytes sent and not yet read within a
/// window: these multiples, in turn (200 packets each), of what the kernel held when
/// the peer started reading.
const WINDOW_FACTORS: [f64; 9] = [0.5, 0.9, 1.0, 1.05, 1.1, 1.2, 1.35, 1.6, 2.0];
/// The server's send buffer and the peer's receive buffer are fixed at this size
/// (the kernel doubles it), so they fill and drain many times over.
const BUFFERS: usize = 64 * 1024;

/// Payload lengths from 1 byte to 60 KB: mostly under 1.5 KB; every 7th up to
/// 16 KB; every 50th 30-60 KB (at a different time for each sender), so the kernel
/// buffer fills and direct writes turn partial; every 97th a single byte.
fn mixed_len(t: usize, seq: u32) -> usize {
    let h = (seq.wrapping_mul(2654435761) ^ (t as u32).wrapping_mul(40503)).rotate_left(11);
    let h = h as usize;
    if seq % 97 == 3 {
        1
    } else if (seq as usize + t * 13) % 50 == 0 {
        30_000 + h % 30_001
    } else if seq % 7 == 0 {
        1_500 + h % 14_501
    } else {
        1 + h % 1_500
    }
}

/// The bytes payloads are cut from: each packet's payload starts at its own
/// offset, so a stray byte from another packet is caught.
fn payload_source() -> &'static [u8] {
    static SOURCE: OnceLock<Vec<u8>> = OnceLock::new();
    SOURCE.get_or_init(|| pattern(128 * 1024, 0x5A))
}

/// The payload of packet `seq` of sender `t` (`len` at most 64 KiB).
fn payload(t: usize, seq: u32, len: usize) -> &'static [u8] {
    let offset = (seq.wrapping_mul(2654435761) ^ (t as u32).wrapping_mul(0x9E37_79B9)) as usize
        % (64 * 1024);
    &payload_source()[offset..offset + len]
}

fn frame(t: usize, seq: u32, len: usize) -> Bytes {
    let mut f = Vec::with_capacity(HEADER + len);
    f.push(t as u8);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(
        &u16::try_from(len)
            .expect("a payload fits a u16")
            .to_be_bytes(),
    );
    f.extend_from_slice(payload(t, seq, len));
    Bytes::from(f)
}

/// Parses the peer's stream into frames and checks each: a known sender, the next
/// sequence number of that sender, the expected length and payload. Returns how
/// many packets of each sender arrived.
fn check_frames(stream: &[u8]) -> Result<[u32; SENDERS], String> {
    let mut next = [0u32; SENDERS];
    let mut at = 0;
    let mut count = 0usize;
    let mut recent: Vec<String> = Vec::new();
    let context = |recent: &Vec<String>| {
        if recent.is_empty() {
            "(first frame)".to_string()
        } else {
            format!("previous frames: {}", recent.join(", "))
        }
    };
    while at < stream.len() {
        let left = stream.len() - at;
        if left < HEADER {
            return Err(format!(
                "frame {count} at byte {at}: only {left} bytes left, a header is {HEADER}; {}",
                context(&recent)
            ));
        }
        let t = stream[at] as usize;
        let seq = u32::from_be_bytes(stream[at + 1..at + 5].try_into().unwrap());
        let len = u16::from_be_bytes(stream[at + 5..at + 7].try_into().unwrap()) as usize;
        let header = format!("(sender {t}, seq {seq}, len {len})");
        if t >= SENDERS {
            return Err(format!(
                "frame {count} at byte {at}: header {header} names no sender \
                 (packets interleaved or bytes lost?); {}",
                context(&recent)
            ));
        }
        if seq != next[t] {
            return Err(format!(
                "frame {count} at byte {at}: header {header}, but sender {t}'s next \
                 packet is seq {}; {}",
                next[t],
                context(&recent)
            ));
        }
        let want_len = mixed_len(t, seq);
        if len != want_len {
            return Err(format!(
                "frame {count} at byte {at}: header {header}, but that packet is \
                 {want_len} bytes long; {}",
                context(&recent)
            ));
        }
        let got = &stream[at + HEADER..(at + HEADER + len).min(stream.len())];
        let want = payload(t, seq, len);
        if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
            return Err(format!(
                "frame {count} at byte {at} {header}: payload byte {i} differs \
                 (packets interleaved?); {}",
                context(&recent)
            ));
        }
        if got.len() < len {
            return Err(format!(
                "frame {count} at byte {at} {header}: the stream ends {} bytes into \
                 its payload",
                got.len()
            ));
        }
        next[t] += 1;
        at += HEADER + len;
        count += 1;
        if recent.len() == 3 {
            recent.remove(0);
        }
        recent.push(header);
    }
    Ok(next)
}

/// What the senders have sent and the peer has read, so senders can keep a window.
#[derive(Default)]
struct Flow {
    /// Bytes handed to `send`.
    sent: AtomicUsize,
    /// Packets sent since the peer started reading.
    windowed: AtomicUsize,
    /// Bytes the peer has read, and whether it has stopped reading.
    read: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Flow {
    fn lock(&self) -> MutexGuard<'_, (usize, bool)> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on_read(&self, n: usize) {
        self.lock().0 += n;
        self.changed.notify_all();
    }

    fn stopped_reading(&self) {
        self.lock().1 = true;
        self.changed.notify_all();
    }

    /// Waits until at most `window` bytes are sent and unread.
    fn wait_for_room(&self, window: usize) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        let mut read = self.lock();
        loop {
            let unread = self.sent.load(Ordering::SeqCst).saturating_sub(read.0);
            if unread <= window {
                return Ok(());
            }
            if read.1 {
                return Err(format!(
                    "the peer stopped reading after {} bytes, {unread} sent bytes unread",
                    read.0
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{unread} sent bytes still unread after {WAIT:?} (the peer has read {}; \
                     waiting for at most {window})",
                    read.0
                ));
            }
            read = self
                .changed
                .wait_timeout(read, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Four threads send framed packets on one connection at once, 2000 each, of 1 B
/// to 60 KB, so sends go through the direct path and the socket thread in turn.
/// The peer starts reading only when every sender is a quarter through (the kernel
/// buffer fills, a direct write turns partial, the rest queues), reads slowly for
/// the first 2 MiB, then at full speed, while the senders keep the unread bytes
/// within a window moving around what the kernel holds: the socket thread's queue
/// runs dry again and again with the kernel buffer nearly full, where direct writes
/// of the large packets turn partial. Then the owner closes. The peer gets every
/// packet whole (never interleaved with another), each sender's in order, all of
/// them, then EOF; the owner gets its Close.
#[test]
fn concurrent_senders_never_interleave_packets_and_keep_each_senders_order() {
    let (h, id, peer, _) = connected();
    let sockets = h.sockets().clone();
    let expected_bytes: usize = (0..SENDERS)
        .flat_map(|t| (0..PACKETS).map(move |seq| HEADER + mixed_len(t, seq)))
        .sum();
    set_int_option(peer.as_raw_fd(), libc::SO_RCVBUF, BUFFERS);
    set_int_option(server_side_fd(&peer), libc::SO_SNDBUF, BUFFERS);
    let flow = Arc::new(Flow::default());

    let (paused_tx, paused_rx) = crossbeam_channel::unbounded::<usize>();
    let (resume_tx, resume_rx) = crossbeam_channel::unbounded::<usize>();
    let (read_tx, read_rx) = crossbeam_channel::bounded::<()>(1);
    let mut peer_in = peer;
    let reader_flow = flow.clone();
    let reader = spawn("the peer's reader", move || {
        if let Err(e) = read_rx.recv_timeout(3 * WAIT) {
            reader_flow.stopped_reading();
            panic!("waiting for the signal to start reading: {e}");
        }
        let got = read_paced(&mut peer_in, 4 * WAIT, SLOW_READ, |n| {
            reader_flow.on_read(n)
        });
        reader_flow.stopped_reading();
        got
    });

    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let sockets = sockets.clone();
            let paused = paused_tx.clone();
            let resume = resume_rx.clone();
            let flow = flow.clone();
            spawn(&format!("sender {t}"), move || -> Result<(), String> {
                let mut base = 0;
                for seq in 0..PACKETS {
                    if seq == READ_AFTER {
                        let _ = paused.send(t);
                        base = resume
                            .recv_timeout(2 * WAIT)
                            .map_err(|e| format!("sender {t}: not resumed: {e}"))?;
                    }
                    let f = frame(t, seq, mixed_len(t, seq));
                    if seq >= READ_AFTER {
                        let phase = flow.windowed.fetch_add(1, Ordering::SeqCst) / 200;
                        let factor = WINDOW_FACTORS[phase % WINDOW_FACTORS.len()];
                        let window = (base as f64 * factor) as usize;
                        flow.wait_for_room(window)
                            .map_err(|e| format!("sender {t} before seq {seq}: {e}"))?;
                    }
                    let n = f.len();
                    sockets
                        .send(id, f)
                        .map_err(|e| format!("sender {t}: send of seq {seq} refused: {e}"))?;
                    flow.sent.fetch_add(n, Ordering::SeqCst);
                }
                Ok(())
            })
        })
        .collect();
    drop(paused_tx);

    // Once every sender has paused, the bytes the kernel holds (none read yet) are
    // what it takes before direct writes turn partial.
    for _ in 0..SENDERS {
        if let Err(e) = paused_rx.recv_timeout(2 * WAIT) {
            panic!("waiting for every sender to send its first packets: {e}");
        }
    }
    let queued = info(&sockets, id).expect("the connection is open").queued;
    let in_kernel = flow.sent.load(Ordering::SeqCst) - queued;
    read_tx.send(()).unwrap();
    for _ in 0..SENDERS {
        resume_tx.send(in_kernel).unwrap();
    }

    let mut failures = Vec::new();
    for s in senders {
        if let Err(e) = s.wait(3 * WAIT) {
            failures.push(e);
        }
    }
    if !failures.is_empty() {
        sockets.shutdown(id);
        panic!("{}", failures.join("\n"));
    }

    sockets.close(id);
    wait_for_close(&h, id, "the owner's Close after its close");
    let got = reader.wait(5 * WAIT);
    let context = format!(
        "{} of {expected_bytes} bytes received, {}; the kernel held {in_kernel} bytes \
         ({queued} queued) when the peer started reading",
        got.data.len(),
        got.describe_end()
    );
    let arrived = check_frames(&got.data).unwrap_or_else(|e| panic!("{context}: {e}"));
    assert_eq!(
        arrived, [PACKETS; SENDERS],
        "packets per sender that arrived ({context})"
    );
    assert_eq!(got.data.len(), expected_bytes, "{context}");
    if let Err(e) = got.check_eof() {
        panic!("after all {} packets: {e}", SENDERS as u32 * PACKETS);
    }
    eventually("the closed socket leaves the table", || {
        info(&sockets, id).is_none()
    });
}

// ----- a direct send never overtakes queued bytes -----

/// With a large send partly queued (the peer reads slowly, the buffers are
/// small), the peer reads a little at a time, which frees kernel buffer space
/// without being enough to wake the socket thread. A send made then, with the socket
/// thread asleep, must not be written directly into that space ahead of the queued
/// bytes: the peer gets the large send whole, then every later send in order.
#[test]
fn a_send_while_bytes_are_queued_goes_after_them() {
    const ROUNDS: usize = 20;
    const STEP: usize = 16 * 1024;
    let (h, id, mut peer, tid) = connected();
    // A send buffer large next to what the peer reads in a round, so the space
    // those reads free stays under the third of it that wakes the socket thread.
    set_int_option(peer.as_raw_fd(), libc::SO_RCVBUF, 64 * 1024);
    set_int_option(server_side_fd(&peer), libc::SO_SNDBUF, MIB);
    let sockets = h.sockets();

    let first = pattern(4 * MIB, 61);
    sockets
        .send(id, first.clone())
        .unwrap_or_else(|e| panic!("the large send refused: {e}"));
    eventually("part of the large send is queued", || {
        info(sockets, id).is_some_and(|s| s.queued > 0)
    });
    let mut want = first.clone();
    let mut got = Vec::new();
    let mut later_at = Vec::new();
    for round in 0..ROUNDS {
        let step = read_exactly(&mut peer, STEP, WAIT)
            .unwrap_or_else(|e| panic!("round {round}: the peer reading {STEP} bytes: {e}"));
        got.extend_from_slice(&step);
        wait_until_asleep(tid);
        let later = vec![0xC0 | round as u8; 100 + round];
        later_at.push(want.len());
        sockets
            .send(id, later.clone())
            .unwrap_or_else(|e| panic!("round {round}: send refused: {e}"));
        want.extend_from_slice(&later);
    }
    let rest = read_exactly(&mut peer, want.len() - got.len(), 2 * WAIT)
        .unwrap_or_else(|e| panic!("the peer reading the rest: {e}"));
    got.extend_from_slice(&rest);
    if let Err(e) = compare(&got, &want) {
        let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
        let whose = match later_at.iter().rposition(|&start| start <= at) {
            Some(round) => format!("the send of round {round}"),
            None => format!("the large send, {} bytes before its end", first.len() - at),
        };
        panic!(
            "a send made while earlier bytes were queued: {e}; the first wrong byte \
             belongs to {whose}, and got {:#04x} there (the later sends are 0xC0 | round)",
            got[at]
        );
    }
    let s = info(sockets, id).expect("the connection is open");
    assert_eq!(s.queued, 0, "{s:?}");
    assert_eq!(s.bytes_written, want.len() as u64, "{s:?}");
}

// ----- many small direct sends, then close -----

const SMALL_PACKETS: u32 = 10_000;

/// Packet `seq`: its number (u32 BE), then 0-3 bytes derived from it.
fn small_packet(seq: u32) -> Vec<u8> {
    let mut p = seq.to_be_bytes().to_vec();
    p.extend((0..seq % 4).map(|i| (seq.wrapping_mul(31) + i) as u8));
    p
}

/// Names the packet holding byte `at` of the stream of small packets.
fn small_packet_at(at: usize) -> String {
    let mut start = 0;
    for seq in 0..SMALL_PACKETS {
        let len = small_packet(seq).len();
        if at < start + len {
            return format!("packet {seq} (bytes {start}..{})", start + len);
        }
        start += len;
    }
    format!("past the last packet (which ends at byte {start})")
}

/// The owner sends 10,000 small packets from its own thread, nearly all written
/// directly, and closes at once: the peer gets them all in order, then EOF, and the
/// owner gets one Close. With `read_during_sends` the peer reads all along;
/// without, it starts only after the close, so the close finds the bytes still in
/// the kernel's buffers.
fn small_sends_then_close(read_during_sends: bool) {
    let (h, id, peer, _) = connected();
    let sockets = h.sockets();
    let want: Vec<u8> = (0..SMALL_PACKETS).flat_map(small_packet).collect();

    let (start_tx, start_rx) = crossbeam_channel::bounded::<()>(1);
    let mut peer_in = peer;
    let reader = spawn("the peer's reader", move || {
        if let Err(e) = start_rx.recv_timeout(2 * WAIT) {
            panic!("waiting for the signal to start reading: {e}");
        }
        read_until_end(&mut peer_in, 2 * WAIT)
    });
    if read_during_sends {
        start_tx.send(()).unwrap();
    }
    for seq in 0..SMALL_PACKETS {
        sockets
            .send(id, small_packet(seq))
            .unwrap_or_else(|e| panic!("send of packet {seq} refused: {e}"));
    }
    sockets.close(id);
    assert!(
        sockets.send(id, &b"late"[..]).is_err(),
        "a send after close must be refused"
    );
    wait_for_close(&h, id, "the owner's Close after its close");
    if !read_during_sends {
        start_tx.send(()).unwrap();
    }

    let got = reader.wait(3 * WAIT);
    if let Err(e) = got.check_all_then_eof(&want) {
        let at = got
            .data
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.data.len().min(want.len()));
        panic!(
            "{SMALL_PACKETS} small packets then close (peer reading {}): {e}; first \
             difference in {}",
            if read_during_sends {
                "all along"
            } else {
                "only after the close"
            },
            small_packet_at(at)
        );
    }
    eventually("the closed socket leaves the table", || {
        info(sockets, id).is_none()
    });
    h.expect_silence(
        Duration::from_millis(100),
        "after the owner's Close and the socket left the table",
    );
}

#[test]
fn small_direct_sends_then_close_reach_a_reading_peer_in_order_before_eof() {
    small_sends_then_close(true);
}

#[test]
fn small_direct_sends_then_close_reach_a_peer_that_reads_after_the_close() {
    small_sends_then_close(false);
}

// ----- stats -----

/// `stats` counts the bytes written directly: first small sends, each made while
/// the socket thread sleeps (so written directly), then large ones while the peer
/// reads (partly direct, partly through the socket thread). Once the peer has read
/// them, `bytes_written` is exactly what was sent.
#[test]
fn stats_count_bytes_written_directly() {
    let (h, id, peer, tid) = connected();
    let sockets = h.sockets();
    let mut peer = peer;

    // Small sends, each written directly.
    let mut small = Vec::new();
    for i in 0..300usize {
        let p = pattern(1 + i * 37 % 200, i as u8);
        wait_until_asleep(tid);
        sockets
            .send(id, p.clone())
            .unwrap_or_else(|e| panic!("small send {i} refused: {e}"));
        small.extend_from_slice(&p);
    }
    let got = read_exactly(&mut peer, small.len(), WAIT)
        .unwrap_or_else(|e| panic!("the peer reading the small sends: {e}"));
    if let Err(e) = compare(&got, &small) {
        panic!("the small sends: {e}");
    }
    let after_small = info(sockets, id).expect("the connection is open");
    assert_eq!(
        after_small.bytes_written,
        small.len() as u64,
        "bytes_written after {} bytes of direct sends: {after_small:?}",
        small.len()
    );
    assert_eq!(after_small.queued, 0, "{after_small:?}");
    assert!(
        after_small.last_write.is_some(),
        "direct writes must set last_write: {after_small:?}"
    );

    // Large sends while the peer reads: some direct writes are partial.
    let large: Vec<Bytes> = (0..40usize)
        .map(|i| Bytes::from(pattern(10_000 + i * 7_919 % 190_000, 50 + i as u8)))
        .collect();
    let large_len: usize = large.iter().map(Bytes::len).sum();
    let reader = spawn("the peer's reader", move || {
        read_exactly(&mut peer, large_len, 2 * WAIT)
    });
    for (i, p) in large.iter().enumerate() {
        sockets
            .send(id, p.clone())
            .unwrap_or_else(|e| panic!("large send {i} refused: {e}"));
    }
    let got = reader
        .wait(3 * WAIT)
        .unwrap_or_else(|e| panic!("the peer reading the large sends: {e}"));
    if let Err(e) = compare(&got, &large.concat()) {
        panic!("the large sends: {e}");
    }
    let total = (small.len() + large_len) as u64;
    let after_large = info(sockets, id).expect("the connection is open");
    assert_eq!(
        after_large.bytes_written, total,
        "bytes_written after {total} bytes sent and read: {after_large:?}"
    );
    assert_eq!(after_large.queued, 0, "{after_large:?}");
    assert_eq!(after_large.bytes_read, 0, "{after_large:?}");
}
