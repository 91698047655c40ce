//! A service's mailbox, and whether the service is on the run queue.
//!
//! Follows skynet's message queue: one lock guards the queue and an `in_global`
//! flag that is true while the service is on the global run queue or being run.
//! A push that finds the flag false sets it and tells the caller to schedule the
//! service; a worker that finds the queue empty clears it. So a service is on the
//! run queue at most once, and is run by at most one worker at a time.
//!
//! A closed mailbox (the service exited) refuses pushes, so a message can never be
//! left in a dead service's queue without its sender learning of it.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::message::Message;

/// First queue length that logs an overload warning; the next one is twice as
/// long, and so on.
pub const OVERLOAD_THRESHOLD: usize = 1024;

#[derive(Default)]
struct Inner {
    queue: VecDeque<Message>,
    in_global: bool,
    closed: bool,
    /// The next length that triggers an overload warning.
    overload_at: usize,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the service is already scheduled or running.
    Queued,
    /// Queued; the caller must put the service on the run queue.
    Schedule,
    /// Refused: the service has exited. The message comes back.
    Closed(Message),
}

/// A queue of messages for one service.
#[derive(Default)]
pub(crate) struct Mailbox {
    inner: Mutex<Inner>,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message. Returns the length past which it just grew, if that is
    /// an overload worth logging, along with what the caller must do.
    pub(crate) fn push(&self, message: Message) -> (Pushed, Option<usize>) {
        let mut inner = self.lock();
        if inner.closed {
            return (Pushed::Closed(message), None);
        }
        inner.queue.push_back(message);
        let len = inner.queue.len();
        let threshold = inner.overload_at.max(OVERLOAD_THRESHOLD);
        let overload = if len >= threshold {
            inner.overload_at = threshold * 2;
            Some(len)
        } else {
            None
        };
        if inner.in_global {
            (Pushed::Queued, overload)
        } else {
            inner.in_global = true;
            (Pushed::Schedule, overload)
        }
    }

    /// Takes the next message; `None` (and off the run queue) when empty.
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut inner = self.lock();
        let message = inner.queue.pop_front();
        if message.is_none() {
            inner.in_global = false;
            inner.overload_at = 0;
        }
        message
    }

    /// After a batch: whether messages remain (the service stays scheduled and
    /// goes back on the run queue). If none remain, it leaves the run queue.
    pub(crate) fn has_more(&self) -> bool {
        let mut inner = self.lock();
        if inner.queue.is_empty() {
            inner.in_global = false;
            false
        } else {
            true
        }
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Closes the mailbox and returns what was still in it.
    pub(crate) fn close(&self) -> Vec<Message> {
        let mut inner = self.lock();
        inner.closed = true;
        inner.queue.drain(..).collect()
    }

    /// Marks the service as scheduled without a message (to run its start).
    pub(crate) fn claim(&self) -> bool {
        let mut inner = self.lock();
        !std::mem::replace(&mut inner.in_global, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{handle::Handle, message::Payload};

    fn msg(session: i32) -> Message {
        Message {
            source: Handle::SYSTEM,
            session,
            ptype: 0,
            payload: Payload::Empty,
        }
    }

    #[test]
    fn first_push_schedules_then_queues_until_drained() {
        let mb = Mailbox::default();
        assert_eq!(mb.push(msg(1)).0, Pushed::Schedule);
        assert_eq!(mb.push(msg(2)).0, Pushed::Queued);
        assert_eq!(mb.pop().unwrap().session, 1);
        assert!(mb.has_more());
        assert_eq!(mb.pop().unwrap().session, 2);
        assert!(mb.pop().is_none());
        assert_eq!(
            mb.push(msg(3)).0,
            Pushed::Schedule,
            "drained: schedule again"
        );
    }

    #[test]
    fn closed_mailbox_returns_the_message_and_what_was_queued() {
        let mb = Mailbox::default();
        mb.push(msg(1));
        let left = mb.close();
        assert_eq!(left.len(), 1);
        match mb.push(msg(2)).0 {
            Pushed::Closed(m) => assert_eq!(m.session, 2),
            other => panic!("expected Closed, got {other:?}"),
        }
    }

    #[test]
    fn overload_is_reported_at_the_threshold_then_each_doubling() {
        let mb = Mailbox::default();
        let mut reports = vec![];
        for i in 0..5000 {
            if let Some(len) = mb.push(msg(i)).1 {
                reports.push(len);
            }
        }
        assert_eq!(reports, vec![1024, 2048, 4096]);
    }
}
