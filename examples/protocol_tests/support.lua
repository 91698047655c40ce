-- Helpers for the protocol tests in this directory (a module, not a test).
local skynet = require "skynet"
local socket = require "skynet.socket"

local support = {}

-- id -> address of every listening socket of the node.
local function listeners()
	local found = {}
	for _, s in ipairs(socket.netstat()) do
		if s.type == "LISTEN" then
			found[s.id] = s.address
		end
	end
	return found
end

-- Starts example `name` (examples/NAME/main.lua, see test_config.lua) and
-- returns its handle and the port it listens on: the examples take host and
-- port from the config (port 0 here), so the port is found as the listening
-- socket that appeared while it started.
function support.start(name, ...)
	local before = listeners()
	local handle = skynet.newservice(name, ...)
	for id, address in pairs(listeners()) do
		if not before[id] then
			return handle, tonumber(address:match(":(%d+)$"))
		end
	end
	error(string.format("support.start: example %s opened no listener", name), 2)
end

return support
