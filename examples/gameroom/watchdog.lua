-- The game room's watchdog: opens the gate, starts an agent for each new
-- connection and tells the agent when its client is gone.
--
-- Launched with the room service's handle. Commands ("lua"):
--   start(conf) -> addr, port   opens the gate with conf (see services/gate.lua)
--   socket(what, fd, ...)       what the gate reports
--   kick(fd)                    closes a client's connection

local skynet = require "skynet"

local room = tonumber((...))
local gate
-- fd -> the agent's handle, or true while it is being started
local agents = {}

local SOCKET = {}

function SOCKET.open(fd, addr)
	agents[fd] = true
	local agent = skynet.newservice("agent")
	if agents[fd] ~= true then
		-- The client went while the agent started.
		skynet.send(agent, "lua", "disconnect")
		return
	end
	agents[fd] = agent
	skynet.call(agent, "lua", "start", {
		gate = gate,
		fd = fd,
		addr = addr,
		room = room,
	})
end

local function gone(fd)
	local agent = agents[fd]
	agents[fd] = nil
	if type(agent) == "number" then
		skynet.send(agent, "lua", "disconnect")
	end
end

SOCKET.close = gone

function SOCKET.error(fd, reason)
	skynet.error(string.format("gameroom: connection %d failed: %s", fd, reason))
	gone(fd)
end

function SOCKET.warning(fd, kib)
	if kib > 0 then
		skynet.error(string.format("gameroom: %d KiB waiting to be sent to %d", kib, fd))
	end
end

function SOCKET.data(fd, msg)
	-- Only for connections without an agent; every connection has one.
	skynet.error(string.format("gameroom: unexpected frame from %d: %q", fd, msg))
end

local CMD = {}

function CMD.start(conf)
	return skynet.call(gate, "lua", "open", conf)
end

function CMD.socket(what, ...)
	SOCKET[what](...)
end

function CMD.kick(fd)
	skynet.call(gate, "lua", "kick", fd)
end

skynet.start(function()
	gate = skynet.newservice("gate")
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		if session == 0 then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
end)
