//! `skynet.core.send`, the native every message from Lua goes through, as a
//! Lua C function: its arguments are read straight off the Lua stack, without
//! mlua's conversions (they cost more than the send itself).
//!
//! `send(addr, ptype, session|nil, msg|nil[, sz]) -> session | nil`: sends the
//! first `sz` bytes of the string `msg` (all of it without `sz`; no payload for
//! nil) to `addr` (a handle, `":%08x"` or a `.name`) as a message of type
//! `ptype` (0..=255). A nil session allocates a new one (a request). Returns the
//! session, or nil if the address names no live service. Bad arguments raise
//! `skynet.core.send: ...`.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{ffi, Function, Lua};

use super::core::Native;
use crate::actor::Handle;

/// Why the arguments were refused: plain data, turned into the Lua error by
/// `send` itself.
#[derive(Clone, Copy)]
enum Refused {
    /// The address is of this Lua type.
    Address(c_int),
    Ptype,
    Session,
    /// The message is of this Lua type.
    Message(c_int),
    Size,
    Panicked,
}

/// The `send` function for a VM whose natives use `native`.
///
/// The function keeps a plain pointer to `native`: the caller must keep a
/// strong reference alive for as long as the VM (the service's `Vm` holds one
/// and drops its VM first).
pub(crate) fn function(lua: &Lua, native: &Arc<Native>) -> mlua::Result<Function> {
    let upvalue = Arc::as_ptr(native) as *mut c_void;
    // SAFETY: pushes a light userdata and a C closure over it (neither raises
    // in a way that skips anything but this closure's plain-data frame, and
    // exec_raw runs it protected), left on the stack as the result.
    unsafe {
        lua.exec_raw((), |state| {
            ffi::lua_pushlightuserdata(state, upvalue);
            ffi::lua_pushcclosure(state, send, 1);
        })
    }
}

/// The C function. Raises only from this frame, once no Rust value with a
/// destructor is alive: the work is done in `send_message` under
/// `catch_unwind`, and `send_message` calls nothing in Lua that can raise.
unsafe extern "C-unwind" fn send(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 is the pointer `function` set, to a Native that
    // outlives the VM (see `function`); only code that replaces it with
    // debug.setupvalue could make it anything else, and a null or full
    // userdata (the only kinds of value lua_touserdata accepts besides a
    // light userdata) is refused.
    let native = unsafe {
        let upvalue = ffi::lua_upvalueindex(1);
        let ptr = ffi::lua_touserdata(l, upvalue) as *const Native;
        if ptr.is_null() || ffi::lua_type(l, upvalue) != ffi::LUA_TLIGHTUSERDATA {
            return ffi::luaL_error(l, c"skynet.core.send: its upvalue was replaced".as_ptr());
        }
        &*ptr
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `l` is the state running this C function.
        unsafe { send_message(l, native) }
    }))
    .unwrap_or_else(|payload| {
        // Dropping the payload could panic again, outside any guard.
        std::mem::forget(payload);
        Err(Refused::Panicked)
    });
    // SAFETY: only plain data is alive in this frame from here on, so the
    // errors below may longjmp over it; the pushes need one slot of the
    // LUA_MINSTACK a C function starts with.
    unsafe {
        match outcome {
            Ok(Some(session)) => ffi::lua_pushinteger(l, ffi::lua_Integer::from(session)),
            Ok(None) => ffi::lua_pushnil(l),
            Err(Refused::Address(t)) => {
                let got = ffi::lua_typename(l, t);
                let fmt = c"skynet.core.send: address must be a handle or a name, got %s";
                return ffi::luaL_error(l, fmt.as_ptr(), got);
            }
            Err(Refused::Ptype) => {
                let fmt = c"skynet.core.send: message type must be an integer 0..255";
                return ffi::luaL_error(l, fmt.as_ptr());
            }
            Err(Refused::Session) => {
                let fmt = c"skynet.core.send: session must be an integer or nil";
                return ffi::luaL_error(l, fmt.as_ptr());
            }
            Err(Refused::Message(t)) => {
                let got = ffi::lua_typename(l, t);
                let fmt = c"skynet.core.send: message must be a string or nil, got %s";
                return ffi::luaL_error(l, fmt.as_ptr(), got);
            }
            Err(Refused::Size) => {
                let fmt = c"skynet.core.send: size must be a non-negative integer or nil";
                return ffi::luaL_error(l, fmt.as_ptr());
            }
            Err(Refused::Panicked) => {
                return ffi::luaL_error(l, c"skynet.core.send: internal error".as_ptr());
            }
        }
    }
    1
}

