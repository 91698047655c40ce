//! The Lua side of services: per-service VMs and the native modules the Lua
//! library calls (core messaging, serialization, socket events). Lua policy lives
//! in `lua/` and `services/`; this module provides mechanism.

mod boot;
mod core;
mod embedded;
mod interrupt;
mod loader;
pub mod log;
mod netpack;
pub mod pack;
mod send;
mod service;
mod socket_buffer;
mod socket_driver;
mod socket_message;

pub use boot::{lua_env, start_node, start_node_with};
pub use service::{LuaEnv, LuaService, ServiceSources};
