//! Integration tests for the actor layer (DESIGN §1, §4): ordering, sessions and
//! error responses, exits with queued requests, timers, failing starts, handler
//! panics, one worker per service, names, the monitor, and socket events as
//! messages.
//!
//! Every test runs a real runtime with real worker threads. Services report what
//! they see through crossbeam channels; the test thread reads them with a bounded
//! `recv_timeout`, so a lost message fails with a message naming what was awaited
//! instead of hanging.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use lunet::actor::{ptype, Context, Handle, Message, MonitorConfig, Payload, SendError, Service};
use lunet::runtime::{Runtime, RuntimeConfig};
use lunet::socket::Event;

/// How long any single wait in a test may take before it fails.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Everything logged through `tracing` by any test in this binary. Tests look for
/// lines that carry their own service's handle, so sharing it is harmless.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a global subscriber that records every log line in [`logs`].
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("install the log capture");
    });
}

/// The log lines that contain every one of `parts`.
fn log_lines_with(parts: &[&str]) -> Vec<String> {
    let text =
        String::from_utf8_lossy(&logs().lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    text.lines()
        .filter(|line| parts.iter().all(|p| line.contains(p)))
        .map(str::to_string)
        .collect()
}

fn runtime(threads: usize) -> Runtime {
    Runtime::start(RuntimeConfig {
        threads,
        ..RuntimeConfig::default()
    })
    .expect("start the runtime")
}

/// The next item on `rx`, or a panic naming what was awaited.
#[track_caller]
fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("timed out after {WAIT:?} waiting for {what} ({e})"))
}

/// Sends a one-way text message from the host (as [`Handle::SYSTEM`]).
#[track_caller]
fn tell(runtime: &Runtime, to: Handle, text: &'static str) {
    runtime
        .node()
        .send(Handle::SYSTEM, to, ptype::TEXT, 0, Payload::from(text))
        .unwrap_or_else(|e| panic!("telling {to} {text:?}: {e}"));
}

fn is_text(message: &Message, text: &str) -> bool {
    message.ptype == ptype::TEXT && message.payload.bytes() == text.as_bytes()
}

#[track_caller]
fn number(message: &Message) -> u64 {
    let bytes: [u8; 8] = message
        .payload
        .bytes()
        .try_into()
        .unwrap_or_else(|_| panic!("expected an 8-byte number, got {message:?}"));
    u64::from_le_bytes(bytes)
}

fn number_payload(n: u64) -> Payload {
    Payload::Bytes(Bytes::copy_from_slice(&n.to_le_bytes()))
}

/// A service that forwards every message it handles to the test.
struct Probe {
    tx: Sender<Message>,
}

impl Service for Probe {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        let _ = self.tx.send(message);
    }
}

#[track_caller]
fn launch_probe(runtime: &Runtime, label: &str) -> (Handle, Receiver<Message>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = runtime
        .launch(Box::new(Probe { tx }), label)
        .unwrap_or_else(|e| panic!("launch {label}: {e}"));
    (handle, rx)
}

/// Checks that `runtime` still runs services: a new probe gets a message.
#[track_caller]
fn assert_runtime_serves(runtime: &Runtime, context: &str) {
    let (probe, rx) = launch_probe(runtime, "liveness probe");
    tell(runtime, probe, "still there?");
    let got = recv(&rx, &format!("{context}: a message to a fresh probe"));
    assert!(is_text(&got, "still there?"), "{context}: got {got:?}");
}

/// What a [`Caller`] reports.
#[derive(Debug)]
enum Seen {
    /// It sent a message with this session; `send` returned this.
    Sent {
        by: Handle,
        session: i32,
        result: Result<(), SendError>,
    },
    /// It handled this message.
    Got { by: Handle, message: Message },
}

/// A service that, told "request N" by the host, sends N requests (fresh
/// sessions) to `target`; told "oneway", sends one one-way message. It reports
/// each send and forwards everything else it handles.
struct Caller {
    target: Handle,
    tx: Sender<Seen>,
}

