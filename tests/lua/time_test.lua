-- Time and coroutines inside one service: sleep, wakeup, wait, timeout, fork,
-- and skynet.queue's critical sections.
--   lunet test tests/lua/time_test.lua
local skynet = require "skynet"
local queue = require "skynet.queue"
local test = require "lunet.test"

test.timeout(2)

test.case("sleep lets at least that much time pass", function()
	local t0 = skynet.now()
	test.eq(skynet.sleep(5), nil)
	test.ok(skynet.now() - t0 >= 5, "slept " .. (skynet.now() - t0) .. " cs")
end)

test.case("wakeup ends a sleep early with BREAK", function()
	local token = {}
	local result
	skynet.fork(function()
		result = skynet.sleep(10000, token)
	end)
	skynet.yield()
	test.ok(skynet.wakeup(token), "the sleeper was found")
	skynet.yield()
	test.eq(result, "BREAK")
	test.eq(skynet.wakeup(token), false, "nobody sleeps on the token any more")
end)

test.case("wait blocks until wakeup", function()
	local token = {}
	local order = {}
	skynet.fork(function()
		order[#order + 1] = "waiting"
		skynet.wait(token)
		order[#order + 1] = "woken"
	end)
	skynet.sleep(1)
	order[#order + 1] = "waking"
	skynet.wakeup(token)
	skynet.sleep(1)
	test.eq(order, { "waiting", "waking", "woken" })
end)

test.case("timeouts fire in the order of their times", function()
	local fired = {}
	for _, cs in ipairs { 3, 1, 2 } do
		skynet.timeout(cs, function()
			fired[#fired + 1] = cs
		end)
	end
	skynet.sleep(10)
	test.eq(fired, { 1, 2, 3 })
end)

test.case("fork runs after the current task yields", function()
	local ran = false
	skynet.fork(function()
		ran = true
	end)
	test.eq(ran, false)
	skynet.yield()
	test.eq(ran, true)
end)

test.case("a queue runs critical sections one at a time, in order", function()
	local cs = queue()
	local trace = {}
	local function section(name)
		trace[#trace + 1] = name .. " in"
		skynet.sleep(1) -- others try to enter meanwhile
		trace[#trace + 1] = name .. " out"
	end
	local done = 0
	for _, name in ipairs { "a", "b", "c" } do
		skynet.fork(function()
			cs(section, name)
			done = done + 1
		end)
	end
	while done < 3 do
		skynet.sleep(1)
	end
	test.eq(trace, { "a in", "a out", "b in", "b out", "c in", "c out" })
end)

test.case("a queue is released when a section fails", function()
	local cs = queue()
	test.raises(function()
		cs(error, "inside")
	end, "inside")
	test.eq(cs(function()
		return "entered"
	end), "entered")
end)
