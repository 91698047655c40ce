//! Interrupting a service stuck on one message.
//!
//! Interrupting a service that is running a message is two things (one that
//! is not running is left alone: there is nothing to stop, and the next
//! message it handles must not be hit). The service's interrupt flag is
//! raised: Rust services poll it ([`Context::is_interrupted`](super::Context::is_interrupted)).
//! And, when the service asked for it ([`Runner::signal_on_interrupt`]), is
//! running on a worker at that moment and a signal action has been installed,
//! that worker thread gets the signal `SIGURG`: code
//! that cannot poll a flag (a Lua VM in `while true do end`) is stopped from the
//! signal, as the standalone `lua` interpreter stops a script on Ctrl-C (its
//! signal handler sets a Lua hook, the hook raises an error). See `lua/interrupt.rs`.
//!
//! `SIGURG` is the signal Go's runtime uses to preempt its threads for the same
//! reason: its default action is to ignore it, so a stray one is harmless, and the
//! kernel sends it only to the owner of a socket with urgent data set with
//! `F_SETOWN`, which lunet never sets. The handler is installed once per process,
//! and only if nothing else has installed one (an embedding host's own handler is
//! left alone; Lua services are then interrupted only where they poll the flag).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// The signal that tells a worker to look at its interrupt flag.
const SIGNAL: libc::c_int = libc::SIGURG;

/// What the signal handler runs, on the interrupted worker thread.
static ACTION: OnceLock<fn()> = OnceLock::new();

/// Whether the handler is installed (the signal is sent only then).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The worker thread running a service, if any: set for the whole of a batch.
#[derive(Default)]
pub(crate) struct Runner {
    thread: Mutex<Option<libc::pthread_t>>,
    /// The service stops on the signal (a Lua VM): only then is it sent, so
    /// a Rust service's system calls never see an EINTR from it.
    wants_signal: AtomicBool,
}

impl Runner {
    /// The calling thread runs the service until the guard is dropped.
    pub(crate) fn enter(&self) -> Running<'_> {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        *self.lock() = Some(me);
        Running(self)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<libc::pthread_t>> {
        self.thread.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The service's worker is to be signalled when it is interrupted.
    pub(crate) fn signal_on_interrupt(&self) {
        self.wants_signal.store(true, Ordering::Relaxed);
    }

    /// Whether a worker is running the service now.
    pub(crate) fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// If the service is running now, raises `flag` and, if it wants it,
    /// signals its worker; returns whether it was running. A service that is
    /// not running has no message to stop: its flag is left down, so the
    /// interrupt cannot hit the next message it handles.
    pub(crate) fn interrupt(&self, flag: &AtomicBool) -> bool {
        // The lock is held while signalling: the worker cannot leave (and its
        // thread cannot end) until the signal has been sent.
        let runner = self.lock();
        let Some(thread) = *runner else {
            return false;
        };
        flag.store(true, Ordering::Relaxed);
        if INSTALLED.load(Ordering::Acquire) && self.wants_signal.load(Ordering::Relaxed) {
            // SAFETY: `thread` is a live thread: it set itself here in `enter`
            // and clears itself when its `Running` guard drops (before it lets
            // go of the service, and so before it can exit), which waits for
            // this lock. A handler for SIGNAL is installed (INSTALLED).
            unsafe {
                libc::pthread_kill(thread, SIGNAL);
            }
        }
        true
    }
}

/// A worker running a service (see [`Runner::enter`]).
pub(crate) struct Running<'a>(&'a Runner);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    if let Some(action) = ACTION.get() {
        action();
    }
}

/// Installs `action` to run on a worker thread when a service it is running is
/// interrupted. The first call installs the process's `SIGURG` handler; later
/// calls do nothing. Returns whether the handler is in place.
///
/// # Safety
/// `action` runs inside a signal handler, on whatever the thread was doing: it
/// may only do what is async-signal-safe (read thread-locals and atomics, call
/// functions documented as callable from a signal handler).
pub(crate) unsafe fn set_signal_action(action: fn()) -> bool {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if ACTION.set(action).is_err() {
            return;
        }
        // SAFETY: sigaction with a zeroed struct is valid input; the handler
        // only calls ACTION, which the caller promised is async-signal-safe.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(SIGNAL, std::ptr::null(), &mut old) != 0 {
                return;
            }
            if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
                tracing::warn!(
                    "SIGURG already has a handler: stuck Lua services cannot be interrupted"
                );
                return;
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            if libc::sigaction(SIGNAL, &new, std::ptr::null_mut()) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}
