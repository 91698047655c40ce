-- skynet.coroutine: coroutines for user code inside a service.
--
-- Plain Lua coroutines cannot call skynet.call, sleep or wait: those yield to
-- the skynet scheduler, and a plain coroutine would take that yield as its
-- own. A coroutine made here tells the two kinds of yield apart:
--   * skynet.coroutine.yield(...) yields to whoever resumed it, as usual;
--   * a yield of skynet's (a call, sleep, wait inside it) is passed up to the
--     service's task coroutine and on to the scheduler; when the response (or
--     timer, or wakeup) comes, the task is resumed, and it resumes the user
--     coroutine where it stopped. Meanwhile the user coroutine is "blocked":
--     status says so and resume refuses it.
--
-- The cooperation point with lua/skynet.lua: sessions wait on the task the
-- scheduler is running (its `running_thread`), not on coroutine.running(), so
-- the response resumes the task, whose pending resume here passes it down.
--
-- Functions: create, resume, yield, status, running, isyieldable, wrap,
-- close, thread. Coroutines not made here are handled as plain coroutines.

local coroutine_create = coroutine.create
local coroutine_resume = coroutine.resume
local coroutine_yield = coroutine.yield
local coroutine_status = coroutine.status
local coroutine_running = coroutine.running
local coroutine_close = coroutine.close
local select = select

local M = {}

-- Marks a user yield; skynet's yields never carry it.
local USER = setmetatable({}, { __name = "skynet.coroutine yield" })

-- Coroutines made here (weak keys): true, or "blocked" while a skynet yield of
-- theirs is passed up.
local ours = setmetatable({}, { __mode = "k" })

local step

-- The task was resumed with these values: pass them down to co.
local function pass_down(co, ...)
	ours[co] = true
	return step(co, coroutine_resume(co, ...))
end

-- co yielded for skynet: the task yields the same values to the scheduler.
local function pass_up(co, ...)
	ours[co] = "blocked"
	return pass_down(co, coroutine_yield(...))
end

-- What co's resume returned: an error, its end, a user yield, or skynet's yield.
function step(co, ok, ...)
	if not ok then
		return false, ...
	end
	if coroutine_status(co) == "dead" then
		return true, ...
	end
	if ... == USER then
		return true, select(2, ...)
	end
	return pass_up(co, ...)
end

function M.create(f)
	local co = coroutine_create(f)
	ours[co] = true
	return co
end

function M.resume(co, ...)
	local state = ours[co]
	if state == nil then
		return coroutine_resume(co, ...)
	end
	if state == "blocked" then
		return false, "cannot resume a coroutine blocked in skynet (waiting for a call, sleep or wait)"
	end
	return step(co, coroutine_resume(co, ...))
end

function M.yield(...)
	if ours[coroutine_running()] then
		return coroutine_yield(USER, ...)
	end
	return coroutine_yield(...)
end

function M.status(co)
	if ours[co] == "blocked" then
		return "blocked"
	end
	return coroutine_status(co)
end

M.running = coroutine_running

-- Whether the running coroutine may call skynet.coroutine.yield: only in a
-- coroutine made here (a service's task belongs to the scheduler).
function M.isyieldable()
	return ours[coroutine_running()] ~= nil
end

local function unwrap(ok, ...)
	if ok then
		return ...
	end
	error((...), 0)
end

function M.wrap(f)
	local co = M.create(f)
	return function(...)
		return unwrap(M.resume(co, ...))
	end
end

function M.close(co)
	if ours[co] == "blocked" then
		return false, "cannot close a coroutine blocked in skynet"
	end
	return coroutine_close(co)
end

-- thread([co]) -> co, is_task: whether co (default: the running coroutine) is
-- a service task rather than a coroutine made here.
function M.thread(co)
	co = co or coroutine_running()
	return co, ours[co] == nil
end

return M
