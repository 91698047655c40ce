//! `skynet.core`: the native functions `lua/skynet.lua` is built on.
//!
//! Mechanism only, as skynet's C core: send a message, allocate a session, set a
//! timer, name and find services, launch and kill them, read the clock and the
//! environment, log. Policy (coroutines, call/ret, dispatch) is in the Lua library.
//!
//! Every function reaches the node through the VM's app data ([`Native`]), set up
//! when the service starts. Errors raised to Lua name the function:
//! `skynet.core.send: invalid address ".nobody"`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::service::{LuaEnv, LuaService};
use crate::actor::{ptype, Handle, Node, Payload, StartNotice};

/// How often (in VM instructions) a coroutine checks the interrupt flag; the
/// main thread's hook (`service.rs`) uses the same period.
const INTERRUPT_CHECK_EVERY: u32 = 10_000;

/// What the natives of one service need, kept in its VM's app data.
pub(crate) struct Native {
    pub(crate) node: Arc<Node>,
    pub(crate) handle: Handle,
    pub(crate) env: Arc<LuaEnv>,
    pub(crate) session: i32,
    pub(crate) interrupt: Arc<AtomicBool>,
    /// The dispatch function `skynet.core.callback` registered.
    pub(crate) callback: Option<Function>,
    pub(crate) epoch: Instant,
}

impl Native {
    fn new_session(&mut self) -> i32 {
        self.session = if self.session >= i32::MAX - 1 {
            1
        } else {
            self.session + 1
        };
        self.session
    }
}

fn with_native<R>(lua: &Lua, f: impl FnOnce(&mut Native) -> R) -> mlua::Result<R> {
    let mut native = lua
        .app_data_mut::<Native>()
        .ok_or_else(|| mlua::Error::runtime("skynet.core: not running in a service"))?;
    Ok(f(&mut native))
}

fn error(function: &str, message: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("skynet.core.{function}: {message}"))
}

/// Resolves an address: an integer handle, `":0000000a"`, or a `.name`.
fn address(lua: &Lua, function: &str, value: &Value) -> mlua::Result<Option<Handle>> {
    match value {
        Value::Integer(n) => Ok(u32::try_from(*n).ok().map(Handle::from_raw)),
        Value::Number(n) if n.fract() == 0.0 => Ok(Some(Handle::from_raw(*n as u32))),
        Value::String(s) => {
            let text = s.to_str()?;
            if text.starts_with(':') {
                Ok(Handle::parse(&text))
            } else {
                with_native(lua, |n| n.node.query_name(&text))
            }
        }
        other => Err(error(
            function,
            format!(
                "address must be a handle or a name, got {}",
                other.type_name()
            ),
        )),
    }
}

/// A message body from Lua: a string (bytes as they are), or nothing.
fn body(value: Option<Value>) -> mlua::Result<Payload> {
    Ok(match value {
        Some(Value::String(s)) => Payload::Bytes(Bytes::copy_from_slice(&s.as_bytes())),
        _ => Payload::Empty,
    })
}

