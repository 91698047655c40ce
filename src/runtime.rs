//! Building, starting and stopping a runtime: the socket thread, the workers, the
//! timer and the monitor, around one [`Node`].
//!
//! # Example
//! ```
//! use lunet::actor::{Context, Message, Service};
//! use lunet::runtime::{Runtime, RuntimeConfig};
//!
//! struct Hello;
//! impl Service for Hello {
//!     fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
//!         ctx.exit(); // nothing more to do
//!         Ok(())
//!     }
//!     fn handle(&mut self, _: &mut Context<'_>, _: Message) {}
//! }
//!
//! let runtime = Runtime::start(RuntimeConfig::default()).unwrap();
//! runtime.launch(Box::new(Hello), "hello").unwrap();
//! assert!(runtime.node().wait_until_empty(std::time::Duration::from_secs(5)));
//! runtime.shutdown();
//! ```

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

/// How long [`Runtime::shutdown`] lets the messages being handled finish before
/// it interrupts them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

use crate::actor::{
    self, Handle, Message, MonitorConfig, Node, Payload, Probe, Router, Service, StartNotice,
};
use crate::socket::{Event, SocketConfig, SocketHandle, SocketId, SocketServer};

/// How a runtime is set up.
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
pub struct Runtime {
    node: Arc<Node>,
    sockets: Option<SocketServer>,
    workers: Vec<JoinHandle<()>>,
    helpers: Vec<JoinHandle<()>>,
    stop: Option<Sender<()>>,
}

impl Runtime {
    /// Starts the socket thread, the workers, the timer and the monitor.
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

    /// The node: send messages, launch services, read stats.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Launches a service and waits until its start function has returned.
    pub fn launch(&self, service: Box<dyn Service>, label: &str) -> Result<Handle, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.node.launch(service, label, StartNotice::Channel(tx));
        rx.recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("service {label}: start did not finish within 60 s"))?
    }

    /// Stops gracefully: sockets flush and close (bounded by the socket
    /// config's `exit_linger`), workers finish the message they are on, every
    /// thread is joined, every service is dropped. A message still running
    /// after [`SHUTDOWN_GRACE`] is interrupted (repeatedly), so a Lua service
    /// stuck in a loop cannot hold shutdown up; a Rust service stuck in one
    /// must check [`Context::is_interrupted`](crate::actor::Context::is_interrupted).
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
