-- skynet.call / send / ret / retpack / response between two services, and
-- what a caller sees when the other side fails or goes away.
--   lunet test tests/lua/call_test.lua
local skynet = require "skynet"
require "skynet.manager"
local test = require "lunet.test"

test.timeout(2)

local store
test.setup(function()
	store = skynet.newservice("store")
end)
test.teardown(function()
	skynet.kill(store)
end)

test.case("call returns what retpack packed", function()
	test.eq(skynet.call(store, "lua", "get", "missing"), nil)
	test.eq(table.pack(skynet.call(store, "lua", "pair")), { n = 3, 1, "two", { three = 3 } })
end)

test.case("sends from one service arrive in order, before a later call", function()
	for i = 1, 100 do
		skynet.send(store, "lua", "set", "k", i)
	end
	test.eq(skynet.call(store, "lua", "get", "k"), 100)
end)

test.case("response answers a call from another task", function()
	local got
	skynet.fork(function()
		got = skynet.call(store, "lua", "later", "door")
	end)
	skynet.sleep(1)
	test.eq(got, nil, "answered before the value was set")
	skynet.send(store, "lua", "set", "door", "open")
	for _ = 1, 100 do
		if got then
			break
		end
		skynet.sleep(1)
	end
	test.eq(got, "open")
end)

test.case("an error in the handler fails the call", function()
	test.raises(function()
		skynet.call(store, "lua", "fail")
	end, "call to :%x+ failed")
	test.eq(skynet.call(store, "lua", "get", "missing"), nil, "the store lives on")
end)

test.case("a handler that never answers fails the call", function()
	test.raises(function()
		skynet.call(store, "lua", "silent")
	end, "failed")
end)

test.case("a service that exits while called fails the call", function()
	test.raises(function()
		skynet.call(store, "lua", "exit")
	end, "failed")
	test.raises(function()
		skynet.call(store, "lua", "get", "k")
	end, "call to invalid address")
end)

-- Found in review: a killed service never answered the calls it held, and
-- their callers waited forever.
test.case("a service killed while it holds a call fails the call", function()
	local victim = skynet.newservice("store")
	local me = coroutine.running()
	local result
	skynet.fork(function()
		result = table.pack(pcall(skynet.call, victim, "lua", "later", "never set"))
		skynet.wakeup(me)
	end)
	skynet.call(victim, "lua", "get", "x") -- the fork sends its call meanwhile
	skynet.call(victim, "lua", "get", "x") -- answered after the held one was taken
	skynet.kill(victim)
	if not result then
		skynet.wait(me)
	end
	test.eq(result[1], false, "the held call fails")
	test.match(tostring(result[2]), "failed")
end)

test.case("names and uniqueservice", function()
	skynet.name(".the_store", store)
	skynet.send(".the_store", "lua", "set", "n", 1)
	test.eq(skynet.call(".the_store", "lua", "get", "n"), 1)
	local a = skynet.uniqueservice("store")
	local b = skynet.uniqueservice("store")
	test.eq(a, b)
	test.ne(a, store)
end)
