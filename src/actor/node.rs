//! A node: the shared state every service, thread and host call goes through.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    /// Set by [`Node::abort`]: the host should stop the node.
    aborted: AtomicBool,
    /// Why the node was aborted, if it was an error (the bootstrap's).
    abort_error: Mutex<Option<String>>,
    /// The service told of every exit (skynet.monitor); 0 = none.
    exit_monitor: AtomicU32,
    /// Services that do not keep the node alive (launcher, service_mgr, logger).
    daemons: DashMap<u32, ()>,
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
            aborted: AtomicBool::new(false),
            abort_error: Mutex::new(None),
            exit_monitor: AtomicU32::new(0),
            daemons: DashMap::new(),
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

    /// The service an address in text names: `:0000000a` (a handle) or a
    /// registered name (`.launcher`).
    pub fn resolve(&self, text: &str) -> Option<Handle> {
        if text.starts_with(':') {
            Handle::parse(text)
        } else {
            self.query_name(text)
        }
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
    /// error in it). Returns whether the service exists. A service that is not
    /// running a message (idle, or waiting for a worker) is left alone: there
    /// is nothing to stop, and its next message must not be hit.
    pub fn interrupt(&self, handle: Handle) -> bool {
        match self.router.cell(handle) {
            Some(c) => {
                c.interrupt();
                true
            }
            None => false,
        }
    }

    /// Whether a worker is running `handle` now (a message or its start).
    pub fn is_running(&self, handle: Handle) -> bool {
        self.router
            .cell(handle)
            .is_some_and(|c| c.runner.is_running())
    }

    /// Stops the node (skynet.abort): every live service is killed, and the host
    /// waiting in [`Node::wait_until_empty`] or polling [`Node::is_aborted`]
    /// shuts the runtime down. `error`, if given, is why (the host reports it and
    /// fails); the first error given is kept.
    pub fn abort(&self, error: Option<String>) {
        if let Some(error) = error {
            let mut slot = self.abort_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(error);
        }
        self.aborted.store(true, Ordering::SeqCst);
        for cell in self.router.cells() {
            self.kill(cell.handle);
        }
        let (count, changed) = &self.retired;
        drop(count.lock().unwrap_or_else(|p| p.into_inner()));
        changed.notify_all();
    }

    /// Whether [`Node::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// The error given to [`Node::abort`], if any.
    pub fn abort_error(&self) -> Option<String> {
        self.abort_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the service told of every service exit (skynet's `monitor`): it gets
    /// a message of type [`ptype::CLIENT`], session 0, empty, whose source is the
    /// service that exited. [`Handle::SYSTEM`] turns it off.
    pub fn set_exit_monitor(&self, handle: Handle) {
        self.exit_monitor.store(handle.get(), Ordering::Relaxed);
    }

    /// The service told of every exit, if any.
    pub fn exit_monitor(&self) -> Option<Handle> {
        match self.exit_monitor.load(Ordering::Relaxed) {
            0 => None,
            raw => Some(Handle::from_raw(raw)),
        }
    }

    /// Marks `handle` as a daemon: a service that does not keep the node alive
    /// (see [`Node::wait_until_idle`]). The shipped launcher, service_mgr and
    /// logger are daemons.
    pub fn set_daemon(&self, handle: Handle) {
        if self.is_alive(handle) {
            self.daemons.insert(handle.get(), ());
        }
    }

    /// Whether `handle` is a daemon (see [`Node::set_daemon`]).
    pub fn is_daemon(&self, handle: Handle) -> bool {
        self.daemons.contains_key(&handle.get())
    }

    /// How many services are alive, daemons not counted.
    pub fn busy_count(&self) -> usize {
        self.router
            .cells()
            .iter()
            .filter(|c| !self.daemons.contains_key(&c.handle.get()))
            .count()
    }

    /// Blocks until every live service is a daemon (`lunet run` then stops: the
    /// last service has exited), the node is aborted, or `timeout` passes.
    /// Returns whether the node is idle or aborted.
    pub fn wait_until_idle(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (count, changed) = &self.retired;
        let mut guard = count.lock().unwrap_or_else(|p| p.into_inner());
        while self.busy_count() > 0 && !self.is_aborted() {
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

    pub(crate) fn retired(&self, handle: Handle) {
        tracing::debug!("service {handle} exited");
        self.daemons.remove(&handle.get());
        if let Some(monitor) = self.exit_monitor().filter(|m| *m != handle) {
            let _ = self.send(handle, monitor, ptype::CLIENT, 0, Payload::Empty);
        }
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
