-- Cases that fail, each in its own way; the runner's report is checked by
-- tests/test_runner.rs (the markers in brackets name the lines it expects).
local test = require "lunet.test"

test.case("passes", function() end)

test.case("bad echo", function()
	test.eq("hell", "hello", "echo") -- [bad echo]
end)

test.case("raises", function()
	local t = nil
	return t.field -- [raises]
end)

test.case("error with a table", function()
	error({ code = 7 })
end)
