-- A service for newservice.lua: answers ping(n) with "WORD n".
local skynet = require "skynet"

local word = ...

skynet.start(function()
	skynet.error("pinger ready")
	skynet.dispatch("lua", function(_, _, cmd, n)
		assert(cmd == "ping")
		skynet.retpack(word .. " " .. n)
	end)
end)
