//! Echo servers against a raw mio baseline, all in one run: throughput under one
//! load generator, and memory per idle connection.
//!
//! ```text
//! cargo bench --bench echo                        # full: 2 s per server and cell, in 4 rounds; 10,000 idle connections
//! LUNET_BENCH_QUICK=1 cargo bench --bench echo    # smoke: 0.3 s per server and cell, 1 round; 2,000 idle connections
//! LUNET_BENCH_SECS=6 LUNET_BENCH_ROUNDS=6 cargo bench --bench echo
//! LUNET_BENCH_ONLY=lua,1000x64 cargo bench --bench echo   # one server, one cell (for a profiler)
//! ```
//! - `LUNET_BENCH_SECS` is the measured time per server and cell, split over
//!   `LUNET_BENCH_ROUNDS` runs; each run also warms up for half its measured time
//!   (at most 0.5 s).
//! - `LUNET_BENCH_ONLY` is a comma-separated list of servers (`raw`, `lunet`,
//!   `lua`), sections (`throughput`, `idle`) and cells (`1x64`, `100x64`,
//!   `1000x64`, `100x16k`); each group not named runs whole. Ratios to raw are
//!   printed when raw runs.
//! - `LUNET_BENCH_IDLE_CONNS` sets the number of idle connections.
//! - `LUNET_BENCH_DIRECT=1` runs the lunet owner with `SocketConfig::direct_write` on.
//! - `RUST_LOG` filters the runtime's log (default: warnings and errors, on stderr).
//!
//! The bench exits with status 1 if any run loses, duplicates or corrupts a byte,
//! or any measurement fails.
//!
//! # What runs
//! - **raw**: [`raw::RawServer`], one thread with a mio `Poll`, edge-triggered:
//!   each connection is registered once for read and write; a readable connection
//!   is read until `WouldBlock` into one 64 KiB buffer and each read is written
//!   back at once; what the socket does not take is kept in a per-connection
//!   buffer and written on the next writable edge (reading pauses past 1 MiB of
//!   it). Its listen backlog is 1024, as lunet's. This is the baseline every
//!   ratio is taken against.
//! - **lunet**: `owner::EchoServer` (the `socket_echo` example's owner): lunet's
//!   socket thread reads and hands each read to a plain Rust owner thread as a
//!   `Data` event over a channel; the owner sends it back through the
//!   `SocketHandle` (channel + `mio::Waker`). The socket layer alone, no actors.
//! - **lua**: the `examples/echo` Lua service (one service, one coroutine per
//!   connection: `socket.read`, `socket.write`) in a lunet node started in this
//!   process with [`lunet::lua::start_node`], from `examples/echo/config.lua`
//!   (`thread = 2`, as the example ships) with `port` set to 0 and `luaservice`
//!   made absolute. See [`lua`] for how the bound port is found.
//!
//! No server sets `TCP_NODELAY` on accepted sockets, so all run with the same
//! socket options.
//!
//! # Throughput: the load generator
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
//! run gets a fresh server. Within a cell the servers take turns, and the order
//! rotates every round (raw, lunet, lua; then lunet, lua, raw; ...), so drift in
//! a noisy machine lands on all of them. Latency is the time from the loop turn
//! that wrote a message's first byte to the loop turn that read its last byte.
//! Server CPU is the process's CPU time less the generator thread's, per echoed
//! message (for lua it includes the node's timer and monitor threads).
//!
//! # Memory per idle connection
//! See [`idle`]: each server runs in a fresh child process, its clients in
//! another, and the server process's `VmRSS` growth over the idle connections is
//! divided by their number; for lua, the echo service's Lua heap is reported too.

#[path = "../examples/socket_echo/owner.rs"]
mod owner;

#[path = "echo/idle.rs"]
mod idle;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use lunet::socket::SocketConfig;

/// One cell of the table: how many connections, message size, messages in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cell {
    conns: usize,
    size: usize,
    window: usize,
}

impl Cell {
    /// How `LUNET_BENCH_ONLY` names the cell: `1000x64`, `100x16k`.
    fn key(&self) -> String {
        let size = size_label(self.size);
        format!(
            "{}x{}",
            self.conns,
            size.trim_end_matches('B').to_lowercase()
        )
    }

    /// How the tables name the cell.
    fn name(&self) -> String {
        format!(
            "{:>4} conn {:>4} w{}",
            self.conns,
            size_label(self.size),
            self.window
        )
    }
}