/// Builds the `skynet.core` table for `lua`.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let core = lua.create_table()?;

    // send(addr, ptype, session|nil, msg) -> session | nil (dead address)
    core.set(
        "send",
        lua.create_function(
            |lua, (addr, ptype, session, msg): (Value, u8, Option<i32>, Option<Value>)| {
                let Some(to) = address(lua, "send", &addr)? else {
                    return Ok(None);
                };
                let payload = body(msg)?;
                with_native(lua, |n| {
                    let session = session.unwrap_or_else(|| n.new_session());
                    n.node
                        .send(n.handle, to, ptype, session, payload)
                        .ok()
                        .map(|()| session)
                })
            },
        )?,
    )?;

    // redirect(addr, source, ptype, session, msg)
    core.set(
        "redirect",
        lua.create_function(
            |lua, (addr, source, ptype, session, msg): (Value, Value, u8, i32, Option<Value>)| {
                let to = address(lua, "redirect", &addr)?;
                let from = address(lua, "redirect", &source)?.unwrap_or(Handle::SYSTEM);
                let payload = body(msg)?;
                with_native(lua, |n| {
                    to.is_some_and(|to| n.node.send(from, to, ptype, session, payload).is_ok())
                })
            },
        )?,
    )?;

    core.set(
        "genid",
        lua.create_function(|lua, ()| with_native(lua, Native::new_session))?,
    )?;
    core.set(
        "self",
        lua.create_function(|lua, ()| with_native(lua, |n| n.handle.get()))?,
    )?;
    core.set(
        "now",
        lua.create_function(|lua, ()| with_native(lua, |n| n.node.now()))?,
    )?;
    core.set(
        "starttime",
        lua.create_function(|lua, ()| with_native(lua, |n| n.node.start_time()))?,
    )?;
    core.set(
        "hpc",
        lua.create_function(|lua, ()| with_native(lua, |n| n.epoch.elapsed().as_nanos() as i64))?,
    )?;

    // timeout(cs) -> session: a response with that session after cs centiseconds.
    core.set(
        "timeout",
        lua.create_function(|lua, centis: i64| {
            with_native(lua, |n| {
                let session = n.new_session();
                let centis = u32::try_from(centis.max(0)).unwrap_or(u32::MAX);
                n.node.timeout(n.handle, centis, session);
                session
            })
        })?,
    )?;

    // callback(f) -> previous: f(ptype, msg, sz, session, source) for every
    // message. Returns the callback it replaces (skynet.manager's filter and
    // forward_type wrap it).
    core.set(
        "callback",
        lua.create_function(|lua, f: Function| with_native(lua, |n| n.callback.replace(f)))?,
    )?;

    core.set(
        "exit",
        lua.create_function(|lua, ()| with_native(lua, |n| n.node.kill(n.handle)))?,
    )?;
    core.set(
        "kill",
        lua.create_function(|lua, addr: Value| {
            let target = address(lua, "kill", &addr)?;
            with_native(lua, |n| {
                if let Some(h) = target {
                    n.node.kill(h);
                }
            })
        })?,
    )?;
    // name(".name", addr): register a local name.
    core.set(
        "name",
        lua.create_function(|lua, (name, addr): (String, Value)| {
            if !name.starts_with('.') {
                return Err(error(
                    "name",
                    format!("local names start with '.', got {name:?}"),
                ));
            }
            let target =
                address(lua, "name", &addr)?.ok_or_else(|| error("name", "invalid address"))?;
            with_native(lua, |n| n.node.register_name(&name, target))
        })?,
    )?;
    core.set(
        "query",
        lua.create_function(|lua, name: String| {
            with_native(lua, |n| n.node.query_name(&name).map(Handle::get))
        })?,
    )?;
    core.set(
        "getenv",
        lua.create_function(|lua, key: String| with_native(lua, |n| n.node.getenv(&key)))?,
    )?;
    core.set(
        "setenv",
        lua.create_function(|lua, (key, value): (String, String)| {
            with_native(lua, |n| n.node.setenv(&key, &value))
        })?,
    )?;

    // error(msg[, source]): a log line prefixed with this service's handle, or
    // with `source`'s (the logger service logs lines sent to it on behalf of
    // their senders).
    core.set(
        "error",
        lua.create_function(|lua, (message, source): (mlua::String, Option<u32>)| {
            with_native(lua, |n| {
                let from = source.map_or(n.handle, Handle::from_raw);
                crate::lua::log::service_line(from, &message.to_string_lossy())
            })
        })?,
    )?;

    // spawn(name, args...) -> handle, session: launches a Lua service; when its
    // code has loaded (the chunk ran, before the start function), this service
    // gets a response with `session`, or an error whose message says why (not
    // found, with the paths searched; a syntax error; an error in the chunk).
    core.set(
        "spawn",
        lua.create_function(|lua, (name, args): (String, MultiValue)| {
            let args: Vec<String> = args
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.to_string_lossy(),
                    other => other.to_string().unwrap_or_default(),
                })
                .collect();
            with_native(lua, |n| {
                let session = n.new_session();
                let service = LuaService::new(n.env.clone(), &name, args);
                let handle = n.node.launch(
                    Box::new(service),
                    &format!("snlua {name}"),
                    StartNotice::Reply(n.handle, session),
                );
                (handle.get(), session)
            })
        })?,
    )?;
    // abort([error]): stops the node (every service is killed; `lunet run`
    // exits, non-zero with `error` if given).
    core.set(
        "abort",
        lua.create_function(|lua, error: Option<String>| {
            with_native(lua, |n| n.node.abort(error))
        })?,
    )?;
    // monitor([addr]) -> current: sets the service told of every exit (a
    // `client` message from the service that exited); no argument only queries.
    core.set(
        "monitor",
        lua.create_function(|lua, addr: Option<Value>| {
            let target = match &addr {
                Some(a) => Some(
                    address(lua, "monitor", a)?
                        .ok_or_else(|| error("monitor", "invalid address"))?,
                ),
                None => None,
            };
            with_native(lua, |n| {
                if let Some(h) = target {
                    n.node.set_exit_monitor(h);
                }
                n.node.exit_monitor().map(Handle::get)
            })
        })?,
    )?;
    // daemon(): this service does not keep the node alive (`lunet run` stops
    // when only daemons are left). The shipped system services call it.
    core.set(
        "daemon",
        lua.create_function(|lua, ()| with_native(lua, |n| n.node.set_daemon(n.handle)))?,
    )?;
    core.set(
        "mqlen",
        lua.create_function(|lua, ()| {
            with_native(lua, |n| n.node.mailbox_len(n.handle).unwrap_or(0))
        })?,
    )?;
    core.set(
        "endless",
        lua.create_function(|lua, ()| with_native(lua, |n| n.node.take_endless(n.handle)))?,
    )?;
    core.set(
        "interrupted",
        lua.create_function(|lua, ()| with_native(lua, |n| n.interrupt.load(Ordering::Relaxed)))?,
    )?;
    // hook(co): puts the interrupt check on coroutine `co`. The hook the
    // service sets through mlua covers only the VM's main thread (mlua removes
    // it from any other thread), and handlers run in coroutines; so each
    // coroutine the library creates gets a Lua count hook (the debug library's
    // sethook) that clears the interrupt flag and raises the same error.
    let sethook: Option<Function> = lua
        .globals()
        .get::<Option<Table>>("debug")?
        .map(|d| d.get("sethook"))
        .transpose()?;
    let check = lua.create_function(|lua, _: MultiValue| {
        if with_native(lua, |n| n.interrupt.swap(false, Ordering::Relaxed))? {
            Err(mlua::Error::runtime("interrupted: stuck on one message"))
        } else {
            Ok(())
        }
    })?;
    core.set(
        "hook",
        lua.create_function(move |_, co: mlua::Thread| match &sethook {
            Some(sethook) => sethook.call::<()>((co, check.clone(), "", INTERRUPT_CHECK_EVERY)),
            None => Ok(()),
        })?,
    )?;
    core.set(
        "memory",
        lua.create_function(|lua, ()| Ok(lua.used_memory()))?,
    )?;
    // stat(what): the runtime's counters for this service (skynet.stat):
    // "message", messages handled; "cpu", seconds spent handling them (wall
    // time on the worker, the current message not included). Anything else: nil.
    core.set(
        "stat",
        lua.create_function(|lua, what: String| {
            with_native(lua, |n| {
                let cell = n.node.router.cell(n.handle)?;
                match what.as_str() {
                    "message" => Some(Value::Integer(
                        cell.handled.load(Ordering::Relaxed) as mlua::Integer
                    )),
                    "cpu" => Some(Value::Number(
                        cell.busy_ns.load(Ordering::Relaxed) as f64 / 1e9,
                    )),
                    _ => None,
                }
            })
        })?,
    )?;
    // memlimit(bytes): this VM's memory limit (0 = none). Returns the old one.
    core.set(
        "memlimit",
        lua.create_function(|lua, limit: usize| {
            lua.set_memory_limit(limit)
                .map_err(|e| error("memlimit", e))
        })?,
    )?;
    core.set("PTYPE_ERROR", ptype::ERROR)?;
    Ok(core)
}
