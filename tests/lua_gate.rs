//! `skynet.netpack`, the shipped gate (`services/gate.lua`) and the game-room
//! example, with real TCP clients on 127.0.0.1.
//!
//! The netpack and gate tests boot a node the way `lunet run` does
//! ([`LuaNode::booted`]) with test services written here; the services report
//! what they see to a Rust probe as text, and the test drives them with text
//! messages sent from the host. The game-room test runs the `lunet` binary on
//! `examples/gameroom/config.lua` with `--set port=0` and reads the bound port
//! from its log. Every wait is bounded and says what it waited for.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::lua::{LuaNode, ServiceLog};
use common::{client, eventually, WAIT};
use lunet::actor::{ptype, Handle, Payload};
use lunet::socket::SocketKind;

// ----- framing on the client side -----

/// `body` with its 2-byte big-endian length.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Reads one frame; panics naming `what` on timeout, EOF or error.
fn read_frame(s: &mut TcpStream, what: &str) -> String {
    let mut head = [0u8; 2];
    s.read_exact(&mut head)
        .unwrap_or_else(|e| panic!("reading the header of {what}: {e}"));
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
    s.read_exact(&mut body)
        .unwrap_or_else(|e| panic!("reading the body of {what}: {e}"));
    String::from_utf8(body).unwrap_or_else(|e| panic!("{what} is not text: {e}"))
}

fn send_frame(s: &mut TcpStream, body: &str) {
    s.write_all(&frame(body.as_bytes()))
        .unwrap_or_else(|e| panic!("sending {body:?}: {e}"));
}

/// Waits until the server closes `s` (EOF or reset), failing if a byte comes.
fn expect_closed(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: expected the server to close, got {n} bytes"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: expected the server to close: {e}"),
    }
}

// ----- the node -----

/// A booted node with the test services, the service log captured.
fn node(services: &[(&str, &str)]) -> LuaNode {
    node_with("", services)
}

/// [`node`] with more lines in the config.
fn node_with(more: &str, services: &[(&str, &str)]) -> LuaNode {
    ServiceLog::get();
    LuaNode::booted("lua-gate", more, services)
}

/// Sends `text` to service `to` as a text message from the host.
fn tell(node: &LuaNode, to: Handle, text: &str) {
    node.runtime
        .node()
        .send(
            Handle::SYSTEM,
            to,
            ptype::TEXT,
            0,
            Payload::from(text.to_string()),
        )
        .unwrap_or_else(|e| panic!("sending {text:?} to {to:?}: {e:?}"));
}

/// The reports up to (and including) the first that `done` accepts.
fn reports_until(node: &LuaNode, what: &str, done: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let report = node.report(&format!("{what} (got so far: {seen:?})"));
        let last = done(&report);
        seen.push(report);
        if last {
            return seen;
        }
    }
}

