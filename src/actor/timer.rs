//! The timer: a timing wheel with centisecond ticks, advanced by its own thread.
//!
//! `add` may be called from any thread. The timer thread wakes every 2.5 ms,
//! advances the wheel to the current centisecond and sends each expiry to its
//! service as a response message from [`Handle::SYSTEM`] with the timeout's
//! session, as skynet does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::handle::Handle;
use super::message::{ptype, Message, Payload};
use super::registry::Router;
use super::wheel::Wheel;

/// How often the timer thread looks at the clock.
const RESOLUTION: Duration = Duration::from_micros(2500);

pub(crate) struct Timer {
    wheel: Mutex<Wheel<(Handle, i32)>>,
    origin: Instant,
}

impl Timer {
    pub(crate) fn new() -> Timer {
        Timer {
            wheel: Mutex::new(Wheel::new()),
            origin: Instant::now(),
        }
    }

    /// Centiseconds since the timer started.
    pub(crate) fn now(&self) -> u64 {
        (self.origin.elapsed().as_millis() / 10) as u64
    }

    pub(crate) fn add(&self, to: Handle, centis: u32, session: i32) {
        let mut wheel = self.wheel.lock().unwrap_or_else(|p| p.into_inner());
        // Count from the real clock, even if the wheel is a tick behind.
        let behind = (self.now() as u32).wrapping_sub(wheel.now());
        wheel.add(centis.saturating_add(behind), (to, session));
    }

    /// Advances the wheel to the current centisecond; expiries go to `out`.
    fn tick(&self, out: &mut Vec<(Handle, i32)>) {
        let target = self.now() as u32;
        let mut wheel = self.wheel.lock().unwrap_or_else(|p| p.into_inner());
        while wheel.now() != target {
            wheel.advance(out);
        }
    }
}

/// The timer thread's loop: runs until `stop` is signalled or dropped.
pub(crate) fn run(timer: &Timer, router: &Router, stop: Receiver<()>) {
    let mut expired = Vec::new();
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(RESOLUTION) {
        timer.tick(&mut expired);
        router.queue.nudge();
        for (to, session) in expired.drain(..) {
            let _ = router.send(
                to,
                Message {
                    source: Handle::SYSTEM,
                    session,
                    ptype: ptype::RESPONSE,
                    payload: Payload::Empty,
                },
            );
        }
    }
}
