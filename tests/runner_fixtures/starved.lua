-- Two hogs hold both workers (thread = 2) past the first case's timeout:
-- the script's service waits for a worker rather than running the case. Its
-- own timeout still ends the case (a TIMEOUT naming skynet.sleep), once it
-- gets a worker; the runner must not interrupt or give up on the file
-- meanwhile, and the next case runs.
-- (Found in review: the runner interrupted the waiting service, the interrupt
-- hit a later message, and the file was abandoned.)
local skynet = require "skynet"
local test = require "lunet.test"

test.case("sleeps while hogs hold every worker", { timeout = 0.2 }, function()
	for _ = 1, 2 do
		skynet.send(skynet.newservice("hog"), "lua", 4)
	end
	skynet.sleep(1000) -- [sleep]
end)

test.case("runs once the hogs are done", function()
	test.ok(true)
end)
