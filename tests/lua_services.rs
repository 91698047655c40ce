//! The shipped services and the service-management API: newservice,
//! uniqueservice, queryservice, skynet.manager, skynet.service and the
//! launcher's LIST, on a node booted from a config the way `lunet run` does.
//!
//! Each test writes its services into a fresh directory next to a config
//! (`start = "ready"`), boots the node with [`lunet::lua::start_node`], waits
//! until bootstrap has started the system services, then launches a test
//! service with a Rust probe's handle as its first argument and reads what it
//! reports ("ok ..." text messages).

mod common;

use common::lua::LuaNode;
use common::WAIT;
use lunet::actor::Handle;
use lunet::config::Config;
use lunet::lua::start_node;

const CHILD: &str = r#"
local skynet = require "skynet"
local a, b = ...
local started = false
skynet.start(function()
    skynet.sleep(20)   -- newservice must wait for this
    started = true
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "exit" then
            skynet.exit()
        end
        skynet.retpack(string.format("%s %s %s", tostring(started), tostring(a), tostring(b)))
    end)
end)
"#;

/// A booted node ([`LuaNode::booted`]) with `child` among its services.
struct Node(LuaNode);

impl Node {
    fn new(services: &[(&str, &str)]) -> Node {
        Node::with_config("", services)
    }

    /// [`Node::new`] with more lines in the config.
    fn with_config(more: &str, services: &[(&str, &str)]) -> Node {
        // The test's own services come last, so they may replace `child`.
        let mut all = vec![("child", CHILD)];
        all.extend_from_slice(services);
        Node(LuaNode::booted("lua-services", more, &all))
    }

    fn runtime(&self) -> &lunet::runtime::Runtime {
        &self.0.runtime
    }

    /// Launches test service `name` (from Rust, as a host would) with the
    /// probe's handle as its first argument.
    fn launch(&self, name: &str) -> Handle {
        self.0
            .launch_with(name, &[])
            .unwrap_or_else(|e| panic!("launching {name}: {e}"))
    }

    /// The next report, or a panic saying what was awaited.
    fn report(&self, what: &str) -> String {
        self.0.report(what)
    }
}

#[test]
fn newservice_returns_once_the_start_function_has_finished() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local begun = skynet.now()
    local child = skynet.newservice("child", "a", 42)
    local waited = skynet.now() - begun
    local answer = skynet.call(child, "lua", "hello")
    skynet.send(probe, "text", string.format("ok %d %s %s", child, answer, tostring(waited >= 20)))
end)
"#,
    )]);
    node.launch("test");
    let report = node.report("the child's handle and answer");
    let words: Vec<&str> = report.split(' ').collect();
    assert_eq!(words[0], "ok", "{report}");
    let child = Handle::from_raw(words[1].parse().unwrap());
    assert!(node.runtime().node().is_alive(child));
    // started = true: the call came after the start function; args as strings.
    assert_eq!(&words[2..], ["true", "a", "42", "true"], "{report}");
}

#[test]
fn newservice_raises_when_the_start_function_raises() {
    let node = Node::new(&[
        (
            "broken",
            r#"
local skynet = require "skynet"
skynet.start(function()
    error("broken refuses to start")
end)
"#,
        ),
        (
            "test",
            r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, err = pcall(skynet.newservice, "broken")
    skynet.send(probe, "text", tostring(ok) .. " " .. tostring(err))
    -- the launcher still works afterwards
    local child = skynet.newservice("child")
    skynet.send(probe, "text", "ok " .. skynet.call(child, "lua", "x"))
end)
"#,
        ),
    ]);
    node.launch("test");
    let report = node.report("the failed newservice");
    assert!(report.starts_with("false "), "{report}");
    assert!(report.contains("broken refuses to start"), "{report}");
    assert!(report.contains("broken"), "{report}");
    assert_eq!(node.report("the next newservice"), "ok true nil nil");
}

#[test]
fn newservice_of_a_missing_service_names_the_paths_searched() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, err = pcall(skynet.newservice, "no_such_service")
    skynet.send(probe, "text", tostring(ok) .. " " .. tostring(err))
