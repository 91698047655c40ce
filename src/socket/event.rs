//! Events the socket thread delivers to a socket's owner, and the sink they go through.
//!
//! The socket layer knows owners only as opaque `u32` handles (the actor runtime
//! uses its service handles). Events are handed, on the socket thread, to the
//! [`EventSink`] given at start: it must not block for long, since every socket
//! waits while it runs.
//!
//! # What an owner is guaranteed
//! For a TCP connection (connected, accepted or bound):
//! - **Data** comes in order, never after a **Close** for the same id.
//! - **Close** means "no more Data for you" and comes exactly once per connection:
//!   when the peer's FIN is read, when the owner calls close or shutdown, or when
//!   a read error ends the connection. If the peer's FIN came first, the owner may
//!   still send, and every byte it sends before calling close reaches the peer.
//! - **Error** comes at most once and means the connection failed (a write or read
//!   error, a linger timeout that discarded unsent bytes, a failed connect). From
//!   then on sends are refused. It may come before or after Close.
//! - A connect that fails gives one Error and nothing else.
//!
//! For a listener: one Connect when started, one Accept per accepted connection, an
//! Error for each connection refused for lack of file descriptors, one Close when
//! closed. For UDP: Udp per datagram, Error on failure, Close when closed.

use std::net::SocketAddr;

use bytes::Bytes;

use super::id::SocketId;

/// The owner of a socket: an opaque handle (a service address in the runtime).
pub type Owner = u32;

/// Something that happened on a socket, addressed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes read from a stream socket, in order.
    Data {
        /// The socket.
        id: SocketId,
        /// The bytes, as read.
        data: Bytes,
    },
    /// A socket is ready: a connect completed (`addr` is the peer), a listener
    /// started (`addr` is the bound address), an accepted socket started (`addr` is
    /// the peer), or a bound fd started (`addr` is `None`).
    Connect {
        /// The socket.
        id: SocketId,
        /// The address that goes with the event, as described above.
        addr: Option<SocketAddr>,
    },
    /// No more data will come on this socket (see the module docs).
    Close {
        /// The socket.
        id: SocketId,
    },
    /// A listener accepted a connection. The new socket reads nothing until an owner
    /// starts it.
    Accept {
        /// The listener.
        listener: SocketId,
        /// The new connection.
        id: SocketId,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A failure, with a reason a person can read.
    Error {
        /// The socket.
        id: SocketId,
        /// What went wrong.
        reason: String,
    },
    /// A datagram received on a UDP socket.
    Udp {
        /// The socket.
        id: SocketId,
        /// The datagram.
        data: Bytes,
        /// The sender.
        from: SocketAddr,
    },
    /// The send queue passed a high-water mark (`kib` is its size in KiB), or, with
    /// `kib == 0`, drained after such a warning.
    Warning {
        /// The socket.
        id: SocketId,
        /// Queued KiB, or 0 when the queue has drained.
        kib: usize,
    },
}

impl Event {
    /// The socket the event is about (for Accept, the new connection).
    pub fn id(&self) -> SocketId {
        match self {
            Event::Data { id, .. }
            | Event::Connect { id, .. }
            | Event::Close { id }
            | Event::Accept { id, .. }
            | Event::Error { id, .. }
            | Event::Udp { id, .. }
            | Event::Warning { id, .. } => *id,
        }
    }

    /// The event's type number in Lua, as in skynet: DATA=1, CONNECT=2, CLOSE=3,
    /// ACCEPT=4, ERROR=5, UDP=6, WARNING=7.
    pub fn kind(&self) -> u8 {
        match self {
            Event::Data { .. } => 1,
            Event::Connect { .. } => 2,
            Event::Close { .. } => 3,
            Event::Accept { .. } => 4,
            Event::Error { .. } => 5,
            Event::Udp { .. } => 6,
            Event::Warning { .. } => 7,
        }
    }
}

/// Where the socket thread sends events. Runs on the socket thread.
///
/// `deliver` is called for each event, in order; `flush` once per turn of the
/// socket thread's loop, after the turn's events and before it may sleep. A sink
/// may hold events back until `flush` (to hand them over in batches, with one
/// wake-up per owner per turn), but must not hold them past it.
pub trait EventSink: Send + 'static {
    /// Delivers one event to `owner` (now, or by the next `flush`).
    fn deliver(&mut self, owner: Owner, event: Event);

    /// Hands over anything held back. The default holds nothing back.
    fn flush(&mut self) {}
}

impl<F> EventSink for F
where
    F: FnMut(Owner, Event) + Send + 'static,
{
    fn deliver(&mut self, owner: Owner, event: Event) {
        self(owner, event)
    }
}
