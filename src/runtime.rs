//! The runtime: the socket thread, the workers, the timer and the monitor around
//! one [`Node`], and the API a Rust program embeds lunet with.
//!
//! A host builds a runtime with [`Runtime::builder`] (or [`Runtime::start`] for
//! the bare actor runtime), then:
//! - launches Lua services by name ([`Runtime::launch_lua`]) or from a source
//!   string ([`Runtime::launch_lua_source`]), and services written in Rust
//!   ([`Runtime::launch`], a [`Service`]);
//! - sends to and calls any service from its own threads ([`Runtime::send_lua`],
//!   [`Runtime::call_lua`], [`Runtime::call`]): a call blocks the host thread
//!   (never a worker) until the answer or a timeout; Lua values arrive as
//!   [`Value`](crate::value::Value)s, which convert to and from any serde type;
//! - reads [`Runtime::stats`];
//! - stops with [`Runtime::shutdown`], or waits for the services to finish
//!   with [`Runtime::join`]. Both are graceful: sockets flush, every thread is
//!   joined.
//!
//! Services written in Rust talk to Lua services with the same messages Lua
//! services use (type `lua`, values packed as `skynet.pack` packs them): see
//! [`Context::call_lua`](crate::actor::Context::call_lua) and
//! `examples/embed.rs`.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use lunet::{Runtime, Value};
//!
//! let runtime = Runtime::builder().threads(2).start()?;
//! let adder = runtime.launch_lua_source("adder", r#"
//!     local skynet = require "skynet"
//!     skynet.start(function()
//!         skynet.dispatch("lua", function(_, _, a, b) skynet.ret(skynet.pack(a + b)) end)
//!     end)
//! "#, &[])?;
//! let sum = runtime.call_lua(adder, &[Value::from(2), Value::from(3)], Duration::from_secs(5))?;
//! assert_eq!(sum, vec![Value::from(5)]);
//! runtime.shutdown();
//! # Ok::<(), lunet::Error>(())
//! ```

mod builder;
mod error;
mod host;
mod stats;

pub use builder::Builder;
pub use error::{Address, Error};
pub use stats::{ServiceStats, Stats};

use std::io;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::actor::{
    self, Handle, Message, MonitorConfig, Node, Payload, Probe, Router, Service, StartNotice,
};
use crate::lua::LuaEnv;
use crate::socket::{Event, SocketConfig, SocketHandle, SocketId, SocketServer};

/// How long [`Runtime::shutdown`] lets the messages being handled finish before
/// it interrupts them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How a runtime is set up (for [`Runtime::start`]; [`Builder`] sets the same).
///
/// ```
/// use std::time::Duration;
/// use lunet::runtime::RuntimeConfig;
/// use lunet::socket::SocketConfig;
///
/// let config = RuntimeConfig {
///     threads: 4,
///     socket: SocketConfig { linger: Duration::from_secs(5), ..SocketConfig::default() },
///     ..RuntimeConfig::default()
/// };
/// assert_eq!(config.threads, 4);
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Worker threads. Default: the number of CPUs.
    pub threads: usize,
    /// The socket thread's settings.
    pub socket: SocketConfig,
    /// The monitor's settings.
    pub monitor: MonitorConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            socket: SocketConfig::default(),
            monitor: MonitorConfig::default(),
        }
    }
}

/// A running node and its threads. [`Runtime::shutdown`] (or drop) stops it.
///
/// Every method takes `&self` and may be called from any thread, so a host can
/// share a runtime (behind an `Arc`) among its threads.
pub struct Runtime {
    node: Arc<Node>,
    sockets: Option<SocketServer>,
    workers: Vec<JoinHandle<()>>,
    helpers: Vec<JoinHandle<()>>,
    stop: Option<Sender<()>>,
    /// Where Lua services launched from the host are found.
    lua: Arc<LuaEnv>,
    /// The service host threads send and call from, made at first use.
    host: OnceLock<host::Port>,
}

