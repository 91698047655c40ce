-- lunet run examples/echo_agent/config.lua [--set port=9001]
thread = 2
host = "127.0.0.1"
port = 7001
start = "main"
