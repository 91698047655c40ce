-- The base config of the protocol tests in this directory (lunet test reads
-- it for every script here; relative paths are relative to this directory).
--
-- The examples' services: `skynet.newservice("echo")` starts
-- examples/echo/main.lua (the example's directory name is the service name),
-- and the services chat and gameroom start themselves are found next to
-- them. Every example listens on 127.0.0.1, on a port the system picks.
luaservice = "../?/main.lua;../chat/?.lua;../gameroom/?.lua"
host = "127.0.0.1"
port = 0
