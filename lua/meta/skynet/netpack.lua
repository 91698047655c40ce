---@meta skynet.netpack

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.netpack` (native,
-- src/lua/netpack.rs): 2-byte big-endian length framing for gate-style
-- services. Definitions only: lunet never loads this file.
--
-- A frame on the wire is a 2-byte big-endian length n, then n bytes (0 to
-- 65535). A gate-style service registers its own "socket" protocol whose
-- unpack is `netpack.filter(queue, msg, sz)`, keeps the queue it returns, and
-- dispatches on the event name (see services/gate.lua):
--
--   skynet.register_protocol {
--       name = "socket", id = skynet.PTYPE_SOCKET, inline = true,
--       unpack = function(msg, sz) return netpack.filter(queue, msg, sz) end,
--       dispatch = function(_, _, q, what, ...) queue = q; ... end,
--   }
--
-- Differences from skynet: frames are Lua strings, not C pointers to free;
-- `pack` returns one string; "more" means at least two frames completed in
-- this event (or frames were still queued from an earlier one).

---The frames being received on many sockets, and complete frames not yet
---popped (an opaque userdata made by `filter`).
---@class skynet.netpack.queue: userdata

---What happened, as `filter` reports it after the queue:
---"data", fd, msg, sz (exactly one frame completed);
---"more" (several did: take them with `pop`);
---"open", fd, "ip:port" (a new connection on a listener);
---"close", fd; "error", fd, reason (a partial frame is dropped);
---"warning", fd, kib (kib KiB wait to be sent; 0: drained).
---@alias skynet.netpack.event "data"|"more"|"open"|"close"|"error"|"warning"

---@class skynet.netpack
local netpack = {}

---`s` with its 2-byte length header. Raises for a message over 65535 bytes.
---@param s string
---@return string frame
function netpack.pack(s) end

---Takes the socket event `msg` stands for (the protocol's unpack argument),
---cuts the bytes of Data events into frames, and tells what happened:
---`queue` alone when nothing did (no frame completed; a Connect or UDP
---event); else `queue, event, ...` (see `skynet.netpack.event`). `queue` is
---what the previous call returned (nil at first: a new one is made); `sz` is
---ignored.
---@param queue skynet.netpack.queue?
---@param msg lightuserdata
---@param sz? integer
---@return skynet.netpack.queue queue
---@return skynet.netpack.event? event
---@return any ...
function netpack.filter(queue, msg, sz) end

---The oldest queued frame: its socket, the frame, its size; nothing when
---the queue holds none (or is nil).
---`for fd, msg, sz in netpack.pop, queue do ... end` works.
---@param queue skynet.netpack.queue?
---@return integer? fd
---@return string? msg
---@return integer? sz
function netpack.pop(queue) end

---A frame as a string (`msg` itself, or its first `sz` bytes if smaller; nil
---gives "").
---@param msg string?
---@param sz? integer
---@return string
function netpack.tostring(msg, sz) end

---Drops every partial and queued frame.
---@param queue skynet.netpack.queue?
function netpack.clear(queue) end

return netpack