/// The port in a "listening PORT" report.
fn listening(node: &LuaNode) -> SocketAddr {
    let report = node.report("the listening port");
    let port = report
        .strip_prefix("listening ")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("expected \"listening PORT\", got {report:?}"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The fd in an "open FD addr-ok" report.
fn opened(node: &LuaNode, what: &str) -> u32 {
    let report = node.report(what);
    let words: Vec<&str> = report.split(' ').collect();
    match words[..] {
        ["open", fd, "addr-ok"] => fd.parse().unwrap(),
        _ => panic!("{what}: expected \"open FD addr-ok\", got {report:?}"),
    }
}

// ----- netpack in a service -----

/// Listens with its own "socket" protocol on netpack.filter and reports every
/// filter result: "none" (no type), "data FD MSG SZ", "more" followed by
/// "frame FD MSG SZ" per popped frame, "open FD addr-ok", "close FD", ...
const FRAMER: &str = r#"
local skynet = require "skynet"
local netpack = require "skynet.netpack"
local driver = require "skynet.socketdriver"
local probe = tonumber((...))
local queue
local function report(...) skynet.send(probe, "text", table.concat({ ... }, " ")) end

skynet.register_protocol {
    name = "socket",
    id = skynet.PTYPE_SOCKET,
    unpack = function(msg, sz) return netpack.filter(queue, msg, sz) end,
    dispatch = function(_, _, q, what, a, b, c)
        queue = q
        if what == nil then
            report("none")
        elseif what == "data" then
            report("data", a, b, c)
        elseif what == "more" then
            report("more")
            for fd, msg, sz in netpack.pop, queue do
                report("frame", fd, msg, sz)
            end
        elseif what == "open" then
            report("open", a, b:match("^127%.0%.0%.1:%d+$") and "addr-ok" or b)
            driver.start(a)
        else
            report(what, a, b)
        end
    end,
}

skynet.start(function()
    local id, _, port = driver.listen("127.0.0.1", 0)
    driver.start(id)
    report("listening", port)
end)
"#;

#[test]
fn netpack_filter_cuts_split_and_merged_frames_from_a_real_socket() {
    let node = node(&[("framer", FRAMER)]);
    node.launch_with("framer", &[]).unwrap();
    let addr = listening(&node);
    assert_eq!(node.report("the listener's Connect"), "none");
    let mut c = client(addr);
    c.set_nodelay(true).unwrap();
    let fd = opened(&node, "the Accept");
    assert_eq!(node.report("the accepted socket's Connect"), "none");

    // One frame split in three writes, each waited for.
    let first = frame(b"split in three");
    c.write_all(&first[..1]).unwrap();
    assert_eq!(node.report("half a header"), "none");
    c.write_all(&first[1..6]).unwrap();
    assert_eq!(node.report("a header and part of the body"), "none");
    c.write_all(&first[6..]).unwrap();
    assert_eq!(
        node.report("the frame's last bytes"),
        format!("data {fd} split in three 14")
    );

    // Three frames and a half in one write: "more", then the three.
    let mut merged = frame(b"one");
    merged.extend(frame(b""));
    merged.extend(frame(b"three"));
    merged.extend(&frame(b"four")[..3]);
    c.write_all(&merged).unwrap();
    assert_eq!(node.report("the merged frames"), "more");
    assert_eq!(node.report("frame one"), format!("frame {fd} one 3"));
    assert_eq!(node.report("the empty frame"), format!("frame {fd}  0"));
    assert_eq!(node.report("frame three"), format!("frame {fd} three 5"));
    c.write_all(&frame(b"four")[3..]).unwrap();
    assert_eq!(node.report("frame four"), format!("data {fd} four 4"));

    // A partial frame, then the peer's FIN: close, and the partial is gone.
    c.write_all(&frame(b"never finished")[..5]).unwrap();
    assert_eq!(node.report("the unfinished frame"), "none");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(node.report("the close"), format!("close {fd}"));

    // A new connection starts clean.
    let mut c2 = client(addr);
    let fd2 = opened(&node, "the second Accept");
    assert_eq!(node.report("the second socket's Connect"), "none");
    c2.write_all(&frame(b"fresh")).unwrap();
    assert_eq!(
        node.report("the second connection's frame"),
        format!("data {fd2} fresh 5")
    );
}

#[test]
fn netpack_pack_tostring_pop_and_the_size_limit_in_a_service() {
    let node = node(&[(
        "packer",
        r##"
local skynet = require "skynet"
local netpack = require "skynet.netpack"
local probe = tonumber((...))
skynet.start(function()
    local out = {}
    local p = netpack.pack("hello")
    out[#out + 1] = string.format("%d:%d:%d:%s", #p, p:byte(1), p:byte(2), p:sub(3))
    local big = netpack.pack(string.rep("x", 65535))
    out[#out + 1] = string.format("%d:%d:%d", #big, big:byte(1), big:byte(2))
    local ok, err = pcall(netpack.pack, string.rep("x", 65536))
    out[#out + 1] = tostring(ok) .. ":" .. tostring(tostring(err):match("netpack%.pack: [^\n]*"))
    out[#out + 1] = netpack.tostring("framed", 5) .. ":" .. netpack.tostring("framed")
    out[#out + 1] = tostring(select("#", netpack.pop(nil)))
    skynet.send(probe, "text", table.concat(out, "|"))
end)
"##,
    )]);
    node.launch_with("packer", &[]).unwrap();
    assert_eq!(
        node.report("the packer's results"),
        "7:0:5:hello|65537:255:255|false:netpack.pack: message of 65536 bytes is over the \
         65535-byte limit of a frame|frame:framed|0"
    );
}

// ----- the gate -----

/// A watchdog for the gate tests. Arguments: the probe, the mode ("forward":
/// forward each connection to the test agent with client 77; "accept";
/// "manual": wait for the test's commands), maxclient. Reports the gate's
/// messages ("open FD addr-ok", "data FD MSG", "close FD", "error FD",
/// "warning FD KIB") and takes commands from the test as text: "forward FD",
/// "accept FD", "kick FD", "selfforward FD" (the agent forwards FD to
/// itself), "flood FD MIB" (writes MIB MiB to FD), "close" (the gate stops
/// listening), "ping".
const WATCHDOG: &str = r#"
local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local probe, mode, maxclient = ...
probe = tonumber(probe)
local gate, agent
local function report(...) skynet.send(probe, "text", table.concat({ ... }, " ")) end

local SOCKET = {}
function SOCKET.open(fd, addr)
    report("open", fd, addr:match("^127%.0%.0%.1:%d+$") and "addr-ok" or addr)
    if mode == "forward" then
        skynet.call(gate, "lua", "forward", fd, 77, agent)
    elseif mode == "accept" then
        skynet.call(gate, "lua", "accept", fd)
    end
end
function SOCKET.data(fd, msg) report("data", fd, msg) end
function SOCKET.close(fd) report("close", fd) end
function SOCKET.error(fd, reason) report("error", fd) end
function SOCKET.warning(fd, kib) report("warning", fd, kib) end

local TEXT = {}
function TEXT.forward(fd) skynet.call(gate, "lua", "forward", fd, 77, agent) end
function TEXT.accept(fd) skynet.call(gate, "lua", "accept", fd) end
function TEXT.kick(fd) skynet.call(gate, "lua", "kick", fd) end
function TEXT.selfforward(fd) skynet.call(agent, "lua", "forward", gate, fd) end
function TEXT.close() skynet.call(gate, "lua", "close") report("closed") end
function TEXT.ping() report("pong") end
function TEXT.flood(fd, mib)
    local chunk = string.rep("z", 65536)
    for _ = 1, mib * 16 do
        driver.send(fd, chunk)
    end
    report("flooded")
end

skynet.start(function()
    gate = skynet.newservice("gate")
    agent = skynet.newservice("agent", probe)
    skynet.dispatch("lua", function(_, _, cmd, what, ...)
        assert(cmd == "socket", cmd)
        SOCKET[what](...)
    end)
    skynet.dispatch("text", function(_, _, text)
        local cmd, a, b = text:match("^(%S+)%s*(%S*)%s*(%S*)$")
        TEXT[cmd](tonumber(a), tonumber(b))
    end)
    local addr, port = skynet.call(gate, "lua", "open", {
        host = "127.0.0.1", port = 0, maxclient = tonumber(maxclient), nodelay = true,
    })
    report("listening", port)
end)
"#;

/// The agent for the gate tests: reports "agent SESSION SOURCE MSG" for each
/// client message and echoes "echo:MSG" to the connection (fd = session).
const AGENT: &str = r#"
local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local netpack = require "skynet.netpack"
local probe = tonumber((...))
skynet.register_protocol {
    name = "client",
    id = skynet.PTYPE_CLIENT,
    unpack = skynet.tostring,
    dispatch = function(session, source, msg)
        skynet.ignoreret()
        -- The echo first: a test that sees the report knows it is queued.
        driver.send(session, netpack.pack("echo:" .. msg))
        skynet.send(probe, "text", string.format("agent %d %d %s", session, source, msg))
    end,
}
skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, gate, fd)
        assert(cmd == "forward")
        skynet.retpack(skynet.call(gate, "lua", "forward", fd))
    end)
end)
"#;

/// A node running the test watchdog (and through it the gate) in `mode`.
struct Gate {
    node: LuaNode,
    watchdog: Handle,
    addr: SocketAddr,
}

impl Gate {
    fn start(mode: &str, maxclient: usize) -> Gate {
        let node = node(&[("watchdog", WATCHDOG), ("agent", AGENT)]);
        let watchdog = node
            .launch_with("watchdog", &[mode.to_string(), maxclient.to_string()])
            .unwrap_or_else(|e| panic!("launching the watchdog: {e}"));
        let addr = listening(&node);
        Gate {
            node,
            watchdog,
            addr,
        }
    }

    fn tell(&self, text: &str) {
        tell(&self.node, self.watchdog, text);
    }

    fn report(&self, what: &str) -> String {
        self.node.report(what)
    }

    /// Connects a client and returns it with the fd the gate reported.
    fn connect(&self, what: &str) -> (TcpStream, u32) {
        let c = client(self.addr);
        let fd = opened(&self.node, &format!("the open of {what}"));
        (c, fd)
    }
}

#[test]
fn gate_forwards_frames_to_the_agent_with_session_fd_and_source_client() {
    let gate = Gate::start("forward", 16);
    let (mut a, fa) = gate.connect("client a");
    let (mut b, fb) = gate.connect("client b");
    a.set_nodelay(true).unwrap();

    // a's frame is split around b's whole frame: each keeps its own partial.
    let wire = frame(b"from a");
    a.write_all(&wire[..4]).unwrap();
    send_frame(&mut b, "from b");
    assert_eq!(gate.report("b's frame"), format!("agent {fb} 77 from b"));
    assert_eq!(read_frame(&mut b, "b's echo"), "echo:from b");
    a.write_all(&wire[4..]).unwrap();
    assert_eq!(gate.report("a's frame"), format!("agent {fa} 77 from a"));
    assert_eq!(read_frame(&mut a, "a's echo"), "echo:from a");

    // Several frames in one write arrive in order.
    let mut merged = frame(b"1");
    merged.extend(frame(b"2"));
    merged.extend(frame(b"3"));
    a.write_all(&merged).unwrap();
    for n in 1..=3 {
        assert_eq!(
            gate.report(&format!("frame {n}")),
            format!("agent {fa} 77 {n}")
        );
        assert_eq!(read_frame(&mut a, "an echo"), format!("echo:{n}"));
    }

    // The peer's close is reported, and the other client goes on.
    drop(a);
    assert_eq!(gate.report("a's close"), format!("close {fa}"));
    send_frame(&mut b, "still here");
    assert_eq!(
        gate.report("b's frame after a left"),
        format!("agent {fb} 77 still here")
    );
}

#[test]
fn gate_forward_without_an_address_goes_to_the_caller_with_source_0() {
    let gate = Gate::start("manual", 16);
    let (mut c, fd) = gate.connect("the client");
    gate.tell(&format!("selfforward {fd}"));
    send_frame(&mut c, "hi");
    assert_eq!(
        gate.report("the frame at the agent"),
        format!("agent {fd} 0 hi")
    );
    assert_eq!(read_frame(&mut c, "the echo"), "echo:hi");
}

#[test]
fn gate_accept_sends_frames_to_the_watchdog() {
    let gate = Gate::start("accept", 16);
    let (mut c, fd) = gate.connect("the client");
    let mut wire = frame(b"hello watchdog");
    wire.extend(frame(b"second"));
    c.write_all(&wire).unwrap();
    assert_eq!(
        gate.report("the first frame"),
        format!("data {fd} hello watchdog")
    );
    assert_eq!(gate.report("the second frame"), format!("data {fd} second"));
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(gate.report("the close"), format!("close {fd}"));
    expect_closed(&mut c, "the client after its FIN");
}

#[test]
fn gate_reads_nothing_before_forward_or_accept() {
    let gate = Gate::start("manual", 16);
    let (mut c, fd) = gate.connect("the client");
    send_frame(&mut c, "early");
    // Were the connection read now, the frame would go to the watchdog.
    gate.tell("ping");
    assert_eq!(gate.report("the ping after the early frame"), "pong");
    assert!(
        gate.node
            .reports
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "the gate read a connection nobody had forwarded or accepted"
    );
    gate.tell(&format!("accept {fd}"));
    assert_eq!(
        gate.report("the early frame after accept"),
        format!("data {fd} early")
    );
}

#[test]
fn gate_kick_closes_the_connection_and_reports_close() {
    let gate = Gate::start("forward", 16);
    let (mut c, fd) = gate.connect("the client");
    send_frame(&mut c, "before kick");
    assert_eq!(
        gate.report("the frame"),
        format!("agent {fd} 77 before kick")
    );
    gate.tell(&format!("kick {fd}"));
    // The echo written before the kick is flushed, then the connection ends.
    assert_eq!(read_frame(&mut c, "the echo"), "echo:before kick");
    expect_closed(&mut c, "the kicked client");
    assert_eq!(gate.report("the kicked close"), format!("close {fd}"));
}

#[test]
fn gate_kick_before_forward_closes_the_connection() {
    let gate = Gate::start("manual", 16);
    let (mut c, fd) = gate.connect("the client");
    gate.tell(&format!("kick {fd}"));
    expect_closed(&mut c, "the client kicked before forward");
    assert_eq!(gate.report("the close"), format!("close {fd}"));
}

#[test]
fn gate_close_stops_listening_and_keeps_connections() {
    let gate = Gate::start("forward", 16);
    let (mut c, fd) = gate.connect("the client");
    gate.tell("close");
    assert_eq!(gate.report("the gate's close"), "closed");
    let sockets = gate.node.runtime.node().sockets();
    eventually("the gate's listener is gone", || {
        !sockets
            .stats()
            .iter()
            .any(|s| s.kind == SocketKind::Listen && s.addr == Some(gate.addr))
    });
    match TcpStream::connect_timeout(&gate.addr, WAIT) {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
        other => panic!("connecting after close: expected refused, got {other:?}"),
    }
    send_frame(&mut c, "after close");
    assert_eq!(
        gate.report("the frame after close"),
        format!("agent {fd} 77 after close")
    );
    assert_eq!(read_frame(&mut c, "the echo"), "echo:after close");
}

#[test]
fn gate_refuses_connections_beyond_maxclient() {
    let gate = Gate::start("forward", 2);
    let (a, fa) = gate.connect("client 1");
    let (_b, _) = gate.connect("client 2");
    let mut over = client(gate.addr);
    expect_closed(&mut over, "the connection over maxclient");
    // Had the gate reported it, the watchdog would have that report queued
    // before this ping.
    gate.tell("ping");
    assert_eq!(gate.report("the ping after the refusal"), "pong");
    ServiceLog::get().wait_for("the gate's refusal in the log", |l| {
        l.text.contains("gate: refuse 127.0.0.1:") && l.text.contains("maxclient is 2")
    });

    // A client leaving makes room for another.
    drop(a);
    assert_eq!(gate.report("client 1's close"), format!("close {fa}"));
    let (mut d, fd) = gate.connect("the client after one left");
    send_frame(&mut d, "room again");
    assert_eq!(
        gate.report("the new client's frame"),
        format!("agent {fd} 77 room again")
    );
}

#[test]
fn gate_reports_an_error_when_a_connection_fails() {
    let gate = Gate::start("forward", 16);
    let (mut c, fd) = gate.connect("the client");
    send_frame(&mut c, "started");
    assert_eq!(gate.report("the frame"), format!("agent {fd} 77 started"));
    // Reset the connection (RST): the gate's read fails.
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    assert_eq!(gate.report("the error"), format!("error {fd}"));
    // Exactly one end: no close after the error (the socket layer's Close
    // follows its Error at once).
    if let Ok(late) = gate.node.reports.recv_timeout(Duration::from_millis(300)) {
        panic!("after the error: unexpected report {late:?}");
    }
}

#[test]
fn gate_reports_send_queue_warnings() {
    let gate = Gate::start("forward", 16);
    let (mut c, fd) = gate.connect("the client");
    // 16 MiB the client does not read yet: more than the kernel buffers hold.
    gate.tell(&format!("flood {fd} 16"));
    let seen = reports_until(&gate.node, "a warning", |r| r.starts_with("warning "));
    let kib: u64 = seen
        .last()
        .unwrap()
        .strip_prefix(&format!("warning {fd} "))
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("expected \"warning {fd} KIB\": {seen:?}"));
    assert!(kib >= 1024, "{seen:?}");
    let reader = common::spawn("reading the flood", move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < 16 << 20 {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => panic!("reading the flood after {total} bytes: {e}"),
            }
        }
        total
    });
    let drained = reports_until(&gate.node, "the drained warning", |r| {
        r == format!("warning {fd} 0")
    });
    assert!(
        drained
            .iter()
            .all(|r| r == "flooded" || r.starts_with(&format!("warning {fd} "))),
        "{drained:?}"
    );
    assert_eq!(reader.wait(WAIT), 16 << 20);
}

// ----- the game-room example -----

/// The `lunet` child, killed when dropped (also when the test panics).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the game-room example on a free port; returns it with its address.
fn gameroom() -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "examples/gameroom/config.lua", "--set", "port=0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the lunet binary runs");
    let out = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            eprintln!("gameroom: {line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("timed out waiting for the game room's listening line"));
        if let Some(at) = line.split("gameroom: listening on ").nth(1) {
            let addr = at
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
            return (server, addr);
        }
    }
}

