//! The rest of the socket contract on real sockets: stale ids, UDP on IPv4 and IPv6,
//! outgoing connects, wrapping an existing fd, and `stats`.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;
use lunet::socket::{Event, SocketConfig, SocketId, SocketKind};

const OWNER: u32 = 3;
const OTHER: u32 = 4;

/// A short quiet period used to show that something does *not* happen.
const QUIET: Duration = Duration::from_millis(200);

/// Reads exactly `n` bytes from a peer (bounded by its read timeout).
fn read_n(s: &mut impl Read, n: usize, what: &str) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: could not read {n} bytes: {e}"));
    buf
}

/// Collects Data events for `id` until `n` bytes came; any other event fails.
fn recv_data(h: &Harness, owner: u32, id: SocketId, n: usize, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        match h.next(what) {
            (o, Event::Data { id: d, data }) if o == owner && d == id => {
                got.extend_from_slice(&data)
            }
            other => panic!("{what}: unexpected event {other:?}"),
        }
    }
    assert_eq!(got.len(), n, "{what}: more bytes than were sent");
    got
}

/// Asserts the peer has seen neither EOF nor a reset (its read would block).
fn assert_peer_open(peer: &mut TcpStream, what: &str) {
    peer.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    match peer.read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Ok(0) => panic!("{what}: the peer saw EOF"),
        Ok(n) => panic!("{what}: the peer got {n} unexpected bytes"),
        Err(e) => panic!("{what}: the peer's read failed: {e}"),
    }
    peer.set_nonblocking(false).unwrap();
}

#[test]
fn stale_id_never_reaches_new_socket() {
    // A tiny table, so the slot of a closed socket is soon taken by a new one.
    let h = Harness::with_config(SocketConfig {
        max_sockets: 4,
        ..SocketConfig::default()
    });
    let sockets = h.sockets();
    let (listener, addr) = h.listen(OWNER);

    let mut peer_a = client(addr);
    let a = h.accept(listener, OWNER);
    sockets.close(a);
    match h.next("Close for A") {
        (_, Event::Close { id }) if id == a => {}
        other => panic!("expected Close for A, got {other:?}"),
    }
    assert!(read_to_eof(&mut peer_a, "A's peer").is_empty());
    eventually("A is gone from stats", || {
        sockets.stats().iter().all(|s| s.id != a)
    });

    // Open connections until one lands in A's slot; close the others.
    let slot = |id: SocketId| id.get() % 4;
    let (b, mut peer_b) = loop {
        let peer = client(addr);
        let id = h.accept(listener, OWNER);
        assert_ne!(id, a, "A's id was handed out again");
        if slot(id) == slot(a) {
            break (id, peer);
        }
        assert!(
            id.get() < a.get() + 16,
            "no new socket landed in A's slot after ids up to {id:?}"
        );
        sockets.close(id);
        match h.next("Close for a socket not in A's slot") {
            (_, Event::Close { id: c }) if c == id => {}
            other => panic!("expected Close for {id:?}, got {other:?}"),
        }
    };
    println!("A = {a:?}, B = {b:?} share slot {}", slot(a));
    assert_ne!(a, b);

    // Every command through the stale id must miss B.
    assert!(
        sockets.send(a, &b"stale"[..]).is_err(),
        "send on a stale id"
    );
    assert!(
        sockets.send_low(a, &b"stale"[..]).is_err(),
        "send_low on a stale id"
    );
    sockets.pause(a);
    sockets.start(OTHER, a);
    sockets.nodelay(a, true);
    sockets.close(a);
    sockets.shutdown(a);
    let stats = sockets.stats();
    let info = stats
        .iter()
        .find(|s| s.id == b)
        .expect("B survives the stale commands");
    assert_eq!(info.owner, OWNER, "a stale start changed B's owner");
    assert_eq!(info.state, "open");
    assert!(stats.iter().all(|s| s.id != a), "A came back: {stats:?}");
    h.expect_silence(QUIET, "after commands on a stale id");
    assert_peer_open(&mut peer_b, "after commands on A's stale id");

    // B still reads (so the stale pause missed it) and still sends.
    peer_b.write_all(b"ping").unwrap();
    assert_eq!(recv_data(&h, OWNER, b, 4, "B's Data"), b"ping");
    sockets.send(b, &b"pong"[..]).expect("send on B");
    assert_eq!(read_n(&mut peer_b, 4, "B's peer"), b"pong");
    assert_peer_open(&mut peer_b, "after the round trip on B");

    sockets.close(b);
    assert!(read_to_eof(&mut peer_b, "B's peer after close").is_empty());
}

