//! The byte stream under a connection: a TCP socket, or any fd handed to `bind`.
//!
//! Runs on the socket thread only. Reads and writes are non-blocking; the fd is
//! closed when the value is dropped.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use mio::event::Source;
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// A connection's fd.
#[derive(Debug)]
pub(crate) enum Stream {
    /// A TCP connection (accepted or connected).
    Tcp(TcpStream),
    /// An existing fd wrapped by `bind` (a pipe, a tty, a socket of any kind).
    Fd(File),
}

impl Stream {
    /// Wraps an fd the caller gives up, switching it to non-blocking mode. A TCP
    /// socket becomes `Tcp`, so it gets the careful close; anything else is `Fd`.
    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<Stream> {
        let sock = socket2::SockRef::from(&fd);
        sock.set_nonblocking(true)?;
        let is_tcp = sock.r#type().is_ok_and(|t| t == socket2::Type::STREAM)
            && sock
                .domain()
                .is_ok_and(|d| d == socket2::Domain::IPV4 || d == socket2::Domain::IPV6);
        Ok(if is_tcp {
            Stream::Tcp(TcpStream::from_std(std::net::TcpStream::from(fd)))
        } else {
            Stream::Fd(File::from(fd))
        })
    }

    fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Fd(f) => f.as_raw_fd(),
        }
    }

    /// The fd of a TCP connection (for the direct-write path).
    pub(crate) fn tcp_fd(&self) -> Option<RawFd> {
        match self {
            Stream::Tcp(s) => Some(s.as_raw_fd()),
            Stream::Fd(_) => None,
        }
    }

    /// Sends FIN after whatever the kernel still holds (TCP); nothing for other fds,
    /// which are closed as a whole.
    pub(crate) fn shutdown_write(&self) {
        if let Stream::Tcp(s) = self {
            // ENOTCONN here only means the peer is already gone; the close that
            // follows reports nothing more.
            let _ = s.shutdown(Shutdown::Write);
        }
    }

    /// Whether the kernel still holds bytes the peer has not acknowledged (TCP).
    pub(crate) fn has_unacked(&self) -> bool {
        match self {
            Stream::Tcp(s) => queue_len(s.as_raw_fd(), libc::TIOCOUTQ) > 0,
            Stream::Fd(_) => false,
        }
    }

    /// Whether the kernel holds input nobody has read (TCP).
    pub(crate) fn has_unread(&self) -> bool {
        match self {
            Stream::Tcp(s) => queue_len(s.as_raw_fd(), libc::FIONREAD) > 0,
            Stream::Fd(_) => false,
        }
    }

    /// Sets TCP_NODELAY (TCP only).
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(on),
            Stream::Fd(_) => Ok(()),
        }
    }
}

/// A TCP socket's queue length: with TIOCOUTQ (Linux SIOCOUTQ), bytes sent that
/// the peer has not acknowledged (`write_seq - snd_una`, which counts our FIN);
/// with FIONREAD (SIOCINQ), bytes received and not read. 0 on failure.
fn queue_len(fd: RawFd, request: libc::Ioctl) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: `fd` is an open socket owned by the caller for the whole call, and
    // both requests write exactly one `c_int` through the pointer, which points at
    // a live local of that type.
    let r = unsafe { libc::ioctl(fd, request, &mut n as *mut libc::c_int) };
    if r < 0 {
        0
    } else {
        n.max(0) as usize
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Fd(f) => f.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Fd(f) => f.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Fd(f) => f.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Fd(_) => SourceFd(&self.raw_fd()).register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Fd(_) => SourceFd(&self.raw_fd()).reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Fd(_) => SourceFd(&self.raw_fd()).deregister(registry),
        }
    }
}