impl Runtime {
    /// A builder: threads, socket and monitor settings, where Lua services are
    /// found, settings for `skynet.getenv`.
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().threads(1).start()?;
    /// assert!(runtime.node().query_name(".launcher").is_some());
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts the socket thread, the workers, the timer and the monitor: the
    /// bare actor runtime, with no Lua system services (no launcher, so Lua
    /// services launched here cannot use `skynet.newservice`). Most hosts want
    /// [`Runtime::builder`].
    ///
    /// ```
    /// use lunet::runtime::{Runtime, RuntimeConfig};
    ///
    /// let runtime = Runtime::start(RuntimeConfig { threads: 1, ..RuntimeConfig::default() })?;
    /// assert_eq!(runtime.node().service_count(), 0);
    /// runtime.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(config: RuntimeConfig) -> io::Result<Runtime> {
        let router = Arc::new(Router::new());
        let sink_router = router.clone();
        // Set once the socket thread runs: the sink closes sockets whose owner
        // is gone.
        let own_handle = Arc::new(std::sync::OnceLock::<SocketHandle>::new());
        let sink_handle = own_handle.clone();
        let sockets = SocketServer::start(config.socket.clone(), move |owner, event: Event| {
            let orphan = Orphan::of(&event);
            let sent = sink_router.send(
                Handle::from_raw(owner),
                Message {
                    source: Handle::SYSTEM,
                    session: 0,
                    ptype: actor::ptype::SOCKET,
                    payload: Payload::Socket(event),
                },
            );
            if sent.is_err() {
                if let Some(sockets) = sink_handle.get() {
                    orphan.close(sockets, owner);
                }
            }
        })?;
        let _ = own_handle.set(sockets.handle().clone());
        let node = Arc::new(Node::new(router, sockets.handle().clone()));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let mut runtime = Runtime {
            node: node.clone(),
            sockets: Some(sockets),
            workers: Vec::new(),
            helpers: Vec::new(),
            stop: Some(stop),
            lua: Arc::new(LuaEnv::default()),
            host: OnceLock::new(),
        };
        let probes: Vec<Arc<Probe>> = (0..config.threads.max(1))
            .map(|_| Arc::new(Probe::default()))
            .collect();
        for (i, probe) in probes.iter().enumerate() {
            let (node, probe) = (node.clone(), probe.clone());
            runtime.workers.push(
                std::thread::Builder::new()
                    .name(format!("lunet-worker-{i}"))
                    .spawn(move || actor::work(node, probe))?,
            );
        }
        let (timer_node, timer_stop) = (node.clone(), stopped.clone());
        runtime.helpers.push(
            std::thread::Builder::new()
                .name("lunet-timer".into())
                .spawn(move || {
                    actor::run_timer(&timer_node.timer, &timer_node.router, timer_stop)
                })?,
        );
        let monitor = config.monitor.clone();
        runtime.helpers.push(
            std::thread::Builder::new()
                .name("lunet-monitor".into())
                .spawn(move || actor::run_monitor(&node, &probes, &monitor, stopped))?,
        );
        Ok(runtime)
    }

    /// The node: the lower-level API every service and thread goes through
    /// (names, environment, sockets, raw messages).
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().env("greeting", "hi").start()?;
    /// assert_eq!(runtime.node().getenv("greeting").as_deref(), Some("hi"));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Launches a service written in Rust and waits until its start function
    /// has returned; the error is the one its start function returned.
    ///
    /// ```
    /// use lunet::actor::{Context, Message, Service};
    ///
    /// struct Quiet;
    /// impl Service for Quiet {
    ///     fn handle(&mut self, _: &mut Context<'_>, _: Message) {}
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let quiet = runtime.launch(Box::new(Quiet), "quiet").expect("starts");
    /// assert!(runtime.node().is_alive(quiet));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn launch(&self, service: Box<dyn Service>, label: &str) -> Result<Handle, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.node.launch(service, label, StartNotice::Channel(tx));
        rx.recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("service {label}: start did not finish within 60 s"))?
    }

    /// Waits until only system services (launcher, service_mgr, logger, the
    /// host port) are left, or a service called `skynet.abort()`, then shuts
    /// down gracefully, as `lunet run` does. Returns the abort error, if any.
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().start()?;
    /// runtime.launch_lua_source("brief", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function() skynet.timeout(1, skynet.exit) end)
    /// "#, &[])?;
    /// runtime.join()?; // returns once `brief` has exited
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn join(self) -> Result<(), Error> {
        while !self.node.wait_until_idle(Duration::from_secs(3600)) {}
        let aborted = self.node.abort_error();
        self.shutdown();
        match aborted {
            Some(message) => Err(Error::Aborted(message)),
            None => Ok(()),
        }
    }

    /// Stops gracefully: sockets flush and close (bounded by the socket
    /// config's `exit_linger`), workers finish the message they are on, every
    /// thread is joined, every service is dropped. A message still running
    /// after [`SHUTDOWN_GRACE`] is interrupted (repeatedly), so a Lua service
    /// stuck in a loop cannot hold shutdown up; a Rust service stuck in one
    /// must check [`Context::is_interrupted`](crate::actor::Context::is_interrupted).
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let server = runtime.launch_lua_source("server", r#"
    ///     local skynet = require "skynet"
    ///     local socket = require "skynet.socket"
    ///     skynet.start(function()
    ///         local id, _, port = socket.listen("127.0.0.1", 0)
    ///         socket.start(id, function(c) socket.start(c); socket.write(c, "bye\n") end)
    ///         skynet.dispatch("lua", function() skynet.retpack(port) end)
    ///     end)
    /// "#, &[])?;
    /// let port = runtime.call_lua(server, &[], std::time::Duration::from_secs(5))?[0].as_i64().unwrap();
    /// let mut client = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    /// let mut first = [0; 4];
    /// client.read_exact(&mut first).unwrap();
    /// runtime.shutdown(); // the connection is flushed and closed, the threads joined
    /// let mut rest = Vec::new();
    /// client.read_to_end(&mut rest).unwrap();
    /// assert_eq!((&first, rest.len()), (b"bye\n", 0));
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if let Some(sockets) = self.sockets.take() {
            sockets.stop();
        }
        self.node.router.queue.close();
        // A worker stuck in one message (a Lua `while true do end`) would never
        // return: after a grace period, interrupt whatever is still running,
        // again and again (a loop may catch the error), until every worker is
        // done.
        let grace = std::time::Instant::now() + SHUTDOWN_GRACE;
        while self.workers.iter().any(|w| !w.is_finished()) {
            if std::time::Instant::now() >= grace {
                for cell in self.node.router.cells() {
                    cell.exiting
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    cell.interrupt();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        drop(self.stop.take());
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
        for cell in self.node.router.cells() {
            self.node.router.retire(cell.handle);
            drop(
                cell.service
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take(),
            );
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The sockets to close when an event's owner service is gone: nobody can
/// read them any more, and an fd must not stay open for nobody. The close
/// flushes what is queued. After an Accept, the new connection and the
/// listener are both closed (nobody will ever start them).
struct Orphan {
    id: SocketId,
    listener: Option<SocketId>,
}

impl Orphan {
    fn of(event: &Event) -> Orphan {
        let listener = match event {
            Event::Accept { listener, .. } => Some(*listener),
            _ => None,
        };
        Orphan {
            id: event.id(),
            listener,
        }
    }

    fn close(self, sockets: &SocketHandle, owner: u32) {
        tracing::debug!(
            "socket event for {}, which is gone: closing socket {}",
            Handle::from_raw(owner),
            self.id
        );
        if let Some(listener) = self.listener {
            sockets.close(listener);
        }
        sockets.close(self.id);
    }
}
