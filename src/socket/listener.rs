//! Listening sockets: the accept loop and the spare fd that keeps EMFILE harmless.
//!
//! Runs on the socket thread. Readiness is edge-triggered, so `accept_all` accepts
//! until `WouldBlock`. When the process is out of fds (EMFILE/ENFILE), a pending
//! connection would stay in the backlog and, with level-triggered polling, wake the
//! thread forever. We keep one spare fd open: on EMFILE we close it, accept the
//! pending connection, close that at once (the peer sees it closed), reopen the
//! spare, and tell the listener's owner. The listener keeps working and the thread
//! never spins.

use std::fs::File;
use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};

/// What one step of the accept loop produced.
pub(crate) enum Accepted {
    /// A new connection.
    Conn(TcpStream, SocketAddr),
    /// A connection was accepted and closed at once for lack of fds.
    Refused(io::Error),
}

/// A listener and whether its owner has started it.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) io: TcpListener,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) listening: bool,
}

/// The spare fd held for EMFILE.
#[derive(Debug)]
pub(crate) struct Spare(Option<File>);

impl Spare {
    pub(crate) fn open() -> Spare {
        Spare(Self::reopen())
    }

    fn reopen() -> Option<File> {
        match File::open("/dev/null") {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!("cannot open the spare fd for EMFILE handling: {e}");
                None
            }
        }
    }

    /// Frees the spare, accepts and drops one pending connection, takes the spare
    /// back. Returns whether a connection was refused that way.
    fn refuse_one(&mut self, io: &TcpListener) -> bool {
        if self.0.take().is_none() {
            // No spare (it could not be reopened last time): try to get it back;
            // this connection waits in the backlog for the caller's retry.
            self.0 = Self::reopen();
            return false;
        }
        let refused = io.accept().is_ok();
        self.0 = Self::reopen();
        refused
    }
}

fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

impl Listener {
    /// Accepts until `WouldBlock`, handing each outcome to `f`. Returns false if
    /// it had to stop earlier (no spare fd, out of memory): connections may be left
    /// in the backlog with no readiness edge to come, so the caller retries later.
    pub(crate) fn accept_all(&self, spare: &mut Spare, mut f: impl FnMut(Accepted)) -> bool {
        loop {
            match self.io.accept() {
                Ok((stream, peer)) => f(Accepted::Conn(stream, peer)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) if is_out_of_fds(&e) => {
                    if !spare.refuse_one(&self.io) {
                        tracing::warn!("accept: {e}; no spare fd, connection left pending");
                        return false;
                    }
                    tracing::warn!("accept: {e}; connection refused");
                    f(Accepted::Refused(e));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}; retrying later");
                    return false;
                }
            }
        }
    }
}