impl Service for Caller {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        let by = ctx.handle();
        if message.source == Handle::SYSTEM && message.ptype == ptype::TEXT {
            let text = String::from_utf8_lossy(message.payload.bytes()).into_owned();
            if let Some(n) = text.strip_prefix("request ") {
                let n: usize = n.parse().expect("request count");
                for _ in 0..n {
                    let session = ctx.new_session();
                    let result = ctx.send(self.target, ptype::TEXT, session, "request");
                    let _ = self.tx.send(Seen::Sent {
                        by,
                        session,
                        result,
                    });
                }
                return;
            }
            if text == "oneway" {
                let result = ctx.send(self.target, ptype::TEXT, 0, "one-way");
                let _ = self.tx.send(Seen::Sent {
                    by,
                    session: 0,
                    result,
                });
                return;
            }
        }
        let _ = self.tx.send(Seen::Got { by, message });
    }
}

#[track_caller]
fn launch_caller(runtime: &Runtime, target: Handle, tx: Sender<Seen>) -> Handle {
    runtime
        .launch(Box::new(Caller { target, tx }), "caller")
        .unwrap_or_else(|e| panic!("launch a caller: {e}"))
}

// ---------------------------------------------------------------------------
// 1. Ordering
// ---------------------------------------------------------------------------

/// Sends `count` numbered one-way messages to `to` when told "go".
struct Sequencer {
    to: Handle,
    count: u64,
}

impl Service for Sequencer {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if is_text(&message, "go") {
            for seq in 0..self.count {
                ctx.send(self.to, ptype::TEXT, 0, number_payload(seq))
                    .expect("the receiver is alive");
            }
        }
    }
}

/// Checks that numbered messages from each source arrive as 0, 1, 2, ...;
/// reports the outcome after `expected` messages in total.
struct SequenceChecker {
    next: HashMap<Handle, u64>,
    received: u64,
    expected: u64,
    first_error: Option<String>,
    done: Sender<Result<u64, String>>,
}

impl Service for SequenceChecker {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        let seq = number(&message);
        let next = self.next.entry(message.source).or_insert(0);
        if seq != *next && self.first_error.is_none() {
            self.first_error = Some(format!(
                "from {}: expected message {} but got {seq} (after {} in total)",
                message.source, *next, self.received
            ));
        }
        *next = seq + 1;
        self.received += 1;
        if self.received == self.expected {
            let _ = self.done.send(match self.first_error.take() {
                Some(e) => Err(e),
                None => Ok(self.received),
            });
        }
    }
}

#[test]
fn messages_from_one_sender_arrive_in_order() {
    const COUNT: u64 = 10_000;
    let rt = runtime(2);
    let (done, outcome) = crossbeam_channel::unbounded();
    let b = rt
        .launch(
            Box::new(SequenceChecker {
                next: HashMap::new(),
                received: 0,
                expected: COUNT,
                first_error: None,
                done,
            }),
            "checker B",
        )
        .expect("launch B");
    let a = rt
        .launch(
            Box::new(Sequencer {
                to: b,
                count: COUNT,
            }),
            "sender A",
        )
        .expect("launch A");
    tell(&rt, a, "go");
    let result = recv(&outcome, "B to receive all 10,000 messages from A");
    assert_eq!(result, Ok(COUNT), "messages from A arrived out of order");
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 2. Request/response with sessions
// ---------------------------------------------------------------------------

/// Answers every request with a response carrying the same session and the
/// request's number plus one.
struct Ponger;

impl Service for Ponger {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if message.session != 0 && message.ptype == ptype::TEXT {
            let n = number(&message);
            ctx.send(
                message.source,
                ptype::RESPONSE,
                message.session,
                number_payload(n + 1),
            )
            .expect("the requester is alive");
        }
    }
}

/// Makes `rounds` requests to `server`, one at a time, checking each response.
struct Pinger {
    server: Handle,
    rounds: u64,
    sent: u64,
    pending: Option<(i32, u64)>,
    sessions: BTreeSet<i32>,
    done: Sender<Result<u64, String>>,
}

