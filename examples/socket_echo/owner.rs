// Shared by the example, the tests and the bench; each uses only part of it.
#![allow(dead_code)]

//! The echo owner: a plain Rust thread that owns every socket of a listener.
//!
//! It starts each accepted socket, sends back every Data it gets, and closes a
//! socket when its peer has finished (Close) or failed (Error). Because `close`
//! flushes before closing, a peer that sends K bytes and shuts down its write side
//! gets all K bytes back and then EOF. Shared by the `socket_echo` example, the
//! integration tests and the echo benchmark.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use lunet::socket::{Event, EventSink, Owner, SocketConfig, SocketHandle, SocketServer};

/// The owner handle the echo thread uses.
pub const ECHO_OWNER: Owner = 1;

/// A socket server with an echo owner thread and one listener.
pub struct EchoServer {
    server: Option<SocketServer>,
    owner: Option<JoinHandle<()>>,
    /// The address the listener is bound to.
    pub addr: SocketAddr,
}

impl EchoServer {
    /// Starts the socket thread and the owner thread, and listens on `host:port`.
    pub fn start(config: SocketConfig, host: &str, port: u16) -> io::Result<EchoServer> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let server = SocketServer::start(
            config,
            Batcher {
                tx,
                batch: Vec::new(),
            },
        )?;
        let sockets = server.handle().clone();
        let (listener, addr) = sockets
            .listen(ECHO_OWNER, host, port, 1024)
            .map_err(io::Error::other)?;
        sockets.start(ECHO_OWNER, listener);
        let owner = std::thread::Builder::new()
            .name("echo-owner".into())
            .spawn(move || run(sockets, rx))?;
        Ok(EchoServer {
            server: Some(server),
            owner: Some(owner),
            addr,
        })
    }

    /// The handle of the socket server (for stats, or extra commands in tests).
    pub fn handle(&self) -> &SocketHandle {
        self.server.as_ref().expect("running").handle()
    }

    /// Closes every socket (flushing) and joins both threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Hands the owner thread each turn's events as one batch: one channel message
/// and at most one wake-up per turn of the socket thread.
struct Batcher {
    tx: Sender<Vec<Event>>,
    batch: Vec<Event>,
}

impl EventSink for Batcher {
    fn deliver(&mut self, _owner: Owner, event: Event) {
        self.batch.push(event);
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            // The owner thread is gone only when we are stopping.
            let _ = self.tx.send(std::mem::take(&mut self.batch));
        }
    }
}

/// The owner loop: runs until the socket server stops (its sink is dropped).
pub fn run(sockets: SocketHandle, events: Receiver<Vec<Event>>) {
    for event in events.into_iter().flatten() {
        match event {
            Event::Accept { id, .. } => sockets.start(ECHO_OWNER, id),
            Event::Data { id, data } => {
                // Refused only once the socket failed; its Error closes it.
                let _ = sockets.send(id, data);
            }
            Event::Close { id } | Event::Error { id, .. } => sockets.close(id),
            Event::Connect { .. } | Event::Udp { .. } | Event::Warning { .. } => {}
        }
    }
}