/// A game-room client: connected, welcomed and named.
fn player(addr: SocketAddr, name: &str) -> TcpStream {
    let mut s = client(addr);
    let welcome = read_frame(&mut s, &format!("{name}'s welcome"));
    assert!(welcome.starts_with("welcome guest"), "{welcome}");
    send_frame(&mut s, &format!("name {name}"));
    assert_eq!(
        read_frame(&mut s, &format!("{name}'s name")),
        format!("ok name {name}")
    );
    s
}

#[test]
fn gameroom_players_join_talk_leave_and_disconnect() {
    let (_server, addr) = gameroom();
    let mut alice = player(addr, "alice");
    let mut bob = player(addr, "bob");
    let mut carol = player(addr, "carol");

    send_frame(&mut alice, "join lobby");
    assert_eq!(
        read_frame(&mut alice, "alice's join"),
        "ok join lobby: alice"
    );
    send_frame(&mut bob, "join lobby");
    assert_eq!(
        read_frame(&mut bob, "bob's join"),
        "ok join lobby: alice, bob"
    );
    assert_eq!(read_frame(&mut alice, "bob joined"), "* bob joined lobby");
    send_frame(&mut carol, "join lobby");
    assert_eq!(
        read_frame(&mut carol, "carol's join"),
        "ok join lobby: alice, bob, carol"
    );
    for (who, s) in [("alice", &mut alice), ("bob", &mut bob)] {
        assert_eq!(
            read_frame(s, &format!("carol joined, at {who}")),
            "* carol joined lobby"
        );
    }

    send_frame(&mut alice, "say hi all");
    for (who, s) in [
        ("alice", &mut alice),
        ("bob", &mut bob),
        ("carol", &mut carol),
    ] {
        assert_eq!(
            read_frame(s, &format!("alice's line at {who}")),
            "[lobby] alice: hi all"
        );
    }

    send_frame(&mut bob, "leave");
    assert_eq!(read_frame(&mut bob, "bob's leave"), "ok leave lobby");
    for (who, s) in [("alice", &mut alice), ("carol", &mut carol)] {
        assert_eq!(
            read_frame(s, &format!("bob left, at {who}")),
            "* bob left lobby"
        );
    }
    send_frame(&mut bob, "say anyone?");
    assert_eq!(
        read_frame(&mut bob, "bob's say outside a room"),
        "error join a room first"
    );
    send_frame(&mut bob, "dance");
    assert_eq!(
        read_frame(&mut bob, "an unknown command"),
        "error unknown command: dance"
    );

    // carol vanishes: the room sees her go, the others carry on.
    drop(carol);
    assert_eq!(
        read_frame(&mut alice, "carol's disconnect"),
        "* carol left lobby"
    );
    send_frame(&mut alice, "say still here");
    assert_eq!(
        read_frame(&mut alice, "alice's line after carol left"),
        "[lobby] alice: still here"
    );
    send_frame(&mut bob, "join lobby");
    assert_eq!(
        read_frame(&mut bob, "bob's second join"),
        "ok join lobby: alice, bob"
    );
    assert_eq!(
        read_frame(&mut alice, "bob joined again"),
        "* bob joined lobby"
    );

    // quit: "bye", then the server closes; bob hears alice leave.
    send_frame(&mut alice, "quit");
    assert_eq!(read_frame(&mut alice, "alice's bye"), "bye");
    expect_closed(&mut alice, "alice after quit");
    assert_eq!(read_frame(&mut bob, "alice's quit"), "* alice left lobby");
    send_frame(&mut bob, "say alone");
    assert_eq!(read_frame(&mut bob, "bob alone"), "[lobby] bob: alone");
}

