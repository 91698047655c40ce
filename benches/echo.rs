//! Echo throughput: lunet's `socket_echo` owner against a raw single-threaded mio
//! echo server, both driven by the same load generator in one process.
//!
//! ```text
//! cargo bench --bench echo                        # full: 2 s per server and cell, in 4 rounds
//! LUNET_BENCH_QUICK=1 cargo bench --bench echo    # smoke: 0.3 s per server and cell, 1 round
//! LUNET_BENCH_SECS=6 LUNET_BENCH_ROUNDS=6 cargo bench --bench echo
//! ```
//! `LUNET_BENCH_DIRECT=1` runs lunet with `SocketConfig::direct_write` on.
//! `LUNET_BENCH_SECS` is the measured time per server and cell, split over
//! `LUNET_BENCH_ROUNDS` runs; each run also warms up for half its measured time
//! (at most 0.5 s).
//!
//! # What runs
//! - **lunet**: `owner::EchoServer` (the example's echo owner): the socket thread
//!   reads, hands each read to the owner thread as a `Data` event over a channel,
//!   and the owner sends it back through the `SocketHandle` (channel + `mio::Waker`).
//! - **raw**: [`raw::RawServer`], one thread with a mio `Poll`, edge-triggered:
//!   each connection is registered once for read and write; a readable connection
//!   is read until `WouldBlock` into one 64 KiB buffer and each read is written
//!   back at once; what the socket does not take is kept in a per-connection
//!   buffer and written on the next writable edge (reading pauses past 1 MiB of
//!   it). Neither server sets `TCP_NODELAY` on accepted sockets, so both run with
//!   the same socket options.
//!
//! # The load generator
//! [`load::run`] is one thread (separate from the servers) with its own mio
//! `Poll`, driving N connections (`TCP_NODELAY` on). Each connection keeps at
//! most `window` messages of `size` bytes in flight: message k+window is written
//! once message k has been fully echoed. Messages that may go out together are
//! written with one `write`; TCP is a stream, so a "message" is a unit of
//! accounting, not of framing. Reads go into a 64 KiB buffer; a short read counts
//! as "drained" (Linux epoll reports every later arrival as a new edge). Every
//! connection sends a different slice of a
//! pseudo-random pattern with a prime period, and every echoed byte is compared
//! with what was sent at that offset, so lost, duplicated, reordered or crossed
//! bytes fail the run. After measuring, the generator stops starting messages and
//! waits until every connection has had all its bytes back; a run that fails any
//! of this reports FAIL and the bench exits with status 1.
//!
//! A run connects, warms up, measures for a fixed time, drains, and closes; each
//! run gets a fresh server. Within a cell the servers alternate, and the order
//! flips every round (raw, lunet, lunet, raw, ...), so drift in a noisy machine
//! lands on both. Latency is the time from the loop turn that wrote a message's
//! first byte to the loop turn that read its last byte. Server CPU is the
//! process's CPU time less the generator thread's, per echoed message.

#[path = "../examples/socket_echo/owner.rs"]
mod owner;

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use lunet::socket::SocketConfig;

/// One cell of the table: how many connections, message size, messages in flight.
#[derive(Clone, Copy)]
struct Cell {
    conns: usize,
    size: usize,
    window: usize,
}

/// Small messages keep 4 in flight per connection; 16 KiB ones keep 2 (32 KiB per
/// connection, 3.2 MiB over 100 connections).
const CELLS: [Cell; 4] = [
    Cell {
        conns: 1,
        size: 64,
        window: 4,
    },
    Cell {
        conns: 100,
        size: 64,
        window: 4,
    },
    Cell {
        conns: 1000,
        size: 64,
        window: 4,
    },
    Cell {
        conns: 100,
        size: 16 * 1024,
        window: 2,
    },
];

