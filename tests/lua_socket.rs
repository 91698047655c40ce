//! `skynet.socket` (lua/skynet/socket.lua) used from Lua services against real
//! TCP and UDP peers on 127.0.0.1: a test per function of the API (issue 4),
//! the races and blocking rules of DESIGN §5 "Read semantics", flow control,
//! half-close end to end, and events for ids a service no longer holds.
//!
//! # How a test talks to its Lua services
//! Every service's source starts with [`PRELUDE`], which gives it:
//! - `report(label, ...)`: the text "ok label v1 v2 ..." to the test's probe
//!   (strings quoted with `'`, other values through `tostring`), and
//!   `say(label, text)` for text already formatted;
//! - `command()`: the next text message the test sent it ([`Node::tell`]);
//! - `main(f)` and `fork(f, ...)`: `skynet.start` and `skynet.fork` that turn
//!   a Lua error into the report "error <traceback>", which fails the test at
//!   once with the traceback;
//! - `listen(label, on_accept)` and `accept_one()`: a listener on a fresh port
//!   of 127.0.0.1, reported as "ok listening <port>";
//! - "ok paused <id>" the first time the library pauses a socket (it wraps
//!   `skynet.socketdriver.pause`, which `skynet.socket` pauses through), so a
//!   flow-control test can wait for the pause it means to cross;
//! - `events(id, type)`: how many socket events of that type (3 is CLOSE)
//!   the service has taken for `id` (it wraps `skynet.socketdriver.unpack`),
//!   so a test can tell whether a call returned before or after an event.
//!
//! Events the socket layer would deliver late (an Error for a socket the
//! service has closed) are injected as socket messages ([`Node::inject`]).
//!
//! The test waits for reports by label ([`Node::expect`]); reports it is not
//! waiting for yet are kept for later. Every wait is bounded ([`WAIT`]), so a
//! coroutine left blocked fails the test with the name of the report it never
//! sent. Deliberate delays are parts of scenarios only (the 0.5 s gap between
//! two halves, a peer that starts reading 1 s after its FIN, 0.3 s in which a
//! paused socket must read nothing, a peer that sends or reads slowly);
//! everything else waits on reports, commands or socket states.
//!
//! `LUNET_SOAK=1` runs the half-close echo 200 times instead of 3
//! (`LUNET_SOAK=N`, N > 1, runs it N times) and prints the number of runs and
//! of runs that lost bytes.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::lua::{LuaNode, ServiceLog};
use common::{client, compare, eventually, pattern, read_until_eof, spawn, Pending, MIB, WAIT};
use lunet::actor::{ptype, Handle, Payload};
use lunet::socket::{Event, SocketHandle, SocketId};

/// The start of every service in this file (see the module docs).
const PRELUDE: &str = r##"
local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local PROBE = tonumber((...))
local ARGS = table.pack(select(2, ...))

local function show(v)
    if type(v) == "string" then
        return "'" .. v .. "'"
    end
    return tostring(v)
end

local function say(label, text)
    skynet.send(PROBE, "text", "ok " .. label .. (text and text ~= "" and " " .. text or ""))
end

local function report(label, ...)
    local parts = {}
    for i = 1, select("#", ...) do
        parts[i] = show((select(i, ...)))
    end
    say(label, table.concat(parts, " "))
end

-- The first pause of each socket; skynet.socket pauses through the driver.
local pause_seen = {}
local driver_pause = driver.pause
driver.pause = function(id)
    if not pause_seen[id] then
        pause_seen[id] = true
        say("paused", tostring(id))
    end
    return driver_pause(id)
end

-- Socket events this service has taken, by id and type (1 DATA .. 7 WARNING):
-- skynet.socket unpacks every event through the driver.
local events_seen = {}
local function count_event(t, id, ...)
    if t then
        local seen = events_seen[id] or {}
        events_seen[id] = seen
        seen[t] = (seen[t] or 0) + 1
    end
    return t, id, ...
end
local driver_unpack = driver.unpack
driver.unpack = function(...)
    return count_event(driver_unpack(...))
end
local function events(id, t)
    return events_seen[id] and events_seen[id][t] or 0
end

local socket = require "skynet.socket"

local function guarded(f, ...)
    local ok, err = xpcall(f, debug.traceback, ...)
    if not ok then
        skynet.send(PROBE, "text", "error " .. tostring(err))
    end
end

local function fork(f, ...)
    skynet.fork(guarded, f, ...)
end

local function main(f)
    skynet.start(function()
        guarded(f)
    end)
end

