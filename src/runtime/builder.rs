//! Building a runtime for a Rust host, and launching Lua services into it.
//!
//! [`Builder::start`] starts the threads and, unless turned off with
//! [`Builder::lua_system`], the Lua system services a `lunet run` node has
//! (launcher, service_mgr, logger), so Lua services launched by the host can
//! use `skynet.newservice`, `skynet.uniqueservice` and the debug commands. No
//! `start` service is run: the host launches what it wants.

use std::sync::Arc;
use std::time::Duration;

use super::{Error, Runtime, RuntimeConfig};
use crate::actor::MonitorConfig;
use crate::lua::{LuaEnv, LuaService};
use crate::socket::SocketConfig;
use crate::value::Value;

/// How long a launch through the launcher may take.
const LAUNCH_WAIT: Duration = Duration::from_secs(60);

/// Options for a runtime; [`Runtime::builder`] makes one.
///
/// ```
/// use lunet::lua::LuaEnv;
///
/// let runtime = lunet::Runtime::builder()
///     .threads(2)
///     .lua(LuaEnv { luaservice: "./services/?.lua".into(), ..LuaEnv::default() })
///     .env("region", "eu")
///     .start()?;
/// runtime.shutdown();
/// # Ok::<(), lunet::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: RuntimeConfig,
    lua: LuaEnv,
    env: Vec<(String, String)>,
    system: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: RuntimeConfig::default(),
            lua: LuaEnv::default(),
            env: Vec::new(),
            system: true,
        }
    }
}

impl Builder {
    /// Worker threads (default: the number of CPUs).
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().threads(1).start()?;
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Builder {
        self.config.threads = threads;
        self
    }

    /// The socket thread's settings.
    ///
    /// ```
    /// use lunet::socket::SocketConfig;
    /// use std::time::Duration;
    ///
    /// let socket = SocketConfig { linger: Duration::from_secs(2), ..SocketConfig::default() };
    /// let runtime = lunet::Runtime::builder().socket(socket).start()?;
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn socket(mut self, socket: SocketConfig) -> Builder {
        self.config.socket = socket;
        self
    }

    /// The monitor's settings (endless-loop detection and interruption).
    ///
    /// ```
    /// use lunet::actor::MonitorConfig;
    /// use std::time::Duration;
    ///
    /// // Interrupt a message that runs for more than 2 s (a Lua endless loop).
    /// let monitor = MonitorConfig { interrupt_after: Some(Duration::from_secs(2)), ..MonitorConfig::default() };
    /// let runtime = lunet::Runtime::builder().monitor(monitor).start()?;
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn monitor(mut self, monitor: MonitorConfig) -> Builder {
        self.config.monitor = monitor;
        self
    }

    /// Where Lua services and modules are found, the preload file, the memory
    /// limit (the config keys `luaservice`, `lua_path`, `preload`, `memlimit`).
    ///
    /// ```
    /// use lunet::lua::LuaEnv;
    ///
    /// let lua = LuaEnv { luaservice: "./game/?.lua".into(), memlimit: Some(64 << 20), ..LuaEnv::default() };
    /// let runtime = lunet::Runtime::builder().lua(lua).start()?;
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn lua(mut self, lua: LuaEnv) -> Builder {
        self.lua = lua;
        self
    }

