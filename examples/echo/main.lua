-- The echo example: one service, one coroutine per connection.
--
--   lunet run examples/echo/config.lua [--set port=9001]
--
-- Listens on the config's host and port, and echoes every byte each client
-- sends until the client closes its side; then closes (what was echoed is
-- flushed first).
local skynet = require "skynet"
local socket = require "skynet.socket"

local function echo(id, addr)
	socket.start(id)
	while true do
		local data = socket.read(id)
		if not data then
			break
		end
		socket.write(id, data)
	end
	socket.close(id)
end

skynet.start(function()
	local host = skynet.getenv("host") or "127.0.0.1"
	local port = tonumber(skynet.getenv("port") or 7000)
	local id, addr, bound = socket.listen(host, port)
	skynet.error(string.format("echo: listening on %s:%d", addr, bound))
	socket.start(id, function(client, from)
		skynet.fork(echo, client, from)
	end)
end)
