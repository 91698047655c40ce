//! The shipped `debug_console` service (`services/debug_console.lua`), driven
//! over real TCP on 127.0.0.1 the way a person with `nc` would drive it.
//!
//! Each test boots a node the way `lunet run` does ([`LuaNode::booted`]: the
//! launcher exists, so `list`/`stat`/`mem`/`gc` have something to show), then
//! launches the `driver` service from Rust with the probe's handle. The driver
//! starts the console with `skynet.newservice("debug_console", 0)`, asks it for
//! its bound port (the `lua` request "address"), starts the test services with
//! newservice, and reports "ready PORT CONSOLE SLEEPER VICTIM SLOW" to the
//! probe. The test then talks to the console with `std::net::TcpStream`s whose
//! reads time out: every wait is bounded and panics naming what it waited for
//! (and what the console had said so far).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Instant;

use common::lua::{LuaNode, ServiceLog};
use common::{client, eventually, WAIT};
use lunet::actor::{ptype, Handle, Payload};

const GREETING: &str = "Welcome to lunet debug console (type help)";

/// Starts the console and the test services; reports their handles.
const DRIVER: &str = r#"
local skynet = require "skynet"
local probe = tonumber((...))
skynet.start(function()
    local console = skynet.newservice("debug_console", 0)
    local addr, port = skynet.call(console, "lua", "address")
    assert(addr == "127.0.0.1", "the console listens on " .. tostring(addr))
    local sleeper = skynet.newservice("sleeper", "x")
    local victim = skynet.newservice("victim")
    local slow = skynet.newservice("slow", probe)
    skynet.send(probe, "text", string.format("ready %d %d %d %d %d", port, console, sleeper, victim, slow))
end)
"#;

/// A service with a coroutine asleep in `sleeper_waits_here`, and an info
/// function returning nested tables (or raising, for "fail").
const SLEEPER: &str = r#"
local skynet = require "skynet"
function sleeper_waits_here()
    skynet.sleep(1000000)
end
skynet.start(function()
    skynet.fork(sleeper_waits_here)
    skynet.info_func(function(...)
        if ... == "fail" then
            error("the sleeper's info refuses")
        end
        return {
            name = "sleeper",
            count = 3,
            args = { ... },
            nested = { b = 2, a = { deep = true } },
        }, "second value"
    end)
end)
"#;

/// A service that names itself `.victim`.
const VICTIM: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
    skynet.register(".victim")
end)
"#;

/// A service whose info function waits until the host sends it a text message
/// ("release"); it reports "info waiting" to the probe once it waits.
const SLOW: &str = r#"
local skynet = require "skynet"
local probe = tonumber((...))
local waiter
skynet.start(function()
    skynet.info_func(function()
        waiter = coroutine.running()
        skynet.send(probe, "text", "info waiting")
        skynet.wait(waiter)
        return "released"
    end)
    skynet.dispatch("text", function()
        if waiter then
            skynet.wakeup(waiter)
            waiter = nil
        end
    end)
end)
"#;

/// The services of a console test, as the driver reported them.
struct Setup {
    node: LuaNode,
    port: u16,
    console: Handle,
    sleeper: Handle,
    victim: Handle,
    slow: Handle,
}

/// `:0000000a`, as the console prints addresses.
fn addr(h: Handle) -> String {
    format!(":{:08x}", h.get())
}

