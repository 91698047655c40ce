//! The rest of skynet's Lua API on the runtime: `skynet.queue`,
//! `skynet.coroutine`, `skynet.request`/`select`, `killthread`, `term`, the
//! `debug` protocol, `memlimit`, and the monitor interrupting an endless loop.
//!
//! As in `lua_core.rs`: each test writes its services into a fresh directory,
//! launches them with a Rust "probe" service's handle as the first argument,
//! and reads what they report (text messages) from the probe. Every wait is
//! bounded by [`WAIT`]; Lua-side waits are on messages, never on sleeps.

mod common;

use std::ops::Deref;
use std::time::Duration;

use common::lua::LuaNode;
use common::WAIT;
use lunet::actor::{Handle, MonitorConfig};
use lunet::runtime::RuntimeConfig;

/// A [`LuaNode`] whose services take handles as arguments after the probe.
struct Node(LuaNode);

impl Deref for Node {
    type Target = LuaNode;
    fn deref(&self) -> &LuaNode {
        &self.0
    }
}

impl Node {
    fn new(services: &[(&str, &str)]) -> Node {
        Node(LuaNode::new("lua-api", services))
    }

    fn with_config(services: &[(&str, &str)], config: RuntimeConfig) -> Node {
        Node(LuaNode::with_config("lua-api", services, config))
    }

    fn launch(&self, name: &str, args: &[Handle]) -> Handle {
        self.0.launch_handles(name, args)
    }
}

/// A service the tests call: answers, fails, holds responses, parks handlers.
const SERVER: &str = r#"
local skynet = require "skynet"
local held = {}   -- responses kept by "hold", answered by "release"
local parked = {} -- tokens of "park" handlers, woken by "unpark"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        if cmd == "add" then
            skynet.retpack(a + b)
        elseif cmd == "fail" then
            error("server was asked to fail")
        elseif cmd == "hold" then
            held[#held + 1] = skynet.response()
        elseif cmd == "release" then
            -- the held responses go out before this one
            for _, respond in ipairs(held) do
                respond(true, "late")
            end
            held = {}
            skynet.retpack(true)
        elseif cmd == "park" then
            local token = {}
            parked[#parked + 1] = token
            skynet.wait(token)
            skynet.retpack(a)
        elseif cmd == "unpark" then
            for _, token in ipairs(parked) do
                skynet.wakeup(token)
            end
            parked = {}
            skynet.yield() -- the parked handlers answer before this one
            skynet.retpack(true)
        end
    end)
end)
"#;