-- Text messages from the test, in order.
local commands, command_co = {}, nil
skynet.dispatch("text", function(_, _, text)
    commands[#commands + 1] = text
    local co = command_co
    if co then
        command_co = nil
        skynet.wakeup(co)
    end
end)

local function command()
    while commands[1] == nil do
        command_co = coroutine.running()
        skynet.wait(command_co)
    end
    return table.remove(commands, 1)
end

local function listen(label, on_accept)
    local lid, _, port = socket.listen("127.0.0.1", 0)
    socket.start(lid, on_accept)
    say(label, tostring(port))
    return lid, port
end

-- Listens, takes the first connection and starts it: id, peer address.
local function accept_one()
    local co, got = coroutine.running(), nil
    listen("listening", function(id, addr)
        if got then
            socket.close_fd(id)
            return
        end
        got = { id, addr }
        skynet.wakeup(co)
    end)
    if not got then
        skynet.wait(co)
    end
    socket.start(got[1])
    return got[1], got[2]
end

local function netstat_of(id)
    for _, s in ipairs(socket.netstat()) do
        if s.id == id then
            return s
        end
    end
end

local function port_of(id)
    return tonumber(netstat_of(id).address:match(":(%d+)$"))
end

-- n lines "%08d\n" (1 to n), written in batches (a table of strings each).
local function write_lines(id, n)
    local batch = {}
    for i = 1, n do
        batch[#batch + 1] = string.format("%08d\n", i)
        if #batch == 8192 then
            socket.write(id, batch)
            batch = {}
        end
    end
    if #batch > 0 then
        socket.write(id, batch)
    end
end
"##;

/// A node running services that start with [`PRELUDE`], and the reports they
/// sent that the test has not claimed yet.
struct Node {
    lua: LuaNode,
    /// Reports that came while the test waited for another: (arrival, text).
    stash: RefCell<Vec<(usize, String)>>,
    arrivals: Cell<usize>,
}

impl Node {
    fn new(services: &[(&str, &str)]) -> Node {
        ServiceLog::get();
        let sources: Vec<(&str, String)> = services
            .iter()
            .map(|&(name, body)| (name, format!("{PRELUDE}\n{body}")))
            .collect();
        let sources: Vec<(&str, &str)> = sources.iter().map(|(n, s)| (*n, s.as_str())).collect();
        Node {
            lua: LuaNode::new("lua-socket", &sources),
            stash: RefCell::default(),
            arrivals: Cell::new(0),
        }
    }

    /// Launches `name` with the probe, then `args`, as its arguments.
    fn launch(&self, name: &str, args: &[String]) -> Handle {
        self.lua
            .launch_with(name, args)
            .unwrap_or_else(|e| panic!("launching {name}: {e}"))
    }

    /// Sends `text` to a service (its `command()` returns it).
    fn tell(&self, service: Handle, text: &str) {
        self.lua
            .runtime
            .node()
            .send(
                Handle::SYSTEM,
                service,
                ptype::TEXT,
                0,
                Payload::from(text.to_string()),
            )
            .unwrap_or_else(|e| panic!("telling {service:?} {text:?}: {e:?}"));
    }

    /// Delivers `event` to a service as if the socket thread had.
    fn inject(&self, service: Handle, event: Event) {
        self.lua
            .runtime
            .node()
            .send(
                Handle::SYSTEM,
                service,
                ptype::SOCKET,
                0,
                Payload::Socket(event),
            )
            .unwrap_or_else(|e| panic!("injecting a socket event: {e:?}"));
    }

    fn sockets(&self) -> &SocketHandle {
        self.lua.runtime.node().sockets()
    }

    /// The report "ok `label` ...": what follows the label, and its place
    /// among all reports received. Panics at once on a Lua error report.
    /// (A label followed by a space is a prefix of longer labels: "read"
    /// also matches "ok read 10 ...", so the shorter one must come first.)
    fn expect_seq(&self, label: &str) -> (usize, String) {
        let prefix = format!("ok {label}");
        let matching = |text: &str| -> Option<String> {
            match text.strip_prefix(prefix.as_str())? {
                "" => Some(String::new()),
                rest => rest.strip_prefix(' ').map(str::to_string),
            }
        };
        {
            let mut stash = self.stash.borrow_mut();
            if let Some(i) = stash.iter().position(|(_, t)| matching(t).is_some()) {
                let (at, text) = stash.remove(i);
                return (at, matching(&text).unwrap_or_default());
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(text) = self.lua.reports.recv_timeout(left) else {
                let unclaimed: Vec<String> =
                    self.stash.borrow().iter().map(|(_, t)| t.clone()).collect();
                panic!(
                    "timed out after {WAIT:?} waiting for the report {prefix:?} \
                     (reports not claimed: {unclaimed:?})"
                );
            };
            let at = self.arrivals.get();
            self.arrivals.set(at + 1);
            if let Some(error) = text.strip_prefix("error ") {
                panic!("a Lua service failed while the test waited for {prefix:?}:\n{error}");
            }
            if let Some(rest) = matching(&text) {
                return (at, rest);
            }
            self.stash.borrow_mut().push((at, text));
        }
    }

    /// What follows "ok `label`" in that report.
    fn expect(&self, label: &str) -> String {
        self.expect_seq(label).1
    }

    /// The port of the "ok listening <port>" report.
    fn port(&self) -> u16 {
        let text = self.expect("listening");
        text.parse()
            .unwrap_or_else(|_| panic!("a port in the listening report, got {text:?}"))
    }

    /// A socket id a service reported under `label`.
    fn socket_id(&self, label: &str) -> SocketId {
        let text = self.expect(label);
        text.parse()
            .ok()
            .and_then(SocketId::from_raw)
            .unwrap_or_else(|| panic!("a socket id in the {label:?} report, got {text:?}"))
    }

    /// Bytes the socket thread has read from `id` so far.
    fn bytes_read(&self, id: SocketId) -> u64 {
        common::info(self.sockets(), id)
            .unwrap_or_else(|| panic!("socket {id:?} is not open"))
            .bytes_read
    }

    /// Checks that socket `id` is paused: once the socket thread has taken
    /// every command sent so far (a pause among them), `send_more` has the peer
    /// send more, and for 0.3 s (part of the flow-control scenarios) the socket
    /// thread reads nothing from the socket.
    fn assert_paused_while(&self, id: SocketId, send_more: impl FnOnce()) {
        let before = self.bytes_read(id);
        send_more();
        std::thread::sleep(Duration::from_millis(300));
        let after = self.bytes_read(id);
        assert_eq!(
            before, after,
            "socket {id:?} went on reading while it should be paused"
        );
    }
}

/// The address of `handle` as Lua prints it (`:0000000b`).
fn address(handle: Handle) -> String {
    format!(":{:08x}", handle.get())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A peer connected to a Lua listener (with read and write timeouts).
fn connect(port: u16) -> TcpStream {
    client(loopback(port))
}

fn send(peer: &mut TcpStream, data: &[u8], what: &str) {
    peer.write_all(data)
        .unwrap_or_else(|e| panic!("the peer writing {what}: {e}"));
}

fn read_n(peer: &mut TcpStream, n: usize, what: &str) -> Vec<u8> {
    let mut buf = vec![0; n];
    peer.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("the peer reading {what} ({n} bytes): {e}"));
    buf
}

fn expect_eof(peer: &mut TcpStream, what: &str) {
    match read_until_eof(peer, WAIT) {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => panic!("{what}: {} bytes came before EOF", rest.len()),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Reads until EOF or a reset and returns how many bytes came; fails if
/// neither comes.
fn drain(peer: &mut TcpStream, what: &str) -> usize {
    let deadline = Instant::now() + WAIT;
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return total,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: {e} after {total} bytes (neither EOF nor a reset)"),
        }
        assert!(
            Instant::now() < deadline,
            "{what}: neither EOF nor a reset within {WAIT:?} ({total} bytes read)"
        );
    }
}

/// What `write_lines(id, n)` sends.
fn lines(n: usize) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i:08}\n").into_bytes())
        .collect()
}

/// Takes a connection from a listener of the test's, within [`WAIT`].
fn accept(listener: &TcpListener, what: &str) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let mut got = None;
    eventually(what, || match listener.accept() {
        Ok((s, _)) => {
            got = Some(s);
            true
        }
        Err(_) => false,
    });
    let s = got.expect("accepted");
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// A thread that writes for a peer what the test hands it, in order, so the
/// test never blocks on a socket that is paused; `finish` sends the FIN.
struct PeerWriter {
    parts: crossbeam_channel::Sender<Option<Vec<u8>>>,
    done: Pending<io::Result<()>>,
}

impl PeerWriter {
    fn new(peer: &TcpStream) -> PeerWriter {
        let mut writer = peer.try_clone().unwrap();
        let (parts, next) = crossbeam_channel::unbounded::<Option<Vec<u8>>>();
        let done = spawn("the peer's writer", move || loop {
            match next.recv_timeout(3 * WAIT) {
                Ok(Some(part)) => writer.write_all(&part)?,
                Ok(None) => return writer.shutdown(Shutdown::Write),
                Err(_) => return Err(io::Error::other("the test handed the writer nothing")),
            }
        });
        PeerWriter { parts, done }
    }

    fn write(&self, part: &[u8]) {
        self.parts.send(Some(part.to_vec())).unwrap();
    }

    /// Writes `data` in `piece`-byte parts, `gap` apart (a slow peer).
    fn trickle(&self, data: &[u8], piece: usize, gap: Duration) {
        for part in data.chunks(piece) {
            std::thread::sleep(gap);
            self.write(part);
        }
    }

    /// Sends the FIN after everything handed over, and waits for the writes.
    fn finish(self, what: &str) {
        self.parts.send(None).unwrap();
        self.done
            .wait(2 * WAIT)
            .unwrap_or_else(|e| panic!("the peer writing {what}: {e}"));
    }
}

// ----- opening and listening -----

#[test]
fn open_connects_by_host_and_port_or_address_and_a_refused_port_gives_nil_and_a_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A port nobody listens on any more.
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = Node::new(&[(
        "opener",
        r##"
main(function()
    local port, refused = tonumber(ARGS[1]), tonumber(ARGS[2])
    local id, err = socket.open("127.0.0.1", port)
    report("open", math.type(id), err)
    report("write", socket.write(id, "hello from lua"))
    local id2 = socket.open("127.0.0.1:" .. port)
    report("open address", math.type(id2), id2 ~= id)
    local bad, why = socket.open("127.0.0.1", refused)
    report("refused", bad, type(why))
    report("reason", why)
    report("answer", socket.read(id, 6))
    socket.close(id)
    socket.close(id2)
    report("closed", socket.invalid(id), socket.invalid(id2))
end)
"##,
    )]);
    node.launch("opener", &[port.to_string(), refused.to_string()]);
    assert_eq!(node.expect("open"), "'integer' nil");
    assert_eq!(node.expect("write"), "true");
    let mut first = accept(&listener, "the connection of socket.open(host, port)");
    assert_eq!(read_n(&mut first, 14, "what Lua wrote"), b"hello from lua");
    assert_eq!(node.expect("open address"), "'integer' true");
    let mut second = accept(&listener, "the connection of socket.open(\"host:port\")");
    assert_eq!(node.expect("refused"), "nil 'string'");
    let reason = node.expect("reason");
    assert!(
        reason.to_lowercase().contains("refused"),
        "the reason should say the connection was refused: {reason}"
    );
    send(&mut first, b"answer", "an answer");
    assert_eq!(node.expect("answer"), "'answer'");
    assert_eq!(node.expect("closed"), "true true");
    expect_eof(&mut first, "the first connection after socket.close");
    expect_eof(&mut second, "the second connection after socket.close");
}

