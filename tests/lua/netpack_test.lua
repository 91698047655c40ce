-- skynet.netpack: 2-byte big-endian length framing, on its own and through
-- a gate-style socket protocol in the same node (frames cut across writes).
--   lunet test tests/lua/netpack_test.lua
local skynet = require "skynet"
local socket = require "skynet.socket"
local netpack = require "skynet.netpack"
local test = require "lunet.test"

test.timeout(2)

test.case("pack puts a 2-byte big-endian length first, up to 65535 bytes", function()
	test.eq(netpack.pack("hi"), "\0\2hi")
	test.eq(netpack.pack(""), "\0\0")
	local long = string.rep("a", 300)
	test.eq(netpack.pack(long):sub(1, 2), "\1\44")
	test.eq(#netpack.pack(string.rep("b", 65535)), 65537)
	test.raises(function()
		netpack.pack(string.rep("c", 65536))
	end, "message of 65536 bytes is over the 65535%-byte limit of a frame")
end)

test.case("frames read back with read(2) and read(n)", function()
	local id, _, port = socket.listen("127.0.0.1", 0)
	local frames = {}
	local done = false
	socket.start(id, function(conn)
		socket.start(conn)
		while true do
			local head = socket.read(conn, 2)
			if not head then
				break
			end
			local n = string.unpack(">I2", head)
			frames[#frames + 1] = n == 0 and "" or socket.read(conn, n)
		end
		socket.close(conn)
		done = true
	end)
	local c = test.connect("127.0.0.1", port)
	local wire = netpack.pack("first") .. netpack.pack("") .. netpack.pack(string.rep("z", 1000))
	-- In pieces that cut headers and bodies.
	for i = 1, #wire, 7 do
		socket.write(c, wire:sub(i, i + 6))
	end
	socket.close(c)
	for _ = 1, 100 do
		if done then
			break
		end
		skynet.sleep(1)
	end
	test.ok(done, "the reader saw the close")
	test.eq(frames, { "first", "", string.rep("z", 1000) })
	socket.close(id)
end)