/// Reads the arguments and sends. Returns the session, `None` for an address
/// that names no live service, or why the arguments were refused.
///
/// # Safety
/// `l` is the state running `send`. Only Lua functions that neither raise
/// nor allocate are called: lua_type, lua_tointegerx, and lua_tolstring on
/// values that are strings (no conversion).
unsafe fn send_message(l: *mut ffi::lua_State, native: &Native) -> Result<Option<i32>, Refused> {
    // SAFETY (whole body): as in the function's contract.
    unsafe {
        let to = match ffi::lua_type(l, 1) {
            ffi::LUA_TNUMBER => {
                let mut ok = 0;
                let n = ffi::lua_tointegerx(l, 1, &mut ok);
                if ok == 0 {
                    return Err(Refused::Address(ffi::LUA_TNUMBER));
                }
                u32::try_from(n).ok().map(Handle::from_raw)
            }
            ffi::LUA_TSTRING => {
                let text = string_at(l, 1);
                match std::str::from_utf8(text) {
                    Ok(text) if text.starts_with(':') => Handle::parse(text),
                    Ok(text) => native.node.query_name(text),
                    Err(_) => None,
                }
            }
            other => return Err(Refused::Address(other)),
        };
        let mut ok = 0;
        let ptype = u8::try_from(ffi::lua_tointegerx(l, 2, &mut ok)).map_err(|_| Refused::Ptype)?;
        if ok == 0 {
            return Err(Refused::Ptype);
        }
        let session = match ffi::lua_type(l, 3) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => None,
            _ => {
                let s = ffi::lua_tointegerx(l, 3, &mut ok);
                Some(
                    i32::try_from(s)
                        .ok()
                        .filter(|_| ok != 0)
                        .ok_or(Refused::Session)?,
                )
            }
        };
        let size = match ffi::lua_type(l, 5) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => None,
            _ => {
                let sz = ffi::lua_tointegerx(l, 5, &mut ok);
                Some(
                    usize::try_from(sz)
                        .ok()
                        .filter(|_| ok != 0)
                        .ok_or(Refused::Size)?,
                )
            }
        };
        let payload = match ffi::lua_type(l, 4) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => crate::actor::Payload::Empty,
            ffi::LUA_TSTRING => {
                let bytes = string_at(l, 4);
                let bytes = &bytes[..size.map_or(bytes.len(), |sz| sz.min(bytes.len()))];
                crate::actor::Payload::Bytes(Bytes::copy_from_slice(bytes))
            }
            other => return Err(Refused::Message(other)),
        };
        let Some(to) = to else {
            return Ok(None);
        };
        let session = session.unwrap_or_else(|| native.new_session());
        Ok(native
            .node
            .send(native.handle, to, ptype, session, payload)
            .ok()
            .map(|()| session))
    }
}

/// The bytes of the string at `idx`.
///
/// # Safety
/// The value at `idx` is a string; the slice lives as long as it stays on the
/// stack (the whole call).
unsafe fn string_at<'a>(l: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: a string: lua_tolstring neither converts nor allocates, and
    // returns a pointer to `len` bytes owned by the string.
    unsafe {
        let ptr = ffi::lua_tolstring(l, idx, &mut len);
        std::slice::from_raw_parts(ptr.cast::<u8>(), len)
    }
}