#[test]
fn listen_returns_id_address_and_the_bound_port_and_start_hands_accepted_sockets_to_the_callback() {
    let node = Node::new(&[(
        "listener",
        r##"
main(function()
    local lid, addr, port = socket.listen("127.0.0.1", 0)
    report("listen", math.type(lid), addr, math.type(port), port > 0)
    local lid2, addr2, port2 = socket.listen("127.0.0.1:0")
    report("host:port form", addr2, port2 > 0 and port2 ~= port)
    socket.close(lid2)
    local co, accepted = coroutine.running(), nil
    local started = socket.start(lid, function(id, from)
        accepted = { id, from }
        skynet.wakeup(co)
    end)
    report("started", started == lid)
    say("listening", tostring(port))
    if not accepted then
        skynet.wait(co)
    end
    local id, from = accepted[1], accepted[2]
    report("accepted", math.type(id), from)
    report("start", socket.start(id) == id)
    report("read", socket.read(id))
    socket.write(id, "pong")
    socket.close(id)
    report("closed")
end)
"##,
    )]);
    node.launch("listener", &[]);
    assert_eq!(
        node.expect("listen"),
        "'integer' '127.0.0.1' 'integer' true"
    );
    assert_eq!(node.expect("host:port form"), "'127.0.0.1' true");
    assert_eq!(node.expect("started"), "true");
    let mut peer = connect(node.port());
    assert_eq!(
        node.expect("accepted"),
        format!("'integer' '{}'", peer.local_addr().unwrap())
    );
    assert_eq!(node.expect("start"), "true");
    send(&mut peer, b"ping", "ping");
    assert_eq!(node.expect("read"), "'ping'");
    assert_eq!(read_n(&mut peer, 4, "the answer"), b"pong");
    node.expect("closed");
    expect_eof(&mut peer, "after socket.close");
}

// ----- reading -----

#[test]
fn read_returns_what_is_buffered_read_n_exactly_n_and_after_the_close_false_and_the_rest() {
    let node = Node::new(&[(
        "reader",
        r##"
main(function()
    local id = accept_one()
    report("ready")
    report("read", socket.read(id))
    report("read 10", socket.read(id, 10))
    report("read 3", socket.read(id, 3))
    report("read 3 more", socket.read(id, 3))
    report("read 10 at close", socket.read(id, 10))
    report("read closed", socket.read(id))
    report("read 1 closed", socket.read(id, 1))
    socket.close(id)
    report("closed", socket.invalid(id))
end)
"##,
    )]);
    node.launch("reader", &[]);
    let mut peer = connect(node.port());
    node.expect("ready");
    send(&mut peer, b"abc", "abc");
    assert_eq!(node.expect("read"), "'abc'");
    // Ten bytes in two writes, then three more.
    send(&mut peer, b"01234", "the first half");
    send(&mut peer, b"56789xyzXYZ", "the second half and more");
    assert_eq!(node.expect("read 10"), "'0123456789'");
    assert_eq!(node.expect("read 3"), "'xyz'");
    assert_eq!(node.expect("read 3 more"), "'XYZ'");
    send(&mut peer, b"tail", "the tail");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("read 10 at close"), "false 'tail'");
    assert_eq!(node.expect("read closed"), "false ''");
    assert_eq!(node.expect("read 1 closed"), "false ''");
    assert_eq!(node.expect("closed"), "true");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn readall_waits_for_the_close_and_returns_everything_then_false() {
    let node = Node::new(&[(
        "readall",
        r##"
main(function()
    local id = accept_one()
    report("reading")
    report("readall", socket.readall(id))
    report("again", socket.readall(id))
    socket.close(id)
    report("closed")
end)
"##,
    )]);
    node.launch("readall", &[]);
    let mut peer = connect(node.port());
    node.expect("reading");
    send(&mut peer, b"part1", "part1");
    send(&mut peer, b"part2", "part2");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("readall"), "'part1part2'");
    assert_eq!(node.expect("again"), "false");
    node.expect("closed");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn readline_splits_on_newline_or_any_separator_even_across_arrivals_and_ends_with_false_and_the_rest(
) {
    let node = Node::new(&[(
        "lines",
        r##"
main(function()
    local id = accept_one()
    report("ready")
    report("line", socket.readline(id))
    report("empty", socket.readline(id))
    report("crlf", socket.readline(id, "\r\n"))
    report("long separator", socket.readline(id, "--END--"))
    report("split separator", socket.readline(id, "--END--"))
    report("rest", socket.readline(id))
    report("after", socket.readline(id))
    local ok, err = pcall(socket.readline, id, "")
    report("empty separator", ok,
        tostring(err):find("socket.readline: the separator is empty", 1, true) ~= nil)
    socket.close(id)
end)
"##,
    )]);
    node.launch("lines", &[]);
    let mut peer = connect(node.port());
    node.expect("ready");
    send(
        &mut peer,
        b"one\n\ntwo\r\nthree--END--fo",
        "the first lines",
    );
    assert_eq!(node.expect("line"), "'one'");
    assert_eq!(node.expect("empty"), "''");
    assert_eq!(node.expect("crlf"), "'two'");
    assert_eq!(node.expect("long separator"), "'three'");
    // The reader now waits for "--END--" after "fo"; it comes in two parts.
    send(&mut peer, b"ur--E", "half a separator");
    send(&mut peer, b"ND--tail", "the other half");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("split separator"), "'four'");
    assert_eq!(node.expect("rest"), "false 'tail'");
    assert_eq!(node.expect("after"), "false ''");
    assert_eq!(node.expect("empty separator"), "false true");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn block_waits_for_bytes_returns_true_when_some_are_buffered_and_false_once_closed() {
    let node = Node::new(&[(
        "blocker",
        r##"
main(function()
    local id = accept_one()
    report("ready")
    report("block", socket.block(id))
    report("block buffered", socket.block(id))
    report("read", socket.read(id))
    report("block closed", socket.block(id))
    report("block unknown", socket.block(987654))
    socket.close(id)
end)
"##,
    )]);
    node.launch("blocker", &[]);
    let mut peer = connect(node.port());
    node.expect("ready");
    send(&mut peer, b"x", "x");
    assert_eq!(node.expect("block"), "true");
    assert_eq!(node.expect("block buffered"), "true");
    assert_eq!(node.expect("read"), "'x'");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("block closed"), "false");
    assert_eq!(node.expect("block unknown"), "false");
    expect_eof(&mut peer, "after socket.close");
}

// ----- writing -----

