//! The monitor: notices a service stuck on one message.
//!
//! Each worker has a probe: the handle it is running and a version bumped on
//! every enter and leave. The monitor thread looks every `check_every`; a worker
//! whose version has not moved while it runs the same service is stuck on one
//! message. After `warn_after` the service is logged (once per episode) and marked
//! for `skynet.stat "endless"`; after `interrupt_after`, if set, its interrupt flag
//! is raised and its worker signalled (see `interrupt.rs`), which a Lua service
//! turns into an error in the handler.
//! By default the monitor only logs: a long loop may be legitimate.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::handle::Handle;
use super::node::Node;

/// What the monitor does and when.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// How often it looks. Default 1 s.
    pub check_every: Duration,
    /// How long a service may stay on one message before it is logged. Default 5 s.
    pub warn_after: Duration,
    /// If set, how long before the service is interrupted. Default none.
    pub interrupt_after: Option<Duration>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            check_every: Duration::from_secs(1),
            warn_after: Duration::from_secs(5),
            interrupt_after: None,
        }
    }
}

/// What one worker is doing.
#[derive(Default)]
pub(crate) struct Probe {
    version: AtomicU32,
    current: AtomicU32,
}

impl Probe {
    pub(crate) fn enter(&self, handle: Handle) {
        self.current.store(handle.get(), Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn leave(&self) {
        self.current.store(0, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// The monitor thread's loop: runs until `stop` is signalled or dropped.
pub(crate) fn run(node: &Node, probes: &[Arc<Probe>], config: &MonitorConfig, stop: Receiver<()>) {
    // Per probe: the version last seen and how long it has not moved.
    let mut seen: Vec<(u32, Duration, bool)> = vec![(0, Duration::ZERO, false); probes.len()];
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
        stop.recv_timeout(config.check_every)
    {
        for (probe, (last, stuck, warned)) in probes.iter().zip(seen.iter_mut()) {
            let version = probe.version.load(Ordering::Acquire);
            let current = Handle::from_raw(probe.current.load(Ordering::Relaxed));
            if version != *last || current == Handle::SYSTEM {
                *last = version;
                *stuck = Duration::ZERO;
                *warned = false;
                continue;
            }
            *stuck += config.check_every;
            let Some(cell) = node.router.cell(current) else {
                continue;
            };
            if *stuck >= config.warn_after && !*warned {
                *warned = true;
                cell.endless.store(true, Ordering::Relaxed);
                tracing::warn!(
                    "service {current} ({}) may be in an endless loop: on one message for {:?}",
                    cell.label,
                    *stuck
                );
            }
            if config.interrupt_after.is_some_and(|limit| *stuck >= limit) {
                cell.interrupt();
            }
        }
    }
}
