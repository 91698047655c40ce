-- debug_console: a line-based admin console on TCP (skynet's debug_console),
-- for a person with `nc`/`telnet` or for a script.
--
-- Starting it:
--   skynet.newservice("debug_console", port[, host])
-- listens on host (default "127.0.0.1") and port (0 picks a free one) and
-- logs `debug_console: listening on ADDR:PORT`. skynet's own argument order,
-- newservice("debug_console", host, port), works too: a host is never a plain
-- number, so the number is taken as the port. A port that is not a number, or
-- that cannot be bound, makes newservice raise with the reason.
-- To learn the bound port (port 0), call the service:
--   local addr, port = skynet.call(console, "lua", "address")
-- The console is a daemon, like the launcher: an admin window onto the node,
-- not part of the application, so it does not keep `lunet run` going once
-- the application's own services have all exited.
--
-- The protocol: one command per line ("\n"; a trailing "\r" is dropped, so
-- telnet works), no prompt. On connect the console writes one line,
-- "Welcome to lunet debug console (type help)". Each command's output ends
-- with a line "<CMD OK>", or "<CMD Error>" when the command failed (after
-- the message saying why), so a script knows where the output ends. Empty
-- lines are ignored (no output). Commands are case-insensitive; arguments are
-- separated by spaces. Several commands may arrive in one write (`printf
-- 'list\nmem\n' | nc`); they run in order. A last line without "\n" before the
-- client's FIN still runs. A line longer than 64 KiB closes the connection.
--
-- Commands (ADDR is ":0000000a", "a" (hex, the colon optional) or ".name"):
--   help           the commands
--   list           the services the launcher started, by address
--   stat           per service: tasks, queued messages, cpu seconds, messages handled
--   mem            per service Lua memory, and the total
--   gc             collects garbage in every service, then as mem
--   kill ADDR      kills a service at once
--   netstat        the sockets of the node
--   task ADDR      the suspended coroutines of a service, with tracebacks
--   info ADDR ...  what the service's skynet.info_func returns for the arguments
--   exit ADDR      asks a service to exit (debug EXIT: it calls skynet.exit)
--   quit           closes this connection (lunet's; skynet's console has none)
-- "list", "stat", "mem" and "gc" cover what the launcher knows: services
-- started with newservice (not those a host launched from Rust). The others
-- take any live service. An ADDR that names no live service is an error
-- (checked by sending it a one-way debug PING, which fails only then).
-- "kill" and "exit" of the console itself are refused (the command could
-- not answer, and the clients would be left hanging).
--
-- Each client runs in its own coroutine: a slow command (a service that takes
-- long to answer task or info) holds up only that client, and a command gives
-- up on a service that has not answered within 5 s (one busy on a message, or
-- a service written in Rust, which does not speak the debug protocol): it
-- fails saying so (an `exit` asked that way still happens once a busy Lua
-- service gets to it; a Rust service ignores it). An unknown command prints "Invalid command NAME, type help
-- for the list" and "<CMD Error>"; a command that raises prints its error and
-- "<CMD Error>"; the console and the other clients go on. A client that leaves mid-command is fine: the output is
-- dropped and the connection closed once the command returns.
--
-- Tables (info's results) print one key per line, keys sorted, nested tables
-- indented by two spaces.

local skynet = require "skynet"
local socket = require "skynet.socket"
require "skynet.manager"

local GREETING = "Welcome to lunet debug console (type help)"
local LINE_LIMIT = 64 * 1024
-- How long a command waits for a service's answer, centiseconds.
local ANSWER_CS = 500

-- ----- the arguments -----

local function port_number(text)
	local port = math.tointeger(tonumber(text))
	if port and port >= 0 and port <= 65535 then
		return port
	end
end

local function arguments(first, second)
	if first == nil then
		error("debug_console: a port is needed: skynet.newservice(\"debug_console\", port[, host])", 0)
	end
	if second ~= nil and port_number(first) == nil then
		-- skynet's order: host, port
		first, second = second, first
	end
	local port = port_number(first)
	if port == nil then
		error(string.format("debug_console: bad port %q (expected a number from 0 to 65535)", tostring(first)), 0)
	end
	return port, second or "127.0.0.1"
end

local PORT, HOST = arguments(...)

-- ----- output helpers -----

-- Keys in a stable order: numbers first (ascending), then the rest by their
-- text.
local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do
		keys[#keys + 1] = k
	end
	table.sort(keys, function(a, b)
		local na, nb = type(a) == "number", type(b) == "number"
		if na ~= nb then
			return na
		end
		if na then
			return a < b
		end
		return tostring(a) < tostring(b)
	end)
	return keys
end

-- Appends the lines showing `value` to `out`: a table one key per line,
-- nested tables indented under their key.
local function dump(out, value, indent, seen)
	indent = indent or ""
	if type(value) ~= "table" then
		out[#out + 1] = indent .. tostring(value)
		return
	end
	seen = seen or {}
	if seen[value] then
		out[#out + 1] = indent .. "<cycle>"
		return
	end
	seen[value] = true
	if next(value) == nil then
		out[#out + 1] = indent .. "{}"
	end
	for _, k in ipairs(sorted_keys(value)) do
		local v = value[k]
		if type(v) == "table" and next(v) ~= nil and not seen[v] then
			out[#out + 1] = string.format("%s%s:", indent, tostring(k))
			dump(out, v, indent .. "  ", seen)
		elseif type(v) == "table" then
			out[#out + 1] = string.format("%s%s: %s", indent, tostring(k), seen[v] and "<cycle>" or "{}")
		else
			out[#out + 1] = string.format("%s%s: %s", indent, tostring(k), tostring(v))
		end
	end
	seen[value] = nil
end

-- Appends `rows` (lists of cells) under `header` to `out`, each column as wide
-- as its widest cell; columns listed in `right` are right-aligned.
local function columns(out, header, rows, right)
	local width = {}
	for i, h in ipairs(header) do
		width[i] = #h
	end
	for _, row in ipairs(rows) do
		for i = 1, #header do
			row[i] = tostring(row[i] == nil and "-" or row[i])
			width[i] = math.max(width[i], #row[i])
		end
	end
	local function line(cells)
		local parts = {}
		for i = 1, #header do
			local fmt = right[i] and "%" .. width[i] .. "s" or "%-" .. width[i] .. "s"
			parts[i] = string.format(fmt, cells[i])
		end
		out[#out + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
	end
	line(header)
	for _, row in ipairs(rows) do
		line(row)
	end
end

-- ----- addresses -----

local ADDRESS_FORMS = ":0000000a, a hex number, or .name"

-- The handle of a live service named by `text`, or an error saying why not.
local function service_at(text, command)
	if text == nil then
		error(string.format("%s: an address is needed (%s)", command, ADDRESS_FORMS), 0)
	end
	local handle
	if text:sub(1, 1) == "." then
		handle = skynet.localname(text)
		if handle == nil then
			error(string.format("%s: no service is named %s", command, text), 0)
		end
	else
		local hex = text:match("^:?(%x+)$")
		handle = hex and #hex <= 8 and tonumber(hex, 16)
		if not handle or handle == 0 then
			error(string.format("%s: bad address %q (expected %s)", command, text, ADDRESS_FORMS), 0)
		end
	end
	-- A one-way PING (answered by nothing) fails only if no service is there.
	if not skynet.send(handle, "debug", "PING") then
		error(string.format("%s: no service at %s", command, skynet.address(handle)), 0)
	end
	return handle
end

-- `handle`, unless it is this console: killing it would leave the command
-- without an answer and every client hanging.
local function not_self(handle, command)
	if handle == skynet.self() then
		error(string.format("%s: %s is this console; quit closes this connection", command, skynet.address(handle)), 0)
	end
	return handle
end

-- skynet.call(addr, typename, ...) that gives up after ANSWER_CS: raises
-- "no answer from ADDR within N s" then, or "call to ADDR failed" if the
-- service answered with an error (or exited).
local function ask(addr, typename, ...)
	local reqs = skynet.request(table.pack(addr, typename, ...))
	for _, resp, err in reqs:select(ANSWER_CS) do
		if resp == nil then
			error(err, 0)
		end
		return table.unpack(resp, 1, resp.n)
	end
	error(string.format("no answer from %s within %d s (a service busy on a message, or one written in Rust)",
		skynet.address(addr), ANSWER_CS // 100), 0)
end

-- The launcher's answer to `cmd`, keyed by address.
local function launcher(cmd, ...)
	return ask(".launcher", "lua", cmd, ...)
end

-- ----- commands -----

-- Each command gets `out` (a list of output lines to append to) and its
-- arguments; it raises to fail. `usage` and `text` make the help.
local COMMAND = {}
local HELP = {}

local function command(name, usage, text, f)
	COMMAND[name] = f
	HELP[#HELP + 1] = { usage, text }
end

command("help", "help", "this list", function(out)
	local rows = {}
	for i, h in ipairs(HELP) do
		rows[i] = { h[1], h[2] }
	end
	local width = 0
	for _, row in ipairs(rows) do
		width = math.max(width, #row[1])
	end
	for _, row in ipairs(rows) do
		out[#out + 1] = string.format("%-" .. width .. "s  %s", row[1], row[2])
	end
end)

command("list", "list", "the services the launcher started: address, then how it was launched", function(out)
	local services = launcher("LIST")
	for _, addr in ipairs(sorted_keys(services)) do
		out[#out + 1] = string.format("%s  %s", addr, services[addr])
	end
end)

command("stat", "stat", "per service: tasks, queued messages, cpu seconds, messages handled", function(out)
	local stats = launcher("STAT")
	local names = launcher("LIST")
	local rows, failed = {}, {}
	for _, addr in ipairs(sorted_keys(stats)) do
		local s = stats[addr]
		if type(s) == "table" then
			rows[#rows + 1] = {
				addr,
				s.task,
				s.mqlen,
				s.cpu and string.format("%.6f", s.cpu),
				s.message,
				names[addr] or "",
			}
		else
			failed[#failed + 1] = string.format("%s  %s", addr, tostring(s))
		end
	end
	columns(out, { "address", "task", "mqlen", "cpu", "message", "service" }, rows, { [2] = true, [3] = true, [4] = true, [5] = true })
	table.move(failed, 1, #failed, #out + 1, out)
end)

-- Appends the launcher's MEM (or GC) answer and a total line; returns the
-- total KB.
local function show_memory(out, answer)
	local rows, failed, total, count = {}, {}, 0, 0
	for _, addr in ipairs(sorted_keys(answer)) do
		local text = tostring(answer[addr])
		local kb, desc = text:match("^([%d%.]+) Kb %((.*)%)$")
		kb = tonumber(kb)
		if kb then
			rows[#rows + 1] = { addr, string.format("%.2f KB", kb), desc }
			total = total + kb
			count = count + 1
		else
			failed[#failed + 1] = string.format("%s  %s", addr, text)
		end
	end
	rows[#rows + 1] = { "total", string.format("%.2f KB", total), string.format("in %d services", count) }
	columns(out, { "address", "memory", "service" }, rows, { [2] = true })
	table.move(failed, 1, #failed, #out + 1, out)
	return total
end

command("mem", "mem", "per service Lua memory, and the total", function(out)
	show_memory(out, launcher("MEM"))
end)

command("gc", "gc", "collect garbage in every service, then show memory as mem", function(out)
	local before = show_memory({}, launcher("MEM"))
	local after = show_memory(out, launcher("GC"))
	out[#out + 1] = string.format("collected %.2f KB (%.2f KB before, %.2f KB after)", before - after, before, after)
end)

command("kill", "kill ADDR", "kill a service at once", function(out, addr)
	local handle = not_self(service_at(addr, "kill"), "kill")
	local killed = launcher("KILL", handle)
	local desc = killed[skynet.address(handle)]
	if desc == nil or desc == "unknown" then
		out[#out + 1] = "killed " .. skynet.address(handle)
	else
		out[#out + 1] = string.format("killed %s (%s)", skynet.address(handle), desc)
	end
end)

-- "1.25s ago" for a time `cs` centiseconds ago; "-" for never.
local function ago(cs)
	if cs == nil then
		return "-"
	end
	return string.format("%.2fs ago", cs / 100)
end

command("netstat", "netstat", "the sockets: id, type, state, owner, address, bytes read/written/queued, last activity", function(out)
	local sockets = socket.netstat()
	table.sort(sockets, function(a, b)
		return a.id < b.id
	end)
	local ok, names = pcall(launcher, "LIST")
	if not ok then
		names = {}
	end
	local rows = {}
	for i, s in ipairs(sockets) do
		rows[i] = {
			s.id,
			s.type,
			s.state,
			s.owner,
			s.address,
			s.read,
			s.write,
			s.wbuffer,
			ago(s.rtime),
			ago(s.wtime),
			names[s.owner] or "",
		}
	end
	local header = { "id", "type", "state", "owner", "address", "read", "write", "queued", "last read", "last write", "service" }
	columns(out, header, rows, { [1] = true, [6] = true, [7] = true, [8] = true })
	out[#out + 1] = string.format("%d sockets", #sockets)
end)

command("task", "task ADDR", "the suspended coroutines of a service, with their tracebacks", function(out, addr)
	local handle = service_at(addr, "task")
	local tasks = ask(handle, "debug", "TASK")
	local keys = sorted_keys(tasks)
	out[#out + 1] = string.format("%s: %d suspended", skynet.address(handle), #keys)
	for _, co in ipairs(keys) do
		out[#out + 1] = co
		for line in tostring(tasks[co]):gmatch("[^\n]+") do
			out[#out + 1] = "  " .. line:gsub("^\t", "  ")
		end
	end
end)

command("info", "info ADDR [ARGS]", "what the service's skynet.info_func returns for ARGS", function(out, addr, ...)
	local handle = service_at(addr, "info")
	local results = table.pack(ask(handle, "debug", "INFO", ...))
	if results.n == 0 then
		results = { n = 1, nil }
	end
	for i = 1, results.n do
		dump(out, results[i])
	end
end)

command("exit", "exit ADDR", "ask a service to exit (it calls skynet.exit)", function(out, addr)
	local handle = not_self(service_at(addr, "exit"), "exit")
	-- The service answers nothing: its skynet.exit fails every request it
	-- holds, this one included, so the call fails once it has exited.
	local ok, err = pcall(ask, handle, "debug", "EXIT")
	if ok then
		error(string.format("exit: %s answered instead of exiting", skynet.address(handle)), 0)
	elseif err:find("^no answer") then
		error(string.format("exit: %s; a Lua service busy on a message exits when it gets to the request, a Rust service does not exit", err), 0)
	end
	out[#out + 1] = "exited " .. skynet.address(handle)
end)

command("quit", "quit", "close this connection", function(out)
	out[#out + 1] = "Bye"
	return "quit"
end)

-- ----- clients -----

-- Runs one command line; returns the text to send back (nil for an empty
-- line) and whether the client asked to quit.
local function run(line)
	line = line:gsub("\r$", "")
	local words = {}
	for word in line:gmatch("%S+") do
		words[#words + 1] = word
	end
	if #words == 0 then
		return nil
	end
	local name = words[1]:lower()
	local f = COMMAND[name]
	if f == nil then
		return string.format("Invalid command %s, type help for the list\n<CMD Error>\n", words[1])
	end
	local out = {}
	local ok, result = pcall(f, out, table.unpack(words, 2))
	if not ok then
		out[#out + 1] = tostring(result)
		out[#out + 1] = "<CMD Error>"
	else
		out[#out + 1] = "<CMD OK>"
	end
	return table.concat(out, "\n") .. "\n", ok and result == "quit"
end

local function serve(fd, addr)
	if not socket.start(fd) then
		return
	end
	socket.limit(fd, LINE_LIMIT)
	socket.write(fd, GREETING .. "\n")
	while true do
		local line, rest = socket.readline(fd, "\n")
		local last = false
		if not line then
			-- The client closed; a last line without "\n" still runs (not
			-- what socket.limit cut off).
			if rest == nil or rest == "" or #rest > LINE_LIMIT then
				break
			end
			line, last = rest, true
		end
		local ok, reply, quit = pcall(run, line)
		if not ok then
			reply = tostring(reply) .. "\n<CMD Error>\n"
		end
		if reply then
			socket.write(fd, reply)
		end
		if quit or last then
			break
		end
	end
	socket.close(fd)
end

skynet.start(function()
	-- An admin window onto the node, not part of the application.
	require("skynet.core").daemon()
	local listener, addr, port = socket.listen(HOST, PORT)
	socket.start(listener, function(fd, peer)
		local ok, err = pcall(serve, fd, peer)
		if not ok then
			skynet.error("debug_console: client " .. tostring(peer) .. ": " .. tostring(err))
			socket.close(fd)
		end
	end)
	skynet.error(string.format("debug_console: listening on %s:%d", addr, port))
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "address" then
			skynet.retpack(addr, port)
		else
			error("debug_console: unknown request " .. tostring(cmd) .. " (it answers \"address\")")
		end
	end)
end)
