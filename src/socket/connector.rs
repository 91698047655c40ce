//! Outgoing connections: name resolution off the socket thread, and non-blocking
//! connect through each resolved address in turn.
//!
//! A connect to an IP address starts at once on the socket thread. A host name is
//! resolved on a short-lived helper thread (getaddrinfo blocks), whose answer comes
//! back as a `Resolved` command. The connect itself is non-blocking: the socket is
//! registered for writability, and when it becomes writable SO_ERROR tells whether
//! it connected; on failure the next resolved address is tried, and when none is
//! left the owner gets one Error.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use mio::net::TcpStream;

use super::command::Command;
use super::id::SocketId;

/// Addresses still to try for a connect in progress.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// `host:port` as given, for error messages.
    pub(crate) target: String,
    pub(crate) addrs: std::collections::VecDeque<SocketAddr>,
    /// The last failure, reported if no address is left.
    pub(crate) last_error: Option<String>,
}

/// The address of `host:port` if `host` is an IP literal.
pub(crate) fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

/// Resolves `host:port` on a new thread and sends the answer through `send`.
pub(crate) fn resolve_in_background(
    id: SocketId,
    host: String,
    port: u16,
    send: impl FnOnce(Command) + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("lunet-resolve".into())
        .spawn(move || {
            let result = (host.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect());
            send(Command::Resolved { id, result });
        })
        .map(drop)
}

impl Pending {
    /// Starts a connect to the next address that accepts one. Returns `None` (with
    /// `last_error` set) when none is left.
    pub(crate) fn next_stream(&mut self) -> Option<TcpStream> {
        while let Some(addr) = self.addrs.pop_front() {
            match TcpStream::connect(addr) {
                Ok(s) => return Some(s),
                Err(e) => self.last_error = Some(format!("connect {addr}: {e}")),
            }
        }
        None
    }

    /// The reason to give the owner when every address failed.
    pub(crate) fn failure(&mut self) -> String {
        self.last_error
            .take()
            .unwrap_or_else(|| "connect: no address to connect to".to_string())
    }
}

/// What a writable event on a connecting socket means.
pub(crate) enum Progress {
    Connected(SocketAddr),
    Failed(String),
    StillConnecting,
}

/// Checks a connecting socket after a writable (or error) event.
pub(crate) fn check(stream: &TcpStream) -> Progress {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Progress::Failed(format!("connect: {e}")),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(addr) => Progress::Connected(addr),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Progress::StillConnecting,
        Err(e) => Progress::Failed(format!("connect: {e}")),
    }
}
