-- The game room's rooms: who is in which room, and the broadcasts. It writes
-- to the clients' connections itself (any service may write to a socket).
--
-- Commands ("lua" calls, by the agents; fd names the client):
--   join(fd, name, room) -> { names }   leaves the current room first
--   leave(fd) -> room | nil
--   say(fd, text) -> true | nil (not in a room)
--   rename(fd, name)

local skynet = require "skynet"
local netpack = require "skynet.netpack"
local driver = require "skynet.socketdriver"

-- fd -> { name, room }
local members = {}
-- room -> { fd... } in join order
local rooms = {}

local function send(fd, text)
	driver.send(fd, netpack.pack(text))
end

-- Sends text to everyone in room except `but`.
local function broadcast(room, text, but)
	for _, fd in ipairs(rooms[room] or {}) do
		if fd ~= but then
			send(fd, text)
		end
	end
end

local CMD = {}

function CMD.leave(fd)
	local m = members[fd]
	members[fd] = nil
	if m == nil then
		return nil
	end
	local list = rooms[m.room]
	for i, other in ipairs(list) do
		if other == fd then
			table.remove(list, i)
			break
		end
	end
	if #list == 0 then
		rooms[m.room] = nil
	end
	broadcast(m.room, string.format("* %s left %s", m.name, m.room))
	return m.room
end

function CMD.join(fd, name, room)
	CMD.leave(fd)
	broadcast(room, string.format("* %s joined %s", name, room))
	local list = rooms[room] or {}
	rooms[room] = list
	list[#list + 1] = fd
	members[fd] = { name = name, room = room }
	local names = {}
	for i, other in ipairs(list) do
		names[i] = members[other].name
	end
	return names
end

function CMD.say(fd, text)
	local m = members[fd]
	if m == nil then
		return nil
	end
	broadcast(m.room, string.format("[%s] %s: %s", m.room, m.name, text))
	return true
end

function CMD.rename(fd, name)
	local m = members[fd]
	if m then
		m.name = name
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		skynet.retpack(f(...))
	end)
end)
