//! A Rust program embedding lunet: a service written in Rust and one written in
//! Lua call each other, a TCP client talks to the Lua service, and the host
//! thread calls both.
//!
//! ```text
//! cargo run --release --example embed
//! ```
//!
//! - `.scores` (Rust) keeps a score per player. Asked `add NAME POINTS`, it
//!   answers the new total; when a total first reaches 100 it first calls the
//!   Lua lobby for a badge, and answers only when the lobby has answered (a
//!   Rust service never blocks its worker: it keeps the request under the
//!   session of its own call and replies when that call's answer arrives).
//! - `lobby` (Lua, from a source string) listens on 127.0.0.1 (a free port):
//!   each line a client sends, `NAME POINTS`, becomes a `skynet.call` to
//!   `.scores`, and the answer goes back to the client as a line.
//! - The host asks the lobby for its port, plays a few lines over TCP, then
//!   asks `.scores` for the table and converts it to Rust structs with serde.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use lunet::actor::{ptype, Context, Handle, Message, Service};
use lunet::value::{self, Value};
use lunet::Runtime;

const LOBBY: &str = r#"
local skynet = require "skynet"
local socket = require "skynet.socket"

local function serve(id)
    socket.start(id)
    while true do
        local line = socket.readline(id)
        if not line then break end
        local name, points = line:match("^(%S+)%s+(%d+)$")
        if name then
            local total, badge = skynet.call(".scores", "lua", "add", name, tonumber(points))
            socket.write(id, string.format("%s has %d%s\n", name, total, badge and " " .. badge or ""))
        else
            socket.write(id, "error: send NAME POINTS\n")
        end
    end
    socket.close(id)
end

skynet.start(function()
    local listener, _, port = socket.listen("127.0.0.1", 0)
    socket.start(listener, function(id) skynet.fork(serve, id) end)
    skynet.dispatch("lua", function(_, _, command, name)
        if command == "port" then
            skynet.retpack(port)
        elseif command == "badge" then
            skynet.retpack("[" .. name:upper() .. " REACHED 100]")
        else
            error("lobby: unknown command " .. tostring(command))
        end
    end)
end)
"#;

/// The Rust service: scores by player.
#[derive(Default)]
struct Scores {
    totals: HashMap<String, i64>,
    /// Requests waiting for a badge from the lobby, by the session of that call.
    waiting: HashMap<i32, (Message, i64)>,
}

/// A row of the table `.scores` answers `top` with.
#[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
struct Row {
    name: String,
    score: i64,
}

impl Scores {
    fn on_request(&mut self, ctx: &mut Context<'_>, request: Message) -> Result<(), String> {
        let args = request.lua_values().map_err(|e| e.to_string())?;
        match args.first().and_then(Value::as_str) {
            Some("add") => {
                let name = args.get(1).and_then(Value::as_str).ok_or("add: no name")?;
                let points = args
                    .get(2)
                    .and_then(Value::as_i64)
                    .ok_or("add: no points")?;
                let total = self.totals.entry(name.to_string()).or_default();
                let before = *total;
                *total += points;
                let total = *total;
                if before < 100 && total >= 100 {
                    // Ask the Lua lobby (whoever called us) for a badge first.
                    let session = ctx
                        .call_lua(request.source, &["badge".into(), name.into()])
                        .map_err(|e| e.to_string())?;
                    self.waiting.insert(session, (request, total));
                } else {
                    ctx.reply_lua(&request, &[total.into()])
                        .map_err(|e| e.to_string())?;
                }
            }
            Some("top") => {
                let mut rows: Vec<Row> = self
                    .totals
                    .iter()
                    .map(|(name, &score)| Row {
                        name: name.clone(),
                        score,
                    })
                    .collect();
                rows.sort_by(|a, b| b.score.cmp(&a.score).then(a.name.cmp(&b.name)));
                let table = value::to_value(&rows).map_err(|e| e.to_string())?;
                ctx.reply_lua(&request, &[table])
                    .map_err(|e| e.to_string())?;
            }
            other => return Err(format!("unknown command {other:?}")),
        }
        Ok(())
    }
}

impl Service for Scores {
    fn start(&mut self, ctx: &mut Context<'_>) -> Result<(), String> {
        ctx.register(".scores");
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Context<'_>, message: Message) {
        match message.ptype {
            ptype::LUA => {
                let request = message.clone();
                if let Err(why) = self.on_request(ctx, message) {
                    tracing::warn!("scores: {why}");
                    ctx.reply_error(&request);
                }
            }
            // The lobby's answer to a badge call.
            ptype::RESPONSE | ptype::ERROR => {
                if let Some((request, total)) = self.waiting.remove(&message.session) {
                    let badge = message.lua_values().ok().and_then(|v| v.into_iter().next());
                    let badge = badge.unwrap_or(Value::Nil);
                    if ctx.reply_lua(&request, &[total.into(), badge]).is_err() {
                        ctx.reply_error(&request);
                    }
                }
            }
            _ => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let runtime = Runtime::builder().threads(2).start()?;
    let scores: Handle = runtime.launch(Box::new(Scores::default()), "rust scores")?;
    let lobby = runtime.launch_lua_source("lobby", LOBBY, &[])?;
    let wait = Duration::from_secs(5);

    // The host calls the Lua service: which port did it get?
    let port = runtime.call_lua(lobby, &["port".into()], wait)?;
    let port: u16 = value::from_value(port.into_iter().next().unwrap_or(Value::Nil))?;
    println!("lobby listening on 127.0.0.1:{port}");

    // A TCP client talks to the Lua service, which calls the Rust one.
    let mut client = TcpStream::connect(("127.0.0.1", port))?;
    client.set_read_timeout(Some(wait))?;
    let mut lines = BufReader::new(client.try_clone()?).lines();
    let mut answers = Vec::new();
    for play in ["ana 60", "bob 30", "ana 50", "nonsense"] {
        writeln!(client, "{play}")?;
        let answer = lines.next().ok_or("the lobby closed the connection")??;
        println!("> {play}\n< {answer}");
        answers.push(answer);
    }
    assert_eq!(
        answers,
        [
            "ana has 60",
            "bob has 30",
            "ana has 110 [ANA REACHED 100]",
            "error: send NAME POINTS"
        ]
    );

    // The host calls the Rust service, and converts the Lua table with serde.
    let top = runtime.call_lua(scores, &["top".into()], wait)?;
    let rows: Vec<Row> = value::from_value(top.into_iter().next().unwrap_or(Value::Nil))?;
    println!("top: {rows:?}");
    assert_eq!(
        rows,
        [
            Row {
                name: "ana".into(),
                score: 110
            },
            Row {
                name: "bob".into(),
                score: 30
            }
        ]
    );

    let stats = runtime.stats();
    println!(
        "{} services, {} sockets",
        stats.services.len(),
        stats.sockets.len()
    );
    drop(lines);
    drop(client);
    runtime.shutdown();
    println!("done");
    Ok(())
}
