-- The chat example: a line-based chat server with names and rooms.
--
--   lunet run examples/chat/config.lua [--set port=9001]
--   nc 127.0.0.1 7002        (one terminal per user)
--
-- A client sends lines ("\n"-terminated; a trailing "\r" is ignored):
--   /nick NAME   take a name (letters, digits, _ and -; at most 32)
--   /join ROOM   enter a room (leaving the one you are in); rooms are made
--                on first join and go when empty
--   /leave       leave your room
--   /who         list the names in your room
--   /quit        disconnect
--   anything else is said to your room: everyone in it, you too, gets
--   "[ROOM] NAME: text".
-- The server answers with lines; notices start with "* ": everyone in a room
-- gets "* NAME joined ROOM", "* NAME left ROOM" (also when NAME disconnects)
-- and "* OLD is now NEW".
--
-- Two services: this one listens and runs one coroutine per connection,
-- reading lines and turning them into requests to `rooms` (rooms.lua), which
-- holds every name and room and writes what each client is told.
local skynet = require "skynet"
local socket = require "skynet.socket"

-- A client with more than this many bytes unread (e.g. a line that never
-- ends) is disconnected.
local MAX_UNREAD = 64 * 1024

-- The commands a client may send, each a request to `rooms` of that name.
local COMMANDS = { nick = true, join = true, leave = true, who = true }

local rooms

local function serve(id, addr)
	if not socket.start(id) then
		return
	end
	socket.limit(id, MAX_UNREAD)
	skynet.error(string.format("chat: %s connected", addr))
	skynet.call(rooms, "lua", "arrive", id)
	while true do
		local line = socket.readline(id)
		if not line then
			break
		end
		line = line:gsub("\r$", "")
		local cmd, arg = line:match("^/(%S+)%s*(.-)%s*$")
		if cmd == "quit" then
			break
		elseif COMMANDS[cmd] then
			skynet.call(rooms, "lua", cmd, id, arg)
		elseif cmd then
			socket.write(id, string.format("* unknown command /%s (try /nick NAME, /join ROOM, /leave, /who, /quit)\n", cmd))
		elseif line ~= "" then
			skynet.call(rooms, "lua", "say", id, line)
		end
	end
	skynet.call(rooms, "lua", "depart", id)
	socket.close(id)
	skynet.error(string.format("chat: %s disconnected", addr))
end

skynet.start(function()
	rooms = skynet.newservice("rooms")
	local host = skynet.getenv("host") or "127.0.0.1"
	local port = tonumber(skynet.getenv("port") or 7002)
	local id, addr, bound = socket.listen(host, port)
	skynet.error(string.format("chat: listening on %s:%d", addr, bound))
	socket.start(id, function(client, from)
		skynet.fork(serve, client, from)
	end)
end)
