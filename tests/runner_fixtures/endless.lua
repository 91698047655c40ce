-- A case stuck in Lua code that never yields: the runner interrupts it and
-- reports a TIMEOUT; the next case runs.
local test = require "lunet.test"

test.timeout(0.5)

test.case("spins", function()
	local n = 0
	while true do
		n = n + 1 -- [spin]
	end
end)

test.case("runs after the spin", function()
	test.ok(true)
end)