/// How long each run lasts and how many alternating rounds a cell gets.
struct Settings {
    /// Warm-up of each run.
    warmup: Duration,
    /// Measured time of each run.
    measure: Duration,
    /// Runs per server and cell.
    rounds: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("LUNET_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let (mut secs, mut rounds) = if quick { (0.3, 1) } else { (2.0, 4) };
        if let Some(s) = env_parse::<f64>("LUNET_BENCH_SECS").filter(|s| *s > 0.0) {
            secs = s;
        }
        if let Some(r) = env_parse::<usize>("LUNET_BENCH_ROUNDS").filter(|r| *r > 0) {
            rounds = r;
        }
        let measure = Duration::from_secs_f64(secs / rounds as f64);
        Settings {
            warmup: (measure / 2).min(Duration::from_millis(500)),
            measure,
            rounds,
        }
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            eprintln!("echo bench: ignoring {name}={value:?} (not a number)");
            None
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Raw,
    Lunet,
}

/// A running echo server of either kind.
enum Server {
    Raw(raw::RawServer),
    Lunet(owner::EchoServer),
}

impl Server {
    fn start(kind: Kind) -> io::Result<Server> {
        Ok(match kind {
            Kind::Raw => Server::Raw(raw::RawServer::start()?),
            Kind::Lunet => {
                let config = SocketConfig {
                    direct_write: std::env::var("LUNET_BENCH_DIRECT").is_ok_and(|v| v == "1"),
                    ..SocketConfig::default()
                };
                Server::Lunet(owner::EchoServer::start(config, "127.0.0.1", 0)?)
            }
        })
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Raw(s) => s.addr,
            Server::Lunet(s) => s.addr,
        }
    }

    fn stop(self) {
        match self {
            Server::Raw(s) => s.stop(),
            Server::Lunet(s) => s.stop(),
        }
    }
}

/// One run: start a server, drive it, stop it.
fn run_once(kind: Kind, cell: Cell, settings: &Settings) -> Result<load::Sample, String> {
    let server = Server::start(kind).map_err(|e| format!("start the server: {e}"))?;
    let result = load::run(server.addr(), cell, settings.warmup, settings.measure);
    server.stop();
    result
}

/// What one server did over all rounds of a cell.
#[derive(Default)]
struct Totals {
    sample: load::Sample,
    per_round: Vec<f64>,
    failure: Option<String>,
}

impl Totals {
    fn add(&mut self, result: Result<load::Sample, String>) {
        match result {
            Ok(s) => {
                self.per_round.push(s.msgs_per_sec());
                self.sample.merge(&s);
            }
            Err(e) => {
                self.failure.get_or_insert(e);
            }
        }
    }
}

