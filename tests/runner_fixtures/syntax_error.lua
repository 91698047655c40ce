local test = require "lunet.test"

test.case("unclosed", function()
	test.ok(true)
end
