//! Echo through the socket layer with real loopback peers: every byte that goes in
//! comes back, in order, on one connection and on a thousand at once.
//!
//! The server side is `echo::EchoServer` (a socket thread plus a plain-thread owner
//! that echoes Data and closes on Close). Peers are blocking `std` sockets with
//! timeouts; every wait in this file is bounded and fails with what it waited for.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use lunet::socket::SocketConfig;

/// Reads until EOF, failing if the whole read takes longer than `within`.
fn read_until_eof(s: &mut TcpStream, within: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no EOF within {within:?} ({} bytes read)", out.len()),
            ));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e} after {} bytes", out.len()),
                ))
            }
        }
    }
}

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
    let addr = server.addr;
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();

    let drivers: Vec<_> = (0..THREADS)
        .map(|t| {
            let ready = ready_tx.clone();
            let go = go_rx.clone();
            spawn(&format!("echo client thread {t}"), move || {
                // Open all of this thread's connections first, so all 1000 are open
                // at once on the server.
                let mut conns: Vec<(usize, TcpStream)> = (0..PER_THREAD)
                    .map(|i| (t * PER_THREAD + i, client(addr)))
                    .collect();
                let _ = ready.send(t);
                go.recv_timeout(WAIT)
                    .expect("timed out waiting for the go signal");
                let mut failures = Vec::new();
                for (n, s) in &mut conns {
                    let sent = s
                        .write_all(&payload(*n))
                        .and_then(|()| s.shutdown(Shutdown::Write));
                    if let Err(e) = sent {
                        failures.push(format!("connection {n}: write: {e}"));
                    }
                }
                for (n, s) in &mut conns {
                    let result = read_until_eof(s, WAIT)
                        .map_err(|e| format!("read: {e}"))
                        .and_then(|got| compare(&got, &payload(*n)));
                    if let Err(e) = result {
                        failures.push(format!("connection {n}: {e}"));
                    }
                }
                failures
            })
        })
        .collect();

    for _ in 0..THREADS {
        if let Err(e) = ready_rx.recv_timeout(2 * WAIT) {
            panic!("waiting for the client threads to open their connections: {e}");
        }
    }
    eventually("the server holds all 1000 connections open at once", || {
        server.handle().stats().len() > THREADS * PER_THREAD
    });
    for _ in 0..THREADS {
        go_tx.send(()).unwrap();
    }

    let mut failures = Vec::new();
    for d in drivers {
        failures.extend(d.wait(3 * WAIT));
    }
    assert!(
        failures.is_empty(),
        "{} of {} connections failed:\n{}",
        failures.len(),
        THREADS * PER_THREAD,
        failures.join("\n")
    );
    wait_until_only_listener_left(&server, "all 1000 echoed connections are closed");
    server.stop();
}
