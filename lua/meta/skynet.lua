---@meta skynet

-- Editor annotations (LuaLS `---@meta`) for lunet's `skynet` module: what
-- lua/skynet.lua and the parts it loads on first use (lua/lunet/skynet_*.lua)
-- provide. Definitions only: lunet never loads this file (it is not embedded
-- in the binary). Point LuaLS's `workspace.library` at lua/meta to use it.
--
-- Blocking functions are marked `---@async`: they suspend the calling
-- coroutine (the task handling the current message) until their response,
-- timer or wakeup arrives; the service goes on handling other messages.

---A service address: a handle (an integer; a float with an integral value
---is taken too), its text form `":%08x"`, or a local name `".name"`.
---@alias skynet.address number|string

---The name of a registered protocol (see `skynet.register_protocol`).
---Registered by lunet: "lua", "text", "response", "error", "debug";
---skynet.socket registers "socket"; services register more ("client", ...).
---@alias skynet.ptype_name
---| "lua"
---| "text"
---| "response"
---| "error"
---| "debug"
---| "socket"
---| "client"
---| string

---A message handler: `session` is 0 for a one-way message (skynet.send),
---`source` the sender's handle; then the message, unpacked by the protocol.
---Runs in a task of its own (so it may call, sleep and read sockets), except
---for protocols registered with `inline = true`.
---@alias skynet.dispatch_fn async fun(session: integer, source: integer, ...: any)

---A protocol class for `skynet.register_protocol`.
---@class skynet.protocol
---The protocol's name, used by send, call and dispatch.
---@field name string
---Its message type (0..255), e.g. `skynet.PTYPE_CLIENT`.
---@field id integer
---Turns the arguments of send/call into a message string (and its size).
---@field pack? fun(...: any): string, integer?
---Turns a message (a string; an opaque light userdata for socket messages)
---and its size into the handler's arguments.
---@field unpack? fun(msg: any, sz: integer): ...
---Handles messages of this type (also settable with `skynet.dispatch`).
---@field dispatch? skynet.dispatch_fn
---lunet: handle messages of this protocol outside a task: no coroutine
---switch, but the handler must not yield (no call, sleep, wait, read).
---@field inline? boolean

---What `skynet.call(addr, "debug", "STAT")` answers (every service answers
---the debug protocol: MEM, GC, STAT, TASK, INFO, EXIT, TERM, PING, SUPPORT).
---@class skynet.debug_stat
---Tasks with work (see `skynet.task`).
---@field task integer
---Messages waiting in the service's mailbox.
---@field mqlen integer
---Seconds spent handling messages.
---@field cpu number
---Messages handled.
---@field message integer

---A set of calls made at once (`skynet.request`); the responses are taken
---as they arrive with `select`. Callable: `reqs { addr, "lua", "CMD", ... }`
---is `reqs:add { ... }`.
---@class skynet.request
---Set by `select` when its timeout passed with requests outstanding (they
---were abandoned).
---@field timeout? true
---@overload fun(obj: table): skynet.request
local request = {}

---Adds a request `{ addr, typename, args... }` (other keys, e.g.
---`token = 1`, are kept: the same table comes back from `select`). Raises
---once `select` has started.
---@param obj table
---@return skynet.request self
function request:add(obj) end

---Drops every outstanding request and the timer: late responses are ignored.
---(Also the `__close` metamethod, so `local reqs <close> = ...` works.)
function request:close() end

---Sends every request, then iterates in arrival order:
---`for req, resp, err in reqs:select(timeout) do ... end`. A success gives
---the request table and its response packed in a table (`resp[1]`, ...,
---`resp.n`); a failure gives the request, nil and a message (never raised).
---`timeout` is in centiseconds; when it passes, the outstanding requests are
---abandoned and `reqs.timeout` is set. Selects once; iterate in the
---coroutine that called it. Leaving the loop early abandons the rest.
---The iterator suspends the calling coroutine until the next response.
---@param timeout? integer centiseconds
---@return async fun(): table?, table?, string? iterator
---@return nil
---@return nil
---@return skynet.request closing
function request:select(timeout) end

---Set by lunet before a service's chunk runs: the name it was launched by.
---@type string
SERVICE_NAME = nil

---Set by lunet before a service's chunk runs: the directory its file was
---found in, with a trailing "/" ("" for an embedded service).
---@type string
SERVICE_PATH = nil

---@class skynet
local skynet = {}

skynet.PTYPE_TEXT = 0
skynet.PTYPE_RESPONSE = 1
skynet.PTYPE_MULTICAST = 2
skynet.PTYPE_CLIENT = 3
skynet.PTYPE_SYSTEM = 4
skynet.PTYPE_HARBOR = 5
skynet.PTYPE_SOCKET = 6
skynet.PTYPE_ERROR = 7
skynet.PTYPE_QUEUE = 8
skynet.PTYPE_DEBUG = 9
skynet.PTYPE_LUA = 10
skynet.PTYPE_SNAX = 11
skynet.PTYPE_TRACE = 12

-- ----- protocols and dispatch -----

