-- launcher: newservice's bookkeeping (skynet's launcher service).
--
-- Registered as `.launcher` by bootstrap. Commands (protocol "lua"):
--   LAUNCH "snlua" name ...  starts Lua service `name` with the arguments and
--                            answers once its start function has finished:
--                            `handle`, or `nil, message` if its code could not
--                            be loaded or its start function raised.
--   LAUNCHOK / ERROR msg     sent by a service (skynet.start) when its start
--                            function returned / raised.
--   REMOVE handle kill       sent by skynet.exit (kill=false) and skynet.kill
--                            (kill=true): forget the service; a LAUNCH still
--                            waiting on it is answered (the handle if it exited
--                            by itself, `nil, "killed"` if it was killed).
--   LIST                     { [":0000000a"] = "snlua name args" } of the
--                            services it launched that are still alive.
--   STAT / MEM / GC          asks each of them (debug protocol STAT / MEM / GC)
--                            and answers { [address] = result }; a service that
--                            does not answer appears with its error.
--   KILL addr                kills a service and answers { [address] = what }.
--   SIGNAL addr              interrupts the message it is stuck on
--                            (skynet.signal); answers whether it exists.
-- Services started some other way (from Rust, or skynet.launch) are not listed.

local skynet = require "skynet"
require "skynet.manager"

local services = {}   -- handle -> "snlua name args"
local pending = {}    -- handle -> response function of the LAUNCH waiting for it

local command = {}

local function answer(handle, ...)
	local response = pending[handle]
	if response then
		pending[handle] = nil
		response(true, ...)
	end
end

function command.LAUNCH(_, service_type, name, ...)
	local args = table.pack(...)
	local handle, err = skynet.launch(service_type, name, ...)
	if not handle then
		skynet.retpack(nil, err)
		return
	end
	local parts = { service_type, name }
	for i = 1, args.n do
		parts[#parts + 1] = tostring(args[i])
	end
	services[handle] = table.concat(parts, " ")
	pending[handle] = skynet.response()
end

function command.LAUNCHOK(source)
	answer(source, source)
end

function command.ERROR(source, message)
	services[source] = nil
	answer(source, nil, message or "start failed")
end

function command.REMOVE(_, handle, kill)
	services[handle] = nil
	if kill then
		answer(handle, nil, "killed while starting")
	else
		answer(handle, handle)
	end
end

local function list()
	local result = {}
	for handle, desc in pairs(services) do
		result[skynet.address(handle)] = desc
	end
	return result
end

function command.LIST()
	skynet.retpack(list())
end

local function ask_all(cmd)
	local result = {}
	for handle in pairs(services) do
		local ok, value = pcall(skynet.call, handle, "debug", cmd)
		if ok then
			result[skynet.address(handle)] = value
		else
			result[skynet.address(handle)] = "error: " .. tostring(value)
		end
	end
	return result
end

function command.STAT()
	skynet.retpack(ask_all("STAT"))
end

function command.MEM()
	local result = {}
	for addr, value in pairs(ask_all("MEM")) do
		if type(value) == "number" then
			result[addr] = string.format("%.2f Kb (%s)", value, services[tonumber(addr:sub(2), 16)] or "")
		else
			result[addr] = value
		end
	end
	skynet.retpack(result)
end

function command.GC()
	for handle in pairs(services) do
		skynet.send(handle, "debug", "GC")
	end
	command.MEM()
end

function command.KILL(_, addr)
	local handle = addr
	if type(addr) == "string" then
		handle = addr:sub(1, 1) == ":" and tonumber(addr:sub(2), 16) or skynet.localname(addr)
	end
	if not handle then
		skynet.retpack({})
		return
	end
	local desc = services[handle] or "unknown"
	skynet.kill(handle)
	skynet.retpack({ [skynet.address(handle)] = desc })
end

function command.SIGNAL(_, addr)
	skynet.retpack(skynet.signal(addr))
end

skynet.start(function()
	-- A system service: it does not keep the node running.
	require("skynet.core").daemon()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = command[cmd]
		if f == nil then
			error("launcher: unknown command " .. tostring(cmd))
		end
		f(source, ...)
	end)
end)
