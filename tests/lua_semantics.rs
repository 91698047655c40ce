//! Semantics of skynet's Lua API that the other Lua tests (`lua_core.rs`,
//! `lua_functions.rs`, `lua_api.rs`, `lua_services.rs`) leave unchecked, found
//! by an audit against issue 3, and the task machinery of `lua/skynet.lua`:
//! handler coroutines come from a pool and are reused, each request is tracked
//! by the task handling it, and a request's message is unpacked inside its task.
//!
//! As in the other Lua tests: each test writes its services into a fresh
//! directory, launches them with a Rust probe service's handle as the first
//! argument, and reads the text reports ("ok <label> <what was seen>") they send
//! the probe. Lua-side checks report the values they saw, so a failing
//! assertion shows them. Every wait is bounded by [`common::WAIT`]; Lua code
//! waits on messages (responses, wakeups, timers it is testing), never on a
//! sleep long enough to let something else happen. A coroutine that stays
//! stuck shows up as a report that never comes: the test fails naming it.
//!
//! Tests that check what a service logged read [`ServiceLog`], installed by
//! every node of this file before it starts.

mod common;

use std::ops::Deref;

use common::eventually;
use common::lua::{LogLine, LuaNode, ServiceLog};
use lunet::actor::{ptype, Handle, Payload};

/// A [`LuaNode`] whose services take handles as arguments after the probe.
struct Node(LuaNode);

impl Deref for Node {
    type Target = LuaNode;
    fn deref(&self) -> &LuaNode {
        &self.0
    }
}

impl Node {
    /// A bare runtime: no launcher, so no newservice.
    fn new(services: &[(&str, &str)]) -> Node {
        ServiceLog::get();
        Node(LuaNode::new("lua-sem", services))
    }

    /// A node booted from a config as `lunet run` boots one (bootstrap, the
    /// launcher, service_mgr, the logger), for newservice and skynet.service.
    fn booted(services: &[(&str, &str)]) -> Node {
        ServiceLog::get();
        Node(LuaNode::booted("lua-sem-boot", "", services))
    }

    fn launch(&self, name: &str, args: &[Handle]) -> Handle {
        self.0.launch_handles(name, args)
    }

    /// The next report, which must be "ok `label` ..."; returns the rest.
    fn expect(&self, label: &str) -> String {
        let text = self.report(&format!("the {label:?} report"));
        let prefix = format!("ok {label}");
        match text.strip_prefix(&prefix) {
            Some("") => String::new(),
            Some(rest) if rest.starts_with(' ') => rest[1..].to_string(),
            _ => panic!("expected the {label:?} report, got {text:?}"),
        }
    }

    /// The service log line of `service` whose text contains `needle`.
    fn logged(&self, service: Handle, needle: &str) -> LogLine {
        let service = address(service);
        ServiceLog::get().wait_for(&format!("{service} logging {needle:?}"), |line| {
            line.service == service && line.text.contains(needle)
        })
    }
}

/// `:0000000b`, as `skynet.address` prints a handle.
fn address(handle: Handle) -> String {
    format!(":{:08x}", handle.get())
}

/// Answers, fails in several ways, and counts what its handler saw.
const SERVER: &str = r##"
local skynet = require "skynet"
local calls = 0
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        calls = calls + 1
        if cmd == "add" then
            local s, src = skynet.context()
            skynet.retpack(a + b, s == session and s > 0, src == source)
        elseif cmd == "fail" then
            error("server fails: " .. tostring(a))
        elseif cmd == "fail-later" then
            skynet.yield()
            error("server fails after a yield: " .. tostring(a))
        elseif cmd == "answer-then-fail" then
            skynet.retpack("answered")
            error("server fails after answering: " .. tostring(a))
        elseif cmd == "stat" then
            -- the handler calls, and the tasks (this handler's among them)
            skynet.retpack(calls, skynet.task())
        end
    end)
end)
"##;

// ----- the task machinery -----

#[test]
fn a_request_that_fails_to_unpack_raises_in_the_caller_and_the_service_lives_on() {
    let node = Node::new(&[
        ("server", SERVER),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local calls, tasks = skynet.call(server, "lua", "stat")
    local results = {}
    -- an unknown type tag, a string longer than the message, a cut-off table
    for _, bytes in ipairs { "\7", "\5\100ab", "\6\5" } do
        local ok, err = pcall(skynet.rawcall, server, "lua", bytes)
        results[#results + 1] = tostring(ok) .. ":"
            .. tostring(tostring(err):match("call to :%x+ failed") ~= nil)
    end
    -- a one-way message that does not unpack is dropped
    skynet.rawsend(server, "lua", "\7")
    local sum = skynet.call(server, "lua", "add", 2, 3)
    local calls2, tasks2 = skynet.call(server, "lua", "stat")
    skynet.send(probe, "text", string.format("ok unpack %s sum=%d handled=%d tasks=%d",
        table.concat(results, " "), sum, calls2 - calls, tasks2 - tasks))
end)
"##,
        ),
    ]);
    let server = node.launch("server", &[]);
    node.launch("client", &[server]);
    // The handler saw only "add" and the second "stat"; no task was lost.
    assert_eq!(
        node.expect("unpack"),
        "false:true false:true false:true sum=5 handled=2 tasks=0"
    );
    let line = node.logged(server, "skynet.unpack: invalid type tag 0x07");
    assert!(line.text.contains("stack traceback"), "{}", line.text);
    assert!(node.runtime.node().is_alive(server));
}

/// Parks "park" requests until "release"; "until" answers once n are parked.
const PARKER: &str = r##"
local skynet = require "skynet"
local parked = {}      -- tokens of the parked handlers, in arrival order
local want, when_parked
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, n)
        if cmd == "park" then
            local token = {}
            parked[#parked + 1] = token
            if when_parked and #parked == want then
                when_parked(true, #parked)
                when_parked = nil
            end
            skynet.wait(token)
            -- this task's request, even after 99 others were handled meanwhile
            local s, src = skynet.context()
            skynet.retpack(n * 2, s == session, src == source)
        elseif cmd == "until" then
            if #parked >= n then
                skynet.retpack(#parked)
            else
                want, when_parked = n, skynet.response()
            end
        elseif cmd == "release" then
            for i = #parked, 1, -1 do -- the last parked first
                skynet.wakeup(parked[i])
            end
            parked = {}
            skynet.retpack(true)
        elseif cmd == "tasks" then
            skynet.retpack(skynet.task())
        end
    end)
end)
"##;

#[test]
fn more_than_64_suspended_requests_all_complete_and_the_task_count_returns_to_its_baseline() {
    let node = Node::new(&[
        ("parker", PARKER),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, parker = tonumber((...)), tonumber((select(2, ...)))
local N = 100 -- the pool keeps at most 64 idle tasks
skynet.start(function()
    local mine = skynet.task()
    local base = skynet.call(parker, "lua", "tasks")
    -- The second round runs on tasks the first one left in the pools.
    for round = 1, 2 do
        local me = coroutine.running()
        local done, wrong = 0, {}
        for i = 1, N do
            skynet.fork(function()
                local v, same_session, same_source = skynet.call(parker, "lua", "park", i)
                if v ~= i * 2 or not same_session or not same_source then
                    wrong[#wrong + 1] = string.format("%d:%s/%s/%s", i, tostring(v),
                        tostring(same_session), tostring(same_source))
                end
                done = done + 1
                if done == N then
                    skynet.wakeup(me)
                end
            end)
        end
        local parked = skynet.call(parker, "lua", "until", N)
        local server_tasks = skynet.call(parker, "lua", "tasks") - base
        local client_tasks = skynet.task() - mine
        skynet.call(parker, "lua", "release")
        if done < N then
            skynet.wait(me)
        end
        skynet.send(probe, "text", string.format(
            "ok round%d parked=%d tasks=%d/%d answered=%d wrong=[%s] after=%d/%d",
            round, parked, server_tasks, client_tasks, done, table.concat(wrong, " "),
            skynet.call(parker, "lua", "tasks") - base, skynet.task() - mine))
    end
end)
"##,
        ),
    ]);
    let parker = node.launch("parker", &[]);
    node.launch("client", &[parker]);
    for round in ["round1", "round2"] {
        assert_eq!(
            node.expect(round),
            "parked=100 tasks=100/100 answered=100 wrong=[] after=0/0",
            "{round}"
        );
    }
}

