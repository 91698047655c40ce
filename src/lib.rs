//! lunet: an actor runtime with a socket server, for server logic written in Lua.
//!
//! lunet follows skynet's model: one socket thread owns every file descriptor,
//! small Lua services (actors) own the logic, and everything between them is a
//! message. The layers, bottom up:
//! - [`socket`]: the socket thread and the handle other threads command it
//!   through; it knows nothing of services or Lua, and can be used alone.
//! - [`actor`] and [`runtime`]: services, mailboxes, workers, timers, the
//!   monitor; a [`runtime::Runtime`] ties them to a socket thread, whose events
//!   reach each socket's owner service as messages of type `socket`.
//! - [`lua`]: services written in Lua with skynet's API (`skynet`,
//!   `skynet.socket`, `skynet.netpack`, ...), the library in `lua/` and the
//!   services in `services/` compiled into the binary.
//!
//! The example below uses the socket layer alone; `examples/echo/` is the same
//! server as a Lua service (`lunet run examples/echo/config.lua`).
//!
//! # Threads and the way data flows
//! ```text
//!            commands (crossbeam channel + mio::Waker)
//!  owners ─────────────────────────────────────────────▶ socket thread (mio Poll)
//!    ▲                                                        │
//!    │        events (Data, Connect, Close, Accept,           │
//!    └──────── Error, Udp, Warning) through an EventSink ─────┘
//! ```
//! The socket thread never runs user code beyond the [`socket::EventSink`] it is
//! given; it drains every pending command on each wake and turns readiness into
//! events addressed to each socket's owner.
//!
//! # Example
//! An echo owner on a plain thread:
//! ```
//! use lunet::socket::{Event, SocketConfig, SocketServer};
//! use std::io::{Read, Write};
//! use std::time::Duration;
//!
//! let (tx, rx) = crossbeam_channel::unbounded();
//! let server = SocketServer::start(SocketConfig::default(), move |_owner, ev| {
//!     let _ = tx.send(ev);
//! })?;
//! let sockets = server.handle().clone();
//! let (listener, addr) = sockets.listen(0, "127.0.0.1", 0, 64)?;
//! sockets.start(0, listener);
//!
//! let client = std::thread::spawn(move || {
//!     let mut c = std::net::TcpStream::connect(addr).unwrap();
//!     c.write_all(b"hello").unwrap();
//!     c.shutdown(std::net::Shutdown::Write).unwrap();
//!     let mut back = String::new();
//!     c.read_to_string(&mut back).unwrap();
//!     back
//! });
//! loop {
//!     match rx.recv_timeout(Duration::from_secs(5)).expect("an event") {
//!         Event::Accept { id, .. } => sockets.start(0, id),
//!         Event::Data { id, data } => sockets.send(id, data)?,
//!         Event::Close { id } => {
//!             sockets.close(id);
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(client.join().unwrap(), "hello");
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod actor;
pub mod config;
pub mod lua;
pub mod runtime;
pub mod socket;
pub mod testing;
pub mod value;

pub use runtime::{Builder, Error, Runtime};
pub use value::Value;
