//! Echo through the socket layer with real loopback peers: every byte that goes in
//! comes back, in order, on one connection and on a thousand at once.
//!
//! The server side is `echo::EchoServer` (a socket thread plus a plain-thread owner
//! that echoes Data and closes on Close). Peers are blocking `std` sockets with
//! timeouts; every wait in this file is bounded and fails with what it waited for.

mod common;

use std::io::{self, Write};
use std::net::Shutdown;

use common::*;
use lunet::socket::SocketConfig;

#[test]
fn echo_returns_every_byte_on_one_connection_while_writing_and_reading_concurrently() {
    let server = echo::EchoServer::start(SocketConfig::default(), "127.0.0.1", 0).unwrap();
    let mut reader = client(server.addr);
    let mut writer = reader.try_clone().expect("clone the client socket");
    let data = pattern(400 * 1024, 11);

    let to_send = data.clone();
    let writing = spawn("the echo writer", move || -> io::Result<()> {
        // Uneven chunk sizes so the server sees reads of every shape.
        let mut offset = 0;
        let mut step = 1;
        while offset < to_send.len() {
            let end = (offset + step).min(to_send.len());
            writer.write_all(&to_send[offset..end])?;
            offset = end;
            step = step * 7 % 9973 + 1;
        }
        writer.shutdown(Shutdown::Write)
    });

    let got = read_until_eof(&mut reader, 2 * WAIT)
        .unwrap_or_else(|e| panic!("reading the echo of {} bytes: {e}", data.len()));
    writing
        .wait(WAIT)
        .unwrap_or_else(|e| panic!("the echo writer failed: {e}"));
    if let Err(e) = compare(&got, &data) {
        panic!("echo on one connection: {e}");
    }
    drop(reader);
    wait_until_only_listener_left(&server, "the echoed connection is closed on the server");
    server.stop();
}

const THREADS: usize = 8;
const PER_THREAD: usize = 125;

/// The payload of connection `n`: 4-16 KiB, its length and seed depending on `n`.
fn payload(n: usize) -> Vec<u8> {
    let len = 4 * 1024 + (n * 7919) % (12 * 1024 + 1);
    // Start the pattern at an offset too, so no two connections share a payload.
    let mut p = pattern(len + n % 97, (n % 251) as u8);
    p.drain(..n % 97);
    p
}

/// Raises the soft limit on open files if it is too low for 1000 connections on
/// both ends (a no-op on most machines).
fn ensure_fd_limit(needed: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one `rlimit` through a pointer to
    // a live local of that type.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < needed {
            lim.rlim_cur = needed.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[test]
fn echo_returns_every_byte_on_a_thousand_concurrent_connections() {
    ensure_fd_limit(4096);
    let server = echo::EchoServer::start(SocketConfig::default(), "127.0.0.1", 0).unwrap();
    echo_concurrently(&server, THREADS, PER_THREAD, payload);
    server.stop();
}
