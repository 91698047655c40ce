---@meta lunet.test

-- Editor annotations (LuaLS `---@meta`) for `lunet.test`, the module of
-- protocol-test scripts run by `lunet test`. Definitions only: lunet never
-- loads this file.
--
--   local test = require "lunet.test"
--   local socket = require "skynet.socket"
--
--   test.case("echo answers", function()
--       local id = test.connect("127.0.0.1", tonumber(test.getenv("port", "7000")))
--       socket.write(id, "hello\n")
--       test.eq(socket.readline(id), "hello")
--   end)
--
-- A script is a Lua service: it declares cases, and they run in order after
-- its chunk returns, each in its own task (so a case may call, sleep and read
-- sockets). A failed assertion ends its case; the runner prints one line per
-- case and `N passed, M failed`.

---Options of `test.case`.
---@class lunet.test.case_options
---Seconds this case may take (default: `test.timeout`, else 5; at most a year).
---@field timeout? number

---@class lunet.test
local test = {}

---Declares a case. Cases run in order after the script's chunk returns, each
---in its own task, with a timeout (5 s by default).
---@param name string
---@param fn async fun()
---@overload fun(name: string, opts: lunet.test.case_options, fn: async fun())
function test.case(name, fn) end

---Runs `fn` before each case.
---@param fn async fun()
function test.setup(fn) end

---Runs `fn` after each case, also after a failure.
---@param fn async fun()
function test.teardown(fn) end

---Sets the default per-case timeout of this script, in seconds (positive, at most a year: 31536000).
---@param seconds number
function test.timeout(seconds) end

---Fails the case unless `v` is truthy.
---@param v any
---@param msg? string
function test.ok(v, msg) end

---Fails the case unless `actual` equals `expected` (deep equality for tables).
---@param actual any
---@param expected any
---@param msg? string
function test.eq(actual, expected, msg) end

---Fails the case if `a` equals `b`.
---@param a any
---@param b any
---@param msg? string
function test.ne(a, b, msg) end

---Fails the case unless `s` matches Lua pattern `pattern`; returns the
---captures (or the whole match).
---@param s string
---@param pattern string
---@param msg? string
---@return string ...
function test.match(s, pattern, msg) end

---Fails the case unless `fn` raises (an error matching `pattern`, if given);
---returns the error.
---@param fn async fun()
---@param pattern? string
---@param msg? string
---@return any err
function test.raises(fn, pattern, msg) end

---Fails the case now.
---@param msg? string
function test.fail(msg) end

---Connects to `host`:`port` (or to `"host:port"` given as one string),
---suspending the case until connected; returns the socket id (closed after
---the case). Raises if the connect fails.
---@async
---@param host string
---@param port integer
---@return integer id
---@overload async fun(target: string): integer
function test.connect(host, port) end

---A config key (`lunet test --set key=value`), or `default`.
---@param key string
---@param default? string
---@return string?
function test.getenv(key, default) end

return test
