//! A snapshot of a runtime for a host: its services and its sockets.

use std::time::Duration;

use super::Runtime;
use crate::actor::Handle;
use crate::socket::SocketInfo;

/// What [`Runtime::stats`] returns.
///
/// ```
/// let runtime = lunet::Runtime::builder().start()?;
/// let stats = runtime.stats();
/// assert!(stats.sockets.is_empty());
/// assert!(stats.services.iter().all(|s| s.daemon)); // only the system services
/// runtime.shutdown();
/// # Ok::<(), lunet::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Stats {
    /// Every live service, by handle.
    pub services: Vec<ServiceStats>,
    /// Every open socket, as `netstat` shows them.
    pub sockets: Vec<SocketInfo>,
    /// Time since the runtime started, to the centisecond.
    pub uptime: Duration,
}

/// One service in [`Stats`].
///
/// ```
/// let runtime = lunet::Runtime::builder().start()?;
/// let busy = runtime.launch_lua_source("busy", r#"
///     local skynet = require "skynet"
///     skynet.start(function()
///         skynet.dispatch("lua", function() skynet.retpack(true) end)
///     end)
/// "#, &[])?;
/// for _ in 0..3 {
///     runtime.call_lua(busy, &[], std::time::Duration::from_secs(5))?;
/// }
/// let stats = runtime.stats();
/// let service = stats.services.iter().find(|s| s.handle == busy).unwrap();
/// assert!(service.messages >= 3 && service.mailbox == 0 && !service.daemon);
/// runtime.shutdown();
/// # Ok::<(), lunet::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServiceStats {
    /// Its handle.
    pub handle: Handle,
    /// What it is (`"snlua echo"`, or the label a Rust service was launched with).
    pub label: String,
    /// Its names (`.launcher`), if any.
    pub names: Vec<String>,
    /// Messages waiting in its mailbox.
    pub mailbox: usize,
    /// Messages it has handled.
    pub messages: u64,
    /// Time its handlers have run.
    pub cpu: Duration,
    /// Whether it is a system service that does not keep the node running.
    pub daemon: bool,
}

impl Runtime {
    /// A snapshot of the services and sockets.
    ///
    /// ```
    /// let runtime = lunet::Runtime::builder().start()?;
    /// let stats = runtime.stats();
    /// let launcher = stats.services.iter().find(|s| s.names.iter().any(|n| n == ".launcher"));
    /// assert!(launcher.is_some_and(|s| s.daemon && s.label == "snlua launcher"));
    /// runtime.shutdown();
    /// # Ok::<(), lunet::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let names = self.node.names();
        let mut services: Vec<ServiceStats> = self
            .node
            .router
            .cells()
            .iter()
            .map(|cell| ServiceStats {
                handle: cell.handle,
                label: cell.label.clone(),
                names: names
                    .iter()
                    .filter(|(_, h)| *h == cell.handle)
                    .map(|(n, _)| n.clone())
                    .collect(),
                mailbox: cell.mailbox.len(),
                messages: cell.handled.load(std::sync::atomic::Ordering::Relaxed),
                cpu: Duration::from_nanos(cell.busy_ns.load(std::sync::atomic::Ordering::Relaxed)),
                daemon: self.node.is_daemon(cell.handle),
            })
            .collect();
        services.sort_by_key(|s| s.handle.get());
        Stats {
            services,
            sockets: self.node.sockets().stats(),
            uptime: Duration::from_millis(self.node.now() * 10),
        }
    }
}
