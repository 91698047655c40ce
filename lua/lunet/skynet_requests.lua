-- Part of lua/skynet.lua, loaded when a service first uses one of these
-- functions (an idle service does not hold them): skynet.request (and its
-- select), skynet.term and skynet.killthread.
--
-- Returns init(skynet, I): defines the functions in `skynet`; `I` holds the
-- library's internals (see `internals` in lua/skynet.lua).

return function(skynet, I)
	local c, proto = I.c, I.proto
	local waiting, watching, sleeping = I.waiting, I.watching, I.sleeping
	local tasks, forks, starting = I.tasks, I.forks, I.starting
	local task_of, drop_task, resume, finish_request = I.task_of, I.drop_task, I.resume, I.finish_request

	-- skynet.request: several calls at once, their responses taken as they arrive.
	--
	--   local reqs = skynet.request()
	--   reqs:add { addr, "lua", "CMD", arg, token = 1 }   -- or reqs { ... }
	--   for req, resp, err in reqs:select(timeout) do ... end
	--
	-- `select` sends every request, then iterates in arrival order: a success
	-- gives the request table and its response unpacked into a table (`resp[1]`,
	-- ..., `resp.n`); a failure (an error response, an address that does not
	-- exist, a response that does not unpack) gives the request table, nil, and a
	-- message — it is reported in the loop, never raised, so one failure does not
	-- lose the others. `timeout` is in centiseconds, as skynet.sleep; when it
	-- passes with requests outstanding, `reqs.timeout` is set, those requests are
	-- abandoned (their late responses dropped) and the loop ends after the
	-- responses that came before it. Without a timeout the loop ends when every
	-- request has been answered. Leaving the loop early (break, error) abandons
	-- the rest too: `select` returns `reqs` as the for loop's closing value.
	-- A request object selects once; the loop must run in the coroutine that
	-- called `select`.
	local request_meta = {}
	request_meta.__index = request_meta

	function skynet.request(obj)
		local reqs = setmetatable({}, request_meta)
		if obj then
			reqs:add(obj)
		end
		return reqs
	end

	function request_meta:add(obj)
		if type(obj) ~= "table" then
			error("request:add: { addr, typename, ... } expected, got " .. type(obj), 2)
		end
		if self._sessions then
			error("request:add: select has started", 2)
		end
		self[#self + 1] = obj
		return self
	end

	request_meta.__call = request_meta.add

	-- Drops every outstanding request and the timer: late responses are ignored.
	function request_meta:close()
		local sessions = self._sessions
		if sessions then
			for session in pairs(sessions) do
				drop_task(waiting[session])
				waiting[session] = nil
				watching[session] = nil
				sessions[session] = nil
			end
		end
		if self._timer then
			drop_task(waiting[self._timer])
			waiting[self._timer] = nil
			self._timer = nil
		end
	end

	request_meta.__close = request_meta.close

	local function packed(ok, ...)
		if ok then
			return table.pack(...)
		end
		return nil, tostring((...))
	end

	function request_meta:select(timeout)
		if self._sessions then
			error("request:select: already selected", 2)
		end
		local sessions = {} -- session -> request, while outstanding
		local arrived = {} -- { req, ok, msg, sz, proto } in arrival order
		self._sessions = sessions
		local function arrive(entry)
			arrived[#arrived + 1] = entry
			skynet.wakeup(self)
		end
		for i = 1, #self do
			local req = self[i]
			local addr, p = req[1], proto[req[2]]
			local session
			if p then
				session = c.send(addr, p.id, nil, p.pack(table.unpack(req, 3, req.n or #req)))
			end
			if session == nil then
				local why = p and "invalid address " .. skynet.address(addr)
					or "unknown protocol " .. tostring(req[2])
				arrived[#arrived + 1] = { req, false, why }
			else
				sessions[session] = req
				watching[session] = addr
				waiting[session] = task_of(function(ok, msg, sz)
					sessions[session] = nil
					watching[session] = nil
					if ok then
						arrive { req, true, msg, sz, p }
					else
						arrive { req, false, string.format("call to %s failed", skynet.address(addr)) }
					end
				end)
			end
		end
		if timeout and next(sessions) then
			local timer = c.timeout(timeout)
			self._timer = timer
			waiting[timer] = task_of(function()
				self._timer = nil
				if next(sessions) then
					self.timeout = true
					self:close()
					skynet.wakeup(self)
				end
			end)
		end
		local function iterate()
			while true do
				local entry = table.remove(arrived, 1)
				if entry then
					local req = entry[1]
					if not entry[2] then
						return req, nil, entry[3]
					end
					local resp, err = packed(pcall(entry[5].unpack, entry[3], entry[4]))
					return req, resp, err
				end
				if next(sessions) == nil then
					self:close()
					return nil
				end
				skynet.wait(self)
			end
		end
		return iterate, nil, nil, self
	end

	-- Whether addresses a and b (handles, ":%08x" strings or ".names") are the
	-- same service.
	local function same_service(a, b)
		local function handle(addr)
			if type(addr) == "string" then
				if addr:sub(1, 1) == ":" then
					return tonumber(addr:sub(2), 16)
				end
				return c.query(addr)
			end
			return addr
		end
		return a == b or handle(a) == handle(b)
	end

	-- skynet.term(service): `service` is gone. Every call from this service still
	-- waiting on it (skynet.call, rawcall, request) raises, after the current message.
	function skynet.term(service)
		local victims = {}
		for session, addr in pairs(watching) do
			if same_service(addr, service) then
				local co = waiting[session]
				waiting[session] = nil
				watching[session] = nil
				if type(co) == "thread" then
					victims[#victims + 1] = co
				end
			end
		end
		if #victims > 0 then
			forks[#forks + 1] = task_of(function()
				for _, co in ipairs(victims) do
					resume(co, false)
				end
			end)
		end
	end

	-- skynet.killthread(co | token | string): kills a suspended coroutine. `co`
	-- may be a queued fork, a coroutine waiting on a call, sleep or wait, the token
	-- of a sleep or wait, or part of tostring(co) (as skynet.task prints it). Its
	-- pending session is dropped, the request it was handling (if unanswered) gets
	-- an error, and it is closed. Returns the coroutine, or nil if none was found.
	-- A killed coroutine is closed, never reused, so killing it again finds
	-- nothing.
	local function kill(co)
		starting[co] = nil
		tasks[co] = nil
		coroutine.close(co)
	end

	function skynet.killthread(thread)
		for i, co in ipairs(forks) do
			if co == thread then
				table.remove(forks, i)
				kill(co)
				return co
			end
		end
		local session = sleeping[thread]
		if session == nil then
			for s, co in pairs(waiting) do
				if co == thread or (type(thread) == "string" and type(co) == "thread"
					and tostring(co):find(thread, 1, true)) then
					session = s
					break
				end
			end
		end
		local co = session and waiting[session]
		if type(co) ~= "thread" or not tasks[co] then
			return nil
		end
		waiting[session] = nil
		watching[session] = nil
		for token, s in pairs(sleeping) do
			if s == session then
				sleeping[token] = nil
			end
		end
		finish_request(co, true)
		kill(co)
		return co
	end
end
