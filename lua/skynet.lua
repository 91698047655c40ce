-- lunet's `skynet` module: skynet's core Lua API on lunet's runtime.
--
-- Every message handler runs in a coroutine. A coroutine that calls another
-- service, sleeps or waits yields here and is resumed when its response, timer
-- or wakeup arrives. Policy lives in this file; the mechanism (sending, sessions,
-- timers) is the native module `skynet.core`.
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
local coroutine_status = coroutine.status
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

local proto = {}

-- session -> the coroutine waiting for its response, or "BREAK" when the wait
-- was abandoned (a woken sleep) and the late response must be dropped.
local waiting = {}
-- coroutine -> { session, source, responded } for the request it handles.
local request_of = {}
-- token -> session of a sleep or wait, so wakeup(token) can find it.
local sleeping = {}
-- tokens woken, and coroutines forked, to run after the current message.
local wakeups = {}
local forks = {}
-- every coroutine created here, for skynet.task.
local tasks = setmetatable({}, { __mode = "k" })

skynet.pack = seri.pack
skynet.unpack = seri.unpack

function skynet.packstring(...)
	return (seri.pack(...))
end

function skynet.tostring(msg, sz)
	if msg == nil then
		return ""
	end
	if sz and sz < #msg then
		return msg:sub(1, sz)
	end
	return msg
end

function skynet.trash(msg, sz)
	-- Messages are Lua strings here; the garbage collector owns them.
end

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

function skynet.localname(name)
	return c.query(name)
end

function skynet.getenv(key)
	return c.getenv(key)
end

function skynet.setenv(key, value)
	assert(c.getenv(key) == nil, "setenv: can't change existing key " .. key)
	c.setenv(key, tostring(value))
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

function skynet.starttime()
	return c.starttime()
end

function skynet.time()
	return c.starttime() + c.now() / 100
end

function skynet.hpc()
	return c.hpc()
end

-- ----- coroutines -----

local function new_task(f)
	local co = coroutine_create(f)
	tasks[co] = true
	return co
end

local resume

-- Answers a request whose handler ended or failed without responding.
local function finish_request(co, failed)
	local req = request_of[co]
	request_of[co] = nil
	if req and req.session ~= 0 and not req.responded then
		if not failed then
			skynet.error(string.format("request %d from %s ended without a response",
				req.session, skynet.address(req.source)))
		end
		c.send(req.source, skynet.PTYPE_ERROR, req.session, "")
	end
end

function resume(co, ...)
	local ok, err = coroutine_resume(co, ...)
	if not ok then
		skynet.error(traceback(co, tostring(err)))
		finish_request(co, true)
		tasks[co] = nil
	elseif coroutine_status(co) == "dead" then
		finish_request(co, false)
		tasks[co] = nil
	end
end

-- Waits for the response to `session`; returns its (msg, sz) or raises.
local function wait_response(session, addr)
	local co = coroutine_running()
	waiting[session] = co
	local ok, msg, sz = coroutine_yield("SUSPEND")
	if not ok then
		error(string.format("call to %s failed", skynet.address(addr)), 2)
	end
	return msg, sz
end

local function run_pending()
	while true do
		local token = table.remove(wakeups, 1)
		if token == nil then
			break
		end
		local session = sleeping[token]
		if session then
			local co = waiting[session]
			-- A sleep's timer response is still to come: drop it when it does.
			waiting[session] = "BREAK"
			if type(co) == "thread" then
				resume(co, false, "BREAK")
			end
		end
	end
	while true do
		local co = table.remove(forks, 1)
		if co == nil then
			break
		end
		resume(co)
	end
end

local function dispatch_message(ptype, msg, sz, session, source)
	if ptype == skynet.PTYPE_RESPONSE or ptype == skynet.PTYPE_ERROR then
		local co = waiting[session]
		waiting[session] = nil
		if type(co) == "thread" then
			resume(co, ptype == skynet.PTYPE_RESPONSE, msg, sz)
		end
		return
	end
	local p = proto[ptype]
	if p == nil or p.dispatch == nil then
		if session ~= 0 then
			c.send(source, skynet.PTYPE_ERROR, session, "")
		end
		skynet.error(string.format("unknown message type %d from %s", ptype, skynet.address(source)))
		return
	end
	local co = new_task(p.dispatch)
	request_of[co] = { session = session, source = source }
	if p.unpack then
		resume(co, session, source, p.unpack(msg, sz))
	else
		resume(co, session, source, msg, sz)
	end
end

local function on_message(...)
	local ok, err = xpcall(dispatch_message, traceback, ...)
	run_pending()
	if not ok then
		skynet.error(err)
	end
end

-- ----- sending -----

function skynet.send(addr, typename, ...)
	local p = proto[typename]
	return c.send(addr, p.id, 0, p.pack(...)) ~= nil
end

