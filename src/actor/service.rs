//! What a service is to the runtime: a trait with a start function and a message
//! handler, and the context it gets to act on the world.

use std::sync::Arc;

use super::handle::Handle;
use super::message::{Message, Payload};
use super::node::Node;
use super::registry::{Cell, SendError, StartNotice};

/// A service: code that owns its state and sees one message at a time.
///
/// The runtime calls `start` once, on a worker thread, before any message; then
/// `handle` for each message, never from two threads at once. A panic in either
/// is caught and logged; after a panic in `start` the service is removed, after a
/// panic in `handle` it lives on.
pub trait Service: Send + 'static {
    /// Runs before the first message. An error removes the service and is
    /// reported to whoever launched it.
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }

    /// Handles one message.
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message);
}

/// What a running service may do: send, set timers, launch and kill services,
/// name itself, use sockets. Lives for one `start` or `handle` call.
pub struct Context<'a> {
    pub(crate) node: &'a Arc<Node>,
    pub(crate) cell: &'a Arc<Cell>,
}

impl Context<'_> {
    /// This service's handle.
    pub fn handle(&self) -> Handle {
        self.cell.handle
    }

    /// The node this service runs in.
    pub fn node(&self) -> &Arc<Node> {
        self.node
    }

    /// A fresh session number for a request.
    pub fn new_session(&self) -> i32 {
        self.cell.new_session()
    }

    /// Sends a message from this service. A request (session ≠ 0) to a dead
    /// service is answered with an error response, and this returns `Err`.
    pub fn send(
        &self,
        to: Handle,
        ptype: u8,
        session: i32,
        payload: impl Into<Payload>,
    ) -> Result<(), SendError> {
        self.node
            .send(self.cell.handle, to, ptype, session, payload.into())
    }

    /// Sends a message that appears to come from `source` (skynet's redirect).
    pub fn redirect(
        &self,
        source: Handle,
        to: Handle,
        ptype: u8,
        session: i32,
        payload: impl Into<Payload>,
    ) -> Result<(), SendError> {
        self.node.send(source, to, ptype, session, payload.into())
    }

    /// After `centis` hundredths of a second, this service gets a response
    /// message with `session` (from [`Handle::SYSTEM`]).
    pub fn timeout(&self, centis: u32, session: i32) {
        self.node.timeout(self.cell.handle, centis, session);
    }

    /// Asks the runtime to remove this service once the current call returns.
    pub fn exit(&self) {
        self.node.kill(self.cell.handle);
    }

    /// Launches a service; `notice` says who learns when its start finishes.
    pub fn launch(&self, service: Box<dyn Service>, label: &str, notice: StartNotice) -> Handle {
        self.node.launch(service, label, notice)
    }

    /// The flag behind [`Context::is_interrupted`], for code that checks it
    /// outside this call (the Lua instruction hook).
    pub fn interrupt_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.cell.interrupt.clone()
    }

    /// Whether the monitor asked this service to stop its current work (the
    /// Lua instruction hook reads this; a Rust service may poll it in long loops).
    pub fn is_interrupted(&self) -> bool {
        self.cell
            .interrupt
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