impl Pinger {
    fn ping(&mut self, ctx: &mut Context<'_>) {
        let session = ctx.new_session();
        if session <= 0 || !self.sessions.insert(session) {
            let _ = self
                .done
                .send(Err(format!("new_session gave {session} twice or not > 0")));
            return;
        }
        self.pending = Some((session, self.sent));
        ctx.send(self.server, ptype::TEXT, session, number_payload(self.sent))
            .expect("the server is alive");
        self.sent += 1;
    }

    fn check(&self, message: &Message) -> Result<(), String> {
        let (session, n) = self
            .pending
            .ok_or_else(|| format!("a response with nothing pending: {message:?}"))?;
        if message.ptype != ptype::RESPONSE
            || message.source != self.server
            || message.session != session
            || number(message) != n + 1
        {
            return Err(format!(
                "request {n} (session {session}) got a mismatched answer: {message:?}"
            ));
        }
        Ok(())
    }
}

impl Service for Pinger {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if is_text(&message, "go") {
            self.ping(ctx);
            return;
        }
        if let Err(e) = self.check(&message) {
            let _ = self.done.send(Err(e));
            return;
        }
        self.pending = None;
        if self.sent == self.rounds {
            let _ = self.done.send(Ok(self.sent));
        } else {
            self.ping(ctx);
        }
    }
}

