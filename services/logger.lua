-- logger: the node's log service, registered as `.logger` by bootstrap.
--
-- skynet.error and print log straight through the runtime's log (`tracing`),
-- so no line depends on this service being alive or keeps its order waiting
-- in its mailbox. The logger takes text messages sent to it
-- (skynet.send(".logger", "text", ...)) and logs each one on behalf of its
-- sender: `[:sender] text`. The `logger` config key (a file) is handled by
-- `lunet run`, which writes the whole log there.

local skynet = require "skynet"
local c = require "skynet.core"

skynet.register_protocol {
	name = "system",
	id = skynet.PTYPE_SYSTEM,
	unpack = function(...) return ... end,
}

skynet.start(function()
	-- A system service: it does not keep the node running.
	require("skynet.core").daemon()
	skynet.dispatch("text", function(session, source, text)
		c.error(text, source)
	end)
	-- skynet's logger reopens its file on a system message (SIGHUP); the log
	-- file here belongs to `lunet run`, so there is nothing to reopen.
	skynet.dispatch("system", function() end)
end)
