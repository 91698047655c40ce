//! Stopping a Lua service stuck on one message (`while true do end`).
//!
//! A Lua VM checks nothing while it runs a loop with no calls, and a count hook
//! left on every coroutine would slow every instruction. So, as the standalone
//! `lua` interpreter does for Ctrl-C, the hook is set only when it is needed,
//! from a signal handler: when a service is interrupted, the actor layer raises
//! its flag and signals the worker running it (`actor/interrupt.rs`); the
//! handler sets a count hook on the Lua thread that worker is running; the hook
//! fires at the next instruction, removes itself, and raises
//! `interrupted: stuck on one message` if the flag is still up. The error ends
//! the handler's coroutine like any other error (its caller gets an error
//! response); the service lives on. A service that is exiting (killed, or the
//! runtime is stopping, see `Runtime::shutdown`) gets a hook that raises at
//! every instruction instead, so even a loop that catches the error ends.
//!
//! To know which Lua thread is running, each worker keeps it in a thread-local:
//! the VM's main thread while a service's message is handled
//! ([`Running::enter`]), and the coroutine being run during `coroutine.resume`
//! and `coroutine.close` (replaced here by wrappers that record it) and in the
//! functions made by `coroutine.wrap` (rebuilt on that `resume`). So every
//! coroutine is covered, the ones user code makes too. Code that Lua runs with
//! hooks off cannot be interrupted: `__gc` finalizers (as in `lua.c`).
//!
//! The signal handler reads a thread-local: async-signal-safe with the static
//! TLS model Rust uses for executables and static libraries (a `lunet` built
//! as a `dlopen`ed shared library would need the initial-exec model).

use std::ffi::c_int;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use mlua::{ffi, Lua};

use super::embedded;

thread_local! {
    /// The Lua thread this worker is running, or null.
    static ACTIVE: AtomicPtr<ffi::lua_State> = const { AtomicPtr::new(null_mut()) };
    /// The interrupt flag of the service whose message this worker is handling.
    static FLAG: AtomicPtr<AtomicBool> = const { AtomicPtr::new(null_mut()) };
    /// That service's exiting flag (it was killed, or the runtime is stopping).
    static EXITING: AtomicPtr<AtomicBool> = const { AtomicPtr::new(null_mut()) };
}

/// Sets up `lua` for interrupts: replaces `coroutine.resume`,
/// `coroutine.close` and `coroutine.wrap`, and installs the process's signal
/// action (once).
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: `on_signal` only reads a thread-local atomic and calls
    // lua_sethook, which Lua documents as safe to call from a signal handler
    // (ldebug.c; lua.c's own SIGINT handler does exactly this).
    unsafe {
        crate::actor::set_signal_action(on_signal);
    }
    // SAFETY: the closure replaces two fields of the coroutine table with C
    // closures over their library functions (`recording` follows the
    // lua_CFunction protocol, see its comment), with balanced stack use;
    // exec_raw runs it protected.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_getglobal(state, c"coroutine".as_ptr());
            for (name, when) in [(c"resume", RESUME), (c"close", CLOSE)] {
                ffi::lua_getfield(state, -1, name.as_ptr());
                ffi::lua_pushinteger(state, when);
                ffi::lua_pushcclosure(state, recording, 2);
                ffi::lua_setfield(state, -2, name.as_ptr());
            }
            ffi::lua_pop(state, 1);
        })?;
    }
    // coroutine.wrap is rebuilt on the recording resume (lua/lunet/wrap.lua)
    // when first called: most services never call it.
    let coroutine: mlua::Table = lua.globals().get("coroutine")?;
    coroutine.set(
        "wrap",
        lua.create_function(|lua, f: mlua::Function| {
            let wrap = match lua.named_registry_value::<Option<mlua::Function>>("lunet.wrap")? {
                Some(wrap) => wrap,
                None => {
                    let wrap: mlua::Function = embedded::load(lua, "lunet.wrap")?.call(())?;
                    lua.set_named_registry_value("lunet.wrap", &wrap)?;
                    wrap
                }
            };
            wrap.call::<mlua::Function>(f)
        })?,
    )
}

/// For `recording`: the wrapped function runs Lua code on a coroutine that
/// is suspended (yielded, or made and not started): `coroutine.resume`.
const RESUME: ffi::lua_Integer = 0;
/// ... on a coroutine that is yielded or died with an error (its pending
/// to-be-closed variables run): `coroutine.close`.
const CLOSE: ffi::lua_Integer = 1;

/// `coroutine.resume` or `coroutine.close` (upvalue 1, the library's), run
/// with the coroutine recorded as the running Lua thread while it runs Lua
/// code (upvalue 2 says which, [`RESUME`] or [`CLOSE`]).
///
/// # Safety
/// Called by Lua as a C function. The coroutine is recorded only when the
/// library function will run it and cannot raise before or after (a
/// coroutine it refuses — running, normal, dead — is passed through
/// unrecorded), and the call is protected: an error in it (out of memory
/// growing a stack) is caught, the record restored, and the error raised again
/// from this frame, which holds plain data only. So the record always names a
/// live thread that is running.
unsafe extern "C-unwind" fn recording(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    let co = ffi::lua_tothread(l, 2);
    let when = ffi::lua_tointegerx(l, ffi::lua_upvalueindex(2), std::ptr::null_mut());
    if co.is_null() || co == l || !runs_code(co, when) {
        // The library function refuses it (or raises for a bad argument),
        // running nothing: no record needed.
        ffi::lua_call(l, n, ffi::LUA_MULTRET);
        return ffi::lua_gettop(l);
    }
    let outer = ACTIVE.with(|a| a.swap(co, Ordering::Relaxed));
    let status = ffi::lua_pcall(l, n, ffi::LUA_MULTRET, 0);
    ACTIVE.with(|a| a.store(outer, Ordering::Relaxed));
    if status != ffi::LUA_OK {
        ffi::lua_error(l);
    }
    ffi::lua_gettop(l)
}

