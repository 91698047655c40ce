//! The embedding API: a Rust host builds a runtime, launches Lua services by
//! name and from source, runs Rust services that call, reply and use sockets,
//! calls services from its own threads, reads stats and shuts down.
//!
//! Every wait is bounded: calls take a timeout, sockets a read timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use lunet::actor::{ptype, Context, Message, Service};
use lunet::lua::LuaEnv;
use lunet::socket::{Event, SocketId};
use lunet::value::{self, Value};
use lunet::{Error, Runtime};

const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> Runtime {
    Runtime::builder()
        .threads(2)
        .start()
        .expect("runtime starts")
}

/// A Lua service answering `lua` requests with what `f` returns.
fn lua_service(runtime: &Runtime, name: &str, body: &str) -> lunet::actor::Handle {
    let source = format!(
        r#"
        local skynet = require "skynet"
        skynet.start(function()
            skynet.dispatch("lua", function(session, source, ...)
                {body}
            end)
        end)
        "#
    );
    runtime
        .launch_lua_source(name, &source, &[])
        .unwrap_or_else(|e| panic!("{name} starts: {e}"))
}

#[test]
fn host_calls_lua_and_converts_the_answer_with_serde() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Player {
        name: String,
        level: u8,
        items: Vec<String>,
        guild: Option<String>,
    }
    let runtime = runtime();
    let svc = lua_service(
        &runtime,
        "players",
        r#"local name = ...
           skynet.retpack({ name = name, level = 7, items = { "sword", "map" } }, #name)"#,
    );
    let answer = runtime
        .call_lua(svc, &[Value::from("ana")], WAIT)
        .expect("the call is answered");
    assert_eq!(answer.len(), 2, "two values: {answer:?}");
    assert_eq!(answer[1], Value::Integer(3));
    let player: Player = value::from_value(answer[0].clone()).expect("converts");
    assert_eq!(
        player,
        Player {
            name: "ana".into(),
            level: 7,
            items: vec!["sword".into(), "map".into()],
            guild: None
        }
    );
    runtime.shutdown();
}

