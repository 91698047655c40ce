---@meta skynet.service

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.service`
-- (lua/skynet/service.lua): services made from a Lua function. Bookkeeping is
-- in service_mgr (".service"); the code runs in the shipped service
-- `service_cell`. Definitions only: lunet never loads this file.

---@class skynet.service
local service = {}

---Launches, once per name, a service running `mainfunc(...)` (which calls
---`skynet.start` like any service); later calls return the same handle.
---`mainfunc` runs in a fresh VM: it may use globals and `require`, but no
---upvalues (that raises, naming the upvalue). Suspends the calling coroutine
---until the service has started; raises if it fails to start.
---@async
---@param name string
---@param mainfunc fun(...: any)
---@param ... any
---@return integer handle
function service.new(name, mainfunc, ...) end

---The handle of service `name` (made by `service.new`); suspends the calling
---coroutine until it exists.
---@async
---@param name string
---@return integer handle
function service.query(name) end

---Kills service `name`; the next `service.new` starts a fresh one.
---Suspends the calling coroutine until service_mgr answers (true).
---@async
---@param name string
---@return true
function service.close(name) end

return service