/// Whether `coroutine.resume` ([`RESUME`]) or `coroutine.close` ([`CLOSE`])
/// would run Lua code on `co` (not the running thread): it is suspended, not
/// running another coroutine, and for `resume` not dead.
unsafe fn runs_code(co: *mut ffi::lua_State, when: ffi::lua_Integer) -> bool {
    let status = ffi::lua_status(co);
    if status == ffi::LUA_YIELD {
        return true;
    }
    // SAFETY (below): lua_Debug is plain data; lua_getstack only fills it.
    let mut ar: ffi::lua_Debug = unsafe { std::mem::zeroed() };
    let has_frames = unsafe { ffi::lua_getstack(co, 0, &mut ar) } != 0;
    match when {
        // Made and not started: its function and arguments, no frames (a
        // coroutine with frames and status OK is normal: it resumed another).
        RESUME => status == ffi::LUA_OK && !has_frames && unsafe { ffi::lua_gettop(co) } > 0,
        // Died with an error: its to-be-closed variables are closed.
        _ => status != ffi::LUA_OK,
    }
}

/// The signal action: hooks the Lua thread this worker is running.
fn on_signal() {
    let state = ACTIVE.with(|a| a.load(Ordering::Relaxed));
    if !state.is_null() {
        // SAFETY: `state` is the Lua thread this very thread is running (it
        // is recorded only while it runs, see `Running` and
        // `resume_recording`), interrupted by this signal; lua_sethook is
        // documented as callable from a signal handler.
        unsafe { ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, 1) };
    }
}

/// The count hook set by the signal: removes itself, and raises the interrupt
/// error if the service's flag is still up (the message may have ended, and
/// the hook fired in a later one). If the service is exiting (it was killed,
/// or the runtime is stopping) it leaves [`doomed`] in its place.
unsafe extern "C-unwind" fn hook(l: *mut ffi::lua_State, _: *mut ffi::lua_Debug) {
    ffi::lua_sethook(l, None, 0, 0);
    let (flag, exiting) = (
        FLAG.with(|f| f.load(Ordering::Relaxed)),
        EXITING.with(|f| f.load(Ordering::Relaxed)),
    );
    if flag.is_null() || exiting.is_null() {
        return;
    }
    // SAFETY: FLAG and EXITING point into the running service's flags, alive
    // for as long as they are set (see `Running`).
    let (flag, exiting) = unsafe { (&*flag, &*exiting) };
    if flag.swap(false, Ordering::Relaxed) {
        if exiting.load(Ordering::Relaxed) {
            ffi::lua_sethook(l, Some(doomed), ffi::LUA_MASKCOUNT, 1);
        }
        raise(l);
    }
}

/// The hook of an exiting service's interrupted Lua thread: raises at every
/// instruction, so even a loop that catches the error (`while true do
/// pcall(f) end`) ends, and the worker is freed. Outside a message (finalizers
/// when the VM closes) it removes itself.
unsafe extern "C-unwind" fn doomed(l: *mut ffi::lua_State, _: *mut ffi::lua_Debug) {
    if FLAG.with(|f| f.load(Ordering::Relaxed)).is_null() {
        ffi::lua_sethook(l, None, 0, 0);
        return;
    }
    raise(l);
}

/// Raises `interrupted: stuck on one message` at the current line of `l`.
unsafe fn raise(l: *mut ffi::lua_State) -> ! {
    ffi::luaL_where(l, 0);
    ffi::lua_pushstring(l, c"interrupted: stuck on one message".as_ptr());
    ffi::lua_concat(l, 2);
    // Longjmps out of the hook; no frame here holds anything with a destructor.
    ffi::lua_error(l)
}

/// A worker running a Lua service's code: records its main Lua thread and
/// flags until dropped.
pub(crate) struct Running<'a> {
    _flags: std::marker::PhantomData<&'a AtomicBool>,
}

impl<'a> Running<'a> {
    /// Records `main` (the VM's main thread, alive as long as the VM), the
    /// service's interrupt flag and its exiting flag for this worker.
    pub(crate) fn enter(
        main: *mut ffi::lua_State,
        flag: &'a AtomicBool,
        exiting: &'a AtomicBool,
    ) -> Running<'a> {
        let flag = flag as *const AtomicBool as *mut AtomicBool;
        let exiting = exiting as *const AtomicBool as *mut AtomicBool;
        FLAG.with(|f| f.store(flag, Ordering::Relaxed));
        EXITING.with(|f| f.store(exiting, Ordering::Relaxed));
        ACTIVE.with(|a| a.store(main, Ordering::Relaxed));
        Running {
            _flags: std::marker::PhantomData,
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.store(null_mut(), Ordering::Relaxed));
        FLAG.with(|f| f.store(null_mut(), Ordering::Relaxed));
        EXITING.with(|f| f.store(null_mut(), Ordering::Relaxed));
    }
}

/// The main Lua thread of `lua`.
pub(crate) fn main_thread(lua: &Lua) -> mlua::Result<*mut ffi::lua_State> {
    let mut main = null_mut();
    // SAFETY: the closure only reads the state pointer mlua runs it on, which
    // outside any callback is the VM's main thread.
    unsafe { lua.exec_raw::<()>((), |state| main = state)? };
    Ok(main)
}