fn main() -> ExitCode {
    let settings = Settings::from_env();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "echo bench: lunet socket_echo owner vs raw single-threaded mio echo, loopback, {cores} cores"
    );
    println!(
        "per cell and server: {} run(s) of {:.2} s warm-up + {:.2} s measured, servers alternating",
        settings.rounds,
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64(),
    );
    println!(
        "MiB/s counts echoed bytes (one direction); wN = N messages in flight per connection;"
    );
    println!("lunet/raw is over all rounds; \"by round\" is each round's ratio");
    println!();

    let mut report = Report::default();
    report.header();
    for cell in CELLS {
        let mut raw = Totals::default();
        let mut lunet = Totals::default();
        for round in 0..settings.rounds {
            let order = if round % 2 == 0 {
                [Kind::Raw, Kind::Lunet]
            } else {
                [Kind::Lunet, Kind::Raw]
            };
            for kind in order {
                let result = run_once(kind, cell, &settings);
                match kind {
                    Kind::Raw => raw.add(result),
                    Kind::Lunet => lunet.add(result),
                }
            }
        }
        report.row(cell, &raw, &lunet);
    }
    report.footer();
    if report.failed {
        println!("\necho bench: FAILED (see above)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The printed tables. Rows print as cells finish; the CPU and latency table
/// follows the throughput table.
#[derive(Default)]
struct Report {
    detail: Vec<String>,
    failed: bool,
}

impl Report {
    fn header(&self) {
        println!(
            "{:<22} {:>11} {:>9} {:>11} {:>9} {:>9}  by round",
            "cell", "raw msg/s", "raw MiB/s", "lunet msg/s", "lunet MiB", "lunet/raw"
        );
        println!("{}", "-".repeat(96));
    }

    fn row(&mut self, cell: Cell, raw: &Totals, lunet: &Totals) {
        let name = format!(
            "{:>4} conn {:>5} w{}",
            cell.conns,
            if cell.size >= 1024 {
                format!("{}K", cell.size / 1024)
            } else {
                format!("{}B", cell.size)
            },
            cell.window
        );
        let mut failed = false;
        for (which, t) in [("raw", raw), ("lunet", lunet)] {
            if let Some(e) = &t.failure {
                println!("{name:<22} FAIL ({which}): {e}");
                failed = true;
            }
        }
        if failed {
            self.failed = true;
            return;
        }
        let ratio = lunet.sample.msgs_per_sec() / raw.sample.msgs_per_sec();
        let by_round: Vec<String> = raw
            .per_round
            .iter()
            .zip(&lunet.per_round)
            .map(|(r, l)| format!("{:.2}", l / r))
            .collect();
        println!(
            "{name:<22} {:>11} {:>9.1} {:>11} {:>9.1} {:>9.2}  {}",
            thousands(raw.sample.msgs_per_sec()),
            raw.sample.mib_per_sec(),
            thousands(lunet.sample.msgs_per_sec()),
            lunet.sample.mib_per_sec(),
            ratio,
            by_round.join(" ")
        );
        self.detail.push(format!(
            "{name:<22} {:>9} {:>9} {:>9} {:>9} {:>9.2} {:>9.2} {:>9.1} {:>9.1}",
            micros(raw.sample.latency.quantile(0.5)),
            micros(raw.sample.latency.quantile(0.99)),
            micros(lunet.sample.latency.quantile(0.5)),
            micros(lunet.sample.latency.quantile(0.99)),
            raw.sample.server_cores(),
            lunet.sample.server_cores(),
            raw.sample.server_cpu_per_msg_us() * 1000.0,
            lunet.sample.server_cpu_per_msg_us() * 1000.0,
        ));
    }

    fn footer(&self) {
        if self.detail.is_empty() {
            return;
        }
        println!();
        println!(
            "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "round trip, server CPU",
            "raw p50",
            "raw p99",
            "lunet p50",
            "lunet p99",
            "raw cores",
            "lun cores",
            "raw ns/m",
            "lun ns/m"
        );
        println!("{}", "-".repeat(104));
        for line in &self.detail {
            println!("{line}");
        }
        println!(
            "(latencies in µs; cores = server CPU time / wall time; ns/m = server CPU ns per echoed message)"
        );
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.0}", d.as_secs_f64() * 1e6),
        None => "-".into(),
    }
}

/// The load generator.
mod load {
    use std::io::{self, Read, Write};
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use mio::net::TcpStream;
    use mio::{Events, Interest, Poll, Token};

    use super::{cpu, Cell};

    /// The pattern's period: a prime, so that no message size or connection offset
    /// lines up with it.
    const PERIOD: usize = 65_521;
    /// The read buffer, and the longest slice of the pattern compared or written.
    const CHUNK: usize = 64 * 1024;
    /// The largest window any cell uses.
    const MAX_WINDOW: usize = 4;
    /// How long the drain after measuring may take before the run fails.
    const DRAIN_LIMIT: Duration = Duration::from_secs(10);

    /// What a run measured.
    #[derive(Default)]
    pub struct Sample {
        pub msgs: u64,
        pub bytes: u64,
        pub wall: Duration,
        /// CPU time of the whole process less the generator thread's.
        pub server_cpu: Duration,
        pub latency: Histogram,
    }

    impl Sample {
        pub fn merge(&mut self, other: &Sample) {
            self.msgs += other.msgs;
            self.bytes += other.bytes;
            self.wall += other.wall;
            self.server_cpu += other.server_cpu;
            self.latency.merge(&other.latency);
        }

        pub fn msgs_per_sec(&self) -> f64 {
            self.msgs as f64 / self.wall.as_secs_f64()
        }

        pub fn mib_per_sec(&self) -> f64 {
            self.bytes as f64 / self.wall.as_secs_f64() / (1024.0 * 1024.0)
        }

        pub fn server_cores(&self) -> f64 {
            self.server_cpu.as_secs_f64() / self.wall.as_secs_f64()
        }

        pub fn server_cpu_per_msg_us(&self) -> f64 {
            self.server_cpu.as_secs_f64() * 1e6 / self.msgs.max(1) as f64
        }
    }

    /// The bytes every connection sends: `PERIOD` pseudo-random bytes, repeated
    /// far enough that any offset has `CHUNK` contiguous bytes after it.
    struct Pattern(Vec<u8>);

    impl Pattern {
        fn new() -> Pattern {
            let mut x: u32 = 0x9e37_79b9;
            let period: Vec<u8> = (0..PERIOD)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 24) as u8
                })
                .collect();
            let bytes = period
                .iter()
                .cycle()
                .take(PERIOD + CHUNK)
                .copied()
                .collect();
            Pattern(bytes)
        }

        /// `len` (at most `CHUNK`) bytes of the stream from offset `at`.
        fn at(&self, at: u64, len: usize) -> &[u8] {
            let start = (at % PERIOD as u64) as usize;
            &self.0[start..start + len]
        }
    }

    /// One connection of the generator.
    struct Client {
        stream: TcpStream,
        /// Where this connection's stream starts in the pattern.
        seed: u64,
        /// Bytes written.
        sent: u64,
        /// Bytes echoed back (and checked).
        received: u64,
        /// When each in-flight message's first byte was written, by message % window.
        sent_at: [Instant; MAX_WINDOW],
        /// Whether new messages may start (false while draining).
        open: bool,
    }

    /// What the loop counts while measuring.
    struct Counting {
        msgs: u64,
        bytes: u64,
        latency: Histogram,
    }

    impl Client {
        /// Writes what the window allows, until it is full or the socket blocks.
        fn pump_writes(&mut self, cell: Cell, pattern: &Pattern, now: Instant) -> io::Result<()> {
            let size = cell.size as u64;
            loop {
                let allowed = if self.open {
                    (self.received / size + cell.window as u64) * size
                } else {
                    self.sent.div_ceil(size) * size
                };
                if self.sent >= allowed {
                    return Ok(());
                }
                let len = ((allowed - self.sent) as usize).min(CHUNK);
                match self.stream.write(pattern.at(self.seed + self.sent, len)) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        let end = self.sent + n as u64;
                        let mut next = self.sent.div_ceil(size);
                        while next * size < end {
                            self.sent_at[(next % cell.window as u64) as usize] = now;
                            next += 1;
                        }
                        self.sent = end;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }

        /// Reads and checks what came back. A short read is taken as "drained":
        /// Linux epoll reports every later arrival as a new edge.
        fn pump_reads(
            &mut self,
            cell: Cell,
            pattern: &Pattern,
            buf: &mut [u8],
            now: Instant,
            counting: Option<&mut Counting>,
        ) -> Result<(), String> {
            let size = cell.size as u64;
            let mut counting = counting;
            loop {
                let n = match self.stream.read(buf) {
                    Ok(0) => return Err("the server closed a connection".into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("read: {e}")),
                };
                if self.received + n as u64 > self.sent {
                    return Err(format!(
                        "echoed {} bytes, more than the {} sent",
                        self.received + n as u64,
                        self.sent
                    ));
                }
                if buf[..n] != *pattern.at(self.seed + self.received, n) {
                    return Err(format!(
                        "echoed bytes differ from those sent (offset {}..{})",
                        self.received,
                        self.received + n as u64
                    ));
                }
                let before = self.received / size;
                self.received += n as u64;
                let after = self.received / size;
                if let Some(c) = counting.as_deref_mut() {
                    c.msgs += after - before;
                    c.bytes += n as u64;
                    for m in before..after {
                        let at = self.sent_at[(m % cell.window as u64) as usize];
                        c.latency.record(now.saturating_duration_since(at));
                    }
                }
                if n < buf.len() {
                    return Ok(());
                }
            }
        }
    }

    fn connect(addr: SocketAddr, index: usize) -> io::Result<Client> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let now = Instant::now();
        Ok(Client {
            stream: TcpStream::from_std(stream),
            seed: (index as u64 * 7_919) % PERIOD as u64,
            sent: 0,
            received: 0,
            sent_at: [now; MAX_WINDOW],
            open: true,
        })
    }

    /// Connects `cell.conns` clients to `addr`, warms up, measures for `measure`,
    /// drains, checks, and closes.
    pub fn run(
        addr: SocketAddr,
        cell: Cell,
        warmup: Duration,
        measure: Duration,
    ) -> Result<Sample, String> {
        assert!(cell.window <= MAX_WINDOW && cell.size > 0);
        let pattern = Pattern::new();
        let mut buf = vec![0u8; CHUNK];
        let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let mut events = Events::with_capacity(1024);
        let mut clients = Vec::with_capacity(cell.conns);
        for i in 0..cell.conns {
            let mut c = connect(addr, i).map_err(|e| format!("connect {addr}: {e}"))?;
            poll.registry()
                .register(
                    &mut c.stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("register: {e}"))?;
            clients.push(c);
        }
        let start = Instant::now();
        for c in &mut clients {
            c.pump_writes(cell, &pattern, start)
                .map_err(|e| format!("write: {e}"))?;
        }

        let measure_from = start + warmup;
        let mut counting: Option<Counting> = None;
        let mut measured_from = start;
        let mut cpu_from = (Duration::ZERO, Duration::ZERO);
        let (wall, cpu_to) = loop {
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .map_err(|e| format!("poll: {e}"))?;
            let now = Instant::now();
            if counting.is_none() && now >= measure_from {
                counting = Some(Counting {
                    msgs: 0,
                    bytes: 0,
                    latency: Histogram::default(),
                });
                measured_from = now;
                cpu_from = (cpu::process(), cpu::thread());
            } else if counting.is_some() && now >= measured_from + measure {
                break (now - measured_from, (cpu::process(), cpu::thread()));
            }
            for event in events.iter() {
                let c = &mut clients[event.token().0];
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    c.pump_reads(cell, &pattern, &mut buf, now, counting.as_mut())?;
                }
                c.pump_writes(cell, &pattern, now)
                    .map_err(|e| format!("write: {e}"))?;
            }
        };
        let counted = counting.expect("measured");

        // Drain: no new messages; every byte sent must come back. The last turn's
        // events were not handled, so read everything once before polling again.
        let now = Instant::now();
        for c in &mut clients {
            c.open = false;
            c.pump_reads(cell, &pattern, &mut buf, now, None)?;
            c.pump_writes(cell, &pattern, now)
                .map_err(|e| format!("write: {e}"))?;
        }
        let deadline = now + DRAIN_LIMIT;
        let mut missing = clients.iter().filter(|c| c.received < c.sent).count();
        while missing > 0 {
            let now = Instant::now();
            if now >= deadline {
                let short: u64 = clients.iter().map(|c| c.sent - c.received).sum();
                return Err(format!(
                    "{missing} connections still miss {short} echoed bytes after {DRAIN_LIMIT:?}"
                ));
            }
            poll.poll(&mut events, Some(deadline - now))
                .map_err(|e| format!("poll: {e}"))?;
            for event in events.iter() {
                let c = &mut clients[event.token().0];
                let was_missing = c.received < c.sent;
                c.pump_reads(cell, &pattern, &mut buf, now, None)?;
                c.pump_writes(cell, &pattern, now)
                    .map_err(|e| format!("write: {e}"))?;
                if was_missing && c.received == c.sent {
                    missing -= 1;
                }
            }
        }
        // Every byte is back, so closing sends a plain FIN.
        drop(clients);

        Ok(Sample {
            msgs: counted.msgs,
            bytes: counted.bytes,
            wall,
            server_cpu: (cpu_to.0 - cpu_from.0).saturating_sub(cpu_to.1 - cpu_from.1),
            latency: counted.latency,
        })
    }

    /// A log-linear histogram of durations (32 buckets per power of two of
    /// nanoseconds: about 3% resolution).
    #[derive(Clone)]
    pub struct Histogram {
        counts: Vec<u64>,
        total: u64,
    }

    const SUB_BITS: u32 = 5;
    const SUB: usize = 1 << SUB_BITS;

    impl Default for Histogram {
        fn default() -> Histogram {
            Histogram {
                counts: vec![0; 2 * SUB + (64 - SUB_BITS as usize) * SUB],
                total: 0,
            }
        }
    }

    impl Histogram {
        fn index(ns: u64) -> usize {
            if ns < 2 * SUB as u64 {
                return ns as usize;
            }
            let shift = 63 - ns.leading_zeros() - SUB_BITS;
            2 * SUB + (shift as usize - 1) * SUB + ((ns >> shift) as usize - SUB)
        }

        /// The middle of bucket `i`, in nanoseconds.
        fn value(i: usize) -> u64 {
            if i < 2 * SUB {
                return i as u64;
            }
            let shift = ((i - 2 * SUB) / SUB + 1) as u32;
            let top = ((i - 2 * SUB) % SUB + SUB) as u64;
            (top << shift) + (1 << (shift - 1))
        }

        pub fn record(&mut self, d: Duration) {
            let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            self.counts[Self::index(ns)] += 1;
            self.total += 1;
        }

        pub fn merge(&mut self, other: &Histogram) {
            for (a, b) in self.counts.iter_mut().zip(&other.counts) {
                *a += b;
            }
            self.total += other.total;
        }

        pub fn quantile(&self, q: f64) -> Option<Duration> {
            if self.total == 0 {
                return None;
            }
            let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
            let mut seen = 0;
            for (i, &n) in self.counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Some(Duration::from_nanos(Self::value(i)));
                }
            }
            None
        }
    }
}

