-- skynet.service: services made from a Lua function (skynet's skynet.service).
--
--   service.new(name, mainfunc, ...) -> handle
--       Launches, once per name, a service running `mainfunc(...)` (which
--       calls skynet.start like any service); later calls return the same
--       handle. `mainfunc` runs in a fresh VM, so it may use globals and
--       `require`, but no upvalues (locals of the enclosing code): that is an
--       error naming the upvalue. Raises if the service fails to start.
--   service.query(name) -> handle   waits until service `name` exists.
--   service.close(name)             kills it; the next new starts a fresh one.
-- Bookkeeping is in service_mgr (`.service`); the code runs in the shipped
-- service `service_cell`.

local skynet = require "skynet"

local service = {}

local function hex(bytes)
	return (bytes:gsub(".", function(ch)
		return string.format("%02x", ch:byte())
	end))
end

local function check(mainfunc)
	for i = 1, math.huge do
		local name = debug.getupvalue(mainfunc, i)
		if name == nil then
			break
		end
		if name ~= "_ENV" then
			error(string.format("skynet.service.new: the main function may not use upvalues (uses %q)", name), 3)
		end
	end
end

function service.new(name, mainfunc, ...)
	assert(type(name) == "string", "skynet.service.new: name must be a string")
	assert(type(mainfunc) == "function", "skynet.service.new: main function expected")
	check(mainfunc)
	local handle, err = skynet.call(".service", "lua", "NEW", name, hex(string.dump(mainfunc)), ...)
	if not handle then
		error(string.format("skynet.service.new %s: %s", name, tostring(err)), 2)
	end
	return handle
end

function service.query(name)
	local handle, err = skynet.call(".service", "lua", "QUERY_NEW", name)
	if not handle then
		error(string.format("skynet.service.query %s: %s", name, tostring(err)), 2)
	end
	return handle
end

function service.close(name)
	return skynet.call(".service", "lua", "CLOSE_NEW", name)
end

return service
