-- Protocol tests of examples/gameroom: 2-byte length-framed messages through
-- the gate, an agent per connection, rooms.
--   lunet test examples/protocol_tests/gameroom_test.lua
local socket = require "skynet.socket"
local netpack = require "skynet.netpack"
local test = require "lunet.test"
local support = require "support"

test.timeout(3)

local port
test.setup(function()
	if not port then
		port = select(2, support.start("gameroom"))
	end
end)

local function send(id, text)
	socket.write(id, netpack.pack(text))
end

-- The next frame, or false if the connection closed first.
local function recv(id)
	local head = socket.read(id, 2)
	if not head then
		return false
	end
	local n = string.unpack(">I2", head)
	if n == 0 then
		return ""
	end
	return socket.read(id, n)
end

-- A connected player: its socket and guest name.
local function player()
	local id = test.connect("127.0.0.1", port)
	local guest = test.match(recv(id), "^welcome (guest%d+)$")
	return id, guest
end

local function named(name, room)
	local id = player()
	send(id, "name " .. name)
	test.eq(recv(id), "ok name " .. name)
	if room then
		send(id, "join " .. room)
		test.match(recv(id), "^ok join " .. room .. ": ")
	end
	return id
end

test.case("a player is welcomed", function()
	player()
end)

test.case("join lists who is there, and the others are told", function()
	local ann = named("ann")
	send(ann, "join arena")
	test.eq(recv(ann), "ok join arena: ann")
	local ben = named("ben")
	send(ben, "join arena")
	test.eq(recv(ben), "ok join arena: ann, ben")
	test.eq(recv(ann), "* ben joined arena")
end)

test.case("say reaches everyone in the room", function()
	local cat = named("cat", "den")
	local dan = named("dan", "den")
	test.eq(recv(cat), "* dan joined den")
	send(dan, "say hello den")
	test.eq(recv(dan), "[den] dan: hello den")
	test.eq(recv(cat), "[den] dan: hello den")
end)

test.case("errors are answered, not fatal", function()
	local id = named("eve")
	send(id, "dance")
	test.eq(recv(id), "error unknown command: dance")
	send(id, "say anyone?")
	test.eq(recv(id), "error join a room first")
	send(id, "leave")
	test.eq(recv(id), "error not in a room")
	send(id, "name two words")
	test.eq(recv(id), "error a name is one word")
end)

test.case("quit says bye and closes; the room is told", function()
	local fay = named("fay", "yard")
	local gus = named("gus", "yard")
	test.eq(recv(fay), "* gus joined yard")
	send(gus, "quit")
	test.eq(recv(gus), "bye")
	test.eq(recv(gus), false, "the server closed the connection")
	test.eq(recv(fay), "* gus left yard")
end)

test.case("a player that disconnects leaves its room", function()
	local hal = named("hal", "cave")
	local ida = named("ida", "cave")
	test.eq(recv(hal), "* ida joined cave")
	socket.close(ida)
	test.eq(recv(hal), "* ida left cave")
end)
