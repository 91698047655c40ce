---@meta skynet.coroutine

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.coroutine`
-- (lua/skynet/coroutine.lua): coroutines for user code inside a service.
-- Definitions only: lunet never loads this file.
--
-- Plain Lua coroutines cannot call skynet.call, sleep or wait (those yield
-- to the scheduler). A coroutine made here can: skynet's yields inside it
-- are passed up to the service's task, and when the response comes the
-- coroutine goes on where it stopped. Meanwhile it is "blocked": `status`
-- says so and `resume` refuses it. Coroutines not made here are handled as
-- plain coroutines.

---@class skynet.coroutine
local M = {}

---A new coroutine running `f` (which may call skynet.call, sleep, wait).
---@param f async fun(...: any): ...
---@return thread
function M.create(f) end

---Resumes `co` (as coroutine.resume). If `co` calls, sleeps or waits in
---skynet, the calling coroutine is suspended with it until `co` yields or
---returns. Returns false and a message for a coroutine blocked in skynet.
---@async
---@param co thread
---@param ... any
---@return boolean ok
---@return any ...
function M.resume(co, ...) end

---Yields to whoever resumed the running coroutine (skynet's own yields are
---told apart and passed up).
---@async
---@param ... any
---@return any ...
function M.yield(...) end

---coroutine.status, plus "blocked" for a coroutine waiting in skynet (a
---call, sleep or wait).
---@param co thread
---@return "running"|"suspended"|"normal"|"dead"|"blocked"
function M.status(co) end

---The running coroutine and whether it is the main one (coroutine.running).
---@return thread running
---@return boolean ismain
function M.running() end

---Whether the running coroutine may call `skynet.coroutine.yield`: only in a
---coroutine made here (a service's task belongs to the scheduler).
---@return boolean
function M.isyieldable() end

---Makes a coroutine running `f` (as `create`) and returns a function that
---resumes it, returning what it yields or returns; its errors are raised.
---@param f async fun(...: any): ...
---@return async fun(...: any): ...
function M.wrap(f) end

---Closes `co` (coroutine.close); refuses a coroutine blocked in skynet.
---@param co thread
---@return boolean ok
---@return any err
function M.close(co) end

---`co` (default: the running coroutine) and whether it is a service task
---rather than a coroutine made here.
---@param co? thread
---@return thread co
---@return boolean is_task
function M.thread(co) end

return M
