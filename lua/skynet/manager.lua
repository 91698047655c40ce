-- skynet.manager: managing services (skynet's skynet.manager). Adds to and
-- returns the `skynet` table:
--   launch("snlua", name, ...) -> handle | nil, message   (defined in skynet.lua:
--       it waits on a session; returns once the service's code has loaded)
--   kill(addr)            kills a service (handle or ".name"); the launcher
--                         forgets it
--   abort()               stops the node: every service is killed and
--                         `lunet run` exits
--   register(".name")     names this service
--   name(".name", addr)   names another service
--   monitor(addr[, query]) sets the service told of every exit: it gets a
--                         "client" message (empty, session 0) whose source is
--                         the service that exited; query=true only returns the
--                         current one
--   forward_type(map, start_func)  skynet.start, and messages of type `k` are
--                         dispatched as type `map[k]`
--   filter(f, start_func) skynet.start, and every message goes through
--                         f(ptype, msg, sz, session, source) first, which
--                         returns the (possibly changed) five values
--   signal(addr) -> bool  interrupts the message `addr` is stuck on (skynet's
--                         SIGNAL command; the monitor does the same after the
--                         config's limit): an error is raised in its handler,
--                         and it lives on. False if there is no such service.
-- Only local names (".name") exist in lunet: a node is its own world.

local skynet = require "skynet"
local c = require "skynet.core"

function skynet.kill(addr)
	if type(addr) == "number" then
		skynet.send(".launcher", "lua", "REMOVE", addr, true)
	elseif type(addr) == "string" and addr:sub(1, 1) == ":" then
		local handle = tonumber(addr:sub(2), 16)
		if handle then
			skynet.send(".launcher", "lua", "REMOVE", handle, true)
		end
	end
	c.kill(addr)
end

function skynet.abort()
	c.abort()
end

function skynet.signal(addr)
	return c.signal(addr)
end

function skynet.register(name)
	c.name(name, skynet.self())
end

function skynet.name(name, handle)
	c.name(name, handle)
end

function skynet.monitor(service, query)
	if query then
		return c.monitor()
	end
	return c.monitor(service)
end

function skynet.forward_type(map, start_func)
	skynet.start(start_func)
	local dispatch
	dispatch = c.callback(function(ptype, ...)
		return dispatch(map[ptype] or ptype, ...)
	end)
end

function skynet.filter(f, start_func)
	skynet.start(start_func)
	local dispatch
	dispatch = c.callback(function(...)
		return dispatch(f(...))
	end)
end

return skynet
