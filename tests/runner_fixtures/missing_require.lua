local test = require "lunet.test"
local helper = require "no_such_helper_module"

test.case("never runs", function() end)
