-- The game-room example: a gate, a watchdog, one agent per connection and a
-- room service.
--
-- Try it (from anywhere; the port is the config's, or --set port=N):
--
--   lunet run examples/gameroom/config.lua --set port=9001
--
-- then connect two or more clients. A message, either way, is one frame: a
-- 2-byte big-endian length, then that many bytes of text. For instance, with
-- Python:
--
--   import socket, struct, threading
--   s = socket.create_connection(("127.0.0.1", 9001))
--   def show():
--       while True:
--           head = s.recv(2, socket.MSG_WAITALL)
--           if len(head) < 2: break
--           print(s.recv(struct.unpack(">H", head)[0], socket.MSG_WAITALL).decode())
--   threading.Thread(target=show, daemon=True).start()
--   while True:
--       line = input().encode()
--       s.sendall(struct.pack(">H", len(line)) + line)
--
-- The protocol (client → server, then what comes back):
--   (on connect)   "welcome guestN"
--   name NAME      "ok name NAME"
--   join ROOM      "ok join ROOM: NAME1, NAME2, ..." (who is there, you last);
--                  the others in ROOM get "* NAME joined ROOM". Joining a room
--                  leaves the one you were in.
--   say TEXT       everyone in your room, you too, gets "[ROOM] NAME: TEXT"
--   leave          "ok leave ROOM"; the others get "* NAME left ROOM"
--   quit           "bye", then the server closes the connection
--   anything else  "error ..."
-- A client that disconnects leaves its room (the others get "* NAME left
-- ROOM") and its agent exits.
--
-- The pieces: main (this service) starts the room and the watchdog, which
-- opens the gate (services/gate.lua, shipped with lunet). For each new
-- connection the watchdog starts an agent (agent.lua), which has the gate
-- forward the connection's frames to it; the agent runs the commands, with
-- the room (room.lua) keeping who is in which room and broadcasting.

local skynet = require "skynet"

skynet.start(function()
	local room = skynet.newservice("room")
	local watchdog = skynet.newservice("watchdog", room)
	local addr, port = skynet.call(watchdog, "lua", "start", {
		host = skynet.getenv("host") or "127.0.0.1",
		port = tonumber(skynet.getenv("port") or 7100),
		maxclient = tonumber(skynet.getenv("maxclient") or 64),
		nodelay = true,
	})
	skynet.error(string.format("gameroom: listening on %s:%d", addr, port))
	skynet.exit()
end)