impl Setup {
    fn new() -> Setup {
        ServiceLog::get();
        let node = LuaNode::booted(
            "debug-console",
            "",
            &[
                ("driver", DRIVER),
                ("sleeper", SLEEPER),
                ("victim", VICTIM),
                ("slow", SLOW),
            ],
        );
        node.launch_with("driver", &[])
            .unwrap_or_else(|e| panic!("launching the driver: {e}"));
        let report = node.report("the driver's \"ready PORT CONSOLE SLEEPER VICTIM SLOW\"");
        let words: Vec<&str> = report.split(' ').collect();
        let number = |i: usize| -> u32 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| {
                    panic!("expected \"ready PORT CONSOLE SLEEPER VICTIM SLOW\", got {report:?}")
                })
        };
        assert_eq!(words[0], "ready", "{report}");
        Setup {
            port: u16::try_from(number(1)).unwrap(),
            console: Handle::from_raw(number(2)),
            sleeper: Handle::from_raw(number(3)),
            victim: Handle::from_raw(number(4)),
            slow: Handle::from_raw(number(5)),
            node,
        }
    }

    fn connect(&self) -> Console {
        Console::connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
    }

    fn is_alive(&self, h: Handle) -> bool {
        self.node.runtime.node().is_alive(h)
    }

    /// Sends `text` to service `to` as a text message from the host.
    fn tell(&self, to: Handle, text: &str) {
        self.node
            .runtime
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
}

/// One console connection. Reads time out after [`WAIT`].
struct Console {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

/// A command's output: its lines, without the closing marker, and whether the
/// marker was `<CMD OK>`.
struct Output {
    lines: Vec<String>,
    ok: bool,
}

impl Output {
    fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The first line starting with `prefix`, split on whitespace.
    fn row(&self, prefix: &str) -> Vec<String> {
        self.lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{}", self.text()))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

impl Console {
    /// Connects and checks the greeting.
    fn connect(to: SocketAddr) -> Console {
        let stream = client(to);
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut console = Console { stream, reader };
        let greeting = console.line("the greeting");
        assert_eq!(greeting, GREETING);
        console
    }

    /// The next line, without its "\n"; panics naming `what` on timeout or EOF.
    fn line(&mut self, what: &str) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the console closed the connection while we waited for {what}"),
            Ok(_) => {}
            Err(e) => panic!("reading {what} from the console (after {line:?}): {e}"),
        }
        assert!(
            line.ends_with('\n'),
            "{what}: a line without \"\\n\": {line:?}"
        );
        line.pop();
        line
    }

    fn send(&mut self, bytes: &str) {
        self.stream
            .write_all(bytes.as_bytes())
            .unwrap_or_else(|e| panic!("sending {bytes:?} to the console: {e}"));
    }

    /// The output of a command already sent, up to its marker.
    fn output(&mut self, command: &str) -> Output {
        let deadline = Instant::now() + WAIT;
        let mut lines = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the end of {command:?}'s output; so far: {lines:?}"
            );
            let line = self.line(&format!("the output of {command:?} (so far: {lines:?})"));
            match line.as_str() {
                "<CMD OK>" => return Output { lines, ok: true },
                "<CMD Error>" => return Output { lines, ok: false },
                _ => lines.push(line),
            }
        }
    }

    /// Runs `command`; its output.
    fn run(&mut self, command: &str) -> Output {
        self.send(&format!("{command}\n"));
        self.output(command)
    }

    /// Runs `command`, which must succeed; its output lines.
    fn ok(&mut self, command: &str) -> Output {
        let out = self.run(command);
        assert!(out.ok, "{command:?} failed:\n{}", out.text());
        out
    }

    /// Runs `command`, which must fail; its output lines.
    fn error(&mut self, command: &str) -> Output {
        let out = self.run(command);
        assert!(
            !out.ok,
            "{command:?} succeeded but should fail:\n{}",
            out.text()
        );
        out
    }

    /// Waits for the console to close the connection; fails if anything else
    /// comes.
    fn expect_eof(&mut self, what: &str) {
        let mut rest = String::new();
        match self.reader.read_to_string(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "{what}: expected EOF, got {rest:?}"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{what}: expected EOF: {e}"),
        }
    }
}

#[test]
fn greets_and_help_lists_every_command() {
    let s = Setup::new();
    // The log line, with the bound port.
    let wanted = format!("debug_console: listening on 127.0.0.1:{}", s.port);
    let line = ServiceLog::get().wait_for(&wanted, |l| l.text == wanted);
    assert_eq!(line.service, addr(s.console));

    let mut c = s.connect();
    let help = c.ok("help");
    let commands: Vec<&str> = help
        .lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in [
        "help", "list", "stat", "mem", "gc", "kill", "netstat", "task", "info", "exit", "quit",
    ] {
        assert!(
            commands.contains(&name),
            "help lacks {name}:\n{}",
            help.text()
        );
    }
    // Each with a description after its usage.
    for l in &help.lines {
        assert!(
            l.split_whitespace().count() >= 3,
            "help line without a description: {l:?}"
        );
    }
}

