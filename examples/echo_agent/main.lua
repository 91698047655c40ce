-- The echo_agent example: an echo server with one service per connection.
--
--   lunet run examples/echo_agent/config.lua [--set port=9001]
--
-- This service only listens. For each accepted connection it launches an
-- `agent` service (agent.lua) and hands it the socket id; the agent starts
-- the socket, echoes until the client closes its side, closes and exits.
-- A connection's state lives and dies with its own service, as in skynet's
-- watchdog/agent servers.
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
	local host = skynet.getenv("host") or "127.0.0.1"
	local port = tonumber(skynet.getenv("port") or 7001)
	local id, addr, bound = socket.listen(host, port)
	skynet.error(string.format("echo_agent: listening on %s:%d", addr, bound))
	socket.start(id, function(client, from)
		-- Each socket message runs in its own task, so waiting here for the
		-- agent to start does not hold up other accepts.
		local ok, err = pcall(skynet.newservice, "agent", client, from)
		if not ok then
			skynet.error(string.format("echo_agent: no agent for %s: %s", from, err))
			socket.close_fd(client)
		end
	end)
end)
