---@meta skynet.socket

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.socket`
-- (lua/skynet/socket.lua): TCP and UDP for Lua services, with skynet's API.
-- Definitions only: lunet never loads this file.
--
-- Functions marked `---@async` suspend the calling coroutine until the socket
-- event they need arrives; the service goes on handling other messages.
-- One reader coroutine per socket at a time (a second one raises). Received
-- bytes wait in a per-socket buffer; with more than `BUFFER_LIMIT` bytes
-- unread and no reader waiting, the socket is paused until a read needs more.
--
-- Differences from skynet, on purpose: `listen` binds at once and returns id,
-- addr, port; an error on a connected socket (a failed write) is logged and
-- reading goes on until the peer's FIN; `block` returns at once if bytes are
-- buffered; UDP addresses are text "ip:port" ("[ip]:port" for IPv6);
-- bind/stdin (wrapping an OS fd) are not provided.

---A socket as `socket.netstat` lists it.
---@class skynet.socket.stat
---@field id integer
---@field type "LISTEN"|"TCP"|"UDP"|"BIND"
---Where it is in its life.
---@field state skynet.socket.state
---The socket's owner service, as `":%08x"`.
---@field owner string
---The bound address (listeners, UDP) or the peer (TCP), `ip:port`, when known.
---@field address? string
---Bytes read from it.
---@field read integer
---Bytes written to it.
---@field write integer
---Bytes queued for sending.
---@field wbuffer integer
---Centiseconds since it last read something (nil: never).
---@field rtime? integer
---Centiseconds since it last wrote something (nil: never).
---@field wtime? integer

---@alias skynet.socket.state
---| "connecting"
---| "accepted"
---| "open"
---| "half-close-read"
---| "half-close-write"
---| "closing"
---| "closed"
---| "listening"
---| "pending-listen"
---| "udp"

---@class skynet.socket
local socket = {}

---A socket is paused when more than this many bytes (128 KiB) wait unread.
socket.BUFFER_LIMIT = 131072

-- ----- opening -----

---Connects to `addr`:`port` (or one "host:port" argument) and suspends the
---calling coroutine until connected. Returns the socket id, or nil and why.
---@async
---@param addr string
---@param port integer
---@return integer? id
---@return string? err
---@overload async fun(address: string): integer?, string?
function socket.open(addr, port) end

---Listens on `host`:`port` (or one "host:port" argument; port 0 picks a
---free port). lunet binds at once, in the caller, and returns the id with
---the bound address and port; raises if it cannot bind. Call `socket.start`
---with an accept callback to accept connections.
---@param host string
---@param port integer
---@param backlog? integer default 1024
---@return integer id
---@return string addr the bound address
---@return integer port the bound port
---@overload fun(address: string): integer, string, integer
function socket.listen(host, port, backlog) end

---Takes ownership of socket `id` and starts it: an accepted connection (or
---one handed over with `socket.abandon`) starts reading; a listener starts
---accepting, calling `func(new_id, "ip:port")` in a new task for each
---connection (which must itself `socket.start` it). Suspends the calling
---coroutine until the start took effect; returns the id, or nil and why.
---@async
---@param id integer
---@param func? async fun(id: integer, addr: string)
---@return integer? id
---@return string? err
function socket.start(id, func) end

-- ----- reading -----

---With no `sz`: returns what is buffered, or suspends the calling coroutine
---until something arrives; after the peer closed, returns the rest, then
---false. With `sz`: returns exactly `sz` bytes, or false and the rest if the
---socket closes first. Raises if the socket is not open in this service or
---already has a reader.
---@async
---@param id integer
---@param sz? integer
---@return string|false data
---@return string? rest
function socket.read(id, sz) end

---Suspends the calling coroutine until the socket closes, then returns
---everything that came (false if nothing was left on a closed socket).
---@async
---@param id integer
---@return string|false data
function socket.readall(id) end

---Returns the next line without its separator (default "\n"), suspending
---the calling coroutine until one is buffered; false and the rest if the
---socket closes first.
---@async
---@param id integer
---@param sep? string
---@return string|false line
---@return string? rest
function socket.readline(id, sep) end

---Suspends the calling coroutine until bytes are buffered or the socket
---closes (lunet: returns at once if bytes are already buffered). Returns
---whether the socket is still open.
---@async
---@param id integer
---@return boolean open
function socket.block(id) end

-- ----- writing -----

---Queues `data` (a string, its first `sz` bytes if given; a table of
---strings, concatenated; a number as its text) for sending. Never blocks.
---Returns false once the socket is closed, closing or invalid.
---@param id integer
---@param data string|string[]|number
---@param sz? integer
---@return boolean ok
function socket.write(id, data, sz) end

---`socket.write` on the low-priority queue (sent after the high-priority
---one; packets never interleave).
---@param id integer
---@param data string|string[]|number
---@param sz? integer
---@return boolean ok
function socket.lwrite(id, data, sz) end

---`s` (1 to 4 bytes) read as a big-endian number, e.g. a length header.
---@param s string
---@return integer
function socket.header(s) end

-- ----- closing -----

---Closes the socket and suspends the calling coroutine until it is closed
---for this service. A reader blocked on it is woken first and sees the
---close; a read started after the close began returns at once. Bytes written
---before still reach the peer (the socket is flushed). A no-op for an id
---not open here.
---@async
---@param id integer
function socket.close(id) end

---Closes now, discarding unsent data. `socket.close` must still be called to
---forget the socket.
---@param id integer
function socket.shutdown(id) end

---Closes a socket this service never started (e.g. an accepted id it will
---not serve). Raises if it is open here (use `socket.close`).
---@param id integer
function socket.close_fd(id) end

---Forgets a socket without closing it, to hand it to another service (which
---calls `socket.start`). Bytes buffered here, or arriving before the other
---service starts it, are dropped (and logged).
---@param id integer
function socket.abandon(id) end

-- ----- state and flow control -----

---Whether `id` is not open in this service.
---@param id integer
---@return boolean
function socket.invalid(id) end

---Whether the socket is neither connected nor connecting; nil if it is not
---open in this service.
---@param id integer
---@return boolean?
function socket.disconnected(id) end

---Pauses reading (taken back by the next read that needs more; deferred
---while a reader waits).
---@param id integer
function socket.pause(id) end

---Sets TCP_NODELAY.
---@param id integer
function socket.nodelay(id) end

---Closes the socket (logged) when more than `limit` bytes wait unread,
---except under a read of a given size; nil removes the limit. Raises if the
---socket is not open here.
---@param id integer
---@param limit integer?
function socket.limit(id, limit) end

---Sets the write-queue warning callback: `callback(id, kib)` runs in a new
---task when `kib` KiB wait to be sent (past a high-water mark, 1 MiB by
---default, then at each doubling), and with 0 when the queue drained. Without one, warnings are logged. Returns
---the previous callback.
---@param id integer
---@param callback? async fun(id: integer, kib: integer)
---@return async fun(id: integer, kib: integer)|nil previous
function socket.warning(id, callback) end

---Sets a callback run (in a new task) when the socket's Close event comes.
---@param id integer
---@param callback? async fun(id: integer)
function socket.onclose(id, callback) end

---Every socket of the node, for inspection.
---@return skynet.socket.stat[]
function socket.netstat() end

---The addresses `host` resolves to (distinct IPs as text), or nil and why.
---@param host string
---@return string[]? ips
---@return string? err
function socket.resolve(host) end

-- ----- UDP -----

---A UDP socket bound to `host`:`port` ("0.0.0.0" and port 0 by default);
---`callback(data, from)` runs in a new task for each datagram (`from` is
---"ip:port"). Raises if it cannot bind.
---@param callback async fun(data: string, from: string)
---@param host? string
---@param port? integer
---@return integer id
function socket.udp(callback, host, port) end

---Sets the default peer of UDP socket `id` (`socket.write` then sends there);
---`callback`, if given, replaces its datagram callback.
---@param id integer
---@param addr string
---@param port integer
---@param callback? async fun(data: string, from: string)
function socket.udp_connect(id, addr, port, callback) end

---A UDP socket bound to `addr`:`port`.
---@param addr string
---@param port integer
---@param callback? async fun(data: string, from: string)
---@return integer id
function socket.udp_listen(addr, port, callback) end

---A UDP socket bound to any local address, connected to `addr`:`port`.
---@param addr string
---@param port integer
---@param callback? async fun(data: string, from: string)
---@return integer id
function socket.udp_dial(addr, port, callback) end

---Sends a datagram to `address` ("ip:port", as the callback's `from`).
---Returns false if the socket is not open.
---@param id integer
---@param address string
---@param data string|string[]|number
---@return boolean ok
function socket.sendto(id, address, data) end

---Splits a UDP address ("ip:port" or "[ip]:port") into ip and port.
---@param address string
---@return string ip
---@return integer port
function socket.udp_address(address) end

return socket
