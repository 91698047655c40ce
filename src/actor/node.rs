//! A node: the shared state every service, thread and host call goes through.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

use super::handle::Handle;
use super::message::{ptype, Message, Payload};
use super::registry::{Router, SendError, StartNotice};
use super::service::Service;
use super::timer::Timer;
use crate::socket::SocketHandle;

/// The runtime's shared state: services, names, timers, sockets, environment.
pub struct Node {
    pub(crate) router: Arc<Router>,
    pub(crate) timer: Timer,
    sockets: SocketHandle,
    env: DashMap<String, String>,
    start_time: SystemTime,
    /// Signalled whenever a service is retired (for "run until the last exits").
    retired: (Mutex<u64>, Condvar),
}

impl Node {
    pub(crate) fn new(router: Arc<Router>, sockets: SocketHandle) -> Node {
        Node {
            router,
            timer: Timer::new(),
            sockets,
            env: DashMap::new(),
            start_time: SystemTime::now(),
            retired: (Mutex::new(0), Condvar::new()),
        }
    }

    /// Sends a message from `source` to `to`. A request (session ≠ 0) to a dead
    /// service is answered with an error response to `source`.
    pub fn send(
        &self,
        source: Handle,
        to: Handle,
        ptype: u8,
        session: i32,
        payload: Payload,
    ) -> Result<(), SendError> {
        self.router.send(
            to,
            Message {
                source,
                session,
                ptype,
                payload,
            },
        )
    }

    /// After `centis` hundredths of a second, `to` gets a response with
    /// `session`. 0 means at once (queued behind what is already waiting).
    pub fn timeout(&self, to: Handle, centis: u32, session: i32) {
        if centis == 0 {
            let _ = self.send(Handle::SYSTEM, to, ptype::RESPONSE, session, Payload::Empty);
        } else {
            self.timer.add(to, centis, session);
        }
    }

    /// Hundredths of a second since the node started (skynet.now).
    pub fn now(&self) -> u64 {
        self.timer.now()
    }

    /// When the node started, in seconds since the epoch (skynet.starttime).
    pub fn start_time(&self) -> u64 {
        self.start_time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Launches a service; it runs its start function on a worker.
    pub fn launch(&self, service: Box<dyn Service>, label: &str, notice: StartNotice) -> Handle {
        self.router.spawn(service, label.to_string(), notice)
    }

    /// Removes a service after its current message (at once if idle).
    pub fn kill(&self, handle: Handle) {
        if let Some(cell) = self.router.cell(handle) {
            cell.exiting.store(true, Ordering::Relaxed);
            if cell.mailbox.claim() {
                self.router.queue.push(cell);
            }
        }
    }

    /// Whether `handle` names a live service.
    pub fn is_alive(&self, handle: Handle) -> bool {
        self.router.cell(handle).is_some()
    }

    /// How many services are alive.
    pub fn service_count(&self) -> usize {
        self.router.len()
    }

    /// Gives `handle` the name `name` (skynet's `.name`).
    pub fn register_name(&self, name: &str, handle: Handle) {
        self.router.register(name, handle);
    }

    /// The service named `name`.
    pub fn query_name(&self, name: &str) -> Option<Handle> {
        self.router.query(name)
    }

    /// Every registered name and its service.
    pub fn names(&self) -> Vec<(String, Handle)> {
        self.router.names()
    }

    /// A setting (config keys, and whatever services set).
    pub fn getenv(&self, key: &str) -> Option<String> {
        self.env.get(key).map(|v| v.clone())
    }

    /// Sets a setting.
    pub fn setenv(&self, key: &str, value: &str) {
        self.env.insert(key.to_string(), value.to_string());
    }

    /// The socket layer.
    pub fn sockets(&self) -> &SocketHandle {
        &self.sockets
    }

    /// Messages waiting in `handle`'s mailbox.
    pub fn mailbox_len(&self, handle: Handle) -> Option<usize> {
        self.router.cell(handle).map(|c| c.mailbox.len())
    }

    /// Whether the monitor saw `handle` stuck on one message since last asked
    /// (skynet.stat "endless"); asking clears it.
    pub fn take_endless(&self, handle: Handle) -> bool {
        self.router
            .cell(handle)
            .is_some_and(|c| c.endless.swap(false, Ordering::Relaxed))
    }

    /// Asks `handle` to stop the message it is stuck on (the Lua hook raises an
    /// error in it). Returns whether the service exists.
    pub fn interrupt(&self, handle: Handle) -> bool {
        match self.router.cell(handle) {
            Some(c) => {
                c.interrupt.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    pub(crate) fn retired(&self, handle: Handle) {
        tracing::debug!("service {handle} exited");
        let (count, changed) = &self.retired;
        *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        changed.notify_all();
    }

    /// Blocks until no service is alive, or `timeout` passes. Returns whether
    /// none is alive.
    pub fn wait_until_empty(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (count, changed) = &self.retired;
        let mut guard = count.lock().unwrap_or_else(|p| p.into_inner());
        while self.service_count() > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}
