-- Protocol tests of examples/chat: names, rooms, broadcasts, /quit, and a
-- client that vanishes.
--   lunet test examples/protocol_tests/chat_test.lua
local socket = require "skynet.socket"
local test = require "lunet.test"
local support = require "support"

test.timeout(3)

local port
test.setup(function()
	if not port then
		port = select(2, support.start("chat"))
	end
end)

-- A connected client: its socket, its welcome line read.
local function client()
	local id = test.connect("127.0.0.1", port)
	local welcome = socket.readline(id)
	local guest = test.match(welcome, "^%* welcome, (guest%d+): ")
	return id, guest
end

local function say(id, line)
	socket.write(id, line .. "\n")
end

local function hear(id)
	return socket.readline(id)
end

-- Takes `name` and enters `room`: returns the socket.
local function enter(name, room)
	local id, guest = client()
	say(id, "/nick " .. name)
	test.eq(hear(id), string.format("* %s is now %s", guest, name))
	say(id, "/join " .. room)
	test.eq(hear(id), string.format("* %s joined %s", name, room))
	return id
end

test.case("a client is welcomed with a guest name", function()
	local _, guest = client()
	test.match(guest, "^guest%d+$")
end)

test.case("what is said in a room reaches everyone in it", function()
	local alice = enter("alice", "lobby")
	local bob = enter("bob", "lobby")
	test.eq(hear(alice), "* bob joined lobby")
	say(alice, "hi bob")
	test.eq(hear(alice), "[lobby] alice: hi bob")
	test.eq(hear(bob), "[lobby] alice: hi bob")
	say(bob, "/who")
	test.eq(hear(bob), "* in lobby: alice, bob")
end)

test.case("rooms are separate", function()
	local carol = enter("carol", "red")
	local dave = enter("dave", "blue")
	say(carol, "only red hears this")
	test.eq(hear(carol), "[red] carol: only red hears this")
	say(dave, "only blue hears this")
	test.eq(hear(dave), "[blue] dave: only blue hears this")
end)

test.case("a taken name and a bad command are refused", function()
	local erin = enter("erin", "green")
	local id = client()
	say(id, "/nick erin")
	test.eq(hear(id), "* name erin is taken")
	say(id, "/dance")
	test.match(hear(id), "^%* unknown command /dance")
	say(erin, "/leave")
	test.eq(hear(erin), "* erin left green")
end)

test.case("/quit closes the connection and the room is told", function()
	local frank = enter("frank", "hall")
	local gina = enter("gina", "hall")
	test.eq(hear(frank), "* gina joined hall")
	say(gina, "/quit")
	local line, rest = hear(gina)
	test.eq(line, false, "gina's connection is closed")
	test.eq(rest, "")
	test.eq(hear(frank), "* gina left hall")
end)

test.case("a client that vanishes leaves its room", function()
	local hank = enter("hank", "attic")
	local ivy = enter("ivy", "attic")
	test.eq(hear(hank), "* ivy joined attic")
	socket.close(ivy)
	test.eq(hear(hank), "* ivy left attic")
end)