/// `64B`, `16K`.
fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{}K", size / 1024)
    } else {
        format!("{size}B")
    }
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

/// How long each run lasts, how many alternating rounds a cell gets, and how
/// many idle connections the memory section holds.
struct Settings {
    /// Warm-up of each run.
    warmup: Duration,
    /// Measured time of each run.
    measure: Duration,
    /// Runs per server and cell.
    rounds: usize,
    /// Idle connections per server in the memory section.
    idle_conns: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("LUNET_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let (mut secs, mut rounds, mut idle_conns) = if quick {
            (0.3, 1, 2_000)
        } else {
            (2.0, 4, 10_000)
        };
        if let Some(s) = env_parse::<f64>("LUNET_BENCH_SECS").filter(|s| *s > 0.0) {
            secs = s;
        }
        if let Some(r) = env_parse::<usize>("LUNET_BENCH_ROUNDS").filter(|r| *r > 0) {
            rounds = r;
        }
        if let Some(n) = env_parse::<usize>("LUNET_BENCH_IDLE_CONNS").filter(|n| *n > 0) {
            idle_conns = n;
        }
        let measure = Duration::from_secs_f64(secs / rounds as f64);
        Settings {
            warmup: (measure / 2).min(Duration::from_millis(500)),
            measure,
            rounds,
            idle_conns,
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

/// What `LUNET_BENCH_ONLY` selects (everything by default).
struct Selection {
    /// In table order: raw first.
    kinds: Vec<Kind>,
    cells: Vec<Cell>,
    throughput: bool,
    idle: bool,
}

impl Selection {
    fn from_env() -> Result<Selection, String> {
        let only = std::env::var("LUNET_BENCH_ONLY").unwrap_or_default();
        let (mut kinds, mut cells, mut sections) = (Vec::new(), Vec::new(), Vec::new());
        for token in only
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let token = token.to_lowercase();
            if let Some(kind) = Kind::parse(&token) {
                kinds.push(kind);
            } else if token == "throughput" || token == "idle" {
                sections.push(token);
            } else if let Some(cell) = CELLS.iter().find(|c| c.key() == token) {
                cells.push(*cell);
            } else {
                let cell_keys: Vec<String> = CELLS.iter().map(Cell::key).collect();
                return Err(format!(
                    "LUNET_BENCH_ONLY: unknown {token:?}; expected servers (raw, lunet, lua), \
                     sections (throughput, idle) or cells ({})",
                    cell_keys.join(", ")
                ));
            }
        }
        Ok(Selection {
            kinds: Kind::ALL.into_iter().filter(|k| keeps(&kinds, k)).collect(),
            cells: CELLS.into_iter().filter(|c| keeps(&cells, c)).collect(),
            throughput: keeps(&sections, &"throughput".to_string()),
            idle: keeps(&sections, &"idle".to_string()),
        })
    }
}

/// Whether a group of `LUNET_BENCH_ONLY` keeps `item`: it names it, or names
/// nothing of that group.
fn keeps<T: PartialEq>(picked: &[T], item: &T) -> bool {
    picked.is_empty() || picked.contains(item)
}

/// Which echo server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Raw,
    Lunet,
    Lua,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Raw, Kind::Lunet, Kind::Lua];

    fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Lunet => "lunet",
            Kind::Lua => "lua",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A running echo server of any kind.
enum Server {
    Raw(raw::RawServer),
    Lunet(owner::EchoServer),
    Lua(lua::LuaServer),
}

