-- A service for suite/a_test.lua, found through suite/test_config.lua.
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, n)
		skynet.retpack(n * 2)
	end)
end)