/// Records what `skynet.context`, `skynet.ret` and `skynet.response` do in a
/// one-way message handled right after a request, on the request's task.
const ONEWAY: &str = r##"
local skynet = require "skynet"
local log, request_task = {}, nil
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "request" then
            request_task = coroutine.running()
            local s, src = skynet.context()
            local sent = skynet.retpack(s == session and s > 0, src == source)
            log[#log + 1] = "request:" .. tostring(sent)
        elseif cmd == "oneway" then
            local reused = coroutine.running() == request_task
            local s, src = skynet.context()
            local ret = skynet.ret(skynet.pack("nobody asked"))
            local ok, err = pcall(skynet.response)
            log[#log + 1] = string.format("oneway:session=%s,source=%s,ret=%s,response=%s/%s,reused=%s",
                tostring(s), tostring(src == source), tostring(ret), tostring(ok),
                tostring(tostring(err):find("expects no response", 1, true) ~= nil), tostring(reused))
        elseif cmd == "log" then
            skynet.retpack(table.concat(log, " "))
        end
    end)
end)
"##;

#[test]
fn a_one_way_message_after_a_request_sees_session_0_and_its_ret_returns_false() {
    let node = Node::new(&[
        ("server", ONEWAY),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local answers = {}
    for _ = 1, 3 do
        local a, b = skynet.call(server, "lua", "request")
        answers[#answers + 1] = tostring(a) .. "/" .. tostring(b)
        skynet.send(server, "lua", "oneway")
    end
    skynet.send(probe, "text", "ok oneway " .. table.concat(answers, " ") .. " | "
        .. skynet.call(server, "lua", "log"))
end)
"##,
        ),
    ]);
    let server = node.launch("server", &[]);
    node.launch("client", &[server]);
    // reused=true is the premise: the one-way message ran on the task that had
    // just handled the request.
    let oneway = "oneway:session=0,source=true,ret=false,response=false/true,reused=true";
    assert_eq!(
        node.expect("oneway"),
        format!("true/true true/true true/true | request:true {oneway} request:true {oneway} request:true {oneway}")
    );
}

/// Tries to respond twice in several ways, and notes what happened.
const TWICE: &str = r##"
local skynet = require "skynet"
local notes = {}
local function note(what, ok, err)
    notes[#notes + 1] = string.format("%s:%s/%s", what, tostring(ok),
        tostring(tostring(err):find("already responded", 1, true) ~= nil))
end
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "twice" then
            skynet.retpack("first")
            note("ret", pcall(skynet.retpack, "second"))
            note("response", pcall(skynet.response))
        elseif cmd == "held" then
            local respond = skynet.response()
            note("ret-after-response", pcall(skynet.retpack, "not this"))
            respond(true, "from the response")
        elseif cmd == "after-wait" then
            skynet.retpack("before the wait")
            skynet.wait("resume")
            note("ret-after-wait", pcall(skynet.ret))
            skynet.wakeup("noted")
        elseif cmd == "notes" then
            skynet.wakeup("resume")
            skynet.wait("noted")
            skynet.retpack(table.concat(notes, " "))
        end
    end)
end)
"##;

#[test]
fn a_second_ret_in_one_handler_raises_already_responded() {
    let node = Node::new(&[
        ("server", TWICE),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local got = {}
    for _, cmd in ipairs { "twice", "held", "after-wait", "notes" } do
        got[#got + 1] = skynet.call(server, "lua", cmd)
    end
    skynet.send(probe, "text", "ok twice " .. table.concat(got, " | "))
end)
"##,
        ),
    ]);
    let server = node.launch("server", &[]);
    node.launch("client", &[server]);
    assert_eq!(
        node.expect("twice"),
        "first | from the response | before the wait | ret:false/true response:false/true \
         ret-after-response:false/true ret-after-wait:false/true"
    );
}