end)
"#,
    )]);
    node.launch("test");
    let report = node.report("the failed newservice");
    assert!(report.starts_with("false "), "{report}");
    assert!(report.contains("no_such_service"), "{report}");
    assert!(
        report.contains(&format!("{}/no_such_service.lua", node.0.dir.0.display())),
        "{report}"
    );
    assert!(report.contains("[embedded services]"), "{report}");
}

#[test]
fn uniqueservice_launches_once_and_queryservice_finds_it() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    -- three concurrent callers while the first launch is still starting
    local got = {}
    for i = 1, 3 do
        skynet.fork(function()
            got[i] = skynet.uniqueservice("child", "u")
        end)
    end
    local queried = skynet.queryservice("child")  -- waits for the launch
    local again = skynet.uniqueservice(true, "child")
    local same = got[1] == got[2] and got[2] == got[3] and got[1] == queried and again == queried
    local ok = pcall(skynet.uniqueservice, "no_such_service")
    skynet.send(probe, "text", string.format("ok %s %s %s", tostring(same),
        skynet.call(queried, "lua", "x"), tostring(ok)))
end)
"#,
    )]);
    node.launch("test");
    assert_eq!(
        node.report("the unique handles"),
        "ok true true u nil false"
    );
}

#[test]
fn manager_register_name_kill_and_monitor() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
local exits = {}
skynet.register_protocol {
    name = "client",
    id = skynet.PTYPE_CLIENT,
    unpack = function(...) return ... end,
    dispatch = function(_, source)
        exits[#exits + 1] = source
        skynet.wakeup(exits)
    end,
}
-- Waits until the monitor has been told of n exits.
local function exited(n)
    while #exits < n do
        skynet.wait(exits)
    end
end
skynet.start(function()
    skynet.register(".tester")
    local me = skynet.localname(".tester") == skynet.self()
    skynet.monitor(skynet.self())
    local child = skynet.newservice("child")
    skynet.name(".kid", child)
    local named = skynet.call(".kid", "lua", "x")
    skynet.kill(".kid")
    exited(1)
    local ok = pcall(skynet.call, child, "lua", "x")
    local list = skynet.call(".launcher", "lua", "LIST")
    local other = skynet.newservice("child")
    skynet.kill(other)
    exited(2)
    local monitored = exits[1] == child and exits[2] == other
    skynet.monitor(0)
    skynet.send(probe, "text", string.format("ok %s %s %s %s %s", tostring(me), named,
        tostring(ok), tostring(skynet.localname(".kid")), tostring(monitored)))
end)
"#,
    )]);
    node.launch("test");
    assert_eq!(
        node.report("the manager results"),
        "ok true true nil nil false nil true"
    );
}

#[test]
fn abort_stops_every_service() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
    skynet.newservice("child")
    skynet.abort()
end)
"#,
    )]);
    node.launch("test");
    // (The probe is killed too, so nothing is reported.)
    let rt = node.runtime().node();
    assert!(rt.wait_until_idle(WAIT), "node not idle after abort");
    assert!(rt.is_aborted());
    assert!(rt.abort_error().is_none());
    assert!(
        rt.wait_until_empty(WAIT),
        "services still alive after abort: {}",
        rt.service_count()
    );
}

#[test]
fn launcher_lists_the_services_it_launched() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local a = skynet.newservice("child", "one", "two")
    local b = skynet.newservice("child")
    skynet.send(b, "lua", "exit")
    skynet.sleep(5)
    local list = skynet.call(".launcher", "lua", "LIST")
    local service_mgr = skynet.localname(".service")
    skynet.send(probe, "text", string.format("ok %s|%s|%s", list[skynet.address(a)],
        tostring(list[skynet.address(b)]), list[skynet.address(service_mgr)]))
end)
"#,
    )]);
    node.launch("test");
    assert_eq!(
        node.report("the launcher's list"),
        "ok snlua child one two|nil|snlua service_mgr"
    );
}

