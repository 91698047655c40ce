-- A test script must not call skynet.start.
local skynet = require "skynet"
local test = require "lunet.test"

test.case("x", function() end)

skynet.start(function() end)
