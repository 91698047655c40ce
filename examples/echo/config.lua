-- lunet run examples/echo/config.lua [--set port=9001]
thread = 2
host = "127.0.0.1"
port = 7000
start = "main"
