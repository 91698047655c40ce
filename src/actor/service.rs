//! What a service is to the runtime: a trait with a start function and a message
//! handler, and the context it gets to act on the world.
//!
//! A service written in Rust never blocks its worker: it sends a request with
//! [`Context::call`] (or [`Context::call_lua`]), keeps what it needs under the
//! returned session, and handles the answer when it arrives, as a message of
//! type [`ptype::RESPONSE`] (or [`ptype::ERROR`] if the callee failed or is
//! gone) with that session. It answers requests with [`Context::reply`].
//! Sockets are the node's socket layer ([`Context::sockets`]); their events
//! arrive as messages of type [`ptype::SOCKET`] carrying
//! [`Payload::Socket`].

use std::sync::Arc;

use super::handle::Handle;
use super::message::{ptype, Message, Payload};
use super::node::Node;
use super::registry::{Cell, SendError, StartNotice};
use crate::socket::SocketHandle;
use crate::value::{self, PackError, Value};

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

    /// Sends a request and returns its session: the answer comes later to
    /// [`Service::handle`] as a [`ptype::RESPONSE`] message with that session,
    /// or a [`ptype::ERROR`] one if `to` failed, exited, or does not exist.
    pub fn call(&self, to: Handle, ptype: u8, payload: impl Into<Payload>) -> i32 {
        let session = self.new_session();
        // A dead target answers with an error message to this service: the
        // caller learns of it the same way in every case.
        let _ = self.send(to, ptype, session, payload);
        session
    }

    /// Sends Lua values one-way (type `lua`): `to`'s `lua` dispatch function
    /// gets them as arguments.
    pub fn send_lua(&self, to: Handle, values: &[Value]) -> Result<(), LuaSendError> {
        self.send(to, ptype::LUA, 0, value::pack(values)?)?;
        Ok(())
    }

    /// Calls `to` with Lua values (type `lua`), as `skynet.call(to, "lua",
    /// ...)` does, and returns the session of the answer (see
    /// [`Context::call`]; read the answer with [`Message::lua_values`]).
    pub fn call_lua(&self, to: Handle, values: &[Value]) -> Result<i32, PackError> {
        Ok(self.call(to, ptype::LUA, value::pack(values)?))
    }

    /// Answers `request` (a message with a session) with `payload`; does
    /// nothing for a one-way message. Returns whether the answer was sent (the
    /// caller may be gone).
    pub fn reply(&self, request: &Message, payload: impl Into<Payload>) -> bool {
        request.session != 0
            && self
                .send(request.source, ptype::RESPONSE, request.session, payload)
                .is_ok()
    }

    /// Answers `request` with Lua values, as `skynet.retpack(...)` does.
    pub fn reply_lua(&self, request: &Message, values: &[Value]) -> Result<bool, PackError> {
        Ok(self.reply(request, value::pack(values)?))
    }

    /// Answers `request` with an error: the caller's `skynet.call` raises.
    pub fn reply_error(&self, request: &Message) -> bool {
        request.session != 0
            && self
                .send(
                    request.source,
                    ptype::ERROR,
                    request.session,
                    Payload::Empty,
                )
                .is_ok()
    }

    /// Gives this service a name (`".name"`), for `skynet.call(".name", ...)`.
    pub fn register(&self, name: &str) {
        self.node.register_name(name, self.cell.handle);
    }

    /// The socket layer. Sockets this service opens or starts with its own
    /// handle as owner (`ctx.handle().get()`) send their events to it.
    pub fn sockets(&self) -> &SocketHandle {
        self.node.sockets()
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

/// Why [`Context::send_lua`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LuaSendError {
    /// The values cannot be packed.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The target does not exist or has exited.
    #[error(transparent)]
    Dead(#[from] SendError),
}
