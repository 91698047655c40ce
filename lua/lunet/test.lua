-- lunet.test: protocol-test scripts, run by `lunet test FILE...`.
--
--   local skynet = require "skynet"
--   local socket = require "skynet.socket"
--   local test = require "lunet.test"
--
--   test.timeout(2)                              -- seconds per case (default 5)
--   test.case("echoes a line", function()
--       local id = test.connect("127.0.0.1", 7000) -- closed after the case
--       socket.write(id, "hello\n")
--       test.eq(socket.readline(id), "hello")
--   end)
--
-- A test script is a Lua service. Requiring this module makes the script the
-- test: the module calls skynet.start itself, and once the script's chunk has
-- returned it runs the declared cases in order, each in a task (coroutine) of
-- its own, and reports each outcome to the runner (`lunet test`, the Rust
-- service `.lunet_test`), which prints them.
--
-- The rules:
--   * Cases are declared with test.case at the top level of the script; a
--     case declared later (inside a case) is an error. A script that declares
--     none fails.
--   * The script must not call skynet.start (an error says so): the module
--     starts the service. skynet.init functions still run first.
--   * Each case gets a timeout: opts.timeout of the case, else test.timeout(s)
--     of the script, else `lunet test --timeout SECS`, else 5 s. A timeout
--     is a positive number of seconds, at most a year (31536000).
--   * setup runs before each case and teardown after it, in the case's task
--     and inside its timeout. teardown runs whether the case passed or failed,
--     but not when setup failed (nothing was set up). An error in either fails
--     the case (the first error is the one reported).
--   * Sockets opened with test.connect are closed after the case (after
--     teardown).
--   * Outcomes: ok; FAIL (an assertion failed, or the case raised an error:
--     the message and the file:line of the innermost frame of the script);
--     TIMEOUT (the case did not finish in time). On a timeout the case's task
--     is killed (skynet.killthread: whatever it waited for is dropped), its
--     test.connect sockets are closed (abandoned and closed at once: no close
--     waits on a reader that is gone), and teardown runs in a fresh task
--     with the same timeout, so later cases start from a clean state; a
--     teardown that fails or times out there is added to the message. The
--     message says what the case was blocked in: the traceback of its task,
--     innermost frame of the script and the library function called from it
--     ("after 5 s, waiting in socket.read at echo_test.lua:23").
--   * A case that runs Lua code without ever yielding (`while true do end`)
--     holds the whole service, so no timer here can fire: the runner watches
--     every case from Rust and, a grace period after its timeout, interrupts
--     the service; the error that raises in the case is reported as TIMEOUT
--     ("running Lua code without yielding at FILE:LINE").
--   * Assertions take an optional last `message`, shown before what differed.
--     A failure is raised as an error value (a table whose tostring is
--     "FILE:LINE: message"), so a case stops at its first failed assertion.
--   * Outside `lunet test` (no `.lunet_test` service, e.g. `lunet run` on a
--     test script) requiring this module raises an error saying how to run
--     the script. Only the test script itself may use it: another service
--     requiring it gets an error.
--
-- The messages to the runner are text, one per event, tab-separated fields
-- (tabs, newlines and backslashes escaped as \t, \n, \\):
--   hello SCRIPT | case NAME | begin INDEX TIMEOUT | watch TIMEOUT
--   | end INDEX STATUS MESSAGE LOCATION | error MESSAGE | done
-- (see src/testing/reporter.rs).

local skynet = require "skynet"
local socket = require "skynet.socket"
local c = require "skynet.core"

local test = {}