#[test]
fn service_new_query_and_close() {
    let node = Node::new(&[(
        "test",
        r#"
local skynet = require "skynet"
local service = require "skynet.service"
local probe = tonumber((...))
skynet.start(function()
    local adder = service.new("adder", function(base)
        local skynet = require "skynet"
        skynet.start(function()
            skynet.dispatch("lua", function(_, _, x)
                skynet.retpack(x + tonumber(base))
            end)
        end)
    end, 10)
    local sum = skynet.call(adder, "lua", 5)
    local same = service.new("adder", function() end) == adder and service.query("adder") == adder
    service.close("adder")
    skynet.sleep(5)
    local closed = not pcall(skynet.call, adder, "lua", 1)
    local up = 1
    local refused = not pcall(service.new, "bad", function() return up end)
    skynet.send(probe, "text", string.format("ok %d %s %s %s", sum, tostring(same),
        tostring(closed), tostring(refused)))
end)
"#,
    )]);
    node.launch("test");
    assert_eq!(node.report("service.new"), "ok 15 true true true");
}

#[test]
fn bootstrap_aborts_the_node_when_the_start_service_fails() {
    let dir = std::env::temp_dir().join(format!("lunet-lua-services-boot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config::from_source(dir.join("config.lua"), "start = \"missing\"").unwrap();
    let runtime = start_node(&config).unwrap();
    let node = runtime.node().clone();
    assert!(node.wait_until_idle(WAIT), "node still busy");
    runtime.shutdown();
    let error = node.abort_error().expect("an abort error");
    assert!(error.contains("\"missing\""), "{error}");
    assert!(
        error.contains(&format!("{}/missing.lua", dir.display())),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// Interrupting on request from Lua: skynet.signal (skynet.manager), and the
// launcher's SIGNAL command (what a debug console sends). The node's monitor
// has no interrupt limit here, so only these stop the loop.
#[test]
fn skynet_signal_and_the_launchers_signal_command_stop_a_lua_loop() {
    let node = Node::new(&[
        (
            "spinner",
            r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "spin" then
            while true do end
        end
        skynet.retpack("still here")
    end)
end)
"#,
        ),
        (
            "signaller",
            r#"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    local spinner = skynet.newservice("spinner")
    for _, how in ipairs { "skynet.signal", "launcher" } do
        local result
        skynet.fork(function()
            result = tostring(pcall(skynet.call, spinner, "lua", "spin"))
        end)
        -- Ask until the call has failed: an ask that comes before the loop
        -- has started is lost (an interrupt ends only the current message).
        local asked = "never"
        for _ = 1, 500 do
            if result then
                break
            end
            local ok
            if how == "skynet.signal" then
                ok = skynet.signal(spinner)
            else
                ok = skynet.call(".launcher", "lua", "SIGNAL", spinner)
            end
            asked = tostring(ok)
            skynet.sleep(1)
        end
        report(how, asked, tostring(result))
    end
    report(skynet.call(spinner, "lua", "ping"), tostring(skynet.signal(0xfffff)))
end)
"#,
        ),
    ]);
    node.launch("signaller");
    assert_eq!(
        node.report("the skynet.signal round"),
        "ok skynet.signal true false"
    );
    assert_eq!(
        node.report("the launcher SIGNAL round"),
        "ok launcher true false"
    );
    assert_eq!(
        node.report("the spinner's next answer"),
        "ok still here false"
    );
}

#[test]
fn the_configs_memlimit_bounds_every_lua_service() {
    let node = Node::with_config(
        "memlimit = 4 * 1024 * 1024",
        &[(
            "hog",
            r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, err = pcall(string.rep, "x", 8 * 1024 * 1024)
    local before = skynet.memlimit(64 * 1024 * 1024)
    local grown = pcall(string.rep, "x", 8 * 1024 * 1024)
    skynet.send(probe, "text", string.format("ok %s %s %d %s", tostring(ok),
        tostring(err):match("not enough memory") or tostring(err), before, tostring(grown)))
end)
"#,
        )],
    );
    node.launch("hog");
    assert_eq!(
        node.report("the hog's results"),
        "ok false not enough memory 4194304 true"
    );
}
