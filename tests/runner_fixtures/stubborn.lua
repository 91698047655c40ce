-- A case that catches the runner's interrupt and spins on: the runner gives
-- up on the file, reports the rest as not run, and still exits.
local test = require "lunet.test"

test.timeout(0.3)

test.case("spins and catches everything", function()
	while true do
		pcall(function()
			while true do
			end
		end)
	end
end)

test.case("never runs", function() end)