-- Where this module's frames come from, and the script's (see below).
local MODULE_SOURCE = debug.getinfo(1, "S").source
local INTERRUPTED = "interrupted: stuck on one message"
local DEFAULT_TIMEOUT = 5
-- The longest timeout: a year (the runner's MAX_TIMEOUT). Far beyond it the
-- timer's centiseconds and the runner's clock overflow.
local MAX_TIMEOUT = 365 * 86400

-- ----- talking to the runner -----

local reporter = c.query(".lunet_test")
if reporter == nil then
	error("lunet.test: run this script with `lunet test FILE` (there is no test runner in this node)", 2)
end
if SERVICE_NAME ~= skynet.getenv("start") then
	error(string.format("lunet.test: only the test script (%s) can use lunet.test; this is service %s",
		tostring(skynet.getenv("start")), tostring(SERVICE_NAME)), 2)
end

local function escape(v)
	return (tostring(v):gsub("[\\\t\n]", { ["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n" }))
end

local function report(...)
	local fields = table.pack(...)
	for i = 1, fields.n do
		fields[i] = escape(fields[i] == nil and "" or fields[i])
	end
	skynet.send(reporter, "text", table.concat(fields, "\t", 1, fields.n))
end

-- The script: the outermost main chunk on the stack while it requires this
-- module (the service's own chunk).
local script_source
do
	local level = 2
	while true do
		local info = debug.getinfo(level, "S")
		if info == nil then
			break
		end
		if info.what == "main" and info.source ~= MODULE_SOURCE then
			script_source = info.source
		end
		level = level + 1
	end
	if script_source == nil then
		error("lunet.test: require it at the top level of the test script", 2)
	end
end

-- How a chunk's source is shown: its path for a file (less a leading "./"),
-- its name otherwise.
local function shown_source(source)
	return (source:gsub("^[@=]", ""):gsub("^%./", ""))
end

report("hello", shown_source(script_source))

-- ----- where things happened -----

local function location(info)
	return shown_source(info.source) .. ":" .. info.currentline
end

-- The innermost frame of the script at or above stack level `level` (of the
-- running coroutine, or of `co`): its "FILE:LINE". Failing that, the innermost
-- frame outside this module that has a line.
local function where(level, co)
	local fallback
	while true do
		local info
		if co then
			info = debug.getinfo(co, level, "Sl")
		else
			info = debug.getinfo(level, "Sl")
		end
		if info == nil then
			return fallback
		end
		if info.currentline and info.currentline > 0 then
			if info.source == script_source then
				return location(info)
			end
			if fallback == nil and info.source ~= MODULE_SOURCE then
				fallback = location(info)
			end
		end
		level = level + 1
	end
end

-- ----- failures -----

-- An assertion's failure (or any error of a case, once caught): message,
-- where (FILE:LINE), and `interrupted` when the runner stopped a case stuck
-- in Lua code.
local Failure = {}
Failure.__index = Failure
Failure.__name = "lunet.test failure"
Failure.__tostring = function(f)
	if f.where then
		return f.where .. ": " .. f.message
	end
	return f.message
end

local function is_failure(v)
	return getmetatable(v) == Failure
end

-- Raises a failure located at the script's frame that called the assertion.
local function fail_with(message, detail)
	local text = detail
	if message ~= nil then
		text = tostring(message) .. ": " .. detail
	end
	error(setmetatable({ message = text, where = where(3) }, Failure), 0)
end

-- ----- showing values -----

local SHORT = 60 -- longer strings are cut

local function show_string(s)
	local cut = #s > SHORT
	local q = string.format("%q", cut and s:sub(1, SHORT - 20) or s):gsub("\\\n", "\\n")
	if cut then
		return q .. string.format("... (%d bytes)", #s)
	end
	return q
end

local show

local function show_key(k)
	if type(k) == "string" and k:match("^[%a_][%w_]*$") then
		return k
	end
	return "[" .. show(k, 0) .. "]"
end

-- v as a short Lua-like literal: strings quoted (%q), tables to depth 2 and
-- about 80 characters.
function show(v, depth)
	local t = type(v)
	if t == "string" then
		return show_string(v)
	elseif t ~= "table" then
		return tostring(v)
	end
	depth = depth or 2
	if depth <= 0 then
		return "{...}"
	end
	local parts, n = {}, #v
	for i = 1, n do
		parts[#parts + 1] = show(v[i], depth - 1)
	end
	local keys = {}
	for k in pairs(v) do
		if not (math.type(k) == "integer" and k >= 1 and k <= n) then
			keys[#keys + 1] = k
		end
	end
	table.sort(keys, function(a, b)
		return tostring(a) < tostring(b)
	end)
	for _, k in ipairs(keys) do
		parts[#parts + 1] = show_key(k) .. " = " .. show(v[k], depth - 1)
	end
	local text = "{" .. table.concat(parts, ", ") .. "}"
	if #text > 80 then
		text = text:sub(1, 76) .. "...}"
	end
	return text
end

-- The first place where a and b differ: path, value in a, value in b; nil if
-- deeply equal. Tables are equal when == says so, or when both have the same
-- keys with deeply equal values (metatables are not compared).
local function difference(a, b, path, seen)
	if a == b then
		return nil
	end
	if type(a) ~= "table" or type(b) ~= "table" then
		return path, a, b
	end
	seen = seen or {}
	if seen[a] == b then
		return nil
	end
	seen[a] = b
	for k, va in pairs(a) do
		local p, x, y = difference(va, b[k], path .. (type(k) == "string" and k:match("^[%a_][%w_]*$")
			and "." .. k or "[" .. show(k, 0) .. "]"), seen)
		if p then
			return p, x, y
		end
	end
	for k, vb in pairs(b) do
		if a[k] == nil then
			return path .. (type(k) == "string" and k:match("^[%a_][%w_]*$") and "." .. k
				or "[" .. show(k, 0) .. "]"), nil, vb
		end
	end
	return nil
end

-- ----- assertions -----

function test.ok(v, message)
	if not v then
		fail_with(message, "expected a true value, got " .. show(v))
	end
	return v
end

function test.eq(actual, expected, message)
	local path, x, y = difference(expected, actual, "")
	if path == nil then
		return actual
	end
	local detail = string.format("expected %s, got %s", show(expected), show(actual))
	if path ~= "" then
		detail = detail .. string.format(" (at %s: expected %s, got %s)", path, show(x), show(y))
	end
	fail_with(message, detail)
end

function test.ne(a, b, message)
	if difference(a, b, "") == nil then
		fail_with(message, "expected a value other than " .. show(b))
	end
	return a
end

function test.match(s, pattern, message)
	if type(pattern) ~= "string" then
		error("test.match: the pattern must be a string, got " .. type(pattern), 2)
	end
	if type(s) ~= "string" then
		fail_with(message, string.format("expected a string matching %s, got %s", show_string(pattern), show(s)))
	end
	local found = table.pack(s:match(pattern))
	if found[1] == nil then
		fail_with(message, string.format("expected a string matching %s, got %s", show_string(pattern), show(s)))
	end
	return table.unpack(found, 1, found.n)
end

function test.raises(fn, pattern, message)
	if type(fn) ~= "function" then
		error("test.raises: a function expected, got " .. type(fn), 2)
	end
	local ok, err = pcall(fn)
	if ok then
		fail_with(message, "expected an error, none was raised")
	end
	local text = tostring(err)
	if type(err) == "string" and err:find(INTERRUPTED, 1, true) then
		-- The runner stopping a stuck case is not the error the case expects.
		error(err, 0)
	end
	if pattern ~= nil and not text:find(pattern) then
		fail_with(message, string.format("expected an error matching %s, got %s", show_string(pattern), show_string(text)))
	end
	return err
end

function test.fail(message)
	error(setmetatable({ message = message ~= nil and tostring(message) or "test.fail", where = where(2) }, Failure), 0)
end

-- ----- cases -----

local cases = {}
local names = {}
local setup_fn, teardown_fn
local script_timeout
-- Set once the cases start: no more may be declared.
local started = false
-- The case running now: { index, sockets = {...}, co, abandoned, result }.
local current

local function check_timeout(what, seconds, level)
	if type(seconds) ~= "number" or seconds ~= seconds or seconds <= 0 or seconds > MAX_TIMEOUT then
		error(string.format("%s: the timeout must be a positive number of seconds, at most %d (a year), got %s",
			what, MAX_TIMEOUT, show(seconds)), level + 1)
	end
end

function test.case(name, opts, fn)
	if fn == nil then
		opts, fn = nil, opts
	end
	if started then
		error("test.case: cases must be declared at the top level of the script", 2)
	end
	if type(name) ~= "string" or name == "" then
		error("test.case: the name must be a non-empty string, got " .. show(name), 2)
	end
	if type(fn) ~= "function" then
		error(string.format("test.case %q: a function expected, got %s", name, type(fn)), 2)
	end
	if opts ~= nil and type(opts) ~= "table" then
		error(string.format("test.case %q: opts must be a table, got %s", name, type(opts)), 2)
	end
	if opts and opts.timeout ~= nil then
		check_timeout(string.format("test.case %q", name), opts.timeout, 2)
	end
	if names[name] then
		error(string.format("test.case: a case named %q is already declared", name), 2)
	end
	names[name] = true
	cases[#cases + 1] = { name = name, fn = fn, timeout = opts and opts.timeout }
	report("case", name)
end

function test.setup(fn)
	if type(fn) ~= "function" then
		error("test.setup: a function expected, got " .. type(fn), 2)
	end
	if setup_fn then
		error("test.setup: already set for this script", 2)
	end
	setup_fn = fn
end

function test.teardown(fn)
	if type(fn) ~= "function" then
		error("test.teardown: a function expected, got " .. type(fn), 2)
	end
	if teardown_fn then
		error("test.teardown: already set for this script", 2)
	end
	teardown_fn = fn
end

function test.timeout(seconds)
	check_timeout("test.timeout", seconds, 2)
	script_timeout = seconds
end

-- ----- helpers -----

function test.connect(host, port)
	if type(host) ~= "string" then
		error("test.connect: host expected (\"127.0.0.1\", 7000 or \"127.0.0.1:7000\"), got " .. show(host), 2)
	end
	local target = port and string.format("%s:%s", host, tostring(port)) or host
	local id, err = socket.open(host, port)
	if not id then
		error(string.format("test.connect: cannot connect to %s: %s", target, tostring(err)), 2)
	end
	if current then
		current.sockets[#current.sockets + 1] = id
	end
	return id
end

function test.getenv(key, default)
	local value = skynet.getenv(key)
	if value == nil then
		return default
	end
	return value
end

-- ----- running the cases -----

-- The error handler of every part of a case: turns what was raised into a
-- Failure located in the script. Errors other than assertions are logged
-- with their traceback (the runner shows the log of a failed file).
local function on_error(e)
	if is_failure(e) then
		return e
	end
	local text = tostring(e)
	if type(e) == "table" and not (getmetatable(e) or {}).__tostring then
		text = "error object " .. show(e)
	end
	local at = where(2)
	if type(e) == "string" and e:find(INTERRUPTED, 1, true) then
		return setmetatable({ interrupted = true, message = text, where = at }, Failure)
	end
	-- The frames below the case's own (this module, the task) say nothing.
	local trace = debug.traceback(text, 2)
	skynet.error((trace:gsub("\n\t%[C%]: in function 'xpcall'.*$", "")))
	-- Lua's own "FILE:LINE: " prefix says what `where` says.
	local prefix, rest = text:match("^(.-:%d+): (.*)$")
	if prefix and at and prefix:gsub("^%./", "") == at then
		text = rest
	end
	return setmetatable({ message = text, where = at }, Failure)
end

local function seconds(t)
	return string.format("%g s", t)
end

-- The outcome of a caught failure: status, message, location.
local function outcome(f, timeout, what)
	local prefix = what and what .. ": " or ""
	if f.interrupted then
		return "TIMEOUT", string.format("after %s, %srunning Lua code without yielding at %s",
			seconds(timeout), prefix, f.where or "?"), nil
	end
	return "FAIL", prefix .. f.message, f.where
end

-- The part of a case's body that runs `fn` (setup, the case, teardown);
-- returns the failure, if any.
local function guarded(fn)
	local ok, err = xpcall(fn, on_error)
	if not ok then
		return err
	end
end

local function close_sockets(rec, at_once)
	for _, id in ipairs(rec.sockets) do
		if at_once then
			-- The reader may be a killed task: socket.close would wait for it.
			pcall(socket.abandon, id)
			pcall(socket.close_fd, id)
		else
			pcall(socket.close, id)
		end
	end
	rec.sockets = {}
end

-- The body of a case's task.
local function run_body(case, rec)
	local failure, what
	local set_up = true
	if setup_fn then
		failure = guarded(setup_fn)
		if failure then
			set_up, what = false, "setup"
		end
	end
	if not failure then
		failure = guarded(case.fn)
	end
	if set_up and teardown_fn and not rec.abandoned then
		local f = guarded(teardown_fn)
		if f and not failure then
			failure, what = f, "teardown"
		end
	end
	if rec.abandoned then
		return
	end
	close_sockets(rec)
	rec.result = failure and { failure, what } or true
	skynet.wakeup(rec)
end

-- Where a suspended task is blocked: "waiting in socket.read at FILE:LINE".
local function name_of(f, called)
	local best
	for modname, mod in pairs(package.loaded) do
		if type(mod) == "table" then
			for k, v in pairs(mod) do
				if v == f and type(k) == "string" then
					local short = modname == "_G" and k or (modname:match("([^.]+)$") .. "." .. k)
					if k == called then
						return short
					end
					best = best or short
				end
			end
		end
	end
	return best or called
end

local function blocked_in(co)
	local level, inner = 0, nil
	while true do
		local info = debug.getinfo(co, level, "Slnf")
		if info == nil then
			break
		end
		if info.source == script_source and info.currentline > 0 then
			local name = inner and name_of(inner.func, inner.name)
			if name then
				return string.format("waiting in %s at %s", name, location(info))
			end
			return "suspended at " .. location(info)
		end
		inner = info
		level = level + 1
	end
	local at = where(0, co)
	return at and ("suspended at " .. at) or "suspended"
end

-- Runs fn in a fresh task under `timeout`; returns the result record:
-- result == true (passed), { failure, what }, or nil (timed out; the task
-- has been killed and `blocked` says where it was).
local function run_task(timeout, body)
	local rec = { sockets = {} }
	current = rec
	rec.co = skynet.fork(body, rec)
	if rec.result == nil then
		skynet.sleep(math.max(1, math.ceil(timeout * 100)), rec)
	end
	if rec.result == nil then
		rec.abandoned = true
		rec.blocked = blocked_in(rec.co)
		skynet.killthread(rec.co)
		close_sockets(rec, true)
	end
	current = nil
	return rec
end

local function run_case(index, case, default)
	local timeout = case.timeout or script_timeout or default
	report("begin", index, timeout)
	local rec = run_task(timeout, function(r)
		run_body(case, r)
	end)
	if rec.result == true then
		return report("end", index, "ok", "", "")
	elseif rec.result then
		local status, message, at = outcome(rec.result[1], timeout, rec.result[2])
		return report("end", index, status, message, at or "")
	end
	local message = string.format("after %s, %s", seconds(timeout), rec.blocked)
	if teardown_fn then
		-- The case's task is gone: teardown runs on its own, with the same timeout.
		report("watch", timeout)
		local td = run_task(timeout, function(r)
			local f = guarded(teardown_fn)
			r.result = f and { f, "teardown" } or true
			close_sockets(r)
			skynet.wakeup(r)
		end)
		if td.result == nil then
			message = message .. string.format("; teardown timed out too (%s)", td.blocked)
		elseif td.result ~= true then
			local _, text, at = outcome(td.result[1], timeout, "teardown")
			message = message .. "; " .. text .. (at and (" (" .. at .. ")") or "")
		end
	end
	report("end", index, "TIMEOUT", message, "")
end

local function run_all()
	started = true
	if #cases == 0 then
		report("error", "no cases declared: declare them with test.case(name, fn) at the top level of the script")
		return report("done")
	end
	local default = tonumber(skynet.getenv("lunet_test_timeout")) or DEFAULT_TIMEOUT
	local ok, err = pcall(check_timeout, "lunet_test_timeout", default, 1)
	if not ok then
		report("error", err)
		return report("done")
	end
	for index, case in ipairs(cases) do
		run_case(index, case, default)
	end
	report("done")
end

skynet.start(function()
	skynet.fork(run_all)
end)

-- The module started the service; the script must not start it again.
function skynet.start()
	error("lunet.test: a test script must not call skynet.start: lunet.test starts the service "
		.. "and runs the cases once the script's chunk has returned", 2)
end

return test
