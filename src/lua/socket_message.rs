//! Socket events on their way into Lua (messages of type `socket`, 6).
//!
//! The dispatch callback gets a socket message as skynet's C core hands it
//! over: `callback(6, msg, 0, 0, 0)`, where `msg` is an opaque light userdata.
//! The event itself stays on the Rust side, in this VM's [`Current`] slot, for
//! as long as the callback runs. Whoever unpacks it takes it from there:
//! `skynet.socketdriver.unpack(msg)` (which `skynet.socket` registers as the
//! protocol's unpack) or `skynet.netpack.filter(queue, msg)` (gate-style
//! services). No Lua table is made for an event, and a Data event's bytes go
//! into the socket's read buffer without becoming a Lua string.
//!
//! `msg` carries a sequence number, so a `msg` kept past its message (or one
//! already taken) finds nothing instead of another message's event. An event
//! nobody takes is dropped when the callback returns.

use std::ffi::c_void;

use mlua::{LightUserData, Lua, Value};

use crate::socket::Event;

/// The socket event being dispatched (VM app data).
#[derive(Default)]
pub(crate) struct Current {
    /// The sequence number of the last socket message dispatched.
    seq: usize,
    event: Option<Event>,
}

/// Makes `event` the current socket message and returns the `msg` value for
/// it (the pointer of a light userdata; it is never dereferenced).
pub(crate) fn begin(lua: &Lua, event: Event) -> *mut c_void {
    let mut current = match lua.app_data_mut::<Current>() {
        Some(current) => current,
        None => {
            lua.set_app_data(Current::default());
            lua.app_data_mut::<Current>()
                .expect("app data just set is present")
        }
    };
    // Never 0: a null light userdata would read as "no message".
    current.seq = current.seq.wrapping_add(1).max(1);
    current.event = Some(event);
    current.seq as *mut c_void
}

/// Drops the current event if nobody took it.
pub(crate) fn end(lua: &Lua) {
    if let Some(mut current) = lua.app_data_mut::<Current>() {
        current.event = None;
    }
}

/// Takes the event `msg` stands for, if it is still the current one and not
/// taken yet.
pub(crate) fn take(lua: &Lua, msg: &Value) -> Option<Event> {
    let Value::LightUserData(LightUserData(ptr)) = msg else {
        return None;
    };
    let mut current = lua.app_data_mut::<Current>()?;
    if current.seq == 0 || *ptr as usize != current.seq {
        return None;
    }
    current.event.take()
}
