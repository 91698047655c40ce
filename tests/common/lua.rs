//! Helpers for tests that run Lua services: a Rust probe service that relays
//! what the Lua services report, and a node whose services are files in a fresh
//! directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use lunet::actor::{ptype, Context, Handle, Message, Service};
use lunet::lua::{LuaEnv, LuaService};
use lunet::runtime::{Runtime, RuntimeConfig};

use super::WAIT;

/// Forwards the text of every text message it gets to the test.
pub struct Probe(pub Sender<String>);

impl Service for Probe {
    fn handle(&mut self, _: &mut Context<'_>, message: Message) {
        if message.ptype == ptype::TEXT {
            let text = String::from_utf8_lossy(message.payload.bytes()).into_owned();
            let _ = self.0.send(text);
        }
    }
}

/// A fresh directory holding `(name, source)` Lua files, removed on drop. One per
/// node: tests run concurrently. (Two tests once shared one and raced on cleanup.)
pub struct ServiceDir(pub PathBuf);

impl ServiceDir {
    pub fn new(tag: &str, services: &[(&str, &str)]) -> ServiceDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lunet-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, source) in services {
            std::fs::write(dir.join(format!("{name}.lua")), source).unwrap();
        }
        ServiceDir(dir)
    }
}

impl Drop for ServiceDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The next report from a probe, or a panic saying what was awaited.
pub fn next_report(reports: &Receiver<String>, what: &str) -> String {
    reports
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// A runtime whose Lua services are files in a [`ServiceDir`], and a probe.
pub struct LuaNode {
    pub runtime: Runtime,
    pub env: Arc<LuaEnv>,
    pub probe: Handle,
    pub reports: Receiver<String>,
    pub dir: ServiceDir,
}

impl LuaNode {
    /// Two workers, default settings otherwise.
    pub fn new(tag: &str, services: &[(&str, &str)]) -> LuaNode {
        LuaNode::with_config(
            tag,
            services,
            RuntimeConfig {
                threads: 2,
                ..RuntimeConfig::default()
            },
        )
    }

    pub fn with_config(tag: &str, services: &[(&str, &str)], config: RuntimeConfig) -> LuaNode {
        // Service log lines (errors, tracebacks) shown with a failing test.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
        let dir = ServiceDir::new(tag, services);
        let runtime = Runtime::start(config).unwrap();
        let (tx, reports) = crossbeam_channel::unbounded();
        let probe = runtime.launch(Box::new(Probe(tx)), "probe").unwrap();
        let env = Arc::new(LuaEnv {
            luaservice: format!("{}/?.lua", dir.0.display()),
            ..LuaEnv::default()
        });
        LuaNode {
            runtime,
            env,
            probe,
            reports,
            dir,
        }
    }

    /// Launches service `name` with the probe's handle, then `args`, as its
    /// launch arguments.
    pub fn launch_with(&self, name: &str, args: &[String]) -> Result<Handle, String> {
        let mut all = vec![self.probe.get().to_string()];
        all.extend_from_slice(args);
        let service = LuaService::new(self.env.clone(), name, all);
        self.runtime.launch(Box::new(service), name)
    }

    /// The next report, or a panic saying what was awaited.
    pub fn report(&self, what: &str) -> String {
        next_report(&self.reports, what)
    }
}
