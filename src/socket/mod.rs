//! The socket layer: one thread that owns every socket.
//!
//! This layer knows nothing about Lua. A [`SocketServer`] runs one thread with a
//! mio `Poll`; every other thread talks to it through a [`SocketHandle`], whose
//! commands travel over a crossbeam channel and wake the thread through a
//! `mio::Waker` (at most one wake-up per drain, however many commands). The thread
//! answers with [`Event`]s addressed to each socket's owner, delivered to the
//! [`EventSink`] given at start — the actor runtime's mailboxes, or a channel in a
//! test.
//!
//! # Guarantees
//! - **Ids** are reserved in the caller's thread and never reused soon: a stale id
//!   never reaches a newer socket (see [`SocketId`]).
//! - **No spin**: polling is edge-triggered and interest follows state, so a
//!   half-closed, paused or unstarted fd is never reported again.
//! - **No lost byte**: every byte accepted by `send` before `close` reaches a peer
//!   that keeps reading; closing reads and discards input until the peer's EOF or
//!   acknowledgement so the kernel never resets the connection under our data.
//! - **One Close**: each connection gives its owner exactly one Close and at most
//!   one Error (see [`event`] for the full contract).
//! - **Bounded close**: a flush to a peer that never reads ends after
//!   [`SocketConfig::linger`], with an Error to the owner.
//! - **EMFILE**: a spare fd lets the listener refuse connections it cannot hold
//!   instead of spinning; the listener's owner gets an Error for each.
//!
//! # Example
//! ```
//! use lunet::socket::{Event, SocketConfig, SocketServer};
//! use std::io::{Read, Write};
//!
//! let (tx, rx) = crossbeam_channel::unbounded();
//! let server = SocketServer::start(SocketConfig::default(), move |owner, ev| {
//!     let _ = tx.send((owner, ev));
//! })
//! .unwrap();
//! let sockets = server.handle().clone();
//! let (listener, addr) = sockets.listen(1, "127.0.0.1", 0, 128).unwrap();
//! sockets.start(1, listener);
//!
//! let mut client = std::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"ping").unwrap();
//! client.shutdown(std::net::Shutdown::Write).unwrap();
//!
//! // A tiny echo owner: start accepted sockets, echo data, close on the peer's FIN.
//! let mut echoed = Vec::new();
//! loop {
//!     match rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap().1 {
//!         Event::Accept { id, .. } => sockets.start(1, id),
//!         Event::Data { id, data } => sockets.send(id, data).unwrap(),
//!         Event::Close { id } => {
//!             sockets.close(id);
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! client.read_to_end(&mut echoed).unwrap();
//! assert_eq!(echoed, b"ping");
//! server.stop();
//! ```

mod command;
mod config;
mod connector;
mod direct;
mod error;
pub mod event;
mod handle;
mod id;
mod listener;
mod server;
mod state;
mod stats;
mod stream;
mod udp;
mod write_queue;

pub use config::SocketConfig;
pub use error::SocketError;
pub use event::{Event, EventSink, Owner};
pub use handle::{SocketHandle, SocketServer};
pub use id::SocketId;
pub use stats::{SocketInfo, SocketKind};
pub use write_queue::DEFAULT_WARN_THRESHOLD;
