-- Part of lua/skynet.lua, loaded when a service first uses one of these
-- functions (an idle service does not hold them): skynet.launch, newservice,
-- uniqueservice and queryservice.
--
-- The handshake: newservice calls the launcher (`.launcher`, LAUNCH); the
-- launcher starts the service with skynet.launch, which returns once the
-- service's code has loaded; the service's skynet.start then runs its start
-- function and sends LAUNCHOK (or ERROR with the message) to `.launcher`, and
-- the launcher answers the caller. skynet.exit sends REMOVE, so a service that
-- exits inside its start function still answers. LAUNCH answers `handle` or
-- `nil, message` (skynet's launcher answers an error response instead; the
-- message travels this way), and newservice raises with the message.
--
-- Returns init(skynet, I): defines the functions in `skynet`; `I` holds the
-- library's internals (see `internals` in lua/skynet.lua).

return function(skynet, I)
	local c, waiting = I.c, I.waiting

	-- skynet.launch("snlua", name, ...) -> handle | nil, message (also
	-- skynet.manager's launch). Blocks the calling coroutine until the service's
	-- code has loaded: its chunk ran, its start function has not. The arguments are
	-- passed as strings. Only Lua services ("snlua") exist in lunet.
	function skynet.launch(service_type, name, ...)
		if service_type ~= "snlua" then
			error(string.format("skynet.launch: unknown service type %q (lunet runs Lua services: \"snlua\")",
				tostring(service_type)), 2)
		end
		if type(name) ~= "string" then
			error("skynet.launch: service name expected, got " .. type(name), 2)
		end
		local handle, session = c.spawn(name, ...)
		waiting[session] = I.running()
		local ok, msg = coroutine.yield("SUSPEND")
		if ok then
			return handle
		end
		return nil, tostring(msg)
	end

	local function launcher_call(what, ...)
		if c.query(".launcher") == nil then
			error(what .. ": no launcher (.launcher) is running; start the node through bootstrap", 3)
		end
		return skynet.call(".launcher", "lua", ...)
	end

	function skynet.newservice(name, ...)
		local handle, err = launcher_call("skynet.newservice", "LAUNCH", "snlua", name, ...)
		if not handle then
			error(string.format("skynet.newservice %s: %s", tostring(name), tostring(err)), 2)
		end
		return handle
	end

	local function service_mgr_call(what, ...)
		if c.query(".service") == nil then
			error(what .. ": no service manager (.service) is running; start the node through bootstrap", 3)
		end
		return skynet.call(".service", "lua", ...)
	end

	-- uniqueservice([global,] name, ...): one service of that name per node,
	-- launched by the first caller; later (and concurrent) callers get the same
	-- handle. `global` (skynet's cluster-wide flag) is accepted and ignored: a
	-- lunet node is its own world.
	function skynet.uniqueservice(global, ...)
		if global == true then
			return skynet.uniqueservice(...)
		end
		local name = global
		local handle, err = service_mgr_call("skynet.uniqueservice", "LAUNCH", name, ...)
		if not handle then
			error(string.format("skynet.uniqueservice %s: %s", tostring(name), tostring(err)), 2)
		end
		return handle
	end

	-- queryservice([global,] name): the handle of unique service `name`; waits
	-- until some caller's uniqueservice has launched it (as in skynet).
	function skynet.queryservice(global, ...)
		if global == true then
			return skynet.queryservice(...)
		end
		local name = global
		local handle, err = service_mgr_call("skynet.queryservice", "QUERY", name)
		if not handle then
			error(string.format("skynet.queryservice %s: %s", tostring(name), tostring(err)), 2)
		end
		return handle
	end
end
