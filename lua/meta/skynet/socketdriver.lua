---@meta skynet.socketdriver

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet.socketdriver`
-- (native, src/lua/socket_driver.rs): the layer under `skynet.socket`, used
-- directly by gate-style services. Mechanism only: nothing here blocks;
-- commands go to the socket thread and their results come back as socket
-- messages. Most services want `skynet.socket` instead. Definitions only:
-- lunet never loads this file.

---@class skynet.socketdriver
local driver = {}

---Starts a connect; returns the id at once (the Connect or Error event
---follows), or nil and why.
---@param host string
---@param port integer
---@return integer? id
---@return string? err
function driver.connect(host, port) end

---Binds and listens at once; returns the id, bound address and port. Raises
---if it cannot bind.
---@param host string
---@param port integer
---@param backlog? integer default 1024
---@return integer id
---@return string addr
---@return integer port
function driver.listen(host, port, backlog) end

---Makes this service the owner of socket `id` and starts it (reading, or
---accepting for a listener). No-op for an id that is not open.
---@param id integer
function driver.start(id) end

---Pauses reading. No-op for an id that is not open.
---@param id integer
function driver.pause(id) end

---Resumes reading. No-op for an id that is not open.
---@param id integer
function driver.resume(id) end

---Flushes what is queued, then closes. No-op for an id that is not open.
---@param id integer
function driver.close(id) end

---Closes now, discarding unsent data. No-op for an id that is not open.
---@param id integer
function driver.shutdown(id) end

---Sets TCP_NODELAY. No-op for an id that is not open.
---@param id integer
function driver.nodelay(id) end

---Queues `data` (a string, its first `sz` bytes if given; a table of
---strings; a number as its text); false once the socket is closed, closing
---or invalid.
---@param id integer
---@param data string|string[]|number
---@param sz? integer
---@return boolean ok
function driver.send(id, data, sz) end

---`send` on the low-priority queue.
---@param id integer
---@param data string|string[]|number
---@param sz? integer
---@return boolean ok
function driver.lsend(id, data, sz) end

---A UDP socket bound to `host`:`port` ("0.0.0.0" and 0 by default). Raises
---if it cannot bind.
---@param host? string
---@param port? integer
---@return integer id
function driver.udp(host, port) end

---Sets the default peer of UDP socket `id`. Raises on a bad address.
---@param id integer
---@param host string
---@param port integer
function driver.udp_connect(id, host, port) end

---Sends a datagram to `address` ("ip:port"; nil: the connected peer).
---@param id integer
---@param address string?
---@param data string|string[]|number
---@return boolean ok
function driver.udp_send(id, address, data) end

---Splits "ip:port" ("[ip]:port" for IPv6). Raises on a bad address.
---@param address string
---@return string ip
---@return integer port
function driver.udp_address(address) end

---Makes this service's read buffer for socket `id`.
---@param id integer
function driver.buffer(id) end

---Drops socket `id`'s read buffer; returns how many unread bytes it held.
---@param id integer
---@return integer dropped
function driver.free(id) end

---How many bytes socket `id`'s buffer holds.
---@param id integer
---@return integer
function driver.size(id) end

---Takes exactly `n` bytes from the buffer, or nil if fewer are buffered.
---@param id integer
---@param n integer
---@return string?
function driver.pop(id, n) end

---Takes everything buffered ("" if nothing).
---@param id integer
---@return string
function driver.readall(id) end

---Takes a line, without its separator (default "\n"), or nil if none is
---buffered.
---@param id integer
---@param sep? string
---@return string?
function driver.readline(id, sep) end

---Whether a whole line is buffered.
---@param id integer
---@param sep? string
---@return boolean
function driver.hasline(id, sep) end

---Unpacks the socket message `msg` (the protocol's unpack argument):
---`type, id, ...` with skynet's numbering: 1 DATA `id, size` (the bytes went
---into the buffer, which now holds `size`; `id, false, n` without a buffer),
---2 CONNECT `id, port, addr`, 3 CLOSE `id`, 4 ACCEPT `listener, id,
---"ip:port"`, 5 ERROR `id, nil, reason`, 6 UDP `id, size, data, from`,
---7 WARNING `id, kib`. Nothing if `msg` is not the message being dispatched.
---@param msg lightuserdata
---@return integer? type
---@return integer? id
---@return any ...
function driver.unpack(msg) end

---`s` (1 to 4 bytes) as a big-endian number.
---@param s string
---@return integer
function driver.header(s) end

---Every socket of the node (`skynet.socket.netstat`).
---@return skynet.socket.stat[]
function driver.info() end

---The addresses `host` resolves to, or nil and why.
---@param host string
---@return string[]? ips
---@return string? err
function driver.resolve(host) end

return driver
