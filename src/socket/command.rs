//! Commands callers send to the socket thread.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use bytes::Bytes;
use crossbeam_channel::Sender;

use super::event::Owner;
use super::id::SocketId;
use super::stats::SocketInfo;

/// One request to the socket thread. Every command names a socket id; a command
/// whose id no longer holds its slot is dropped.
pub(crate) enum Command {
    /// Register a listener the caller already bound (PendingListen until started).
    Listen {
        id: SocketId,
        owner: Owner,
        listener: std::net::TcpListener,
    },
    /// Connect to `host:port` (resolved off the socket thread if not an address).
    Connect {
        id: SocketId,
        owner: Owner,
        host: String,
        port: u16,
    },
    /// A resolver thread finished for a pending connect.
    Resolved {
        id: SocketId,
        result: io::Result<Vec<SocketAddr>>,
    },
    /// Take ownership and start reading.
    Start { id: SocketId, owner: Owner },
    /// Stop reading.
    Pause { id: SocketId },
    /// Read again.
    Resume { id: SocketId },
    /// Queue bytes (high or low priority).
    Send {
        id: SocketId,
        data: Bytes,
        low: bool,
    },
    /// 'K': close after flushing (`force == false`) or at once (`force == true`).
    Close { id: SocketId, force: bool },
    /// TCP_NODELAY.
    NoDelay { id: SocketId, on: bool },
    /// Wrap an existing fd as a stream.
    Bind {
        id: SocketId,
        owner: Owner,
        fd: OwnedFd,
    },
    /// Register a UDP socket the caller already bound.
    Udp {
        id: SocketId,
        owner: Owner,
        socket: std::net::UdpSocket,
    },
    /// Set a UDP socket's default peer.
    UdpConnect { id: SocketId, addr: SocketAddr },
    /// Send a datagram (to the default peer if `to` is `None`).
    UdpSend {
        id: SocketId,
        to: Option<SocketAddr>,
        data: Bytes,
    },
    /// Snapshot every socket.
    Stats { reply: Sender<Vec<SocketInfo>> },
    /// Close everything (flushing, bounded by `exit_linger`) and stop.
    Exit,
}