#[test]
fn bad_commands_fail_and_the_session_goes_on() {
    let s = Setup::new();
    let mut c = s.connect();
    let out = c.error("frobnicate now");
    assert_eq!(
        out.lines,
        ["Invalid command frobnicate, type help for the list"]
    );
    // Errors that name what is wrong.
    let expect = |c: &mut Console, command: &str, message: &str| {
        let out = c.error(command);
        assert!(
            out.text().contains(message),
            "{command:?}: expected {message:?} in:\n{}",
            out.text()
        );
    };
    expect(&mut c, "kill", "kill: an address is needed");
    expect(&mut c, "task zz", "task: bad address \"zz\"");
    expect(&mut c, "info .nobody", "info: no service is named .nobody");
    expect(&mut c, "exit :00ffffff", "exit: no service at :00ffffff");
    // A command that raises in the service it asks: the error, then the marker.
    expect(&mut c, &format!("info {} fail", addr(s.sleeper)), "failed");
    // Telnet's "\r\n", upper case, and empty lines (ignored: no output).
    c.send("\n   \r\nLIST\r\n");
    let out = c.output("LIST");
    assert!(out.ok, "LIST:\n{}", out.text());
    assert!(out.text().contains(&addr(s.console)), "{}", out.text());
    // Still serving.
    c.ok("help");
}

#[test]
fn list_stat_mem_and_gc_show_the_services() {
    let s = Setup::new();
    let mut c = s.connect();
    let sleeper = addr(s.sleeper);

    let list = c.ok("list");
    assert_eq!(
        list.row(&addr(s.console)),
        [addr(s.console).as_str(), "snlua", "debug_console", "0"]
    );
    assert_eq!(
        list.row(&sleeper),
        [sleeper.as_str(), "snlua", "sleeper", "x"]
    );
    let addresses: Vec<&str> = list
        .lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut sorted = addresses.clone();
    sorted.sort();
    assert_eq!(addresses, sorted, "list is not sorted by address");

    let stat = c.ok("stat");
    let header = stat.row("address");
    assert_eq!(
        header,
        ["address", "task", "mqlen", "cpu", "message", "service"]
    );
    let row = stat.row(&sleeper);
    let task: u64 = row[1].parse().unwrap_or_else(|_| panic!("task of {row:?}"));
    assert!(task >= 1, "the sleeper has a sleeping task: {row:?}");
    row[2]
        .parse::<u64>()
        .unwrap_or_else(|_| panic!("mqlen of {row:?}"));
    let cpu: f64 = row[3].parse().unwrap_or_else(|_| panic!("cpu of {row:?}"));
    assert!(cpu >= 0.0, "{row:?}");
    let messages: u64 = row[4]
        .parse()
        .unwrap_or_else(|_| panic!("message of {row:?}"));
    assert!(messages >= 1, "the sleeper handled its start: {row:?}");
    assert_eq!(&row[5..], ["snlua", "sleeper", "x"]);
    stat.row(&addr(s.console));

    let kb = |row: &[String], what: &str| -> f64 {
        assert_eq!(row[2], "KB", "{what}: {row:?}");
        row[1].parse().unwrap_or_else(|_| panic!("{what}: {row:?}"))
    };
    let mem = c.ok("mem");
    let row = mem.row(&sleeper);
    let sleeper_kb = kb(&row, "the sleeper's memory");
    assert!(sleeper_kb > 1.0, "{row:?}");
    assert_eq!(&row[3..], ["snlua", "sleeper", "x"]);
    let total = mem.row("total ");
    let total_kb = kb(&total, "the total");
    assert!(total_kb >= sleeper_kb, "{}", mem.text());
    let count: usize = total[4].parse().unwrap_or_else(|_| panic!("{total:?}"));
    assert_eq!(
        total[3..],
        ["in".to_string(), count.to_string(), "services".to_string()]
    );
    assert_eq!(
        count,
        list.lines.len(),
        "mem counts what list shows:\n{}",
        mem.text()
    );

    let gc = c.ok("gc");
    kb(&gc.row(&sleeper), "the sleeper's memory after gc");
    kb(&gc.row("total "), "the total after gc");
    let collected = gc.row("collected");
    collected[1]
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("collected: {collected:?}"));
}

