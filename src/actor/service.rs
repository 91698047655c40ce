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

    /// Runs once when the service is removed because it exited or was
    /// killed, after its last message (not after a failed `start`, nor when
    /// the whole runtime shuts down). Messages still in its mailbox are
    /// refused after this (requests among them get error responses); a
    /// service that holds requests it has not answered (kept to answer later)
    /// should fail them here with [`Context::reply_error`], so their callers
    /// do not wait. A Lua service does this for every request it holds.
    fn stop(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }
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
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use lunet::actor::{ptype, Context, Handle, Message, Service};
    ///
    /// /// Answers a host call with the upper-cased text, asked of a Lua service.
    /// struct Asker { upper: Handle, waiting: HashMap<i32, Message> }
    /// impl Service for Asker {
    ///     fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
    ///         match m.ptype {
    ///             ptype::TEXT => {
    ///                 let session = ctx.call(self.upper, ptype::TEXT, m.payload.clone());
    ///                 self.waiting.insert(session, m);
    ///             }
    ///             ptype::RESPONSE => if let Some(request) = self.waiting.remove(&m.session) {
    ///                 ctx.reply(&request, m.payload);
    ///             },
    ///             _ => {}
    ///         }
    ///     }
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let upper = runtime.launch_lua_source("upper", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("text", function(_, _, s) skynet.ret(s:upper()) end)
    ///     end)
    /// "#, &[])?;
    /// let asker = runtime.launch(Box::new(Asker { upper, waiting: HashMap::new() }), "asker").unwrap();
    /// let answer = runtime.call(asker, ptype::TEXT, "hi", std::time::Duration::from_secs(5))?;
    /// assert_eq!(answer.bytes(), b"HI");
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn call(&self, to: Handle, ptype: u8, payload: impl Into<Payload>) -> i32 {
        let session = self.new_session();
        // A dead target answers with an error message to this service: the
        // caller learns of it the same way in every case.
        let _ = self.send(to, ptype, session, payload);
        session
    }

    /// Sends Lua values one-way (type `lua`): `to`'s `lua` dispatch function
    /// gets them as arguments.
    ///
    /// ```
    /// use lunet::actor::{Context, Handle, Message, Service};
    ///
    /// struct Greeter(Handle);
    /// impl Service for Greeter {
    ///     fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
    ///         ctx.send_lua(self.0, &["hello".into(), 42.into()]).map_err(|e| e.to_string())
    ///     }
    ///     fn handle(&mut self, _: &mut Context<'_>, _: Message) {}
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let log = runtime.launch_lua_source("log", r#"
    ///     local skynet = require "skynet"
    ///     local got
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function(session, _, a, b)
    ///             if session == 0 then got = a .. " " .. b else skynet.retpack(got) end
    ///         end)
    ///     end)
    /// "#, &[])?;
    /// runtime.launch(Box::new(Greeter(log)), "greeter").unwrap();
    /// let got = runtime.call_lua(log, &[], std::time::Duration::from_secs(5))?;
    /// assert_eq!(got, vec!["hello 42".into()]);
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn send_lua(&self, to: Handle, values: &[Value]) -> Result<(), LuaSendError> {
        self.send(to, ptype::LUA, 0, value::pack(values)?)?;
        Ok(())
    }

    /// Calls `to` with Lua values (type `lua`), as `skynet.call(to, "lua",
    /// ...)` does, and returns the session of the answer (see
    /// [`Context::call`]; read the answer with [`Message::lua_values`]).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use lunet::actor::{ptype, Context, Handle, Message, Service};
    /// use lunet::Value;
    ///
    /// /// Asked for a sum by the host, asks a Lua adder and relays its answer.
    /// struct Relay { adder: Handle, waiting: HashMap<i32, Message> }
    /// impl Service for Relay {
    ///     fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
    ///         match m.ptype {
    ///             ptype::LUA => {
    ///                 let args = m.lua_values().unwrap_or_default();
    ///                 let session = ctx.call_lua(self.adder, &args).unwrap();
    ///                 self.waiting.insert(session, m);
    ///             }
    ///             ptype::RESPONSE => if let Some(request) = self.waiting.remove(&m.session) {
    ///                 let sum = m.lua_values().unwrap_or_default();
    ///                 ctx.reply_lua(&request, &sum).unwrap();
    ///             },
    ///             ptype::ERROR => if let Some(request) = self.waiting.remove(&m.session) {
    ///                 ctx.reply_error(&request);
    ///             },
    ///             _ => {}
    ///         }
    ///     }
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let adder = runtime.launch_lua_source("adder", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function(_, _, a, b) skynet.retpack(a + b) end)
    ///     end)
    /// "#, &[])?;
    /// let relay = runtime.launch(Box::new(Relay { adder, waiting: HashMap::new() }), "relay").unwrap();
    /// let wait = std::time::Duration::from_secs(5);
    /// assert_eq!(runtime.call_lua(relay, &[2.into(), 3.into()], wait)?, vec![Value::from(5)]);
    /// // The adder raises on a nil: the error travels back to the host.
    /// assert!(matches!(runtime.call_lua(relay, &[2.into()], wait), Err(lunet::Error::Failed(_))));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn call_lua(&self, to: Handle, values: &[Value]) -> Result<i32, PackError> {
        Ok(self.call(to, ptype::LUA, value::pack(values)?))
    }

    /// Answers `request` (a message with a session) with `payload`; does
    /// nothing for a one-way message. Returns whether the answer was sent (the
    /// caller may be gone).
    ///
    /// ```
    /// use lunet::actor::{Context, Message, Service};
    ///
    /// struct Pong;
    /// impl Service for Pong {
    ///     fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
    ///         ctx.reply(&m, "pong");
    ///     }
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let pong = runtime.launch(Box::new(Pong), "pong").unwrap();
    /// let answer = runtime.call(pong, 0, "ping", std::time::Duration::from_secs(5))?;
    /// assert_eq!(answer.bytes(), b"pong");
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn reply(&self, request: &Message, payload: impl Into<Payload>) -> bool {
        request.session != 0
            && self
                .send(request.source, ptype::RESPONSE, request.session, payload)
                .is_ok()
    }

    /// Answers `request` with Lua values, as `skynet.retpack(...)` does.
    ///
    /// ```
    /// use lunet::actor::{Context, Message, Service};
    ///
    /// /// Answers `skynet.call(counter, "lua")` with how many calls it had.
    /// struct Counter(i64);
    /// impl Service for Counter {
    ///     fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
    ///         self.0 += 1;
    ///         ctx.reply_lua(&m, &[self.0.into(), "calls".into()]).unwrap();
    ///     }
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// runtime.launch(Box::new(Counter(0)), "counter").unwrap();
    /// let lua = runtime.launch_lua_source("caller", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function(_, _, counter)
    ///             skynet.call(counter, "lua")
    ///             skynet.retpack(skynet.call(counter, "lua"))
    ///         end)
    ///     end)
    /// "#, &[])?;
    /// let counter = runtime.stats().services.iter().find(|s| s.label == "counter").unwrap().handle;
    /// let wait = std::time::Duration::from_secs(5);
    /// let answer = runtime.call_lua(lua, &[i64::from(counter.get()).into()], wait)?;
    /// assert_eq!(answer, vec![2.into(), "calls".into()]);
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn reply_lua(&self, request: &Message, values: &[Value]) -> Result<bool, PackError> {
        Ok(self.reply(request, value::pack(values)?))
    }

    /// Answers `request` with an error: the caller's `skynet.call` raises.
    ///
    /// ```
    /// use lunet::actor::{Context, Message, Service};
    ///
    /// struct Refuser;
    /// impl Service for Refuser {
    ///     fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
    ///         ctx.reply_error(&m);
    ///     }
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let refuser = runtime.launch(Box::new(Refuser), "refuser").unwrap();
    /// let result = runtime.call_lua(refuser, &[], std::time::Duration::from_secs(5));
    /// assert!(matches!(result, Err(lunet::Error::Failed(h)) if h == refuser));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
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
    ///
    /// ```
    /// use lunet::actor::{Context, Message, Service};
    ///
    /// struct Named;
    /// impl Service for Named {
    ///     fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
    ///         ctx.register(".named");
    ///         Ok(())
    ///     }
    ///     fn handle(&mut self, _: &mut Context<'_>, _: Message) {}
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().lua_system(false).start()?;
    /// let named = runtime.launch(Box::new(Named), "named").unwrap();
    /// assert_eq!(runtime.node().query_name(".named"), Some(named));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn register(&self, name: &str) {
        self.node.register_name(name, self.cell.handle);
    }

    /// The socket layer. Sockets this service opens or starts with its own
    /// handle as owner (`ctx.handle().get()`) send their events to it.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use lunet::actor::{ptype, Context, Message, Payload, Service};
    /// use lunet::socket::Event;
    ///
    /// /// Echoes every connection on a listener it opens.
    /// struct Echo { port: u16 }
    /// impl Service for Echo {
    ///     fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
    ///         let me = ctx.handle().get();
    ///         let (id, addr) = ctx.sockets().listen(me, "127.0.0.1", 0, 64).map_err(|e| e.to_string())?;
    ///         ctx.sockets().start(me, id);
    ///         self.port = addr.port();
    ///         Ok(())
    ///     }
    ///     fn handle(&mut self, ctx: &mut Context<'_>, m: Message) {
    ///         match m.payload {
    ///             Payload::Socket(Event::Accept { id, .. }) => ctx.sockets().start(ctx.handle().get(), id),
    ///             Payload::Socket(Event::Data { id, data }) => { let _ = ctx.sockets().send(id, data); }
    ///             Payload::Socket(Event::Close { id }) => ctx.sockets().close(id),
    ///             _ if m.ptype == ptype::LUA => { ctx.reply_lua(&m, &[i64::from(self.port).into()]).unwrap(); }
    ///             _ => {}
    ///         }
    ///     }
    /// }
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let echo = runtime.launch(Box::new(Echo { port: 0 }), "echo").unwrap();
    /// let port = runtime.call_lua(echo, &[], std::time::Duration::from_secs(5))?[0].as_i64().unwrap();
    /// let mut client = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    /// client.write_all(b"hello").unwrap();
    /// client.shutdown(std::net::Shutdown::Write).unwrap();
    /// let mut back = String::new();
    /// client.read_to_string(&mut back).unwrap();
    /// assert_eq!(back, "hello");
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
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
///
/// ```
/// use lunet::actor::{Context, Handle, LuaSendError, Message, Service};
///
/// struct Sender;
/// impl Service for Sender {
///     fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
///         match ctx.send_lua(Handle::from_raw(0xffff), &["hello".into()]) {
///             Err(LuaSendError::Dead(_)) => Ok(()), // nobody has that handle
///             other => Err(format!("{other:?}")),
///         }
///     }
///     fn handle(&mut self, _: &mut Context<'_>, _: Message) {}
/// }
///
/// let runtime = lunet::Runtime::builder().lua_system(false).start()?;
/// runtime.launch(Box::new(Sender), "sender").expect("start saw the dead target");
/// runtime.shutdown();
/// # Ok::<(), lunet::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum LuaSendError {
    /// The values cannot be packed.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The target does not exist or has exited.
    #[error(transparent)]
    Dead(#[from] SendError),
}
