-- coroutine.wrap, rebuilt on lunet's coroutine.resume (which records the
-- running coroutine, so a loop inside can be interrupted; see
-- src/lua/interrupt.rs), with the library's behaviour: errors are raised with
-- position information (for strings), and a coroutine that failed is closed.
-- Internal: src/lua/interrupt.rs loads it when coroutine.wrap is first called.
local create, resume, status, close = coroutine.create, coroutine.resume, coroutine.status, coroutine.close
local function finish(co, ok, ...)
	if ok then
		return ...
	end
	local err = ...
	if status(co) == "dead" then
		local closed, closing_err = close(co)
		if not closed then
			err = closing_err
		end
	end
	error(err, type(err) == "string" and 2 or 0)
end
return function(f)
	local co = create(f)
	return function(...)
		return finish(co, resume(co, ...))
	end
end
