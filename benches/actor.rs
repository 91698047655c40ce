//! Actor throughput and footprint: Lua services against Rust services and raw
//! crossbeam channels, all measured in one process run.
//!
//! ```text
//! cargo bench --bench actor                       # full: N = 1,000,000, M = 2000, K = 1000
//! LUNET_BENCH_QUICK=1 cargo bench --bench actor   # smoke: N = 20,000, M = 200, K = 100
//! LUNET_BENCH_ONLY=lua-call cargo bench --bench actor  # one section, for a profiler
//! ```
//! `LUNET_BENCH_ONLY` is one of `lua-call`, `lua-send`, `rust-call`, `create`,
//! `memory`. `LUNET_BENCH_N` overrides N (e.g. two runs under
//! `valgrind --tool=callgrind` with different N give instructions per message).
//!
//! # What runs
//! Every section gets a fresh runtime (`threads: 2`), a Rust probe service that
//! timestamps each text message it receives and hands it to the bench, and Lua
//! services written to a temporary directory. Each runtime is shut down with
//! `Runtime::shutdown` before the next starts.
//!
//! 1. **Memory per idle Lua service** (first, so earlier sections' freed memory
//!    cannot hide growth): one idle service is launched to warm up code and
//!    allocator, the process's `VmRSS` is read after a settle, K more idle
//!    services (`skynet.start(function() end)`) are launched, and `VmRSS` is read
//!    again after a settle; the growth over K is the figure. A service of the same
//!    shape reports its VM's own `collectgarbage("count")` (and `skynet.stat
//!    "memory"`, mlua's allocator count) to say how much of it is the Lua heap.
//! 2. **Calls**: `ping` makes N `skynet.call(pong, "lua", i)` in a loop and `pong`
//!    answers `skynet.ret(skynet.pack(...))`; timed inside `ping` with
//!    `skynet.hpc()`, after a warm-up of W calls (W = min(N/10, 10,000)).
//! 3. **Sends**: `sender` makes N one-way `skynet.send(sink, "lua", i)`; `sink`
//!    counts and reports when it has received N. The time is from the probe's
//!    receipt of "start" (sent just before the first send) to its receipt of the
//!    sink's report, both stamped on the probe with `Instant::now()`. The sender's
//!    own loop time is shown too (how fast messages are enqueued).
//! 4. **Creations**: M launches of an empty Lua service from Rust,
//!    `runtime.launch(Box::new(LuaService::new(..)))` in a loop (each waits until
//!    the service's chunk has run), then M `skynet.newservice("empty")` from a
//!    Lua service, if the Lua library has `skynet.newservice`; otherwise that
//!    variant is reported as skipped, with the reason.
//!
//! # Baselines (same run)
//! - **rust call**: the same ping-pong between two Rust services implementing
//!   [`Service`] directly; each request and response carries an 8-byte payload
//!   copied into a fresh `Bytes` (the Lua path copies its packed value the same way).
//! - **raw call**: a ping-pong of `u64`s between two threads over two
//!   `crossbeam_channel::unbounded` channels.
//! - **rust send / raw send**: N one-way messages, Rust service to Rust service,
//!   and thread to thread over one unbounded channel.
//!
//! The table prints lua/rust and rust/raw ratios of throughput. The machine's
//! load average and each section's CPU use (process CPU time over wall time, out
//! of 200 % on two cores) are printed, since other work may share the machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use lunet::actor::{ptype, Context, Handle, Message, Service};
use lunet::lua::{LuaEnv, LuaService};
use lunet::runtime::{Runtime, RuntimeConfig};

/// How long to wait for any single report before declaring the bench stuck.
const WAIT: Duration = Duration::from_secs(300);

const PONG: &str = r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, ...)
        skynet.ret(skynet.pack(...))
    end)
end)
"#;

const PING: &str = r#"
local skynet = require "skynet"
local probe, pong, n, warm = ...
probe, pong, n, warm = tonumber(probe), tonumber(pong), tonumber(n), tonumber(warm)
skynet.start(function()
    for i = 1, warm do
        skynet.call(pong, "lua", i)
    end
    local sum = 0
    local t0 = skynet.hpc()
    for i = 1, n do
        sum = sum + skynet.call(pong, "lua", i)
    end
    local t1 = skynet.hpc()
    skynet.send(probe, "text", string.format("calls %d %d", t1 - t0, sum))
end)
"#;

