-- service_cell: runs a function given to skynet.service.new. Launched by
-- service_mgr as `service_cell name code ...`: `code` is the hex of the
-- function's bytecode (string.dump), the rest are its arguments.

local name, code = ...
SERVICE_NAME = name
local bytes = code:gsub("%x%x", function(h)
	return string.char(tonumber(h, 16))
end)
local main = assert(load(bytes, "=" .. name, "b"))
main(select(3, ...))
