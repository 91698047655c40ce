-- A script timeout beyond what can be timed (`--set huge=SECS`): the script
-- fails at once with a clear error, it does not crash or stall the runner.
local test = require "lunet.test"

test.timeout(tonumber(test.getenv("huge"))) -- [huge]

test.case("never runs", function() end)