#[test]
fn ping_pong_with_sessions_matches_every_response_to_its_request() {
    const ROUNDS: u64 = 10_000;
    let rt = runtime(2);
    let server = rt
        .launch(Box::new(Ponger), "ponger")
        .expect("launch ponger");
    let (done, outcome) = crossbeam_channel::unbounded();
    let client = rt
        .launch(
            Box::new(Pinger {
                server,
                rounds: ROUNDS,
                sent: 0,
                pending: None,
                sessions: BTreeSet::new(),
                done,
            }),
            "pinger",
        )
        .expect("launch pinger");
    tell(&rt, client, "go");
    let result = recv(&outcome, "10,000 ping-pong round trips");
    assert_eq!(result, Ok(ROUNDS));
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 3. A request to a service that never existed
// ---------------------------------------------------------------------------

#[test]
fn request_to_a_handle_that_never_existed_gets_an_error_response() {
    let rt = runtime(2);
    let nobody = Handle::from_raw(0x00ab_cdef);
    assert!(!rt.node().is_alive(nobody));
    let (tx, seen) = crossbeam_channel::unbounded();
    let caller = launch_caller(&rt, nobody, tx);

    // A one-way message is refused too, but nobody is owed an answer.
    tell(&rt, caller, "oneway");
    match recv(&seen, "the one-way send's result") {
        Seen::Sent {
            session: 0, result, ..
        } => assert_eq!(result, Err(SendError::Dead(nobody))),
        other => panic!("expected the one-way send's result, got {other:?}"),
    }

    tell(&rt, caller, "request 1");
    let session = match recv(&seen, "the request's send result") {
        Seen::Sent {
            session, result, ..
        } => {
            assert_eq!(result, Err(SendError::Dead(nobody)), "send must return Err");
            session
        }
        other => panic!("expected the request's send result, got {other:?}"),
    };
    assert_ne!(session, 0);
    // The bounce is queued during `send`, so it is the first message the caller
    // handles: had the one-way message bounced too, it would come first.
    match recv(&seen, "the ERROR response to the request") {
        Seen::Got { by, message } => {
            assert_eq!(by, caller);
            assert_eq!(message.ptype, ptype::ERROR, "got {message:?}");
            assert_eq!(message.session, session, "got {message:?}");
            assert_eq!(message.source, nobody, "got {message:?}");
        }
        other => panic!("expected the ERROR response, got {other:?}"),
    }

    // The host gets Err as well.
    assert_eq!(
        rt.node()
            .send(caller, nobody, ptype::TEXT, 99, Payload::from("x")),
        Err(SendError::Dead(nobody))
    );
    match recv(&seen, "the ERROR response to the host's request") {
        Seen::Got { message, .. } => {
            assert_eq!((message.ptype, message.session), (ptype::ERROR, 99));
        }
        other => panic!("expected an ERROR response, got {other:?}"),
    }
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 4. Exit with requests queued
// ---------------------------------------------------------------------------

/// Told "stall", reports that it is stalled, waits for the gate, then exits.
/// Reports any other message it handles (it should handle none).
struct Staller {
    gate: Receiver<()>,
    tx: Sender<String>,
}

impl Service for Staller {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if is_text(&message, "stall") {
            let _ = self.tx.send("stalled".into());
            if self.gate.recv_timeout(WAIT).is_err() {
                let _ = self.tx.send("the gate never opened".into());
            }
            ctx.exit();
            return;
        }
        let _ = self.tx.send(format!("handled {message:?}"));
    }
}

#[test]
fn exit_with_queued_requests_answers_each_with_an_error() {
    const CALLERS: usize = 3;
    const REQUESTS: usize = 20;
    let rt = runtime(2);
    let (open, gate) = crossbeam_channel::bounded(1);
    let (staller_tx, staller_rx) = crossbeam_channel::unbounded();
    let target = rt
        .launch(
            Box::new(Staller {
                gate,
                tx: staller_tx,
            }),
            "staller",
        )
        .expect("launch the staller");
    tell(&rt, target, "stall");
    assert_eq!(recv(&staller_rx, "the target to stall"), "stalled");

    let (tx, seen) = crossbeam_channel::unbounded();
    let callers: Vec<Handle> = (0..CALLERS)
        .map(|_| launch_caller(&rt, target, tx.clone()))
        .collect();
    for &caller in &callers {
        tell(&rt, caller, "request 20");
    }
    // Every request is queued behind "stall" before the target moves on.
    let mut pending: HashMap<Handle, BTreeSet<i32>> = HashMap::new();
    for _ in 0..CALLERS * REQUESTS {
        match recv(&seen, "the callers' send results") {
            Seen::Sent {
                by,
                session,
                result,
            } => {
                assert_eq!(result, Ok(()), "the target is alive while stalled");
                assert!(pending.entry(by).or_default().insert(session));
            }
            other => panic!("expected send results, got {other:?}"),
        }
    }
    assert_eq!(rt.node().mailbox_len(target), Some(CALLERS * REQUESTS));

    open.send(()).expect("open the gate");
    for _ in 0..CALLERS * REQUESTS {
        match recv(&seen, "an ERROR response for each queued request") {
            Seen::Got { by, message } => {
                assert_eq!(message.ptype, ptype::ERROR, "got {message:?}");
                assert_eq!(message.source, target, "got {message:?}");
                let sessions = pending.get_mut(&by).expect("a known caller");
                assert!(
                    sessions.remove(&message.session),
                    "{by}: unexpected or repeated session in {message:?}"
                );
            }
            other => panic!("expected ERROR responses, got {other:?}"),
        }
    }
    assert!(pending.values().all(BTreeSet::is_empty), "{pending:?}");
    assert!(
        staller_rx.try_recv().is_err(),
        "the exiting target must handle nothing after exit"
    );

    // Later requests are refused, and still answered.
    assert!(!rt.node().is_alive(target), "the target has exited");
    tell(&rt, callers[0], "request 1");
    let session = match recv(&seen, "a later request's send result") {
        Seen::Sent {
            session, result, ..
        } => {
            assert_eq!(result, Err(SendError::Dead(target)));
            session
        }
        other => panic!("expected a send result, got {other:?}"),
    };
    match recv(&seen, "the ERROR response to a later request") {
        Seen::Got { message, .. } => {
            assert_eq!((message.ptype, message.session), (ptype::ERROR, session));
        }
        other => panic!("expected an ERROR response, got {other:?}"),
    }
    assert_eq!(
        rt.node().send(
            Handle::SYSTEM,
            target,
            ptype::TEXT,
            0,
            Payload::from("late")
        ),
        Err(SendError::Dead(target))
    );
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 5. Timeouts
// ---------------------------------------------------------------------------

/// Told "go", sets timeouts of 30, 10, 20 and 0 cs, and reports each expiry with
/// the node's clock when it was handled.
struct Timers {
    sessions: Sender<Vec<(u32, i32)>>,
    fired: Sender<(Message, u64, Instant)>,
}

impl Service for Timers {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if is_text(&message, "go") {
            let mut set = Vec::new();
            for centis in [30, 10, 20, 0] {
                let session = ctx.new_session();
                ctx.timeout(centis, session);
                set.push((centis, session));
            }
            let _ = self.sessions.send(set);
            return;
        }
        let _ = self.fired.send((message, ctx.node().now(), Instant::now()));
    }
}

#[test]
fn timeouts_fire_in_order_of_expiry() {
    let rt = runtime(2);
    let (sessions_tx, sessions_rx) = crossbeam_channel::unbounded();
    let (fired_tx, fired) = crossbeam_channel::unbounded();
    let service = rt
        .launch(
            Box::new(Timers {
                sessions: sessions_tx,
                fired: fired_tx,
            }),
            "timers",
        )
        .expect("launch the timer service");
    let t0 = rt.node().now();
    let begun = Instant::now();
    tell(&rt, service, "go");
    let mut set = recv(&sessions_rx, "the timeout sessions");
    set.sort();
    let sessions: BTreeSet<i32> = set.iter().map(|&(_, s)| s).collect();
    assert_eq!(sessions.len(), 4, "sessions must be distinct: {set:?}");

    for &(centis, session) in &set {
        let (message, now, at) = recv(&fired, &format!("the {centis} cs timeout"));
        assert_eq!(
            (message.ptype, message.session, message.source),
            (ptype::RESPONSE, session, Handle::SYSTEM),
            "expected the {centis} cs timeout (session {session}) next, got {message:?}"
        );
        assert_eq!(message.payload, Payload::Empty);
        assert!(
            now >= t0 + u64::from(centis),
            "the {centis} cs timeout fired at now() = {now}, started at {t0}"
        );
        // now() counts whole centiseconds, so real time may be up to 1 cs short.
        let least = Duration::from_millis(u64::from(centis.saturating_sub(1)) * 10);
        assert!(
            at.duration_since(begun) >= least,
            "the {centis} cs timeout fired after only {:?}",
            at.duration_since(begun)
        );
    }
    assert!(rt.node().now() >= t0 + 30);
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 6. Failing start functions
// ---------------------------------------------------------------------------

/// A start function that fails (or panics), after telling the test its handle.
struct FailingStart {
    handle_tx: Sender<Handle>,
    panic: bool,
}

impl Service for FailingStart {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        let _ = self.handle_tx.send(ctx.handle());
        if self.panic {
            panic!("deliberate panic in start");
        }
        Err("deliberate start failure: no such config".into())
    }

    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        panic!("a service whose start failed handled {message:?}");
    }
}

