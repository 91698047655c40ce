-- The agent of the echo_agent example: serves one connection, then exits.
--
-- Launched by main.lua as skynet.newservice("agent", id, addr) with the id of
-- an accepted socket that no service has started yet.
local skynet = require "skynet"
local socket = require "skynet.socket"

local id, addr = ...
id = tonumber(id)

local function serve()
	if not socket.start(id) then
		skynet.error(string.format("agent: %s closed before it could be served", addr))
		skynet.exit()
	end
	skynet.error(string.format("agent: serving %s", addr))
	while true do
		local data = socket.read(id)
		if not data then
			break
		end
		socket.write(id, data)
	end
	-- The client closed its side: what was echoed is flushed, then the socket
	-- closes. Then this service has nothing left to do.
	socket.close(id)
	skynet.error(string.format("agent: %s done, exiting", addr))
	skynet.exit()
end

skynet.start(function()
	-- Serve in a task of its own, so the start function returns and the
	-- launcher answers main's newservice at once.
	skynet.fork(serve)
end)
