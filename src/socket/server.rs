//! The socket thread: a mio loop that owns every socket.
//!
//! One thread runs this loop. Each turn it waits on the `Poll` (with a timeout for
//! the nearest linger deadline or ack check), handles readiness, then drains the
//! whole command channel. Decisions about a connection's life are made by the
//! state machine in `state.rs`; this file performs the reads, writes and closes it
//! asks for and turns them into events for the owner.
//!
//! Polling is edge-triggered. Interest follows what the state machine wants: no
//! read interest while paused, after the peer's FIN or before `start`; write
//! interest only while bytes are queued. A half-closed fd is therefore never
//! reported again, and the thread never spins on it.
//!
//! Tokens are socket ids, so a readiness event left over from a closed socket can
//! never be taken for the socket that reuses its slot.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use mio::event::Source;
use mio::{Events, Interest, Poll, Token};

use super::command::Command;
use super::config::SocketConfig;
use super::connector::{self, Pending, Progress};
use super::event::{Event, EventSink, Owner};
use super::handle::Shared;
use super::id::{SlotTable, SocketId};
use super::listener::{Accepted, Listener, Spare};
use super::state::{Action, Actions, Conn, Io, Phase};
use super::stats::{Counters, SocketInfo, SocketKind};
use super::stream::Stream;
use super::udp::Udp;
use super::write_queue::WriteQueue;

/// The waker's token; socket tokens are ids, which never reach it.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Stands for "no limit" where an `Instant` is needed.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86400);

/// How soon, then at most how seldom (doubling in between), a closing socket
/// that sent its FIN is checked for the peer's acknowledgement.
const ACK_CHECK: Duration = Duration::from_millis(10);
const ACK_CHECK_MAX: Duration = Duration::from_secs(1);

/// A closing socket waiting for the peer to acknowledge everything (or send EOF).
struct Drain {
    id: SocketId,
    at: Instant,
    every: Duration,
}

/// How long a listener that had to stop accepting waits before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Reads per readiness event before other sockets get a turn.
const READ_BUDGET: usize = 16;

/// Whether a transition needs to know if the kernel holds unacknowledged bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ack {
    Check,
    Skip,
}

/// A TCP connection or bound fd.
struct StreamSocket {
    /// `None` while a host name is being resolved.
    io: Option<Stream>,
    conn: Conn,
    queue: WriteQueue,
    peer: Option<SocketAddr>,
    pending: Option<Box<Pending>>,
    bound: bool,
}

impl StreamSocket {
    /// A stream in state `conn`, nothing queued, no connect in progress.
    fn new(io: Option<Stream>, conn: Conn, peer: Option<SocketAddr>) -> StreamSocket {
        StreamSocket {
            io,
            conn,
            queue: WriteQueue::default(),
            peer,
            pending: None,
            bound: false,
        }
    }
}

enum Kind {
    Stream(StreamSocket),
    Listener(Listener),
    Udp(Udp),
}

struct Socket {
    id: SocketId,
    owner: Owner,
    counters: Counters,
    interest: Option<Interest>,
    /// Whether the direct-write record says this socket may be written directly.
    direct: bool,
    kind: Kind,
}

impl Socket {
    fn source(&mut self) -> Option<&mut dyn Source> {
        match &mut self.kind {
            Kind::Stream(s) => s.io.as_mut().map(|io| io as &mut dyn Source),
            Kind::Listener(l) => Some(&mut l.io),
            Kind::Udp(u) => Some(&mut u.io),
        }
    }

    fn wanted_interest(&self) -> Option<Interest> {
        let (read, write) = match &self.kind {
            Kind::Stream(s) if s.io.is_some() => {
                (s.conn.wants_read(), s.conn.wants_write(s.queue.len()))
            }
            Kind::Stream(_) => (false, false),
            Kind::Listener(l) => (l.listening, false),
            Kind::Udp(u) => (true, u.queued() > 0),
        };
        match (read, write) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }

    /// The fd senders may write to directly: a TCP connection that is open for
    /// writing with nothing queued.
    fn direct_fd(&self) -> Option<std::os::fd::RawFd> {
        match &self.kind {
            Kind::Stream(s)
                if s.queue.is_empty()
                    && matches!(s.conn.phase, Phase::Open | Phase::ReadClosed) =>
            {
                s.io.as_ref().and_then(Stream::tcp_fd)
            }
            _ => None,
        }
    }

