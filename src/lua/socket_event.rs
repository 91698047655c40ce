//! Socket events as Lua sees them in a message of type `socket` (6).
//!
//! A table `{ type, id, ... }` with skynet's numbering: DATA=1 (`data`),
//! CONNECT=2 (`addr`, `port`), CLOSE=3, ACCEPT=4 (`listener`, `addr`, `port` of the
//! peer), ERROR=5 (`reason`), UDP=6 (`data`, `addr`, `port`), WARNING=7 (`kib`).
//! The `skynet.socket` library (a later step) reads these.

use mlua::{Lua, Value};

use crate::socket::Event;

/// Converts a socket event into its Lua table.
pub(crate) fn to_lua(lua: &Lua, event: &Event) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.set("type", event.kind())?;
    t.set("id", event.id().get())?;
    let set_addr = |addr: &std::net::SocketAddr| -> mlua::Result<()> {
        t.set("addr", addr.ip().to_string())?;
        t.set("port", addr.port())
    };
    match event {
        Event::Data { data, .. } => t.set("data", lua.create_string(data)?)?,
        Event::Connect { addr, .. } => {
            if let Some(addr) = addr {
                set_addr(addr)?;
            }
        }
        Event::Close { .. } => {}
        Event::Accept { listener, peer, .. } => {
            t.set("listener", listener.get())?;
            set_addr(peer)?;
        }
        Event::Error { reason, .. } => t.set("reason", reason.as_str())?,
        Event::Udp { data, from, .. } => {
            t.set("data", lua.create_string(data)?)?;
            set_addr(from)?;
        }
        Event::Warning { kib, .. } => t.set("kib", *kib)?,
    }
    Ok(Value::Table(t))
}