function skynet.rawsend(addr, typename, msg, sz)
	local p = proto[typename]
	return c.send(addr, p.id, 0, skynet.tostring(msg, sz)) ~= nil
end

function skynet.redirect(addr, source, typename, session, msg, sz)
	local id = type(typename) == "number" and typename or proto[typename].id
	return c.redirect(addr, source, id, session, skynet.tostring(msg, sz))
end

function skynet.call(addr, typename, ...)
	local p = proto[typename]
	local session = c.send(addr, p.id, nil, p.pack(...))
	if session == nil then
		error("call to invalid address " .. skynet.address(addr), 2)
	end
	return p.unpack(wait_response(session, addr))
end

function skynet.rawcall(addr, typename, msg, sz)
	local p = proto[typename]
	local session = c.send(addr, p.id, nil, skynet.tostring(msg, sz))
	if session == nil then
		error("call to invalid address " .. skynet.address(addr), 2)
	end
	return wait_response(session, addr)
end

-- ----- responding -----

local function current_request(what)
	local req = request_of[coroutine_running()]
	if req == nil then
		error(what .. ": not handling a request", 3)
	end
	return req
end

function skynet.ret(msg, sz)
	local req = current_request("skynet.ret")
	if req.session == 0 then
		-- A one-way message: nothing to respond to.
		return false
	end
	if req.responded then
		error("skynet.ret: already responded to session " .. req.session, 2)
	end
	req.responded = true
	return c.send(req.source, skynet.PTYPE_RESPONSE, req.session, skynet.tostring(msg, sz)) ~= nil
end

function skynet.retpack(...)
	return skynet.ret(seri.pack(...))
end

function skynet.ignoreret()
	local req = current_request("skynet.ignoreret")
	req.session = 0
end

function skynet.response(pack)
	pack = pack or seri.pack
	local req = current_request("skynet.response")
	if req.session == 0 then
		error("skynet.response: the request expects no response", 2)
	end
	if req.responded then
		error("skynet.response: already responded to session " .. req.session, 2)
	end
	req.responded = true
	local source, session, done = req.source, req.session, false
	return function(ok, ...)
		if ok == "TEST" then
			return not done
		end
		if done then
			error("skynet.response: already responded to session " .. session, 2)
		end
		done = true
		if ok then
			return c.send(source, skynet.PTYPE_RESPONSE, session, pack(...)) ~= nil
		end
		return c.send(source, skynet.PTYPE_ERROR, session, "") ~= nil
	end
end

function skynet.context()
	local req = request_of[coroutine_running()]
	if req then
		return req.session, req.source
	end
end

-- ----- sleeping, waiting, forking -----

function skynet.sleep(ti, token)
	local session = c.timeout(ti)
	local co = coroutine_running()
	token = token or co
	waiting[session] = co
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

function skynet.wait(token)
	local session = c.genid()
	local co = coroutine_running()
	token = token or co
	waiting[session] = co
	sleeping[token] = session
	coroutine_yield("WAIT")
	sleeping[token] = nil
	waiting[session] = nil
end

function skynet.wakeup(token)
	if sleeping[token] then
		wakeups[#wakeups + 1] = token
		return true
	end
	return false
end

function skynet.timeout(ti, func)
	local session = c.timeout(ti)
	assert(session, "skynet.timeout: no timer")
	local co = new_task(function()
		func()
	end)
	waiting[session] = co
	return co
end

function skynet.fork(func, ...)
	local n = select("#", ...)
	local co
	if n == 0 then
		co = new_task(func)
	else
		local args = table.pack(...)
		co = new_task(function()
			func(table.unpack(args, 1, args.n))
		end)
	end
	forks[#forks + 1] = co
	return co
end

function skynet.task(ret)
	if ret == nil then
		local n = 0
		for _ in pairs(tasks) do
			n = n + 1
		end
		return n
	end
	if type(ret) == "table" then
		for co in pairs(tasks) do
			ret[tostring(co)] = traceback(co)
		end
		return
	end
end

-- ----- the service's life -----

function skynet.exit()
	-- Every request still being handled gets an error: its caller must not wait.
	for co, req in pairs(request_of) do
		if req.session ~= 0 and not req.responded then
			c.send(req.source, skynet.PTYPE_ERROR, req.session, "")
			req.responded = true
		end
	end
	c.exit()
	coroutine_yield("QUIT")
end

function skynet.memlimit(bytes)
	return c.memlimit(bytes)
end

function skynet.mqlen()
	return c.mqlen()
end

function skynet.endless()
	return c.endless()
end

function skynet.stat(what)
	if what == "mqlen" then
		return c.mqlen()
	elseif what == "endless" then
		return c.endless()
	elseif what == "task" then
		return skynet.task()
	elseif what == "memory" then
		return c.memory()
	end
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
			c.exit()
		end
	end)
end

-- ----- services: newservice, uniqueservice, queryservice (via the launcher) -----

-- ----- requests, the debug protocol, term, killthread -----

return skynet
