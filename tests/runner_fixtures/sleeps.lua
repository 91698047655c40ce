-- For --timeout: the first case sleeps longer than the timeout given on the
-- command line; the second has its own, longer timeout, which wins.
local skynet = require "skynet"
local test = require "lunet.test"

test.case("sleeps 3 s", function()
	skynet.sleep(300) -- [sleep]
end)

test.case("has its own timeout", { timeout = 3 }, function()
	skynet.sleep(50)
end)