    /// A setting Lua services read with `skynet.getenv` (a config key).
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().env("port", "9001").start()?;
    /// let svc = runtime.launch_lua_source("reader", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function() skynet.retpack(skynet.getenv("port")) end)
    ///     end)
    /// "#, &[])?;
    /// let port = runtime.call_lua(svc, &[], std::time::Duration::from_secs(5))?;
    /// assert_eq!(port, vec!["9001".into()]);
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn env(mut self, key: &str, value: &str) -> Builder {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Whether to start the Lua system services (default: yes). Without them
    /// the runtime is the bare actor runtime: Lua services still run, but
    /// `skynet.newservice` has no launcher to ask, and
    /// [`Runtime::launch_lua`] cannot report an error raised by a service's
    /// `skynet.start` function (it is logged).
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().lua_system(false).start()?;
    /// assert!(runtime.node().query_name(".launcher").is_none());
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn lua_system(mut self, on: bool) -> Builder {
        self.system = on;
        self
    }

    /// Starts the runtime, and the Lua system services unless turned off;
    /// returns once they are ready.
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().start()?;
    /// assert!(runtime.node().query_name(".launcher").is_some());
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn start(self) -> Result<Runtime, Error> {
        let mut runtime = Runtime::start(self.config)?;
        runtime.lua = Arc::new(self.lua);
        for (key, value) in &self.env {
            runtime.node.setenv(key, value);
        }
        if self.system {
            boot(&runtime)?;
        }
        Ok(runtime)
    }
}

/// Runs the shipped bootstrap (no `start` key: system services only) and
/// waits until it has exited.
fn boot(runtime: &Runtime) -> Result<(), Error> {
    let bootstrap = LuaService::new(runtime.lua.clone(), "bootstrap", Vec::new());
    runtime
        .launch(Box::new(bootstrap), "snlua bootstrap")
        .map_err(Error::Boot)?;
    // Bootstrap exits when done, leaving only daemons (or aborts the node).
    if !runtime.node.wait_until_idle(LAUNCH_WAIT) {
        return Err(Error::Boot(format!(
            "bootstrap did not finish within {LAUNCH_WAIT:?}"
        )));
    }
    match runtime.node.abort_error() {
        Some(message) => Err(Error::Boot(message)),
        None => Ok(()),
    }
}

impl Runtime {
    /// Launches Lua service `name` with launch arguments `args` (its chunk
    /// gets them as `...`) and returns once its `skynet.start` function has
    /// finished, as `skynet.newservice` does: the launch goes through the
    /// launcher, which lists the service (debug console `list`). Without the
    /// Lua system services ([`Builder::lua_system`]`(false)`) the service is
    /// launched directly, and this returns once its chunk has run (its
    /// `skynet.start` function starts before any message sent after this
    /// returns is handled). The service is found among the sources given to
    /// [`Runtime::launch_lua_source`], then along the `luaservice` patterns,
    /// then among the shipped services; the error lists the places searched.
    ///
    /// Without the Lua system services ([`Builder::lua_system`]`(false)`)
    /// there is no launcher to hear from the service's `skynet.start`
    /// function: this returns once the service's code has run (an error in
    /// the code itself is still returned), and an error raised by its start
    /// function is only logged, the service exiting.
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let err = runtime.launch_lua("no_such_service", &[]).unwrap_err();
    /// assert!(err.to_string().contains("searched"), "{err}");
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn launch_lua(&self, name: &str, args: &[&str]) -> Result<super::Handle, Error> {
        let failed = |message: String| Error::Launch {
            name: name.to_string(),
            message,
        };
        if self.node.query_name(".launcher").is_none() {
            let service = LuaService::new(
                self.lua.clone(),
                name,
                args.iter().map(|a| a.to_string()).collect(),
            );
            return self
                .launch(Box::new(service), &format!("snlua {name}"))
                .map_err(failed);
        }
        let mut request = vec![Value::from("LAUNCH"), Value::from("snlua"), name.into()];
        request.extend(args.iter().map(|&a| Value::from(a)));
        let answer = self.call_lua(".launcher", &request, LAUNCH_WAIT)?;
        match answer.as_slice() {
            [handle, ..] if handle.as_i64().is_some() => {
                let raw = handle.as_i64().and_then(|h| u32::try_from(h).ok());
                raw.map(super::Handle::from_raw)
                    .ok_or_else(|| failed(format!("the launcher answered {handle}")))
            }
            [_, message, ..] => Err(failed(
                message
                    .as_str()
                    .map_or_else(|| message.to_string(), str::to_string),
            )),
            _ => Err(failed("the launcher gave no reason".into())),
        }
    }

    /// Registers `source` as the code of Lua service `name` (from then on
    /// `skynet.newservice(name)` finds it too, before any file of that name)
    /// and launches it as [`Runtime::launch_lua`] does. Errors in the code
    /// name it as `name:LINE:`.
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let err = runtime.launch_lua_source("broken", "this is not Lua", &[]).unwrap_err();
    /// assert!(err.to_string().contains("broken:1:"), "{err}");
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn launch_lua_source(
        &self,
        name: &str,
        source: &str,
        args: &[&str],
    ) -> Result<super::Handle, Error> {
        self.add_lua_source(name, source);
        self.launch_lua(name, args)
    }

    /// Registers `source` as the code of Lua service `name` without launching
    /// it: `skynet.newservice(name)` (and [`Runtime::launch_lua`]) find it from
    /// then on, before any file of that name.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runtime = lunet::Runtime::builder().start()?;
    /// runtime.add_lua_source("twice", r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function()
    ///         skynet.dispatch("lua", function(_, _, n) skynet.retpack(2 * n) end)
    ///     end)
    /// "#);
    /// let twice = runtime.launch_lua("twice", &[])?;
    /// let answer = runtime.call_lua(twice, &[21.into()], Duration::from_secs(5))?;
    /// assert_eq!(answer, vec![42.into()]);
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn add_lua_source(&self, name: &str, source: &str) {
        self.lua.sources.add(name, source);
    }
}
