//! The caller's side of the socket layer: starting the thread, and the handle every
//! other thread uses to send it commands.
//!
//! Every method is non-blocking (except [`SocketHandle::stats`], which waits for the
//! socket thread's snapshot, and the name resolution `listen` and `udp` do for host
//! names). Ids are reserved in the caller's thread, so `listen` and `connect` return
//! one at once. Commands from one thread reach the socket thread in the order they
//! were sent.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::Sender;
use mio::Waker;
use socket2::{Domain, Protocol, Socket, Type};

use super::command::Command;
use super::config::SocketConfig;
use super::direct::DirectTable;
use super::error::SocketError;
use super::event::{EventSink, Owner};
use super::id::{SlotState, SlotTable, SocketId};
use super::server::Server;
use super::stats::SocketInfo;

/// State shared by the socket thread and every handle.
pub(crate) struct Shared {
    pub(crate) slots: SlotTable,
    pub(crate) direct: DirectTable,
    tx: Sender<Command>,
    waker: Waker,
    /// Set by the first sender after the socket thread last drained its channel;
    /// saves a wake-up syscall per command while the thread is busy.
    woken: AtomicBool,
    /// Whether the socket thread is (about to be) blocked in `poll`.
    pub(crate) polling: AtomicBool,
    /// `SocketConfig::direct_write`.
    direct_write: bool,
}

impl Shared {
    /// Queues a command and wakes the socket thread if it may be asleep. Once
    /// queued the command counts as sent, whatever the wake-up does.
    pub(crate) fn command(&self, command: Command) -> Result<(), SocketError> {
        self.tx.send(command).map_err(|_| SocketError::Stopped)?;
        if !self.woken.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                // Let the next sender try again rather than leave the command
                // waiting for an unrelated event.
                self.woken.store(false, Ordering::SeqCst);
                tracing::error!("cannot wake the socket thread: {e}");
            }
        }
        Ok(())
    }

    /// Called by the socket thread just before it drains the channel.
    pub(crate) fn clear_woken(&self) {
        self.woken.store(false, Ordering::SeqCst);
    }
}

/// A running socket thread. Dropping it stops the thread (as [`SocketServer::stop`]).
pub struct SocketServer {
    handle: SocketHandle,
    thread: Option<JoinHandle<()>>,
}

impl SocketServer {
    /// Starts the socket thread. Events go to `sink`, on the socket thread.
    pub fn start(config: SocketConfig, sink: impl EventSink) -> io::Result<SocketServer> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let poll = mio::Poll::new()?;
        let waker = Waker::new(poll.registry(), super::server::WAKER)?;
        let slots = SlotTable::new(config.max_sockets);
        let direct = DirectTable::new(slots.capacity());
        let shared = Arc::new(Shared {
            direct,
            slots,
            tx,
            waker,
            woken: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            direct_write: config.direct_write,
        });
        let server = Server::new(poll, rx, shared.clone(), config, sink)?;
        let thread = std::thread::Builder::new()
            .name("lunet-socket".into())
            .spawn(move || server.run())?;
        Ok(SocketServer {
            handle: SocketHandle { shared },
            thread: Some(thread),
        })
    }

    /// A handle for sending commands; clone it freely.
    pub fn handle(&self) -> &SocketHandle {
        &self.handle
    }

    /// Closes every socket (flushing, bounded by `exit_linger`) and joins the thread.
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.exit();
            if thread.join().is_err() {
                tracing::error!("the socket thread panicked");
            }
        }
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        self.shutdown_and_join();
    }
}

/// Sends commands to the socket thread. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct SocketHandle {
    shared: Arc<Shared>,
}

impl SocketHandle {
    fn command(&self, command: Command) -> Result<(), SocketError> {
        self.shared.command(command)
    }

    /// Like `command`, for calls whose only failure is a stopped server: those
    /// are no-ops, as on a closed socket.
    fn notify(&self, command: Command) {
        if let Err(e) = self.command(command) {
            tracing::trace!("socket command dropped: {e}");
        }
    }