---Registers a protocol class (name and id must both be new). The "lua"
---protocol is registered by lunet with `skynet.pack`/`skynet.unpack`.
---@param class skynet.protocol
function skynet.register_protocol(class) end

---Sets the handler of protocol `typename` and returns the previous one; with
---no `func`, returns the current handler. Raises for an unknown protocol.
---Each message is handled in a task (a coroutine) of its own. A request
---whose handler ends or fails without responding gets an error response, so
---its caller never waits forever (lunet; skynet only logs).
---@param typename skynet.ptype_name
---@param func? skynet.dispatch_fn
---@return skynet.dispatch_fn? previous
function skynet.dispatch(typename, func) end

---Packs Lua values (nil, booleans, numbers, strings, nested tables) into a
---message string. Functions, userdata and threads raise.
---@param ... any
---@return string msg
---@return integer sz
function skynet.pack(...) end

---Unpacks the values `skynet.pack` packed in `msg` (in its first `sz` bytes
---when given).
---@param msg string
---@param sz? integer
---@return any ...
function skynet.unpack(msg, sz) end

---`skynet.pack(...)` as a single string.
---@param ... any
---@return string
function skynet.packstring(...) end

---A message as a string: `msg` (a string in lunet), its first `sz` bytes when
---`sz` is smaller; nil gives "".
---@param msg string?
---@param sz? integer
---@return string
function skynet.tostring(msg, sz) end

---Frees a message (a no-op in lunet: messages are Lua strings).
---@param msg string?
---@param sz? integer
function skynet.trash(msg, sz) end

-- ----- sending and calling -----

---Sends a one-way message (session 0), packed by the protocol. Returns
---false if `addr` names no live service.
---@param addr skynet.address
---@param typename skynet.ptype_name
---@param ... any
---@return boolean sent
function skynet.send(addr, typename, ...) end

---Calls `addr` and suspends the calling coroutine until the response comes;
---returns the response unpacked by the protocol. Raises if the address is
---invalid, the callee fails or ends without responding, or it exits.
---@async
---@param addr skynet.address
---@param typename skynet.ptype_name
---@param ... any
---@return any ...
function skynet.call(addr, typename, ...) end

---`skynet.send` with a message already packed (its first `sz` bytes).
---@param addr skynet.address
---@param typename skynet.ptype_name
---@param msg string
---@param sz? integer
---@return boolean sent
function skynet.rawsend(addr, typename, msg, sz) end

---`skynet.call` with a message already packed; returns the raw response.
---Suspends the calling coroutine; raises as `skynet.call`.
---@async
---@param addr skynet.address
---@param typename skynet.ptype_name
---@param msg string
---@param sz? integer
---@return string msg
---@return integer sz
function skynet.rawcall(addr, typename, msg, sz) end

---Sends a message to `addr` as if it came from `source`, with a given
---type (name or number) and session (gate-style forwarding). Returns
---whether `addr` names a live service.
---@param addr skynet.address
---@param source skynet.address
---@param typename skynet.ptype_name|integer
---@param session integer
---@param msg string
---@param sz? integer
---@return boolean sent
function skynet.redirect(addr, source, typename, session, msg, sz) end

---Starts several calls at once (`obj`, if given, is the first request); see
---`skynet.request` objects: `reqs:add`, `reqs:select(timeout)`.
---@param obj? table `{ addr, typename, args... }`
---@return skynet.request
function skynet.request(obj) end

-- ----- responding -----

---Responds to the request being handled with a packed message (empty when
---nil). Returns false for a one-way message (nothing to respond to); raises
---outside a request or if it was already answered.
---@param msg? string
---@param sz? integer
---@return boolean sent
function skynet.ret(msg, sz) end

---`skynet.ret(skynet.pack(...))`.
---@param ... any
---@return boolean sent
function skynet.retpack(...) end

---Takes over the response to the request being handled and returns a
---function that sends it later, from any coroutine: `respond(true, ...)`
---answers with `pack(...)` (default `skynet.pack`), `respond(false)` with an
---error, `respond("TEST")` tells whether it is still unanswered. Raises for a
---one-way message or one already answered. `skynet.exit` answers every
---pending one with an error.
---@param pack? fun(...: any): string, integer?
---@return fun(ok: boolean|"TEST", ...: any): boolean respond
function skynet.response(pack) end

---The request being handled will not be answered (its session is not a
---request, e.g. gate-forwarded client messages carry the fd).
function skynet.ignoreret() end

---The session and source of the request the running task handles, or
---nothing outside a request.
---@return integer? session
---@return integer? source
function skynet.context() end

-- ----- tasks: sleeping, waiting, forking -----

---Suspends the calling coroutine for `ti` centiseconds. Returns nil when the
---time passed, or "BREAK" when `skynet.wakeup(token)` woke it first (`token`
---defaults to the running coroutine).
---@async
---@param ti integer centiseconds
---@param token? any
---@return "BREAK"|nil
function skynet.sleep(ti, token) end

---Lets the other ready tasks run (`skynet.sleep(0)`).
---@async
---@return "BREAK"|nil
function skynet.yield() end

---Suspends the calling coroutine until `skynet.wakeup(token)` (`token`
---defaults to the running coroutine).
---@async
---@param token? any
function skynet.wait(token) end

