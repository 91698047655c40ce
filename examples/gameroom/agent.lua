-- The game room's agent: one per connection. It has the gate forward the
-- client's frames to it, runs each command in turn, and exits when the client
-- is gone (the watchdog sends "disconnect").

local skynet = require "skynet"
local queue = require "skynet.queue"
local netpack = require "skynet.netpack"
local driver = require "skynet.socketdriver"

local gate, fd, room
local name
local in_order = queue() -- commands run one at a time, as they came

local function send(text)
	driver.send(fd, netpack.pack(text))
end

local COMMAND = {}

function COMMAND.name(arg)
	if arg == "" or arg:find("%s") then
		return send("error a name is one word")
	end
	name = arg
	skynet.call(room, "lua", "rename", fd, name)
	send("ok name " .. name)
end

function COMMAND.join(arg)
	if arg == "" then
		return send("error join which room?")
	end
	local members = skynet.call(room, "lua", "join", fd, name, arg)
	send(string.format("ok join %s: %s", arg, table.concat(members, ", ")))
end

function COMMAND.say(arg)
	if not skynet.call(room, "lua", "say", fd, arg) then
		send("error join a room first")
	end
end

function COMMAND.leave()
	local left = skynet.call(room, "lua", "leave", fd)
	if left then
		send("ok leave " .. left)
	else
		send("error not in a room")
	end
end

function COMMAND.quit()
	send("bye")
	-- The gate flushes "bye", closes, and the watchdog tells us the client
	-- is gone.
	skynet.call(gate, "lua", "kick", fd)
end

local function run(text)
	local cmd, arg = text:match("^(%S+)%s*(.-)%s*$")
	local f = cmd and COMMAND[cmd]
	if f == nil then
		return send("error unknown command: " .. text)
	end
	f(arg)
end

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = skynet.tostring,
	dispatch = function(_, _, text)
		skynet.ignoreret() -- the session is the fd, not a request
		in_order(run, text)
	end,
}

local CMD = {}

function CMD.start(conf)
	gate, fd, room = conf.gate, conf.fd, conf.room
	name = "guest" .. fd
	-- Commands that come meanwhile wait until the client is welcomed.
	in_order(function()
		skynet.call(gate, "lua", "forward", fd)
		send("welcome " .. name)
	end)
end

function CMD.disconnect()
	in_order(function()
		skynet.call(room, "lua", "leave", fd)
	end)
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		if session == 0 then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
end)
