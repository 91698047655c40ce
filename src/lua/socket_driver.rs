//! `skynet.socketdriver`: the native layer under `skynet.socket` (and gate-style
//! services), as skynet's `lua-socket.c`.
//!
//! Mechanism only: commands to the socket thread, the per-socket read buffers,
//! and unpacking socket messages. Blocking, close and flow-control policy live
//! in `lua/skynet/socket.lua`.
//!
//! # Read buffers
//! Each service keeps its own buffers (VM app data [`Buffers`]), one per socket
//! it reads through `skynet.socket`, made by `buffer(id)` and dropped by
//! `free(id)`. `unpack` pushes a Data event's [`Bytes`] into its socket's buffer
//! without copying; `pop`, `readall` and `readline` make a Lua string only of
//! what they return. Data for a socket with no buffer is left to the caller
//! (`unpack` reports its size, and drops it).
//!
//! # Functions
//! - `connect(host, port) -> id | nil, err`; `listen(host, port[, backlog]) ->
//!   id, addr, port` (binds in the caller's thread; raises if it cannot);
//!   `start(id)`, `pause(id)`, `resume(id)`, `close(id)` (flush, then close),
//!   `shutdown(id)` (close now), `nodelay(id)`: no-ops on ids that are not open.
//! - `send(id, data[, sz]) -> ok` and `lsend` (low priority): `data` is a string
//!   (its first `sz` bytes, if given; a number is sent as its text) or a table
//!   of strings; false once the socket is closed, closing or invalid.
//! - `udp(host, port) -> id` (raises if it cannot bind), `udp_connect(id, host,
//!   port)`, `udp_send(id, address, data) -> ok`, `udp_address(address) -> ip,
//!   port`. A UDP address is the text `ip:port` (`[ip]:port` for IPv6).
//! - `buffer(id)`, `free(id) -> bytes dropped`, `size(id)`, `pop(id, n) ->
//!   string | nil`, `readall(id) -> string`, `readline(id, sep) -> line | nil`,
//!   `hasline(id, sep) -> bool`.
//! - `unpack(msg) -> type, id, ...`: see [`unpack`].
//! - `header(s) -> n`: `s` (1 to 4 bytes) as a big-endian number.
//! - `info() -> {socket...}` (netstat), `resolve(host) -> {ip...} | nil, err`.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};

use super::core::{func, Native};
use super::socket_buffer::Buffer;
use crate::socket::{Event, Owner, SocketHandle, SocketId, SocketKind};

/// The read buffers of one service, by socket id (VM app data).
#[derive(Default)]
pub(crate) struct Buffers(HashMap<u32, Buffer>);

fn error(function: &str, message: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("socket.{function}: {message}"))
}

/// A socket id from Lua; `None` for anything that cannot name a socket.
fn socket_id(value: &Value) -> Option<SocketId> {
    let raw = match value {
        Value::Integer(n) => *n,
        Value::Number(n) if n.fract() == 0.0 => *n as i64,
        _ => return None,
    };
    u32::try_from(raw).ok().and_then(SocketId::from_raw)
}

fn port_of(function: &str, port: i64) -> mlua::Result<u16> {
    u16::try_from(port).map_err(|_| error(function, format!("invalid port {port}")))
}

/// The bytes a send takes: a string (its first `sz` bytes if given) or a
/// table of strings, concatenated.
fn payload(function: &str, data: &Value, sz: Option<i64>) -> mlua::Result<Bytes> {
    match data {
        Value::String(s) => {
            let bytes = s.as_bytes();
            let n = match sz {
                Some(n) => usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= bytes.len())
                    .ok_or_else(|| error(function, format!("invalid size {n}")))?,
                None => bytes.len(),
            };
            Ok(Bytes::copy_from_slice(&bytes[..n]))
        }
        Value::Table(t) => {
            let mut out = Vec::new();
            for part in t.sequence_values::<mlua::String>() {
                out.extend_from_slice(&part.map_err(|e| error(function, e))?.as_bytes());
            }
            Ok(Bytes::from(out))
        }
        Value::Integer(_) | Value::Number(_) => {
            // As Lua's own string functions, numbers are taken as their text.
            Ok(Bytes::from(data.to_string()?))
        }
        other => Err(error(
            function,
            format!(
                "data must be a string or a table, got {}",
                other.type_name()
            ),
        )),
    }
}

