-- skynet.socket: TCP and UDP for Lua services, with skynet's API.
--
-- A coroutine that opens, starts, reads or closes a socket yields until the
-- socket event it needs arrives; the service goes on handling other messages.
-- Received bytes wait in a native per-socket buffer (skynet.socketdriver) and
-- become a Lua string only when a read returns them.
--
-- The rules, which every function below keeps:
--   * One reader per socket: a second coroutine reading a socket that already
--     has a blocked reader gets an error naming the socket.
--   * read(id) returns what is buffered, or waits for more; after the socket
--     closed it returns the rest, then false. read(id, n) returns n bytes or
--     false and the rest; readline(id, sep) the line without sep or false and
--     the rest; readall(id) waits for the close and returns everything.
--   * close(id) waits until the socket is closed for this service. A reader
--     blocked on it is woken first and sees the close (read returns false and
--     the rest; readall everything); a read started after close began returns
--     at once. Bytes written before close still reach the peer (the socket
--     layer flushes them). Several coroutines may close one socket; each
--     returns once it is closed.
--   * Flow control: with more than BUFFER_LIMIT bytes buffered unread and no
--     reader waiting for more, the socket is paused; a reader that needs more
--     resumes it. A reader that waits is never left with a paused socket, and
--     socket.pause while a reader waits for more takes effect only once it is
--     satisfied. So no mix of reads, closes, pauses and peer FINs leaves a
--     coroutine waiting for bytes that cannot come.
--   * Events for ids this service does not hold: Data is dropped (logged); an
--     unknown Close is answered by closing the id (the socket layer keeps a
--     socket whose peer closed until its owner closes it); a Connect or Error
--     is only logged, never answered with a force close, so a socket still
--     flushing its close is never cut short. For a few seconds after
--     socket.abandon the id is left alone entirely: another service may have
--     taken it.
--
-- Differences from skynet, on purpose:
--   * listen binds in the caller's thread and returns id, addr, port at once;
--   * an Error on a connected socket (a failed write) is logged and does not
--     end reading: the socket layer still delivers what the peer sends until
--     its FIN, then Close;
--   * block(id) returns true at once if bytes are already buffered;
--   * UDP addresses are the text "ip:port" ("[ip]:port" for IPv6);
--   * bind/stdin (wrapping an OS fd) are not provided.

local skynet = require "skynet"
local driver = require "skynet.socketdriver"

local coroutine_running = coroutine.running
local skynet_wait = skynet.wait
local skynet_wakeup = skynet.wakeup
local driver_readall = driver.readall
local driver_pop = driver.pop

local socket = {}

-- Pause a socket with more than this many bytes buffered unread.
local BUFFER_LIMIT = 128 * 1024
socket.BUFFER_LIMIT = BUFFER_LIMIT

-- id -> the socket's state:
--   connected   a Connect came and no Close yet (UDP: until closed)
--   connecting  true while open/start waits for Connect; an Error's reason
--   listen      a listener
--   callback    accept callback (listener) or datagram callback (UDP)
--   co          the coroutine to wake on the next event it waits for
--   reader      the coroutine inside a read, from its wait to its return
--   need        what the waiting reader needs: 0 (anything), n (bytes),
--               a separator (a line), true (the close)
--   paused      this library paused the socket
--   closing     close began; closers: coroutines waiting in a second close
--   closer      the close waiting for the reader to finish
--   close_wait  the close waiting for the Close event
local socket_pool = {}
-- id -> callback for the Close event (socket.onclose)
local socket_onclose = {}
-- ids given up with socket.abandon, left alone for a while (see above)
local abandoned = {}
local ABANDONED_CS = 500

local function wakeup(s)
	local co = s.co
	if co then
		s.co = nil
		skynet_wakeup(co)
	end
end

-- Wakes the close waiting for the socket's end (a Close, or a failed connect).
local function wakeup_close(s)
	local co = s.close_wait
	if co then
		s.close_wait = nil
		skynet_wakeup(co)
	end
end

local function log(fmt, ...)
	skynet.error(string.format(fmt, ...))
end

local function pause(s)
	s.pause_wanted = nil
	if not s.paused then
		s.paused = true
		driver.pause(s.id)
	end
end

