-- service_mgr: one service per name (skynet's service_mgr), registered as
-- `.service` by bootstrap. Commands (protocol "lua"), each answering
-- `handle` or `nil, message`:
--   LAUNCH name ...     the service named `name`, launched with newservice on the
--                       first call; concurrent callers wait for that launch.
--   QUERY name          the service named `name`; waits until a LAUNCH has
--                       launched it (skynet's queryservice blocks the same way).
--   NEW name code ...   skynet.service.new: `name` is launched once as the
--                       shipped service_cell running `code` (hex of a dumped
--                       function) with the arguments.
--   QUERY_NEW name      the service.new service `name` (waits for it).
--   CLOSE_NEW name      kills the service.new service `name` and forgets it;
--                       answers true.
--   LIST                { [name] = ":0000000a" or "launching" }.
-- A failed launch is not remembered: its waiters get the error and the next
-- LAUNCH tries again (skynet keeps the error forever).

local skynet = require "skynet"
require "skynet.manager"

-- key -> handle, or { waiters } while launching
local services = {}

local function wait_for(key)
	local entry = services[key]
	if type(entry) == "number" then
		return entry
	end
	if entry == nil then
		entry = { launching = false }
		services[key] = entry
	end
	local co = coroutine.running()
	entry[#entry + 1] = co
	skynet.wait(co)
	local result = entry.result
	return result[1], result[2]
end

local function finish(key, entry, handle, err)
	if handle then
		services[key] = handle
	else
		services[key] = nil
	end
	entry.result = { handle, err }
	for _, co in ipairs(entry) do
		skynet.wakeup(co)
	end
end

local function unique(key, launch)
	local entry = services[key]
	if type(entry) == "number" then
		return entry
	end
	if entry and entry.launching then
		return wait_for(key)
	end
	entry = entry or {}
	entry.launching = true
	services[key] = entry
	local ok, handle = pcall(launch)
	if ok then
		finish(key, entry, handle)
		return handle
	end
	local err = tostring(handle)
	finish(key, entry, nil, err)
	return nil, err
end

local command = {}

function command.LAUNCH(name, ...)
	local args = table.pack(...)
	return unique(name, function()
		return skynet.newservice(name, table.unpack(args, 1, args.n))
	end)
end

function command.QUERY(name)
	return wait_for(name)
end

local function new_key(name)
	return "service.new:" .. name
end

function command.NEW(name, code, ...)
	local args = table.pack(...)
	return unique(new_key(name), function()
		return skynet.newservice("service_cell", name, code, table.unpack(args, 1, args.n))
	end)
end

function command.QUERY_NEW(name)
	return wait_for(new_key(name))
end

function command.CLOSE_NEW(name)
	local key = new_key(name)
	local entry = services[key]
	if type(entry) == "number" then
		services[key] = nil
		skynet.kill(entry)
	end
	return true
end

function command.LIST()
	local result = {}
	for key, entry in pairs(services) do
		result[key] = type(entry) == "number" and skynet.address(entry) or "launching"
	end
	return result
end

skynet.start(function()
	-- A system service: it does not keep the node running.
	require("skynet.core").daemon()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = command[cmd]
		if f == nil then
			error("service_mgr: unknown command " .. tostring(cmd))
		end
		skynet.retpack(f(...))
	end)
end)
