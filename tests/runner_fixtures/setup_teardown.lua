-- setup and teardown: order, teardown after a failure, an error in either
-- fails the case (teardown is skipped when setup failed). The last case
-- checks the order.
local test = require "lunet.test"

local events = {}
local n = 0

test.setup(function()
	n = n + 1
	events[#events + 1] = "setup" .. n
	if n == 3 then
		error("setup broke")
	end
end)

test.teardown(function()
	events[#events + 1] = "teardown" .. n
	if n == 4 then
		error("teardown broke")
	end
end)

test.case("first", function()
	events[#events + 1] = "first"
end)

test.case("fails", function()
	events[#events + 1] = "fails"
	test.fail("on purpose")
end)

test.case("setup fails", function()
	events[#events + 1] = "never"
end)

test.case("teardown fails", function()
	events[#events + 1] = "fourth"
end)

test.case("order", function()
	test.eq(table.concat(events, " "),
		"setup1 first teardown1 setup2 fails teardown2 setup3 setup4 fourth teardown4 setup5")
end)