fn with_buffer<R>(lua: &Lua, id: &Value, f: impl FnOnce(&mut Buffer) -> R) -> Option<R> {
    let id = socket_id(id)?;
    let mut buffers = lua.app_data_mut::<Buffers>()?;
    buffers.0.get_mut(&id.get()).map(f)
}

fn string_or_nil(lua: &Lua, bytes: Option<Bytes>) -> mlua::Result<Value> {
    match bytes {
        Some(b) => Ok(Value::String(lua.create_string(&b)?)),
        None => Ok(Value::Nil),
    }
}

fn separator(function: &str, sep: Option<mlua::String>) -> mlua::Result<Vec<u8>> {
    let sep = sep.map_or_else(|| b"\n".to_vec(), |s| s.as_bytes().to_vec());
    if sep.is_empty() {
        return Err(error(function, "the separator is empty"));
    }
    Ok(sep)
}

/// Builds the `skynet.socketdriver` table.
pub(crate) fn open(lua: &Lua, native: &std::sync::Arc<Native>) -> mlua::Result<Table> {
    lua.set_app_data(Buffers::default());
    let t = lua.create_table()?;
    let owner = native.handle.get();

    t.set(
        "connect",
        func(lua, native, move |_, n, (host, port): (String, i64)| {
            let port = port_of("open", port)?;
            Ok(match n.node.sockets().connect(owner, &host, port) {
                Ok(id) => (Some(id.get()), None),
                Err(e) => (None, Some(e.to_string())),
            })
        })?,
    )?;
    t.set(
        "listen",
        func(
            lua,
            native,
            move |_, n, args: (String, i64, Option<u32>)| {
                let (host, port, backlog) = args;
                let port = port_of("listen", port)?;
                let (id, addr) = n
                    .node
                    .sockets()
                    .listen(owner, &host, port, backlog.unwrap_or(1024))
                    .map_err(|e| error("listen", e))?;
                Ok((id.get(), addr.ip().to_string(), addr.port()))
            },
        )?,
    )?;
    // id-only commands (`start` makes this service the owner): no-ops on ids
    // that name no open socket.
    type Command = fn(&SocketHandle, Owner, SocketId);
    let commands: [(&str, Command); 6] = [
        ("start", |s, owner, id| s.start(owner, id)),
        ("pause", |s, _, id| s.pause(id)),
        ("resume", |s, _, id| s.resume(id)),
        ("close", |s, _, id| s.close(id)),
        ("shutdown", |s, _, id| s.shutdown(id)),
        ("nodelay", |s, _, id| s.nodelay(id, true)),
    ];
    for (name, command) in commands {
        let f = func(lua, native, move |_, n, id: Value| {
            if let Some(id) = socket_id(&id) {
                command(n.node.sockets(), owner, id);
            }
            Ok(())
        })?;
        t.set(name, f)?;
    }
    for (name, low) in [("send", false), ("lsend", true)] {
        t.set(
            name,
            func(
                lua,
                native,
                move |_, n, (id, data, sz): (Value, Value, Option<i64>)| {
                    let function = if low { "lwrite" } else { "write" };
                    let bytes = payload(function, &data, sz)?;
                    let Some(id) = socket_id(&id) else {
                        return Ok(false);
                    };
                    let sockets = n.node.sockets();
                    let sent = if low {
                        sockets.send_low(id, bytes)
                    } else {
                        sockets.send(id, bytes)
                    };
                    Ok(sent.is_ok())
                },
            )?,
        )?;
    }

    t.set(
        "udp",
        func(
            lua,
            native,
            move |_, n, (host, port): (Option<String>, Option<i64>)| {
                let port = port_of("udp", port.unwrap_or(0))?;
                let (id, _) = n
                    .node
                    .sockets()
                    .udp(owner, host.as_deref().unwrap_or(""), port)
                    .map_err(|e| error("udp", e))?;
                Ok(id.get())
            },
        )?,
    )?;
    t.set(
        "udp_connect",
        func(
            lua,
            native,
            |_, n, (id, host, port): (Value, String, i64)| {
                let port = port_of("udp_connect", port)?;
                let id = socket_id(&id).ok_or_else(|| error("udp_connect", "invalid socket id"))?;
                n.node
                    .sockets()
                    .udp_connect(id, &host, port)
                    .map_err(|e| error("udp_connect", e))
            },
        )?,
    )?;
    t.set(
        "udp_send",
        func(
            lua,
            native,
            |_, n, (id, to, data): (Value, Option<String>, Value)| {
                let bytes = payload("sendto", &data, None)?;
                let to = match to {
                    Some(text) => Some(
                        text.parse::<SocketAddr>()
                            .map_err(|_| error("sendto", format!("invalid address {text:?}")))?,
                    ),
                    None => None,
                };
                let Some(id) = socket_id(&id) else {
                    return Ok(false);
                };
                Ok(n.node.sockets().udp_send(id, to, bytes).is_ok())
            },
        )?,
    )?;
    t.set(
        "udp_address",
        lua.create_function(|_, text: String| {
            let addr = text
                .parse::<SocketAddr>()
                .map_err(|_| error("udp_address", format!("invalid address {text:?}")))?;
            Ok((addr.ip().to_string(), addr.port()))
        })?,
    )?;

    t.set(
        "buffer",
        lua.create_function(|lua, id: Value| {
            let id = socket_id(&id).ok_or_else(|| error("start", "invalid socket id"))?;
            if let Some(mut buffers) = lua.app_data_mut::<Buffers>() {
                buffers.0.insert(id.get(), Buffer::new());
            }
            Ok(())
        })?,
    )?;
    t.set(
        "free",
        lua.create_function(|lua, id: Value| {
            let dropped = socket_id(&id)
                .and_then(|id| lua.app_data_mut::<Buffers>()?.0.remove(&id.get()))
                .map_or(0, |b| b.len());
            Ok(dropped)
        })?,
    )?;
    t.set(
        "size",
        lua.create_function(|lua, id: Value| Ok(with_buffer(lua, &id, |b| b.len()).unwrap_or(0)))?,
    )?;
    t.set(
        "pop",
        lua.create_function(|lua, (id, n): (Value, i64)| {
            let n = usize::try_from(n).map_err(|_| error("read", format!("invalid size {n}")))?;
            string_or_nil(lua, with_buffer(lua, &id, |b| b.read_exact(n)).flatten())
        })?,
    )?;
    t.set(
        "readall",
        lua.create_function(|lua, id: Value| {
            let bytes = with_buffer(lua, &id, Buffer::read_all).unwrap_or_default();
            lua.create_string(&bytes)
        })?,
    )?;
    t.set(
        "readline",
        lua.create_function(|lua, (id, sep): (Value, Option<mlua::String>)| {
            let sep = separator("readline", sep)?;
            string_or_nil(lua, with_buffer(lua, &id, |b| b.read_line(&sep)).flatten())
        })?,
    )?;
    t.set(
        "hasline",
        lua.create_function(|lua, (id, sep): (Value, Option<mlua::String>)| {
            let sep = separator("readline", sep)?;
            Ok(with_buffer(lua, &id, |b| b.find(&sep).is_some()).unwrap_or(false))
        })?,
    )?;

    t.set(
        "unpack",
        lua.create_function(|lua, msg: Value| unpack(lua, &msg))?,
    )?;
    t.set(
        "header",
        lua.create_function(|_, s: mlua::String| {
            let bytes = s.as_bytes();
            if bytes.is_empty() || bytes.len() > 4 {
                return Err(error(
                    "header",
                    format!("needs 1 to 4 bytes, got {}", bytes.len()),
                ));
            }
            Ok(bytes.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)))
        })?,
    )?;
    t.set(
        "info",
        func(lua, native, |lua, n, ()| {
            let list = lua.create_table()?;
            for info in n.node.sockets().stats() {
                let s = lua.create_table()?;
                s.set("id", info.id.get())?;
                s.set(
                    "type",
                    match info.kind {
                        SocketKind::Listen => "LISTEN",
                        SocketKind::Tcp => "TCP",
                        SocketKind::Udp => "UDP",
                        SocketKind::Bind => "BIND",
                    },
                )?;
                s.set("state", info.state)?;
                s.set("owner", format!(":{:08x}", info.owner))?;
                if let Some(addr) = info.addr {
                    s.set("address", addr.to_string())?;
                }
                s.set("read", info.bytes_read)?;
                s.set("write", info.bytes_written)?;
                s.set("wbuffer", info.queued)?;
                let ago = |t: Option<std::time::Instant>| {
                    t.map(|t| (t.elapsed().as_millis() / 10) as i64)
                };
                s.set("rtime", ago(info.last_read))?;
                s.set("wtime", ago(info.last_write))?;
                list.push(s)?;
            }
            Ok(list)
        })?,
    )?;
    t.set(
        "resolve",
        lua.create_function(|lua, host: String| {
            let addrs = match (host.as_str(), 0).to_socket_addrs() {
                Ok(addrs) => addrs,
                Err(e) => return Ok((Value::Nil, Some(format!("cannot resolve {host}: {e}")))),
            };
            let list = lua.create_table()?;
            let mut seen = Vec::new();
            for addr in addrs {
                if !seen.contains(&addr.ip()) {
                    seen.push(addr.ip());
                    list.push(addr.ip().to_string())?;
                }
            }
            Ok((Value::Table(list), None))
        })?,
    )?;
    Ok(t)
}