    fn info(&self) -> SocketInfo {
        let (kind, state, addr, queued) = match &self.kind {
            Kind::Stream(s) => (
                if s.bound {
                    SocketKind::Bind
                } else {
                    SocketKind::Tcp
                },
                phase_name(s.conn.phase),
                s.peer,
                s.queue.len(),
            ),
            Kind::Listener(l) => (
                SocketKind::Listen,
                if l.listening {
                    "listening"
                } else {
                    "pending-listen"
                },
                l.local,
                0,
            ),
            Kind::Udp(u) => (SocketKind::Udp, "udp", u.local, u.queued()),
        };
        SocketInfo {
            id: self.id,
            owner: self.owner,
            kind,
            state,
            addr,
            bytes_read: self.counters.read,
            bytes_written: self.counters.written,
            queued,
            last_read: self.counters.last_read,
            last_write: self.counters.last_write,
        }
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Connecting => "connecting",
        Phase::Accepted => "accepted",
        Phase::Open => "open",
        Phase::ReadClosed => "half-close-read",
        Phase::WriteClosed => "half-close-write",
        Phase::Closing => "closing",
        Phase::Closed => "closed",
    }
}

/// The socket `id` names, if it still holds its slot. (A free function, so the
/// socket and the other fields of the server can be borrowed at once.)
fn lookup<'a>(
    sockets: &'a mut [Option<Box<Socket>>],
    slots: &SlotTable,
    id: SocketId,
) -> Option<&'a mut Socket> {
    sockets[slots.index(id)]
        .as_deref_mut()
        .filter(|s| s.id == id)
}

fn token(id: SocketId) -> Token {
    Token(id.get() as usize)
}

/// The socket thread's state.
pub(crate) struct Server<S> {
    poll: Poll,
    rx: Receiver<Command>,
    shared: Arc<Shared>,
    config: SocketConfig,
    sink: S,
    sockets: Vec<Option<Box<Socket>>>,
    count: usize,
    scratch: Vec<u8>,
    actions: Actions,
    accepted: Vec<Accepted>,
    spare: Spare,
    lingers: BinaryHeap<Reverse<(Instant, SocketId)>>,
    /// Closing sockets that sent FIN and wait for the peer's ack or EOF.
    draining: Vec<Drain>,
    next_ack_check: Option<Instant>,
    /// Streams whose read budget ran out: read again before sleeping.
    again: Vec<SocketId>,
    /// Listeners that stopped accepting early, and when to try them again.
    stalled: Vec<SocketId>,
    next_accept_retry: Option<Instant>,
    exit_deadline: Option<Instant>,
}

impl<S: EventSink> Server<S> {
    pub(crate) fn new(
        poll: Poll,
        rx: Receiver<Command>,
        shared: Arc<Shared>,
        config: SocketConfig,
        sink: S,
    ) -> io::Result<Server<S>> {
        let capacity = shared.slots.capacity();
        Ok(Server {
            poll,
            rx,
            shared,
            scratch: vec![0; config.read_buffer.max(512)],
            config,
            sink,
            sockets: (0..capacity).map(|_| None).collect(),
            count: 0,
            actions: Vec::with_capacity(8),
            accepted: Vec::new(),
            spare: Spare::open(),
            lingers: BinaryHeap::new(),
            draining: Vec::new(),
            next_ack_check: None,
            again: Vec::new(),
            stalled: Vec::new(),
            next_accept_retry: None,
            exit_deadline: None,
        })
    }

