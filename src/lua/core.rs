//! `skynet.core`: the native functions `lua/skynet.lua` is built on.
//!
//! Mechanism only, as skynet's C core: send a message, allocate a session, set a
//! timer, name and find services, launch and kill them, read the clock and the
//! environment, log. Policy (coroutines, call/ret, dispatch) is in the Lua library.
//!
//! Every function holds the service's [`Native`] (node, handle, session
//! counter), shared with the [`LuaService`] running the VM. Errors raised to
//! Lua name the function: `skynet.core.send: invalid address ".nobody"`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{BString, FromLuaMulti, Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

use super::service::{LuaEnv, LuaService};
use crate::actor::{ptype, Handle, Node, Payload, StartNotice};

/// What the natives of one service need.
pub(crate) struct Native {
    pub(crate) node: Arc<Node>,
    pub(crate) handle: Handle,
    pub(crate) env: Arc<LuaEnv>,
    /// The last session allocated (only the service's own worker touches it).
    session: AtomicI32,
    pub(crate) interrupt: Arc<AtomicBool>,
    pub(crate) epoch: Instant,
    /// Set by `callback` when the dispatch function changed; the function
    /// itself is the VM's app data [`Callback`].
    pub(crate) callback_changed: AtomicBool,
}

/// The registry key of the function `skynet.core.onstop` registered.
pub(crate) const ON_STOP: &str = "lunet.onstop";

/// The dispatch function `skynet.core.callback` registered (VM app data).
pub(crate) struct Callback(pub(crate) Option<Function>);

impl Native {
    pub(crate) fn new(
        node: Arc<Node>,
        handle: Handle,
        env: Arc<LuaEnv>,
        interrupt: Arc<AtomicBool>,
    ) -> Native {
        Native {
            node,
            handle,
            env,
            session: AtomicI32::new(0),
            interrupt,
            epoch: Instant::now(),
            callback_changed: AtomicBool::new(false),
        }
    }

    pub(crate) fn new_session(&self) -> i32 {
        let last = self.session.load(Ordering::Relaxed);
        let next = if last >= i32::MAX - 1 { 1 } else { last + 1 };
        self.session.store(next, Ordering::Relaxed);
        next
    }
}

/// A native function: `f` gets the VM, the service's [`Native`] and the Lua
/// arguments.
pub(crate) fn func<A, R>(
    lua: &Lua,
    native: &Arc<Native>,
    f: impl Fn(&Lua, &Native, A) -> mlua::Result<R> + Send + 'static,
) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
{
    let native = native.clone();
    lua.create_function(move |lua, args| f(lua, &native, args))
}

fn error(function: &str, message: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("skynet.core.{function}: {message}"))
}

/// Resolves an address: an integer handle, `":0000000a"`, or a `.name`.
fn address(n: &Native, function: &str, value: &Value) -> mlua::Result<Option<Handle>> {
    match value {
        Value::Integer(n) => Ok(u32::try_from(*n).ok().map(Handle::from_raw)),
        Value::Number(n) if n.fract() == 0.0 => Ok(Some(Handle::from_raw(*n as u32))),
        Value::String(s) => Ok(n.node.resolve(&s.to_str()?)),
        other => Err(error(
            function,
            format!(
                "address must be a handle or a name, got {}",
                other.type_name()
            ),
        )),
    }
}

/// A message body from Lua: a string, or nothing.
fn body(msg: Option<BString>) -> Payload {
    match msg {
        Some(msg) => Payload::Bytes(Bytes::from(Vec::from(msg))),
        None => Payload::Empty,
    }
}

/// Builds the `skynet.core` table for `lua`, with `native` shared by every
/// function in it.
///
/// The functions are made on first use (the table's `__index`), so a service
/// holds only the ones it calls: each costs a closure in the VM, and most
/// services call a handful.
pub(crate) fn open(lua: &Lua, native: &Arc<Native>) -> mlua::Result<Table> {
    let core = lua.create_table()?;
    core.set("PTYPE_ERROR", ptype::ERROR)?;
    let meta = lua.create_table()?;
    let native = native.clone();
    meta.set(
        "__index",
        lua.create_function(move |lua, (core, name): (Table, mlua::String)| {
            let Some(f) = make(lua, &native, &name.to_str()?)? else {
                return Ok(None);
            };
            core.raw_set(name, &f)?;
            Ok(Some(f))
        })?,
    )?;
    core.set_metatable(Some(meta));
    Ok(core)
}

