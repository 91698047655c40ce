//! Messages between services, and skynet's message types.

use bytes::Bytes;

use super::handle::Handle;
use crate::socket;

/// Message types, numbered as in skynet.
pub mod ptype {
    /// Plain text.
    pub const TEXT: u8 = 0;
    /// A response to a call (also a timer expiry).
    pub const RESPONSE: u8 = 1;
    /// Multicast.
    pub const MULTICAST: u8 = 2;
    /// Client messages (gate forwards).
    pub const CLIENT: u8 = 3;
    /// System.
    pub const SYSTEM: u8 = 4;
    /// Harbor (cluster).
    pub const HARBOR: u8 = 5;
    /// Socket events.
    pub const SOCKET: u8 = 6;
    /// An error response: the request failed or its target is gone.
    pub const ERROR: u8 = 7;
    /// Debug commands (MEM, GC, STAT, ...).
    pub const DEBUG: u8 = 9;
    /// Lua values packed with `skynet.pack`.
    pub const LUA: u8 = 10;
    /// Tracing.
    pub const TRACE: u8 = 12;
}

/// What a message carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Payload {
    /// Nothing (timer expiries, error responses).
    #[default]
    Empty,
    /// Bytes: text, or values packed with `skynet.pack`.
    Bytes(Bytes),
    /// A socket event, kept as is until a service reads it.
    Socket(socket::Event),
}

impl Payload {
    /// The payload's bytes (empty for `Empty` and socket events).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Payload::Bytes(b) => b,
            _ => &[],
        }
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Payload {
        Payload::Bytes(b)
    }
}

impl From<&'static str> for Payload {
    fn from(s: &'static str) -> Payload {
        Payload::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Payload {
        Payload::Bytes(Bytes::from(s))
    }
}

/// One message in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who sent it ([`Handle::SYSTEM`] for the runtime).
    pub source: Handle,
    /// The session: 0 for a one-way message, the caller's session for a request
    /// and its response.
    pub session: i32,
    /// The type (see [`ptype`]).
    pub ptype: u8,
    /// The content.
    pub payload: Payload,
}

impl Message {
    /// The Lua values a message of type [`ptype::LUA`] carries (what
    /// `skynet.pack` packed); or those of a response to a Lua call.
    ///
    /// ```
    /// use lunet::actor::{ptype, Handle, Message};
    /// use lunet::value::{self, Value};
    ///
    /// let message = Message {
    ///     source: Handle::SYSTEM,
    ///     session: 0,
    ///     ptype: ptype::LUA,
    ///     payload: value::pack(&[Value::from("ping"), Value::from(1)]).unwrap().into(),
    /// };
    /// assert_eq!(message.lua_values().unwrap(), vec![Value::from("ping"), Value::from(1)]);
    /// ```
    pub fn lua_values(&self) -> Result<Vec<crate::value::Value>, crate::value::PackError> {
        crate::value::unpack(self.payload.bytes())
    }
}