    /// Runs until `Exit` has closed everything.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.timeout();
            self.shared.polling.store(true, Ordering::Relaxed);
            let polled = self.poll.poll(&mut events, timeout);
            self.shared.polling.store(false, Ordering::Relaxed);
            if let Err(e) = polled {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!("socket thread: poll failed: {e}; stopping");
                break;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let Some(id) = u32::try_from(event.token().0)
                    .ok()
                    .and_then(SocketId::from_raw)
                else {
                    continue;
                };
                let failed = event.is_error();
                self.on_ready(
                    id,
                    event.is_readable() || event.is_read_closed() || failed,
                    event.is_writable() || event.is_write_closed() || failed,
                );
            }
            self.drain_commands();
            for id in std::mem::take(&mut self.again) {
                self.on_ready(id, true, false);
            }
            self.check_timers();
            self.sink.flush();
            if let Some(deadline) = self.exit_deadline {
                if self.count == 0 || Instant::now() >= deadline {
                    break;
                }
            }
        }
        self.abort_all();
        self.sink.flush();
    }

    fn timeout(&self) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        [
            self.lingers.peek().map(|Reverse((at, _))| *at),
            self.next_ack_check,
            self.next_accept_retry,
            self.exit_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    // ----- the socket table -----

    fn get(&mut self, id: SocketId) -> Option<&mut Socket> {
        lookup(&mut self.sockets, &self.shared.slots, id)
    }

    fn stream(&mut self, id: SocketId) -> Option<&mut StreamSocket> {
        match &mut self.get(id)?.kind {
            Kind::Stream(s) => Some(s),
            _ => None,
        }
    }

    fn insert(&mut self, id: SocketId, owner: Owner, kind: Kind) {
        let index = self.shared.slots.index(id);
        if let Some(held) = &self.sockets[index] {
            // Cannot happen while ids are reserved through the slot table; never
            // overwrite a live socket if it somehow does.
            tracing::error!("socket {id}: slot held by {}; new socket dropped", held.id);
            self.sink.deliver(
                owner,
                Event::Error {
                    id,
                    reason: "internal: socket slot already taken".into(),
                },
            );
            return;
        }
        self.sockets[index] = Some(Box::new(Socket {
            id,
            owner,
            counters: Counters::default(),
            interest: None,
            direct: false,
            kind,
        }));
        self.count += 1;
        self.sync_interest(id);
    }

    /// Closes the fd (by dropping it) and releases the slot.
    fn remove(&mut self, id: SocketId) {
        let index = self.shared.slots.index(id);
        if self.sockets[index].as_ref().is_none_or(|s| s.id != id) {
            return;
        }
        let mut socket = self.sockets[index].take().expect("checked above");
        // No direct writer may touch the fd from here on.
        self.shared.direct.clear(index, id);
        if socket.interest.is_some() {
            if let Some(source) = socket.source() {
                let _ = self.poll.registry().deregister(source);
            }
        }
        drop(socket);
        self.count -= 1;
        self.shared.slots.release(id);
    }

    /// Makes the registered interest, and whether senders may write directly,
    /// match the socket's state.
    fn sync_interest(&mut self, id: SocketId) {
        let registry = self.poll.registry();
        let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
            return;
        };
        let direct = socket.direct_fd().filter(|_| self.config.direct_write);
        if direct.is_some() != socket.direct {
            socket.direct = direct.is_some();
            let fd = direct.unwrap_or(-1);
            let index = self.shared.slots.index(id);
            self.shared.direct.set_idle(index, id, fd, socket.direct);
        }
        let wanted = socket.wanted_interest();
        if wanted == socket.interest {
            return;
        }
        let had = socket.interest;
        let Some(source) = socket.source() else {
            return;
        };
        let result = match (had, wanted) {
            (None, Some(i)) => registry.register(source, token(id), i),
            (Some(_), Some(i)) => registry.reregister(source, token(id), i),
            (Some(_), None) => registry.deregister(source),
            (None, None) => Ok(()),
        };
        match result {
            Ok(()) => socket.interest = wanted,
            Err(e) => {
                let owner = socket.owner;
                let is_stream = matches!(socket.kind, Kind::Stream(_));
                tracing::warn!("socket {id}: cannot register with the poller: {e}");
                let reason = format!("poll register: {e}");
                if is_stream {
                    self.transition(id, Ack::Skip, |c, _, out| c.failed(reason, out));
                } else {
                    self.sink.deliver(owner, Event::Error { id, reason });
                    self.sink.deliver(owner, Event::Close { id });
                    self.remove(id);
                }
            }
        }
    }

    /// The facts a transition decides on. Asking the kernel about unacknowledged
    /// bytes and unread input costs syscalls, so only transitions that may close
    /// a socket whose queue is empty (`check_ack`) do it.
    fn io_facts(&mut self, id: SocketId, check_ack: Ack) -> Io {
        match self.stream(id) {
            Some(s) => {
                let queued = s.queue.len();
                let ask = check_ack == Ack::Check
                    && queued == 0
                    && matches!(s.conn.phase, Phase::Open | Phase::Closing);
                let io = s.io.as_ref().filter(|_| ask);
                Io {
                    queued,
                    unacked: io.is_some_and(Stream::has_unacked),
                    unread: io.is_some_and(Stream::has_unread),
                }
            }
            None => Io::default(),
        }
    }

    /// Runs a state-machine transition on stream `id` and carries out its actions.
    fn transition(
        &mut self,
        id: SocketId,
        check_ack: Ack,
        f: impl FnOnce(&mut Conn, Io, &mut Actions),
    ) {
        let io = self.io_facts(id, check_ack);
        let mut actions = std::mem::take(&mut self.actions);
        if let Some(s) = self.stream(id) {
            f(&mut s.conn, io, &mut actions);
        }
        self.apply(id, &mut actions);
        self.actions = actions;
    }

    fn apply(&mut self, id: SocketId, actions: &mut Actions) {
        let now = Instant::now();
        for action in actions.drain(..) {
            let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
                break;
            };
            let owner = socket.owner;
            let Kind::Stream(s) = &mut socket.kind else {
                break;
            };
            match action {
                Action::EmitConnect => {
                    let addr = if s.bound { None } else { s.peer };
                    self.sink.deliver(owner, Event::Connect { id, addr });
                }
                Action::EmitClose => self.sink.deliver(owner, Event::Close { id }),
                Action::EmitError(reason) => {
                    tracing::debug!("socket {id}: {reason}");
                    self.sink.deliver(owner, Event::Error { id, reason });
                }
                Action::DiscardQueue => {
                    s.queue.discard();
                }
                Action::StopSending => {
                    self.shared.slots.stop_sending(id);
                }
                Action::ShutdownWrite => {
                    if let Some(io) = &s.io {
                        io.shutdown_write();
                    }
                    let at = now + ACK_CHECK;
                    self.draining.push(Drain {
                        id,
                        at,
                        every: ACK_CHECK,
                    });
                    self.next_ack_check = Some(self.next_ack_check.map_or(at, |t| t.min(at)));
                }
                Action::StartLinger => {
                    // A linger too long to represent means "no limit".
                    if let Some(at) = now.checked_add(self.config.linger) {
                        self.lingers.push(Reverse((at, id)));
                    }
                }
                Action::CloseFd => self.remove(id),
            }
        }
        self.sync_interest(id);
    }

    // ----- readiness -----

    fn on_ready(&mut self, id: SocketId, readable: bool, writable: bool) {
        let Some(socket) = self.get(id) else {
            return;
        };
        match &socket.kind {
            Kind::Listener(_) => self.accept(id),
            Kind::Udp(_) => {
                if writable {
                    self.udp_flush(id);
                }
                if readable {
                    self.udp_receive(id);
                }
            }
            Kind::Stream(s) if s.conn.phase == Phase::Connecting => {
                if readable || writable {
                    self.connect_progress(id);
                }
            }
            Kind::Stream(_) => {
                if writable {
                    self.flush_stream(id);
                }
                if readable {
                    self.read_stream(id);
                }
            }
        }
    }

    /// Reads until `WouldBlock`, EOF, an error, or the budget (then the socket goes
    /// on the `again` list). Data goes to the owner, or is discarded while closing.
    /// A short read is not taken as "drained": datagram fds, terminals and TCP
    /// urgent data all return short reads with more to come and no new edge.
    fn read_stream(&mut self, id: SocketId) {
        for _ in 0..READ_BUDGET {
            let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
                return;
            };
            let owner = socket.owner;
            let Kind::Stream(s) = &mut socket.kind else {
                return;
            };
            let Some(io) = s.io.as_mut() else {
                return;
            };
            if !s.conn.wants_read() {
                return;
            }
            match io.read(&mut self.scratch) {
                Ok(0) => {
                    self.transition(id, Ack::Skip, |c, io, out| c.read_eof(io, out));
                    return;
                }
                Ok(n) => {
                    socket.counters.on_read(n, Instant::now());
                    if s.conn.delivers_data() {
                        let data = Bytes::copy_from_slice(&self.scratch[..n]);
                        self.sink.deliver(owner, Event::Data { id, data });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let reason = format!("read: {e}");
                    self.transition(id, Ack::Check, |c, io, out| c.read_error(reason, io, out));
                    return;
                }
            }
        }
        self.again.push(id);
    }

    /// Writes what the queue holds; reports drain and write errors.
    fn flush_stream(&mut self, id: SocketId) {
        let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
            return;
        };
        let owner = socket.owner;
        let Kind::Stream(s) = &mut socket.kind else {
            return;
        };
        let Some(io) = s.io.as_mut() else {
            return;
        };
        if !matches!(
            s.conn.phase,
            Phase::Open | Phase::ReadClosed | Phase::Closing
        ) {
            return;
        }
        match s.queue.flush(io) {
            Ok(flushed) => {
                socket.counters.on_write(flushed.written, Instant::now());
                if s.queue.is_empty() {
                    let closing = s.conn.phase == Phase::Closing;
                    if s.queue.take_drained() {
                        self.sink.deliver(owner, Event::Warning { id, kib: 0 });
                    }
                    if closing {
                        self.transition(id, Ack::Check, |c, io, out| c.flushed(io, out));
                    } else {
                        self.sync_interest(id);
                    }
                } else {
                    self.sync_interest(id);
                }
            }
            Err(e) => {
                let reason = format!("write: {e}");
                self.transition(id, Ack::Skip, |c, _, out| c.write_error(reason, out));
            }
        }
    }

    fn accept(&mut self, id: SocketId) {
        let mut accepted = std::mem::take(&mut self.accepted);
        let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
            return;
        };
        let owner = socket.owner;
        let Kind::Listener(listener) = &socket.kind else {
            return;
        };
        if listener.listening && !listener.accept_all(&mut self.spare, |a| accepted.push(a)) {
            self.stalled.push(id);
            self.next_accept_retry
                .get_or_insert(Instant::now() + ACCEPT_RETRY);
        }
        for outcome in accepted.drain(..) {
            match outcome {
                Accepted::Conn(stream, peer) => match self.shared.slots.reserve() {
                    Some(new) => {
                        let conn = StreamSocket::new(
                            Some(Stream::Tcp(stream)),
                            Conn::accepted(),
                            Some(peer),
                        );
                        self.insert(new, owner, Kind::Stream(conn));
                        self.sink.deliver(
                            owner,
                            Event::Accept {
                                listener: id,
                                id: new,
                                peer,
                            },
                        );
                    }
                    None => {
                        drop(stream);
                        tracing::warn!("accept on {id}: socket table full; connection closed");
                        self.sink.deliver(
                            owner,
                            Event::Error {
                                id,
                                reason: "accept: socket table full; connection closed".into(),
                            },
                        );
                    }
                },
                Accepted::Refused(e) => self.sink.deliver(
                    owner,
                    Event::Error {
                        id,
                        reason: format!("accept: {e}; connection closed"),
                    },
                ),
            }
        }
        self.accepted = accepted;
    }

    fn connect_progress(&mut self, id: SocketId) {
        let Some(s) = self.stream(id) else {
            return;
        };
        let Some(Stream::Tcp(stream)) = &s.io else {
            return;
        };
        match connector::check(stream) {
            Progress::StillConnecting => {}
            Progress::Connected(peer) => {
                s.peer = Some(peer);
                s.pending = None;
                self.transition(id, Ack::Skip, |c, _, out| c.connected(out));
                self.flush_stream(id);
            }
            Progress::Failed(reason) => {
                if let Some(p) = s.pending.as_mut() {
                    p.last_error = Some(reason);
                }
                self.connect_next(id);
            }
        }
    }

    /// Drops the current attempt (if any) and starts one to the next address.
    fn connect_next(&mut self, id: SocketId) {
        let registry = self.poll.registry();
        let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
            return;
        };
        let had_interest = socket.interest.take().is_some();
        let Kind::Stream(s) = &mut socket.kind else {
            return;
        };
        if let Some(mut old) = s.io.take() {
            if had_interest {
                let _ = registry.deregister(&mut old);
            }
        }
        let pending = s.pending.get_or_insert_with(Box::default);
        match pending.next_stream() {
            Some(stream) => {
                s.io = Some(Stream::Tcp(stream));
                self.sync_interest(id);
            }
            None => {
                let reason = pending.failure();
                self.transition(id, Ack::Skip, |c, _, out| c.connect_failed(reason, out));
            }
        }
    }

    fn udp_receive(&mut self, id: SocketId) {
        for _ in 0..READ_BUDGET {
            let Some(socket) = lookup(&mut self.sockets, &self.shared.slots, id) else {
                return;
            };
            let owner = socket.owner;
            let Kind::Udp(u) = &socket.kind else {
                return;
            };
            match u.io.recv_from(&mut self.scratch) {
                Ok((n, from)) => {
                    socket.counters.on_read(n, Instant::now());
                    let data = Bytes::copy_from_slice(&self.scratch[..n]);
                    self.sink.deliver(owner, Event::Udp { id, data, from });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors on a connected UDP socket surface here; the socket
                    // stays usable.
                    tracing::debug!("udp {id}: receive: {e}");
                }
            }
        }
        self.again.push(id);
    }

    fn udp_flush(&mut self, id: SocketId) {
        self.udp_io(id, |u| u.flush());
    }

    fn udp_io(&mut self, id: SocketId, f: impl FnOnce(&mut Udp) -> io::Result<usize>) {
        let Some(socket) = self.get(id) else {
            return;
        };
        let owner = socket.owner;
        let Kind::Udp(u) = &mut socket.kind else {
            return;
        };
        match f(u) {
            Ok(n) => socket.counters.on_write(n, Instant::now()),
            Err(e) => self.sink.deliver(
                owner,
                Event::Error {
                    id,
                    reason: format!("udp send: {e}"),
                },
            ),
        }
        self.sync_interest(id);
    }

    // ----- commands -----

    /// Drains the channel. (It never disconnects: `Shared` holds a sender, and
    /// `SocketServer` sends `Exit` when dropped.)
    fn drain_commands(&mut self) {
        self.shared.clear_woken();
        while let Ok(command) = self.rx.try_recv() {
            self.command(command);
        }
    }

    /// Refuses a new socket while exiting: the owner gets Error, the slot is freed.
    fn refuse_while_exiting(&mut self, id: SocketId, owner: Owner) -> bool {
        if self.exit_deadline.is_none() {
            return false;
        }
        self.sink.deliver(
            owner,
            Event::Error {
                id,
                reason: "the socket server is exiting".into(),
            },
        );
        self.shared.slots.release(id);
        true
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Listen {
                id,
                owner,
                listener,
            } => {
                if self.refuse_while_exiting(id, owner) {
                    return;
                }
                let io = mio::net::TcpListener::from_std(listener);
                let local = io.local_addr().ok();
                let listener = Listener {
                    io,
                    local,
                    listening: false,
                };
                self.insert(id, owner, Kind::Listener(listener));
            }
            Command::Connect {
                id,
                owner,
                host,
                port,
            } => {
                if self.refuse_while_exiting(id, owner) {
                    return;
                }
                self.insert(
                    id,
                    owner,
                    Kind::Stream(StreamSocket {
                        pending: Some(Box::new(Pending {
                            target: format!("{host}:{port}"),
                            ..Pending::default()
                        })),
                        ..StreamSocket::new(None, Conn::connecting(), None)
                    }),
                );
                match connector::literal(&host, port) {
                    Some(addr) => self.on_resolved(id, Ok(vec![addr])),
                    None => {
                        let shared = self.shared.clone();
                        if let Err(e) = connector::resolve_in_background(id, host, port, move |c| {
                            let _ = shared.command(c);
                        }) {
                            self.on_resolved(id, Err(e));
                        }
                    }
                }
            }
            Command::Resolved { id, result } => self.on_resolved(id, result),
            Command::Start { id, owner } => self.start(id, owner),
            Command::Pause { id } => {
                if let Some(s) = self.stream(id) {
                    s.conn.pause();
                    self.sync_interest(id);
                }
            }
            Command::Resume { id } => {
                if let Some(s) = self.stream(id) {
                    s.conn.resume();
                    self.sync_interest(id);
                }
            }
            Command::Send { id, data, low } => self.send(id, data, low),
            Command::Close { id, force } => self.close(id, force),
            Command::NoDelay { id, on } => {
                if let Some(io) = self.stream(id).and_then(|s| s.io.as_ref()) {
                    if let Err(e) = io.set_nodelay(on) {
                        tracing::debug!("socket {id}: nodelay: {e}");
                    }
                }
            }
            Command::Bind { id, owner, fd } => {
                if self.refuse_while_exiting(id, owner) {
                    return;
                }
                match Stream::from_fd(fd) {
                    Ok(io) => self.insert(
                        id,
                        owner,
                        Kind::Stream(StreamSocket {
                            bound: true,
                            ..StreamSocket::new(Some(io), Conn::bound(), None)
                        }),
                    ),
                    Err(e) => {
                        self.sink.deliver(
                            owner,
                            Event::Error {
                                id,
                                reason: format!("bind: {e}"),
                            },
                        );
                        self.shared.slots.release(id);
                    }
                }
            }
            Command::Udp { id, owner, socket } => {
                if self.refuse_while_exiting(id, owner) {
                    return;
                }
                let udp = Udp::new(mio::net::UdpSocket::from_std(socket));
                self.insert(id, owner, Kind::Udp(udp));
            }
            Command::UdpConnect { id, addr } => {
                let Some(socket) = self.get(id) else {
                    return;
                };
                let owner = socket.owner;
                if let Kind::Udp(u) = &socket.kind {
                    if let Err(e) = u.io.connect(addr) {
                        self.sink.deliver(
                            owner,
                            Event::Error {
                                id,
                                reason: format!("udp connect {addr}: {e}"),
                            },
                        );
                    }
                }
            }
            Command::UdpSend { id, to, data } => self.udp_io(id, |u| u.send(to, data)),
            Command::Stats { reply } => {
                let direct = &self.shared.direct;
                let slots = &self.shared.slots;
                let infos = self
                    .sockets
                    .iter()
                    .flatten()
                    .map(|s| {
                        let mut info = s.info();
                        let (written, last) = direct.written(slots.index(s.id), s.id);
                        info.bytes_written += written;
                        info.last_write = info.last_write.max(last);
                        info
                    })
                    .collect();
                let _ = reply.send(infos);
            }
            Command::Exit => self.begin_exit(),
        }
    }

    fn on_resolved(&mut self, id: SocketId, result: io::Result<Vec<SocketAddr>>) {
        let Some(s) = self.stream(id) else {
            return;
        };
        if s.conn.phase != Phase::Connecting || s.io.is_some() {
            return;
        }
        match result {
            Ok(addrs) => {
                let pending = s.pending.get_or_insert_with(Box::default);
                pending.addrs.extend(addrs);
                self.connect_next(id);
            }
            Err(e) => {
                let target = s.pending.as_ref().map_or("", |p| p.target.as_str());
                let reason = format!("resolve {target}: {e}");
                self.transition(id, Ack::Skip, |c, _, out| c.connect_failed(reason, out));
            }
        }
    }

    fn start(&mut self, id: SocketId, owner: Owner) {
        let Some(socket) = self.get(id) else {
            return;
        };
        if let Kind::Stream(s) = &socket.kind {
            if s.conn.is_released() {
                // Closing sockets are nobody's: a late start changes nothing.
                return;
            }
        }
        let new_owner = socket.owner != owner;
        socket.owner = owner;
        match &mut socket.kind {
            Kind::Stream(_) => self.transition(id, Ack::Skip, |c, _, out| c.start(new_owner, out)),
            Kind::Listener(l) => {
                l.listening = true;
                let addr = l.local;
                self.sink.deliver(owner, Event::Connect { id, addr });
                self.sync_interest(id);
            }
            Kind::Udp(_) => {}
        }
    }

    fn send(&mut self, id: SocketId, data: Bytes, low: bool) {
        let threshold = self.config.warn_threshold;
        if self.config.direct_write {
            // Every send command was counted by its sender, whatever its id.
            self.shared
                .direct
                .take_pending(self.shared.slots.index(id), id);
        }
        let Some(socket) = self.get(id) else {
            return;
        };
        socket.direct = false;
        let owner = socket.owner;
        if matches!(socket.kind, Kind::Udp(_)) {
            // As in skynet: a send on a UDP socket goes to the peer set by
            // udp_connect (an Error event if there is none).
            return self.udp_io(id, |u| u.send(None, data));
        }
        let Kind::Stream(s) = &mut socket.kind else {
            return;
        };
        if !s.conn.accepts_sends() {
            tracing::trace!("socket {id}: send refused in phase {:?}", s.conn.phase);
            return;
        }
        let was_empty = s.queue.is_empty();
        if let Some(kib) = s.queue.push(data, low, threshold) {
            tracing::debug!("socket {id}: {kib} KiB queued");
            self.sink.deliver(owner, Event::Warning { id, kib });
        }
        if was_empty {
            self.flush_stream(id);
        }
    }

    fn close(&mut self, id: SocketId, force: bool) {
        let Some(socket) = self.get(id) else {
            return;
        };
        let owner = socket.owner;
        match &socket.kind {
            Kind::Stream(_) => {
                if force {
                    self.transition(id, Ack::Skip, |c, _, out| c.shutdown(out));
                } else {
                    self.transition(id, Ack::Check, |c, io, out| c.close(io, out));
                }
            }
            Kind::Listener(_) | Kind::Udp(_) => {
                self.remove(id);
                self.sink.deliver(owner, Event::Close { id });
            }
        }
    }

    // ----- timers and exit -----

    fn check_timers(&mut self) {
        let now = Instant::now();
        if self.next_accept_retry.is_some_and(|at| at <= now) {
            self.next_accept_retry = None;
            for id in std::mem::take(&mut self.stalled) {
                self.accept(id);
            }
        }
        while let Some(Reverse((at, id))) = self.lingers.peek().copied() {
            if at > now {
                break;
            }
            self.lingers.pop();
            self.transition(id, Ack::Check, |c, io, out| c.linger_expired(io, out));
        }
        if self.next_ack_check.is_some_and(|at| at <= now) {
            for mut drain in std::mem::take(&mut self.draining) {
                let done = match self.stream(drain.id) {
                    Some(s) if s.conn.phase == Phase::Closing => {
                        drain.at <= now && !s.io.as_ref().is_some_and(Stream::has_unacked)
                    }
                    _ => continue,
                };
                if done {
                    self.transition(drain.id, Ack::Skip, |c, _, out| c.acked(out));
                    continue;
                }
                if drain.at <= now {
                    drain.every = (drain.every * 2).min(ACK_CHECK_MAX);
                    drain.at = now + drain.every;
                }
                self.draining.push(drain);
            }
            self.next_ack_check = self.draining.iter().map(|d| d.at).min();
        }
    }

    fn ids(&self) -> Vec<SocketId> {
        self.sockets.iter().flatten().map(|s| s.id).collect()
    }

    /// Stops listening and closes every socket; streams flush first, bounded by
    /// `exit_linger`.
    fn begin_exit(&mut self) {
        if self.exit_deadline.is_some() {
            return;
        }
        // An exit linger too long to represent waits as long as the flushes take.
        let now = Instant::now();
        self.exit_deadline = Some(
            now.checked_add(self.config.exit_linger)
                .unwrap_or(now + FOREVER),
        );
        for id in self.ids() {
            self.close(id, false);
        }
    }

    /// Force-closes whatever is left.
    fn abort_all(&mut self) {
        for id in self.ids() {
            let is_stream = matches!(self.get(id).map(|s| &s.kind), Some(Kind::Stream(_)));
            if is_stream {
                self.transition(id, Ack::Skip, |c, _, out| c.abort(out));
            } else {
                self.close(id, true);
            }
        }
    }
}

impl<S> Drop for Server<S> {
    /// Runs on a normal stop (every socket is gone by then) and if the socket
    /// thread unwinds: no sender may write directly to an fd that is being
    /// closed, and no slot stays taken.
    fn drop(&mut self) {
        for socket in self.sockets.iter().flatten() {
            let index = self.shared.slots.index(socket.id);
            self.shared.direct.clear(index, socket.id);
            self.shared.slots.release(socket.id);
        }
    }
}
