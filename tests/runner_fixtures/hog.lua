-- A service for starved.lua: each request keeps its worker busy (no yield)
-- for the given seconds, then answers.
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, seconds)
		local until_ns = skynet.hpc() + math.floor(seconds * 1e9)
		while skynet.hpc() < until_ns do
		end
	end)
end)