#[test]
fn host_sends_rust_structs_to_lua() {
    #[derive(serde::Serialize)]
    struct Order {
        id: u32,
        lines: Vec<(String, u32)>,
    }
    let runtime = runtime();
    let svc = lua_service(
        &runtime,
        "orders",
        r#"local order = ...
           local total = 0
           for _, line in ipairs(order.lines) do total = total + line[2] end
           skynet.retpack(order.id, total, #order.lines)"#,
    );
    let order = value::to_value(&Order {
        id: 42,
        lines: vec![("apple".into(), 3), ("pear".into(), 4)],
    })
    .expect("packs");
    let answer = runtime.call_lua(svc, &[order], WAIT).expect("answered");
    assert_eq!(answer, vec![42.into(), 7.into(), 2.into()]);
    runtime.shutdown();
}

#[test]
fn lua_service_is_found_by_name_with_its_arguments() {
    let dir = std::env::temp_dir().join(format!("lunet-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("greeter.lua"),
        r#"
        local skynet = require "skynet"
        local greeting, punct = ...
        skynet.start(function()
            skynet.dispatch("lua", function(_, _, who)
                skynet.retpack(greeting .. ", " .. who .. punct, skynet.getenv("region"))
            end)
        end)
        "#,
    )
    .unwrap();
    let runtime = Runtime::builder()
        .threads(2)
        .lua(LuaEnv {
            luaservice: format!("{}/?.lua", dir.display()),
            ..LuaEnv::default()
        })
        .env("region", "eu")
        .start()
        .expect("starts");
    let greeter = runtime
        .launch_lua("greeter", &["hello", "!"])
        .expect("greeter starts");
    let answer = runtime
        .call_lua(greeter, &["bob".into()], WAIT)
        .expect("answered");
    assert_eq!(answer, vec!["hello, bob!".into(), "eu".into()]);
    // Through the launcher: it is listed like any newservice'd service.
    let listed = runtime
        .call_lua(".launcher", &["LIST".into()], WAIT)
        .expect("the launcher answers");
    let listed = listed[0].as_table().expect("a table").clone();
    let desc = listed.get(&Value::from(format!(":{:08x}", greeter.get())));
    assert_eq!(desc, Some(&Value::from("snlua greeter hello !")));
    runtime.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn launch_errors_say_what_failed() {
    let runtime = runtime();
    let missing = runtime.launch_lua("no_such_service", &[]).unwrap_err();
    let text = missing.to_string();
    assert!(
        matches!(missing, Error::Launch { .. })
            && text.contains("no_such_service")
            && text.contains("searched")
            && text.contains("./no_such_service.lua"),
        "names the service and the paths searched: {text}"
    );
    let syntax = runtime
        .launch_lua_source("broken", "local x = = 1", &[])
        .unwrap_err();
    assert!(syntax.to_string().contains("broken:1:"), "{syntax}");
    let raises = runtime
        .launch_lua_source(
            "raises",
            r#"local skynet = require "skynet"
               skynet.start(function() error("no database") end)"#,
            &[],
        )
        .unwrap_err();
    assert!(raises.to_string().contains("no database"), "{raises}");
    // The runtime is fine afterwards.
    let ok = lua_service(&runtime, "fine", "skynet.retpack(true)");
    assert_eq!(runtime.call_lua(ok, &[], WAIT).unwrap(), vec![true.into()]);
    runtime.shutdown();
}

#[test]
fn call_errors_are_told_apart() {
    let runtime = runtime();
    let svc = lua_service(
        &runtime,
        "moody",
        r#"local mood = ...
           if mood == "raise" then error("bad mood") end
           if mood == "silent" then held = skynet.response() return end -- answers never
           if mood == "exit" then skynet.exit() end
           skynet.retpack(mood)"#,
    );
    assert!(matches!(
        runtime.call_lua(svc, &["raise".into()], WAIT),
        Err(Error::Failed(h)) if h == svc
    ));
    let started = std::time::Instant::now();
    match runtime.call_lua(svc, &["silent".into()], Duration::from_millis(200)) {
        Err(Error::Timeout { to, after }) => {
            assert_eq!((to, after), (svc, Duration::from_millis(200)));
            assert!(started.elapsed() >= Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // A call after a timed-out one gets its own answer.
    assert_eq!(
        runtime.call_lua(svc, &["fine".into()], WAIT).unwrap(),
        vec!["fine".into()]
    );
    // The service exits while the call waits: the caller is told, never hangs.
    assert!(matches!(
        runtime.call_lua(svc, &["exit".into()], WAIT),
        Err(Error::Dead(h)) if h == svc
    ));
    assert!(matches!(
        runtime.call_lua(svc, &["fine".into()], WAIT),
        Err(Error::Dead(_))
    ));
    assert!(matches!(
        runtime.send_lua(".nobody", &[]),
        Err(Error::NoSuchName(name)) if name == ".nobody"
    ));
    runtime.shutdown();
}

#[test]
fn host_threads_call_concurrently() {
    let runtime = Arc::new(runtime());
    let svc = lua_service(
        &runtime,
        "doubler",
        r#"local n = ...
           if n % 7 == 0 then skynet.sleep(1) end -- some answers come later
           skynet.retpack(n * 2)"#,
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let runtime = runtime.clone();
            std::thread::spawn(move || {
                for i in 0..100i64 {
                    let n = t * 1000 + i;
                    let answer = runtime.call_lua(svc, &[n.into()], WAIT).expect("answered");
                    assert_eq!(answer, vec![Value::from(n * 2)], "thread {t}, call {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread failed");
    }
    Arc::into_inner(runtime).expect("last owner").shutdown();
}

/// A Rust service that answers `lua` requests by calling a Lua service and
/// relaying its answer, and echoes TCP connections on a listener it opens.
struct Relay {
    target: lunet::actor::Handle,
    waiting: std::collections::HashMap<i32, Message>,
    listener: Option<SocketId>,
    port: u16,
}

impl Service for Relay {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        ctx.register(".relay");
        let me = ctx.handle().get();
        let (id, addr) = ctx
            .sockets()
            .listen(me, "127.0.0.1", 0, 16)
            .map_err(|e| e.to_string())?;
        ctx.sockets().start(me, id);
        self.listener = Some(id);
        self.port = addr.port();
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        match (message.ptype, &message.payload) {
            (ptype::LUA, _) => {
                let args = message.lua_values().unwrap_or_default();
                if args.first().and_then(Value::as_str) == Some("port") {
                    ctx.reply_lua(&message, &[i64::from(self.port).into()])
                        .unwrap();
                    return;
                }
                let session = ctx.call_lua(self.target, &args).unwrap();
                self.waiting.insert(session, message);
            }
            (ptype::RESPONSE, _) => {
                if let Some(request) = self.waiting.remove(&message.session) {
                    let mut values = message.lua_values().unwrap_or_default();
                    values.push("via rust".into());
                    ctx.reply_lua(&request, &values).unwrap();
                }
            }
            (ptype::ERROR, _) => {
                if let Some(request) = self.waiting.remove(&message.session) {
                    ctx.reply_error(&request);
                }
            }
            (ptype::SOCKET, lunet::actor::Payload::Socket(event)) => match event {
                Event::Accept { id, .. } => ctx.sockets().start(ctx.handle().get(), *id),
                Event::Data { id, data } => {
                    let mut upper = data.to_vec();
                    upper.make_ascii_uppercase();
                    let _ = ctx.sockets().send(*id, upper);
                }
                Event::Close { id } if Some(*id) != self.listener => ctx.sockets().close(*id),
                _ => {}
            },
            _ => {}
        }
    }
}

#[test]
fn rust_and_lua_services_call_each_other_and_rust_uses_sockets() {
    let runtime = runtime();
    let lua = lua_service(
        &runtime,
        "adder",
        r#"local a, b = ...
           if a == "ask rust" then
               -- Lua calls the Rust service, which calls back into Lua.
               skynet.retpack(skynet.call(".relay", "lua", b, 100))
           else
               skynet.retpack(a + b)
           end"#,
    );
    let relay = runtime
        .launch(
            Box::new(Relay {
                target: lua,
                waiting: Default::default(),
                listener: None,
                port: 0,
            }),
            "rust relay",
        )
        .expect("relay starts");
    // Host → Rust → Lua → Rust → host.
    assert_eq!(
        runtime
            .call_lua(relay, &[2.into(), 3.into()], WAIT)
            .unwrap(),
        vec![5.into(), "via rust".into()]
    );
    // Host → Lua → Rust → Lua → Rust → Lua → host.
    assert_eq!(
        runtime
            .call_lua(lua, &["ask rust".into(), 1.into()], WAIT)
            .unwrap(),
        vec![101.into(), "via rust".into()]
    );
    // Lua errors travel back as errors.
    assert!(matches!(
        runtime.call_lua(relay, &["x".into(), 1.into()], WAIT),
        Err(Error::Failed(_))
    ));
    // The Rust service's own socket.
    let port = runtime.call_lua(".relay", &["port".into()], WAIT).unwrap();
    let port = u16::try_from(port[0].as_i64().unwrap()).unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.write_all(b"hello rust\n").unwrap();
    let mut line = String::new();
    BufReader::new(&client).read_line(&mut line).unwrap();
    assert_eq!(line, "HELLO RUST\n");
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("the relay closes its side");
    assert!(rest.is_empty());
    runtime.shutdown();
}

#[test]
fn lua_services_launched_by_the_host_can_newservice() {
    let runtime = runtime();
    assert!(runtime.node().query_name(".launcher").is_some());
    let worker = r#"
        local skynet = require "skynet"
        local base = tonumber(...)
        skynet.start(function()
            skynet.dispatch("lua", function(_, _, n) skynet.retpack(base + n) end)
        end)
    "#;
    let boss = r#"
        local skynet = require "skynet"
        skynet.start(function()
            local w = skynet.newservice("worker", "10")
            skynet.dispatch("lua", function(_, _, n) skynet.retpack(skynet.call(w, "lua", n)) end)
        end)
    "#;
    runtime.add_lua_source("worker", worker);
    let boss = runtime
        .launch_lua_source("boss", boss, &[])
        .expect("boss starts");
    assert_eq!(
        runtime.call_lua(boss, &[5.into()], WAIT).unwrap(),
        vec![15.into()]
    );
    runtime.shutdown();
}

#[test]
fn stats_show_services_and_sockets() {
    let runtime = runtime();
    let svc = runtime
        .launch_lua_source(
            "listener",
            r#"local skynet = require "skynet"
               local socket = require "skynet.socket"
               skynet.start(function()
                   local id = socket.listen("127.0.0.1", 0)
                   socket.start(id, function() end)
                   skynet.dispatch("lua", function() skynet.retpack(id) end)
               end)"#,
            &[],
        )
        .unwrap();
    let id = runtime.call_lua(svc, &[], WAIT).unwrap()[0]
        .as_i64()
        .unwrap();
    let stats = runtime.stats();
    let mine = stats
        .services
        .iter()
        .find(|s| s.handle == svc)
        .expect("the service is listed");
    assert_eq!(mine.label, "snlua listener");
    assert!(!mine.daemon && mine.messages >= 2, "{mine:?}");
    let launcher = stats
        .services
        .iter()
        .find(|s| s.names.contains(&".launcher".to_string()))
        .expect("the launcher is listed");
    assert!(launcher.daemon);
    let socket = stats
        .sockets
        .iter()
        .find(|s| i64::from(s.id.get()) == id)
        .expect("the listener is listed");
    assert_eq!(socket.owner, svc.get());
    runtime.shutdown();
}

#[test]
fn join_waits_for_the_services_and_reports_an_abort() {
    let runtime = runtime();
    let (tx, rx) = crossbeam_channel::bounded(1);
    runtime
        .launch_lua_source(
            "brief",
            r#"local skynet = require "skynet"
               skynet.start(function() skynet.timeout(5, skynet.exit) end)"#,
            &[],
        )
        .unwrap();
    std::thread::spawn(move || {
        let _ = tx.send(runtime.join());
    });
    let joined = rx
        .recv_timeout(WAIT)
        .expect("join returns once brief exits");
    assert!(joined.is_ok(), "{joined:?}");

    let runtime = self::runtime();
    runtime
        .launch_lua_source(
            "aborts",
            r#"local skynet = require "skynet"
               require "skynet.manager"
               skynet.start(function() skynet.timeout(1, function() skynet.abort() end) end)"#,
            &[],
        )
        .unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(runtime.join());
    });
    assert!(rx.recv_timeout(WAIT).expect("join returns").is_ok());
}

/// `examples/embed.rs` runs to the end (it checks its own results).
#[test]
fn embed_example_runs() {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/embed-HASH → target/<profile>/examples/embed
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("embed"))
        .unwrap();
    assert!(
        example.exists(),
        "{} is missing: `cargo test --release` builds the examples, `cargo test --test embed` alone does not \
         (run `cargo build --release --example embed` first)",
        example.display()
    );
    let mut child = std::process::Command::new(&example)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("examples/embed did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "embed failed: {status}\n{out}\n{err}");
    assert!(
        out.contains("ana has 110 [ANA REACHED 100]") && out.ends_with("done\n"),
        "{out}"
    );
}

/// A service that exits while a host call to it waits is reported as gone
/// (`Error::Dead`), every time, not as a failed request. Found in review:
/// `skynet.exit` sends the caller its error before the service is retired, so
/// the host's liveness check raced the worker.
#[test]
fn exit_during_a_host_call_is_always_dead() {
    let runtime = Runtime::builder()
        .threads(4)
        .start()
        .expect("runtime starts");
    runtime.add_lua_source(
        "quitter",
        r#"local skynet = require "skynet"
           skynet.start(function()
               skynet.dispatch("lua", function() skynet.exit() end)
           end)"#,
    );
    let mut failed = 0;
    for _ in 0..1000 {
        let svc = runtime.launch_lua("quitter", &[]).expect("quitter starts");
        match runtime.call_lua(svc, &[], WAIT) {
            Err(Error::Dead(h)) if h == svc => {}
            Err(Error::Failed(h)) if h == svc => failed += 1,
            other => panic!("expected Dead, got {other:?}"),
        }
    }
    assert_eq!(failed, 0, "calls reported Failed instead of Dead (of 1000)");
    runtime.shutdown();
}

/// Sends the service that messaged it (the host port) requests with every
/// session from 1 to `POKES`, as Lua services calling the host back would.
struct Poker;

const POKES: i32 = 200;

impl Service for Poker {
    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        if message.ptype == ptype::TEXT {
            for session in 1..=POKES {
                let _ = ctx.send(message.source, ptype::TEXT, session, "poke");
            }
        }
    }
}

/// Waits until `svc` has handled at least `count` messages.
fn wait_handled(runtime: &Runtime, svc: lunet::actor::Handle, count: u64, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let stats = runtime.stats();
        let handled = stats
            .services
            .iter()
            .find(|s| s.handle == svc)
            .map_or(0, |s| s.messages);
        if handled >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waiting for {what}: {handled} of {count} messages handled"
        );
        std::thread::yield_now();
    }
}

fn port_handle(runtime: &Runtime) -> lunet::actor::Handle {
    runtime
        .stats()
        .services
        .iter()
        .find(|s| s.label == "rust host")
        .expect("the host port exists")
        .handle
}

/// A request sent to the host port never takes the place of a host call's
/// answer. Found in review: the port removed the waiting call for any message
/// whose session matched, before looking at its type, so a service calling
/// the host back with the same session number made the host call time out.
#[test]
fn requests_to_the_host_port_do_not_steal_a_waiting_call() {
    let runtime = Arc::new(runtime());
    let slow = lua_service(
        &runtime,
        "slow",
        r#"local what = ...
           if what == "hold" then held = skynet.response() return end
           held(true, "released")
           skynet.retpack(true)"#,
    );
    let poker = runtime.launch(Box::new(Poker), "poker").unwrap();
    let base = runtime
        .stats()
        .services
        .iter()
        .find(|s| s.handle == slow)
        .unwrap()
        .messages;
    let caller = {
        let runtime = runtime.clone();
        std::thread::spawn(move || runtime.call_lua(slow, &["hold".into()], WAIT))
    };
    wait_handled(&runtime, slow, base + 1, "slow to hold the call");
    let port = port_handle(&runtime);
    let port_base = runtime
        .stats()
        .services
        .iter()
        .find(|s| s.handle == port)
        .unwrap()
        .messages;
    runtime.send(poker, ptype::TEXT, "go").unwrap();
    wait_handled(
        &runtime,
        port,
        port_base + POKES as u64,
        "the port to see the pokes",
    );
    assert_eq!(
        runtime.call_lua(slow, &["release".into()], WAIT).unwrap(),
        vec![true.into()]
    );
    let held = caller.join().expect("caller thread");
    assert_eq!(held.unwrap(), vec![Value::from("released")]);
    Arc::into_inner(runtime).expect("last owner").shutdown();
}

/// A service that calls the host port (the source of a host message) gets an
/// error at once: the host takes no requests, and the caller must not wait
/// forever. Found in review: the port dropped requests without an answer.
#[test]
fn a_call_to_the_host_port_raises_in_the_caller() {
    let runtime = runtime();
    let svc = lua_service(
        &runtime,
        "calls_back",
        r#"local ok, err = pcall(skynet.call, source, "lua", "hello host")
           skynet.retpack(ok, tostring(err))"#,
    );
    let answer = runtime
        .call_lua(svc, &[], WAIT)
        .expect("calls_back answers");
    assert_eq!(answer.first(), Some(&Value::from(false)), "{answer:?}");
    runtime.shutdown();
}
/// A service killed while it holds a host call's answer: the call fails as
/// `Error::Dead` as soon as the service is gone, not after its whole timeout
/// (found in review: it waited the full timeout and said Timeout).
#[test]
fn host_call_to_a_service_killed_mid_call_is_dead() {
    let runtime = Arc::new(runtime());
    let holder = lua_service(&runtime, "holder", r#"held = skynet.response()"#);
    let base = runtime
        .stats()
        .services
        .iter()
        .find(|s| s.handle == holder)
        .unwrap()
        .messages;
    let caller = {
        let runtime = runtime.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let result = runtime.call_lua(holder, &[], Duration::from_secs(30));
            (result, started.elapsed())
        })
    };
    wait_handled(&runtime, holder, base + 1, "holder to hold the call");
    runtime.node().kill(holder);
    let (result, took) = caller.join().expect("caller thread");
    assert!(
        matches!(result, Err(Error::Dead(h)) if h == holder),
        "{result:?} after {took:?}"
    );
    assert!(took < WAIT, "the call took {took:?}");
    Arc::into_inner(runtime).expect("last owner").shutdown();
}