/// The native function `name`, or `None` if there is none.
fn make(lua: &Lua, native: &Arc<Native>, name: &str) -> mlua::Result<Option<Function>> {
    let f = match name {
        // send(addr, ptype, session|nil, msg[, sz]) -> session | nil: see
        // send.rs (a C function: every message goes through it).
        "send" => super::send::function(lua, native)?,
        // redirect(addr, source, ptype, session, msg)
        "redirect" => func(lua, native, |_, n, args: RedirectArgs| {
            let (addr, source, ptype, session, msg) = args;
            let to = address(n, "redirect", &addr)?;
            let from = address(n, "redirect", &source)?.unwrap_or(Handle::SYSTEM);
            let payload = body(msg);
            Ok(to.is_some_and(|to| n.node.send(from, to, ptype, session, payload).is_ok()))
        })?,
        "genid" => func(lua, native, |_, n, ()| Ok(n.new_session()))?,
        "self" => func(lua, native, |_, n, ()| Ok(n.handle.get()))?,
        "now" => func(lua, native, |_, n, ()| Ok(n.node.now()))?,
        "starttime" => func(lua, native, |_, n, ()| Ok(n.node.start_time()))?,
        "hpc" => func(lua, native, |_, n, ()| {
            Ok(n.epoch.elapsed().as_nanos() as i64)
        })?,
        // timeout(cs) -> session: a response with that session after cs
        // centiseconds.
        "timeout" => func(lua, native, |_, n, centis: i64| {
            let session = n.new_session();
            let centis = u32::try_from(centis.max(0)).unwrap_or(u32::MAX);
            n.node.timeout(n.handle, centis, session);
            Ok(session)
        })?,
        // callback(f) -> previous: f(ptype, msg, sz, session, source) for
        // every message. Returns the callback it replaces (skynet.manager's
        // filter and forward_type wrap it).
        "callback" => func(lua, native, |lua, n, f: Function| {
            let mut slot = lua
                .app_data_mut::<Callback>()
                .ok_or_else(|| error("callback", "not running in a service"))?;
            n.callback_changed.store(true, Ordering::Relaxed);
            Ok(slot.0.replace(f))
        })?,
        "exit" => func(lua, native, |_, n, ()| {
            n.node.kill(n.handle);
            Ok(())
        })?,
        // onstop(f): f() runs once when the service is removed (killed, or
        // after skynet.exit), after its last message (see `LuaService::stop`).
        "onstop" => func(lua, native, |lua, _, f: Function| {
            lua.set_named_registry_value(ON_STOP, f)
        })?,
        "kill" => func(lua, native, |_, n, addr: Value| {
            if let Some(h) = address(n, "kill", &addr)? {
                n.node.kill(h);
            }
            Ok(())
        })?,
        // name(".name", addr): register a local name.
        "name" => func(lua, native, |_, n, (name, addr): (String, Value)| {
            if !name.starts_with('.') {
                let why = format!("local names start with '.', got {name:?}");
                return Err(error("name", why));
            }
            let target =
                address(n, "name", &addr)?.ok_or_else(|| error("name", "invalid address"))?;
            n.node.register_name(&name, target);
            Ok(())
        })?,
        "query" => func(lua, native, |_, n, name: String| {
            Ok(n.node.query_name(&name).map(Handle::get))
        })?,
        "getenv" => func(lua, native, |_, n, key: String| Ok(n.node.getenv(&key)))?,
        "setenv" => func(lua, native, |_, n, (key, value): (String, String)| {
            n.node.setenv(&key, &value);
            Ok(())
        })?,
        // error(msg[, source]): a log line prefixed with this service's
        // handle, or with `source`'s (the logger service logs lines sent to it
        // on behalf of their senders).
        "error" => func(lua, native, |_, n, args: (mlua::String, Option<u32>)| {
            let (message, source) = args;
            let from = source.map_or(n.handle, Handle::from_raw);
            crate::lua::log::service_line(from, &message.to_string_lossy());
            Ok(())
        })?,
        // spawn(name, args...) -> handle, session: launches a Lua service;
        // when its code has loaded (the chunk ran, before the start function),
        // this service gets a response with `session`, or an error whose
        // message says why (not found, with the paths searched; a syntax
        // error; an error in the chunk).
        "spawn" => func(lua, native, |_, n, (name, args): (String, MultiValue)| {
            let args: Vec<String> = args
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.to_string_lossy(),
                    other => other.to_string().unwrap_or_default(),
                })
                .collect();
            let session = n.new_session();
            let service = LuaService::new(n.env.clone(), &name, args);
            let handle = n.node.launch(
                Box::new(service),
                &format!("snlua {name}"),
                StartNotice::Reply(n.handle, session),
            );
            Ok((handle.get(), session))
        })?,
        // abort([error]): stops the node (every service is killed; `lunet
        // run` exits, non-zero with `error` if given).
        "abort" => func(lua, native, |_, n, error: Option<String>| {
            n.node.abort(error);
            Ok(())
        })?,
        // monitor([addr]) -> current: sets the service told of every exit (a
        // `client` message from the service that exited); no argument only
        // queries.
        "monitor" => func(lua, native, |_, n, addr: Option<Value>| {
            if let Some(a) = &addr {
                let target =
                    address(n, "monitor", a)?.ok_or_else(|| error("monitor", "invalid address"))?;
                n.node.set_exit_monitor(target);
            }
            Ok(n.node.exit_monitor().map(Handle::get))
        })?,
        // daemon(): this service does not keep the node alive (`lunet run`
        // stops when only daemons are left). The shipped system services call
        // it.
        "daemon" => func(lua, native, |_, n, ()| {
            n.node.set_daemon(n.handle);
            Ok(())
        })?,
        "mqlen" => func(lua, native, |_, n, ()| {
            Ok(n.node.mailbox_len(n.handle).unwrap_or(0))
        })?,
        "endless" => func(lua, native, |_, n, ()| Ok(n.node.take_endless(n.handle)))?,
        // signal(addr) -> exists: interrupts the message `addr` is handling,
        // as the monitor does (an error in its handler; it lives on).
        "signal" => func(lua, native, |_, n, addr: Value| {
            Ok(address(n, "signal", &addr)?.is_some_and(|h| n.node.interrupt(h)))
        })?,
        "interrupted" => func(lua, native, |_, n, ()| {
            Ok(n.interrupt.load(Ordering::Relaxed))
        })?,
        "memory" => lua.create_function(|lua, ()| Ok(lua.used_memory()))?,
        // stat(what): the runtime's counters for this service (skynet.stat):
        // "message", messages handled; "cpu", seconds spent handling them
        // (wall time on the worker, the current message not included).
        // Anything else: nil.
        "stat" => func(lua, native, |_, n, what: String| {
            let Some(cell) = n.node.router.cell(n.handle) else {
                return Ok(None);
            };
            Ok(match what.as_str() {
                "message" => Some(Value::Integer(
                    cell.handled.load(Ordering::Relaxed) as mlua::Integer
                )),
                "cpu" => Some(Value::Number(
                    cell.busy_ns.load(Ordering::Relaxed) as f64 / 1e9,
                )),
                _ => None,
            })
        })?,
        // memlimit(bytes): this VM's memory limit (0 = none). Returns the old
        // one.
        "memlimit" => lua.create_function(|lua, limit: usize| {
            lua.set_memory_limit(limit)
                .map_err(|e| error("memlimit", e))
        })?,
        _ => return Ok(None),
    };
    Ok(Some(f))
}

type RedirectArgs = (Value, Value, u8, i32, Option<BString>);
