//! UDP sockets: receive with the sender's address, send to an address or to the
//! default peer, queueing only when the kernel buffer is full.
//!
//! Runs on the socket thread. IPv4 and IPv6 alike, after the address bound.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use mio::net::UdpSocket;

/// A UDP socket and its send queue.
#[derive(Debug)]
pub(crate) struct Udp {
    pub(crate) io: UdpSocket,
    pub(crate) local: Option<SocketAddr>,
    queue: VecDeque<(Option<SocketAddr>, Bytes)>,
    queued: usize,
}

impl Udp {
    pub(crate) fn new(io: UdpSocket) -> Udp {
        let local = io.local_addr().ok();
        Udp {
            io,
            local,
            queue: VecDeque::new(),
            queued: 0,
        }
    }

    /// Bytes waiting to be sent.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Queues a datagram and sends what the kernel takes. Returns bytes sent.
    pub(crate) fn send(&mut self, to: Option<SocketAddr>, data: Bytes) -> io::Result<usize> {
        self.queued += data.len();
        self.queue.push_back((to, data));
        self.flush()
    }

    /// Sends queued datagrams until the kernel would block. A datagram the kernel
    /// refuses for another reason is dropped and the flush goes on; the first
    /// such error is returned after it.
    pub(crate) fn flush(&mut self) -> io::Result<usize> {
        let mut sent = 0;
        let mut failed = None;
        while let Some((to, data)) = self.queue.front() {
            let r = match to {
                Some(addr) => self.io.send_to(data, *addr),
                None => self.io.send(data),
            };
            match r {
                Ok(_) => sent += self.pop(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pop();
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(sent),
        }
    }

    fn pop(&mut self) -> usize {
        let n = self.queue.pop_front().map_or(0, |(_, d)| d.len());
        self.queued -= n;
        n
    }
}
