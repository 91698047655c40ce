//! A Lua service: one Lua 5.4 VM running one service's code (skynet's snlua).
//!
//! On start the VM is built: the standard libraries, `skynet.core` and the other
//! native modules in `package.preload`, a searcher for the embedded library after
//! the user's `package.path`, the globals `SERVICE_NAME` and `SERVICE_PATH`,
//! `print` going to the log, and the coroutine functions that let the monitor (or
//! an operator) interrupt the service (`interrupt.rs`). Then the `preload` file runs,
//! and the service's chunk is called with its launch arguments as `...`. The chunk
//! normally calls `skynet.start`, which registers the dispatch callback; every
//! message is then handed to that callback.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use mlua::{ffi, Lua, LuaOptions, MultiValue, StdLib, Value};

use super::core::{self, Callback, Native};
use super::embedded;
use super::interrupt::{self, Running};
use super::loader;
use crate::actor::{Context, Message, Payload, Service};

/// Where Lua code is looked for, shared by every Lua service of a node.
#[derive(Clone, Debug)]
pub struct LuaEnv {
    /// `;`-separated patterns for services (`?` is the service name).
    pub luaservice: String,
    /// `package.path` for modules.
    pub lua_path: String,
    /// A file run before each service's own code.
    pub preload: Option<String>,
    /// Bytes of Lua memory each service may use (config `memlimit`), counting
    /// its whole VM (about 60 KiB when idle); none by default. A service can
    /// change its own with `skynet.memlimit`.
    pub memlimit: Option<usize>,
    /// Services given as source code rather than files (by a Rust host): looked
    /// up by name before `luaservice`.
    pub sources: ServiceSources,
}

impl Default for LuaEnv {
    fn default() -> Self {
        LuaEnv {
            luaservice: "./?.lua;./service/?.lua;./?/init.lua".into(),
            lua_path: "./?.lua;./?/init.lua".into(),
            preload: None,
            memlimit: None,
            sources: ServiceSources::default(),
        }
    }
}

/// Lua services registered as source code, by name; shared by every clone of
/// the [`LuaEnv`] holding it, so a source added while the node runs can be
/// launched by any service (`skynet.newservice(name)`) from then on. A
/// registered name hides a file or an embedded service of the same name.
///
/// ```
/// use lunet::lua::ServiceSources;
///
/// let sources = ServiceSources::default();
/// sources.add("hello", "require('skynet').start(function() end)");
/// assert!(sources.get("hello").is_some());
/// assert!(sources.get("other").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServiceSources(Arc<dashmap::DashMap<String, Arc<str>>>);

impl ServiceSources {
    /// Registers (or replaces) the code of service `name`.
    pub fn add(&self, name: &str, source: &str) {
        self.0.insert(name.to_string(), Arc::from(source));
    }

    /// The code registered for `name`.
    pub fn get(&self, name: &str) -> Option<Arc<str>> {
        self.0.get(name).map(|s| s.value().clone())
    }
}

/// A service whose code is Lua.
pub struct LuaService {
    env: Arc<LuaEnv>,
    name: String,
    args: Vec<String>,
    /// The code, when given as a string rather than found by name.
    source: Option<String>,
    vm: Option<Vm>,
}

/// A started service's VM.
struct Vm {
    /// Dropped (closed) before `native`: natives may hold plain pointers to it
    /// (send.rs).
    lua: Lua,
    native: Arc<Native>,
    /// The address of the VM's main `lua_State` (see `interrupt.rs`).
    main: usize,
    /// The dispatch function, as last registered with `skynet.core.callback`
    /// (held in the registry: `dispatch` pushes it by its key).
    callback: Option<mlua::RegistryKey>,
}

impl Vm {
    /// Records this VM as what the worker runs, for interrupts.
    fn enter<'a>(&'a self, ctx: &'a Context<'_>) -> Running<'a> {
        Running::enter(
            self.main as *mut mlua::ffi::lua_State,
            &self.native.interrupt,
            &ctx.cell.exiting,
        )
    }
}

impl LuaService {
    /// A service that will run Lua service `name` with launch arguments `args`.
    pub fn new(env: Arc<LuaEnv>, name: &str, args: Vec<String>) -> LuaService {
        LuaService {
            env,
            name: name.to_string(),
            args,
            source: None,
            vm: None,
        }
    }

