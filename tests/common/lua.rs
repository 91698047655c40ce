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

    /// A node booted from a config the way `lunet run` boots one (bootstrap,
    /// the launcher, service_mgr, the logger: newservice and skynet.service
    /// work), with `services` in a fresh directory; the config is
    /// `start = "ready"` (a service that does nothing, unless `services`
    /// replaces it), two threads, and the lines in `more`. Returns once
    /// bootstrap has started the system services.
    pub fn booted(tag: &str, more: &str, services: &[(&str, &str)]) -> LuaNode {
        let mut all = vec![(
            "ready",
            "local skynet = require \"skynet\"\nskynet.start(function() end)\n",
        )];
        all.extend_from_slice(services);
        let dir = ServiceDir::new(tag, &all);
        let source = format!("start = \"ready\"\nthread = 2\n{more}");
        let config = lunet::config::Config::from_source(dir.0.join("config.lua"), &source)
            .unwrap_or_else(|e| panic!("the test's config: {e}"));
        let runtime =
            lunet::lua::start_node(&config).unwrap_or_else(|e| panic!("booting the node: {e}"));
        // bootstrap names .logger last, after .launcher and .service.
        super::eventually("bootstrap has started the system services", || {
            runtime.node().query_name(".logger").is_some()
        });
        let (tx, reports) = crossbeam_channel::unbounded();
        let probe = runtime.launch(Box::new(Probe(tx)), "probe").unwrap();
        LuaNode {
            runtime,
            env: Arc::new(lunet::lua::lua_env(&config)),
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

    /// Launches service `name` with the probe's handle, then the handles
    /// `args`, as its launch arguments; a failure to launch is a panic.
    pub fn launch_handles(&self, name: &str, args: &[Handle]) -> Handle {
        let args: Vec<String> = args.iter().map(|a| a.get().to_string()).collect();
        self.launch_with(name, &args)
            .unwrap_or_else(|e| panic!("launching {name}: {e}"))
    }

    /// The next report, or a panic saying what was awaited.
    pub fn report(&self, what: &str) -> String {
        next_report(&self.reports, what)
    }
}

/// One line a Lua service logged: `skynet.error`, `print`, or the traceback of
/// a handler that failed.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The service, as `:0000000a`. Handles repeat across the nodes of one test
    /// process: match on text unique to the test as well.
    pub service: String,
    pub text: String,
}

/// The service log lines of this test process, for tests that check what a
/// service logged. [`ServiceLog::get`] installs it as the process's `tracing`
/// subscriber, so it must be called before the first node starts (the stderr
/// subscriber a [`LuaNode`] installs then stands aside). Every line still goes
/// to stderr, shown with a failing test.
pub struct ServiceLog {
    lines: std::sync::Mutex<Vec<LogLine>>,
    added: std::sync::Condvar,
}

impl ServiceLog {
    /// The log, installed on the first call.
    pub fn get() -> &'static ServiceLog {
        static LOG: std::sync::OnceLock<&'static ServiceLog> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log: &'static ServiceLog = Box::leak(Box::new(ServiceLog {
                lines: std::sync::Mutex::new(Vec::new()),
                added: std::sync::Condvar::new(),
            }));
            use tracing_subscriber::layer::SubscriberExt;
            let subscriber = tracing_subscriber::registry().with(Capture(log));
            tracing::subscriber::set_global_default(subscriber).expect(
                "ServiceLog::get must come before anything else sets the tracing subscriber",
            );
            log
        })
    }

    /// The first line `matches` accepts, waiting for it up to [`WAIT`]; panics
    /// naming `what` (and the lines logged meanwhile) if none comes.
    pub fn wait_for(&self, what: &str, matches: impl Fn(&LogLine) -> bool) -> LogLine {
        let deadline = std::time::Instant::now() + WAIT;
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(line) = lines.iter().find(|l| matches(l)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                panic!("timed out after {WAIT:?} waiting for a log line: {what}");
            }
            lines = self
                .added
                .wait_timeout(lines, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Every line logged so far that `matches` accepts.
    pub fn matching(&self, matches: impl Fn(&LogLine) -> bool) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().filter(|l| matches(l)).cloned().collect()
    }
}

/// The `tracing` layer behind [`ServiceLog`]: keeps service lines, and writes
/// them and the runtime's warnings and errors to stderr.
struct Capture(&'static ServiceLog);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        metadata.target() == lunet::lua::log::TARGET || *metadata.level() <= tracing::Level::WARN
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        if metadata.target() != lunet::lua::log::TARGET {
            eprintln!(
                "{} {}: {}",
                metadata.level(),
                metadata.target(),
                fields.message
            );
            return;
        }
        eprintln!("[{}] {}", fields.service, fields.message);
        let mut lines = self.0.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.push(LogLine {
            service: fields.service,
            text: fields.message,
        });
        self.0.added.notify_all();
    }
}

/// The fields of a log event the capture keeps.
#[derive(Default)]
struct Fields {
    service: String,
    message: String,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "service" => self.service = format!("{value:?}"),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        }
    }
}
