//! Sending to and calling services from threads outside the runtime.
//!
//! Host threads speak through one hidden Rust service, the *host port*, made at
//! first use. It is a daemon: it does not keep [`Runtime::join`] waiting. A
//! call takes a fresh session, registers a channel for it, and sends the
//! request from the port; the port hands each response to the channel waiting
//! for its session, and the calling thread blocks on that channel, never a
//! worker. A response that arrives after its call timed out is dropped, as is
//! anything sent to the port that is not a response (logged at debug level);
//! a request sent to the port (a service calling the host back) is answered
//! with an error, so its caller's `skynet.call` raises instead of waiting.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use dashmap::DashMap;

use super::{Address, Error, Runtime};
use crate::actor::{ptype, Context, Handle, Message, Payload, Service, StartNotice};
use crate::value::{self, Value};

/// Calls waiting for their answer, by session.
type Waiting = Arc<DashMap<i32, Sender<Message>>>;

/// The host port: its handle and the calls waiting on it.
pub(super) struct Port {
    handle: Handle,
    waiting: Waiting,
    next: AtomicI32,
}

impl Port {
    fn session(&self) -> i32 {
        // Positive, wrapping to 1: the port makes no sessions of its own.
        let n = self.next.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        n.max(1)
    }
}

/// The port's service: routes responses to the calls waiting for them.
struct PortService {
    waiting: Waiting,
}

impl Service for PortService {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        let is_answer = matches!(message.ptype, ptype::RESPONSE | ptype::ERROR);
        // Only an answer may take a waiting call's place: a request that
        // happens to carry the same session number must leave it waiting.
        let waiter = if is_answer {
            self.waiting.remove(&message.session)
        } else {
            None
        };
        match waiter {
            Some((_, waiter)) => {
                let _ = waiter.send(message);
            }
            None => {
                tracing::debug!(
                    "host port: message of type {} from {} (session {}) dropped: no call waits for it",
                    message.ptype,
                    message.source,
                    message.session
                );
                // The host answers no requests: the caller gets an error
                // rather than waiting forever.
                if !is_answer {
                    ctx.reply_error(&message);
                }
            }
        }
    }
}

impl Runtime {
    /// The host port, made at first use.
    fn port(&self) -> &Port {
        if let Some(port) = self.host.get() {
            return port;
        }
        let waiting = Waiting::default();
        let service = PortService {
            waiting: waiting.clone(),
        };
        let handle = self
            .node
            .launch(Box::new(service), "rust host", StartNotice::None);
        self.node.set_daemon(handle);
        let port = Port {
            handle,
            waiting,
            next: AtomicI32::new(1),
        };
        if let Err(extra) = self.host.set(port) {
            // Another thread made one first.
            self.node.kill(extra.handle);
        }
        self.host.get().expect("the host port was just set")
    }

    /// Sends a message from the host (one-way: session 0). `to` is a
    /// [`Handle`], a name (`".name"`) or an address in text (`":0000000a"`).
    ///
    /// ```
    /// use lunet::actor::ptype;
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let result = runtime.send(".nobody", ptype::TEXT, "hello");
    /// assert!(matches!(result, Err(lunet::Error::NoSuchName(_))));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn send(
        &self,
        to: impl Into<Address>,
        ptype: u8,
        payload: impl Into<Payload>,
    ) -> Result<(), Error> {
        let to = to.into().resolve(&self.node)?;
        let port = self.port();
        self.node
            .send(port.handle, to, ptype, 0, payload.into())
            .map_err(|_| Error::Dead(to))
    }

    /// Sends Lua values (type `lua`, packed as `skynet.pack` packs them): the
    /// service's `lua` dispatch function gets them as its arguments.
    ///
    /// ```
    /// use lunet::Value;
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let sink = runtime.launch_lua_source("sink", r#"
    ///     local skynet = require "skynet"
    ///     local heard
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function(session, _, word)
    ///             if session == 0 then heard = word else skynet.retpack(heard) end
    ///         end)
    ///     end)
    /// "#, &[])?;
    /// runtime.send_lua(sink, &[Value::from("hello")])?;
    /// // Messages from one sender arrive in order: the call comes after the send.
    /// let heard = runtime.call_lua(sink, &[], std::time::Duration::from_secs(5))?;
    /// assert_eq!(heard, vec![Value::from("hello")]);
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn send_lua(&self, to: impl Into<Address>, values: &[Value]) -> Result<(), Error> {
        self.send(to, ptype::LUA, value::pack(values)?)
    }

    /// Calls a service from the host thread and blocks until its answer, or
    /// `timeout`. The answer is the payload of its response. Errors:
    /// [`Error::Dead`] (no such service, or it exited before answering),
    /// [`Error::Failed`] (it answered with an error), [`Error::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use lunet::actor::ptype;
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let upper = runtime.launch_lua_source("upper", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("text", function(_, _, s) skynet.ret(s:upper()) end)
    ///     end)
    /// "#, &[])?;
    /// let answer = runtime.call(upper, ptype::TEXT, "shout", Duration::from_secs(5))?;
    /// assert_eq!(answer.bytes(), b"SHOUT");
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn call(
        &self,
        to: impl Into<Address>,
        ptype: u8,
        payload: impl Into<Payload>,
        timeout: Duration,
    ) -> Result<Payload, Error> {
        let to = to.into().resolve(&self.node)?;
        let port = self.port();
        let session = port.session();
        let (tx, rx) = crossbeam_channel::bounded(1);
        port.waiting.insert(session, tx);
        if self
            .node
            .send(port.handle, to, ptype, session, payload.into())
            .is_err()
        {
            port.waiting.remove(&session);
            return Err(Error::Dead(to));
        }
        match rx.recv_timeout(timeout) {
            Ok(answer) if answer.ptype == ptype::RESPONSE => Ok(answer.payload),
            Ok(_) if self.is_gone(to) => Err(Error::Dead(to)),
            Ok(_) => Err(Error::Failed(to)),
            Err(_) => {
                port.waiting.remove(&session);
                Err(Error::Timeout { to, after: timeout })
            }
        }
    }

    /// Whether `to` has exited or is exiting. A service marks itself exiting
    /// before it fails the calls it leaves unanswered (`skynet.exit`), so an
    /// error from a service that is on its way out reads as [`Error::Dead`]
    /// whichever thread gets there first.
    fn is_gone(&self, to: Handle) -> bool {
        self.node
            .router
            .cell(to)
            .is_none_or(|cell| cell.exiting.load(Ordering::Relaxed))
    }

    /// Calls a service with Lua values (type `lua`) and returns the values it
    /// answers with (`skynet.ret(skynet.pack(...))`, or `skynet.retpack`).
    /// Convert them to Rust types with [`value::from_value`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use lunet::Value;
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let who = runtime.launch_lua_source("who", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function() skynet.retpack("lua", 5.4) end)
    ///     end)
    /// "#, &[])?;
    /// let answer = runtime.call_lua(who, &[], Duration::from_secs(5))?;
    /// assert_eq!(answer, vec![Value::from("lua"), Value::from(5.4)]);
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn call_lua(
        &self,
        to: impl Into<Address>,
        values: &[Value],
        timeout: Duration,
    ) -> Result<Vec<Value>, Error> {
        let answer = self.call(to, ptype::LUA, value::pack(values)?, timeout)?;
        Ok(value::unpack(answer.bytes())?)
    }
}