/// The example's services in a node of the test's own, to watch its agents.
#[test]
fn gameroom_agents_exit_when_their_clients_go() {
    let node = node_with(
        "port = 0",
        &[
            ("main", include_str!("../examples/gameroom/main.lua")),
            (
                "watchdog",
                include_str!("../examples/gameroom/watchdog.lua"),
            ),
            ("agent", include_str!("../examples/gameroom/agent.lua")),
            ("room", include_str!("../examples/gameroom/room.lua")),
        ],
    );
    let main = node.launch_with("main", &[]).unwrap();
    let line = ServiceLog::get().wait_for("the game room's listening line", |l| {
        l.text.starts_with("gameroom: listening on 127.0.0.1:")
    });
    let addr: SocketAddr = line.text["gameroom: listening on ".len()..]
        .parse()
        .unwrap_or_else(|e| panic!("bad address in {:?}: {e}", line.text));
    let services = || node.runtime.node().service_count();
    eventually("main has exited", || !node.runtime.node().is_alive(main));
    let idle = services();

    let a = player(addr, "a");
    let mut b = player(addr, "b");
    assert_eq!(services(), idle + 2, "one agent per client");
    drop(a);
    eventually("a's agent has exited", || services() == idle + 1);
    send_frame(&mut b, "quit");
    assert_eq!(read_frame(&mut b, "b's bye"), "bye");
    expect_closed(&mut b, "b after quit");
    eventually("b's agent has exited", || services() == idle);
}
