-- A case blocked in socket.read on a peer that never answers times out; its
-- test.connect socket is closed (the peer sees the close) and the next case
-- runs.
local skynet = require "skynet"
local socket = require "skynet.socket"
local test = require "lunet.test"

test.timeout(0.5)

local port
local closed = 0

test.setup(function()
	if port then
		return
	end
	local id, _, bound = socket.listen("127.0.0.1", 0)
	port = bound
	socket.start(id, function(conn)
		socket.start(conn)
		-- Never answers; sees the close.
		while socket.read(conn) do
		end
		closed = closed + 1
		socket.close(conn)
	end)
end)

test.case("waits for a reply that never comes", function()
	local id = test.connect("127.0.0.1", port)
	socket.write(id, "hello?\n")
	socket.read(id) -- [read]
end)

test.case("runs after the timeout", function()
	for _ = 1, 100 do
		if closed == 1 then
			break
		end
		skynet.sleep(1)
	end
	test.eq(closed, 1, "the timed-out case's connection was closed")
end)