#[test]
fn after_a_handler_error_the_next_request_on_the_same_service_is_answered_normally() {
    let node = Node::new(&[
        ("server", SERVER),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
local function call(...)
    local sum, same_session, same_source = skynet.call(server, "lua", ...)
    return string.format("%d/%s", sum, tostring(same_session and same_source))
end
skynet.start(function()
    local _, base = skynet.call(server, "lua", "stat")
    local out = {}
    for i = 1, 3 do
        local r = {}
        r[#r + 1] = tostring(pcall(skynet.call, server, "lua", "fail", "next-request"))
        r[#r + 1] = call("add", i, 10)
        r[#r + 1] = tostring(pcall(skynet.call, server, "lua", "fail-later", "next-request"))
        r[#r + 1] = call("add", i, 20)
        local ok, answer = pcall(skynet.call, server, "lua", "answer-then-fail", "next-request")
        r[#r + 1] = tostring(ok) .. "/" .. tostring(answer)
        r[#r + 1] = call("add", i, 30)
        out[#out + 1] = table.concat(r, ",")
    end
    local _, tasks = skynet.call(server, "lua", "stat")
    skynet.send(probe, "text", "ok errors " .. table.concat(out, " ") .. " tasks=" .. (tasks - base))
end)
"##,
        ),
    ]);
    let server = node.launch("server", &[]);
    node.launch("client", &[server]);
    assert_eq!(
        node.expect("errors"),
        "false,11/true,false,21/true,true/answered,31/true \
         false,12/true,false,22/true,true/answered,32/true \
         false,13/true,false,23/true,true/answered,33/true tasks=0"
    );
    // Each error is logged with its traceback.
    for needle in [
        "server fails: next-request",
        "server fails after a yield: next-request",
        "server fails after answering: next-request",
    ] {
        let line = node.logged(server, needle);
        assert!(line.text.contains("stack traceback"), "{}", line.text);
    }
}

#[test]
fn fork_passes_every_argument_including_nils() {
    let node = Node::new(&[(
        "forker",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local got = {}
    local function record(label, ...)
        local n = select("#", ...)
        local values = {}
        for i = 1, n do
            values[i] = tostring((select(i, ...)))
        end
        got[#got + 1] = label .. "=" .. n .. ":" .. table.concat(values, ",")
    end
    local cos = {
        skynet.fork(function(...) record("bare", ...) end),
        skynet.fork(record, "none"),
        skynet.fork(record, "one-nil", nil),
        skynet.fork(record, "mixed", nil, 1, nil, "x", nil),
        skynet.fork(record, "false-nil", false, nil),
    }
    local types = {}
    for i, co in ipairs(cos) do
        types[i] = type(co)
    end
    skynet.yield() -- the forks ran after the message that made them
    skynet.send(probe, "text", "ok fork " .. table.concat(got, " ") .. " " .. table.concat(types, ","))
end)
"##,
    )]);
    node.launch("forker", &[]);
    assert_eq!(
        node.expect("fork"),
        "bare=0: none=0: one-nil=1:nil mixed=5:nil,1,nil,x,nil false-nil=2:false,nil \
         thread,thread,thread,thread,thread"
    );
}

#[test]
fn a_forked_function_that_errors_is_logged_and_the_others_still_run() {
    let node = Node::new(&[(
        "forker",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    skynet.dispatch("lua", function() skynet.retpack("still answering") end)
    local ran = {}
    local base = skynet.task()
    skynet.fork(function() ran[#ran + 1] = "a" end)
    skynet.fork(function() error("fork fails at once") end)
    skynet.fork(function() ran[#ran + 1] = "b" end)
    skynet.fork(function()
        skynet.yield()
        error("fork fails after a yield")
    end)
    skynet.fork(function()
        skynet.yield() -- the failing fork's yield ends first
        skynet.yield()
        ran[#ran + 1] = "c"
        skynet.wakeup("forks done")
    end)
    skynet.wait("forks done")
    skynet.send(probe, "text", string.format("ok forks %s tasks=%d %s", table.concat(ran, ","),
        skynet.task() - base, skynet.call(skynet.self(), "lua")))
end)
"##,
    )]);
    let forker = node.launch("forker", &[]);
    assert_eq!(node.expect("forks"), "a,b,c tasks=0 still answering");
    for needle in ["fork fails at once", "fork fails after a yield"] {
        let line = node.logged(forker, needle);
        assert!(line.text.contains("stack traceback"), "{}", line.text);
    }
}

#[test]
fn a_timeout_runs_after_a_shorter_sleep_and_timeouts_run_in_the_order_they_expire_and_were_set() {
    let node = Node::new(&[(
        "timer",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local order = {}
    local function log(what) order[#order + 1] = what end
    -- A timeout and a shorter sleep set in the same message: the sleep ends first.
    local fired, waiting = false, false
    skynet.timeout(10, function()
        log("timeout10")
        fired = true
        if waiting then
            skynet.wakeup("timeout10")
        end
    end)
    skynet.sleep(3)
    log("sleep3")
    if not fired then
        waiting = true
        skynet.wait("timeout10")
    end
    log("|")
    -- A timeout set before a yield (a sleep of 0) runs before it ends.
    skynet.timeout(0, function() log("timeout0") end)
    skynet.yield()
    log("yield")
    log("|")
    -- Equal delays: in the order set, and before a sleep set after them.
    for _, name in ipairs { "A", "B", "C" } do
        skynet.timeout(3, function() log(name) end)
    end
    skynet.sleep(3)
    log("sleep-after")
    log("|")
    -- A sleep set before a timeout of the same delay ends first.
    local d = false
    skynet.fork(function()
        skynet.timeout(3, function()
            log("D")
            d = true
            skynet.wakeup("D")
        end)
    end)
    skynet.sleep(3)
    log("sleep-before")
    if not d then
        skynet.wait("D")
    end
    skynet.send(probe, "text", "ok order " .. table.concat(order, " "))
end)
"##,
    )]);
    node.launch("timer", &[]);
    assert_eq!(
        node.expect("order"),
        "sleep3 timeout10 | timeout0 yield | A B C sleep-after | sleep-before D"
    );
}

#[test]
fn a_killed_timeout_never_runs() {
    let node = Node::new(&[(
        "killer",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ran = {}
    local base = skynet.task()
    local t = skynet.timeout(1, function() ran[#ran + 1] = "killed" end)
    local killed = skynet.killthread(t) == t
    local counted = skynet.task() - base
    -- A later timeout: when it runs, the killed one's time has long passed.
    skynet.timeout(5, function()
        ran[#ran + 1] = "fence"
        skynet.wakeup("fence")
    end)
    skynet.wait("fence")
    skynet.send(probe, "text", string.format("ok killed %s tasks=%d ran=%s tasks=%d",
        tostring(killed), counted, table.concat(ran, ","), skynet.task() - base))
end)
"##,
    )]);
    node.launch("killer", &[]);
    assert_eq!(node.expect("killed"), "true tasks=0 ran=fence tasks=0");
}

// Found by this audit: killthread returns a killed fork's or timeout's
// coroutine to the task pool, so the next fork or timeout gets the same
// coroutine, and a second killthread of the first one kills that one. In
// skynet a killed coroutine is closed, and a second killthread returns nil.
#[test]
fn killing_a_killed_fork_or_timeout_again_kills_nothing_else() {
    let node = Node::new(&[(
        "killer",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local out = {}
    local t = skynet.timeout(1000, function() end)
    out[#out + 1] = tostring(skynet.killthread(t) == t)
    local fired = false
    skynet.timeout(2, function()
        fired = true
        skynet.wakeup("fence")
    end)
    out[#out + 1] = tostring(skynet.killthread(t))
    local f = skynet.fork(function() end)
    out[#out + 1] = tostring(skynet.killthread(f) == f)
    local ran = false
    skynet.fork(function() ran = true end)
    out[#out + 1] = tostring(skynet.killthread(f))
    skynet.send(probe, "text", "ok kill-again " .. table.concat(out, " "))
    -- A backstop after the later timeout's time, in case it was killed.
    skynet.timeout(5, function() skynet.wakeup("fence") end)
    skynet.wait("fence")
    skynet.send(probe, "text", string.format("ok survivors timeout=%s fork=%s",
        tostring(fired), tostring(ran)))
end)
"##,
    )]);
    node.launch("killer", &[]);
    assert_eq!(node.expect("kill-again"), "true nil true nil");
    assert_eq!(node.expect("survivors"), "timeout=true fork=true");
}

/// A request that naps on a token, and one that parks, for the test below.
const NAPPER: &str = r##"
local skynet = require "skynet"
local nap_deadline, unparked = nil, false
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "nap" then
            nap_deadline = skynet.now() + 100
            local r = skynet.sleep(100, "nap")
            skynet.retpack(tostring(r), tostring(coroutine.running()))
        elseif cmd == "poke" then
            skynet.retpack(skynet.wakeup("nap"))
        elseif cmd == "park" then
            local co = tostring(coroutine.running())
            local before = skynet.now() < nap_deadline
            skynet.wait("park")
            skynet.retpack(unparked, co, before)
        elseif cmd == "past-the-nap" then
            -- answers once the woken nap's timer has expired
            skynet.sleep(math.max(0, nap_deadline - skynet.now()) + 5)
            skynet.retpack(true)
        elseif cmd == "unpark" then
            unparked = true
            skynet.retpack(skynet.wakeup("park"))
        end
    end)
end)
"##;

#[test]
fn the_timer_of_a_woken_sleep_does_not_resume_the_task_that_reused_its_coroutine() {
    let node = Node::new(&[
        ("napper", NAPPER),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, napper = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local nap, park
    skynet.fork(function()
        nap = table.pack(skynet.call(napper, "lua", "nap"))
        skynet.wakeup("nap")
    end)
    skynet.yield() -- the nap request went first
    local poked = skynet.call(napper, "lua", "poke")
    if not nap then
        skynet.wait("nap")
    end
    skynet.fork(function()
        park = table.pack(skynet.call(napper, "lua", "park"))
        skynet.wakeup("park")
    end)
    skynet.yield() -- the park request went next: it runs on the nap's task
    skynet.call(napper, "lua", "past-the-nap")
    local unpark = skynet.call(napper, "lua", "unpark")
    if not park then
        skynet.wait("park")
    end
    skynet.send(probe, "text", string.format(
        "ok nap result=%s poked=%s reused=%s parked-before-its-timer=%s unpark=%s woken-by-unpark=%s",
        nap[1], tostring(poked), tostring(nap[2] == park[2]), tostring(park[3]),
        tostring(unpark), tostring(park[1])))
end)
"##,
        ),
    ]);
    let napper = node.launch("napper", &[]);
    node.launch("client", &[napper]);
    // reused and parked-before-its-timer are the premise: the nap's coroutine
    // was waiting in "park" when the nap's timer expired.
    assert_eq!(
        node.expect("nap"),
        "result=BREAK poked=true reused=true parked-before-its-timer=true unpark=true woken-by-unpark=true"
    );
}

// ----- functions without a test that checks their result -----

// skynet.core.send is a C function reading its arguments off the stack
// (src/lua/send.rs): each bad argument is refused with a message naming it,
// and `sz` sends only the first bytes.
#[test]
fn the_native_send_refuses_bad_arguments_and_sends_the_first_sz_bytes() {
    let node = Node::new(&[(
        "sender",
        r##"
local skynet = require "skynet"
local c = require "skynet.core"
local probe = tonumber((...))
skynet.start(function()
    local me = skynet.self()
    local out = {}
    local function try(...)
        local ok, err = pcall(c.send, ...)
        out[#out + 1] = ok and "ok" or tostring(err):match("skynet%.core%.send: (.*)$")
    end
    try({}, skynet.PTYPE_TEXT, 0, "x")
    try(me, 256, 0, "x")
    try(me, "lua", 0, "x")
    try(me, skynet.PTYPE_TEXT, 0.5, "x")
    try(me, skynet.PTYPE_TEXT, 0, {})
    try(me, skynet.PTYPE_TEXT, 0, "x", -1)
    out[#out + 1] = tostring(c.send(0xfffff, skynet.PTYPE_TEXT, 0, "x"))
    out[#out + 1] = tostring(c.send(".nobody", skynet.PTYPE_TEXT, 0, "x"))
    skynet.send(probe, "text", "ok refused " .. table.concat(out, "|"))
    -- Text to the probe: only the first 5 bytes, then the whole string.
    c.send(probe, skynet.PTYPE_TEXT, 0, "ok cut and more", 6)
    c.send(skynet.address(probe), skynet.PTYPE_TEXT, 0, "ok whole", 100)
end)
"##,
    )]);
    node.launch("sender", &[]);
    assert_eq!(
        node.expect("refused"),
        "address must be a handle or a name, got table\
         |message type must be an integer 0..255\
         |message type must be an integer 0..255\
         |session must be an integer or nil\
         |message must be a string or nil, got table\
         |size must be a non-negative integer or nil\
         |nil|nil"
    );
    assert_eq!(node.expect("cut"), "");
    assert_eq!(node.expect("whole"), "");
}

#[test]
fn ptype_constants_have_skynets_values_and_the_runtimes() {
    let node = Node::new(&[(
        "ptypes",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local names = {}
    for k, v in pairs(skynet) do
        if k:match("^PTYPE_") then
            names[#names + 1] = k .. "=" .. tostring(v)
        end
    end
    table.sort(names)
    skynet.send(probe, "text", "ok ptypes " .. table.concat(names, " "))
end)
"##,
    )]);
    node.launch("ptypes", &[]);
    // QUEUE and SNAX have no use in lunet; their values are skynet's.
    let want = [
        ("CLIENT", ptype::CLIENT),
        ("DEBUG", ptype::DEBUG),
        ("ERROR", ptype::ERROR),
        ("HARBOR", ptype::HARBOR),
        ("LUA", ptype::LUA),
        ("MULTICAST", ptype::MULTICAST),
        ("QUEUE", 8),
        ("RESPONSE", ptype::RESPONSE),
        ("SNAX", 11),
        ("SOCKET", ptype::SOCKET),
        ("SYSTEM", ptype::SYSTEM),
        ("TEXT", ptype::TEXT),
        ("TRACE", ptype::TRACE),
    ]
    .map(|(name, value)| format!("PTYPE_{name}={value}"))
    .join(" ");
    assert_eq!(node.expect("ptypes"), want);
    assert_eq!(
        want,
        "PTYPE_CLIENT=3 PTYPE_DEBUG=9 PTYPE_ERROR=7 PTYPE_HARBOR=5 PTYPE_LUA=10 \
         PTYPE_MULTICAST=2 PTYPE_QUEUE=8 PTYPE_RESPONSE=1 PTYPE_SNAX=11 PTYPE_SOCKET=6 \
         PTYPE_SYSTEM=4 PTYPE_TEXT=0 PTYPE_TRACE=12"
    );
}

#[test]
fn dispatch_replaces_the_handler_and_returns_the_one_it_replaced() {
    let node = Node::new(&[(
        "dispatcher",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
local function f1() skynet.retpack("f1") end
local function f2() skynet.retpack("f2") end
skynet.start(function()
    local out = {}
    out[#out + 1] = tostring(skynet.dispatch("lua"))           -- none yet
    out[#out + 1] = tostring(skynet.dispatch("lua", f1))       -- replaced none
    out[#out + 1] = skynet.call(skynet.self(), "lua")
    out[#out + 1] = tostring(skynet.dispatch("lua", f2) == f1)
    out[#out + 1] = skynet.call(skynet.self(), "lua")
    out[#out + 1] = tostring(skynet.dispatch("lua") == f2)
    out[#out + 1] = tostring(skynet.dispatch(skynet.PTYPE_LUA) == f2) -- by id
    local ok, err = pcall(skynet.dispatch, "sem-nosuch", f1)
    out[#out + 1] = tostring(ok) .. "/"
        .. tostring(tostring(err):find("unknown protocol sem-nosuch", 1, true) ~= nil)
    skynet.send(probe, "text", "ok dispatch " .. table.concat(out, " "))
end)
"##,
    )]);
    node.launch("dispatcher", &[]);
    assert_eq!(
        node.expect("dispatch"),
        "nil nil f1 true f2 true true false/true"
    );
}

#[test]
fn pack_and_unpack_keep_every_value_and_type_through_a_call() {
    let node = Node::new(&[
        (
            "echo",
            r##"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(_, _, ...) skynet.retpack(...) end)
end)
"##,
        ),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, echo = tonumber((...)), tonumber((select(2, ...)))
local function show(v)
    local ty = type(v)
    if ty == "number" then
        return math.type(v) .. "(" .. tostring(v) .. ")"
    elseif ty == "string" then
        return string.format("%q", v)
    elseif ty == "table" then
        local keys = {}
        for k in pairs(v) do
            keys[#keys + 1] = k
        end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        local parts = {}
        for _, k in ipairs(keys) do
            parts[#parts + 1] = show(k) .. "=" .. show(v[k])
        end
        return "{" .. table.concat(parts, ",") .. "}"
    end
    return tostring(v)
end
local function showall(...)
    local t = table.pack(...)
    local parts = { "n=" .. t.n }
    for i = 1, t.n do
        parts[#parts + 1] = show(t[i])
    end
    return table.concat(parts, " ")
end
local function message(ok, err)
    return tostring(ok) .. ":" .. tostring(err)
end
skynet.start(function()
    local values = table.pack(1, 1.0, -0.0, math.maxinteger, math.mininteger, 0.1, "a\0b", "",
        true, false, nil, { 1, 2, x = { y = "z" }, [3.5] = "f", [true] = 0 }, nil)
    local sent = showall(table.unpack(values, 1, values.n))
    local back = showall(skynet.call(echo, "lua", table.unpack(values, 1, values.n)))
    skynet.send(probe, "text", "ok call " .. tostring(sent == back) .. " " .. back)
    local msg, sz = skynet.pack(1, nil, "x")
    skynet.send(probe, "text", string.format("ok pack %s %s %s | %s", type(msg), math.type(sz),
        tostring(sz == #msg), showall(skynet.unpack(msg, sz))))
    skynet.send(probe, "text", "ok prefix " .. showall(skynet.unpack(msg, 1)))
    skynet.send(probe, "text", "ok errors " .. message(pcall(skynet.unpack, "\7")) .. " | "
        .. message(pcall(skynet.pack, 1, print)))
end)
"##,
        ),
    ]);
    let echo = node.launch("echo", &[]);
    node.launch("client", &[echo]);
    assert_eq!(
        node.expect("call"),
        r#"true n=13 integer(1) float(1.0) float(-0.0) integer(9223372036854775807) integer(-9223372036854775808) float(0.1) "a\0b" "" true false nil {integer(1)=integer(1),integer(2)=integer(2),float(3.5)="f",true=integer(0),"x"={"y"="z"}} nil"#
    );
    assert_eq!(
        node.expect("pack"),
        r#"string integer true | n=3 integer(1) nil "x""#
    );
    assert_eq!(node.expect("prefix"), "n=1 integer(1)");
    assert_eq!(
        node.expect("errors"),
        "false:skynet.unpack: invalid type tag 0x07 at offset 0 | \
         false:skynet.pack: cannot pack a function (at [2])"
    );
}

#[test]
fn call_and_rawcall_raise_naming_the_address_for_a_dead_address_an_error_or_an_unhandled_protocol()
{
    let node = Node::new(&[
        ("server", SERVER),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
-- The error message without the position in front.
local function why(ok, err)
    if ok then
        return "returned"
    end
    return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end
skynet.start(function()
    local out = {}
    out[#out + 1] = why(pcall(skynet.call, ".sem-nobody", "lua", "add", 1, 2))
    out[#out + 1] = why(pcall(skynet.rawcall, ".sem-nobody", "lua", skynet.pack("add", 1, 2)))
    out[#out + 1] = why(pcall(skynet.call, server, "lua", "fail", "rawcall-test"))
    out[#out + 1] = why(pcall(skynet.rawcall, server, "lua", skynet.pack("fail", "rawcall-test")))
    -- the server has no dispatch function for text
    out[#out + 1] = why(pcall(skynet.call, server, "text", "add 1 2"))
    out[#out + 1] = tostring((skynet.call(server, "lua", "add", 1, 2)))
    skynet.send(probe, "text", "ok raised " .. table.concat(out, " | "))
end)
"##,
        ),
    ]);
    let server = node.launch("server", &[]);
    let client = node.launch("client", &[server]);
    let failed = format!("call to {} failed", address(server));
    assert_eq!(
        node.expect("raised"),
        format!(
            "call to invalid address .sem-nobody | call to invalid address .sem-nobody | \
             {failed} | {failed} | {failed} | 3"
        )
    );
    node.logged(
        server,
        &format!("unknown message type 0 from {}", address(client)),
    );
}

#[test]
fn ret_response_and_ignoreret_raise_outside_a_request_and_context_returns_nothing() {
    let node = Node::new(&[(
        "outsider",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
local out = {}
local function try(where)
    local got = {}
    for _, name in ipairs { "ret", "response", "ignoreret" } do
        local ok, err = pcall(skynet[name])
        local refused = not ok and tostring(err):find("skynet." .. name .. ": not handling a request", 1, true)
        got[#got + 1] = refused and name or (tostring(ok) .. ":" .. tostring(err))
    end
    got[#got + 1] = select("#", skynet.context())
    out[#out + 1] = where .. ":" .. table.concat(got, ",")
end
skynet.start(function()
    skynet.dispatch("lua", function()
        -- a fork made by a request handler does not handle the request
        skynet.fork(function()
            try("fork-of-a-handler")
            skynet.wakeup("fork tried")
        end)
        skynet.retpack(true)
    end)
    try("start")
    skynet.fork(try, "fork")
    skynet.timeout(0, function()
        try("timeout")
        skynet.wakeup("timeout tried")
    end)
    skynet.wait("timeout tried")
    skynet.call(skynet.self(), "lua")
    if #out < 4 then
        skynet.wait("fork tried")
    end
    skynet.send(probe, "text", "ok outside " .. table.concat(out, " "))
end)
"##,
    )]);
    node.launch("outsider", &[]);
    assert_eq!(
        node.expect("outside"),
        "start:ret,response,ignoreret,0 fork:ret,response,ignoreret,0 \
         timeout:ret,response,ignoreret,0 fork-of-a-handler:ret,response,ignoreret,0"
    );
}

/// Holds responses, and answers them when told, for the tests below.
const HOLDER: &str = r##"
local skynet = require "skynet"
local held, arrived, await = nil, 0, nil
local park_result
local function arrive()
    arrived = arrived + 1
    if await and arrived == 2 then
        await(true)
        await = nil
    end
end
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "hold" then
            held = skynet.response()
            arrive()
        elseif cmd == "park" then
            arrive()
            skynet.wait("park")
            park_result = skynet.retpack("late")
            skynet.wakeup("parked")
        elseif cmd == "await" then -- answered once "hold" and "park" came
            if arrived == 2 then
                skynet.retpack(true)
            else
                await = skynet.response()
            end
        elseif cmd == "answer" then
            local held_result = held(true, "late")
            skynet.wakeup("park")
            skynet.wait("parked")
            skynet.retpack(held_result, park_result)
        elseif cmd == "joined" then
            local respond = skynet.response(function(...) return table.concat({ ... }, "+") end)
            respond(true, "a", "b", "c")
        end
    end)
end)
"##;

#[test]
fn response_packs_with_its_own_function_and_answers_to_a_caller_that_is_gone_return_false() {
    let node = Node::new(&[
        ("holder", HOLDER),
        (
            "asker",
            r##"
local skynet = require "skynet"
local holder = tonumber((select(2, ...)))
-- Asks, and exits with both calls pending.
skynet.start(function()
    skynet.fork(skynet.call, holder, "lua", "hold")
    skynet.fork(skynet.call, holder, "lua", "park")
    skynet.fork(skynet.exit)
end)
"##,
        ),
        (
            "driver",
            r##"
local skynet = require "skynet"
local probe, holder = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local msg, sz = skynet.rawcall(holder, "lua", skynet.pack("joined"))
    skynet.call(holder, "lua", "await")
    local held, parked = skynet.call(holder, "lua", "answer")
    skynet.send(probe, "text", string.format("ok responses %s %s %s",
        skynet.tostring(msg, sz), tostring(held), tostring(parked)))
end)
"##,
        ),
    ]);
    let holder = node.launch("holder", &[]);
    let asker = node.launch("asker", &[holder]);
    eventually("the asker has exited", || {
        !node.runtime.node().is_alive(asker)
    });
    node.launch("driver", &[holder]);
    assert_eq!(node.expect("responses"), "a+b+c false false");
}

#[test]
fn redirect_with_a_session_lets_the_target_answer_the_original_caller() {
    let node = Node::new(&[
        (
            "target",
            r##"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        skynet.retpack(a + b, source, session)
    end)
end)
"##,
        ),
        (
            "proxy",
            r##"
local skynet = require "skynet"
local target = tonumber((select(2, ...)))
skynet.start(function()
    skynet.dispatch("lua", function(session, source, ...)
        skynet.ignoreret() -- the target answers
        skynet.redirect(target, source, "lua", session, skynet.pack(...))
    end)
end)
"##,
        ),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, proxy, target = tonumber((...)), tonumber((select(2, ...))), tonumber((select(3, ...)))
skynet.start(function()
    local sum, source, session = skynet.call(proxy, "lua", "add", 1, 2)
    local msg = skynet.packstring("add", 1, 1)
    skynet.send(probe, "text", string.format("ok redirect %d %s %s %s %s", sum,
        tostring(source == skynet.self()), tostring(session > 0),
        tostring(skynet.redirect(".sem-nobody", skynet.self(), "lua", 0, msg)),
        tostring(skynet.redirect(target, skynet.self(), "lua", 0, msg))))
end)
"##,
        ),
    ]);
    let target = node.launch("target", &[]);
    let proxy = node.launch("proxy", &[target]);
    node.launch("client", &[proxy, target]);
    assert_eq!(node.expect("redirect"), "3 true true false true");
}

#[test]
fn wakeup_returns_whether_a_coroutine_waits_on_the_token() {
    let node = Node::new(&[(
        "waker",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local out = {}
    out[#out + 1] = tostring(skynet.wakeup("nobody"))
    local woken
    skynet.fork(function()
        woken = table.pack(skynet.wait("w"))
        skynet.wakeup("back")
    end)
    skynet.yield() -- the fork waits
    out[#out + 1] = tostring(skynet.wakeup("w"))
    skynet.wait("back")
    out[#out + 1] = tostring(woken.n) -- wait returns nothing
    out[#out + 1] = tostring(skynet.wakeup("w"))
    local slept
    skynet.fork(function()
        slept = skynet.sleep(1000, "s")
        skynet.wakeup("back")
    end)
    skynet.yield()
    out[#out + 1] = tostring(skynet.wakeup("s"))
    skynet.wait("back")
    out[#out + 1] = tostring(slept)
    out[#out + 1] = tostring(skynet.wakeup("s"))
    skynet.send(probe, "text", "ok wakeup " .. table.concat(out, " "))
end)
"##,
    )]);
    node.launch("waker", &[]);
    assert_eq!(node.expect("wakeup"), "false true 0 false true BREAK false");
}

#[test]
fn exit_fails_the_requests_it_is_handling_and_those_queued_behind_it() {
    let node = Node::new(&[
        (
            "quitter",
            r##"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "park" then
            skynet.wait()
            skynet.retpack("woken")
        elseif cmd == "exit" then
            skynet.exit()
        elseif cmd == "add" then
            skynet.retpack(2)
        end
    end)
end)
"##,
        ),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, quitter = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local reqs = skynet.request()
    for i = 1, 3 do
        reqs:add { quitter, "lua", "park", token = "park" .. i }
    end
    reqs:add { quitter, "lua", "exit", token = "exit" }
    for i = 1, 3 do
        reqs:add { quitter, "lua", "add", token = "queued" .. i }
    end
    local got = {}
    -- 3 s: a bound, not a wait; the errors come at once.
    for req, resp, err in reqs:select(300) do
        got[#got + 1] = req.token .. (resp and "=" .. tostring(resp[1]) or "!" .. (err:match("failed") or err))
    end
    table.sort(got)
    skynet.send(probe, "text", "ok exit " .. table.concat(got, " ") .. " timeout=" .. tostring(reqs.timeout))
end)
"##,
        ),
    ]);
    let quitter = node.launch("quitter", &[]);
    node.launch("client", &[quitter]);
    assert_eq!(
        node.expect("exit"),
        "exit!failed park1!failed park2!failed park3!failed \
         queued1!failed queued2!failed queued3!failed timeout=nil"
    );
}

// Found by this audit: skynet.exit answers the requests whose handlers are
// still running, but not those whose response a handler kept with
// skynet.response; their callers wait forever. skynet calls every such
// response with false on exit.
#[test]
fn exit_fails_the_requests_whose_responses_are_held() {
    let node = Node::new(&[
        (
            "holder",
            r##"
local skynet = require "skynet"
local held = {}
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "hold" then
            held[#held + 1] = skynet.response()
        elseif cmd == "exit" then
            skynet.exit()
        end
    end)
end)
"##,
        ),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, holder = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local reqs = skynet.request { holder, "lua", "hold", token = "hold1" }
        { holder, "lua", "hold", token = "hold2" } { holder, "lua", "exit", token = "exit" }
    local got = {}
    -- 3 s: a bound, not a wait; the errors come at once.
    for req, resp, err in reqs:select(300) do
        got[#got + 1] = req.token .. (resp and "=answered" or "!" .. (err:match("failed") or err))
    end
    table.sort(got)
    skynet.send(probe, "text", "ok held " .. table.concat(got, " ") .. " timeout=" .. tostring(reqs.timeout))
end)
"##,
        ),
    ]);
    let holder = node.launch("holder", &[]);
    node.launch("client", &[holder]);
    assert_eq!(
        node.expect("held"),
        "exit!failed hold1!failed hold2!failed timeout=nil"
    );
}

// Found by this audit: after skynet.exit, the forks and wakeups queued by the
// exiting message still run (and may send). skynet drops them: "no fork
// coroutine can be executed after skynet.exit".
#[test]
fn nothing_queued_before_exit_runs_after_it() {
    let node = Node::new(&[
        (
            "quitter",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "park" then
            skynet.wait("parked")
            skynet.send(probe, "text", "a woken coroutine ran after exit")
        elseif cmd == "exit" then
            skynet.fork(function()
                skynet.send(probe, "text", "a fork ran after exit")
            end)
            skynet.wakeup("parked")
            skynet.exit()
        end
    end)
end)
"##,
        ),
        (
            "client",
            r##"
local skynet = require "skynet"
local probe, quitter = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    skynet.send(quitter, "lua", "park")
    local ok = pcall(skynet.call, quitter, "lua", "exit")
    skynet.send(probe, "text", "ok exited " .. tostring(ok))
end)
"##,
        ),
    ]);
    let quitter = node.launch("quitter", &[]);
    node.launch("client", &[quitter]);
    let mut extra = Vec::new();
    loop {
        let text = node.report("the client's report");
        if text.starts_with("ok exited") {
            assert_eq!(text, "ok exited false");
            break;
        }
        extra.push(text);
    }
    eventually("the quitter has exited", || {
        !node.runtime.node().is_alive(quitter)
    });
    // Anything the quitter sent was queued for the probe before this fence.
    let fence = Payload::from("fence");
    node.runtime
        .node()
        .send(Handle::SYSTEM, node.probe, ptype::TEXT, 0, fence)
        .unwrap();
    loop {
        let text = node.report("the fence");
        if text == "fence" {
            break;
        }
        extra.push(text);
    }
    assert!(extra.is_empty(), "after exit: {extra:?}");
}

#[test]
fn term_fails_every_call_and_request_waiting_on_the_service_by_handle_or_name() {
    let node = Node::new(&[
        (
            "holder",
            r##"
local skynet = require "skynet"
local held = {}
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "hold" then
            held[#held + 1] = skynet.response()
        elseif cmd == "release" then
            for _, respond in ipairs(held) do
                respond(true, "released")
            end
            held = {}
            skynet.retpack(true)
        end
    end)
end)
"##,
        ),
        (
            "client",
            r##"
local skynet = require "skynet"
require "skynet.manager"
local probe, gone, other = tonumber((...)), tonumber((select(2, ...))), tonumber((select(3, ...)))
skynet.start(function()
    skynet.name(".sem-gone", gone)
    local results, pending = {}, 4
    local function done(what, result)
        results[#results + 1] = what .. "=" .. result
        pending = pending - 1
        if pending == 0 then
            skynet.wakeup("all done")
        end
    end
    skynet.fork(function()
        done("call", tostring(pcall(skynet.call, gone, "lua", "hold")))
    end)
    skynet.fork(function()
        done("rawcall", tostring(pcall(skynet.rawcall, ".sem-gone", "lua", skynet.pack("hold"))))
    end)
    skynet.fork(function()
        local got = {}
        for req, resp in skynet.request { gone, "lua", "hold", token = "held" }
            { other, "lua", "hold", token = "other" }:select() do
            got[#got + 1] = req.token .. ":" .. (resp and resp[1] or "failed")
        end
        table.sort(got)
        done("select", table.concat(got, ","))
    end)
    skynet.fork(function()
        done("other", tostring(skynet.call(other, "lua", "hold")))
    end)
    skynet.yield() -- every fork waits
    skynet.term(".sem-gone")
    skynet.yield()
    skynet.call(other, "lua", "release") -- the holder of other answers
    if pending > 0 then
        skynet.wait("all done")
    end
    table.sort(results)
    skynet.send(probe, "text", "ok term " .. table.concat(results, " "))
end)
"##,
        ),
    ]);
    let gone = node.launch("holder", &[]);
    let other = node.launch("holder", &[]);
    node.launch("client", &[gone, other]);
    assert_eq!(
        node.expect("term"),
        "call=false other=released rawcall=false select=held:failed,other:released"
    );
}

#[test]
fn skynet_error_logs_its_arguments_joined_by_spaces_under_the_services_handle() {
    let node = Node::new(&[(
        "errlog",
        r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    skynet.error("sem-error-line", 1, nil, true, 2.5, {} ~= nil)
    skynet.send(probe, "text", "ok logged")
end)
"##,
    )]);
    let errlog = node.launch("errlog", &[]);
    assert_eq!(node.expect("logged"), "");
    let line = node.logged(errlog, "sem-error-line");
    assert_eq!(line.text, "sem-error-line 1 nil true 2.5 true");
}

// ----- skynet.manager: launch, forward_type, filter -----

#[test]
fn launch_returns_a_handle_once_the_code_has_loaded_or_nil_and_the_reason() {
    let node = Node::new(&[
        (
            "launched",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
local args = table.pack(select(2, ...))
skynet.start(function()
    local parts = {}
    for i = 1, args.n do
        parts[i] = type(args[i]) .. ":" .. tostring(args[i])
    end
    skynet.send(probe, "text", "ok launched " .. table.concat(parts, ","))
end)
"##,
        ),
        (
            "launcher_test",
            r##"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
skynet.start(function()
    local h = skynet.launch("snlua", "launched", probe, "x", 42)
    local missing, why = skynet.launch("snlua", "sem-no-such-service")
    local ok, err = pcall(skynet.launch, "harbor", "x")
    skynet.send(probe, "text", string.format("ok launch %s %s %s %s %s %s", math.type(h),
        tostring(h ~= skynet.self()), tostring(missing),
        tostring(tostring(why):find("not found", 1, true) ~= nil), tostring(ok),
        tostring(tostring(err):find('unknown service type "harbor"', 1, true) ~= nil)))
end)
"##,
        ),
    ]);
    node.launch("launcher_test", &[]);
    let mut got = vec![
        node.report("the first report"),
        node.report("the second report"),
    ];
    // The launched service's start function races the launcher's report.
    got.sort();
    assert_eq!(
        got,
        [
            "ok launch integer true nil true false true",
            "ok launched string:x,string:42",
        ]
    );
}

#[test]
fn forward_type_dispatches_a_message_type_as_another() {
    let node = Node::new(&[
        (
            "forwarder",
            r##"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
skynet.register_protocol {
    name = "relay",
    id = 100,
    unpack = skynet.tostring,
    dispatch = function(session, source, text)
        skynet.send(probe, "text", "ok relay " .. text .. " " .. session)
    end,
}
skynet.forward_type({ [skynet.PTYPE_TEXT] = 100 }, function()
    skynet.dispatch("lua", function(_, _, a, b) skynet.retpack(a + b) end)
end)
"##,
        ),
        (
            "sender",
            r##"
local skynet = require "skynet"
local probe, forwarder = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    skynet.send(forwarder, "text", "hello")
    skynet.send(probe, "text", "ok lua " .. skynet.call(forwarder, "lua", 40, 2))
end)
"##,
        ),
    ]);
    let forwarder = node.launch("forwarder", &[]);
    node.launch("sender", &[forwarder]);
    assert_eq!(node.expect("relay"), "hello 0");
    assert_eq!(node.expect("lua"), "42");
}

#[test]
fn filter_sees_every_message_first_and_may_change_it() {
    let node = Node::new(&[
        (
            "filtered",
            r##"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
local seen = {}
skynet.filter(function(ptype, msg, sz, session, source)
    seen[#seen + 1] = ptype
    if ptype == skynet.PTYPE_TEXT then -- text becomes an "echo" in lua
        local packed = skynet.packstring("echo", skynet.tostring(msg, sz))
        return skynet.PTYPE_LUA, packed, #packed, session, source
    end
    return ptype, msg, sz, session, source
end, function()
    skynet.dispatch("lua", function(session, source, cmd, arg)
        if cmd == "echo" then
            skynet.send(probe, "text", "ok echo " .. arg .. " " .. session)
        elseif cmd == "seen" then
            skynet.retpack(table.concat(seen, ","))
        end
    end)
end)
"##,
        ),
        (
            "sender",
            r##"
local skynet = require "skynet"
local probe, filtered = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    skynet.send(filtered, "text", "hi")
    skynet.send(probe, "text", "ok seen " .. skynet.call(filtered, "lua", "seen"))
end)
"##,
        ),
    ]);
    let filtered = node.launch("filtered", &[]);
    node.launch("sender", &[filtered]);
    assert_eq!(node.expect("echo"), "hi 0");
    // The start timer's response, the text, the call.
    assert_eq!(node.expect("seen"), "1,0,10");
}

// ----- skynet.queue, skynet.service -----

#[test]
fn a_coroutine_killed_while_waiting_for_the_queue_is_skipped() {
    let node = Node::new(&[(
        "queued",
        r##"
local skynet = require "skynet"
local queue = require "skynet.queue"
local probe = tonumber((...))
skynet.start(function()
    local cs = queue()
    local log = {}
    skynet.fork(function()
        cs(function()
            log[#log + 1] = "A<"
            skynet.wait("go")
            log[#log + 1] = ">A"
        end)
    end)
    local b = skynet.fork(function()
        cs(function() log[#log + 1] = "B" end)
    end)
    skynet.fork(function()
        cs(function() log[#log + 1] = "C" end)
        skynet.wakeup("C done")
    end)
    skynet.yield() -- A is inside, B and C wait their turn
    local killed = skynet.killthread(b) == b
    skynet.wakeup("go")
    skynet.wait("C done")
    local after = cs(function() return "free" end)
    skynet.send(probe, "text", string.format("ok queue %s %s %s", tostring(killed),
        table.concat(log, " "), after))
end)
"##,
    )]);
    node.launch("queued", &[]);
    assert_eq!(node.expect("queue"), "true A< >A C free");
}

#[test]
fn service_query_waits_until_the_service_is_made() {
    let node = Node::booted(&[(
        "test",
        r##"
local skynet = require "skynet"
local service = require "skynet.service"
local probe = tonumber((...))
skynet.start(function()
    local queried
    skynet.fork(function()
        queried = service.query("sem-later")
        skynet.wakeup("queried")
    end)
    skynet.yield() -- the query waits
    local before = queried
    local made = service.new("sem-later", function()
        local skynet = require "skynet"
        skynet.start(function()
            skynet.dispatch("lua", function() skynet.retpack("made later") end)
        end)
    end)
    if not queried then
        skynet.wait("queried")
    end
    skynet.send(probe, "text", string.format("ok query %s %s %s", tostring(before),
        tostring(queried == made), skynet.call(queried, "lua")))
end)
"##,
    )]);
    node.launch("test", &[]);
    assert_eq!(node.expect("query"), "nil true made later");
}

// ----- newservice failures -----

#[test]
fn newservice_raises_when_the_new_services_code_raises_while_loading() {
    let node = Node::booted(&[
        ("bad_chunk", "error(\"bad_chunk refuses to load\")\n"),
        (
            "test",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, err = pcall(skynet.newservice, "bad_chunk")
    local list = skynet.call(".launcher", "lua", "LIST")
    local listed = false
    for _, desc in pairs(list) do
        listed = listed or desc:find("bad_chunk", 1, true) ~= nil
    end
    skynet.send(probe, "text", string.format("ok chunk %s %s %s", tostring(ok),
        tostring(tostring(err):find("skynet.newservice bad_chunk", 1, true) ~= nil
            and tostring(err):find("bad_chunk refuses to load", 1, true) ~= nil),
        tostring(listed)))
end)
"##,
        ),
    ]);
    node.launch("test", &[]);
    assert_eq!(node.expect("chunk"), "false true false");
}

#[test]
fn newservice_raises_when_the_new_service_is_killed_while_starting() {
    let node = Node::booted(&[
        (
            "slow_start",
            r##"
local skynet = require "skynet"
local parent = tonumber((...))
skynet.start(function()
    skynet.send(parent, "lua", "starting", skynet.self())
    skynet.wait() -- never woken
end)
"##,
        ),
        (
            "test",
            r##"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
skynet.start(function()
    local child
    skynet.dispatch("lua", function(_, _, cmd, handle)
        child = handle
        skynet.wakeup("starting")
    end)
    local result
    skynet.fork(function()
        result = table.pack(pcall(skynet.newservice, "slow_start", skynet.self()))
        skynet.wakeup("result")
    end)
    if not child then
        skynet.wait("starting")
    end
    skynet.kill(child)
    if not result then
        skynet.wait("result")
    end
    skynet.send(probe, "text", string.format("ok killed %s %s", tostring(result[1]),
        tostring(tostring(result[2]):find("killed while starting", 1, true) ~= nil)))
end)
"##,
        ),
    ]);
    node.launch("test", &[]);
    assert_eq!(node.expect("killed"), "false true");
}

#[test]
fn a_start_failure_propagates_through_a_parent_whose_start_does_not_catch_it() {
    let node = Node::booted(&[
        (
            "grandchild",
            r##"
local skynet = require "skynet"
skynet.start(function() error("grandchild refuses to start") end)
"##,
        ),
        (
            "middle",
            r##"
local skynet = require "skynet"
skynet.start(function() skynet.newservice("grandchild") end)
"##,
        ),
        (
            "test",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, err = pcall(skynet.newservice, "middle")
    err = tostring(err)
    local listed = {}
    for _, desc in pairs(skynet.call(".launcher", "lua", "LIST")) do
        if desc:find("middle", 1, true) or desc:find("grandchild", 1, true) then
            listed[#listed + 1] = desc
        end
    end
    skynet.send(probe, "text", string.format("ok nested %s %s %s %s listed=[%s]", tostring(ok),
        tostring(err:find("skynet.newservice middle", 1, true) ~= nil),
        tostring(err:find("skynet.newservice grandchild", 1, true) ~= nil),
        tostring(err:find("grandchild refuses to start", 1, true) ~= nil),
        table.concat(listed, ",")))
end)
"##,
        ),
    ]);
    node.launch("test", &[]);
    assert_eq!(node.expect("nested"), "false true true true listed=[]");
}

#[test]
fn newservice_raises_when_the_new_service_runs_out_of_memory_in_its_start_function() {
    let node = Node::booted(&[
        (
            "hungry",
            r##"
local skynet = require "skynet"
skynet.memlimit(2 * 1024 * 1024)
skynet.start(function()
    local t = {}
    for i = 1, 10000000 do -- about 160 MiB
        t[i] = i
    end
end)
"##,
        ),
        (
            "test",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, err = pcall(skynet.newservice, "hungry")
    skynet.send(probe, "text", string.format("ok hungry %s %s", tostring(ok),
        tostring(tostring(err):find("not enough memory", 1, true) ~= nil)))
end)
"##,
        ),
    ]);
    node.launch("test", &[]);
    assert_eq!(node.expect("hungry"), "false true");
}

#[test]
fn newservice_returns_when_the_new_service_exits_in_its_start_function() {
    let node = Node::booted(&[
        (
            "brief",
            r##"
local skynet = require "skynet"
skynet.start(function() skynet.exit() end)
"##,
        ),
        (
            "test",
            r##"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local ok, h = pcall(skynet.newservice, "brief")
    skynet.send(probe, "text", string.format("ok brief %s %s %s", tostring(ok), math.type(h),
        tostring(pcall(skynet.call, h, "lua"))))
end)
"##,
        ),
    ]);
    node.launch("test", &[]);
    // lunet answers the handle (skynet answers nil); the service is gone.
    assert_eq!(node.expect("brief"), "true integer false");
}