#[test]
fn write_and_lwrite_send_strings_and_tables_of_strings_and_return_false_once_closed() {
    let node = Node::new(&[(
        "writer",
        r##"
main(function()
    local id = accept_one()
    report("write", socket.write(id, "abc"), socket.write(id, { "d", "ef", "", "g" }),
        socket.lwrite(id, "LOW"), socket.lwrite(id, { "lo", "w2" }))
    local ok, err = pcall(socket.write, id, true)
    report("bad data", ok, tostring(err):find("socket.write", 1, true) ~= nil)
    socket.close(id)
    report("after close", socket.write(id, "x"), socket.lwrite(id, "x"), socket.write(987654, "x"))
end)
"##,
    )]);
    node.launch("writer", &[]);
    let mut peer = connect(node.port());
    assert_eq!(node.expect("write"), "true true true true");
    assert_eq!(node.expect("bad data"), "false true");
    assert_eq!(node.expect("after close"), "false false false");
    let got = read_until_eof(&mut peer, WAIT).expect("the written bytes, then EOF");
    assert_eq!(String::from_utf8_lossy(&got), "abcdefgLOWlow2");
}

#[test]
fn header_reads_one_to_four_bytes_big_endian_and_rejects_other_lengths() {
    let node = Node::new(&[(
        "header",
        r##"
main(function()
    report("header", socket.header("\0\5"), socket.header("\1\2\3\4"), socket.header("\255"),
        socket.header("\1\0\0"))
    local ok1, e1 = pcall(socket.header, "")
    local ok2, e2 = pcall(socket.header, "12345")
    report("bad", ok1, tostring(e1):find("socket.header", 1, true) ~= nil,
        ok2, tostring(e2):find("socket.header", 1, true) ~= nil)
end)
"##,
    )]);
    node.launch("header", &[]);
    assert_eq!(node.expect("header"), "5 16909060 255 65536");
    assert_eq!(node.expect("bad"), "false true false true");
}

// ----- closing -----

#[test]
fn close_waits_for_the_close_and_the_bytes_written_before_it_all_reach_the_peer() {
    const LINES: usize = 1_000_000; // 9 MB: more than the kernel buffers hold
    let node = Node::new(&[(
        "closer",
        r##"
main(function()
    local id = accept_one()
    socket.onclose(id, function(cid)
        report("onclose", cid == id)
    end)
    write_lines(id, 1000000)
    socket.close(id)
    -- close returns once the Close event has come.
    report("closed", events(id, 3), socket.invalid(id), (socket.disconnected(id)),
        socket.write(id, "late"))
end)
"##,
    )]);
    node.launch("closer", &[]);
    let mut peer = connect(node.port());
    // The peer reads nothing until close has returned.
    assert_eq!(node.expect("closed"), "1 true nil false");
    assert_eq!(node.expect("onclose"), "true");
    let got = read_until_eof(&mut peer, WAIT).expect("the lines, then EOF");
    compare(&got, &lines(LINES)).unwrap_or_else(|e| panic!("the lines written before close: {e}"));
}

#[test]
fn shutdown_closes_at_once_and_discards_what_is_queued() {
    let node = Node::new(&[(
        "shutter",
        r##"
main(function()
    local id = accept_one()
    local chunk = string.rep("s", 1 << 20)
    for _ = 1, 16 do
        socket.write(id, chunk)
    end
    report("queued", netstat_of(id).wbuffer > 0)
    socket.shutdown(id)
    report("write after shutdown", socket.write(id, "x"))
    socket.close(id)
    report("closed", socket.invalid(id))
end)
"##,
    )]);
    node.launch("shutter", &[]);
    let mut peer = connect(node.port());
    // The peer has read nothing: most of the 16 MiB is queued.
    assert_eq!(node.expect("queued"), "true");
    assert_eq!(node.expect("write after shutdown"), "false");
    assert_eq!(node.expect("closed"), "true");
    let got = drain(&mut peer, "the peer after socket.shutdown");
    assert!(
        got < 16 * MIB,
        "all {got} bytes arrived: shutdown discarded nothing"
    );
}

#[test]
fn close_fd_closes_an_accepted_socket_nobody_started_and_refuses_a_started_one() {
    let node = Node::new(&[(
        "refuser",
        r##"
main(function()
    local n, co, kept = 0, coroutine.running(), nil
    listen("listening", function(id)
        n = n + 1
        if n == 1 then
            socket.close_fd(id)
            report("close_fd", socket.invalid(id))
        else
            kept = id
            skynet.wakeup(co)
        end
    end)
    if not kept then
        skynet.wait(co)
    end
    socket.start(kept)
    local ok, err = pcall(socket.close_fd, kept)
    report("close_fd started", ok, tostring(err):find("use socket.close", 1, true) ~= nil)
    socket.close(kept)
    report("closed")
end)
"##,
    )]);
    node.launch("refuser", &[]);
    let port = node.port();
    let mut refused = connect(port);
    assert_eq!(node.expect("close_fd"), "true");
    expect_eof(&mut refused, "a connection closed with socket.close_fd");
    let mut kept = connect(port);
    assert_eq!(node.expect("close_fd started"), "false true");
    node.expect("closed");
    expect_eof(&mut kept, "the started connection after socket.close");
}

/// Serves the sockets it is given (a "lua" message with the id): a line
/// echo, until the peer closes.
const TAKER: &str = r##"
skynet.dispatch("lua", function(_, _, id)
    guarded(function()
        report("taken", socket.start(id) == id)
        while true do
            local line = socket.readline(id)
            if not line then
                break
            end
            socket.write(id, "taker: " .. line .. "\n")
        end
        socket.close(id)
        report("served")
    end)
end)
main(function() end)
"##;

#[test]
fn abandon_hands_a_socket_to_another_service_which_starts_and_serves_it() {
    let node = Node::new(&[
        ("taker", TAKER),
        (
            "giver",
            r##"
main(function()
    local taker = tonumber(ARGS[1])
    local id = accept_one()
    report("hello", socket.readline(id))
    socket.abandon(id)
    local ok, err = pcall(socket.read, id)
    report("abandoned", socket.invalid(id), ok, tostring(err):find("not open", 1, true) ~= nil)
    skynet.send(taker, "lua", id)
end)
"##,
        ),
    ]);
    let taker = node.launch("taker", &[]);
    node.launch("giver", &[taker.get().to_string()]);
    let mut peer = connect(node.port());
    send(&mut peer, b"hello\n", "hello");
    assert_eq!(node.expect("hello"), "'hello'");
    assert_eq!(node.expect("abandoned"), "true false true");
    assert_eq!(node.expect("taken"), "true");
    send(&mut peer, b"world\n", "a line for the taker");
    assert_eq!(read_n(&mut peer, 13, "the taker's echo"), b"taker: world\n");
    peer.shutdown(Shutdown::Write).unwrap();
    node.expect("served");
    expect_eof(&mut peer, "after the taker closed");
}

// ----- socket state -----

