-- Part of lua/skynet.lua, loaded when a service first uses one of these
-- functions (an idle service does not hold them): the less used message
-- functions (rawsend, rawcall, redirect, packstring, trash, ignoreret,
-- context), the environment (localname, setenv), the clocks (starttime, time,
-- hpc) and the service's own statistics (task, memlimit, mqlen, endless, stat).
--
-- Returns init(skynet, I): defines the functions in `skynet`; `I` holds the
-- library's internals (see `internals` in lua/skynet.lua).

return function(skynet, I)
	local c, seri, proto = I.c, I.seri, I.proto
	local request_session, request_source, tasks = I.request_session, I.request_source, I.tasks
	local traceback = debug.traceback

	function skynet.packstring(...)
		return (seri.pack(...))
	end

	function skynet.trash(msg, sz)
		-- Messages are Lua strings here; the garbage collector owns them.
	end

	function skynet.rawsend(addr, typename, msg, sz)
		local p = proto[typename]
		return c.send(addr, p.id, 0, msg, sz) ~= nil
	end

	function skynet.rawcall(addr, typename, msg, sz)
		local p = proto[typename]
		local session = c.send(addr, p.id, nil, msg, sz)
		if session == nil then
			error("call to invalid address " .. skynet.address(addr), 2)
		end
		return I.wait_response(session, addr)
	end

	function skynet.redirect(addr, source, typename, session, msg, sz)
		local id = type(typename) == "number" and typename or proto[typename].id
		return c.redirect(addr, source, id, session, skynet.tostring(msg, sz))
	end

	function skynet.ignoreret()
		local co = I.current_request("skynet.ignoreret")
		request_session[co] = 0
	end

	function skynet.context()
		local co = I.running()
		local session = request_session[co]
		if session then
			return session < 0 and -session or session, request_source[co]
		end
	end

	function skynet.localname(name)
		return c.query(name)
	end

	function skynet.setenv(key, value)
		assert(c.getenv(key) == nil, "setenv: can't change existing key " .. key)
		c.setenv(key, tostring(value))
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

	-- task() -> how many tasks have work (running, suspended or not yet
	-- started); task(t) fills t with tostring(task) -> its traceback.
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
		end
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

	-- stat(what): "mqlen", "endless", "task", "memory" (bytes of Lua memory),
	-- and the runtime's counters "message" (messages handled) and "cpu"
	-- (seconds spent handling them).
	function skynet.stat(what)
		if what == "mqlen" then
			return c.mqlen()
		elseif what == "endless" then
			return c.endless()
		elseif what == "task" then
			return skynet.task()
		elseif what == "memory" then
			return c.memory()
		elseif what == "message" or what == "cpu" then
			return c.stat(what)
		end
	end
end