/// The baseline: a raw single-threaded mio echo server.
mod raw {
    use std::io::{self, Read, Write};
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use mio::net::{TcpListener, TcpStream};
    use mio::{Events, Interest, Poll, Token, Waker};

    const LISTENER: Token = Token(0);
    const WAKER: Token = Token(1);
    /// Connection `i` has token `i + FIRST`.
    const FIRST: usize = 2;
    /// Bytes waiting to be written past which a connection stops reading.
    const MAX_BACKLOG: usize = 1 << 20;

    /// A running raw echo server; `stop` (or drop) ends and joins its thread.
    pub struct RawServer {
        pub addr: SocketAddr,
        stop: Arc<AtomicBool>,
        waker: Arc<Waker>,
        thread: Option<JoinHandle<()>>,
    }

    impl RawServer {
        pub fn start() -> io::Result<RawServer> {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            let addr = listener.local_addr()?;
            poll.registry()
                .register(&mut listener, LISTENER, Interest::READABLE)?;
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::Builder::new()
                .name("raw-echo".into())
                .spawn(move || serve(poll, listener, &flag))?;
            Ok(RawServer {
                addr,
                stop,
                waker,
                thread: Some(thread),
            })
        }

        pub fn stop(mut self) {
            self.shutdown();
        }

        fn shutdown(&mut self) {
            if let Some(thread) = self.thread.take() {
                self.stop.store(true, Ordering::SeqCst);
                if let Err(e) = self.waker.wake() {
                    eprintln!("raw echo: wake: {e}");
                }
                if thread.join().is_err() {
                    eprintln!("raw echo: the server thread panicked");
                }
            }
        }
    }

