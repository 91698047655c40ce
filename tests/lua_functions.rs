//! The smaller functions of skynet's Lua API on the runtime: redirect, rawsend,
//! rawcall, packstring, tostring, trash, address, localname, the clocks,
//! context, ignoreret, mqlen, getenv/setenv, self, register_protocol, init,
//! response, retpack, yield and task.
//!
//! As in `lua_core.rs`: each test writes its services into a fresh directory,
//! launches them with a Rust "probe" service's handle as the first argument,
//! and reads what they report (text messages) from the probe. Lua-side checks
//! report the values they saw, so a failing assertion shows them. Every wait is
//! bounded by [`LuaNode::report`]'s timeout.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::lua::LuaNode;
use lunet::actor::Handle;

fn launch(node: &LuaNode, name: &str, args: &[Handle]) -> Handle {
    let args: Vec<String> = args.iter().map(|a| a.get().to_string()).collect();
    node.launch_with(name, &args)
        .unwrap_or_else(|e| panic!("launching {name}: {e}"))
}

/// Reads `n` reports, each "ok <rest>", and returns the rests.
fn reports(node: &LuaNode, n: usize, what: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let text = node.report(&format!("{what} (report {})", i + 1));
            text.strip_prefix("ok ")
                .unwrap_or_else(|| panic!("{what}: unexpected report {text:?}"))
                .to_string()
        })
        .collect()
}

/// Records what it gets; answers "add" and hands its record to "log".
const RECEIVER: &str = r##"
local skynet = require "skynet"
local log = {}
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        if cmd == "add" then
            skynet.retpack(a + b)
        elseif cmd == "log" then
            skynet.retpack(table.concat(log, ";"))
        else
            log[#log + 1] = string.format("%s %s %s session=%d source=%s",
                cmd, tostring(a), tostring(b), session, skynet.address(source))
        end
    end)
end)
"##;