    fn reserve(&self) -> Result<SocketId, SocketError> {
        self.shared
            .slots
            .reserve()
            .ok_or(SocketError::Full(self.shared.slots.capacity()))
    }

    /// Registers a socket the caller built under a fresh id, or gives the id back.
    fn adopt(&self, make: impl FnOnce(SocketId) -> Command) -> Result<SocketId, SocketError> {
        let id = self.reserve()?;
        match self.command(make(id)) {
            Ok(()) => Ok(id),
            Err(e) => {
                self.shared.slots.release(id);
                Err(e)
            }
        }
    }

    /// Binds and listens on `host:port` (port 0 picks a free port) in the caller's
    /// thread, and returns the id and the bound address. The listener accepts
    /// nothing until `start`, which also sends Connect with the bound address.
    pub fn listen(
        &self,
        owner: Owner,
        host: &str,
        port: u16,
        backlog: u32,
    ) -> Result<(SocketId, SocketAddr), SocketError> {
        let addr = resolve_one(host, port)?;
        let listener = bind_listener(addr, backlog)?;
        let local = listener.local_addr().map_err(|source| SocketError::Io {
            what: "listen",
            source,
        })?;
        let id = self.adopt(|id| Command::Listen {
            id,
            owner,
            listener,
        })?;
        Ok((id, local))
    }

    /// Starts a non-blocking connect to `host:port` and returns the id at once. The
    /// owner gets Connect (with the peer address) or one Error. Host names are
    /// resolved on a helper thread, never on the socket thread. Sends made before
    /// the connect completes are queued.
    pub fn connect(&self, owner: Owner, host: &str, port: u16) -> Result<SocketId, SocketError> {
        self.adopt(|id| Command::Connect {
            id,
            owner,
            host: host.to_string(),
            port,
        })
    }

    /// `owner` takes the socket and it starts reading: the first start of an
    /// accepted, listening or bound socket, or a transfer to another owner. The
    /// (new) owner gets Connect.
    pub fn start(&self, owner: Owner, id: SocketId) {
        self.notify(Command::Start { id, owner });
    }

    /// Stops reading (flow control). The peer's writes block once buffers fill.
    pub fn pause(&self, id: SocketId) {
        self.notify(Command::Pause { id });
    }

    /// Reads again after `pause`. A no-op on a socket that is closing.
    pub fn resume(&self, id: SocketId) {
        self.notify(Command::Resume { id });
    }

    /// Sends `data` (high priority). Refused (with [`SocketError::Closed`]) once
    /// the socket is closed, closing or failed. When nothing is queued or on its way
    /// for this socket, the calling thread writes to the fd itself and only the
    /// rest goes through the socket thread (see DESIGN §3.5); order is kept either
    /// way.
    pub fn send(&self, id: SocketId, data: impl Into<Bytes>) -> Result<(), SocketError> {
        self.send_on(id, data.into(), false)
    }

    /// Queues `data` on the low-priority list, written only when the high list is
    /// empty.
    pub fn send_low(&self, id: SocketId, data: impl Into<Bytes>) -> Result<(), SocketError> {
        self.send_on(id, data.into(), true)
    }

    fn send_on(&self, id: SocketId, data: Bytes, low: bool) -> Result<(), SocketError> {
        if self.shared.slots.state(id) != SlotState::Live {
            return Err(SocketError::Closed(id));
        }
        if !self.shared.direct_write {
            return self.command(Command::Send { id, data, low });
        }
        let index = self.shared.slots.index(id);
        let may_write = self.shared.polling.load(Ordering::Relaxed);
        self.shared.direct.send(index, id, data, may_write, |data| {
            self.command(Command::Send { id, data, low })
        })
    }

    /// Closes the socket after flushing what is queued (the 'K' command with
    /// shutdown=0). Sends are refused from this call on. The owner gets Close (at
    /// once, if it has not had one); the flush goes on in the background, bounded
    /// by the linger timeout. A no-op on a closed id.
    pub fn close(&self, id: SocketId) {
        self.close_with(id, false);
    }

