//! The direct-write fast path: a sender writes to the fd itself when nothing is
//! queued ahead of it.
//!
//! Sending through the socket thread costs a channel hop and a wake-up per send.
//! When a connection's send queue is empty and no send command for it is on its way
//! to the socket thread, the calling thread may write to the fd directly, as skynet
//! does; only what the kernel does not take goes through the socket thread.
//!
//! One small record per slot, behind a mutex, makes that safe:
//! - **Order.** `pending` counts send commands in flight for the slot (any id, so a
//!   stale command can never unbalance it); `idle` says the socket thread's queue
//!   is empty and the connection may be written. A direct write happens only when
//!   `idle && pending == 0`. The socket thread clears `idle` when it takes a send
//!   command and sets it again only once its queue is empty. The remainder of a
//!   partial direct write is handed to the socket thread while the lock is held,
//!   so no other sender can slip in between the two halves of a packet.
//! - **The fd.** The socket thread clears the record under the lock before it closes
//!   the fd, so a writer holding the lock with a matching id always writes to the
//!   right, open fd.
//!
//! Writes use `send(MSG_NOSIGNAL | MSG_DONTWAIT)`: never blocking, never SIGPIPE.
//! A write error is not handled here: the bytes go through the socket thread,
//! whose own write meets the error and runs the state machine.

use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

use super::id::SocketId;

#[derive(Default)]
struct Direct {
    /// The connection allowed to write directly (0: none).
    id: u32,
    fd: RawFd,
    /// Send commands in flight to the socket thread for this slot.
    pending: u32,
    /// The socket thread's queue for `id` is empty and it may be written.
    idle: bool,
    /// Bytes written directly, and when last (added to the socket's stats).
    written: u64,
    last_write: Option<Instant>,
}

/// One record per slot of the socket table.
pub(crate) struct DirectTable {
    slots: Box<[Mutex<Direct>]>,
}

impl DirectTable {
    pub(crate) fn new(capacity: usize) -> DirectTable {
        DirectTable {
            slots: (0..capacity).map(|_| Mutex::default()).collect(),
        }
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Direct> {
        // The critical sections cannot panic halfway; a poisoned lock is still sound.
        self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Caller side: writes `data` directly if allowed; whatever is left (all of it,
    /// if direct writing is not allowed now) is passed to `forward`, under the
    /// lock, to be sent to the socket thread as a send command.
    pub(crate) fn send<E>(
        &self,
        index: usize,
        id: SocketId,
        data: Bytes,
        may_write: bool,
        forward: impl FnOnce(Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut d = self.lock(index);
        let mut rest = data;
        if may_write && d.id == id.get() && d.idle && d.pending == 0 {
            let n = write_now(d.fd, &rest);
            if n > 0 {
                d.written += n as u64;
                d.last_write = Some(Instant::now());
            }
            if n == rest.len() {
                return Ok(());
            }
            rest = rest.slice(n..);
            d.idle = false;
        }
        d.pending += 1;
        let result = forward(rest);
        if result.is_err() {
            d.pending -= 1;
        }
        result
    }

    /// Socket thread: a send command for this slot arrived (for `id`, possibly
    /// stale). Direct writes for `id` stop until its queue is empty again.
    pub(crate) fn take_pending(&self, index: usize, id: SocketId) {
        let mut d = self.lock(index);
        d.pending = d.pending.saturating_sub(1);
        if d.id == id.get() {
            d.idle = false;
        }
    }

    /// Socket thread: whether `id` (on `fd`) may be written directly now.
    pub(crate) fn set_idle(&self, index: usize, id: SocketId, fd: RawFd, idle: bool) {
        let mut d = self.lock(index);
        if idle {
            d.id = id.get();
            d.fd = fd;
        }
        if d.id == id.get() {
            d.idle = idle;
        }
    }

    /// Socket thread: `id` is about to close its fd; waits out any direct write in
    /// progress and forbids new ones.
    pub(crate) fn clear(&self, index: usize, id: SocketId) {
        let mut d = self.lock(index);
        if d.id == id.get() {
            d.id = 0;
            d.fd = -1;
            d.idle = false;
            d.written = 0;
            d.last_write = None;
        }
    }

    /// Bytes `id` wrote directly, and when last.
    pub(crate) fn written(&self, index: usize, id: SocketId) -> (u64, Option<Instant>) {
        let d = self.lock(index);
        if d.id == id.get() {
            (d.written, d.last_write)
        } else {
            (0, None)
        }
    }
}

/// One non-blocking send; returns the bytes the kernel took (0 on any error).
fn write_now(fd: RawFd, data: &[u8]) -> usize {
    // SAFETY: the caller holds the slot's lock and has checked that the record's id
    // is the sender's, so `fd` is that connection's open socket: the socket thread
    // clears the record under this same lock before it closes the fd. The pointer
    // and length describe `data`, a live slice, for the whole call.
    let n = unsafe {
        libc::send(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        0
    } else {
        n as usize
    }
}
