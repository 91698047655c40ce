//! Starting and stopping runtimes leaves nothing behind: no thread, no file
//! descriptor, no service.
//!
//! This file holds one test so that it runs alone in its own process: the thread
//! and fd counts it reads are the whole process's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use lunet::actor::{ptype, Context, Message, Payload, Service};
use lunet::runtime::{Runtime, RuntimeConfig};
use lunet::socket::Event;

/// How long any single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

#[track_caller]
fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("timed out after {WAIT:?} waiting for {what} ({e})"))
}

fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .count()
}

/// (threads, open fds) of this process.
fn counts() -> (usize, usize) {
    (entries("/proc/self/task"), entries("/proc/self/fd"))
}

/// The counts once they match `baseline`, or what they are after `WAIT`.
///
/// Why a bounded re-read rather than one look: `JoinHandle::join` returns when
/// the kernel clears the thread's tid (CLONE_CHILD_CLEARTID), which happens a
/// little before the exited thread is reaped and leaves `/proc/self/task`. There
/// is nothing to wait on for that last step, so the test re-reads for a while. A
/// real leak never converges and still fails, with the counts it saw.
fn settled(baseline: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = counts();
        if now == baseline || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A small service that uses what a real one does: a listening socket, a timer,
/// and a message to itself. It reports when all three have worked, and when it
/// is dropped.
struct Small {
    ready: Sender<SocketAddr>,
    dropped: Arc<AtomicUsize>,
    addr: Option<SocketAddr>,
    timer_fired: bool,
    echoed: bool,
    connected: bool,
}

impl Small {
    fn maybe_ready(&self) {
        if self.timer_fired && self.echoed && self.connected {
            let _ = self.ready.send(self.addr.expect("listening"));
        }
    }
}

impl Service for Small {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        let owner = ctx.handle().get();
        let (id, addr) = ctx
            .node()
            .sockets()
            .listen(owner, "127.0.0.1", 0, 16)
            .map_err(|e| e.to_string())?;
        ctx.node().sockets().start(owner, id);
        self.addr = Some(addr);
        let session = ctx.new_session();
        ctx.timeout(1, session);
        ctx.send(ctx.handle(), ptype::TEXT, 0, "to myself")
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        match (message.ptype, &message.payload) {
            (ptype::RESPONSE, _) => self.timer_fired = true,
            (ptype::TEXT, _) => self.echoed = true,
            (ptype::SOCKET, Payload::Socket(Event::Connect { .. })) => self.connected = true,
            _ => return,
        }
        self.maybe_ready();
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// One runtime's life: start, launch, wait until the service has used its
/// listener, timer and mailbox, shut down.
fn one_life(round: usize, dropped: &Arc<AtomicUsize>) {
    let rt = Runtime::start(RuntimeConfig {
        threads: 2,
        ..RuntimeConfig::default()
    })
    .unwrap_or_else(|e| panic!("round {round}: start the runtime: {e}"));
    let (ready, ready_rx) = crossbeam_channel::unbounded();
    let before = dropped.load(Ordering::SeqCst);
    rt.launch(
        Box::new(Small {
            ready,
            dropped: dropped.clone(),
            addr: None,
            timer_fired: false,
            echoed: false,
            connected: false,
        }),
        "small",
    )
    .unwrap_or_else(|e| panic!("round {round}: launch: {e}"));
    recv(
        &ready_rx,
        &format!("round {round}: the service's listener, timer and message"),
    );
    rt.shutdown();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        before + 1,
        "round {round}: shutdown returned without dropping the service"
    );
}

#[test]
fn starting_and_stopping_100_runtimes_leaves_threads_and_fds_at_baseline() {
    let dropped = Arc::new(AtomicUsize::new(0));
    // Warm-up: lazily created process-wide state (std's thread bookkeeping,
    // anything the first runtime sets up once) is not a leak.
    // The baseline is the count before it, unless the warm-up left something for
    // good (then that is the baseline).
    let before_warm_up = counts();
    one_life(0, &dropped);
    let baseline = settled(before_warm_up);
    for round in 1..=100 {
        one_life(round, &dropped);
    }
    let after = settled(baseline);
    assert_eq!(
        after, baseline,
        "(threads, fds) after 100 runtimes vs the baseline after one"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 101);
}

/// Interrupting a service that is not running a message leaves it alone: the
/// next message it handles is not hit. (Found in review: the flag stayed up
/// and the next message saw it.)
#[test]
fn interrupting_an_idle_service_does_not_hit_its_next_message() {
    struct Flag;
    impl Service for Flag {
        fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
            let answer = if ctx.is_interrupted() { "hit" } else { "clear" };
            ctx.reply(&m, answer);
        }
    }
    let runtime = Runtime::builder()
        .threads(2)
        .lua_system(false)
        .start()
        .expect("runtime starts");
    let flag = runtime.launch(Box::new(Flag), "flag").expect("starts");
    assert!(!runtime.node().is_running(flag));
    assert!(runtime.node().interrupt(flag), "the service exists");
    let answer = runtime
        .call(flag, ptype::TEXT, "are you interrupted?", WAIT)
        .expect("answered");
    assert_eq!(answer.bytes(), b"clear");
    runtime.shutdown();
}
