-- bootstrap: the first service of a node (`bootstrap = "snlua bootstrap"`).
--
-- Starts, in order: the launcher (`.launcher`, which newservice needs), the
-- service manager (`.service`, for uniqueservice), the log service named by the
-- `logservice` key (`.logger`), then the `start` service with newservice. If
-- anything fails, the error is logged and the node is aborted with it, so
-- `lunet run` exits non-zero naming what failed. Then bootstrap exits.
-- Without a `start` key (a Rust host's runtime: `lunet run` always sets one,
-- "main" by default) only the system services are started.

local skynet = require "skynet"
local c = require "skynet.core"
require "skynet.manager"

local function fail(message)
	skynet.error(message)
	c.abort(message)
end

skynet.start(function()
	local launcher, err = skynet.launch("snlua", "launcher")
	if not launcher then
		return fail("bootstrap: cannot start the launcher: " .. tostring(err))
	end
	skynet.name(".launcher", launcher)

	local ok, result = pcall(skynet.newservice, "service_mgr")
	if not ok then
		return fail("bootstrap: cannot start service_mgr: " .. tostring(result))
	end
	skynet.name(".service", result)

	local logservice = skynet.getenv("logservice") or "logger"
	ok, result = pcall(skynet.newservice, logservice)
	if not ok then
		return fail("bootstrap: cannot start the log service: " .. tostring(result))
	end
	skynet.name(".logger", result)

	local start = skynet.getenv("start")
	if start then
		ok, result = pcall(skynet.newservice, start)
		if not ok then
			return fail(string.format("bootstrap: start service %q failed: %s", start, tostring(result)))
		end
	end
	skynet.exit()
end)
