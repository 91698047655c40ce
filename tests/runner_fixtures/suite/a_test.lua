local skynet = require "skynet"
local test = require "lunet.test"
local helper = require "helper" -- suite/helper.lua, found through lua_path

test.case("the base config's keys reach the script", function()
	test.eq(test.getenv("greeting"), "hello from test_config")
end)

test.case("services are found along the base config's luaservice", function()
	local s = skynet.newservice("doubler")
	test.eq(skynet.call(s, "lua", 21), 42)
end)

test.case("modules next to the script are found", function()
	test.eq(helper.answer, 42)
end)