const SENDER: &str = r#"
local skynet = require "skynet"
local probe, sink, n = ...
probe, sink, n = tonumber(probe), tonumber(sink), tonumber(n)
skynet.start(function()
    skynet.send(probe, "text", "start")
    local t0 = skynet.hpc()
    for i = 1, n do
        skynet.send(sink, "lua", i)
    end
    local t1 = skynet.hpc()
    skynet.send(probe, "text", string.format("sent %d", t1 - t0))
end)
"#;

const SINK: &str = r#"
local skynet = require "skynet"
local probe, n = ...
probe, n = tonumber(probe), tonumber(n)
local count, sum = 0, 0
skynet.start(function()
    skynet.dispatch("lua", function(session, source, i)
        count = count + 1
        sum = sum + i
        if count == n then
            skynet.send(probe, "text", string.format("received %d", sum))
        end
    end)
end)
"#;

const EMPTY: &str = r#"
local skynet = require "skynet"
skynet.start(function() end)
"#;

const MEMPROBE: &str = r#"
local bare = collectgarbage("count")
require "skynet.core"
local core = collectgarbage("count")
require "skynet.seri"
local seri = collectgarbage("count")
local skynet = require "skynet"
local probe = tonumber((...))
local loaded = collectgarbage("count")
skynet.start(function()
    local idle = collectgarbage("count")
    local counted = require("skynet.core").memory() -- not skynet.stat: it loads more of the library
    collectgarbage("collect")
    skynet.send(probe, "text", string.format("mem %.1f %d %.1f %.1f %.1f %.1f %.1f",
        idle, counted, collectgarbage("count"), bare, loaded, core, seri))
end)
"#;

const CREATOR: &str = r#"
local skynet = require "skynet"
local probe, m = ...
probe, m = tonumber(probe), tonumber(m)
skynet.start(function()
    if type(skynet.newservice) ~= "function" then
        skynet.send(probe, "text", "skip skynet.newservice is not in lua/skynet.lua")
        return
    end
    local ok, err = pcall(function()
        local t0 = skynet.hpc()
        for i = 1, m do
            skynet.newservice("empty")
        end
        local t1 = skynet.hpc()
        skynet.send(probe, "text", string.format("created %d", t1 - t0))
    end)
    if not ok then
        skynet.send(probe, "text", "skip skynet.newservice raised: " .. tostring(err))
    end
end)
"#;

/// Bench sizes.
#[derive(Clone, Copy)]
struct Sizes {
    /// Calls and sends.
    n: u64,
    /// Service creations.
    m: u64,
    /// Idle services for the memory figure.
    k: u64,
}

impl Sizes {
    fn from_env() -> Sizes {
        let mut sizes = if std::env::var("LUNET_BENCH_QUICK").is_ok_and(|v| v == "1") {
            Sizes {
                n: 20_000,
                m: 200,
                k: 100,
            }
        } else {
            Sizes {
                n: 1_000_000,
                m: 2000,
                k: 1000,
            }
        };
        if let Some(n) = std::env::var("LUNET_BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            sizes.n = n;
        }
        sizes
    }

    /// Warm-up calls before the timed ones.
    fn warm(&self) -> u64 {
        (self.n / 10).min(10_000)
    }
}

/// Forwards every text message, stamped with when it arrived, to the bench.
struct Probe(Sender<(Instant, String)>);

impl Service for Probe {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        if message.ptype == ptype::TEXT {
            let text = String::from_utf8_lossy(message.payload.bytes()).into_owned();
            let _ = self.0.send((Instant::now(), text));
        }
    }
}

/// A runtime with a probe and the bench's Lua services in a temporary directory.
struct Node {
    runtime: Runtime,
    env: Arc<LuaEnv>,
    probe: Handle,
    reports: Receiver<(Instant, String)>,
}