    /// A service running `source` (Lua code, not a file) under the name `name`,
    /// with launch arguments `args`. It behaves as one found on disk, except
    /// that `SERVICE_PATH` is empty and error messages show it as `name:LINE:`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lunet::lua::{LuaEnv, LuaService};
    /// use lunet::runtime::{Runtime, RuntimeConfig};
    ///
    /// let runtime = Runtime::start(RuntimeConfig::default()).unwrap();
    /// let code = r#"
    ///     local skynet = require "skynet"
    ///     skynet.start(function() skynet.exit() end)
    /// "#;
    /// let service = LuaService::from_source(Arc::new(LuaEnv::default()), "hello", code, vec![]);
    /// runtime.launch(Box::new(service), "hello").unwrap();
    /// assert!(runtime.node().wait_until_empty(std::time::Duration::from_secs(5)));
    /// runtime.shutdown();
    /// ```
    pub fn from_source(
        env: Arc<LuaEnv>,
        name: &str,
        source: &str,
        args: Vec<String>,
    ) -> LuaService {
        LuaService {
            source: Some(source.to_string()),
            ..LuaService::new(env, name, args)
        }
    }

    fn build(&self, ctx: &Context<'_>) -> mlua::Result<Vm> {
        // SAFETY: mlua marks the debug library unsafe because Lua code using it
        // (e.g. debug.setmetatable or debug.getregistry on mlua's internal values)
        // can break the invariants mlua's safe API relies on. Service code is
        // trusted application code, as in skynet, and skynet's API and its users
        // depend on the debug library (debug.traceback in every xpcall).
        let lua = unsafe {
            Lua::unsafe_new_with(StdLib::ALL_SAFE | StdLib::DEBUG, LuaOptions::default())
        };
        let native = Arc::new(Native::new(
            ctx.node().clone(),
            ctx.handle(),
            self.env.clone(),
            ctx.interrupt_flag(),
        ));
        if let Some(limit) = self.env.memlimit {
            lua.set_memory_limit(limit)?;
        }
        ctx.cell.runner.signal_on_interrupt();
        lua.set_app_data(Callback(None));
        interrupt::install(&lua)?;
        let main = interrupt::main_thread(&lua)? as usize;
        let package: mlua::Table = lua.globals().get("package")?;
        let preload: mlua::Table = package.get("preload")?;
        let for_core = native.clone();
        preload.set(
            "skynet.core",
            lua.create_function(move |lua, ()| core::open(lua, &for_core))?,
        )?;
        let for_driver = native.clone();
        preload.set(
            "skynet.socketdriver",
            lua.create_function(move |lua, ()| super::socket_driver::open(lua, &for_driver))?,
        )?;
        preload.set("skynet.netpack", lua.create_function(super::netpack::open)?)?;
        preload.set(
            "skynet.seri",
            lua.create_function(|lua, ()| super::pack::register(lua))?,
        )?;
        // The embedded library comes after the user's paths (searchers 1 and 2
        // are preload and package.path).
        let searchers: mlua::Table = package.get("searchers")?;
        let embedded = lua.create_function(|lua, name: String| {
            if embedded::bytecode(&name).is_none() {
                let why = format!("\n\tno embedded module '{name}'");
                return Ok(MultiValue::from_iter([Value::String(
                    lua.create_string(why)?,
                )]));
            }
            Ok(MultiValue::from_iter([
                Value::Function(embedded::load(lua, &name)?),
                Value::String(lua.create_string(format!("[lunet] {name}"))?),
            ]))
        })?;
        searchers.raw_insert(3, embedded)?;
        let handle = ctx.handle();
        lua.globals().set(
            "print",
            lua.create_function(move |_, args: MultiValue| {
                let line: Vec<String> = args
                    .iter()
                    .map(|v| v.to_string().unwrap_or_else(|_| v.type_name().to_string()))
                    .collect();
                super::log::service_line(handle, &line.join("\t"));
                Ok(())
            })?,
        )?;
        Ok(Vm {
            lua,
            native,
            main,
            callback: None,
        })
    }

    /// A start-up error's text; running out of memory names the configured
    /// limit.
    fn describe(&self, e: mlua::Error) -> String {
        match (&e, self.env.memlimit) {
            (mlua::Error::MemoryError(_), Some(limit)) => {
                format!("{e} (memlimit is {limit} bytes)")
            }
            _ => e.to_string(),
        }
    }

    fn boot(&mut self, ctx: &Context<'_>) -> Result<(), String> {
        let found = match self.source.take() {
            Some(source) => loader::Found {
                source,
                chunk_name: format!("={}", self.name),
                dir: None,
                own_dir: false,
            },
            None => loader::find_service(&self.name, &self.env).map_err(|searched| {
                format!(
                    "service {:?} not found; searched:\n\t{}",
                    self.name,
                    searched.join("\n\t")
                )
            })?,
        };
        let vm = self.build(ctx).map_err(|e| self.describe(e))?;
        let _running = vm.enter(ctx);
        let lua = &vm.lua;
        let run = || -> mlua::Result<()> {
            let globals = lua.globals();
            let package: mlua::Table = globals.get("package")?;
            let mut path = self.env.lua_path.clone();
            if let (true, Some(dir)) = (found.own_dir, &found.dir) {
                path = format!("{}/?.lua;{path}", dir.display());
            }
            package.set("path", path)?;
            globals.set("SERVICE_NAME", self.name.as_str())?;
            let dir = found.dir.as_ref().map(|d| format!("{}/", d.display()));
            globals.set("SERVICE_PATH", dir.unwrap_or_default())?;
            if let Some(preload) = &self.env.preload {
                let source = std::fs::read_to_string(preload).map_err(|e| {
                    mlua::Error::runtime(format!("cannot read preload {preload}: {e}"))
                })?;
                lua.load(source).set_name(format!("@{preload}")).exec()?;
            }
            let chunk = lua
                .load(found.source.as_str())
                .set_name(found.chunk_name.as_str())
                .into_function()?;
            let args = self
                .args
                .iter()
                .map(|a| lua.create_string(a).map(Value::String))
                .collect::<mlua::Result<MultiValue>>()?;
            chunk.call::<()>(args)
        };
        run().map_err(|e| self.describe(e))?;
        drop(_running);
        self.vm = Some(vm);
        Ok(())
    }
}

