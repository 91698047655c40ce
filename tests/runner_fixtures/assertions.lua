-- Every assertion of lunet.test, passing and failing: a failing one is run
-- inside test.raises, and its message is checked. All cases pass.
--   lunet test tests/runner_fixtures/assertions.lua
local skynet = require "skynet"
local test = require "lunet.test"

-- The message of the failure `f` raises.
local function failure_of(f)
	return tostring(test.raises(f))
end

test.case("ok and fail", function()
	test.eq(test.ok(42), 42)
	test.match(failure_of(function() test.ok(nil) end), "expected a true value, got nil$")
	test.match(failure_of(function() test.ok(false, "flag") end), "flag: expected a true value, got false$")
	test.match(failure_of(function() test.fail("given up") end), "given up$")
	test.match(failure_of(function() test.fail() end), "test.fail$")
end)

test.case("eq quotes strings and shortens long values", function()
	test.eq("hello", "hello")
	test.eq(failure_of(function() test.eq("hell", "hello", "greeting") end):match(": (greeting:.*)$"),
		'greeting: expected "hello", got "hell"')
	test.match(failure_of(function() test.eq("a\nb", "a") end), 'expected "a", got "a\\nb"$')
	test.match(failure_of(function() test.eq(1, "1") end), 'expected "1", got 1$')
	local long = failure_of(function() test.eq(string.rep("x", 500), "short") end)
	test.match(long, '^.-expected "short", got "x+"%.%.%. %(500 bytes%)$')
	test.ok(#long < 200, "the long value is cut: " .. #long)
end)

test.case("eq compares tables deeply", function()
	test.eq({ 1, 2, { a = "x" } }, { 1, 2, { a = "x" } })
	test.eq({}, {})
	local msg = failure_of(function() test.eq({ 1, { a = "x" } }, { 1, { a = "y" } }) end)
	test.match(msg, 'expected {1, {a = "y"}}, got {1, {a = "x"}} %(at %[2%]%.a: expected "y", got "x"%)$')
	msg = failure_of(function() test.eq({ 1 }, { 1, 2 }) end)
	test.match(msg, "%(at %[2%]: expected 2, got nil%)$")
	-- A cycle does not hang the comparison.
	local a, b = {}, {}
	a.self, b.self = a, b
	test.eq(a, b)
end)

test.case("ne", function()
	test.ne(1, 2)
	test.ne({ 1 }, { 2 })
	test.match(failure_of(function() test.ne({ 1 }, { 1 }, "copies") end),
		"copies: expected a value other than {1}$")
end)

test.case("match returns the captures", function()
	local a, b = test.match("key=value", "^(%w+)=(%w+)$")
	test.eq({ a, b }, { "key", "value" })
	test.match(failure_of(function() test.match("nope", "^%d+$") end),
		'expected a string matching "%^%%d%+%$", got "nope"$')
	test.match(failure_of(function() test.match(nil, "x") end), 'expected a string matching "x", got nil$')
end)

test.case("raises returns the error and checks its pattern", function()
	local err = test.raises(function() error("boom 42") end, "boom %d+")
	test.match(err, "boom 42$")
	test.match(failure_of(function() test.raises(function() end) end), "expected an error, none was raised$")
	test.match(failure_of(function() test.raises(function() error("other") end, "^boom") end),
		'expected an error matching "%^boom", got ".-other"$')
end)

test.case("a failure names the line of the assertion in the script", function()
	local line = debug.getinfo(1, "l").currentline + 1
	local msg = failure_of(function() test.eq(1, 2) end)
	test.match(msg, "^tests/runner_fixtures/assertions%.lua:" .. line .. ": ")
end)

test.case("getenv with a default", function()
	test.eq(test.getenv("no_such_key_here", "dflt"), "dflt")
	test.eq(test.getenv("thread"), "2")
end)

test.case("a case may yield", function()
	local t0 = skynet.now()
	skynet.sleep(2)
	test.ok(skynet.now() >= t0 + 2)
end)