impl Node {
    fn new(dir: &std::path::Path) -> Node {
        let runtime = Runtime::start(RuntimeConfig {
            threads: 2,
            ..RuntimeConfig::default()
        })
        .expect("runtime starts");
        let (tx, reports) = crossbeam_channel::unbounded();
        let probe = runtime
            .launch(Box::new(Probe(tx)), "probe")
            .expect("probe starts");
        let env = Arc::new(LuaEnv {
            luaservice: format!("{}/?.lua", dir.display()),
            ..LuaEnv::default()
        });
        Node {
            runtime,
            env,
            probe,
            reports,
        }
    }

    /// Launches Lua service `name` with the probe's handle as its first argument.
    fn launch(&self, name: &str, args: &[String]) -> Handle {
        let mut all = vec![self.probe.get().to_string()];
        all.extend(args.iter().cloned());
        self.launch_raw(name, all)
    }

    fn launch_raw(&self, name: &str, args: Vec<String>) -> Handle {
        let service = LuaService::new(self.env.clone(), name, args);
        self.runtime
            .launch(Box::new(service), name)
            .unwrap_or_else(|e| panic!("launching {name}: {e}"))
    }

    /// The next report, or a panic saying what was awaited.
    fn report(&self, what: &str) -> (Instant, String) {
        self.reports
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
    }
}

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct it is given and nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The process's resident set size in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Measures wall and CPU time of a section.
struct Section {
    wall: Instant,
    cpu: Duration,
}

impl Section {
    fn begin() -> Section {
        Section {
            wall: Instant::now(),
            cpu: cpu_time(),
        }
    }

    /// CPU use over the section, in percent of one core.
    fn cpu_percent(&self) -> f64 {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = cpu_time().saturating_sub(self.cpu).as_secs_f64();
        if wall > 0.0 {
            100.0 * cpu / wall
        } else {
            0.0
        }
    }
}

/// One line of the table.
struct Row {
    what: String,
    value: String,
    note: String,
}

fn row(what: &str, value: String, note: String) -> Row {
    Row {
        what: what.to_string(),
        value,
        note,
    }
}

fn per_sec(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
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

fn parse_field(text: &str, index: usize) -> u64 {
    text.split_whitespace()
        .nth(index)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("unexpected report {text:?}"))
}

// ----- 1. memory per idle Lua service -----

struct MemoryResult {
    per_service_kib: f64,
    lua_idle_kib: f64,
    lua_counted_kib: f64,
    lua_after_gc_kib: f64,
    /// Heap when the service's chunk starts (before `require "skynet"`).
    lua_bare_kib: f64,
    /// Heap right after `require "skynet"`.
    lua_loaded_kib: f64,
    /// Heap after `require "skynet.core"`, then after `require "skynet.seri"`.
    lua_core_kib: f64,
    lua_seri_kib: f64,
    cpu: f64,
}