#[test]
fn queue_runs_calls_one_at_a_time_in_order_and_is_reentrant() {
    let node = Node::new(&[(
        "queued",
        r#"
local skynet = require "skynet"
local queue = require "skynet.queue"
local probe = tonumber((...))
skynet.start(function()
    local cs = queue()
    local log, inside = {}, 0
    local function critical(name, ti)
        inside = inside + 1
        assert(inside == 1, "two coroutines inside the queue")
        log[#log + 1] = name .. "<"
        skynet.sleep(ti)
        log[#log + 1] = ">" .. name
        inside = inside - 1
        return name
    end
    -- Three coroutines enter in order; without the queue f2 (the shortest
    -- sleep) would finish first.
    local me = coroutine.running()
    local returned = {}
    for i, ti in ipairs { 3, 1, 2 } do
        skynet.fork(function()
            local name = cs(critical, "f" .. i, ti)
            returned[#returned + 1] = name
            if #returned == 3 then
                skynet.wakeup(me)
            end
        end)
    end
    skynet.wait(me)
    -- Re-entrant for the coroutine inside, across a sleep.
    local nested = cs(function()
        return cs(function()
            skynet.sleep(1)
            return cs(function(x) return "reentered " .. x end, 3)
        end)
    end)
    -- An error (even a nested one) releases the queue and is raised from cs.
    local ok, err = pcall(cs, function()
        cs(function() error("boom") end)
    end)
    local other
    skynet.fork(function()
        other = cs(function() return "other entered" end)
        skynet.wakeup(me)
    end)
    if other == nil then
        skynet.wait(me)
    end
    skynet.send(probe, "text", table.concat(log, " ") .. " | " .. table.concat(returned, ",")
        .. " | " .. nested .. " | " .. tostring(ok) .. " " .. tostring(err:find("boom") ~= nil)
        .. " | " .. other)
end)
"#,
    )]);
    node.launch("queued", &[]);
    assert_eq!(
        node.report("the queue's log"),
        "f1< >f1 f2< >f2 f3< >f3 | f1,f2,f3 | reentered 3 | false true | other entered"
    );
}

#[test]
fn user_coroutines_yield_values_and_call_and_sleep_inside() {
    let node = Node::new(&[
        ("server", SERVER),
        (
            "cotest",
            r#"
local skynet = require "skynet"
local co = require "skynet.coroutine"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
local function list(...)
    local t = table.pack(...)
    for i = 1, t.n do
        t[i] = tostring(t[i])
    end
    return table.concat(t, ",", 1, t.n)
end
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        -- skynet.ret from inside a user coroutine answers the request.
        co.wrap(function()
            skynet.sleep(1)
            skynet.retpack(a + b)
        end)()
    end)
    local out = {}
    -- A generator that calls another service and sleeps between its yields.
    local gen = co.wrap(function(n)
        for i = 1, n do
            local v = skynet.call(server, "lua", "add", i, 100)
            skynet.sleep(1)
            co.yield(v)
        end
        return "done"
    end)
    out[#out + 1] = list(gen(3), gen(), gen(), gen())
    -- Values both ways through resume and yield; a failing call inside.
    local c = co.create(function(a, b)
        local x = co.yield(a + b, co.isyieldable(), select(2, co.thread()))
        local ok = pcall(skynet.call, server, "lua", "fail")
        local y = co.yield(x * 2, ok)
        return "end " .. y
    end)
    out[#out + 1] = list(co.resume(c, 1, 2))
    out[#out + 1] = list(co.resume(c, 5))
    out[#out + 1] = list(co.resume(c, "z"))
    out[#out + 1] = list(co.status(c), co.resume(c))
    out[#out + 1] = list(co.isyieldable(), select(2, co.thread()))
    -- Nested user coroutines, the inner one calling.
    local outer = co.wrap(function()
        local inner = co.wrap(function()
            co.yield(skynet.call(server, "lua", "add", 1, 1))
            return skynet.call(server, "lua", "add", 2, 2)
        end)
        co.yield(inner() + inner())
    end)
    out[#out + 1] = outer()
    -- A user coroutine blocked in skynet.wait: "blocked", not resumable, and
    -- woken by its token.
    local blocked = co.create(function()
        skynet.wait("blocked-token")
        return "woken"
    end)
    local me = coroutine.running()
    local result
    skynet.fork(function()
        result = list(co.resume(blocked))
        skynet.wakeup(me)
    end)
    skynet.yield() -- the fork runs and blocks inside the user coroutine
    out[#out + 1] = list(co.status(blocked), (co.resume(blocked)))
    skynet.wakeup("blocked-token")
    if result == nil then
        skynet.wait(me)
    end
    out[#out + 1] = result
    -- A request answered from a user coroutine.
    out[#out + 1] = skynet.call(skynet.self(), "lua", "add", 20, 22)
    -- An error in a user coroutine is returned by resume.
    out[#out + 1] = list(co.resume(co.create(function() error("oops", 0) end)))
    skynet.send(probe, "text", table.concat(out, " | "))
end)
"#,
        ),
    ]);
    let server = node.launch("server", &[]);
    node.launch("cotest", &[server]);
    assert_eq!(
        node.report("the coroutine test's results"),
        "101,102,103,done | true,3,true,false | true,10,false | true,end z \
         | dead,false,cannot resume dead coroutine | false,true | 6 \
         | blocked,false | true,woken | 42 | false,oops"
    );
}

#[test]
fn request_select_returns_responses_as_they_come_and_abandons_the_rest_at_the_timeout() {
    let node = Node::new(&[
        ("server", SERVER),
        (
            "selector",
            r#"
local skynet = require "skynet"
local probe, server = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local out = {}
    local reqs = skynet.request()
    for i = 1, 3 do
        reqs:add { server, "lua", "add", i, 10, token = "add" .. i }
    end
    reqs { server, "lua", "fail", token = "fail" } { ".nobody", "lua", "add", 1, 1, token = "nobody" }
    reqs:add { server, "lua", "park", "slow", token = "slow" } -- answers only when unparked
    local seen, order = {}, {}
    for req, resp, err in reqs:select(20) do
        order[#order + 1] = req.token
        if resp then
            seen[#seen + 1] = req.token .. "=" .. resp[1]
        else
            seen[#seen + 1] = req.token .. "!" .. (err:match("invalid address") or err:match("failed") or err)
        end
    end
    table.sort(seen)
    out[#out + 1] = table.concat(seen, ",")
    out[#out + 1] = tostring(reqs.timeout)
    out[#out + 1] = order[#order] ~= "slow" and "slow-absent" or "slow-present"
    -- The slow one answers now: its late response arrives first and is dropped.
    skynet.call(server, "lua", "unpark")
    -- No timeout: the loop ends once every request is answered.
    local sum = 0
    for _, resp in skynet.request { server, "lua", "add", 1, 1 } { server, "lua", "add", 2, 2 }:select() do
        sum = sum + resp[1]
    end
    out[#out + 1] = sum
    -- Leaving the loop early abandons the rest.
    local r = skynet.request { server, "lua", "add", 1, 1 } { server, "lua", "park", "never" }
    for _ in r:select() do
        break
    end
    skynet.call(server, "lua", "unpark")
    out[#out + 1] = tostring(r.timeout)
    out[#out + 1] = skynet.call(server, "lua", "add", 40, 2)
    out[#out + 1] = skynet.task() -- only this coroutine is left
    skynet.send(probe, "text", table.concat(out, " "))
end)
"#,
        ),
    ]);
    let server = node.launch("server", &[]);
    node.launch("selector", &[server]);
    assert_eq!(
        node.report("the selector's results"),
        "add1=11,add2=12,add3=13,fail!failed,nobody!invalid address true slow-absent 6 nil 42 1"
    );
}

#[test]
fn killthread_drops_a_suspended_coroutine_and_its_session() {
    let node = Node::new(&[
        ("server", SERVER),
        (
            "victim",
            r#"
local skynet = require "skynet"
local waiters = {}
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "hold_self" then
            waiters[#waiters + 1] = coroutine.running()
            skynet.wait()
            skynet.retpack("not killed")
        elseif cmd == "kill_waiters" then
            local n = 0
            for _, co in ipairs(waiters) do
                if skynet.killthread(co) == co then
                    n = n + 1
                end
            end
            waiters = {}
            skynet.retpack(n)
        end
    end)
end)
"#,
        ),
        (
            "killer",
            r#"
local skynet = require "skynet"
local probe, server, victim = tonumber((...)), tonumber((select(2, ...))), tonumber((select(3, ...)))
skynet.start(function()
    local out = {}
    -- A queued fork is dropped before it runs.
    local ran = false
    local f = skynet.fork(function() ran = true end)
    out[#out + 1] = tostring(skynet.killthread(f) == f)
    -- A sleeper, by its token.
    local woke = "no"
    local token = {}
    local sleeper = skynet.fork(function()
        skynet.sleep(100, token)
        woke = "yes"
    end)
    -- A caller, by its name as skynet.task prints it.
    local answered = "no"
    local caller = skynet.fork(function()
        skynet.call(server, "lua", "hold")
        answered = "yes"
    end)
    skynet.yield() -- the forks run: one sleeps, one calls
    out[#out + 1] = tostring(skynet.killthread(token) == sleeper)
    out[#out + 1] = tostring(skynet.killthread(tostring(caller)) == caller)
    -- The held response arrives before release's: dropped.
    skynet.call(server, "lua", "release")
    -- A killed handler's caller gets an error.
    local me = coroutine.running()
    local result
    skynet.fork(function()
        result = tostring(pcall(skynet.call, victim, "lua", "hold_self"))
        skynet.wakeup(me)
    end)
    skynet.yield() -- the fork's call reaches the victim first
    out[#out + 1] = skynet.call(victim, "lua", "kill_waiters")
    if result == nil then
        skynet.wait(me)
    end
    out[#out + 1] = result
    out[#out + 1] = tostring(skynet.killthread(coroutine.running())) -- running: not killed
    out[#out + 1] = (ran and "ran" or "dropped") .. " " .. woke .. " " .. answered
    out[#out + 1] = skynet.task()
    skynet.send(probe, "text", table.concat(out, " "))
end)
"#,
        ),
    ]);
    let server = node.launch("server", &[]);
    let victim = node.launch("victim", &[]);
    node.launch("killer", &[server, victim]);
    assert_eq!(
        node.report("the killer's results"),
        "true true true 1 false nil dropped no no 1"
    );
}

#[test]
fn debug_protocol_answers_ping_mem_gc_stat_task_info_term_and_exit() {
    let node = Node::new(&[
        ("server", SERVER),
        (
            "target",
            r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.info_func(function(what) return "info " .. what end)
    skynet.fork(function() skynet.wait() end) -- a suspended task for TASK
    skynet.dispatch("lua", function() skynet.retpack(true) end)
end)
"#,
        ),
        (
            "inspector",
            r#"
local skynet = require "skynet"
local probe, target, server = tonumber((...)), tonumber((select(2, ...))), tonumber((select(3, ...)))
local function dbg(...)
    return skynet.call(target, "debug", ...)
end
skynet.start(function()
    local out = {}
    out[#out + 1] = "ping:" .. select('#', dbg("PING"))
    local mem = dbg("MEM")
    out[#out + 1] = "mem:" .. tostring(math.type(mem) == "float" and mem > 0)
    local after = dbg("GC")
    out[#out + 1] = "gc:" .. tostring(type(after) == "number" and after > 0)
    local stat = dbg("STAT")
    out[#out + 1] = "stat:" .. tostring(stat.task >= 1 and stat.mqlen >= 0
        and stat.message >= 3 and type(stat.cpu) == "number" and stat.cpu >= 0)
    local n, waiting = 0, false
    for _, tb in pairs(dbg("TASK")) do
        n = n + 1
        waiting = waiting or tb:find("wait") ~= nil
    end
    out[#out + 1] = "task:" .. n .. tostring(waiting)
    out[#out + 1] = "info:" .. dbg("INFO", "x")
    out[#out + 1] = "support:" .. tostring(dbg("SUPPORT", "lua")) .. tostring(dbg("SUPPORT", "nope"))
    out[#out + 1] = "unknown:" .. tostring(pcall(dbg, "NOSUCH"))
    -- TERM: this service's call to a service that will never answer raises.
    local me = coroutine.running()
    local result
    skynet.fork(function()
        result = tostring(pcall(skynet.call, server, "lua", "hold"))
        skynet.wakeup(me)
    end)
    skynet.yield() -- the fork's call is pending
    skynet.send(skynet.self(), "debug", "TERM", server)
    if result == nil then
        skynet.wait(me)
    end
    out[#out + 1] = "term:" .. result
    out[#out + 1] = "exit:" .. tostring(pcall(dbg, "EXIT"))
    out[#out + 1] = "gone:" .. tostring(pcall(dbg, "PING"))
    skynet.send(probe, "text", table.concat(out, " "))
end)
"#,
        ),
    ]);
    let server = node.launch("server", &[]);
    let target = node.launch("target", &[]);
    node.launch("inspector", &[target, server]);
    assert_eq!(
        node.report("the inspector's results"),
        "ping:0 mem:true gc:true stat:true task:1true info:info x support:truefalse \
         unknown:false term:false exit:false gone:false"
    );
    assert!(
        node.runtime.node().is_alive(server),
        "the server is untouched by TERM"
    );
    assert!(
        !node.runtime.node().is_alive(target),
        "EXIT stopped the target"
    );
}

#[test]
fn memlimit_fails_the_allocating_handler_and_the_service_lives_on() {
    let node = Node::new(&[
        (
            "hog",
            r#"
local skynet = require "skynet"
skynet.memlimit(1024 * 1024)
local function grow()
    local t = {}
    for i = 1, 10000000 do -- about 160 MiB
        t[i] = i
    end
    return #t
end
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "alloc" then
            skynet.retpack(grow())
        elseif cmd == "try" then
            local ok, err = pcall(grow)
            skynet.retpack(ok, tostring(err))
        elseif cmd == "ping" then
            skynet.retpack("alive", skynet.stat("memory") < 1024 * 1024)
        end
    end)
end)
"#,
        ),
        (
            "feeder",
            r#"
local skynet = require "skynet"
local probe, hog = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local raised = not pcall(skynet.call, hog, "lua", "alloc")
    local ok, err = skynet.call(hog, "lua", "try")
    local alive, small = skynet.call(hog, "lua", "ping")
    skynet.send(probe, "text", table.concat({ tostring(raised), tostring(ok), err,
        alive, tostring(small) }, " | "))
end)
"#,
        ),
    ]);
    let hog = node.launch("hog", &[]);
    node.launch("feeder", &[hog]);
    assert_eq!(
        node.report("the feeder's results"),
        "true | false | not enough memory | alive | true"
    );
    assert!(node.runtime.node().is_alive(hog));
}

#[test]
fn an_endless_loop_is_interrupted_and_the_service_answers_the_next_call() {
    let node = Node::with_config(
        &[
            (
                "spinner",
                r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, a, b)
        if cmd == "spin" then
            while true do end
        elseif cmd == "add" then
            skynet.retpack(a + b)
        elseif cmd == "stat" then
            skynet.retpack(skynet.stat("endless"), skynet.endless(), skynet.mqlen(),
                skynet.stat("mqlen"), skynet.stat("task"), skynet.stat("message"))
        end
    end)
end)
"#,
            ),
            (
                "driver",
                r#"
local skynet = require "skynet"
local probe, spinner = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local raised = not pcall(skynet.call, spinner, "lua", "spin")
    local sum = skynet.call(spinner, "lua", "add", 1, 2)
    local endless, again, mqlen, mqlen2, task, message = skynet.call(spinner, "lua", "stat")
    skynet.send(probe, "text", table.concat({ tostring(raised), sum, tostring(endless),
        tostring(again), mqlen, mqlen2, task, tostring(message >= 3) }, " "))
end)
"#,
            ),
        ],
        interrupting(),
    );
    let spinner = node.launch("spinner", &[]);
    node.launch("driver", &[spinner]);
    let report = node.report("the driver's results");
    // stat "task" is 0: the handler asking has not yielded, and nothing else
    // waits (skynet counts the tasks waiting on a session).
    assert_eq!(report, "true 3 true false 0 0 0 true");
    assert!(node.runtime.node().is_alive(spinner));
}

/// A monitor that interrupts a service after 400 ms on one message.
fn interrupting() -> RuntimeConfig {
    RuntimeConfig {
        threads: 2,
        monitor: MonitorConfig {
            check_every: Duration::from_millis(50),
            warn_after: Duration::from_millis(200),
            interrupt_after: Some(Duration::from_millis(400)),
        },
        ..RuntimeConfig::default()
    }
}

// The interrupt hook is set on the Lua thread the worker is running, so a loop
// inside any coroutine is stopped, not only in a handler's own task.
#[test]
fn loops_inside_user_coroutines_are_interrupted_too() {
    let node = Node::with_config(
        &[
            (
                "spinner",
                r#"
local skynet = require "skynet"
local scoroutine = require "skynet.coroutine"
local errors = {}
local function spin() while true do end end
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "create" then
            local ok, err = coroutine.resume(coroutine.create(spin))
            errors[#errors + 1] = err
            skynet.retpack(ok)
        elseif cmd == "nested" then
            local outer = coroutine.create(function()
                local ok, err = coroutine.resume(coroutine.create(spin))
                coroutine.yield(err)
            end)
            local ok, err = coroutine.resume(outer)
            errors[#errors + 1] = err
            skynet.retpack(ok)
        elseif cmd == "wrap" then
            local ok, err = pcall(coroutine.wrap(spin))
            errors[#errors + 1] = err
            skynet.retpack(ok)
        elseif cmd == "close" then
            -- coroutine.close runs the coroutine's pending __close handlers.
            local co = coroutine.create(function()
                local guard <close> = setmetatable({}, { __close = spin })
                coroutine.yield()
            end)
            coroutine.resume(co)
            local ok, err = coroutine.close(co)
            errors[#errors + 1] = err
            skynet.retpack(ok)
        elseif cmd == "skynet.coroutine" then
            local ok, err = scoroutine.resume(scoroutine.create(spin))
            errors[#errors + 1] = err
            skynet.retpack(ok)
        elseif cmd == "errors" then
            skynet.retpack(table.concat(errors, "\n"))
        end
    end)
end)
"#,
            ),
            (
                "driver",
                r#"
local skynet = require "skynet"
local probe, spinner = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local out = {}
    for _, cmd in ipairs { "create", "nested", "wrap", "close", "skynet.coroutine" } do
        out[#out + 1] = cmd .. "=" .. tostring(skynet.call(spinner, "lua", cmd))
    end
    skynet.send(probe, "text", table.concat(out, " "))
    skynet.send(probe, "text", skynet.call(spinner, "lua", "errors"))
end)
"#,
            ),
        ],
        interrupting(),
    );
    let spinner = node.launch("spinner", &[]);
    node.launch("driver", &[spinner]);
    let report = node.report("the driver's results");
    assert_eq!(
        report,
        "create=false nested=true wrap=false close=false skynet.coroutine=false"
    );
    let errors = node.report("the spinner's error messages");
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 5, "{errors}");
    for line in lines {
        assert!(
            line.ends_with("spinner.lua:5: interrupted: stuck on one message"),
            "not an interrupt at the loop's line: {line}"
        );
    }
}

#[test]
fn a_service_stuck_in_its_chunk_fails_to_launch_and_the_node_lives_on() {
    let node = Node::with_config(
        &[
            ("stuck", "while true do end\n"),
            (
                "fine",
                r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function() skynet.send(probe, "text", "fine started") end)
"#,
            ),
        ],
        interrupting(),
    );
    let err = match node.0.launch_with("stuck", &[]) {
        Ok(h) => panic!("a service stuck in its chunk launched as {h}"),
        Err(e) => e,
    };
    assert!(err.contains("stuck.lua:1: interrupted"), "{err}");
    node.launch("fine", &[]);
    assert_eq!(node.report("the next service to start"), "fine started");
}

// Without a configured limit the monitor only logs; the Rust API interrupts.
#[test]
fn node_interrupt_stops_a_lua_loop_on_request() {
    let node = Node::new(&[
        (
            "spinner",
            r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd)
        if cmd == "spin" then
            skynet.send(probe, "text", "spinning")
            while true do end
        end
        skynet.retpack("still here")
    end)
end)
"#,
        ),
        (
            "driver",
            r#"
local skynet = require "skynet"
local probe, spinner = tonumber((...)), tonumber((select(2, ...)))
skynet.start(function()
    local ok, err = pcall(skynet.call, spinner, "lua", "spin")
    skynet.send(probe, "text", tostring(ok) .. " " .. skynet.call(spinner, "lua", "ping"))
end)
"#,
        ),
    ]);
    let spinner = node.launch("spinner", &[]);
    node.launch("driver", &[spinner]);
    assert_eq!(node.report("the spinner to start its loop"), "spinning");
    assert!(node.runtime.node().interrupt(spinner));
    let report = node.report("the driver's results");
    assert_eq!(report, "false still here");
    assert!(node.runtime.node().is_alive(spinner));
}

#[test]
fn shutdown_interrupts_a_lua_service_stuck_in_a_loop() {
    let node = Node::new(&[(
        "spinner",
        r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    skynet.fork(function()
        skynet.send(probe, "text", "spinning")
        -- Even a loop that catches the interrupt's error is stopped: it is
        -- interrupted again until the worker is free.
        while true do
            pcall(function() while true do end end)
        end
    end)
end)
"#,
    )]);
    node.launch("spinner", &[]);
    assert_eq!(node.report("the spinner to start its loop"), "spinning");
    let Node(node) = node;
    let (done, finished) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        node.runtime.shutdown();
        let _ = done.send(());
    });
    finished
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("shutdown did not return within {WAIT:?}"));
}

// Found in review: the library's coroutine.resume raising (out of memory in
// its error path, resuming a dead coroutine) left the record of the running
// thread pointing at that coroutine, so every later interrupt went to a
// thread that was not running (or freed).
#[test]
fn an_out_of_memory_error_in_coroutine_resume_does_not_lose_interrupts() {
    let node = Node::with_config(
        &[(
            "stuck",
            r#"
local core = require "skynet.core"
local co = coroutine.create(function() end)
coroutine.resume(co)
-- Resume the dead coroutine with less and less memory to spare, so that
-- building its "cannot resume dead coroutine" message fails at some point.
for headroom = 0, 4096, 8 do
    core.memlimit(0)
    collectgarbage()
    pcall(coroutine.resume, co)
    collectgarbage()
    core.memlimit(math.floor(collectgarbage("count") * 1024) + headroom)
    pcall(coroutine.resume, co)
    core.memlimit(0)
end
co = nil
collectgarbage()
while true do end
"#,
        )],
        interrupting(),
    );
    // Launched from another thread: if interrupts are lost, neither the launch
    // nor a shutdown would return, and the node is leaked.
    let node = std::sync::Arc::new(node);
    let (tx, launched) = crossbeam_channel::bounded(1);
    let launcher = node.clone();
    std::thread::spawn(move || {
        let _ = tx.send(launcher.0.launch_with("stuck", &[]));
    });
    let Ok(result) = launched.recv_timeout(WAIT) else {
        std::mem::forget(node);
        panic!("the stuck chunk was not interrupted within {WAIT:?}");
    };
    match result {
        Ok(h) => panic!("a service stuck in its chunk launched as {h}"),
        Err(e) => assert!(e.contains("interrupted"), "{e}"),
    }
}
