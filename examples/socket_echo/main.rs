//! An echo server on the socket layer alone; its owner is a plain Rust thread.
//!
//! ```text
//! cargo run --release --example socket_echo -- --addr 127.0.0.1:7000
//! ```
//! Every byte is echoed; when a peer shuts down its write side, the server closes
//! after echoing everything, so the peer reads all it sent, then EOF. Ctrl-C (or
//! SIGTERM) stops it cleanly. Logs go through `tracing` (`RUST_LOG=debug` for more).

mod owner;

use std::net::SocketAddr;

use lunet::socket::SocketConfig;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let addr = match parse_addr() {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("socket_echo: {message}\nusage: socket_echo [--addr HOST:PORT]");
            std::process::exit(2);
        }
    };

    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    }) {
        tracing::error!("cannot install the Ctrl-C handler: {e}");
        std::process::exit(1);
    }

    let server = match owner::EchoServer::start(
        SocketConfig::default(),
        &addr.ip().to_string(),
        addr.port(),
    ) {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("echo server listening on {}", server.addr);

    let _ = stop_rx.recv();
    tracing::info!("stopping: flushing and closing every socket");
    server.stop();
    tracing::info!("stopped");
}

fn parse_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:7000".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    addr.parse()
        .map_err(|e| format!("bad --addr {addr:?}: {e}"))
}
