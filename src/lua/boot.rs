//! Starting a Lua node from a config file: what `lunet run` does before it
//! waits, available to hosts and tests.
//!
//! [`start_node`] starts a [`Runtime`] sized by the config (`thread`,
//! `endless_limit`, `linger`), seeds the node's environment with every key
//! (`skynet.getenv`), builds the [`LuaEnv`] from `luaservice`, `lua_path`,
//! `preload` and `memlimit`, and launches the `bootstrap` service (default `snlua bootstrap`),
//! returning once bootstrap's code has loaded. The shipped bootstrap then starts
//! the launcher, service_mgr and the log service, and the `start` service; if
//! that fails it aborts the node with the error ([`Node::abort_error`]).
//!
//! Run the node until [`Node::wait_until_idle`] returns true (only daemons
//! such as the launcher are left, or the node was aborted), then shut it down.
//!
//! [`Node::abort_error`]: crate::actor::Node::abort_error
//! [`Node::wait_until_idle`]: crate::actor::Node::wait_until_idle

use std::sync::Arc;

use super::service::{LuaEnv, LuaService};
use crate::actor::MonitorConfig;
use crate::config::Config;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::socket::SocketConfig;

/// The [`LuaEnv`] a config describes.
pub fn lua_env(config: &Config) -> LuaEnv {
    LuaEnv {
        luaservice: config.luaservice().to_string(),
        lua_path: config.lua_path().to_string(),
        preload: config.preload().map(|p| p.display().to_string()),
        memlimit: config.memlimit(),
        ..LuaEnv::default()
    }
}

/// Starts a runtime from `config` and launches its bootstrap service, as
/// `lunet run` does: the runtime is sized by `thread`, `endless_limit` and
/// `linger`; every key seeds the node's environment (`skynet.getenv`); the
/// [`LuaEnv`] comes from `luaservice`, `lua_path`, `preload` and `memlimit`; `bootstrap`
/// (default `snlua bootstrap`) is launched and this returns once its code has
/// loaded. The shipped bootstrap then starts the launcher, service_mgr, the log
/// service and the `start` service, and aborts the node with the error if that
/// fails ([`crate::actor::Node::abort_error`]). Run the node until
/// [`crate::actor::Node::wait_until_idle`] returns true, then shut it down.
///
/// The error names what failed: the runtime's threads, a `bootstrap` value that
/// is not `snlua NAME ...`, or the bootstrap service itself (not found, with the
/// paths searched, or an error in its code).
pub fn start_node(config: &Config) -> Result<Runtime, String> {
    start_node_with(config, |_| Ok(()))
}

/// [`start_node`], calling `before_boot` with the started runtime (its
/// environment seeded) before the bootstrap service is launched: a host
/// registers its own services there, so they exist before any Lua code runs
/// (`lunet test` registers its reporter, `.lunet_test`, this way). An error
/// from `before_boot` is returned as is, and the runtime is shut down.
pub fn start_node_with(
    config: &Config,
    before_boot: impl FnOnce(&Runtime) -> Result<(), String>,
) -> Result<Runtime, String> {
    let mut words = config.bootstrap().split_whitespace();
    let (kind, name) = (words.next(), words.next());
    let name = match (kind, name) {
        (Some("snlua"), Some(name)) => name.to_string(),
        _ => {
            return Err(format!(
                "{}: key \"bootstrap\": expected \"snlua NAME [ARGS]\" (lunet runs Lua services only), got {:?}",
                config.path().display(),
                config.bootstrap()
            ))
        }
    };
    let args: Vec<String> = words.map(str::to_string).collect();
    let defaults = RuntimeConfig::default();
    let runtime = Runtime::start(RuntimeConfig {
        threads: config.thread(),
        socket: SocketConfig {
            linger: config.linger().unwrap_or(defaults.socket.linger),
            ..defaults.socket
        },
        monitor: MonitorConfig {
            interrupt_after: config.endless_limit(),
            ..defaults.monitor
        },
    })
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    for (key, value) in config.iter() {
        runtime.node().setenv(key, value);
    }
    before_boot(&runtime)?;
    let env = Arc::new(lua_env(config));
    let service = LuaService::new(env, &name, args);
    runtime
        .launch(Box::new(service), &format!("snlua {name}"))
        .map_err(|e| format!("bootstrap failed: {e}"))?;
    Ok(runtime)
}