impl Service for LuaService {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        self.boot(ctx)
            .map_err(|e| format!("snlua {}: {e}", self.name))
    }

    /// Calls the function the Lua library registered with
    /// `skynet.core.onstop` (it fails every request the service still holds,
    /// as `skynet.exit` does), so a service killed from outside leaves no
    /// caller waiting.
    fn stop(&mut self, ctx: &mut Context<'_>) {
        let Some(vm) = &self.vm else {
            return;
        };
        let Ok(on_stop) = vm.lua.named_registry_value::<mlua::Function>(core::ON_STOP) else {
            return;
        };
        let _running = vm.enter(ctx);
        if let Err(e) = on_stop.call::<()>(()) {
            super::log::service_line(ctx.handle(), &format!("error while stopping: {e}"));
        }
    }

    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        let Some(vm) = &mut self.vm else {
            return;
        };
        if vm.native.callback_changed.swap(false, Ordering::Relaxed) {
            let callback = vm.lua.app_data_ref::<Callback>().and_then(|c| c.0.clone());
            vm.callback = match callback.map(|f| vm.lua.create_registry_value(f)) {
                Some(Ok(key)) => Some(key),
                Some(Err(e)) => {
                    let why = format!("cannot keep the dispatch callback: {e}");
                    super::log::service_line(ctx.handle(), &why);
                    None
                }
                None => None,
            };
        }
        let Some(callback) = &vm.callback else {
            super::log::service_line(
                ctx.handle(),
                &format!(
                    "no dispatch callback; message of type {} dropped",
                    message.ptype
                ),
            );
            return;
        };
        let _running = vm.enter(ctx);
        let result = dispatch(&vm.lua, callback, message);
        if let Err(e) = result {
            super::log::service_line(ctx.handle(), &format!("error in dispatch: {e}"));
        }
    }
}

/// Calls the dispatch callback `callback(ptype, msg, sz, session, source)` for
/// `message`: `msg` is the payload as a Lua string (nil if empty), or for a
/// socket event an opaque light userdata (see `socket_message.rs`). The
/// arguments are pushed straight onto the Lua stack (this runs for every
/// message).
fn dispatch(lua: &Lua, callback: &mlua::RegistryKey, message: Message) -> mlua::Result<()> {
    let Message {
        ptype,
        session,
        source,
        payload,
    } = message;
    let (event, bytes) = match payload {
        Payload::Bytes(b) => (None, Some(b)),
        Payload::Empty => (None, None),
        Payload::Socket(e) => (Some(super::socket_message::begin(lua, e)), None),
    };
    let bytes = bytes.as_deref();
    let id = ffi::lua_Integer::from(callback.id());
    let ptype = ffi::lua_Integer::from(ptype);
    let size = bytes.map_or(0, <[u8]>::len) as ffi::lua_Integer;
    let session = ffi::lua_Integer::from(session);
    let source = ffi::lua_Integer::from(source.get());
    // SAFETY: exec_raw runs the closure as a C function under lua_pcall, with
    // LUA_MINSTACK free slots for the six pushes. The closure holds only
    // integers, a raw pointer used as a token (never dereferenced) and a
    // borrowed slice (`bytes`, alive in `payload` until this returns), so an
    // error raised by the callback (or a memory error from lua_pushlstring)
    // may longjmp over it to that pcall, which returns it as an Err.
    let result = unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, id);
            ffi::lua_pushinteger(state, ptype);
            if let Some(token) = event {
                ffi::lua_pushlightuserdata(state, token);
            } else if let Some(bytes) = bytes {
                ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            } else {
                ffi::lua_pushnil(state);
            }
            ffi::lua_pushinteger(state, size);
            ffi::lua_pushinteger(state, session);
            ffi::lua_pushinteger(state, source);
            ffi::lua_call(state, 5, 0);
        })
    };
    if event.is_some() {
        super::socket_message::end(lua);
    }
    result
}
