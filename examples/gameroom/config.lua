-- lunet run examples/gameroom/config.lua [--set port=9001]
-- (the services are found next to this file, so any working directory works)
thread = 2
start = "main"
host = "127.0.0.1"
port = 7100 -- 0 picks a free port; the log line "listening on ADDR:PORT" names it
maxclient = 64