#[test]
fn failing_start_makes_launch_fail_and_leaves_no_service() {
    let rt = runtime(2);
    // Repeated: the service must already be gone when `launch` returns, not a
    // moment later.
    for round in 0..50 {
        for panic in [false, true] {
            let (handle_tx, handle_rx) = crossbeam_channel::unbounded();
            let result = rt.launch(Box::new(FailingStart { handle_tx, panic }), "failing");
            let expected = if panic {
                "deliberate panic in start"
            } else {
                "deliberate start failure: no such config"
            };
            match &result {
                Err(e) => assert!(e.contains(expected), "round {round}: error {e:?}"),
                Ok(h) => panic!("round {round}: launch of a failing start gave {h}"),
            }
            let handle = recv(&handle_rx, "the failing service's handle");
            assert!(
                !rt.node().is_alive(handle),
                "round {round} (panic: {panic}): {handle} is still alive after launch returned Err"
            );
            assert_eq!(
                rt.node()
                    .send(Handle::SYSTEM, handle, ptype::TEXT, 0, Payload::from("hi")),
                Err(SendError::Dead(handle)),
                "round {round}: a send to the failed service must be refused"
            );
        }
    }
    assert_eq!(rt.node().service_count(), 0);
    assert_runtime_serves(&rt, "after failed starts");
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 7. Handler panics
// ---------------------------------------------------------------------------

/// Panics on "panic"; otherwise reports how many messages it has handled.
struct Fragile {
    handled: u64,
    tx: Sender<u64>,
}

impl Service for Fragile {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        self.handled += 1;
        if is_text(&message, "panic") {
            panic!("deliberate handler panic (message {})", self.handled);
        }
        let _ = self.tx.send(self.handled);
    }
}

