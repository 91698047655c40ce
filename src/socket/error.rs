//! Errors the socket layer returns to its callers.

use std::io;
use std::net::SocketAddr;

use thiserror::Error;

use super::id::SocketId;

/// Why a socket call was refused.
#[derive(Debug, Error)]
pub enum SocketError {
    /// Every slot of the socket table is taken.
    #[error("socket table full ({0} sockets open)")]
    Full(usize),
    /// The id does not name a socket that accepts this call (never opened, closed,
    /// closing, or failed).
    #[error("socket {0} is closed or invalid")]
    Closed(SocketId),
    /// A host name or address could not be resolved.
    #[error("cannot resolve {host}:{port}: {source}")]
    Resolve {
        /// The host as given.
        host: String,
        /// The port as given.
        port: u16,
        /// What the resolver said.
        source: io::Error,
    },
    /// Binding or listening failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// Another I/O failure, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// The socket thread has stopped.
    #[error("the socket server has stopped")]
    Stopped,
}
