//! The handle table: every live service, its name, and message routing.
//!
//! `Router::send` is how every message moves: from services, from the socket
//! thread (socket events), from the timer thread (expiries) and from host threads.
//! It queues the message in the target's mailbox and puts the target on the run
//! queue if it was idle. A message to a service that does not exist, or that has
//! exited or is exiting, is refused; if it was a request (a session and a type other than
//! response/error), the sender gets an error response instead, so a caller never
//! waits forever.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;

use super::handle::Handle;
use super::interrupt::Runner;
use super::mailbox::{Mailbox, Pushed};
use super::message::{ptype, Message, Payload};
use super::scheduler::RunQueue;
use super::service::Service;

/// How a launcher learns that a service's start function finished.
pub enum StartNotice {
    /// Nobody waits.
    None,
    /// Send a response (success) or an error (failure) to this service and session.
    Reply(Handle, i32),
    /// Send the outcome down this channel (host threads).
    Channel(crossbeam_channel::Sender<Result<Handle, String>>),
}

/// A live service: its mailbox, its code, and what the monitor knows of it.
pub(crate) struct Cell {
    pub(crate) handle: Handle,
    pub(crate) mailbox: Mailbox,
    /// The service's code; taken by the worker running it (one at a time).
    pub(crate) service: Mutex<Option<Box<dyn Service>>>,
    /// Set until the start function has run.
    pub(crate) start: Mutex<Option<StartNotice>>,
    session: AtomicI32,
    /// The service asked to exit (or was killed); retired after its current message.
    pub(crate) exiting: AtomicBool,
    /// The monitor saw it stuck on one message (read and cleared by `endless`).
    pub(crate) endless: AtomicBool,
    /// Set to ask a stuck service to stop its current message (checked by the
    /// Lua instruction hook); raised with [`Cell::interrupt`].
    pub(crate) interrupt: Arc<AtomicBool>,
    /// The worker running the service now, to be signalled on an interrupt.
    pub(crate) runner: Runner,
    /// Messages handled.
    pub(crate) handled: AtomicU64,
    /// Nanoseconds spent handling messages.
    pub(crate) busy_ns: AtomicU64,
    /// A short description for logs ("snlua echo", "rust host").
    pub(crate) label: String,
}

impl Cell {
    /// Asks the service to stop the message it is handling (see
    /// `interrupt.rs`); returns whether it was running one.
    pub(crate) fn interrupt(&self) -> bool {
        self.runner.interrupt(&self.interrupt)
    }

    /// The next session number of this service (positive, wrapping to 1).
    pub(crate) fn new_session(&self) -> i32 {
        loop {
            let current = self.session.load(Ordering::Relaxed);
            let next = if current >= i32::MAX - 1 {
                1
            } else {
                current + 1
            };
            if self
                .session
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return next;
            }
        }
    }
}

/// Why a message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such service, or it has exited.
    #[error("service {0} does not exist or has exited")]
    Dead(Handle),
}

/// Every live service, by handle and by name.
pub(crate) struct Router {
    cells: DashMap<u32, Arc<Cell>>,
    names: DashMap<String, Handle>,
    next: AtomicU32,
    pub(crate) queue: RunQueue,
}

/// Handles are 24 bits, as in skynet (the high byte is the harbor, always 0 here).
const HANDLE_MASK: u32 = 0x00ff_ffff;

impl Router {
    pub(crate) fn new() -> Router {
        Router {
            cells: DashMap::new(),
            names: DashMap::new(),
            next: AtomicU32::new(0),
            queue: RunQueue::default(),
        }
    }

    /// Registers a new service and schedules it to run its start function.
    pub(crate) fn spawn(
        &self,
        service: Box<dyn Service>,
        label: String,
        notice: StartNotice,
    ) -> Handle {
        let handle = loop {
            let raw = self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & HANDLE_MASK;
            if raw != 0 && !self.cells.contains_key(&raw) {
                break Handle::from_raw(raw);
            }
        };
        let cell = Arc::new(Cell {
            handle,
            mailbox: Mailbox::default(),
            service: Mutex::new(Some(service)),
            start: Mutex::new(Some(notice)),
            session: AtomicI32::new(0),
            exiting: AtomicBool::new(false),
            endless: AtomicBool::new(false),
            interrupt: Arc::new(AtomicBool::new(false)),
            runner: Runner::default(),
            handled: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            label,
        });
        self.cells.insert(handle.get(), cell.clone());
        if cell.mailbox.claim() {
            self.queue.push(cell);
        }
        handle
    }

    /// The live service `handle` names.
    pub(crate) fn cell(&self, handle: Handle) -> Option<Arc<Cell>> {
        self.cells.get(&handle.get()).map(|c| c.clone())
    }

    /// Every live service.
    pub(crate) fn cells(&self) -> Vec<Arc<Cell>> {
        self.cells.iter().map(|c| c.clone()).collect()
    }

    /// How many services are alive.
    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }

    /// Queues a message. A request to a dead service is answered with an error
    /// response to its source; the call still returns `Err`.
    pub(crate) fn send(&self, to: Handle, message: Message) -> Result<(), SendError> {
        // A service that is exiting (it called exit or was killed) takes no
        // more messages: it is retired once its current message returns, and
        // a sender learns at once, as if it were gone already.
        let refused = match self.cell(to) {
            Some(cell) if cell.exiting.load(Ordering::Relaxed) => message,
            Some(cell) => match cell.mailbox.push(message) {
                (Pushed::Closed(m), _) => m,
                (pushed, overload) => {
                    if let Some(len) = overload {
                        tracing::warn!(
                            "service {to} ({}): mailbox overload, {len} messages queued",
                            cell.label
                        );
                    }
                    if pushed == Pushed::Schedule {
                        self.queue.push(cell);
                    }
                    return Ok(());
                }
            },
            None => message,
        };
        self.bounce(to, refused);
        Err(SendError::Dead(to))
    }

    /// Answers an undeliverable request with an error response to its sender.
    fn bounce(&self, to: Handle, message: Message) {
        let is_request = message.session != 0
            && message.ptype != ptype::RESPONSE
            && message.ptype != ptype::ERROR
            && message.source != Handle::SYSTEM;
        if is_request {
            let error = Message {
                source: to,
                session: message.session,
                ptype: ptype::ERROR,
                payload: Payload::Empty,
            };
            // If the sender is gone too, there is nobody left to tell.
            let _ = self.send(message.source, error);
        }
    }

    /// Removes a service: its name(s) go, its mailbox closes, and every request
    /// still queued is answered with an error.
    pub(crate) fn retire(&self, handle: Handle) {
        // Names first, so no name ever points at a removed service.
        self.names.retain(|_, h| *h != handle);
        let Some((_, cell)) = self.cells.remove(&handle.get()) else {
            return;
        };
        for message in cell.mailbox.close() {
            self.bounce(handle, message);
        }
    }

    /// Names a service (`.name`); replaces an earlier holder of the name.
    pub(crate) fn register(&self, name: &str, handle: Handle) {
        self.names.insert(name.to_string(), handle);
    }

    /// The service registered under `name`.
    pub(crate) fn query(&self, name: &str) -> Option<Handle> {
        self.names.get(name).map(|h| *h)
    }

    /// Every name and its service.
    pub(crate) fn names(&self) -> Vec<(String, Handle)> {
        self.names
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect()
    }
}
