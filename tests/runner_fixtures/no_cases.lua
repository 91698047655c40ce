-- Declares nothing: the file fails.
local test = require "lunet.test"