/// `unpack(msg) -> type, id, ...`: takes the current socket message (see
/// `socket_message.rs`) and returns, by type (skynet's numbering):
/// - 1 DATA: `1, id, size`, where the bytes went into the socket's buffer
///   and `size` is what it now holds; or `1, id, false, n` when the service
///   has no buffer for `id` (the `n` bytes are dropped);
/// - 2 CONNECT: `2, id, port, addr` (nil, nil for a bound fd);
/// - 3 CLOSE: `3, id`;
/// - 4 ACCEPT: `4, listener, id, "ip:port"`;
/// - 5 ERROR: `5, id, nil, reason`;
/// - 6 UDP: `6, id, size, data, from` (`from` as for `udp_send`);
/// - 7 WARNING: `7, id, kib`.
///
/// Returns nothing if `msg` is not the socket message being dispatched.
fn unpack(lua: &Lua, msg: &Value) -> mlua::Result<MultiValue> {
    let Some(event) = super::socket_message::take(lua, msg) else {
        return Ok(MultiValue::new());
    };
    let int = |n: i64| Value::Integer(n);
    let id = int(i64::from(event.id().get()));
    let text = |s: &str| lua.create_string(s).map(Value::String);
    let values = match event {
        Event::Data { id: sid, data } => {
            let len = data.len();
            let pushed = lua.app_data_mut::<Buffers>().and_then(|mut buffers| {
                let buffer = buffers.0.get_mut(&sid.get())?;
                buffer.push(data);
                Some(buffer.len())
            });
            match pushed {
                Some(size) => vec![int(1), id, int(size as i64)],
                None => vec![int(1), id, Value::Boolean(false), int(len as i64)],
            }
        }
        Event::Connect { addr, .. } => match addr {
            Some(addr) => vec![
                int(2),
                id,
                int(i64::from(addr.port())),
                text(&addr.ip().to_string())?,
            ],
            None => vec![int(2), id],
        },
        Event::Close { .. } => vec![int(3), id],
        Event::Accept { listener, peer, .. } => vec![
            int(4),
            int(i64::from(listener.get())),
            id,
            text(&peer.to_string())?,
        ],
        Event::Error { reason, .. } => vec![int(5), id, Value::Nil, text(&reason)?],
        Event::Udp { data, from, .. } => vec![
            int(6),
            id,
            int(data.len() as i64),
            Value::String(lua.create_string(&data)?),
            text(&from.to_string())?,
        ],
        Event::Warning { kib, .. } => vec![int(7), id, int(kib as i64)],
    };
    Ok(MultiValue::from_iter(values))
}