/// Opens two UDP sockets on `host`, sends both ways with an explicit address, then
/// through `udp_connect` and the default peer.
fn udp_round_trip(host: &str) {
    let h = Harness::start();
    let sockets = h.sockets();
    let (x, x_addr) = sockets.udp(OWNER, host, 0).expect("udp socket x");
    let (y, y_addr) = sockets.udp(OTHER, host, 0).expect("udp socket y");
    assert_ne!(x_addr.port(), 0);
    assert_eq!(x_addr.ip(), host.parse::<std::net::IpAddr>().unwrap());

    let expect_udp =
        |owner: u32, id: SocketId, data: &[u8], from: SocketAddr, what: &str| match h.next(what) {
            (
                o,
                Event::Udp {
                    id: got,
                    data: d,
                    from: f,
                },
            ) => {
                assert_eq!((o, got), (owner, id), "{what}: wrong owner or socket");
                assert_eq!(&d[..], data, "{what}: datagram");
                assert_eq!(f, from, "{what}: sender address");
            }
            other => panic!("{what}: expected Udp, got {other:?}"),
        };

    sockets.udp_send(x, Some(y_addr), &b"hello y"[..]).unwrap();
    expect_udp(OTHER, y, b"hello y", x_addr, "x -> y");
    sockets.udp_send(y, Some(x_addr), &b"hello x"[..]).unwrap();
    expect_udp(OWNER, x, b"hello x", y_addr, "y -> x (reply)");

    sockets
        .udp_connect(x, host, y_addr.port())
        .expect("udp_connect");
    sockets
        .udp_send(x, None, &b"to the default peer"[..])
        .unwrap();
    expect_udp(
        OTHER,
        y,
        b"to the default peer",
        x_addr,
        "x -> y via udp_connect",
    );

    // A datagram of the largest size a Data/Udp event carries by default (64 KiB
    // read buffer) minus headers still arrives whole.
    let big = pattern(60_000, 1);
    sockets.udp_send(y, Some(x_addr), big.clone()).unwrap();
    expect_udp(OWNER, x, &big, y_addr, "a 60000-byte datagram");

    let infos = sockets.stats();
    for (id, addr) in [(x, x_addr), (y, y_addr)] {
        let info = infos
            .iter()
            .find(|s| s.id == id)
            .expect("udp socket in stats");
        assert_eq!(info.kind, SocketKind::Udp);
        assert_eq!(info.addr, Some(addr));
    }

    sockets.close(x);
    sockets.close(y);
    let mut closed = Vec::new();
    while closed.len() < 2 {
        match h.next("Close for both UDP sockets") {
            (_, Event::Close { id }) => closed.push(id),
            other => panic!("expected Close, got {other:?}"),
        }
    }
    closed.sort();
    let mut want = vec![x, y];
    want.sort();
    assert_eq!(closed, want);
    assert!(sockets.udp_send(x, Some(y_addr), &b"late"[..]).is_err());
}

#[test]
fn udp_round_trip_on_ipv4() {
    udp_round_trip("127.0.0.1");
}

#[test]
fn udp_round_trip_on_ipv6() {
    if UdpSocket::bind("[::1]:0").is_err() {
        println!("NOTE: ::1 cannot be bound on this machine; skipping the IPv6 UDP test");
        return;
    }
    udp_round_trip("::1");
}

#[test]
fn connect_to_a_closed_port_gives_one_error() {
    let h = Harness::start();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let id = h
        .sockets()
        .connect(OWNER, "127.0.0.1", port)
        .expect("connect returns an id at once");
    match h.next("Error for a refused connect") {
        (o, Event::Error { id: e, reason }) if o == OWNER && e == id => {
            println!("refused connect: {reason}")
        }
        other => panic!("expected one Error, got {other:?}"),
    }
    h.expect_silence(QUIET, "after the failed connect's Error");
    assert!(
        h.sockets().stats().iter().all(|s| s.id != id),
        "a failed connect left its socket open"
    );
    assert!(h.sockets().send(id, &b"x"[..]).is_err());
}

