//! The per-socket send queue: a high and a low priority list, and the high-water mark.
//!
//! Runs on the socket thread only. Packets are written in order within a list; the
//! high list always goes first. A low packet that was partly written moves to the
//! high list (which is empty at that moment, since low packets are written only when
//! the high list is), so it is finished before anything else and two packets never
//! interleave on the wire.
//!
//! The high-water mark is muduo's pair: a warning when the queue passes a threshold
//! (then each doubling of it), and a "drained" signal once the queue empties after a
//! warning.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::{Buf, Bytes};

/// How many buffers one vectored write gathers at most.
const MAX_IOV: usize = 64;

/// Default high-water mark: 1 MiB.
pub const DEFAULT_WARN_THRESHOLD: usize = 1 << 20;

/// The two lists and their byte count.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    high: VecDeque<Bytes>,
    low: VecDeque<Bytes>,
    bytes: usize,
    /// The next size at which to warn; 0 means "the base threshold".
    next_warning: usize,
    /// Whether a warning was given since the queue was last empty.
    warned: bool,
}

/// What writing did to the queue.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Bytes written to the fd.
    pub written: usize,
    /// The fd would block with data still queued.
    pub blocked: bool,
}

impl WriteQueue {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.bytes
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Queues `data` on the high or low list. Returns a warning size in KiB when
    /// the queue just passed the high-water mark (or a doubling of it).
    pub(crate) fn push(&mut self, data: Bytes, low: bool, threshold: usize) -> Option<usize> {
        if data.is_empty() {
            return None;
        }
        self.bytes += data.len();
        if low {
            self.low.push_back(data);
        } else {
            self.high.push_back(data);
        }
        let mark = if self.next_warning == 0 {
            threshold
        } else {
            self.next_warning
        };
        if threshold > 0 && self.bytes > mark {
            let mut next = mark;
            while next < self.bytes {
                next = next.saturating_mul(2);
            }
            self.next_warning = next;
            self.warned = true;
            return Some(self.bytes.div_ceil(1024));
        }
        None
    }

    /// Drops everything queued. Returns the number of bytes dropped.
    pub(crate) fn discard(&mut self) -> usize {
        let dropped = self.bytes;
        *self = WriteQueue::default();
        dropped
    }

    /// Called after the queue became empty: true once if a warning was given since
    /// it was last empty (the owner then gets a Warning of 0).
    pub(crate) fn take_drained(&mut self) -> bool {
        if self.bytes == 0 && self.warned {
            self.warned = false;
            self.next_warning = 0;
            return true;
        }
        false
    }

    /// Writes as much as `out` takes. Stops at the first `WouldBlock`; returns other
    /// errors (the queue is left as it was after the last successful write).
    pub(crate) fn flush<W: Write>(&mut self, out: &mut W) -> io::Result<Flushed> {
        let mut result = Flushed::default();
        while self.bytes > 0 {
            let from_low = self.high.is_empty();
            let n = {
                let list = if from_low { &self.low } else { &self.high };
                let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
                let mut count = 0;
                for (slot, buf) in iov.iter_mut().zip(list.iter()) {
                    *slot = IoSlice::new(buf);
                    count += 1;
                }
                match out.write_vectored(&iov[..count]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        result.blocked = true;
                        return Ok(result);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            result.written += n;
            self.consume(n, from_low);
        }
        Ok(result)
    }

    /// Removes `n` written bytes from the front of the list written from.
    fn consume(&mut self, mut n: usize, from_low: bool) {
        self.bytes -= n;
        let list = if from_low {
            &mut self.low
        } else {
            &mut self.high
        };
        while n > 0 {
            let front = list.front_mut().expect("wrote more than was queued");
            if n < front.len() {
                front.advance(n);
                break;
            }
            n -= front.len();
            list.pop_front();
        }
        if from_low && n > 0 {
            // A partly written low packet must finish before anything else; the
            // high list is empty, since low packets are written only then.
            let partial = self.low.pop_front().expect("front exists");
            self.high.push_back(partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `room` bytes, then blocks.
    struct Limited {
        out: Vec<u8>,
        room: usize,
    }

    impl Write for Limited {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn high_goes_before_low() {
        let mut q = WriteQueue::default();
        q.push(b("low1"), true, 0);
        q.push(b("high"), false, 0);
        q.push(b("low2"), true, 0);
        let mut w = Limited {
            out: vec![],
            room: 100,
        };
        let f = q.flush(&mut w).unwrap();
        assert_eq!(w.out, b"highlow1low2");
        assert_eq!(f.written, 12);
        assert!(!f.blocked);
        assert!(q.is_empty());
    }

    #[test]
    fn partly_written_low_packet_finishes_before_new_high() {
        let mut q = WriteQueue::default();
        q.push(b("LLLLLL"), true, 0);
        let mut w = Limited {
            out: vec![],
            room: 3,
        };
        assert!(q.flush(&mut w).unwrap().blocked);
        q.push(b("hh"), false, 0);
        w.room = 100;
        q.flush(&mut w).unwrap();
        assert_eq!(w.out, b"LLLLLLhh");
    }

    #[test]
    fn partial_high_write_resumes_where_it_stopped() {
        let mut q = WriteQueue::default();
        q.push(b("abcdef"), false, 0);
        q.push(b("gh"), false, 0);
        let mut w = Limited {
            out: vec![],
            room: 4,
        };
        let f = q.flush(&mut w).unwrap();
        assert_eq!((f.written, f.blocked, q.len()), (4, true, 4));
        w.room = 100;
        q.flush(&mut w).unwrap();
        assert_eq!(w.out, b"abcdefgh");
    }

    #[test]
    fn warning_at_threshold_then_each_doubling_then_drained_once() {
        let mut q = WriteQueue::default();
        let kib = Bytes::from(vec![0u8; 1024]);
        let mut warnings = vec![];
        for _ in 0..5 {
            if let Some(w) = q.push(kib.clone(), false, 1024) {
                warnings.push(w);
            }
        }
        assert_eq!(warnings, vec![2, 3, 5]);
        assert!(!q.take_drained(), "not drained yet");
        let mut w = Limited {
            out: vec![],
            room: usize::MAX,
        };
        q.flush(&mut w).unwrap();
        assert!(q.take_drained());
        assert!(!q.take_drained(), "drained is reported once");
        // After draining, the base threshold applies again.
        assert_eq!(q.push(Bytes::from(vec![0u8; 2048]), false, 1024), Some(2));
    }

    #[test]
    fn no_warning_below_threshold_and_no_drained_without_warning() {
        let mut q = WriteQueue::default();
        assert_eq!(q.push(b("x"), false, 1024), None);
        q.discard();
        assert!(!q.take_drained());
    }

    #[test]
    fn write_error_is_returned_and_queue_kept() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut q = WriteQueue::default();
        q.push(b("abc"), false, 0);
        assert_eq!(
            q.flush(&mut Broken).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        assert_eq!(q.len(), 3);
        assert_eq!(q.discard(), 3);
        assert!(q.is_empty());
    }
}
