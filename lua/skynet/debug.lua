-- skynet.debug: the debug protocol (PTYPE_DEBUG) every service answers.
--
-- lua/skynet.lua registers the protocol and loads this module at the first
-- debug message: init(skynet, export) returns the dispatch function.
-- `export.info()` returns the function set by skynet.info_func;
-- `export.traceback(session)` the traceback of the coroutine waiting on it.
--
-- Messages (skynet's), sent with skynet.call(addr, "debug", CMD, ...):
--   MEM            -> memory in use, KB (float)
--   GC             -> collects garbage; memory in use afterwards, KB
--   STAT           -> { task, mqlen, cpu, message } (see skynet.stat)
--   TASK [session] -> { [tostring(co)] = traceback } of the suspended
--                     coroutines, or the traceback of the one waiting on session
--   INFO ...       -> what skynet.info_func's function returns for ...
--   EXIT           -> the service exits (the caller's call raises: no answer)
--   TERM service   -> skynet.term(service); answers nothing
--   PING           -> an empty answer
--   SUPPORT name   -> whether protocol `name` has a dispatch function
-- An unknown command raises in the service; the caller gets an error.

local M = {}

function M.init(skynet, export)
	local cmd = {}

	function cmd.MEM()
		skynet.retpack(collectgarbage("count"))
	end

	function cmd.GC()
		collectgarbage("collect")
		skynet.retpack(collectgarbage("count"))
	end

	function cmd.STAT()
		skynet.retpack {
			task = skynet.task(),
			mqlen = skynet.stat("mqlen"),
			cpu = skynet.stat("cpu"),
			message = skynet.stat("message"),
		}
	end

	function cmd.TASK(session)
		if session then
			skynet.retpack(export.traceback(session))
			return
		end
		local tasks = {}
		skynet.task(tasks)
		tasks[tostring(coroutine.running())] = nil -- this handler: not suspended
		skynet.retpack(tasks)
	end

	function cmd.INFO(...)
		local f = export.info()
		if f then
			skynet.retpack(f(...))
		else
			skynet.retpack(nil)
		end
	end

	function cmd.EXIT()
		skynet.exit()
	end

	function cmd.TERM(service)
		skynet.term(service)
		skynet.ret()
	end

	function cmd.PING()
		skynet.ret()
	end

	function cmd.SUPPORT(name)
		local ok, f = pcall(skynet.dispatch, name)
		skynet.retpack(ok and f ~= nil)
	end

	return function(_, _, name, ...)
		local f = cmd[name]
		if f == nil then
			error("debug: unknown command " .. tostring(name), 2)
		end
		f(...)
	end
end

return M
