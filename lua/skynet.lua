-- lunet's `skynet` module: skynet's core Lua API on lunet's runtime.
--
-- Every message handler runs in a coroutine (a "task"). A task that calls
-- another service, sleeps or waits yields here and is resumed when its
-- response, timer or wakeup arrives. Tasks come from a pool: a coroutine whose
-- function returned waits for the next one, so a message costs no coroutine
-- creation. Policy lives in this file; the mechanism (sending, sessions,
-- timers) is the native module `skynet.core`.
--
-- The less used functions live in lua/lunet/skynet_*.lua and are loaded the
-- first time a service uses one of them (the `parts` at the end of this file),
-- so an idle service holds only what it uses.
--
-- Differences from skynet, on purpose:
--   * a request whose handler ends (or fails) without responding is answered
--     with an error, so the caller never waits forever (skynet only logs);
--   * a response or error for a session nobody waits on is dropped quietly.

local c = require "skynet.core"
local seri = require "skynet.seri"

local coroutine_create = coroutine.create
local coroutine_resume = coroutine.resume
local coroutine_yield = coroutine.yield
local coroutine_running = coroutine.running
local traceback = debug.traceback

local skynet = {
	PTYPE_TEXT = 0,
	PTYPE_RESPONSE = 1,
	PTYPE_MULTICAST = 2,
	PTYPE_CLIENT = 3,
	PTYPE_SYSTEM = 4,
	PTYPE_HARBOR = 5,
	PTYPE_SOCKET = 6,
	PTYPE_ERROR = 7,
	PTYPE_QUEUE = 8,
	PTYPE_DEBUG = 9,
	PTYPE_LUA = 10,
	PTYPE_SNAX = 11,
	PTYPE_TRACE = 12,
}

local PTYPE_RESPONSE = skynet.PTYPE_RESPONSE
local PTYPE_ERROR = skynet.PTYPE_ERROR

local proto = {}

-- session -> the coroutine waiting for its response, or "BREAK" when the wait
-- was abandoned (a woken sleep) and the late response must be dropped.
local waiting = {}
-- task -> the session of the request it handles: > 0 not yet answered, 0 a
-- one-way message (or ignoreret), < 0 answered (-session). nil: no request.
local request_session = {}
-- task -> the source of the request it handles.
local request_source = {}
-- token -> session of a sleep or wait, so wakeup(token) can find it.
local sleeping = {}
-- tokens woken, and tasks forked, to run after the current message. Wakeups
-- are a queue: wakeups[wake_next .. wake_last].
local wakeups = {}
local wake_next, wake_last = 1, 0
local forks = {}
-- task -> the function it will run, for tasks made but not yet started
-- (forks, timeouts, the select and term helpers).
local starting = {}
-- every task waiting to go on, for skynet.task: suspended (in a call, sleep
-- or wait) or made and not yet started (a fork, a timeout). A task handling a
-- message is not counted until it first yields.
local tasks = {}
-- idle tasks, ready for their next function.
local pool = {}
local POOL_MAX = 64
-- What a pooled task yields when its function has returned.
local END = setmetatable({}, { __name = "skynet task end" })
-- session -> the address a call waits on, for skynet.term.
local watching = {}
-- response functions (skynet.response) not yet called: skynet.exit calls them.
local unanswered = {}
-- Set by skynet.exit: nothing queued runs any more.
local exited = false
-- The task coroutine `resume` is running. Sessions wait on it, not on
-- coroutine.running(): inside a skynet.coroutine user coroutine, skynet's own
-- yields are passed up to the task, and the task's resume is passed down.
local running_thread

skynet.pack = seri.pack
skynet.unpack = seri.unpack

function skynet.tostring(msg, sz)
	if msg == nil then
		return ""
	end
	if sz and sz < #msg then
		return msg:sub(1, sz)
	end
	return msg
end