#[test]
fn invalid_disconnected_and_onclose_follow_the_socket_and_read_after_the_peer_closed_gives_the_rest_then_false(
) {
    let node = Node::new(&[(
        "watcher",
        r##"
main(function()
    report("unknown", socket.invalid(987654), (socket.disconnected(987654)))
    local id = accept_one()
    report("open", socket.invalid(id), socket.disconnected(id))
    local co, closed = coroutine.running(), nil
    socket.onclose(id, function(cid)
        closed = cid
        skynet.wakeup(co)
    end)
    report("ready")
    if not closed then
        skynet.wait(co)
    end
    report("onclose", closed == id, socket.disconnected(id), socket.invalid(id))
    report("rest", socket.read(id))
    report("then", socket.read(id))
    report("readall", socket.readall(id))
    socket.close(id)
    report("closed", socket.invalid(id), (socket.disconnected(id)))
end)
"##,
    )]);
    node.launch("watcher", &[]);
    assert_eq!(node.expect("unknown"), "true nil");
    let mut peer = connect(node.port());
    assert_eq!(node.expect("open"), "false false");
    node.expect("ready");
    send(&mut peer, b"last words", "last words");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("onclose"), "true true false");
    assert_eq!(node.expect("rest"), "'last words'");
    assert_eq!(node.expect("then"), "false ''");
    assert_eq!(node.expect("readall"), "false");
    assert_eq!(node.expect("closed"), "true nil");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn warning_calls_back_with_the_queued_kib_while_the_peer_does_not_read_and_with_0_once_drained() {
    let node = Node::new(&[(
        "warned",
        r##"
main(function()
    local id = accept_one()
    local seen = 0
    local old = socket.warning(id, function(wid, kib)
        seen = seen + 1
        if seen == 1 then
            report("warning", wid == id, kib)
        end
        if kib == 0 then
            report("drained", seen)
        end
    end)
    report("old", old)
    local chunk = string.rep("w", 1 << 20)
    for _ = 1, 8 do
        socket.write(id, chunk)
    end
    command()
    socket.close(id)
    report("closed")
end)
"##,
    )]);
    let warned = node.launch("warned", &[]);
    let mut peer = connect(node.port());
    assert_eq!(node.expect("old"), "nil");
    // The peer reads nothing until the warning came.
    let warning = node.expect("warning");
    let kib: usize = warning
        .strip_prefix("true ")
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("a warning for the socket with its KiB, got {warning:?}"));
    assert!(kib >= 1024, "warned at {kib} KiB, below the 1 MiB mark");
    let got = read_n(&mut peer, 8 * MIB, "the 8 MiB");
    assert!(got.iter().all(|&b| b == b'w'));
    let drained: usize = node.expect("drained").parse().unwrap();
    assert!(drained >= 2, "the drain warning came without a first one");
    node.tell(warned, "close");
    node.expect("closed");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn limit_closes_a_socket_whose_unread_bytes_pass_it() {
    let node = Node::new(&[(
        "limited",
        r##"
main(function()
    report("limit unknown", (pcall(socket.limit, 987654, 1)))
    local id = accept_one()
    socket.limit(id, 1000)
    local co, closed = coroutine.running(), false
    socket.onclose(id, function()
        closed = true
        skynet.wakeup(co)
    end)
    report("limited", id)
    if not closed then
        skynet.wait(co)
    end
    report("overflow", socket.disconnected(id))
    socket.close(id)
    report("closed")
end)
"##,
    )]);
    let limited = node.launch("limited", &[]);
    assert_eq!(node.expect("limit unknown"), "false");
    let mut peer = connect(node.port());
    let id = node.socket_id("limited");
    send(&mut peer, &[b'L'; 5000], "5000 bytes nobody reads");
    assert_eq!(node.expect("overflow"), "true");
    let service = address(limited);
    let needle = format!("buffer overflow on {}", id.get());
    ServiceLog::get().wait_for(&format!("{service} logging {needle:?}"), |line| {
        line.service == service && line.text.contains(&needle)
    });
    node.expect("closed");
    drain(&mut peer, "a peer whose socket overflowed its limit");
}

#[test]
fn pause_stops_reading_until_a_read_resumes_the_socket() {
    let node = Node::new(&[(
        "pauser",
        r##"
main(function()
    local id = accept_one()
    socket.pause(id)
    report("paused by the service", id)
    command()
    report("read", #socket.read(id, 1000))
    socket.close(id)
end)
"##,
    )]);
    let pauser = node.launch("pauser", &[]);
    let mut peer = connect(node.port());
    let id = node.socket_id("paused by the service");
    // The pause command came before the report; stats comes after it.
    node.sockets().stats();
    node.assert_paused_while(id, || send(&mut peer, &[b'p'; 1000], "1000 bytes"));
    assert_eq!(node.bytes_read(id), 0);
    node.tell(pauser, "read");
    assert_eq!(node.expect("read"), "1000");
    expect_eof(&mut peer, "after socket.close");
}

/// TCP_NODELAY of the socket of this process whose local and peer addresses
/// are `local` and `peer`, looked up among the process's fds.
fn nodelay_of(local: SocketAddr, peer: SocketAddr) -> Option<bool> {
    use std::os::fd::BorrowedFd;
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // SAFETY: the fd is only queried (getsockname, getpeername,
        // getsockopt). If another thread closes it meanwhile, the calls fail or
        // describe some other file, which the address check rejects.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let (Ok(l), Ok(p)) = (socket.local_addr(), socket.peer_addr()) else {
            continue;
        };
        if l.as_socket() == Some(local) && p.as_socket() == Some(peer) {
            return socket.nodelay().ok();
        }
    }
    None
}

#[test]
fn nodelay_sets_tcp_nodelay_on_the_connection() {
    let node = Node::new(&[(
        "nodelay",
        r##"
main(function()
    local id = accept_one()
    report("started")
    command()
    socket.nodelay(id)
    socket.nodelay(987654)
    report("nodelay")
    report("read", socket.read(id))
    socket.write(id, "yes")
    socket.close(id)
end)
"##,
    )]);
    let service = node.launch("nodelay", &[]);
    let mut peer = connect(node.port());
    node.expect("started");
    let (server_side, peer_side) = (peer.peer_addr().unwrap(), peer.local_addr().unwrap());
    assert_eq!(nodelay_of(server_side, peer_side), Some(false));
    node.tell(service, "nodelay");
    node.expect("nodelay");
    // The nodelay command came before the report; stats comes after it.
    node.sockets().stats();
    assert_eq!(nodelay_of(server_side, peer_side), Some(true));
    send(&mut peer, b"still there?", "a question");
    assert_eq!(node.expect("read"), "'still there?'");
    assert_eq!(read_n(&mut peer, 3, "the answer"), b"yes");
    expect_eof(&mut peer, "after socket.close");
}

// ----- UDP -----

