---@meta skynet.queue

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.queue`
-- (lua/skynet/queue.lua): critical sections for the coroutines of one
-- service. Definitions only: lunet never loads this file.
--
--   local queue = require "skynet.queue"
--   local cs = queue()
--   cs(f, ...)   -- runs f(...) and returns its results

---A critical section made by `queue()`. `cs(f, ...)` runs `f(...)` and
---returns its results. Calls through one queue run one at a time, in the
---order they were made: a coroutine that calls it while another is inside
---(suspended in a call or a sleep) is suspended until its turn. The
---coroutine inside may call it again (it enters at once). An error in `f`
---releases the queue and is raised again, with `f`'s traceback.
---@alias skynet.queue.cs async fun(f: (async fun(...): ...), ...): ...

---Makes a new critical section.
---@type fun(): skynet.queue.cs
local queue

return queue
