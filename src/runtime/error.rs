//! What can go wrong when a host uses a runtime, and how a host names a
//! service.

use std::time::Duration;

use crate::actor::{Handle, Node};
use crate::value::PackError;

/// An error from the embedding API.
///
/// ```
/// use std::time::Duration;
/// use lunet::{Error, Runtime};
///
/// let runtime = Runtime::builder().start()?;
/// let quiet = runtime.launch_lua_source("quiet", r#"
///     local skynet = require "skynet"
///     local held = {}
///     skynet.start(function()
///         skynet.dispatch("lua", function() held[#held + 1] = skynet.response() end)
///     end)
/// "#, &[])?;
/// match runtime.call_lua(quiet, &[], Duration::from_millis(50)) {
///     Err(Error::Timeout { to, .. }) => assert_eq!(to, quiet),
///     other => panic!("{other:?}"),
/// }
/// runtime.shutdown();
/// # Ok::<(), lunet::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime's threads could not start.
    #[error("cannot start the runtime: {0}")]
    Start(#[from] std::io::Error),
    /// The Lua system services (launcher, service_mgr, logger) did not start.
    #[error("cannot start the Lua system services: {0}")]
    Boot(String),
    /// No service has this name (or the text is not an address).
    #[error("no service is named {0:?}")]
    NoSuchName(String),
    /// The service does not exist or has exited (also: it exited while a call
    /// to it was waiting).
    #[error("service {0} does not exist or has exited")]
    Dead(Handle),
    /// A call got no answer in time.
    #[error("call to {to} got no answer within {after:?}")]
    Timeout {
        /// The service called.
        to: Handle,
        /// How long the call waited.
        after: Duration,
    },
    /// The service answered the call with an error: its handler raised (its log
    /// says why) or it refused the request.
    #[error(
        "call to {0} failed: the service raised an error or refused the request (see its log)"
    )]
    Failed(Handle),
    /// A service could not be launched: not found (the message lists the paths
    /// searched), an error in its code, or its start function raised.
    #[error("cannot launch {name}: {message}")]
    Launch {
        /// The service's name.
        name: String,
        /// Why.
        message: String,
    },
    /// Values could not be packed, or an answer could not be unpacked.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// A service aborted the node (`skynet.abort`), with this error.
    #[error("the node was aborted: {0}")]
    Aborted(String),
}

/// A service, as a host names it: a [`Handle`], a registered name (`".name"`),
/// or an address in text (`":0000000a"`).
///
/// ```
/// use lunet::actor::Handle;
/// use lunet::runtime::Address;
///
/// assert_eq!(Address::from(Handle::from_raw(10)), Address::Handle(Handle::from_raw(10)));
/// assert_eq!(Address::from(".launcher"), Address::Name(".launcher".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A service's handle.
    Handle(Handle),
    /// A name (`.launcher`) or an address in text (`:0000000a`).
    Name(String),
}

impl Address {
    /// The handle this address names now.
    pub(crate) fn resolve(&self, node: &Node) -> Result<Handle, Error> {
        match self {
            Address::Handle(h) => Ok(*h),
            Address::Name(name) => node
                .resolve(name)
                .ok_or_else(|| Error::NoSuchName(name.clone())),
        }
    }
}

impl From<Handle> for Address {
    fn from(h: Handle) -> Address {
        Address::Handle(h)
    }
}

impl From<&str> for Address {
    fn from(name: &str) -> Address {
        Address::Name(name.to_string())
    }
}

impl From<String> for Address {
    fn from(name: String) -> Address {
        Address::Name(name)
    }
}