#[test]
fn netstat_shows_the_listener_and_the_client() {
    let s = Setup::new();
    let mut c = s.connect();
    let console = addr(s.console);
    let out = c.ok("netstat");
    let header = out.row("id ");
    assert_eq!(
        header.join(" "),
        "id type state owner address read write queued last read last write service"
    );
    let rows: Vec<Vec<&str>> = out.lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|r| r.len() >= 10)
        .collect();
    let listener = format!("127.0.0.1:{}", s.port);
    let row = rows
        .iter()
        .find(|r| r[1] == "LISTEN" && r[4] == listener)
        .unwrap_or_else(|| panic!("no LISTEN row for {listener}:\n{}", out.text()));
    assert_eq!(row[2], "listening");
    assert_eq!(row[3], console);
    assert!(row.ends_with(&["snlua", "debug_console", "0"]), "{row:?}");
    // Our own connection: the peer is this client's address.
    let me = c.stream.local_addr().unwrap().to_string();
    let row = rows
        .iter()
        .find(|r| r[1] == "TCP" && r[4] == me)
        .unwrap_or_else(|| panic!("no TCP row for this client ({me}):\n{}", out.text()));
    assert_eq!(row[3], console);
    let read: u64 = row[5].parse().unwrap();
    let written: u64 = row[6].parse().unwrap();
    assert!(read >= "netstat\n".len() as u64, "{row:?}");
    assert!(written > GREETING.len() as u64, "{row:?}");
    let last = out.lines.last().unwrap();
    assert_eq!(*last, format!("{} sockets", rows.len()), "{}", out.text());
}

#[test]
fn task_shows_a_sleeping_coroutine_with_its_traceback() {
    let s = Setup::new();
    let mut c = s.connect();
    let out = c.ok(&format!("task {}", addr(s.sleeper)));
    let first = &out.lines[0];
    assert_eq!(
        *first,
        format!("{}: 1 suspended", addr(s.sleeper)),
        "{}",
        out.text()
    );
    assert!(out.lines[1].starts_with("thread: "), "{}", out.text());
    let text = out.text();
    assert!(text.contains("stack traceback:"), "{text}");
    // The frame of the sleep call, with its line.
    let line = SLEEPER
        .lines()
        .position(|l| l.contains("skynet.sleep("))
        .unwrap()
        + 1;
    let frame = format!("sleeper.lua:{line}: in function 'sleeper_waits_here'");
    assert!(text.contains(&frame), "no {frame:?} in:\n{text}");
    // Also by name, for a service with no suspended coroutine but the console's
    // own client coroutines (waiting on this very command).
    let own = c.ok(&format!("task {}", addr(s.console)));
    assert!(own.lines[0].starts_with(&addr(s.console)), "{}", own.text());
}

#[test]
fn info_prints_what_info_func_returns() {
    let s = Setup::new();
    let mut c = s.connect();
    let out = c.ok(&format!("info {:x} a b", s.sleeper.get()));
    assert_eq!(
        out.lines,
        [
            "args:",
            "  1: a",
            "  2: b",
            "count: 3",
            "name: sleeper",
            "nested:",
            "  a:",
            "    deep: true",
            "  b: 2",
            "second value",
        ],
        "hex without a colon names the sleeper ({:x})",
        s.sleeper.get()
    );
    // A service without an info function: nil.
    let out = c.ok(&format!("info {}", addr(s.victim)));
    assert_eq!(out.lines, ["nil"]);
}