fn udp_peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn datagram(s: &UdpSocket, what: &str) -> (String, SocketAddr) {
    let mut buf = [0; 2048];
    let (n, from) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

#[test]
fn udp_receives_datagrams_with_their_sender_and_sendto_answers_it() {
    let node = Node::new(&[(
        "udp",
        r##"
main(function()
    local id
    id = socket.udp(function(data, from)
        report("got", data, from)
        report("sendto", socket.sendto(id, from, "pong:" .. data))
    end, "127.0.0.1", 0)
    local s = netstat_of(id)
    report("netstat", s.type, s.address)
    local port = port_of(id)
    report("udp", port)
    report("address", socket.udp_address("127.0.0.1:" .. port))
    report("address6", socket.udp_address("[::1]:8080"))
    local ok, err = pcall(socket.sendto, id, "nowhere", "x")
    report("bad address", ok, tostring(err):find("socket.sendto", 1, true) ~= nil)
    command()
    socket.close(id)
    report("closed", socket.invalid(id), socket.sendto(id, "127.0.0.1:9", "x"))
end)
"##,
    )]);
    let service = node.launch("udp", &[]);
    let netstat = node.expect("netstat");
    let port: u16 = node.expect("udp").parse().unwrap();
    assert_eq!(netstat, format!("'UDP' '127.0.0.1:{port}'"));
    assert_eq!(node.expect("address"), format!("'127.0.0.1' {port}"));
    assert_eq!(node.expect("address6"), "'::1' 8080");
    assert_eq!(node.expect("bad address"), "false true");
    let peer = udp_peer();
    peer.send_to(b"ping", loopback(port)).unwrap();
    assert_eq!(
        node.expect("got"),
        format!("'ping' '{}'", peer.local_addr().unwrap())
    );
    assert_eq!(node.expect("sendto"), "true");
    assert_eq!(
        datagram(&peer, "the answer to ping"),
        ("pong:ping".to_string(), loopback(port))
    );
    node.tell(service, "close");
    assert_eq!(node.expect("closed"), "true false");
}

#[test]
fn udp_connect_sets_the_peer_that_write_sends_to() {
    let peer = udp_peer();
    let peer_port = peer.local_addr().unwrap().port();
    let node = Node::new(&[(
        "dialer",
        r##"
main(function()
    local peer = tonumber(ARGS[1])
    local id = socket.udp(function(data, from)
        report("got", data, from)
    end, "127.0.0.1", 0)
    socket.udp_connect(id, "127.0.0.1", peer)
    report("sendto", socket.sendto(id, "127.0.0.1:" .. peer, "via sendto"))
    report("write", socket.write(id, "via write"))
    command()
    socket.close(id)
    report("closed")
end)
"##,
    )]);
    let service = node.launch("dialer", &[peer_port.to_string()]);
    assert_eq!(node.expect("sendto"), "true");
    assert_eq!(node.expect("write"), "true");
    let (first, lua) = datagram(&peer, "the datagram of socket.sendto");
    assert_eq!(first, "via sendto");
    let (second, _) = datagram(
        &peer,
        "the datagram of socket.write on the udp_connect-ed socket",
    );
    assert_eq!(second, "via write");
    peer.send_to(b"reply", lua).unwrap();
    assert_eq!(
        node.expect("got"),
        format!("'reply' '127.0.0.1:{peer_port}'")
    );
    node.tell(service, "close");
    node.expect("closed");
}

#[test]
fn udp_listen_and_udp_dial_talk_to_each_other() {
    let node = Node::new(&[(
        "udp2",
        r##"
main(function()
    local server
    server = socket.udp_listen("127.0.0.1", 0, function(data, from)
        report("server got", data)
        report("server sendto", socket.sendto(server, from, "echo:" .. data))
    end)
    local server_port = port_of(server)
    local client = socket.udp_dial("127.0.0.1", server_port, function(data, from)
        report("client got", data, from == "127.0.0.1:" .. server_port)
    end)
    local client_port = port_of(client)
    report("ports", server_port > 0, client_port > 0)
    -- The dialled socket takes datagrams from the listener's address.
    report("hello", socket.sendto(server, "127.0.0.1:" .. client_port, "hello dial"))
    command()
    report("write", socket.write(client, "hi"))
    command()
    socket.close(client)
    socket.close(server)
    report("closed")
end)
"##,
    )]);
    let service = node.launch("udp2", &[]);
    assert_eq!(node.expect("ports"), "true true");
    assert_eq!(node.expect("hello"), "true");
    assert_eq!(node.expect("client got"), "'hello dial' true");
    node.tell(service, "write");
    assert_eq!(node.expect("write"), "true");
    assert_eq!(node.expect("server got"), "'hi'");
    assert_eq!(node.expect("server sendto"), "true");
    assert_eq!(node.expect("client got"), "'echo:hi' true");
    node.tell(service, "close");
    node.expect("closed");
}

// ----- netstat and resolve -----

#[test]
fn netstat_lists_the_listener_and_the_connection_of_the_service() {
    let node = Node::new(&[(
        "netstat",
        r##"
main(function()
    local co, accepted = coroutine.running(), nil
    local lid, port = listen("listening", function(id)
        accepted = id
        skynet.wakeup(co)
    end)
    if not accepted then
        skynet.wait(co)
    end
    socket.start(accepted)
    local me = skynet.address(skynet.self())
    local l, c = netstat_of(lid), netstat_of(accepted)
    report("listener", l.type, l.address, l.owner == me)
    report("connection", c.type, c.address, c.state, c.owner == me,
        math.type(c.read), math.type(c.write), math.type(c.wbuffer))
    socket.close(accepted)
    socket.close(lid)
    report("closed")
end)
"##,
    )]);
    node.launch("netstat", &[]);
    let port = node.port();
    let mut peer = connect(port);
    assert_eq!(
        node.expect("listener"),
        format!("'LISTEN' '127.0.0.1:{port}' true")
    );
    assert_eq!(
        node.expect("connection"),
        format!(
            "'TCP' '{}' 'open' true 'integer' 'integer' 'integer'",
            peer.local_addr().unwrap()
        )
    );
    node.expect("closed");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn resolve_gives_the_addresses_of_localhost() {
    let node = Node::new(&[(
        "resolver",
        r##"
main(function()
    local ips = socket.resolve("localhost")
    local loopback = false
    for _, ip in ipairs(ips) do
        loopback = loopback or ip == "127.0.0.1" or ip == "::1"
    end
    report("localhost", type(ips), #ips > 0, loopback)
    local literal = socket.resolve("127.0.0.1")
    report("literal", #literal, literal[1])
end)
"##,
    )]);
    node.launch("resolver", &[]);
    assert_eq!(node.expect("localhost"), "'table' true true");
    assert_eq!(node.expect("literal"), "1 '127.0.0.1'");
}

// ----- close against readers: the races -----

/// Serves each connection by the mode its first line names, and closes a
/// connection's socket from another coroutine on the command "close <mode>".
/// Modes: a reader blocked in read, read(id, 100), readall, readline or block
/// ("read", "readn", "readall", "readline", "block": "partial" follows the mode
/// line for readn, readall and readline); "again" (a reader blocked in read
/// that, woken by the close, calls every read function again); "late" (no
/// reader; the closer forks one that reads once close has begun); "second" (a
/// second coroutine tries every read function while the first reader waits);
/// "twice" (a reader blocked in read, and two coroutines closing).
const CLOSER: &str = r##"
local READERS = {
    read = function(id) return socket.read(id) end,
    readn = function(id) return socket.read(id, 100) end,
    readall = function(id) return socket.readall(id) end,
    readline = function(id) return socket.readline(id) end,
    block = function(id) return socket.block(id) end,
    second = function(id) return socket.read(id) end,
    twice = function(id) return socket.read(id) end,
}
local BUFFERED = { readn = true, readall = true, readline = true, late = true }
local ids = {}

-- Every read function once, on a socket whose close has begun.
local function all_reads(id)
    local out = {}
    local function add(...)
        local parts = {}
        for i = 1, select("#", ...) do
            parts[i] = show((select(i, ...)))
        end
        out[#out + 1] = table.concat(parts, " ")
    end
    add(socket.read(id))
    add(socket.read(id, 3))
    add(socket.readline(id))
    add(socket.readall(id))
    add(socket.block(id))
    -- Each call must have returned at once: before the Close event.
    out[#out + 1] = "close seen " .. tostring(events(id, 3) > 0)
    return table.concat(out, " | ")
end

local function second_reader(id)
    local out = {}
    for _, try in ipairs {
        { "read", function() return socket.read(id) end },
        { "read", function() return socket.read(id, 5) end },
        { "readline", function() return socket.readline(id) end },
        { "readall", function() return socket.readall(id) end },
        { "block", function() return socket.block(id) end },
    } do
        local ok, err = pcall(try[2])
        local want = string.format("socket.%s: socket %d already has a reader", try[1], id)
        out[#out + 1] = tostring(ok) .. ":" .. tostring(tostring(err):find(want, 1, true) ~= nil)
    end
    say("second", table.concat(out, " "))
end

local function serve(id)
    socket.start(id)
    local mode = socket.readline(id)
    ids[mode] = id
    if BUFFERED[mode] then
        assert(socket.block(id), "the peer closed before sending partial")
    end
    say("waiting " .. mode)
    if mode == "late" then
        return
    elseif mode == "second" then
        fork(second_reader, id)
    elseif mode == "again" then
        local data, rest = socket.read(id)
        say("returned again", show(data) .. " " .. show(rest) .. " | " .. all_reads(id))
        return
    end
    report("returned " .. mode, READERS[mode](id))
end

local function close(mode)
    local id = ids[mode]
    if mode == "late" then
        -- Runs once this close has begun and waits.
        fork(function()
            say("returned late", show(socket.read(id)) .. " | " .. all_reads(id))
        end)
    elseif mode == "twice" then
        fork(function()
            socket.close(id)
            say("closed again " .. mode)
        end)
    end
    socket.close(id)
    say("closed " .. mode)
end

main(function()
    listen("listening", function(id)
        fork(serve, id)
    end)
    while true do
        local mode = command():match("^close (%S+)$")
        fork(close, mode)
    end
end)
"##;

fn closer_node() -> (Node, Handle, u16) {
    let node = Node::new(&[("closer", CLOSER)]);
    let closer = node.launch("closer", &[]);
    let port = node.port();
    (node, closer, port)
}

/// Connects in `mode` (the mode line, then `extra`), waits until the
/// service's reader waits, has another coroutine close the socket, and
/// returns what the reader's call returned, checking that the reader returned
/// before the close did and that the peer sees EOF.
fn close_under(node: &Node, closer: Handle, port: u16, mode: &str, extra: &str) -> String {
    let mut peer = connect(port);
    send(&mut peer, format!("{mode}\n{extra}").as_bytes(), "the mode");
    node.expect(&format!("waiting {mode}"));
    node.tell(closer, &format!("close {mode}"));
    let (returned_at, returned) = node.expect_seq(&format!("returned {mode}"));
    let (closed_at, _) = node.expect_seq(&format!("closed {mode}"));
    assert!(
        returned_at < closed_at,
        "{mode}: close returned before the reader it woke"
    );
    expect_eof(&mut peer, &format!("{mode}: after socket.close"));
    returned
}

#[test]
fn close_wakes_a_reader_blocked_in_read_which_returns_false() {
    let (node, closer, port) = closer_node();
    assert_eq!(close_under(&node, closer, port, "read", ""), "false ''");
}

#[test]
fn close_wakes_readall_readline_read_n_and_block_which_return_what_was_buffered() {
    let (node, closer, port) = closer_node();
    assert_eq!(
        close_under(&node, closer, port, "readall", "partial"),
        "'partial'"
    );
    assert_eq!(
        close_under(&node, closer, port, "readline", "partial"),
        "false 'partial'"
    );
    assert_eq!(
        close_under(&node, closer, port, "readn", "partial"),
        "false 'partial'"
    );
    assert_eq!(close_under(&node, closer, port, "block", ""), "false");
}

#[test]
fn reads_started_after_close_began_return_at_once() {
    let (node, closer, port) = closer_node();
    let after = "false '' | false '' | false '' | false | false | close seen false";
    // The reader woken by the close reads again, every way.
    assert_eq!(
        close_under(&node, closer, port, "again", ""),
        format!("false '' | {after}")
    );
    // A coroutine that starts reading while close waits for the Close.
    assert_eq!(
        close_under(&node, closer, port, "late", "rest"),
        format!("'rest' | {after}")
    );
}

#[test]
fn a_second_reader_on_one_socket_gets_an_error_naming_it_and_the_first_reader_still_gets_the_data()
{
    let (node, closer, port) = closer_node();
    let mut peer = connect(port);
    send(&mut peer, b"second\n", "the mode");
    node.expect("waiting second");
    assert_eq!(
        node.expect("second"),
        "false:true false:true false:true false:true false:true"
    );
    send(&mut peer, b"data", "data for the first reader");
    assert_eq!(node.expect("returned second"), "'data'");
    node.tell(closer, "close second");
    node.expect("closed second");
    expect_eof(&mut peer, "after socket.close");
}

#[test]
fn two_coroutines_closing_one_socket_both_return() {
    let (node, closer, port) = closer_node();
    assert_eq!(close_under(&node, closer, port, "twice", ""), "false ''");
    node.expect("closed again twice");
}

// ----- flow control -----

#[test]
fn readall_gets_600_kb_sent_in_two_halves_with_a_gap_then_fin() {
    let node = Node::new(&[(
        "gap",
        r##"
main(function()
    local id = accept_one()
    report("reading")
    local all = socket.readall(id)
    report("readall", #all)
    socket.write(id, all)
    socket.close(id)
end)
"##,
    )]);
    node.launch("gap", &[]);
    let mut peer = connect(node.port());
    node.expect("reading");
    let half = 300 * 1024;
    let data = pattern(2 * half, 3);
    send(&mut peer, &data[..half], "the first 300 KB");
    std::thread::sleep(Duration::from_millis(500)); // the scenario's gap
    send(&mut peer, &data[half..], "the second 300 KB");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("readall"), (2 * half).to_string());
    let got = read_until_eof(&mut peer, WAIT).expect("the echo of readall, then EOF");
    compare(&got, &data).unwrap_or_else(|e| panic!("what readall returned: {e}"));
}

#[test]
fn read_n_larger_than_the_pause_limit_returns_whether_it_waits_first_or_the_socket_paused_first() {
    let node = Node::new(&[(
        "bulk",
        r##"
main(function()
    local id = accept_one()
    report("reading", id)
    local first = socket.read(id, 1 << 20)
    report("first", #first)
    command()
    report("reading again")
    local second = socket.read(id, 1 << 20)
    report("second", second and #second)
    socket.write(id, first)
    socket.write(id, second)
    socket.close(id)
end)
"##,
    )]);
    let bulk = node.launch("bulk", &[]);
    let mut peer = connect(node.port());
    let id = node.socket_id("reading");
    let data = pattern(2 * MIB, 5);
    let writer = PeerWriter::new(&peer);
    // The first read waits while its MiB arrives, and 256 KiB more that
    // nobody reads: the socket pauses.
    let split = MIB + 256 * 1024;
    writer.write(&data[..split]);
    assert_eq!(node.expect("first"), MIB.to_string());
    node.expect(&format!("paused {}", id.get()));
    node.sockets().stats();
    let more = split + 64 * 1024;
    node.assert_paused_while(id, || writer.write(&data[split..more]));
    // The second read starts with the socket paused and more than the pause
    // limit buffered; the rest of its MiB comes slowly.
    node.tell(bulk, "read");
    node.expect("reading again");
    writer.trickle(&data[more..], 64 * 1024, Duration::from_millis(20));
    writer.finish("2 MiB");
    assert_eq!(node.expect("second"), MIB.to_string());
    let got = read_until_eof(&mut peer, WAIT).expect("the echo, then EOF");
    compare(&got, &data).unwrap_or_else(|e| panic!("what the two reads returned: {e}"));
}

#[test]
fn readline_of_a_300_kb_line_reads_across_a_paused_socket() {
    let node = Node::new(&[(
        "longline",
        r##"
main(function()
    local id = accept_one()
    report("idle", id)
    command()
    report("reading")
    local line = socket.readline(id)
    report("line", line and #line)
    report("rest", socket.readline(id))
    socket.write(id, line)
    socket.close(id)
end)
"##,
    )]);
    let service = node.launch("longline", &[]);
    let mut peer = connect(node.port());
    let id = node.socket_id("idle");
    let line: Vec<u8> = pattern(300 * 1024, 7)
        .iter()
        .map(|b| b'a' + b % 26)
        .collect();
    let writer = PeerWriter::new(&peer);
    // 200 KB of the line, which nobody reads: the socket pauses.
    writer.write(&line[..200 * 1024]);
    node.expect(&format!("paused {}", id.get()));
    node.sockets().stats();
    node.assert_paused_while(id, || writer.write(&line[200 * 1024..216 * 1024]));
    // readline starts with the socket paused; the rest of the line comes
    // slowly, then the separator.
    node.tell(service, "readline");
    node.expect("reading");
    writer.trickle(&line[216 * 1024..], 16 * 1024, Duration::from_millis(20));
    writer.write(b"\nafter");
    writer.finish("the line");
    assert_eq!(node.expect("line"), line.len().to_string());
    assert_eq!(node.expect("rest"), "false 'after'");
    let got = read_until_eof(&mut peer, WAIT).expect("the line echoed, then EOF");
    compare(&got, &line).unwrap_or_else(|e| panic!("the line readline returned: {e}"));
}

// ----- half-close end to end -----

/// An echo service as a user writes one: read until false, write, close.
const ECHO: &str = r##"
local function echo(id)
    socket.start(id)
    while true do
        local data = socket.read(id)
        if not data then
            break
        end
        socket.write(id, data)
    end
    socket.close(id)
end

main(function()
    listen("listening", function(id)
        fork(echo, id)
    end)
end)
"##;

/// One run: the peer sends 8 MiB, shuts down its write side, starts reading
/// 1 s later (the echo piles up meanwhile), and must get every byte back.
fn half_close_run(port: u16, run: usize) -> Result<(), String> {
    let data = pattern(8 * MIB, run as u8);
    let mut peer = TcpStream::connect(loopback(port)).map_err(|e| format!("connect: {e}"))?;
    peer.set_write_timeout(Some(2 * WAIT))
        .map_err(|e| e.to_string())?;
    peer.write_all(&data)
        .map_err(|e| format!("writing 8 MiB: {e}"))?;
    peer.shutdown(Shutdown::Write)
        .map_err(|e| format!("shutting down the write side: {e}"))?;
    std::thread::sleep(Duration::from_secs(1)); // the scenario: a late reader
    let got = read_until_eof(&mut peer, 2 * WAIT).map_err(|e| format!("reading the echo: {e}"))?;
    compare(&got, &data)
}

#[test]
fn a_lua_echo_loses_no_byte_when_the_peer_half_closes_and_reads_late() {
    // LUNET_SOAK=1: 200 runs; LUNET_SOAK=N (N > 1, as for socket_close): N.
    let soak = std::env::var("LUNET_SOAK")
        .ok()
        .and_then(|v| v.parse().ok());
    let (runs, at_once) = match soak {
        Some(1) => (200, 4),
        Some(n) if n > 1 => (n, 4),
        _ => (3, 3),
    };
    let node = Node::new(&[("echo", ECHO)]);
    node.launch("echo", &[]);
    let port = node.port();
    let mut failures = Vec::new();
    for first in (0..runs).step_by(at_once) {
        let batch: Vec<_> = (first..runs.min(first + at_once))
            .map(|run| {
                let pending = spawn(&format!("half-close run {run}"), move || {
                    half_close_run(port, run)
                });
                (run, pending)
            })
            .collect();
        for (run, pending) in batch {
            match pending.rx.recv_timeout(4 * WAIT) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("run {run}: {e}")),
                Err(_) => failures.push(format!("run {run}: no result within {:?}", 4 * WAIT)),
            }
        }
    }
    eprintln!(
        "half-close echo through a Lua service: {runs} runs, {} with lost or changed bytes",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ----- events for ids the service no longer holds -----

#[test]
fn a_close_that_comes_after_abandon_leaves_the_socket_to_its_new_owner() {
    let node = Node::new(&[
        (
            "taker",
            r##"
skynet.dispatch("lua", function(_, _, id)
    guarded(function()
        report("taken", socket.start(id) == id)
        report("read", socket.read(id))
        command()
        report("write", socket.write(id, "from the new owner"))
        socket.close(id)
        report("closed")
    end)
end)
main(function() end)
"##,
        ),
        (
            "giver",
            r##"
main(function()
    local taker = tonumber(ARGS[1])
    local id = accept_one()
    report("held", id)
    command()
    -- The test half-closes the peer now. This handler does not yield until
    -- the socket layer has read the FIN, so the Close it sends here waits
    -- behind the abandon below: a late Close.
    report("spinning")
    local deadline, seen = skynet.hpc() + 5 * 1000000000, false
    while not seen and skynet.hpc() < deadline do
        local s = netstat_of(id)
        seen = s ~= nil and s.state == "half-close-read"
    end
    socket.abandon(id)
    skynet.send(taker, "lua", id)
    report("abandoned", seen)
    command()
    report("pong")
end)
"##,
        ),
    ]);
    let taker = node.launch("taker", &[]);
    let giver = node.launch("giver", &[taker.get().to_string()]);
    let mut peer = connect(node.port());
    node.socket_id("held");
    node.tell(giver, "spin");
    node.expect("spinning");
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(node.expect("abandoned"), "true");
    assert_eq!(
        node.expect("taken"),
        "true",
        "the new owner could not start the socket"
    );
    assert_eq!(node.expect("read"), "false ''");
    // The giver has handled the late Close once it answers.
    node.tell(giver, "ping");
    node.expect("pong");
    node.tell(taker, "write");
    assert_eq!(node.expect("write"), "true");
    node.expect("closed");
    let got = read_until_eof(&mut peer, WAIT).expect("the new owner's bytes, then EOF");
    assert_eq!(String::from_utf8_lossy(&got), "from the new owner");
}

#[test]
fn a_close_for_an_id_the_service_does_not_hold_is_answered_by_closing_it() {
    let node = Node::new(&[(
        "forgetful",
        r##"
main(function()
    listen("listening", function(id)
        -- Started behind skynet.socket's back: the library does not hold it.
        driver.start(id)
        report("raw start", id)
    end)
end)
"##,
    )]);
    let service = node.launch("forgetful", &[]);
    let mut peer = connect(node.port());
    let id = node.socket_id("raw start");
    send(&mut peer, b"dropped", "bytes nobody holds");
    peer.shutdown(Shutdown::Write).unwrap();
    match read_until_eof(&mut peer, WAIT) {
        Ok(rest) => assert!(rest.is_empty(), "{} bytes came", rest.len()),
        Err(e) => panic!("the unknown Close was not answered by closing the socket: {e}"),
    }
    let service = address(service);
    let needle = format!("drop 7 bytes from {}", id.get());
    ServiceLog::get().wait_for(&format!("{service} logging {needle:?}"), |line| {
        line.service == service && line.text.contains(&needle)
    });
}

#[test]
fn a_late_error_never_cuts_short_a_close_that_is_still_flushing() {
    const LINES: usize = 1_000_000; // 9 MB
    let node = Node::new(&[(
        "flusher",
        r##"
main(function()
    local id = accept_one()
    write_lines(id, 1000000)
    socket.close(id)
    report("closed", id)
    command()
    report("pong")
end)
"##,
    )]);
    let flusher = node.launch("flusher", &[]);
    let mut peer = connect(node.port());
    let id = node.socket_id("closed");
    // The peer has read nothing yet: the socket is flushing megabytes.
    node.inject(
        flusher,
        Event::Error {
            id,
            reason: "a late error (injected by the test)".into(),
        },
    );
    node.tell(flusher, "ping");
    node.expect("pong");
    let service = address(flusher);
    let needle = format!("error on {}, which this service does not hold", id.get());
    ServiceLog::get().wait_for(&format!("{service} logging {needle:?}"), |line| {
        line.service == service && line.text.contains(&needle)
    });
    // A slow reader: 16 KiB at a time, with a pause between reads.
    let deadline = Instant::now() + 3 * WAIT;
    let mut got = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the slow reader, after {} bytes: {e}", got.len()),
        }
        assert!(
            Instant::now() < deadline,
            "the slow reader got no EOF ({} bytes read)",
            got.len()
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    compare(&got, &lines(LINES)).unwrap_or_else(|e| panic!("the lines queued before close: {e}"));
}