-- Whether what the waiting reader needs is buffered (size bytes are).
local function satisfied(s, need, size)
	if need == 0 then
		return size > 0
	elseif need == true then
		return false
	elseif type(need) == "number" then
		return size >= need
	end
	return driver.hasline(s.id, need)
end

-- ----- socket events -----

local socket_message = {}

-- DATA: the bytes went into the socket's buffer, which now holds `size`;
-- size is false when this service has no buffer for the id (dropped).
socket_message[1] = function(id, size, dropped)
	local s = socket_pool[id]
	if s == nil or size == false then
		log("socket: drop %d bytes from %d", dropped or 0, id)
		return
	end
	local need = s.need
	local limit = s.buffer_limit
	-- socket.limit bounds what waits unread, except under a read of a given
	-- size (which says how much it will take).
	if limit and size > limit and type(need) ~= "number" then
		log("socket: buffer overflow on %d (%d bytes unread, limit %d): closing", id, size, limit)
		driver.close(id)
		return
	end
	if need ~= nil then
		if not satisfied(s, need, size) then
			-- The reader needs more: never pause under it.
			return
		end
		s.need = nil
		wakeup(s)
	end
	if size > BUFFER_LIMIT or s.pause_wanted then
		pause(s)
	end
end

-- CONNECT: a connect completed, or a start took effect (port and addr: the
-- peer's or, for a listener, the bound address).
socket_message[2] = function(id, port, addr)
	local s = socket_pool[id]
	if s == nil then
		if abandoned[id] == nil then
			log("socket: connect on %d, which this service does not hold", id)
		end
		return
	end
	if s.listen then
		s.addr, s.port = addr, port
	end
	if not s.connected then
		s.connected = true
		wakeup(s)
	end
end

-- CLOSE: no more data will come.
socket_message[3] = function(id)
	local s = socket_pool[id]
	if s == nil then
		if abandoned[id] == nil then
			driver.close(id)
		end
	else
		s.connected = false
		wakeup(s)
		wakeup_close(s)
	end
	local cb = socket_onclose[id]
	if cb then
		socket_onclose[id] = nil
		skynet.fork(cb, id)
	end
end

-- ACCEPT: listener accepted connection id from addr ("ip:port").
socket_message[4] = function(listener, id, addr)
	local s = socket_pool[listener]
	if s == nil or s.callback == nil then
		driver.close(id)
		return
	end
	skynet.fork(s.callback, id, addr)
end

-- ERROR: a connect failed, or the socket failed (sends are refused from now
-- on; a TCP connection still reads until the peer's FIN).
socket_message[5] = function(id, _, reason)
	local s = socket_pool[id]
	if s == nil then
		if abandoned[id] == nil then
			log("socket: error on %d, which this service does not hold: %s", id, reason)
		end
		return
	end
	if s.connecting and not s.connected then
		s.connecting = reason
		wakeup(s)
		wakeup_close(s)
		return
	end
	if s.listen then
		log("socket: accept error on %d: %s", id, reason)
	else
		log("socket: error on %d: %s", id, reason)
	end
	s.failed = reason
end

-- UDP: a datagram (data) from `from`.
socket_message[6] = function(id, _, data, from)
	local s = socket_pool[id]
	if s == nil or s.callback == nil then
		log("socket: drop udp packet from %d", id)
		return
	end
	skynet.fork(s.callback, data, from)
end

local function default_warning(id, kib)
	if kib > 0 then
		log("socket: %d KiB waiting to be sent on %d", kib, id)
	end
end

-- WARNING: kib KiB queued for sending (0: the queue drained).
socket_message[7] = function(id, kib)
	local s = socket_pool[id]
	if s then
		if s.on_warning then
			skynet.fork(s.on_warning, id, kib)
		else
			default_warning(id, kib)
		end
	end
end

skynet.register_protocol {
	name = "socket",
	id = skynet.PTYPE_SOCKET,
	unpack = driver.unpack,
	dispatch = function(_, _, t, ...)
		if t then
			socket_message[t](...)
		end
	end,
	-- Handled outside a task: the handlers above never yield (user callbacks
	-- are forked), and a data event costs no coroutine switch.
	inline = true,
}

-- ----- opening -----

-- Waits for the Connect (or Error, or Close) of a socket being opened or
-- started; returns id, or nil and why.
local function connect(id, func)
	local s2 = socket_pool[id]
	if s2 and not s2.listen then
		error(string.format("socket.start: socket %d is already started in this service", id), 3)
	end
	local s = {
		id = id,
		connected = false,
		connecting = true,
		callback = func,
		protocol = "TCP",
		addr = s2 and s2.addr,
		port = s2 and s2.port,
		listen = s2 and s2.listen,
	}
	socket_pool[id] = s
	abandoned[id] = nil
	if func == nil then
		driver.buffer(id)
	end
	local co = coroutine_running()
	s.co = co
	skynet_wait(co)
	local err = s.connecting
	s.connecting = nil
	if s.connected then
		return id
	end
	if socket_pool[id] == s then
		socket_pool[id] = nil
		driver.free(id)
	end
	return nil, type(err) == "string" and err or "closed"
end

function socket.open(addr, port)
	if port == nil then
		addr, port = string.match(addr, "^(.+):(%d+)$")
		port = tonumber(port)
	end
	local id, err = driver.connect(addr, port)
	if not id then
		return nil, err
	end
	return connect(id)
end

function socket.start(id, func)
	driver.start(id)
	return connect(id, func)
end

function socket.listen(host, port, backlog)
	if port == nil then
		host, port = string.match(host, "^(.+):(%d+)$")
		port = tonumber(port)
	end
	local id, addr, bound = driver.listen(host, port, backlog)
	socket_pool[id] = {
		id = id,
		connected = false,
		listen = true,
		addr = addr,
		port = bound,
		protocol = "TCP",
	}
	return id, addr, bound
end

-- ----- reading -----

local function opened(id, what)
	local s = socket_pool[id]
	if s == nil then
		error(string.format("socket.%s: socket %s is not open in this service", what, tostring(id)), 3)
	end
	return s
end

-- Waits until the reader's need is met, the socket closes or close begins.
local function suspend(s, need, what)
	if s.reader then
		error(string.format("socket.%s: socket %d already has a reader", what, s.id), 3)
	end
	if s.protocol == "UDP" or s.listen then
		-- Nothing would ever wake it.
		local kind = s.protocol == "UDP" and "a UDP socket" or "a listener"
		error(string.format("socket.%s: socket %d is %s", what, s.id, kind), 3)
	end
	local co = coroutine_running()
	s.co = co
	s.reader = co
	s.need = need
	if s.paused then
		s.paused = false
		driver.resume(s.id)
	end
	skynet_wait(co)
	s.need = nil
	s.reader = nil
	local closer = s.closer
	if closer then
		-- The close waits until this read has taken what it returns.
		s.closer = nil
		skynet_wakeup(closer)
	end
end

local function ended(s)
	return not s.connected or s.closing
end

function socket.read(id, sz)
	local s = opened(id, "read")
	if sz == nil then
		local ret = driver_readall(id)
		if ret ~= "" then
			return ret
		end
		if ended(s) then
			return false, ret
		end
		suspend(s, 0, "read")
		ret = driver_readall(id)
		if ret ~= "" then
			return ret
		end
		return false, ret
	end
	local ret = driver_pop(id, sz)
	if ret then
		return ret
	end
	if ended(s) then
		return false, driver_readall(id)
	end
	suspend(s, sz, "read")
	ret = driver_pop(id, sz)
	if ret then
		return ret
	end
	return false, driver_readall(id)
end

function socket.readall(id)
	local s = opened(id, "readall")
	if ended(s) then
		local r = driver_readall(id)
		return r ~= "" and r
	end
	suspend(s, true, "readall")
	return driver_readall(id)
end

function socket.readline(id, sep)
	sep = sep or "\n"
	local s = opened(id, "readline")
	local ret = driver.readline(id, sep)
	if ret then
		return ret
	end
	if ended(s) then
		return false, driver_readall(id)
	end
	suspend(s, sep, "readline")
	ret = driver.readline(id, sep)
	if ret then
		return ret
	end
	return false, driver_readall(id)
end

-- Waits until bytes are buffered or the socket closes; returns whether it is
-- still open.
function socket.block(id)
	local s = socket_pool[id]
	if s == nil or ended(s) then
		return false
	end
	if driver.size(id) > 0 then
		return true
	end
	suspend(s, 0, "block")
	return not ended(s)
end

-- ----- closing -----

function socket.close(id)
	local s = socket_pool[id]
	if s == nil then
		return
	end
	local co = coroutine_running()
	if s.closing then
		s.closers[#s.closers + 1] = co
		skynet_wait(co)
		return
	end
	s.closing = true
	s.closers = {}
	driver.close(id)
	if s.reader then
		s.closer = co
		wakeup(s)
		skynet_wait(co)
	end
	if s.connected or s.connecting == true then
		s.close_wait = co
		skynet_wait(co)
	end
	s.connected = false
	if socket_pool[id] == s then
		socket_pool[id] = nil
		driver.free(id)
	end
	for _, waiting in ipairs(s.closers) do
		skynet_wakeup(waiting)
	end
end

function socket.shutdown(id)
	if socket_pool[id] then
		-- Close comes; close(id) must still be called to forget the socket.
		driver.shutdown(id)
	end
end

-- Closes a socket this service never started (e.g. an accepted id it will not
-- serve).
function socket.close_fd(id)
	if socket_pool[id] ~= nil then
		error(string.format("socket.close_fd: socket %d is open here: use socket.close", id), 2)
	end
	driver.close(id)
end

-- Forgets a socket without closing it, to hand it to another service (which
-- calls socket.start). Reading pauses until then; bytes buffered here, or
-- arriving before the other service starts it, are dropped (and logged).
function socket.abandon(id)
	local s = socket_pool[id]
	if s == nil then
		return
	end
	if s.connected then
		driver.pause(id)
	end
	s.connected = false
	wakeup(s)
	socket_pool[id] = nil
	socket_onclose[id] = nil
	local dropped = driver.free(id)
	if dropped > 0 then
		log("socket: abandon %d drops %d unread bytes", id, dropped)
	end
	abandoned[id] = true
	skynet.timeout(ABANDONED_CS, function()
		if socket_pool[id] == nil then
			abandoned[id] = nil
		end
	end)
end

-- ----- the rest of the API -----

function socket.pause(id)
	local s = socket_pool[id]
	if s == nil or s.paused then
		return
	end
	if s.need ~= nil then
		-- A reader waits for more: pause once it has it.
		s.pause_wanted = true
		return
	end
	pause(s)
end

function socket.invalid(id)
	return socket_pool[id] == nil
end

function socket.disconnected(id)
	local s = socket_pool[id]
	if s then
		return not (s.connected or s.connecting)
	end
end

function socket.limit(id, limit)
	opened(id, "limit").buffer_limit = limit
end

function socket.warning(id, callback)
	local s = socket_pool[id]
	local old
	if s then
		old = s.on_warning
		s.on_warning = callback
	end
	return old
end

function socket.onclose(id, callback)
	socket_onclose[id] = callback
end

socket.write = driver.send
socket.lwrite = driver.lsend
socket.header = driver.header
socket.nodelay = driver.nodelay
socket.netstat = driver.info
socket.resolve = driver.resolve

-- ----- UDP -----

local function udp_object(id, callback)
	if socket_pool[id] then
		error(string.format("socket.udp: socket %d is already open here", id), 3)
	end
	socket_pool[id] = {
		id = id,
		connected = true,
		protocol = "UDP",
		callback = callback,
	}
end

function socket.udp(callback, host, port)
	local id = driver.udp(host, port)
	udp_object(id, callback)
	return id
end

function socket.udp_connect(id, addr, port, callback)
	local s = socket_pool[id]
	if s then
		if s.protocol ~= "UDP" then
			error(string.format("socket.udp_connect: socket %d is not a UDP socket", id), 2)
		end
		if callback then
			s.callback = callback
		end
	else
		udp_object(id, callback)
	end
	driver.udp_connect(id, addr, port)
end

function socket.udp_listen(addr, port, callback)
	local id = driver.udp(addr, port)
	udp_object(id, callback)
	return id
end

function socket.udp_dial(addr, port, callback)
	local any = addr:find(":", 1, true) and "::" or "0.0.0.0"
	local id = driver.udp(any, 0)
	udp_object(id, callback)
	driver.udp_connect(id, addr, port)
	return id
end

function socket.sendto(id, address, data)
	return driver.udp_send(id, address, data)
end

socket.udp_address = driver.udp_address

return socket
