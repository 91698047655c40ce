mod common;

use common::*;

#[test]
fn echo_roundtrip_through_the_echo_owner() {
    let server = echo::EchoServer::start(Default::default(), "127.0.0.1", 0).unwrap();
    let mut c = client(server.addr);
    let data = pattern(100_000, 3);
    write_all(&mut c, &data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut c, "echo"), data);
    server.stop();
}