#[test]
fn handler_panic_is_logged_and_the_service_lives_on() {
    capture_logs();
    let rt = runtime(2);
    let (tx, rx) = crossbeam_channel::unbounded();
    let fragile = rt
        .launch(Box::new(Fragile { handled: 0, tx }), "fragile")
        .expect("launch");
    tell(&rt, fragile, "panic");
    tell(&rt, fragile, "after");
    assert_eq!(
        recv(&rx, "the message after the panic"),
        2,
        "the service (and its state) survives the panic"
    );
    assert!(rt.node().is_alive(fragile));
    // The log line is written before the worker moves on to the next message.
    let lines = log_lines_with(&[&fragile.to_string(), "deliberate handler panic (message 1)"]);
    assert_eq!(
        lines.len(),
        1,
        "expected one log line for the panic: {lines:?}"
    );
    assert!(
        lines[0].contains("ERROR"),
        "logged as an error: {}",
        lines[0]
    );

    tell(&rt, fragile, "panic");
    tell(&rt, fragile, "again");
    assert_eq!(recv(&rx, "the message after a second panic"), 4);
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 8. One worker per service
// ---------------------------------------------------------------------------

/// Counts how many workers are inside its handler at once.
struct Exclusive {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    next: HashMap<Handle, u64>,
    received: u64,
    expected: u64,
    disorder: Option<String>,
    done: Sender<(u64, Option<String>)>,
}

impl Service for Exclusive {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        let inside = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(inside, Ordering::SeqCst);
        // A little work, so that overlapping runs would overlap here.
        let mut x = number(&message);
        for _ in 0..200 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        std::hint::black_box(x);
        let seq = number(&message);
        let next = self.next.entry(message.source).or_insert(0);
        if seq != *next && self.disorder.is_none() {
            self.disorder = Some(format!(
                "from {}: expected {} got {seq}",
                message.source, *next
            ));
        }
        *next = seq + 1;
        self.received += 1;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.received == self.expected {
            let _ = self.done.send((self.received, self.disorder.take()));
        }
    }
}

#[test]
fn service_never_runs_on_two_workers_at_once() {
    const SENDERS: u64 = 4;
    const EACH: u64 = 5_000;
    let rt = runtime(4);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (done, outcome) = crossbeam_channel::unbounded();
    let target = rt
        .launch(
            Box::new(Exclusive {
                in_flight: in_flight.clone(),
                most: most.clone(),
                next: HashMap::new(),
                received: 0,
                expected: SENDERS * EACH,
                disorder: None,
                done,
            }),
            "target",
        )
        .expect("launch the target");
    let senders: Vec<Handle> = (0..SENDERS)
        .map(|_| {
            rt.launch(
                Box::new(Sequencer {
                    to: target,
                    count: EACH,
                }),
                "sender",
            )
            .expect("launch a sender")
        })
        .collect();
    for &sender in &senders {
        tell(&rt, sender, "go");
    }
    let (received, disorder) = recv(&outcome, "all 20,000 messages at the target");
    assert_eq!(received, SENDERS * EACH);
    assert_eq!(disorder, None, "per-sender order must hold");
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "the target ran on more than one worker at once"
    );
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 9. Names
// ---------------------------------------------------------------------------

/// Registers ".y" for itself in start; exits when told "exit".
struct Named;

impl Service for Named {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        ctx.node().register_name(".y", ctx.handle());
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if is_text(&message, "exit") {
            ctx.exit();
        }
    }
}