    impl Drop for RawServer {
        fn drop(&mut self) {
            self.shutdown();
        }
    }

    struct Conn {
        stream: TcpStream,
        /// Echo bytes the socket has not taken yet: `backlog[written..]`.
        backlog: Vec<u8>,
        written: usize,
        /// The last read did not end in `WouldBlock` (paused on a full backlog).
        readable: bool,
        /// The peer sent FIN: close once the backlog is written.
        eof: bool,
    }

    impl Conn {
        fn pending(&self) -> usize {
            self.backlog.len() - self.written
        }

        /// Writes the backlog until it is empty or the socket blocks.
        fn flush(&mut self) -> io::Result<()> {
            while self.pending() > 0 {
                match self.stream.write(&self.backlog[self.written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.backlog.clear();
            self.written = 0;
            Ok(())
        }

        /// Writes `data` back now if nothing is queued before it; queues the rest.
        fn echo(&mut self, data: &[u8]) -> io::Result<()> {
            let mut rest = data;
            while self.pending() == 0 && !rest.is_empty() {
                match self.stream.write(rest) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.backlog.extend_from_slice(rest);
            Ok(())
        }

        /// Handles a readiness event. Returns whether the connection stays open.
        fn on_ready(&mut self, readable: bool, scratch: &mut [u8]) -> io::Result<bool> {
            if self.pending() > 0 {
                self.flush()?;
            }
            self.readable |= readable;
            while self.readable && !self.eof && self.pending() < MAX_BACKLOG {
                match self.stream.read(scratch) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.echo(&scratch[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(!(self.eof && self.pending() == 0))
        }
    }

    fn serve(mut poll: Poll, listener: TcpListener, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        let mut conns: Vec<Option<Conn>> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut scratch = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("raw echo: poll: {e}");
                return;
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => accept_all(&poll, &listener, &mut conns, &mut free),
                    Token(t) => {
                        let i = t - FIRST;
                        let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
                            continue;
                        };
                        let readable =
                            event.is_readable() || event.is_read_closed() || event.is_error();
                        let keep = conn.on_ready(readable, &mut scratch).unwrap_or(false);
                        if !keep {
                            if let Some(mut conn) = conns[i].take() {
                                let _ = poll.registry().deregister(&mut conn.stream);
                            }
                            free.push(i);
                        }
                    }
                }
            }
        }
    }

    fn accept_all(
        poll: &Poll,
        listener: &TcpListener,
        conns: &mut Vec<Option<Conn>>,
        free: &mut Vec<usize>,
    ) {
        loop {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    eprintln!("raw echo: accept: {e}");
                    return;
                }
            };
            let i = free.pop().unwrap_or_else(|| {
                conns.push(None);
                conns.len() - 1
            });
            let registered = poll.registry().register(
                &mut stream,
                Token(i + FIRST),
                Interest::READABLE | Interest::WRITABLE,
            );
            match registered {
                Ok(()) => {
                    conns[i] = Some(Conn {
                        stream,
                        backlog: Vec::new(),
                        written: 0,
                        readable: false,
                        eof: false,
                    });
                }
                Err(e) => {
                    eprintln!("raw echo: register: {e}");
                    free.push(i);
                }
            }
        }
    }
}

/// CPU time used so far (user + system), from `getrusage`.
mod cpu {
    use std::time::Duration;

    fn usage(who: libc::c_int) -> Duration {
        // SAFETY: `getrusage` fills the `rusage` it is given, a live local that
        // starts zeroed (all-zero is a valid `rusage`).
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `who` is RUSAGE_SELF or RUSAGE_THREAD.
        if unsafe { libc::getrusage(who, &mut ru) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }

    /// The whole process.
    pub fn process() -> Duration {
        usage(libc::RUSAGE_SELF)
    }

    /// The calling thread.
    pub fn thread() -> Duration {
        usage(libc::RUSAGE_THREAD)
    }
}
