-- The rooms service of the chat example: every name, every room, and what
-- each client is told.
--
-- main.lua calls it (protocol "lua") once per line a client sends, with the
-- client's socket id: arrive(id), nick(id, name), join(id, room), leave(id),
-- who(id), say(id, text), depart(id). Each answers once everything it
-- writes is queued on the sockets, so a client's lines are handled in order.
-- Writing to a socket another service reads is fine: socket.write needs only
-- the id.
local skynet = require "skynet"
local socket = require "skynet.socket"

local clients = {} -- socket id -> { name = ..., room = ... | nil }
local owners = {} -- name -> socket id
local rooms = {} -- room -> { [socket id] = true }
local guests = 0

local function tell(id, text)
	socket.write(id, text .. "\n")
end

local function tell_room(room, text)
	for id in pairs(rooms[room]) do
		tell(id, text)
	end
end

local function valid(word)
	return #word <= 32 and word:match("^[%w_%-]+$") ~= nil
end

-- Takes the client out of its room; the others there are told.
local function leave_room(id, client)
	local room = client.room
	local members = rooms[room]
	members[id] = nil
	client.room = nil
	if next(members) == nil then
		rooms[room] = nil
	else
		tell_room(room, string.format("* %s left %s", client.name, room))
	end
end

local command = {}

function command.arrive(id)
	local name
	repeat
		guests = guests + 1
		name = "guest" .. guests
	until owners[name] == nil
	clients[id] = { name = name }
	owners[name] = id
	tell(id, string.format("* welcome, %s: /nick NAME, /join ROOM, /leave, /who, /quit", name))
end

function command.nick(id, name)
	local client = clients[id]
	if not valid(name) then
		tell(id, "* usage: /nick NAME (letters, digits, _ and -; at most 32)")
		return
	end
	local owner = owners[name]
	if owner == id then
		tell(id, string.format("* you are %s already", name))
		return
	elseif owner then
		tell(id, string.format("* name %s is taken", name))
		return
	end
	local text = string.format("* %s is now %s", client.name, name)
	owners[client.name] = nil
	owners[name] = id
	client.name = name
	if client.room then
		tell_room(client.room, text)
	else
		tell(id, text)
	end
end

function command.join(id, room)
	local client = clients[id]
	if not valid(room) then
		tell(id, "* usage: /join ROOM (letters, digits, _ and -; at most 32)")
		return
	end
	if client.room == room then
		tell(id, string.format("* you are in %s already", room))
		return
	end
	if client.room then
		tell(id, string.format("* %s left %s", client.name, client.room))
		leave_room(id, client)
	end
	local members = rooms[room]
	if members == nil then
		members = {}
		rooms[room] = members
	end
	members[id] = true
	client.room = room
	tell_room(room, string.format("* %s joined %s", client.name, room))
end

function command.leave(id)
	local client = clients[id]
	if not client.room then
		tell(id, "* you are not in a room")
		return
	end
	tell(id, string.format("* %s left %s", client.name, client.room))
	leave_room(id, client)
end

function command.who(id)
	local client = clients[id]
	if not client.room then
		tell(id, "* you are not in a room")
		return
	end
	local names = {}
	for member in pairs(rooms[client.room]) do
		names[#names + 1] = clients[member].name
	end
	table.sort(names)
	tell(id, string.format("* in %s: %s", client.room, table.concat(names, ", ")))
end

function command.say(id, text)
	local client = clients[id]
	if not client.room then
		tell(id, "* you are not in a room: /join ROOM first")
		return
	end
	tell_room(client.room, string.format("[%s] %s: %s", client.room, client.name, text))
end

function command.depart(id)
	local client = clients[id]
	if client.room then
		leave_room(id, client)
	end
	owners[client.name] = nil
	clients[id] = nil
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		command[cmd](...)
		skynet.ret()
	end)
end)
