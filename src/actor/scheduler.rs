//! The global run queue and the worker threads that run services.
//!
//! A service is on the run queue at most once (see `mailbox.rs`). A worker takes
//! one, runs its start function if it has not run yet, then handles up to
//! [`BATCH`] messages, and puts it back if more are waiting. Idle workers sleep on
//! a condition variable.
//!
//! Waking a sleeping worker costs a futex round trip and a context switch, so a
//! worker that makes a service runnable wakes a peer only when there is more work
//! queued than it will take itself, or when the message it is handling has run
//! for a while ([`LONG_MESSAGE`]): in a request/response ping-pong the same worker
//! simply runs the other side next, while a long loop of sends gets its
//! receiver running on another worker. Pushes from other
//! threads (socket, timer, host) always wake a sleeper, and the timer thread nudges
//! one on each tick while work is queued, so a worker busy with a long message
//! delays other services by at most one tick (2.5 ms).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::message::{ptype, Message, Payload};
use super::monitor::Probe;
use super::node::Node;
use super::registry::{Cell, StartNotice};
use super::service::Context;

/// How long a worker's current message must have run before a service it makes
/// runnable is worth waking another worker for.
pub const LONG_MESSAGE: Duration = Duration::from_micros(50);

/// Messages a worker handles for one service before giving others a turn.
pub const BATCH: usize = 32;

#[derive(Default)]
struct Inner {
    queue: VecDeque<Arc<Cell>>,
    sleeping: usize,
    closed: bool,
}

/// Services with messages waiting, in the order they became runnable.
#[derive(Default)]
pub(crate) struct RunQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
}

impl RunQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, cell: Arc<Cell>) {
        let mut inner = self.lock();
        inner.queue.push_back(cell);
        let worth_waking = !ON_WORKER.get()
            || inner.queue.len() > 1
            || MESSAGE_START
                .get()
                .is_some_and(|begun| begun.elapsed() >= LONG_MESSAGE);
        if inner.sleeping > 0 && worth_waking {
            self.ready.notify_one();
        }
    }

    /// Wakes a sleeping worker if work is waiting (called on every timer tick).
    pub(crate) fn nudge(&self) {
        let inner = self.lock();
        if inner.sleeping > 0 && !inner.queue.is_empty() {
            self.ready.notify_one();
        }
    }

    /// The next runnable service; `None` once the queue is closed.
    fn pop(&self) -> Option<Arc<Cell>> {
        let mut inner = self.lock();
        loop {
            if inner.closed {
                return None;
            }
            if let Some(cell) = inner.queue.pop_front() {
                return Some(cell);
            }
            inner.sleeping += 1;
            inner = self.ready.wait(inner).unwrap_or_else(|p| p.into_inner());
            inner.sleeping -= 1;
        }
    }

    /// Wakes every worker and makes them stop.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

thread_local! {
    /// Whether this thread is a worker (see `RunQueue::push`).
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// When the message this worker is handling began.
    static MESSAGE_START: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// A worker thread's loop.
pub(crate) fn work(node: Arc<Node>, probe: Arc<Probe>) {
    ON_WORKER.set(true);
    while let Some(cell) = node.router.queue.pop() {
        run(&node, &cell, &probe);
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// Runs one service for a batch.
fn run(node: &Arc<Node>, cell: &Arc<Cell>, probe: &Probe) {
    let mut slot = cell.service.lock().unwrap_or_else(|p| p.into_inner());
    let Some(service) = slot.as_mut() else {
        return; // retired meanwhile
    };
    // Left before the service's lock is released on every path below: once it
    // is, another worker may take the service and enter its own.
    let running = cell.runner.enter();
    let mut ctx = Context { node, cell };
    let notice = cell.start.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(notice) = notice {
        probe.enter(cell.handle);
        let started = catch_unwind(AssertUnwindSafe(|| service.start(&mut ctx)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&*p))));
        probe.leave();
        if let Err(e) = &started {
            tracing::error!(
                "service {} ({}) failed to start: {e}",
                cell.handle,
                cell.label
            );
            // Gone before the launcher hears of it: nobody can reach a service
            // whose start was reported failed.
            cell.exiting.store(true, Ordering::Relaxed);
            let service = slot.take();
            drop(running);
            drop(slot);
            node.router.retire(cell.handle);
            drop(service);
            report_start(node, cell, notice, started);
            node.retired(cell.handle);
            return;
        }
        report_start(node, cell, notice, started);
    }
    // One clock read per message: a message's end is the next one's start.
    let mut begun = Instant::now();
    for _ in 0..BATCH {
        if cell.exiting.load(Ordering::Relaxed) {
            break;
        }
        let Some(message) = cell.mailbox.pop() else {
            break;
        };
        probe.enter(cell.handle);
        MESSAGE_START.set(Some(begun));
        let result = catch_unwind(AssertUnwindSafe(|| service.handle(&mut ctx, message)));
        let ended = Instant::now();
        cell.busy_ns.fetch_add(
            ended.saturating_duration_since(begun).as_nanos() as u64,
            Ordering::Relaxed,
        );
        begun = ended;
        cell.handled.fetch_add(1, Ordering::Relaxed);
        MESSAGE_START.set(None);
        probe.leave();
        // After leaving, so the monitor cannot raise it again for this message.
        cell.interrupt.store(false, Ordering::Relaxed);
        if let Err(p) = result {
            tracing::error!(
                "service {} ({}): handler panicked: {}",
                cell.handle,
                cell.label,
                panic_text(&*p)
            );
        }
    }
    if cell.exiting.load(Ordering::Relaxed) {
        probe.enter(cell.handle);
        let stopped = catch_unwind(AssertUnwindSafe(|| service.stop(&mut ctx)));
        probe.leave();
        cell.interrupt.store(false, Ordering::Relaxed);
        if let Err(p) = stopped {
            tracing::error!(
                "service {} ({}): stop panicked: {}",
                cell.handle,
                cell.label,
                panic_text(&*p)
            );
        }
        let service = slot.take();
        drop(running);
        drop(slot);
        node.router.retire(cell.handle);
        drop(service);
        node.retired(cell.handle);
        return;
    }
    drop(running);
    drop(slot);
    if cell.mailbox.has_more() {
        node.router.queue.push(cell.clone());
    }
}

fn report_start(node: &Node, cell: &Cell, notice: StartNotice, started: Result<(), String>) {
    match notice {
        StartNotice::None => {}
        StartNotice::Reply(to, session) => {
            let (ptype, payload) = match started {
                Ok(()) => (ptype::RESPONSE, Payload::Empty),
                Err(e) => (ptype::ERROR, Payload::from(e)),
            };
            let _ = node.router.send(
                to,
                Message {
                    source: cell.handle,
                    session,
                    ptype,
                    payload,
                },
            );
        }
        StartNotice::Channel(tx) => {
            let _ = tx.send(started.map(|()| cell.handle));
        }
    }
}