    /// Closes the socket now, discarding unsent data ('K' with shutdown=1). Does
    /// nothing to a socket that is already flushing a close.
    pub fn shutdown(&self, id: SocketId) {
        self.close_with(id, true);
    }

    fn close_with(&self, id: SocketId, force: bool) {
        if self.shared.slots.state(id) == SlotState::Free {
            return;
        }
        self.shared.slots.stop_sending(id);
        self.notify(Command::Close { id, force });
    }

    /// Sets TCP_NODELAY.
    pub fn nodelay(&self, id: SocketId, on: bool) {
        self.notify(Command::NoDelay { id, on });
    }

    /// Wraps an existing fd (stdin, a pipe, a socket from elsewhere) as a stream
    /// socket; it reads once started. The socket layer owns the fd from now on.
    pub fn bind(&self, owner: Owner, fd: OwnedFd) -> Result<SocketId, SocketError> {
        self.adopt(|id| Command::Bind { id, owner, fd })
    }

    /// Opens a UDP socket bound to `host:port` (`""` and 0 for any), IPv4 or IPv6
    /// after the address, and returns its id and bound address. Datagrams arrive
    /// as Udp events.
    pub fn udp(
        &self,
        owner: Owner,
        host: &str,
        port: u16,
    ) -> Result<(SocketId, SocketAddr), SocketError> {
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        let addr = resolve_one(host, port)?;
        let socket = UdpSocket::bind(addr).map_err(|source| SocketError::Bind { addr, source })?;
        let io_err = |what| move |source| SocketError::Io { what, source };
        socket.set_nonblocking(true).map_err(io_err("udp"))?;
        let local = socket.local_addr().map_err(io_err("udp"))?;
        let id = self.adopt(|id| Command::Udp { id, owner, socket })?;
        Ok((id, local))
    }

    /// Sets the default peer of a UDP socket (for [`SocketHandle::udp_send`] with
    /// no address); resolved in the caller's thread.
    pub fn udp_connect(&self, id: SocketId, host: &str, port: u16) -> Result<(), SocketError> {
        let addr = resolve_one(host, port)?;
        self.command(Command::UdpConnect { id, addr })
    }

    /// Sends a datagram to `to`, or to the default peer if `None`.
    pub fn udp_send(
        &self,
        id: SocketId,
        to: Option<SocketAddr>,
        data: impl Into<Bytes>,
    ) -> Result<(), SocketError> {
        if self.shared.slots.state(id) != SlotState::Live {
            return Err(SocketError::Closed(id));
        }
        self.command(Command::UdpSend {
            id,
            to,
            data: data.into(),
        })
    }

    /// A snapshot of every open socket (waits for the socket thread, so never call
    /// it from inside the event sink, which runs on that thread).
    pub fn stats(&self) -> Vec<SocketInfo> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        if self.command(Command::Stats { reply }).is_err() {
            return Vec::new();
        }
        rx.recv().unwrap_or_default()
    }

    /// Asks the socket thread to close everything and stop. Returns at once.
    pub fn exit(&self) {
        self.notify(Command::Exit);
    }
}

/// Resolves `host:port` to one address (the first), in the caller's thread.
fn resolve_one(host: &str, port: u16) -> Result<SocketAddr, SocketError> {
    if let Some(addr) = super::connector::literal(host, port) {
        return Ok(addr);
    }
    let resolve_error = |source| SocketError::Resolve {
        host: host.to_string(),
        port,
        source,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(resolve_error)?
        .next()
        .ok_or_else(|| resolve_error(io::ErrorKind::NotFound.into()))
}

/// A non-blocking listener with SO_REUSEADDR, as servers expect.
fn bind_listener(addr: SocketAddr, backlog: u32) -> Result<TcpListener, SocketError> {
    let bind_error = |source| SocketError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_error)?;
    socket.set_reuse_address(true).map_err(bind_error)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).map_err(bind_error)?;
    }
    socket.bind(&addr.into()).map_err(bind_error)?;
    socket
        .listen(backlog.clamp(1, i32::MAX as u32) as i32)
        .map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    Ok(socket.into())
}