#[test]
fn exit_and_kill_make_services_go() {
    let s = Setup::new();
    let mut c = s.connect();
    let sleeper = addr(s.sleeper);
    let victim = addr(s.victim);

    let out = c.ok(&format!("exit {sleeper}"));
    assert_eq!(out.lines, [format!("exited {sleeper}")]);
    eventually("the sleeper is gone after exit", || !s.is_alive(s.sleeper));
    let list = c.ok("list");
    assert!(!list.text().contains(&sleeper), "{}", list.text());

    let out = c.ok("kill .victim");
    assert_eq!(out.lines, [format!("killed {victim} (snlua victim)")]);
    eventually("the victim is gone after kill", || !s.is_alive(s.victim));
    let list = c.ok("list");
    assert!(!list.text().contains(&victim), "{}", list.text());
    assert!(list.text().contains(&addr(s.console)), "{}", list.text());

    // Gone: both commands now say so.
    let out = c.error(&format!("kill {victim}"));
    assert_eq!(out.lines, [format!("kill: no service at {victim}")]);
    let out = c.error(&format!("exit {sleeper}"));
    assert_eq!(out.lines, [format!("exit: no service at {sleeper}")]);
    assert!(s.is_alive(s.console));
}

// Found by probing `kill` of the console itself: the command never answered
// (no `<CMD ...>` marker) and every connected client was left hanging.
#[test]
fn the_console_refuses_to_kill_or_exit_itself() {
    let s = Setup::new();
    let mut c = s.connect();
    let mut other = s.connect();
    let console = addr(s.console);
    for command in ["kill", "exit"] {
        let out = c.error(&format!("{command} {console}"));
        assert_eq!(
            out.lines,
            [format!(
                "{command}: {console} is this console; quit closes this connection"
            )],
            "{}",
            out.text()
        );
    }
    assert!(s.is_alive(s.console));
    assert!(other.ok("help").text().contains("quit"));
    c.ok("list");
}

#[test]
fn clients_are_served_at_once_and_may_leave_mid_command() {
    let s = Setup::new();
    let mut a = s.connect();
    let mut b = s.connect();
    // A waits on the slow service's info; B is served meanwhile.
    a.send(&format!("info {}\n", addr(s.slow)));
    assert_eq!(
        s.node.report("the slow service's info to start"),
        "info waiting"
    );
    let list = b.ok("list");
    assert!(list.text().contains(&addr(s.slow)), "{}", list.text());
    s.tell(s.slow, "release");
    let out = a.output("info of the slow service");
    assert!(out.ok, "{}", out.text());
    assert_eq!(out.lines, ["released"]);

    // A client that leaves while its command waits.
    let mut gone = s.connect();
    gone.send(&format!("info {}\n", addr(s.slow)));
    assert_eq!(
        s.node.report("the slow service's info to start again"),
        "info waiting"
    );
    let gone_addr = gone.stream.local_addr().unwrap().to_string();
    drop(gone);
    s.tell(s.slow, "release");
    // The console closes that connection once the command returns.
    eventually(
        "the console has closed the connection of the client that left",
        || !a.ok("netstat").text().contains(&gone_addr),
    );
    // It still serves old and new clients.
    b.ok("mem");
    let mut c = s.connect();
    c.ok("list");
    assert!(s.is_alive(s.console));
}

#[test]
fn a_service_that_does_not_answer_fails_the_command_after_a_while() {
    let s = Setup::new();
    let mut c = s.connect();
    // The probe is written in Rust: it ignores the debug protocol.
    let probe = addr(s.node.probe);
    let begun = Instant::now();
    let out = c.error(&format!("task {probe}"));
    assert_eq!(
        out.lines,
        [format!(
            "no answer from {probe} within 5 s (a service busy on a message, or one written in Rust)"
        )]
    );
    assert!(
        begun.elapsed().as_secs_f64() >= 4.9,
        "{:?}",
        begun.elapsed()
    );
    c.ok("help");
}

