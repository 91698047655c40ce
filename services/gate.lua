-- gate: a TCP gateway for length-framed clients, as skynet's gate.
--
-- Clients send frames: a 2-byte big-endian length, then that many bytes
-- (skynet.netpack). The gate owns the listener and every connection; it cuts
-- the bytes into frames and passes each frame on. Anyone may write to a
-- connection (skynet.socketdriver.send(fd, netpack.pack(reply))).
--
-- Commands ("lua" protocol; a call gets the results, a send nothing):
--   open(conf) -> addr, port
--       listens on conf.host (or conf.address; default "0.0.0.0") and
--       conf.port (0 picks a free port), and returns the bound address and
--       port. conf.maxclient (default 1024) bounds the connections;
--       conf.nodelay sets TCP_NODELAY on each; conf.watchdog (default: the
--       caller) is told about them; conf.backlog is the listen backlog.
--       Raises if the gate already listens or the port cannot be bound.
--   close()
--       stops listening; connections already open go on.
--   forward(fd, client, address)
--       the frames of connection fd go to `address` (default: the caller) as
--       "client" messages (PTYPE_CLIENT) with session = fd and source =
--       `client` (default 0), sent with skynet.redirect. A handler of such
--       messages calls skynet.ignoreret(): the session is the fd, not a request.
--   accept(fd)
--       the frames of connection fd go to the watchdog ("data" below).
--   kick(fd)
--       closes connection fd (what was written to it is flushed first). The
--       watchdog then hears "close" for it.
-- The gate reads nothing from a new connection until forward or accept names
-- where its frames go. forward, accept and kick of an fd the gate does not
-- hold raise (a call fails; a send is logged).
--
-- The watchdog gets skynet.send(watchdog, "lua", "socket", what, ...):
--   "open", fd, "ip:port"   a new connection (answer with forward, accept or kick)
--   "data", fd, msg         a frame from a connection in accept mode
--   "close", fd             the client closed (its FIN), or fd was kicked
--   "error", fd, reason     the connection failed (a reset, a failed write);
--                           the gate closes it
--   "warning", fd, kib      kib KiB wait to be sent to the client (0: drained)
-- Every connection reported "open" ends with exactly one "close" or "error".
-- A connection beyond maxclient is closed at once, logged, and never reported.
-- After the client's FIN the gate closes the connection (flushing what was
-- queued); what is written to it after that is dropped.

local skynet = require "skynet"
local netpack = require "skynet.netpack"
local driver = require "skynet.socketdriver"

local watchdog
local listener -- the listening socket's id, while listening
local maxclient
local nodelay
local client_number = 0
local queue -- the netpack queue
-- fd -> { addr, agent, client, started }
local connection = {}

local function log(fmt, ...)
	skynet.error(string.format("gate: " .. fmt, ...))
end

local function report(what, ...)
	skynet.send(watchdog, "lua", "socket", what, ...)
end

-- Forgets connection fd and releases its socket (once closed for the gate,
-- the socket layer keeps it until its owner closes it).
local function forget(fd)
	if connection[fd] then
		connection[fd] = nil
		client_number = client_number - 1
		driver.close(fd)
	end
end

-- ----- socket events -----

local MSG = {}

local function dispatch_frame(fd, msg, sz)
	local c = connection[fd]
	if c == nil then
		log("drop a frame of %d bytes from %d, which is not open", sz, fd)
		return
	end
	local agent = c.agent
	if agent then
		skynet.redirect(agent, c.client, skynet.PTYPE_CLIENT, fd, msg, sz)
	else
		report("data", fd, netpack.tostring(msg, sz))
	end
end

MSG.data = dispatch_frame

function MSG.more()
	for fd, msg, sz in netpack.pop, queue do
		dispatch_frame(fd, msg, sz)
	end
end

function MSG.open(fd, addr)
	if client_number >= maxclient then
		log("refuse %s (fd %d): %d connections open, maxclient is %d", addr, fd, client_number, maxclient)
		driver.close(fd)
		return
	end
	connection[fd] = { addr = addr }
	client_number = client_number + 1
	if nodelay then
		driver.nodelay(fd)
	end
	report("open", fd, addr)
end

function MSG.close(fd)
	if fd == listener then
		listener = nil
		return
	end
	if connection[fd] then
		forget(fd)
		report("close", fd)
	end
end

function MSG.error(fd, reason)
	if fd == listener then
		log("accept error: %s", reason)
		return
	end
	if connection[fd] then
		forget(fd)
		report("error", fd, reason)
	end
end

function MSG.warning(fd, kib)
	if connection[fd] then
		report("warning", fd, kib)
	end
end

skynet.register_protocol {
	name = "socket",
	id = skynet.PTYPE_SOCKET,
	-- lunet: handled outside a task (the handlers above never yield).
	inline = true,
	unpack = function(msg, sz)
		return netpack.filter(queue, msg, sz)
	end,
	dispatch = function(_, _, q, what, ...)
		queue = q
		if what then
			MSG[what](...)
		end
	end,
}

-- ----- commands -----

local CMD = {}

local function held(fd, what)
	local c = connection[fd]
	if c == nil then
		error(string.format("gate.%s: no connection %s", what, tostring(fd)), 3)
	end
	return c
end

local function start(fd, c)
	if not c.started then
		c.started = true
		driver.start(fd)
	end
end

function CMD.open(source, conf)
	if listener then
		error("gate.open: already listening", 2)
	end
	local host = conf.host or conf.address or "0.0.0.0"
	local port = tonumber(conf.port)
	if port == nil then
		error("gate.open: conf.port is required", 2)
	end
	maxclient = tonumber(conf.maxclient) or 1024
	nodelay = conf.nodelay
	watchdog = conf.watchdog or source
	local id, addr, bound = driver.listen(host, port, conf.backlog)
	listener = id
	driver.start(id)
	log("listening on %s:%d", addr, bound)
	return addr, bound
end

function CMD.close()
	if listener then
		driver.close(listener)
		listener = nil
	end
end

function CMD.forward(source, fd, client, address)
	local c = held(fd, "forward")
	c.agent = address or source
	c.client = client or 0
	start(fd, c)
end

function CMD.accept(_, fd)
	local c = held(fd, "accept")
	c.agent = nil
	c.client = nil
	start(fd, c)
end

function CMD.kick(_, fd)
	held(fd, "kick")
	-- The Close event that follows tells the watchdog.
	driver.close(fd)
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = CMD[cmd]
		if f == nil then
			error("gate: unknown command " .. tostring(cmd))
		end
		if session == 0 then
			f(source, ...)
		else
			skynet.retpack(f(source, ...))
		end
	end)
end)