#[test]
fn names_resolve_to_their_service_and_go_when_it_exits() {
    let rt = runtime(2);
    let node = rt.node();
    assert_eq!(node.query_name(".x"), None);
    let named = rt.launch(Box::new(Named), "named").expect("launch");
    node.register_name(".x", named);
    assert_eq!(node.query_name(".x"), Some(named));
    assert_eq!(node.query_name(".y"), Some(named), "named in its own start");
    let mut names = node.names();
    names.sort();
    assert_eq!(names, vec![(".x".into(), named), (".y".into(), named)]);

    tell(&rt, named, "exit");
    assert!(
        node.wait_until_empty(WAIT),
        "timed out waiting for the named service to exit"
    );
    assert!(!node.is_alive(named));
    assert_eq!(node.query_name(".x"), None, "the name outlived its service");
    assert_eq!(node.query_name(".y"), None, "the name outlived its service");
    assert!(node.names().is_empty(), "{:?}", node.names());
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 10. The monitor
// ---------------------------------------------------------------------------

/// Told "loop", spins until interrupted (or 10 s pass), with `looping` set
/// meanwhile, then reports whether the interrupt ended it and how long it took.
/// Told anything else, reports it.
struct Spinner {
    looping: Arc<AtomicBool>,
    tx: Sender<String>,
    ended: Sender<(bool, Duration)>,
}

impl Service for Spinner {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if is_text(&message, "loop") {
            self.looping.store(true, Ordering::SeqCst);
            let _ = self.tx.send("looping".into());
            let begun = Instant::now();
            let mut interrupted = false;
            while begun.elapsed() < WAIT {
                if ctx.is_interrupted() {
                    interrupted = true;
                    break;
                }
                std::hint::spin_loop();
            }
            self.looping.store(false, Ordering::SeqCst);
            let _ = self.ended.send((interrupted, begun.elapsed()));
            return;
        }
        let _ = self.tx.send(format!(
            "handled {} (interrupted: {})",
            String::from_utf8_lossy(message.payload.bytes()),
            ctx.is_interrupted()
        ));
    }
}

/// Answers "ping" with whether the spinner was looping at that moment.
struct Witness {
    looping: Arc<AtomicBool>,
    tx: Sender<bool>,
}

impl Service for Witness {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        if is_text(&message, "ping") {
            let _ = self.tx.send(self.looping.load(Ordering::SeqCst));
        }
    }
}

#[test]
fn monitor_interrupts_a_stuck_service_while_others_keep_running() {
    capture_logs();
    let rt = Runtime::start(RuntimeConfig {
        threads: 2,
        monitor: MonitorConfig {
            check_every: Duration::from_millis(50),
            warn_after: Duration::from_millis(200),
            interrupt_after: Some(Duration::from_millis(400)),
        },
        ..RuntimeConfig::default()
    })
    .expect("start the runtime");
    let looping = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::unbounded();
    let (ended_tx, ended) = crossbeam_channel::unbounded();
    let spinner = rt
        .launch(
            Box::new(Spinner {
                looping: looping.clone(),
                tx,
                ended: ended_tx,
            }),
            "spinner",
        )
        .expect("launch the spinner");
    let (pong_tx, pong) = crossbeam_channel::unbounded();
    let witness = rt
        .launch(
            Box::new(Witness {
                looping: looping.clone(),
                tx: pong_tx,
            }),
            "witness",
        )
        .expect("launch the witness");

    assert!(!rt.node().take_endless(spinner), "not stuck yet");
    tell(&rt, spinner, "loop");
    assert_eq!(recv(&rx, "the spinner to start looping"), "looping");
    tell(&rt, witness, "ping");
    assert!(
        recv(&pong, "the witness's answer while the spinner is stuck"),
        "the witness answered, but only after the spinner had stopped"
    );

    let (interrupted, took) = recv(&ended, "the monitor to interrupt the spinner");
    assert!(
        interrupted,
        "the spinner ran {took:?} without being interrupted"
    );
    assert!(
        took >= Duration::from_millis(400),
        "interrupted after only {took:?}, before interrupt_after"
    );
    assert!(rt.node().take_endless(spinner), "endless is reported once");
    assert!(!rt.node().take_endless(spinner), "then cleared");
    let lines = log_lines_with(&[&spinner.to_string(), "endless loop"]);
    assert!(
        !lines.is_empty(),
        "the stuck service is logged with its handle"
    );

    // It lives on, and its next message is not interrupted.
    tell(&rt, spinner, "next");
    assert_eq!(
        recv(&rx, "the spinner's next message"),
        "handled next (interrupted: false)"
    );
    rt.shutdown();
}

