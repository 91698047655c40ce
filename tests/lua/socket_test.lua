-- skynet.socket's read semantics against a listener in the same node, over
-- 127.0.0.1: read(n), read(), readline, readall, the peer's close, and close
-- waking a blocked reader.
--   lunet test tests/lua/socket_test.lua
local skynet = require "skynet"
local socket = require "skynet.socket"
local test = require "lunet.test"

test.timeout(2)

-- A listener whose accepted connections are handed to `serve(id)` (set per
-- case), in a task of their own.
local port
local serve

test.setup(function()
	if port then
		return
	end
	local id, _, bound = socket.listen("127.0.0.1", 0)
	port = bound
	socket.start(id, function(conn)
		socket.start(conn)
		serve(conn)
	end)
end)

test.case("read(n) returns exactly n bytes, read() what is there", function()
	serve = function(conn)
		socket.write(conn, "hello world")
	end
	local id = test.connect("127.0.0.1", port)
	test.eq(socket.read(id, 5), "hello")
	test.eq(socket.read(id, 1), " ")
	test.eq(socket.read(id), "world")
end)

test.case("readline splits on the separator, and keeps the rest", function()
	serve = function(conn)
		socket.write(conn, "one\ntwo\r\nthree|four")
		socket.close(conn)
	end
	local id = test.connect("127.0.0.1:" .. port)
	test.eq(socket.readline(id), "one")
	test.eq(socket.readline(id, "\r\n"), "two")
	test.eq(socket.readline(id, "|"), "three")
	local ok, rest = socket.readline(id)
	test.eq(ok, false, "no line before the close")
	test.eq(rest, "four")
end)

test.case("after the peer closes, read returns the rest then false", function()
	serve = function(conn)
		socket.write(conn, "abc")
		socket.close(conn)
	end
	local id = test.connect("127.0.0.1", port)
	local ok, rest = socket.read(id, 10)
	test.eq(ok, false)
	test.eq(rest, "abc")
	test.eq(socket.read(id), false)
end)

test.case("readall waits for the close and returns everything", function()
	serve = function(conn)
		for i = 1, 5 do
			socket.write(conn, tostring(i))
			skynet.sleep(1)
		end
		socket.close(conn)
	end
	local id = test.connect("127.0.0.1", port)
	test.eq(socket.readall(id), "12345")
end)

test.case("bytes written before close reach the peer", function()
	local got
	serve = function(conn)
		got = socket.readall(conn)
	end
	local id = test.connect("127.0.0.1", port)
	local big = string.rep("x", 200000)
	socket.write(id, big)
	socket.close(id)
	for _ = 1, 100 do
		if got then
			break
		end
		skynet.sleep(1)
	end
	test.eq(got and #got, #big)
end)

test.case("close wakes a reader blocked on the same socket", function()
	serve = function(conn)
		-- Says nothing; the client closes.
		socket.read(conn)
	end
	local id = test.connect("127.0.0.1", port)
	local result
	skynet.fork(function()
		result = table.pack(socket.read(id))
	end)
	skynet.sleep(1)
	socket.close(id)
	test.eq(result, { n = 2, false, "" })
	test.raises(function()
		socket.read(id)
	end, "not open")
end)

test.case("connecting to a closed port is an error naming it", function()
	local id, _, free = socket.listen("127.0.0.1", 0)
	socket.close(id)
	test.raises(function()
		test.connect("127.0.0.1", free)
	end, "test.connect: cannot connect to 127.0.0.1:" .. free)
end)
