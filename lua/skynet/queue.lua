-- skynet.queue: critical sections for the coroutines of one service.
--
--   local queue = require "skynet.queue"
--   local cs = queue()
--   cs(f, ...)   -- runs f(...) and returns its results
--
-- Calls through one queue run one at a time, in the order they were made: a
-- coroutine that calls cs while another is inside (suspended in a call or a
-- sleep) waits its turn. The coroutine inside may call cs again (f calls a
-- function that also uses cs): it enters at once, and the queue is released
-- when its outermost call returns. An error in f releases the queue and is
-- raised again from cs, with f's traceback.
--
-- A coroutine is identified by coroutine.running(): a skynet.coroutine user
-- coroutine is a coroutine of its own, as in skynet.

local skynet = require "skynet"

local traceback = debug.traceback
local running = coroutine.running

return function()
	local owner -- the coroutine inside, or nil
	local depth = 0 -- how many cs calls of the owner are open
	local queue = {} -- coroutines waiting to enter, in order

	-- Hands the queue to the next waiter still alive (a waiter killed with
	-- skynet.killthread is not waiting any more: wakeup finds nothing).
	local function release()
		while true do
			owner = table.remove(queue, 1)
			if owner == nil or skynet.wakeup(owner) then
				return
			end
		end
	end

	local function leave(ok, ...)
		depth = depth - 1
		if depth == 0 then
			release()
		end
		if not ok then
			error((...), 0)
		end
		return ...
	end

	return function(f, ...)
		local co = running()
		if owner ~= nil and owner ~= co then
			queue[#queue + 1] = co
			skynet.wait(co)
			-- release() made us the owner before waking us.
		end
		owner = co
		depth = depth + 1
		return leave(xpcall(f, traceback, ...))
	end
end
