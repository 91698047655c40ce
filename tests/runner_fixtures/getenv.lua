-- `lunet test --set target=HOST:PORT` reaches test.getenv.
local test = require "lunet.test"

test.case("target is set", function()
	test.eq(test.getenv("target"), "127.0.0.1:7777")
end)
