-- A module for a_test.lua (not a test: its name does not match).
return { answer = 42 }