/// Connects the socket layer to a std listener on `host`, then checks Connect's
/// address and data both ways.
fn connect_and_talk(host: &str) {
    let h = Harness::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();

    let id = h
        .sockets()
        .connect(OWNER, host, target.port())
        .expect("connect returns an id at once");
    match h.next(&format!("Connect to {host}")) {
        (o, Event::Connect { id: c, addr }) if o == OWNER && c == id => {
            assert_eq!(addr, Some(target), "Connect carries the peer address")
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    let mut peer = None;
    eventually("the std listener accepts the connection", || {
        match listener.accept() {
            Ok((s, _)) => peer = Some(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        peer.is_some()
    });
    let mut peer = peer.unwrap();
    peer.set_nonblocking(false).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();

    let out = pattern(200_000, 2);
    h.sockets().send(id, out.clone()).unwrap();
    assert_eq!(read_n(&mut peer, out.len(), "the peer"), out);
    let back = pattern(150_000, 4);
    peer.write_all(&back).unwrap();
    assert_eq!(
        recv_data(&h, OWNER, id, back.len(), "Data from the peer"),
        back
    );

    peer.shutdown(Shutdown::Write).unwrap();
    match h.next("Close after the peer's FIN") {
        (_, Event::Close { id: c }) if c == id => {}
        other => panic!("expected Close, got {other:?}"),
    }
    h.sockets().close(id);
    let mut peer = peer;
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest)
        .expect("the peer reads EOF after close");
    assert!(rest.is_empty());
}

#[test]
fn connect_to_a_listening_port_connects_and_data_flows_both_ways() {
    connect_and_talk("127.0.0.1");
}

#[test]
fn connect_by_host_name_resolves_and_connects() {
    connect_and_talk("localhost");
}

#[test]
fn bound_fd_reads_and_writes_like_a_socket() {
    let h = Harness::start();
    let (mine, mut theirs) = UnixStream::pair().unwrap();
    theirs.set_read_timeout(Some(WAIT)).unwrap();
    theirs.set_write_timeout(Some(WAIT)).unwrap();

    let id = h.sockets().bind(OWNER, mine.into()).expect("bind an fd");
    h.sockets().start(OWNER, id);
    match h.next("Connect for the bound fd") {
        (o, Event::Connect { id: c, addr: None }) if o == OWNER && c == id => {}
        other => panic!("expected Connect with no address, got {other:?}"),
    }

    let input = pattern(100_000, 6);
    theirs.write_all(&input).unwrap();
    assert_eq!(
        recv_data(&h, OWNER, id, input.len(), "Data from the fd"),
        input
    );

    let output = pattern(120_000, 8);
    h.sockets().send(id, output.clone()).unwrap();
    assert_eq!(read_n(&mut theirs, output.len(), "the other end"), output);

    let info = h.sockets().stats();
    let info = info.iter().find(|s| s.id == id).expect("bound fd in stats");
    assert_eq!(info.kind, SocketKind::Bind);
    assert_eq!(info.bytes_read, input.len() as u64);
    assert_eq!(info.bytes_written, output.len() as u64);

    // The other end going away is the fd's EOF: one Close.
    theirs.shutdown(Shutdown::Write).unwrap();
    match h.next("Close at the fd's EOF") {
        (_, Event::Close { id: c }) if c == id => {}
        other => panic!("expected Close, got {other:?}"),
    }
    h.sockets().close(id);
    let mut rest = Vec::new();
    theirs.read_to_end(&mut rest).expect("EOF after close");
    assert!(rest.is_empty());
}

#[test]
fn stats_lists_each_socket_with_owner_kind_and_byte_counts() {
    let h = Harness::start();
    let sockets = h.sockets();
    let (listener, addr) = h.listen(OWNER);
    let mut peer = client(addr);
    let id = h.accept(listener, OTHER);

    let up = pattern(300_000, 12);
    peer.write_all(&up).unwrap();
    assert_eq!(recv_data(&h, OTHER, id, up.len(), "Data from the peer"), up);
    let down = pattern(500_000, 13);
    sockets.send(id, down[..200_000].to_vec()).unwrap();
    sockets.send_low(id, down[200_000..].to_vec()).unwrap();
    assert_eq!(read_n(&mut peer, down.len(), "the peer"), down);

    let stats = sockets.stats();
    assert_eq!(stats.len(), 2, "a listener and a connection: {stats:?}");
    let l = stats
        .iter()
        .find(|s| s.id == listener)
        .expect("the listener");
    assert_eq!(
        (l.owner, l.kind, l.addr),
        (OWNER, SocketKind::Listen, Some(addr))
    );
    assert_eq!(l.state, "listening");
    let c = stats.iter().find(|s| s.id == id).expect("the connection");
    assert_eq!(c.owner, OTHER);
    assert_eq!(c.kind, SocketKind::Tcp);
    assert_eq!(c.state, "open");
    assert_eq!(
        c.addr,
        Some(peer.local_addr().unwrap()),
        "the peer's address"
    );
    assert_eq!(c.bytes_read, up.len() as u64);
    assert_eq!(c.bytes_written, down.len() as u64);
    assert_eq!(c.queued, 0);
    assert!(c.last_read.is_some() && c.last_write.is_some());

    sockets.close(id);
    assert!(read_to_eof(&mut peer, "the peer after close").is_empty());
    eventually("the closed connection leaves stats", || {
        sockets.stats().iter().all(|s| s.id != id)
    });
}