// Found by probing `exit` of a Rust service: the error promised "it exits
// when it gets to the request", but a Rust service never does.
#[test]
fn exit_of_a_service_that_does_not_answer_does_not_promise_it_will_exit() {
    let s = Setup::new();
    let mut c = s.connect();
    let probe = addr(s.node.probe);
    let out = c.error(&format!("exit {probe}"));
    assert_eq!(
        out.lines,
        [format!(
            "exit: no answer from {probe} within 5 s (a service busy on a message, or one written in Rust); a Lua service busy on a message exits when it gets to the request, a Rust service does not exit"
        )]
    );
    assert!(s.is_alive(s.node.probe), "the Rust service did not exit");
}

#[test]
fn quit_closes_the_connection() {
    let s = Setup::new();
    let mut c = s.connect();
    let out = c.ok("quit");
    assert_eq!(out.lines, ["Bye"]);
    c.expect_eof("after quit");
    // Others can still connect.
    s.connect().ok("help");
}

#[test]
fn works_like_nc_with_several_commands_in_one_write() {
    let s = Setup::new();
    let mut c = s.connect();
    // Everything in one write, the last command without "\n", then our FIN.
    c.send(&format!("help\nlist\nbogus\ninfo {}\nmem", addr(s.victim)));
    c.stream.shutdown(Shutdown::Write).unwrap();
    let help = c.output("help");
    assert!(
        help.ok && help.text().contains("netstat"),
        "{}",
        help.text()
    );
    let list = c.output("list");
    assert!(
        list.ok && list.text().contains(&addr(s.sleeper)),
        "{}",
        list.text()
    );
    let bogus = c.output("bogus");
    assert!(!bogus.ok, "{}", bogus.text());
    let info = c.output("info");
    assert_eq!(info.lines, ["nil"]);
    let mem = c.output("mem (sent without a newline before the FIN)");
    assert!(mem.ok && mem.text().contains("total"), "{}", mem.text());
    c.expect_eof("after the last command of a half-closed client");
}

#[test]
fn start_arguments_are_checked_and_skynet_order_works() {
    const ARGS: &str = r#"
local skynet = require "skynet"
local probe = tonumber((...))
local function report(...) skynet.send(probe, "text", table.concat({ ... }, " ")) end
skynet.start(function()
    local ok, err = pcall(skynet.newservice, "debug_console", "nope")
    report("bad port", tostring(ok), tostring(err))
    ok, err = pcall(skynet.newservice, "debug_console")
    report("no port", tostring(ok), tostring(err))
    -- skynet's order: host, then port.
    local console = skynet.newservice("debug_console", "127.0.0.1", 0)
    local addr, port = skynet.call(console, "lua", "address")
    report("skynet order", addr, tostring(port))
end)
"#;
    ServiceLog::get();
    let node = LuaNode::booted("debug-console-args", "", &[("args", ARGS)]);
    node.launch_with("args", &[])
        .unwrap_or_else(|e| panic!("launching the test service: {e}"));
    let bad = node.report("newservice with a bad port");
    assert!(bad.starts_with("bad port false"), "{bad}");
    assert!(
        bad.contains("debug_console: bad port \"nope\" (expected a number from 0 to 65535)"),
        "{bad}"
    );
    let none = node.report("newservice without a port");
    assert!(none.starts_with("no port false"), "{none}");
    assert!(none.contains("debug_console: a port is needed"), "{none}");
    let order = node.report("newservice with host, port");
    let words: Vec<&str> = order.split(' ').collect();
    assert_eq!(words[..3], ["skynet", "order", "127.0.0.1"], "{order}");
    let port: u16 = words[3].parse().unwrap();
    assert_ne!(port, 0);
    Console::connect(SocketAddr::from(([127, 0, 0, 1], port))).ok("list");
}

#[test]
fn a_line_over_64_kib_closes_the_connection() {
    let s = Setup::new();
    let mut c = s.connect();
    // Not one byte of output: the partial line is not run as a command.
    c.send(&"x".repeat(70 * 1024));
    c.expect_eof("after a line longer than 64 KiB");
    s.connect().ok("help");
}