#[test]
fn redirect_rawsend_rawcall_and_message_strings() {
    let node = LuaNode::new(
        "lua-fn",
        &[
            ("receiver", RECEIVER),
            (
                "sender",
                r##"
local skynet = require "skynet"
local probe, receiver = tonumber((...)), tonumber((select(2, ...)))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    -- redirect: the receiver sees the given source (the probe), not us.
    local msg = skynet.packstring("redirected", 1, 2)
    report("redirect", tostring(skynet.redirect(receiver, probe, "lua", 0, msg, #msg)))
    -- rawsend: an already packed message, sent as it is.
    msg = skynet.packstring("raw", "x", 7)
    report("rawsend", tostring(skynet.rawsend(receiver, "lua", msg, #msg)))
    -- rawcall: the response comes back packed.
    msg = skynet.packstring("add", 2, 3)
    local resp, sz = skynet.rawcall(receiver, "lua", msg, #msg)
    report("rawcall", type(resp), skynet.unpack(resp, sz))
    report("log", skynet.call(receiver, "lua", "log"))
    -- packstring: one string holding every value, nils included.
    local packed = skynet.packstring(1, nil, "two", true)
    local t = table.pack(skynet.unpack(packed))
    report("packstring", type(packed), t.n, tostring(t[1]), tostring(t[2]), t[3], tostring(t[4]))
    -- tostring: the first sz bytes of a message; "" for none.
    report("tostring", skynet.tostring("hello", 3), skynet.tostring("hello"),
        skynet.tostring("hello", 5), "[" .. skynet.tostring(nil) .. "]")
    -- trash: nothing to free, nothing returned, the message is untouched.
    local n = select("#", skynet.trash(packed, #packed))
    report("trash", n, select("#", skynet.unpack(packed)))
end)
"##,
            ),
        ],
    );
    let receiver = launch(&node, "receiver", &[]);
    let sender = launch(&node, "sender", &[receiver]);
    let got = reports(&node, 7, "redirect/rawsend/rawcall");
    assert_eq!(got[0], "redirect true");
    assert_eq!(got[1], "rawsend true");
    assert_eq!(got[2], "rawcall string 5");
    assert_eq!(
        got[3],
        format!(
            "log redirected 1 2 session=0 source=:{:08x};raw x 7 session=0 source=:{:08x}",
            node.probe.get(),
            sender.get()
        )
    );
    assert_eq!(got[4], "packstring string 4 1 nil two true");
    assert_eq!(got[5], "tostring hel hello hello []");
    assert_eq!(got[6], "trash 0 4");
}

#[test]
fn self_address_localname_and_env() {
    let node = LuaNode::new(
        "lua-fn",
        &[(
            "names",
            r##"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    local me = skynet.self()
    report("self", math.type(me), me)
    report("address", skynet.address(me), skynet.address(0x1234abcd), skynet.address(".x"))
    skynet.register(".fnnames")
    report("localname", tostring(skynet.localname(".fnnames") == me),
        tostring(skynet.localname(".fnnobody")))
    report("getenv-unset", tostring(skynet.getenv("lunet_fn_key")))
    skynet.setenv("lunet_fn_key", 42)
    report("setenv", skynet.getenv("lunet_fn_key"))
    local ok, err = pcall(skynet.setenv, "lunet_fn_key", "other")
    report("setenv-again", tostring(ok),
        tostring(tostring(err):find("can't change existing key lunet_fn_key", 1, true) ~= nil),
        skynet.getenv("lunet_fn_key"))
end)
"##,
        )],
    );
    let names = launch(&node, "names", &[]);
    let got = reports(&node, 6, "names");
    assert_eq!(got[0], format!("self integer {}", names.get()));
    assert_eq!(got[1], format!("address :{:08x} :1234abcd .x", names.get()));
    assert_eq!(got[2], "localname true nil");
    assert_eq!(got[3], "getenv-unset nil");
    assert_eq!(got[4], "setenv 42");
    assert_eq!(got[5], "setenv-again false true 42");
}

#[test]
fn clocks_agree_and_advance() {
    let node = LuaNode::new(
        "lua-fn",
        &[(
            "clocks",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    local start, now, time = skynet.starttime(), skynet.now(), skynet.time()
    local h1 = skynet.hpc()
    -- 3 cs from a clock read in whole centiseconds: at least 2 cs pass
    skynet.sleep(3)
    local now2, h2 = skynet.now(), skynet.hpc()
    report("starttime", math.type(start), start)
    report("time", string.format("%.3f", time), tostring(math.abs(time - (start + now / 100)) < 1))
    report("now", math.type(now), tostring(now >= 0), tostring(now2 >= now + 3))
    report("hpc", math.type(h1), tostring(h2 > h1), tostring(h2 - h1 >= 20000000))
end)
"##,
        )],
    );
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    launch(&node, "clocks", &[]);
    let got = reports(&node, 4, "clocks");
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start: f64 = got[0]
        .strip_prefix("starttime integer ")
        .unwrap_or_else(|| panic!("starttime: {:?}", got[0]))
        .parse()
        .unwrap();
    // The node started (whole seconds) just before the service was launched.
    assert!(
        start <= before && start > before - 5.0,
        "{start} vs {before}"
    );
    let time = got[1].split(' ').nth(1).unwrap().parse::<f64>().unwrap();
    assert!(
        time >= before - 1.0 && time <= after + 1.0,
        "skynet.time {time} not in [{before}, {after}]"
    );
    assert!(
        got[1].ends_with(" true"),
        "time vs starttime + now/100: {}",
        got[1]
    );
    assert_eq!(got[2], "now integer true true");
    assert_eq!(got[3], "hpc integer true true");
}

/// Answers with what `skynet.context` says, and ignores the response of "ignore".
const CONTEXT_SERVER: &str = r##"
local skynet = require "skynet"
local probe = tonumber((...))
local ignored = "not yet"
skynet.start(function()
    skynet.send(probe, "text", "ok start-context", select("#", skynet.context()))
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "ctx" then
            local s, src = skynet.context()
            skynet.retpack(s, src, session, source)
        elseif cmd == "oneway" then
            local s, src = skynet.context()
            skynet.send(probe, "text", "ok oneway-context", s, tostring(src == source))
        elseif cmd == "ignore" then
            skynet.ignoreret()
            local s = skynet.context()
            local ret = skynet.ret(skynet.pack("answer"))
            local ok, err = pcall(skynet.response)
            ignored = string.format("session=%d ret=%s response=%s %s", s, tostring(ret),
                tostring(ok), tostring(tostring(err):find("expects no response", 1, true) ~= nil))
        elseif cmd == "ignored" then
            skynet.retpack(ignored)
        end
    end)
end)
"##;

#[test]
fn context_and_ignoreret() {
    let node = LuaNode::new(
        "lua-fn",
        &[
            ("server", CONTEXT_SERVER),
            (
                "client",
                r##"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    local s, src, session, source = skynet.call(server, "lua", "ctx")
    report("context", tostring(s == session), tostring(s > 0), tostring(src == source),
        tostring(src == skynet.self()))
    skynet.send(server, "lua", "oneway")
    -- ignoreret: the request is never answered; the wait times out.
    local reqs = skynet.request { server, "lua", "ignore" }
    local answers = 0
    for _, resp in reqs:select(50) do
        answers = answers + 1
    end
    report("ignoreret", answers, tostring(reqs.timeout))
    report("ignored", skynet.call(server, "lua", "ignored"))
end)
"##,
            ),
        ],
    );
    let server = launch(&node, "server", &[]);
    // Outside any request, skynet.context returns nothing.
    assert_eq!(node.report("start-context"), "ok start-context 0");
    launch(&node, "client", &[server]);
    let mut got = reports(&node, 4, "context");
    // The server's one-way report races the client's reports.
    let oneway = got
        .iter()
        .position(|r| r.starts_with("oneway-context"))
        .unwrap_or_else(|| panic!("no oneway report in {got:?}"));
    assert_eq!(got.remove(oneway), "oneway-context 0 true");
    assert_eq!(got[0], "context true true true true");
    assert_eq!(got[1], "ignoreret 0 true");
    assert_eq!(got[2], "ignored session=0 ret=false response=false true");
}

#[test]
fn mqlen_counts_waiting_messages() {
    let node = LuaNode::new(
        "lua-fn",
        &[(
            "queue",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
local function report(...) skynet.send(probe, "text", "ok", ...) end
local handled = 0
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "noop" then
            handled = handled + 1
        elseif cmd == "sync" then
            skynet.retpack(handled)
        end
    end)
    local before = skynet.mqlen()
    for _ = 1, 5 do
        skynet.send(skynet.self(), "lua", "noop")
    end
    report("mqlen", before, skynet.mqlen(), skynet.stat("mqlen"))
    -- The call queues behind the five: when it is answered they are handled.
    local n = skynet.call(skynet.self(), "lua", "sync")
    report("drained", n, skynet.mqlen(), skynet.stat("mqlen"))
end)
"##,
        )],
    );
    launch(&node, "queue", &[]);
    let got = reports(&node, 2, "mqlen");
    assert_eq!(got[0], "mqlen 0 5 5");
    assert_eq!(got[1], "drained 5 0 0");
}

/// A protocol of two strings joined by "|", registered by both services.
const CUSTOM: &str = r##"
local skynet = require "skynet"
local function register(dispatch)
    skynet.register_protocol {
        name = "pair",
        id = 100,
        pack = function(a, b) return a .. "|" .. b end,
        unpack = function(msg, sz) return skynet.tostring(msg, sz):match("^(.-)|(.*)$") end,
        dispatch = dispatch,
    }
end
"##;

#[test]
fn register_protocol_with_its_own_pack_unpack_and_dispatch() {
    let server = format!(
        "{CUSTOM}{}",
        r##"
local probe = tonumber((...))
register(function(session, source, a, b)
    if session == 0 then
        skynet.send(probe, "text", "ok pair-send", a, b)
    else
        -- answered in the protocol's own format, swapped
        skynet.ret(b .. "|" .. a)
    end
end)
skynet.start(function() end)
"##
    );
    let client = format!(
        "{CUSTOM}{}",
        r##"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
register(nil)
skynet.start(function()
    local x, y = skynet.call(server, "pair", "left", "right")
    local ok, err = pcall(register, nil)
    skynet.send(probe, "text", "ok pair-call", x, y, tostring(ok),
        tostring(tostring(err):find("already registered", 1, true) ~= nil))
    skynet.send(server, "pair", "one", "two")
end)
"##
    );
    let node = LuaNode::new("lua-fn", &[("server", &server), ("client", &client)]);
    let server = launch(&node, "server", &[]);
    launch(&node, "client", &[server]);
    assert_eq!(
        node.report("pair call"),
        "ok pair-call right left false true"
    );
    assert_eq!(node.report("pair send"), "ok pair-send one two");
}

#[test]
fn init_functions_run_before_start() {
    let node = LuaNode::new(
        "lua-fn",
        &[(
            "inits",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
local order = {}
skynet.init(function() order[#order + 1] = "init1" end)
skynet.start(function()
    order[#order + 1] = "start"
    skynet.send(probe, "text", "ok " .. table.concat(order, " "))
end)
skynet.init(function() order[#order + 1] = "init2" end)
order[#order + 1] = "chunk"
"##,
        )],
    );
    launch(&node, "inits", &[]);
    assert_eq!(node.report("init order"), "ok chunk init1 init2 start");
}

/// Keeps responses from "hold" and answers them from the "release" handler.
const HOLDER: &str = r##"
local skynet = require "skynet"
local held = {}
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, how)
        if cmd == "hold" then
            held[how] = skynet.response()
        elseif cmd == "release" then
            local ok_r, fail_r = held.ok, held.fail
            local before = ok_r("TEST")
            local sent = ok_r(true, 1, nil, "three")
            local after = ok_r("TEST")
            local again, err = pcall(ok_r, true, "twice")
            fail_r(false)
            skynet.retpack(before, sent, after, again,
                tostring(err):find("already responded", 1, true) ~= nil)
        elseif cmd == "multi" then
            skynet.retpack(1, nil, "three", nil)
        end
    end)
end)
"##;

#[test]
fn response_later_and_retpack_with_nils() {
    let node = LuaNode::new(
        "lua-fn",
        &[
            ("holder", HOLDER),
            (
                "caller",
                r##"
local skynet = require "skynet"
local probe, holder = tonumber((...)), tonumber((select(2, ...)))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    local held = {}
    skynet.fork(function()
        local t = table.pack(skynet.call(holder, "lua", "hold", "ok"))
        held[#held + 1] = string.format("ok n=%d %s %s %s", t.n, tostring(t[1]), tostring(t[2]), tostring(t[3]))
    end)
    skynet.fork(function()
        local ok = pcall(skynet.call, holder, "lua", "hold", "fail")
        held[#held + 1] = "fail " .. tostring(ok)
    end)
    -- the forks send their holds before this coroutine goes on
    skynet.yield()
    local r = table.pack(skynet.call(holder, "lua", "release"))
    for i = 1, r.n do r[i] = tostring(r[i]) end
    report("release", table.concat(r, " ", 1, r.n))
    -- the held calls were answered before release's response
    report("held", table.concat(held, "; "))
    local t = table.pack(skynet.call(holder, "lua", "multi"))
    report("retpack", t.n, tostring(t[1]), tostring(t[2]), tostring(t[3]), tostring(t[4]))
end)
"##,
            ),
        ],
    );
    let holder = launch(&node, "holder", &[]);
    launch(&node, "caller", &[holder]);
    let got = reports(&node, 3, "response");
    assert_eq!(got[0], "release true true false false true");
    assert_eq!(got[1], "held ok n=3 1 nil three; fail false");
    assert_eq!(got[2], "retpack 4 1 nil three nil");
}

#[test]
fn yield_lets_others_run_and_task_counts_coroutines() {
    let node = LuaNode::new(
        "lua-fn",
        &[(
            "tasks",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
local function report(...) skynet.send(probe, "text", "ok", ...) end
skynet.start(function()
    local ran = false
    skynet.fork(function() ran = true end)
    local before = ran
    local r = skynet.yield()
    report("yield", tostring(before), tostring(ran), tostring(r))

    local base = skynet.task()
    local tokens = {}
    for i = 1, 3 do
        tokens[i] = {}
        skynet.fork(function() skynet.wait(tokens[i]) end)
    end
    local forked = skynet.task()
    skynet.yield() -- the three are now waiting
    local waiting, stat = skynet.task(), skynet.stat("task")
    local traces = {}
    skynet.task(traces)
    local listed = 0
    for _ in pairs(traces) do listed = listed + 1 end
    for i = 1, 3 do skynet.wakeup(tokens[i]) end
    skynet.yield() -- the three have ended
    report("task", forked - base, waiting - base, stat - base, listed - base, skynet.task() - base)
end)
"##,
        )],
    );
    launch(&node, "tasks", &[]);
    let got = reports(&node, 2, "yield/task");
    assert_eq!(got[0], "yield false true nil");
    assert_eq!(got[1], "task 3 3 3 3 0");
}