---Wakes the coroutine sleeping or waiting on `token` (after the current
---message). Returns whether one was.
---@param token any
---@return boolean woken
function skynet.wakeup(token) end

---Runs `func` in a new task after `ti` centiseconds; returns that task.
---@param ti integer centiseconds
---@param func async fun()
---@return thread
function skynet.timeout(ti, func) end

---Runs `func(...)` in a new task after the current message; returns it.
---@param func async fun(...: any)
---@param ... any
---@return thread
function skynet.fork(func, ...) end

---With no argument: how many tasks have work (running, suspended, or not yet
---started). With a table: fills it with `tostring(task)` -> traceback.
---@return integer
---@overload fun(ret: table<string, string>)
function skynet.task() end

---Kills a suspended task: a coroutine, the token of its sleep or wait, or
---part of `tostring(co)`. Its pending call is dropped and the request it
---handled (if unanswered) gets an error. Returns the task, or nil.
---@param thread any a coroutine, a token, or part of `tostring(co)`
---@return thread?
function skynet.killthread(thread) end

---`service` is gone: every call of this service still waiting on it raises
---(after the current message).
---@param service skynet.address
function skynet.term(service) end

-- ----- the service's life -----

---Registers the start function: it runs in a task once the service is
---loaded, after the `skynet.init` functions. The service is reported started
---(newservice returns) when it returns; an error fails the launch.
---@param start_func async fun()
function skynet.start(start_func) end

---Registers a function to run before the start function.
---@param f async fun()
function skynet.init(f) end

---Exits the service: pending requests and held responses get an error, no
---queued fork or wakeup runs. Does not return.
function skynet.exit() end

---Sets what the debug protocol's INFO command answers: `f(...)`'s results.
---@param f async fun(...: any): ...
function skynet.info_func(f) end

-- ----- services -----

---Launches Lua service `name` ("snlua" is the only type in lunet) with
---`...` as its arguments (as strings). Suspends the calling coroutine until
---the service's code has loaded (its start function has not run yet).
---Returns the handle, or nil and why.
---@async
---@param service_type "snlua"
---@param name string
---@param ... any
---@return integer? handle
---@return string? err
function skynet.launch(service_type, name, ...) end

---Launches service `name` through the launcher and suspends the calling
---coroutine until its start function has returned. Raises (naming the
---service) if it is not found or fails to start.
---@async
---@param name string
---@param ... any arguments, passed as strings
---@return integer handle
function skynet.newservice(name, ...) end

---One service of that name per node: the first caller launches it, later
---(and concurrent) callers get the same handle. A leading `true` (skynet's
---global flag) is accepted and ignored. Suspends the calling coroutine.
---@async
---@param name string
---@param ... any
---@return integer handle
---@overload fun(global: boolean, name: string, ...: any): integer
function skynet.uniqueservice(name, ...) end

---The handle of unique service `name`; suspends the calling coroutine until
---some uniqueservice has launched it. A leading `true` is ignored.
---@async
---@param name string
---@return integer handle
---@overload fun(global: boolean, name: string): integer
function skynet.queryservice(name) end

-- ----- addresses, names, the environment, logging -----

---This service's handle.
---@return integer
function skynet.self() end

---An address as text: a handle as `":%08x"`, anything else by tostring.
---@param addr skynet.address
---@return string
function skynet.address(addr) end

---The handle registered under local name `name` (".name"), or nil.
---@param name string
---@return integer?
function skynet.localname(name) end

---A config value as a string (`--set key=value` too), or nil if unset.
---@param key string
---@return string?
function skynet.getenv(key) end

---Sets a config key (its value as a string). Raises if the key exists.
---@param key string
---@param value any
function skynet.setenv(key, value) end

---Logs its arguments (tostring'd, space-separated), prefixed `[:handle]`.
---@param ... any
function skynet.error(...) end

-- ----- clocks -----

---Centiseconds since the node started.
---@return integer
function skynet.now() end

---When the node started, in seconds since the Unix epoch.
---@return integer
function skynet.starttime() end

---The current time in seconds since the Unix epoch: `skynet.starttime()`
---plus `skynet.now() / 100`.
---@return number
function skynet.time() end

---A high-precision clock: nanoseconds since the service started.
---@return integer
function skynet.hpc() end

-- ----- the service's statistics and limits -----

---Sets this service's Lua memory limit in bytes (0: none); returns the old one.
---@param bytes integer
---@return integer previous
function skynet.memlimit(bytes) end

---How many messages wait in this service's mailbox.
---@return integer
function skynet.mqlen() end

---Whether the monitor found this service stuck on one message since the last
---call (the flag is cleared).
---@return boolean
function skynet.endless() end

---A statistic of this service: "mqlen", "task", "memory" (bytes of Lua
---memory), "message" (messages handled): integers; "cpu" (seconds spent
---handling messages): a number; "endless": a boolean. Anything else: nil.
---@param what "mqlen"|"task"|"memory"|"message"
---@return integer
---@overload fun(what: "cpu"): number
---@overload fun(what: "endless"): boolean
function skynet.stat(what) end

return skynet
