//! The `lunet` command. The Lua node (`lunet run CONFIG`) arrives with the actor
//! runtime; until then the command only reports its version.

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => println!("lunet {}", env!("CARGO_PKG_VERSION")),
        _ => {
            println!(
                "lunet {}: the socket layer is in place; `lunet run` comes with the actor runtime.\n\
                 Try the socket echo: cargo run --release --example socket_echo -- --addr 127.0.0.1:7000",
                env!("CARGO_PKG_VERSION")
            );
        }
    }
}
