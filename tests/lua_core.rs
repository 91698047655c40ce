//! Lua services on the runtime: skynet's core API (call/ret, errors, sleep,
//! wakeup, timeout, fork) exercised by real Lua services loaded from files.
//!
//! Each test writes its services into a fresh directory, launches them with a
//! Rust "probe" service's handle as an argument, and reads what they report (text
//! messages "ok ..." or "fail ...") from the probe.

mod common;

use std::ops::Deref;

use common::lua::LuaNode;
use lunet::actor::Handle;
use lunet::lua::LuaService;

/// A [`LuaNode`] whose services take string arguments after the probe.
struct Node(LuaNode);

impl Deref for Node {
    type Target = LuaNode;
    fn deref(&self) -> &LuaNode {
        &self.0
    }
}

impl Node {
    fn new(services: &[(&str, &str)]) -> Node {
        Node(LuaNode::new("lua-core", services))
    }

    fn launch(&self, name: &str, args: &[&str]) -> Result<Handle, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        self.0.launch_with(name, &args)
    }
}

const PONG: &str = r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        if cmd == "add" then
            skynet.retpack(a + b)
        elseif cmd == "fail" then
            error("pong was asked to fail")
        elseif cmd == "silent" then
            -- ends without responding
        elseif cmd == "exit" then
            skynet.exit()
        end
    end)
end)
"#;

#[test]
fn call_and_ret_between_two_lua_services() {
    let node = Node::new(&[
        ("pong", PONG),
        (
            "ping",
            r#"
local skynet = require "skynet"
local probe, pong = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local sum = 0
    for i = 1, 1000 do
        sum = sum + skynet.call(pong, "lua", "add", i, 1)
    end
    skynet.send(probe, "text", "ok " .. sum)
end)
"#,
        ),
    ]);
    let pong = node.launch("pong", &[]).unwrap();
    node.launch("ping", &[&pong.get().to_string()]).unwrap();
    // sum of (i + 1) for i in 1..=1000
    assert_eq!(node.report("ping's sum"), "ok 501500");
}

#[test]
fn call_to_a_dead_or_failing_service_raises_in_the_caller() {
    let node = Node::new(&[
        ("pong", PONG),
        (
            "caller",
            r#"
local skynet = require "skynet"
local probe, pong = tonumber((...)), tonumber((select(2, ...)))
local function try(...)
    local ok, err = pcall(skynet.call, ...)
    return ok and "returned" or "raised"
end
skynet.start(function()
    local r1 = try(0x00ffff00, "lua", "add", 1, 2)   -- no such service
    local r2 = try(pong, "lua", "fail")              -- handler error
    local r3 = try(pong, "lua", "silent")            -- ends without a response
    local ok, sum = pcall(skynet.call, pong, "lua", "add", 2, 3) -- still alive
    local r4 = try(pong, "lua", "exit")              -- exits while the call is pending
    local r5 = try(pong, "lua", "add", 1, 1)         -- gone now
    skynet.send(probe, "text", table.concat({r1, r2, r3, tostring(sum), r4, r5}, " "))
end)
"#,
        ),
    ]);
    let pong = node.launch("pong", &[]).unwrap();
    node.launch("caller", &[&pong.get().to_string()]).unwrap();
    assert_eq!(
        node.report("the caller's results"),
        "raised raised raised 5 raised raised"
    );
}

#[test]
fn sleep_wakeup_and_timeouts_in_order() {
    let node = Node::new(&[(
        "sleeper",
        r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local order = {}
    skynet.timeout(30, function() order[#order + 1] = "30" end)
    skynet.timeout(10, function() order[#order + 1] = "10" end)
    skynet.timeout(20, function() order[#order + 1] = "20" end)
    local token = {}
    local woke
    skynet.fork(function()
        woke = skynet.sleep(1000, token)   -- 10 s unless woken
    end)
    skynet.fork(function()
        skynet.wakeup(token)
    end)
    local start = skynet.now()
    local plain = skynet.sleep(40)
    local waited = skynet.now() - start
    skynet.send(probe, "text", table.concat(order, ",") .. " " .. tostring(woke)
        .. " " .. tostring(plain) .. " " .. tostring(waited >= 40))
end)
"#,
    )]);
    node.launch("sleeper", &[]).unwrap();
    assert_eq!(
        node.report("the sleeper's report"),
        "10,20,30 BREAK nil true"
    );
}

#[test]
fn a_handler_error_leaves_the_service_alive() {
    let node = Node::new(&[
        ("pong", PONG),
        (
            "survivor",
            r#"
local skynet = require "skynet"
local probe, pong = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    for _ = 1, 3 do
        pcall(skynet.call, pong, "lua", "fail")
    end
    skynet.send(probe, "text", "ok " .. skynet.call(pong, "lua", "add", 20, 22))
end)
"#,
        ),
    ]);
    let pong = node.launch("pong", &[]).unwrap();
    node.launch("survivor", &[&pong.get().to_string()]).unwrap();
    assert_eq!(node.report("the survivor's report"), "ok 42");
}

#[test]
fn a_service_that_is_not_found_names_the_paths_searched() {
    let node = Node::new(&[("pong", PONG)]);
    let err = node.launch("no_such_service", &[]).unwrap_err();
    assert!(err.contains("no_such_service"), "{err}");
    assert!(err.contains(&node.dir.0.display().to_string()), "{err}");
}

#[test]
fn a_service_from_a_source_string_runs_like_one_from_a_file() {
    let node = Node::new(&[("pong", PONG)]);
    let pong = node.launch("pong", &[]).unwrap();
    let code = r#"
local skynet = require "skynet"
local probe, pong = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    skynet.send(probe, "text", "ok " .. SERVICE_NAME .. " " .. skynet.call(pong, "lua", "add", 40, 2))
end)
"#;
    let args = vec![node.probe.get().to_string(), pong.get().to_string()];
    let service = LuaService::from_source(node.env.clone(), "inline", code, args);
    node.runtime.launch(Box::new(service), "inline").unwrap();
    assert_eq!(node.report("the inline service's report"), "ok inline 42");
}

#[test]
fn a_syntax_error_in_a_source_string_fails_the_launch_naming_it() {
    let node = Node::new(&[("pong", PONG)]);
    let service = LuaService::from_source(node.env.clone(), "broken", "local x = = 1", vec![]);
    let err = node
        .runtime
        .launch(Box::new(service), "broken")
        .unwrap_err();
    assert!(err.contains("broken:1:"), "{err}");
}