impl Server {
    fn start(kind: Kind) -> Result<Server, String> {
        Ok(match kind {
            Kind::Raw => Server::Raw(raw::RawServer::start().map_err(|e| e.to_string())?),
            Kind::Lunet => {
                let config = SocketConfig {
                    direct_write: std::env::var("LUNET_BENCH_DIRECT").is_ok_and(|v| v == "1"),
                    ..SocketConfig::default()
                };
                Server::Lunet(
                    owner::EchoServer::start(config, "127.0.0.1", 0).map_err(|e| e.to_string())?,
                )
            }
            Kind::Lua => Server::Lua(lua::LuaServer::start()?),
        })
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Raw(s) => s.addr,
            Server::Lunet(s) => s.addr,
            Server::Lua(s) => s.addr,
        }
    }

    fn stop(self) {
        match self {
            Server::Raw(s) => s.stop(),
            Server::Lunet(s) => s.stop(),
            Server::Lua(s) => s.stop(),
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
    // A child process of the idle section (a server, or its clients)?
    if let Ok(role) = std::env::var(idle::ROLE_ENV) {
        init_log();
        return idle::run_role(&role);
    }
    init_log();
    let settings = Settings::from_env();
    let selection = match Selection::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let names: Vec<&str> = selection.kinds.iter().map(|k| k.name()).collect();
    println!(
        "echo bench: {} on loopback, {cores} cores, load average {}",
        names.join(", "),
        load_average()
    );
    println!("  raw   = single-threaded mio echo (the baseline)");
    println!("  lunet = lunet socket layer + the socket_echo Rust owner thread");
    println!("  lua   = examples/echo (one Lua service, a coroutine per connection), thread = 2");
    let mut failed = false;
    if selection.throughput {
        failed |= throughput(&settings, &selection);
    }
    if selection.idle {
        failed |= idle::section(&selection.kinds, settings.idle_conns);
    }
    println!("\nload average after: {}", load_average());
    if failed {
        println!("\necho bench: FAILED (see above)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runtime log lines (lunet's warnings, Lua services' errors) go to stderr.
fn init_log() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The throughput section; returns whether anything failed.
fn throughput(settings: &Settings, selection: &Selection) -> bool {
    println!();
    println!(
        "throughput: per cell and server {} run(s) of {:.2} s warm-up + {:.2} s measured, servers taking turns",
        settings.rounds,
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64(),
    );
    println!("MiB/s counts echoed bytes (one direction); wN = N messages in flight per connection");
    println!();

    let mut report = Report::new(&selection.kinds);
    for &cell in &selection.cells {
        let mut totals: Vec<Totals> = selection.kinds.iter().map(|_| Totals::default()).collect();
        for round in 0..settings.rounds {
            let n = selection.kinds.len();
            for turn in 0..n {
                let i = (round + turn) % n;
                totals[i].add(run_once(selection.kinds[i], cell, settings));
            }
        }
        report.cell(cell, &totals);
    }
    report.summary();
    report.failed
}

/// The throughput tables: a row per server as each cell finishes, then the
/// ratios to raw.
struct Report {
    kinds: Vec<Kind>,
    /// Where raw is in `kinds`, if it runs.
    raw: Option<usize>,
    /// Ratio lines, printed at the end.
    ratios: Vec<String>,
    failed: bool,
}

impl Report {
    fn new(kinds: &[Kind]) -> Report {
        println!(
            "{:<19} {:<6} {:>10} {:>8} {:>7} {:>7} {:>5} {:>7} {:>6}  by round",
            "cell", "server", "msg/s", "MiB/s", "p50 µs", "p99 µs", "cores", "ns/msg", "/raw"
        );
        println!("{}", "-".repeat(92));
        Report {
            kinds: kinds.to_vec(),
            raw: kinds.iter().position(|k| *k == Kind::Raw),
            ratios: Vec::new(),
            failed: false,
        }
    }

    fn cell(&mut self, cell: Cell, totals: &[Totals]) {
        let name = cell.name();
        let mut failed = false;
        for (kind, t) in self.kinds.iter().zip(totals) {
            if let Some(e) = &t.failure {
                println!("{name:<19} {:<6} FAIL: {e}", kind.name());
                failed = true;
            }
        }
        if failed {
            self.failed = true;
            return;
        }
        let raw = self.raw.map(|i| &totals[i]);
        let mut ratios = format!("{name:<19}");
        for (i, (kind, t)) in self.kinds.iter().zip(totals).enumerate() {
            let s = &t.sample;
            let (vs_raw, by_round) = match raw.filter(|_| *kind != Kind::Raw) {
                Some(r) => {
                    let by_round: Vec<String> = r
                        .per_round
                        .iter()
                        .zip(&t.per_round)
                        .map(|(r, x)| format!("{:.2}", x / r))
                        .collect();
                    let msgs = s.msgs_per_sec() / r.sample.msgs_per_sec();
                    let cpu = s.server_cpu_per_msg_us() / r.sample.server_cpu_per_msg_us();
                    ratios.push_str(&format!(" {:>11.2} {:>13.2}", msgs, cpu));
                    (format!("{msgs:.2}"), by_round.join(" "))
                }
                None => (String::new(), String::new()),
            };
            println!(
                "{:<19} {:<6} {:>10} {:>8.1} {:>7} {:>7} {:>5.2} {:>7.0} {:>6}  {}",
                if i == 0 { name.as_str() } else { "" },
                kind.name(),
                thousands(s.msgs_per_sec()),
                s.mib_per_sec(),
                micros(s.latency.quantile(0.5)),
                micros(s.latency.quantile(0.99)),
                s.server_cores(),
                s.server_cpu_per_msg_us() * 1000.0,
                vs_raw,
                by_round
            );
        }
        self.ratios.push(ratios);
    }

    fn summary(&self) {
        println!(
            "(cores = server CPU time / wall time; ns/msg = server CPU per echoed message; /raw = msg/s over raw's)"
        );
        let others: Vec<Kind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| *k != Kind::Raw)
            .collect();
        if self.raw.is_none() || others.is_empty() || self.ratios.is_empty() {
            return;
        }
        println!();
        let mut head = format!("{:<19}", "ratio to raw");
        for k in &others {
            head.push_str(&format!(
                " {:>11} {:>13}",
                format!("{} msg/s", k.name()),
                format!("{} CPU/msg", k.name())
            ));
        }
        println!("{head}");
        println!("{}", "-".repeat(head.chars().count()));
        for line in &self.ratios {
            println!("{line}");
        }
        println!("(msg/s: higher is better; CPU/msg: server CPU per message, lower is better)");
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

/// The lua server: `examples/echo` in a lunet node started in this process.
///
/// The example listens on the config's `host` and `port`; with port 0 the
/// kernel picks one, which the example only logs. The bench learns it from the
/// socket layer instead: it polls the node's socket table
/// ([`SocketHandle::stats`](lunet::socket::SocketHandle::stats), what `netstat`
/// shows) until a listener is in state `listening`, and takes its bound
/// address and its owner (the echo service's handle). That depends on no log
/// text and no timing: `listening` means `socket.start` has taken effect, so
/// connections are accepted from then on. It assumes the node has one listener,
/// which is what the example opens. If the node aborts (say the example fails
/// to load) or nothing listens within 10 s, starting fails with the reason.
mod lua {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use lunet::actor::Handle;
    use lunet::config::Config;
    use lunet::runtime::Runtime;
    use lunet::socket::SocketKind;

    /// How long the node may take to listen.
    const START_LIMIT: Duration = Duration::from_secs(10);

    /// A running node with the echo example; `stop` shuts it down.
    pub struct LuaServer {
        pub runtime: Runtime,
        pub addr: SocketAddr,
        /// The echo service.
        pub echo: Handle,
    }

    impl LuaServer {
        pub fn start() -> Result<LuaServer, String> {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/echo");
            let mut config = Config::load(dir.join("config.lua")).map_err(|e| e.to_string())?;
            let luaservice = format!("{}/?.lua", dir.display());
            for (key, value) in [
                ("host", "127.0.0.1"),
                ("port", "0"),
                ("luaservice", luaservice.as_str()),
            ] {
                config.set(key, value).map_err(|e| e.to_string())?;
            }
            let runtime = lunet::lua::start_node(&config)?;
            let deadline = Instant::now() + START_LIMIT;
            loop {
                if runtime.node().is_aborted() {
                    let why = runtime.node().abort_error().unwrap_or_default();
                    return Err(format!("the echo node aborted: {why}"));
                }
                let listener = runtime
                    .node()
                    .sockets()
                    .stats()
                    .into_iter()
                    .find(|s| s.kind == SocketKind::Listen && s.state == "listening");
                if let Some((addr, owner)) = listener.and_then(|s| Some((s.addr?, s.owner))) {
                    return Ok(LuaServer {
                        runtime,
                        addr,
                        echo: Handle::from_raw(owner),
                    });
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "no listener in the echo node after {START_LIMIT:?} (examples/echo/main.lua should listen)"
                    ));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }

        pub fn stop(self) {
            self.runtime.shutdown();
        }
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
    use socket2::{Domain, Protocol, Socket, Type};

    const LISTENER: Token = Token(0);
    const WAKER: Token = Token(1);
    /// Connection `i` has token `i + FIRST`.
    const FIRST: usize = 2;
    /// Bytes waiting to be written past which a connection stops reading.
    const MAX_BACKLOG: usize = 1 << 20;
    /// The listen backlog, as lunet's listeners have by default.
    const BACKLOG: i32 = 1024;

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
            let mut listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
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

    /// A listener with lunet's backlog (1024). `mio::net::TcpListener::bind`
    /// listens with 128 here, which overflows when thousands of clients connect
    /// at once, and each overflow costs a client a one-second SYN retry.
    fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        socket.set_nonblocking(true)?;
        Ok(TcpListener::from_std(socket.into()))
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