// ---------------------------------------------------------------------------
// 11. Socket events as messages
// ---------------------------------------------------------------------------

/// Listens in its start function, starts every accepted socket for itself,
/// echoes data back, and forwards every message to the test.
struct SocketOwner {
    addr_tx: Sender<(u32, SocketAddr)>,
    tx: Sender<Message>,
}

impl Service for SocketOwner {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        let owner = ctx.handle().get();
        let sockets = ctx.node().sockets();
        let (id, addr) = sockets
            .listen(owner, "127.0.0.1", 0, 64)
            .map_err(|e| e.to_string())?;
        sockets.start(owner, id);
        let _ = self.addr_tx.send((id.get(), addr));
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        let sockets = ctx.node().sockets();
        match &message.payload {
            Payload::Socket(Event::Accept { id, .. }) => sockets.start(ctx.handle().get(), *id),
            Payload::Socket(Event::Data { id, data }) => {
                let _ = sockets.send(*id, data.clone());
            }
            _ => {}
        }
        let _ = self.tx.send(message);
    }
}

#[track_caller]
fn socket_event(message: Message, what: &str) -> Event {
    assert_eq!(
        (message.ptype, message.session, message.source),
        (ptype::SOCKET, 0, Handle::SYSTEM),
        "{what}: not a socket message: {message:?}"
    );
    match message.payload {
        Payload::Socket(event) => event,
        other => panic!("{what}: a socket message without a socket event: {other:?}"),
    }
}

#[test]
fn socket_events_reach_their_owner_as_socket_messages() {
    let rt = runtime(2);
    let (addr_tx, addr_rx) = crossbeam_channel::unbounded();
    let (tx, rx) = crossbeam_channel::unbounded();
    rt.launch(Box::new(SocketOwner { addr_tx, tx }), "socket owner")
        .expect("launch the socket owner");
    let (listener, addr) = recv(&addr_rx, "the listener's address");

    match socket_event(recv(&rx, "the listener's Connect"), "listener") {
        Event::Connect { id, addr: bound } => {
            assert_eq!(id.get(), listener);
            assert_eq!(bound, Some(addr));
        }
        other => panic!("expected the listener's Connect, got {other:?}"),
    }

    let mut client = TcpStream::connect(addr).expect("connect to the service");
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.set_write_timeout(Some(WAIT)).unwrap();
    client.write_all(b"hi").expect("write hi");

    let conn = match socket_event(recv(&rx, "an Accept"), "accept") {
        Event::Accept {
            listener: l,
            id,
            peer,
        } => {
            assert_eq!(l.get(), listener);
            assert_eq!(peer, client.local_addr().unwrap());
            id
        }
        other => panic!("expected Accept, got {other:?}"),
    };
    match socket_event(recv(&rx, "the accepted socket's Connect"), "start") {
        Event::Connect { id, .. } => assert_eq!(id, conn),
        other => panic!("expected Connect for {conn:?}, got {other:?}"),
    }
    let mut data = Vec::new();
    while data.len() < 2 {
        match socket_event(recv(&rx, "Data \"hi\""), "data") {
            Event::Data { id, data: bytes } => {
                assert_eq!(id, conn);
                data.extend_from_slice(&bytes);
            }
            other => panic!("expected Data, got {other:?}"),
        }
    }
    assert_eq!(data, b"hi");

    let mut echoed = [0u8; 2];
    client
        .read_exact(&mut echoed)
        .expect("read the service's echo");
    assert_eq!(&echoed, b"hi");

    drop(client);
    match socket_event(recv(&rx, "Close after the client left"), "close") {
        Event::Close { id } => assert_eq!(id, conn),
        other => panic!("expected Close, got {other:?}"),
    }
    rt.shutdown();
}
