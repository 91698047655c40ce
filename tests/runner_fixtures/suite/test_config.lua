-- The base config of the scripts in this directory: services from ../served,
-- and a key of our own.
luaservice = "../served/?.lua"
greeting = "hello from test_config"
