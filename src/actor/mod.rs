//! The actor layer: services, their mailboxes, the workers that run them, the
//! timer and the monitor.
//!
//! # Threads
//! - **Workers** (N, the runtime's `threads`) take a runnable service off the
//!   global run queue and handle a batch of its messages. A service is run by at
//!   most one worker at a time, so its code needs no locks.
//! - **Timer**: advances a centisecond timing wheel; each expiry is a response
//!   message to the service that set it.
//! - **Monitor**: notices a service stuck on one message, logs it, and (if
//!   configured or asked) raises its interrupt flag.
//! - The **socket thread** (see [`crate::socket`]) delivers socket events as
//!   messages of type [`ptype::SOCKET`] to each socket's owner.
//!
//! # Guarantees
//! - Messages from one sender to one service arrive in the order sent.
//! - A request (a message with a session) to a service that does not exist, or
//!   that exits before handling it, is answered with an [`ptype::ERROR`] response:
//!   a caller never waits forever on a dead service.
//! - A panic in a handler is logged and the service lives on.

pub mod handle;
mod interrupt;
mod mailbox;
pub mod message;
pub mod monitor;
mod node;
mod registry;
mod scheduler;
mod service;
mod timer;
mod wheel;

pub use handle::Handle;
pub use message::{ptype, Message, Payload};
pub use monitor::MonitorConfig;
pub use node::Node;
pub use registry::{SendError, StartNotice};
pub use service::{Context, LuaSendError, Service};

pub(crate) use interrupt::set_signal_action;
pub(crate) use monitor::run as run_monitor;
pub(crate) use monitor::Probe;
pub(crate) use registry::Router;
pub(crate) use scheduler::work;
pub(crate) use timer::run as run_timer;