-- A protocol class: name, id, pack, unpack, dispatch(session, source, ...).
-- lunet adds `inline = true`: messages of this protocol are dispatched
-- outside a task, so the handler costs no coroutine switch but must not
-- yield (skynet.socket's events are handled this way).
function skynet.register_protocol(class)
	local name, id = class.name, class.id
	assert(type(name) == "string" and type(id) == "number", "register_protocol: name and id required")
	assert(proto[name] == nil and proto[id] == nil, "register_protocol: " .. name .. " already registered")
	proto[name] = class
	proto[id] = class
end

skynet.register_protocol {
	name = "lua",
	id = skynet.PTYPE_LUA,
	pack = seri.pack,
	unpack = seri.unpack,
}

skynet.register_protocol {
	name = "response",
	id = skynet.PTYPE_RESPONSE,
}

skynet.register_protocol {
	name = "error",
	id = skynet.PTYPE_ERROR,
	unpack = function(...) return ... end,
	dispatch = function() end,
}

skynet.register_protocol {
	name = "text",
	id = skynet.PTYPE_TEXT,
	pack = function(...)
		local n = select("#", ...)
		if n == 0 then
			return ""
		elseif n == 1 then
			return tostring(...)
		end
		return table.concat({ ... }, " ")
	end,
	unpack = skynet.tostring,
}

function skynet.dispatch(typename, func)
	local p = proto[typename]
	assert(p, "dispatch: unknown protocol " .. tostring(typename))
	if func then
		local old = p.dispatch
		p.dispatch = func
		return old
	end
	return p.dispatch
end

-- ----- addresses and the environment -----

function skynet.self()
	return c.self()
end

function skynet.address(addr)
	if type(addr) == "number" then
		return string.format(":%08x", addr)
	end
	return tostring(addr)
end

function skynet.getenv(key)
	return c.getenv(key)
end

function skynet.error(...)
	local n = select("#", ...)
	local parts = {}
	for i = 1, n do
		parts[i] = tostring((select(i, ...)))
	end
	c.error(table.concat(parts, " "))
end

-- ----- time -----

function skynet.now()
	return c.now()
end

-- ----- coroutines -----

-- A task runs f(...), yields END, and is resumed with its next function and
-- arguments. The tail call keeps its stack flat.
local function task_main(f, ...)
	f(...)
	return task_main(coroutine_yield(END))
end

-- An idle task from the pool, or a new one.
local function new_task()
	local n = #pool
	local co
	if n > 0 then
		co = pool[n]
		pool[n] = nil
	else
		co = coroutine_create(task_main)
	end
	return co
end

-- Puts idle task co back in the pool, unless the pool is full.
local function recycle(co)
	local n = #pool
	if n < POOL_MAX then
		pool[n + 1] = co
	end
end

-- A task that will run f when first resumed (with the resume's arguments).
local function task_of(f)
	local co = new_task()
	starting[co] = f
	tasks[co] = true
	return co
end

-- Returns task co, if it has not started, to the pool (it will not run).
-- Returns whether it had not started.
local function drop_task(co)
	if starting[co] == nil then
		return false
	end
	starting[co] = nil
	tasks[co] = nil
	recycle(co)
	return true
end

local resume

-- Answers a request whose handler ended or failed without responding.
local function finish_request(co, failed)
	local session = request_session[co]
	if session == nil then
		return
	end
	request_session[co] = nil
	local source = request_source[co]
	request_source[co] = nil
	if session > 0 then
		if not failed then
			skynet.error(string.format("request %d from %s ended without a response",
				session, skynet.address(source)))
		end
		c.send(source, PTYPE_ERROR, session, "")
	end
end

-- What coroutine_resume(co, ...) returned: a task that finished goes back to
-- the pool; one that failed is logged (it is dead, and not reused).
local function resumed(co, outer, ok, r)
	running_thread = outer
	if ok then
		if r == END then
			if tasks[co] then
				tasks[co] = nil
			end
			local session = request_session[co]
			if session ~= nil then
				if session > 0 then
					finish_request(co, false)
				else
					request_session[co] = nil
					request_source[co] = nil
				end
			end
			recycle(co)
		else
			tasks[co] = true -- suspended
		end
		return
	end
	tasks[co] = nil
	skynet.error(traceback(co, tostring(r)))
	finish_request(co, true)
end

-- Resumes task co with ... (its function first, if it has not started).
function resume(co, ...)
	local outer = running_thread
	running_thread = co
	local f = starting[co]
	if f ~= nil then
		starting[co] = nil
		return resumed(co, outer, coroutine_resume(co, f, ...))
	end
	return resumed(co, outer, coroutine_resume(co, ...))
end

-- Waits for the response to `session`; returns its (msg, sz) or raises.
local function wait_response(session, addr)
	waiting[session] = running_thread or coroutine_running()
	watching[session] = addr
	local ok, msg, sz = coroutine_yield("SUSPEND")
	watching[session] = nil
	if not ok then
		error(string.format("call to %s failed", skynet.address(addr)), 2)
	end
	return msg, sz
end

-- Wakeups first, then forks, until neither is left: a fork may wake a
-- coroutine, and a woken coroutine may fork.
local function run_pending()
	while not exited do
		local token = wakeups[wake_next]
		if token ~= nil then
			wakeups[wake_next] = nil
			wake_next = wake_next + 1
			local session = sleeping[token]
			if session then
				local co = waiting[session]
				-- A sleep's timer response is still to come: drop it when it does.
				waiting[session] = "BREAK"
				if type(co) == "thread" then
					resume(co, false, "BREAK")
				end
			end
		elseif forks[1] ~= nil then
			resume(table.remove(forks, 1))
		else
			break
		end
	end
	-- Both queues are empty: start the next wakeups at index 1 again.
	wake_next, wake_last = 1, 0
end

-- Runs inside a task: the request's handler, with the message unpacked (an
-- unpack error fails the task, and the caller gets an error).
local function handle_request(p, session, source, msg, sz)
	local unpack = p.unpack
	if unpack then
		return p.dispatch(session, source, unpack(msg, sz))
	end
	return p.dispatch(session, source, msg, sz)
end

local function inline_dispatch(p, session, source, msg, sz)
	return p.dispatch(session, source, p.unpack(msg, sz))
end

local function dispatch_message(ptype, msg, sz, session, source)
	if ptype == PTYPE_RESPONSE or ptype == PTYPE_ERROR then
		local co = waiting[session]
		waiting[session] = nil
		if type(co) == "thread" then
			resume(co, ptype == PTYPE_RESPONSE, msg, sz)
		end
		return
	end
	local p = proto[ptype]
	if p == nil or p.dispatch == nil then
		if session ~= 0 then
			c.send(source, PTYPE_ERROR, session, "")
		end
		skynet.error(string.format("unknown message type %d from %s", ptype, skynet.address(source)))
		return
	end
	if p.inline then
		-- Handled outside a task (lunet's own flag, see register_protocol).
		local ok, err = xpcall(inline_dispatch, traceback, p, session, source, msg, sz)
		if not ok then
			skynet.error(tostring(err))
		end
		return
	end
	local co = new_task()
	request_session[co] = session
	request_source[co] = source
	local outer = running_thread
	running_thread = co
	return resumed(co, outer, coroutine_resume(co, handle_request, p, session, source, msg, sz))
end

-- The callback for every message. Handlers' errors are caught by their task;
-- an error here (out of memory) reaches the runtime, which logs it.
local function on_message(ptype, msg, sz, session, source)
	dispatch_message(ptype, msg, sz, session, source)
	if wake_last ~= 0 or forks[1] ~= nil then
		run_pending()
	end
end

-- ----- sending -----

-- c.send(addr, ptype, session, msg[, sz]) sends the first sz bytes of msg
-- (all of it without sz), as skynet.tostring(msg, sz).

function skynet.send(addr, typename, ...)
	local p = proto[typename]
	return c.send(addr, p.id, 0, p.pack(...)) ~= nil
end

function skynet.call(addr, typename, ...)
	local p = proto[typename]
	local session = c.send(addr, p.id, nil, p.pack(...))
	if session == nil then
		error("call to invalid address " .. skynet.address(addr), 2)
	end
	return p.unpack(wait_response(session, addr))
end

-- ----- responding -----

-- The running task and the session of the request it handles (see
-- request_session), or an error naming `what`.
local function current_request(what)
	local co = running_thread or coroutine_running()
	local session = request_session[co]
	if session == nil then
		error(what .. ": not handling a request", 3)
	end
	return co, session
end

function skynet.ret(msg, sz)
	local co, session = current_request("skynet.ret")
	if session == 0 then
		-- A one-way message: nothing to respond to.
		return false
	end
	if session < 0 then
		error("skynet.ret: already responded to session " .. -session, 2)
	end
	request_session[co] = -session
	return c.send(request_source[co], PTYPE_RESPONSE, session, msg or "", sz) ~= nil
end

function skynet.retpack(...)
	return skynet.ret(seri.pack(...))
end

function skynet.response(pack)
	pack = pack or seri.pack
	local co, session = current_request("skynet.response")
	if session == 0 then
		error("skynet.response: the request expects no response", 2)
	end
	if session < 0 then
		error("skynet.response: already responded to session " .. -session, 2)
	end
	request_session[co] = -session
	local source, done = request_source[co], false
	local function respond(ok, ...)
		if ok == "TEST" then
			return not done
		end
		if done then
			error("skynet.response: already responded to session " .. session, 2)
		end
		done = true
		unanswered[respond] = nil
		if ok then
			return c.send(source, PTYPE_RESPONSE, session, pack(...)) ~= nil
		end
		return c.send(source, PTYPE_ERROR, session, "") ~= nil
	end
	unanswered[respond] = true
	return respond
end

-- ----- sleeping, waiting, forking -----

function skynet.sleep(ti, token)
	local session = c.timeout(ti)
	token = token or coroutine_running()
	waiting[session] = running_thread or coroutine_running()
	sleeping[token] = session
	local ok = coroutine_yield("SLEEP")
	sleeping[token] = nil
	if ok then
		return nil
	end
	return "BREAK"
end

function skynet.yield()
	return skynet.sleep(0)
end

-- Sessions of skynet.wait: negative, so they never meet a real session (no
-- response ever comes for them), and allocated here without a native call.
local wait_session = 0

function skynet.wait(token)
	wait_session = wait_session > -0x7fffffff and wait_session - 1 or -1
	local session = wait_session
	token = token or coroutine_running()
	waiting[session] = running_thread or coroutine_running()
	sleeping[token] = session
	coroutine_yield("WAIT")
	sleeping[token] = nil
	waiting[session] = nil
end

function skynet.wakeup(token)
	if sleeping[token] then
		wake_last = wake_last + 1
		wakeups[wake_last] = token
		return true
	end
	return false
end

function skynet.timeout(ti, func)
	local session = c.timeout(ti)
	assert(session, "skynet.timeout: no timer")
	local co = task_of(function()
		func()
	end)
	waiting[session] = co
	return co
end

function skynet.fork(func, ...)
	local co
	if select("#", ...) == 0 then
		co = task_of(func)
	else
		local args = table.pack(...)
		co = task_of(function()
			func(table.unpack(args, 1, args.n))
		end)
	end
	forks[#forks + 1] = co
	return co
end

-- ----- the service's life -----

-- Every request still being handled, or whose response is held
-- (skynet.response), gets an error: its caller must not wait. Run by
-- skynet.exit, and by the runtime when the service is killed (onstop).
local function fail_requests()
	for co, session in pairs(request_session) do
		if session > 0 then
			c.send(request_source[co], PTYPE_ERROR, session, "")
			request_session[co] = -session
		end
	end
	for respond in pairs(unanswered) do
		respond(false)
	end
end
c.onstop(fail_requests)

function skynet.exit()
	-- Marked as exiting first (retired once this message returns), so a
	-- caller that gets one of the errors below already sees the service as
	-- gone, and can tell "it exited" from "it refused".
	c.exit()
	fail_requests()
	-- Queued forks and wakeups never run (run_pending stops).
	exited = true
	-- The launcher forgets us, and answers a newservice still waiting on us.
	skynet.send(".launcher", "lua", "REMOVE", c.self(), false)
	coroutine_yield("QUIT")
end

local init_funcs = {}

function skynet.init(f)
	init_funcs[#init_funcs + 1] = f
end

function skynet.start(start_func)
	c.callback(on_message)
	skynet.timeout(0, function()
		local ok, err = xpcall(function()
			for _, f in ipairs(init_funcs) do
				f()
			end
			init_funcs = {}
			start_func()
		end, traceback)
		if not ok then
			skynet.error("start failed: " .. tostring(err))
			-- The launcher answers the newservice waiting on us (ignored if none).
			local message = tostring(err)
			skynet.send(".launcher", "lua", "ERROR", message:match("^(.-)\nstack traceback:") or message)
			c.exit()
		else
			-- Start-up garbage (parsing, loading modules) would otherwise stay
			-- until the next collection cycle: a full collection now keeps idle
			-- services small (about 17 KiB less each, measured by the actor bench).
			collectgarbage()
			skynet.send(".launcher", "lua", "LAUNCHOK")
		end
	end)
end

-- The debug protocol (PTYPE_DEBUG), answered by every service: MEM, GC,
-- STAT, TASK, INFO, EXIT, TERM, PING, SUPPORT (see skynet/debug.lua, loaded
-- at the first debug message so idle services do not pay for it).
local info_func

-- skynet.info_func(f): what the debug INFO message answers (f(...)'s results).
function skynet.info_func(f)
	info_func = f
end

local debug_dispatch
skynet.register_protocol {
	name = "debug",
	id = skynet.PTYPE_DEBUG,
	pack = seri.pack,
	unpack = seri.unpack,
	dispatch = function(...)
		if debug_dispatch == nil then
			debug_dispatch = require("skynet.debug").init(skynet, {
				info = function()
					return info_func
				end,
				traceback = function(session)
					local co = waiting[session]
					return type(co) == "thread" and traceback(co) or nil
				end,
			})
		end
		return debug_dispatch(...)
	end,
}

-- ----- the parts loaded on first use (lua/lunet/skynet_*.lua) -----

-- What the parts share with this file.
local function internals()
	return {
		c = c,
		seri = seri,
		proto = proto,
		waiting = waiting,
		watching = watching,
		sleeping = sleeping,
		request_session = request_session,
		request_source = request_source,
		tasks = tasks,
		forks = forks,
		starting = starting,
		task_of = task_of,
		drop_task = drop_task,
		resume = resume,
		finish_request = finish_request,
		wait_response = wait_response,
		current_request = current_request,
		-- The running task (see running_thread).
		running = function()
			return running_thread or coroutine_running()
		end,
	}
end

-- part -> the names it defines, space-separated (with a space at each end).
local parts = {
	["lunet.skynet_misc"] = " packstring trash rawsend rawcall redirect ignoreret context"
		.. " localname setenv starttime time hpc task memlimit mqlen endless stat ",
	["lunet.skynet_services"] = " launch newservice uniqueservice queryservice ",
	["lunet.skynet_requests"] = " request term killthread ",
}

setmetatable(skynet, {
	__index = function(_, name)
		if type(name) ~= "string" then
			return nil
		end
		local key = " " .. name .. " "
		for part, names in pairs(parts) do
			if names:find(key, 1, true) then
				parts[part] = nil
				require(part)(skynet, internals())
				return rawget(skynet, name)
			end
		end
	end,
})

return skynet
