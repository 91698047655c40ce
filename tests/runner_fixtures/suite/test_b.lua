local test = require "lunet.test"

test.case("runs too", function()
	test.ok(true)
end)
