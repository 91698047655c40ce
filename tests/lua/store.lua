-- A service for call_test.lua: a key-value store with a few ways to answer.
--   set(k, v)       stores, answers nothing (used with skynet.send)
--   get(k) -> v
--   pair() -> 1, "two", { three = 3 }     several values
--   later(k) -> v   answers from another task, through skynet.response
--   fail()          raises: the caller gets an error
--   silent()        returns without answering: the caller gets an error
--   exit()          exits while the call is pending
local skynet = require "skynet"

local data = {}
local waiting = {}

local CMD = {}

function CMD.set(k, v)
	data[k] = v
	-- Someone waiting in `later` for k gets it now.
	for _, respond in ipairs(waiting[k] or {}) do
		respond(true, v)
	end
	waiting[k] = nil
end

function CMD.get(k)
	skynet.retpack(data[k])
end

function CMD.pair()
	skynet.retpack(1, "two", { three = 3 })
end

function CMD.later(k)
	if data[k] ~= nil then
		return skynet.retpack(data[k])
	end
	waiting[k] = waiting[k] or {}
	table.insert(waiting[k], skynet.response())
end

function CMD.fail()
	error("store: failing on purpose")
end

function CMD.silent() end

function CMD.exit()
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		CMD[cmd](...)
	end)
end)
