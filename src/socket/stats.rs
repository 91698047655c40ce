//! Per-socket statistics, as `netstat` shows them.

use std::net::SocketAddr;
use std::time::Instant;

use super::event::Owner;
use super::id::SocketId;

/// What a socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// A TCP listener.
    Listen,
    /// A TCP connection (accepted or connected).
    Tcp,
    /// A UDP socket.
    Udp,
    /// An fd wrapped by `bind`.
    Bind,
}

/// A snapshot of one socket.
#[derive(Clone, Debug)]
pub struct SocketInfo {
    /// The socket's id.
    pub id: SocketId,
    /// Its owner.
    pub owner: Owner,
    /// What it is.
    pub kind: SocketKind,
    /// Where it is in its life ("open", "closing", "listening", ...).
    pub state: &'static str,
    /// The bound address (listeners, UDP) or the peer (TCP), when known.
    pub addr: Option<SocketAddr>,
    /// Bytes read from it.
    pub bytes_read: u64,
    /// Bytes written to it.
    pub bytes_written: u64,
    /// Bytes queued for sending.
    pub queued: usize,
    /// When it last read something.
    pub last_read: Option<Instant>,
    /// When it last wrote something.
    pub last_write: Option<Instant>,
}

/// The counters the socket thread keeps for each socket.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) read: u64,
    pub(crate) written: u64,
    pub(crate) last_read: Option<Instant>,
    pub(crate) last_write: Option<Instant>,
}

impl Counters {
    pub(crate) fn on_read(&mut self, n: usize, now: Instant) {
        self.read += n as u64;
        self.last_read = Some(now);
    }

    pub(crate) fn on_write(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.written += n as u64;
            self.last_write = Some(now);
        }
    }
}