fn memory(dir: &std::path::Path, sizes: Sizes) -> MemoryResult {
    let section = Section::begin();
    let node = Node::new(dir);
    node.launch("memprobe", &[]);
    let (_, report) = node.report("memprobe's memory report");
    let fields: Vec<f64> = report
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("memprobe reports numbers"))
        .collect();
    // Warm-up: code pages, the allocator's first arenas.
    for _ in 0..10 {
        node.launch_raw("empty", vec![]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib();
    for _ in 0..sizes.k {
        node.launch_raw("empty", vec![]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    let cpu = section.cpu_percent();
    node.runtime.shutdown();
    MemoryResult {
        per_service_kib: after.saturating_sub(before) as f64 / sizes.k as f64,
        lua_idle_kib: fields[0],
        lua_counted_kib: fields[1] / 1024.0,
        lua_after_gc_kib: fields[2],
        lua_bare_kib: fields[3],
        lua_loaded_kib: fields[4],
        lua_core_kib: fields[5],
        lua_seri_kib: fields[6],
        cpu,
    }
}

// ----- 2. calls -----

struct Timed {
    time: Duration,
    cpu: f64,
}

fn lua_calls(dir: &std::path::Path, sizes: Sizes) -> Timed {
    let section = Section::begin();
    let node = Node::new(dir);
    let pong = node.launch("pong", &[]);
    node.launch(
        "ping",
        &[
            pong.get().to_string(),
            sizes.n.to_string(),
            sizes.warm().to_string(),
        ],
    );
    let (_, report) = node.report("ping's calls");
    let ns = parse_field(&report, 1);
    let sum = parse_field(&report, 2);
    assert_eq!(sum, sizes.n * (sizes.n + 1) / 2, "pong echoed every value");
    let cpu = section.cpu_percent();
    node.runtime.shutdown();
    Timed {
        time: Duration::from_nanos(ns),
        cpu,
    }
}

/// Answers every request with its own payload.
struct RustPong;

impl Service for RustPong {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if message.session != 0 && message.ptype == ptype::LUA {
            let _ = ctx.send(
                message.source,
                ptype::RESPONSE,
                message.session,
                message.payload,
            );
        }
    }
}

/// Calls `pong` `warm + n` times, one at a time; reports the time of the last n.
struct RustPing {
    pong: Handle,
    warm: u64,
    n: u64,
    done: u64,
    begun: Instant,
    report: Sender<Duration>,
}

impl RustPing {
    fn call(&self, ctx: &Context<'_>, i: u64) {
        let session = ctx.new_session();
        let payload = Bytes::copy_from_slice(&i.to_le_bytes());
        ctx.send(self.pong, ptype::LUA, session, payload)
            .expect("pong is alive");
    }
}

impl Service for RustPing {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        self.begun = Instant::now();
        self.call(ctx, 0);
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if message.ptype != ptype::RESPONSE {
            return;
        }
        self.done += 1;
        if self.done == self.warm {
            self.begun = Instant::now();
        }
        if self.done == self.warm + self.n {
            let _ = self.report.send(self.begun.elapsed());
        } else {
            self.call(ctx, self.done);
        }
    }
}

fn rust_calls(sizes: Sizes) -> Timed {
    let section = Section::begin();
    let runtime = Runtime::start(RuntimeConfig {
        threads: 2,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let pong = runtime.launch(Box::new(RustPong), "pong").unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    runtime
        .launch(
            Box::new(RustPing {
                pong,
                warm: sizes.warm(),
                n: sizes.n,
                done: 0,
                begun: Instant::now(),
                report: tx,
            }),
            "ping",
        )
        .unwrap();
    let time = rx.recv_timeout(WAIT).expect("rust ping finishes");
    let cpu = section.cpu_percent();
    runtime.shutdown();
    Timed { time, cpu }
}

fn raw_calls(sizes: Sizes) -> Timed {
    let section = Section::begin();
    let (to_pong, pong_rx) = crossbeam_channel::unbounded::<u64>();
    let (to_ping, ping_rx) = crossbeam_channel::unbounded::<u64>();
    let pong = std::thread::spawn(move || {
        while let Ok(i) = pong_rx.recv() {
            if to_ping.send(i).is_err() {
                break;
            }
        }
    });
    let round = |i: u64| {
        to_pong.send(i).unwrap();
        ping_rx.recv().unwrap()
    };
    for i in 0..sizes.warm() {
        round(i);
    }
    let begun = Instant::now();
    let mut sum = 0u64;
    for i in 0..sizes.n {
        sum = sum.wrapping_add(round(i));
    }
    let time = begun.elapsed();
    std::hint::black_box(sum);
    drop(to_pong);
    pong.join().unwrap();
    Timed {
        time,
        cpu: section.cpu_percent(),
    }
}

// ----- 3. sends -----

struct SendResult {
    /// First send to last receive.
    time: Duration,
    /// The sender's loop alone (enqueueing), where measured.
    enqueue: Option<Duration>,
    cpu: f64,
}

fn lua_sends(dir: &std::path::Path, sizes: Sizes) -> SendResult {
    let section = Section::begin();
    let node = Node::new(dir);
    let sink = node.launch("sink", &[sizes.n.to_string()]);
    node.launch("sender", &[sink.get().to_string(), sizes.n.to_string()]);
    let mut start = None;
    let mut end = None;
    let mut enqueue = None;
    while start.is_none() || end.is_none() || enqueue.is_none() {
        let (at, report) = node.report("the sender's and the sink's reports");
        match report.split_whitespace().next() {
            Some("start") => start = Some(at),
            Some("sent") => enqueue = Some(Duration::from_nanos(parse_field(&report, 1))),
            Some("received") => {
                assert_eq!(parse_field(&report, 1), sizes.n * (sizes.n + 1) / 2);
                end = Some(at);
            }
            _ => panic!("unexpected report {report:?}"),
        }
    }
    let cpu = section.cpu_percent();
    node.runtime.shutdown();
    SendResult {
        time: end.unwrap().duration_since(start.unwrap()),
        enqueue,
        cpu,
    }
}

/// Counts one-way messages; reports the time when it has `n`.
struct RustSink {
    n: u64,
    count: u64,
    report: Sender<Instant>,
}

impl Service for RustSink {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        if message.ptype == ptype::LUA {
            self.count += 1;
            if self.count == self.n {
                let _ = self.report.send(Instant::now());
            }
        }
    }
}

/// Sends `n` one-way messages from its start function.
struct RustSender {
    sink: Handle,
    n: u64,
    report: Sender<(Instant, Duration)>,
}

impl Service for RustSender {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        let begun = Instant::now();
        for i in 0..self.n {
            let payload = Bytes::copy_from_slice(&i.to_le_bytes());
            ctx.send(self.sink, ptype::LUA, 0, payload)
                .map_err(|e| e.to_string())?;
        }
        let _ = self.report.send((begun, begun.elapsed()));
        Ok(())
    }

    fn handle(&mut self, _: &mut Context<'_>, _: Message) {}
}

fn rust_sends(sizes: Sizes) -> SendResult {
    let section = Section::begin();
    let runtime = Runtime::start(RuntimeConfig {
        threads: 2,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let (done_tx, done) = crossbeam_channel::bounded(1);
    let sink = runtime
        .launch(
            Box::new(RustSink {
                n: sizes.n,
                count: 0,
                report: done_tx,
            }),
            "sink",
        )
        .unwrap();
    let (sent_tx, sent) = crossbeam_channel::bounded(1);
    runtime
        .launch(
            Box::new(RustSender {
                sink,
                n: sizes.n,
                report: sent_tx,
            }),
            "sender",
        )
        .unwrap();
    let (begun, enqueue) = sent.recv_timeout(WAIT).expect("rust sender finishes");
    let end = done.recv_timeout(WAIT).expect("rust sink receives all");
    let cpu = section.cpu_percent();
    runtime.shutdown();
    SendResult {
        time: end.duration_since(begun),
        enqueue: Some(enqueue),
        cpu,
    }
}

fn raw_sends(sizes: Sizes) -> SendResult {
    let section = Section::begin();
    let (tx, rx) = crossbeam_channel::unbounded::<u64>();
    let n = sizes.n;
    let sink = std::thread::spawn(move || {
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(rx.recv().unwrap());
        }
        (Instant::now(), sum)
    });
    let begun = Instant::now();
    for i in 0..n {
        tx.send(i).unwrap();
    }
    let enqueue = begun.elapsed();
    let (end, sum) = sink.join().unwrap();
    std::hint::black_box(sum);
    SendResult {
        time: end.duration_since(begun),
        enqueue: Some(enqueue),
        cpu: section.cpu_percent(),
    }
}

// ----- 4. creations -----

struct CreateResult {
    rust: Timed,
    lua: Result<Timed, String>,
}

fn creations(dir: &std::path::Path, sizes: Sizes) -> CreateResult {
    let section = Section::begin();
    let node = Node::new(dir);
    let baseline = node.runtime.node().service_count();
    let begun = Instant::now();
    let handles: Vec<Handle> = (0..sizes.m)
        .map(|_| node.launch_raw("empty", vec![]))
        .collect();
    let time = begun.elapsed();
    let rust = Timed {
        time,
        cpu: section.cpu_percent(),
    };
    for h in handles {
        node.runtime.node().kill(h);
    }
    let deadline = Instant::now() + WAIT;
    while node.runtime.node().service_count() > baseline {
        assert!(Instant::now() < deadline, "killed services did not go away");
        std::thread::sleep(Duration::from_millis(10));
    }
    // skynet.newservice goes through the launcher, which bootstrap would start
    // and name; there is no bootstrap here, so start the embedded one directly.
    let launcher = node.launch_raw("launcher", vec![]);
    node.runtime.node().register_name(".launcher", launcher);
    let section = Section::begin();
    node.launch("creator", &[sizes.m.to_string()]);
    let (_, report) = node.report("the creator's report");
    let lua = match report.split_once(' ') {
        Some(("created", ns)) => Ok(Timed {
            time: Duration::from_nanos(ns.trim().parse().expect("creator reports ns")),
            cpu: section.cpu_percent(),
        }),
        Some(("skip", why)) => Err(why.to_string()),
        _ => panic!("unexpected report {report:?}"),
    };
    node.runtime.shutdown();
    CreateResult { rust, lua }
}

fn write_services() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lunet-bench-actor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, source) in [
        ("pong", PONG),
        ("ping", PING),
        ("sender", SENDER),
        ("sink", SINK),
        ("empty", EMPTY),
        ("memprobe", MEMPROBE),
        ("creator", CREATOR),
    ] {
        std::fs::write(dir.join(format!("{name}.lua")), source).expect("write service");
    }
    dir
}

fn main() {
    let sizes = Sizes::from_env();
    let dir = write_services();
    let load_before = load_average();
    println!(
        "lunet actor bench: N = {} calls/sends (warm-up {}), M = {} creations, K = {} idle services, 2 workers",
        thousands(sizes.n as f64),
        thousands(sizes.warm() as f64),
        sizes.m,
        sizes.k
    );
    println!("load average before: {load_before}");
    if let Ok(only) = std::env::var("LUNET_BENCH_ONLY") {
        // One section alone, for profiling it (perf, callgrind).
        let n = sizes.n;
        match only.as_str() {
            "lua-call" => println!("lua call {:.0}/s", per_sec(n, lua_calls(&dir, sizes).time)),
            "lua-send" => println!("lua send {:.0}/s", per_sec(n, lua_sends(&dir, sizes).time)),
            "rust-call" => println!("rust call {:.0}/s", per_sec(n, rust_calls(sizes).time)),
            "create" => {
                let c = creations(&dir, sizes);
                println!("create {:.0}/s", per_sec(sizes.m, c.rust.time));
            }
            "memory" => println!("{:.1} KiB/service", memory(&dir, sizes).per_service_kib),
            other => panic!("LUNET_BENCH_ONLY: unknown section {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    let mem = memory(&dir, sizes);
    let lua_call = lua_calls(&dir, sizes);
    let rust_call = rust_calls(sizes);
    let raw_call = raw_calls(sizes);
    let lua_send = lua_sends(&dir, sizes);
    let rust_send = rust_sends(sizes);
    let raw_send = raw_sends(sizes);
    let create = creations(&dir, sizes);
    let _ = std::fs::remove_dir_all(&dir);

    let n = sizes.n;
    let (lua_cps, rust_cps, raw_cps) = (
        per_sec(n, lua_call.time),
        per_sec(n, rust_call.time),
        per_sec(n, raw_call.time),
    );
    let (lua_sps, rust_sps, raw_sps) = (
        per_sec(n, lua_send.time),
        per_sec(n, rust_send.time),
        per_sec(n, raw_send.time),
    );
    let cpu = |c: f64| format!("cpu {c:.0}%");
    let enqueue = |s: &SendResult| {
        s.enqueue.map_or(String::new(), |e| {
            format!("; enqueue {}/s", thousands(per_sec(n, e)))
        })
    };
    let mut rows = vec![
        row(
            "lua call (ping-pong)",
            format!("{} /s", thousands(lua_cps)),
            format!(
                "{:.2} us/call; {}",
                lua_call.time.as_secs_f64() * 1e6 / n as f64,
                cpu(lua_call.cpu)
            ),
        ),
        row(
            "rust call (ping-pong)",
            format!("{} /s", thousands(rust_cps)),
            format!(
                "{:.2} us/call; {}",
                rust_call.time.as_secs_f64() * 1e6 / n as f64,
                cpu(rust_call.cpu)
            ),
        ),
        row(
            "raw channel ping-pong",
            format!("{} /s", thousands(raw_cps)),
            format!(
                "{:.2} us/round trip; {}",
                raw_call.time.as_secs_f64() * 1e6 / n as f64,
                cpu(raw_call.cpu)
            ),
        ),
        row(
            "  call lua/rust",
            format!("{:.3}", lua_cps / rust_cps),
            String::new(),
        ),
        row(
            "  call rust/raw",
            format!("{:.3}", rust_cps / raw_cps),
            String::new(),
        ),
        row(
            "lua send (one-way)",
            format!("{} /s", thousands(lua_sps)),
            format!("{}{}", cpu(lua_send.cpu), enqueue(&lua_send)),
        ),
        row(
            "rust send (one-way)",
            format!("{} /s", thousands(rust_sps)),
            format!("{}{}", cpu(rust_send.cpu), enqueue(&rust_send)),
        ),
        row(
            "raw channel send",
            format!("{} /s", thousands(raw_sps)),
            format!("{}{}", cpu(raw_send.cpu), enqueue(&raw_send)),
        ),
        row(
            "  send lua/rust",
            format!("{:.3}", lua_sps / rust_sps),
            String::new(),
        ),
        row(
            "  send rust/raw",
            format!("{:.3}", rust_sps / raw_sps),
            String::new(),
        ),
        row(
            "create (Rust launch)",
            format!("{} /s", thousands(per_sec(sizes.m, create.rust.time))),
            format!(
                "{:.0} us each; {}",
                create.rust.time.as_secs_f64() * 1e6 / sizes.m as f64,
                cpu(create.rust.cpu)
            ),
        ),
    ];
    rows.push(match &create.lua {
        Ok(t) => row(
            "create (skynet.newservice)",
            format!("{} /s", thousands(per_sec(sizes.m, t.time))),
            format!(
                "{:.0} us each; {}",
                t.time.as_secs_f64() * 1e6 / sizes.m as f64,
                cpu(t.cpu)
            ),
        ),
        Err(why) => row("create (skynet.newservice)", "skipped".into(), why.clone()),
    });
    rows.push(row(
        "memory per idle Lua service",
        format!("{:.1} KiB", mem.per_service_kib),
        format!("RSS growth / {}; {}", sizes.k, cpu(mem.cpu)),
    ));
    rows.push(row(
        "  of which Lua heap",
        format!("{:.1} KiB", mem.lua_idle_kib),
        format!(
            "collectgarbage(\"count\") when idle; VM allocator {:.1} KiB; {:.1} KiB after a full GC",
            mem.lua_counted_kib, mem.lua_after_gc_kib
        ),
    ));
    rows.push(row(
        "  Lua heap: bare VM",
        format!("{:.1} KiB", mem.lua_bare_kib),
        "at the top of the service chunk (stdlib, preload, searcher, print)".into(),
    ));
    rows.push(row(
        "  + skynet.core, skynet.seri",
        format!("{:.1} KiB", mem.lua_seri_kib - mem.lua_bare_kib),
        format!(
            "core {:.1} KiB, seri {:.1} KiB",
            mem.lua_core_kib - mem.lua_bare_kib,
            mem.lua_seri_kib - mem.lua_core_kib
        ),
    ));
    rows.push(row(
        "  + lua/skynet.lua",
        format!("{:.1} KiB", mem.lua_loaded_kib - mem.lua_seri_kib),
        "the library's compiled chunk, closures and tables".into(),
    ));

    let w0 = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.value.len()).max().unwrap_or(0);
    println!();
    for r in &rows {
        println!("{:<w0$}  {:>w1$}  {}", r.what, r.value, r.note);
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("targets:");
    println!(
        "  calls >= 300,000/s: {} /s  {}",
        thousands(lua_cps),
        verdict(lua_cps >= 300_000.0)
    );
    println!(
        "  sends >= 1,000,000/s: {} /s  {}",
        thousands(lua_sps),
        verdict(lua_sps >= 1_000_000.0)
    );
    println!(
        "  idle service <= 40 KiB: {:.1} KiB  {}",
        mem.per_service_kib,
        verdict(mem.per_service_kib <= 40.0)
    );
    println!("load average after: {}", load_average());
}
