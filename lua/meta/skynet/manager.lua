---@meta skynet.manager

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.manager`
-- (lua/skynet/manager.lua): managing services. The module adds these
-- functions to the `skynet` table and returns it, so both
-- `local skynet = require "skynet.manager"` and skynet's idiom
-- `local skynet = require "skynet"; require "skynet.manager"` work. They are
-- annotated on the `skynet` class itself (an editor then offers them even
-- where skynet.manager was not required: the price of the idiom).
-- Definitions only: lunet never loads this file.
-- Only local names (".name") exist in lunet: a node is its own world.

---@class skynet
local skynet = {}

---Kills a service (a handle, ":%08x" or ".name"); the launcher forgets it.
---@param addr skynet.address
function skynet.kill(addr) end

---Stops the node: every service is killed and `lunet run` exits.
function skynet.abort() end

---Interrupts the message service `addr` is stuck on (as the monitor does
---after the config's limit): an error is raised in its handler, and it lives
---on. Returns false if there is no such service.
---@param addr skynet.address
---@return boolean
function skynet.signal(addr) end

---Names this service (a local name, ".name").
---@param name string
function skynet.register(name) end

---Names service `handle` (a local name, ".name"; raises otherwise).
---@param name string
---@param handle skynet.address
function skynet.name(name, handle) end

---Sets the service told of every exit: it gets a "client" message (empty,
---session 0) whose source is the service that exited. With `query` true,
---only returns the current one. Returns the monitor's handle, or nil.
---@param service? skynet.address
---@param query? boolean
---@return integer? monitor
function skynet.monitor(service, query) end

---`skynet.start(start_func)`, and messages of type `k` are dispatched as type
---`map[k]` (types as numbers).
---@param map table<integer, integer>
---@param start_func async fun()
function skynet.forward_type(map, start_func) end

---`skynet.start(start_func)`, and every message goes through
---`f(ptype, msg, sz, session, source)` first, which returns the (possibly
---changed) five values.
---@param f fun(ptype: integer, msg: string|lightuserdata, sz: integer, session: integer, source: integer): integer, string|lightuserdata, integer, integer, integer
---@param start_func async fun()
function skynet.filter(f, start_func) end

return skynet
