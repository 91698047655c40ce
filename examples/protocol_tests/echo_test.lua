-- Protocol tests of examples/echo: every byte a client sends comes back.
--   lunet test examples/protocol_tests/echo_test.lua
local socket = require "skynet.socket"
local test = require "lunet.test"
local support = require "support"

test.timeout(3)

local port
test.setup(function()
	if not port then
		port = select(2, support.start("echo"))
	end
end)

test.case("echoes what a client sends", function()
	local id = test.connect("127.0.0.1", port)
	socket.write(id, "hello")
	test.eq(socket.read(id, 5), "hello")
	socket.write(id, "line\n")
	test.eq(socket.readline(id), "line")
end)

test.case("echoes a large payload whole and in order", function()
	local id = test.connect("127.0.0.1", port)
	local parts = {}
	for i = 1, 20000 do
		parts[i] = string.format("%05d|", i)
	end
	local payload = table.concat(parts) -- 120,000 bytes
	socket.write(id, payload)
	test.eq(socket.read(id, #payload), payload)
end)

test.case("serves clients independently", function()
	local clients = {}
	for i = 1, 5 do
		clients[i] = test.connect("127.0.0.1", port)
	end
	-- Written in reverse order; each gets its own bytes back.
	for i = 5, 1, -1 do
		socket.write(clients[i], "client " .. i .. "\n")
	end
	for i = 1, 5 do
		test.eq(socket.readline(clients[i]), "client " .. i)
	end
end)

test.case("a client's close does not disturb the others", function()
	local a = test.connect("127.0.0.1", port)
	local b = test.connect("127.0.0.1", port)
	socket.write(a, "from a")
	test.eq(socket.read(a, 6), "from a")
	socket.close(a)
	socket.write(b, "from b")
	test.eq(socket.read(b, 6), "from b")
end)
