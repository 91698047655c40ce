-- A case starts a service found next to the script (pinger.lua).
local skynet = require "skynet"
local test = require "lunet.test"

test.case("calls a service started next to the script", function()
	local pinger = skynet.newservice("pinger", "pong")
	test.eq(skynet.call(pinger, "lua", "ping", 7), "pong 7")
end)

test.case("a service that is not there names the paths searched", function()
	local err = test.raises(function() skynet.newservice("no_such_service") end)
	test.match(err, 'service "no_such_service" not found; searched:')
	test.match(err, "tests/runner_fixtures/no_such_service%.lua")
end)
