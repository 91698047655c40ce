-- Drives an echo server this test did not start: any server speaking the
-- echo protocol at `target` (HOST:PORT), e.g. the echo example in another
-- process:
--
--   lunet run examples/echo/config.lua --set port=7000 &
--   lunet test examples/protocol_tests/external.lua --set target=127.0.0.1:7000
--
-- It is named without _test on purpose: `lunet test examples/protocol_tests`
-- (which starts its own servers) does not pick it up; run it by naming it.
-- Without --set target every case fails, saying how to pass it.
local skynet = require "skynet"
local socket = require "skynet.socket"
local test = require "lunet.test"

test.timeout(3)

local target = test.getenv("target")

test.setup(function()
	if not target then
		test.fail("no target: pass the server's address with --set target=HOST:PORT, e.g. "
			.. "lunet test examples/protocol_tests/external.lua --set target=127.0.0.1:7000")
	end
end)

test.case("round trip", function()
	local id = test.connect(target)
	socket.write(id, "ping\n")
	test.eq(socket.readline(id), "ping")
end)

test.case("pipelined lines come back in order", function()
	local id = test.connect(target)
	for i = 1, 100 do
		socket.write(id, "line " .. i .. "\n")
	end
	for i = 1, 100 do
		test.eq(socket.readline(id), "line " .. i)
	end
end)

test.case("a large payload comes back whole", function()
	local id = test.connect(target)
	local payload = string.rep("0123456789abcdef", 16384) -- 256 KiB
	socket.write(id, payload)
	test.eq(socket.read(id, #payload), payload)
end)

test.case("concurrent clients each get their own bytes", function()
	local done, results = 0, {}
	for i = 1, 10 do
		skynet.fork(function()
			local id = test.connect(target)
			local text = string.rep(string.char(64 + i), 1000)
			socket.write(id, text)
			results[i] = socket.read(id, #text) == text
			socket.close(id)
			done = done + 1
		end)
	end
	while done < 10 do
		skynet.sleep(1)
	end
	for i = 1, 10 do
		test.ok(results[i], "client " .. i)
	end
end)
