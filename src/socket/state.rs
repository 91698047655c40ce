//! The state machine of a stream socket, as plain functions over plain data.
//!
//! This file decides what every command and every readiness outcome does to a TCP
//! connection (or a bound fd); the mio loop in `server.rs` only carries the
//! [`Action`]s out. Nothing here touches a file descriptor or a clock, so the unit
//! tests below walk every transition.
//!
//! # Phases
//! ```text
//!  Connecting ──connected──▶ Open ◀──start── Accepted
//!      │                    │  │  │
//!      │ failed     peer FIN│  │  │write error
//!      ▼                    ▼  │  ▼
//!    Closed ◀──────── ReadClosed│ WriteClosed ──EOF/close──▶ Closed
//!      ▲                    │  │close
//!      │           close    ▼  ▼
//!      └─flushed+EOF/acked── Closing ──linger──▶ Closed
//! ```
//! - **Open**: reading (unless paused) and writing.
//! - **ReadClosed** (half-close read): the peer's FIN was read. The owner got Close;
//!   reading stops (no read interest, so no spin); sends still go out.
//! - **WriteClosed** (half-close write): a write failed. The owner got Error; the
//!   queue is dropped and sends are refused; reading goes on until EOF.
//! - **Closing** (the owner's close with bytes still queued, unacknowledged, or
//!   input unread — closing an fd with unread input makes the kernel reset):
//!   the owner got Close; incoming data is read and discarded, sends are refused,
//!   the queue is flushed, then the write side is shut down (FIN) and the fd is
//!   closed once the peer's EOF is read or everything sent was acknowledged. Reading
//!   and discarding matters: closing an fd with unread input makes the kernel send
//!   RST and drop whatever is still in its send buffer, which would lose bytes the
//!   owner sent. A linger timeout bounds the whole flush.
//! - **Closed**: the fd is closed and the slot released.
//!
//! A close before a connect completes, or before an accepted socket is started,
//! keeps the bytes already sent: the socket becomes Closing once connected.
//!
//! Once a socket is Closing, nothing but the flush finishing, the peer dying or the
//! linger timeout ends it: close, shutdown, pause, resume and start are no-ops there,
//! so a late error reaction or a stale command never turns a flushing close into a
//! force close.

/// Where a stream socket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A non-blocking connect is in progress.
    Connecting,
    /// Accepted by a listener, not yet started by an owner.
    Accepted,
    /// Connected and started.
    Open,
    /// The peer's FIN was read; writes go on.
    ReadClosed,
    /// A write failed; reads go on until EOF.
    WriteClosed,
    /// The owner closed; flushing, then closing.
    Closing,
    /// Done: the fd is closed.
    Closed,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Tell the owner: Connect.
    EmitConnect,
    /// Tell the owner: Close.
    EmitClose,
    /// Tell the owner: Error with this reason.
    EmitError(String),
    /// Drop everything queued for sending.
    DiscardQueue,
    /// Mark the id as refusing sends (in the shared slot table).
    StopSending,
    /// Shut down the write side (send FIN after what the kernel holds).
    ShutdownWrite,
    /// Start the linger timer.
    StartLinger,
    /// Close the fd and release the slot.
    CloseFd,
}

/// The state of one stream socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Conn {
    pub(crate) phase: Phase,
    /// The owner paused reading.
    pub(crate) paused: bool,
    /// EOF was read (only tracked once Closing).
    pub(crate) peer_eof: bool,
    /// Our FIN was sent (only while Closing).
    pub(crate) fin_sent: bool,
    /// The owner closed while the connect was in progress, with bytes queued:
    /// once connected, the socket flushes them and closes (it is Closing).
    close_pending: bool,
    close_reported: bool,
    error_reported: bool,
}

/// Facts about the socket's I/O the driver passes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Io {
    /// Bytes in the user-space send queue.
    pub(crate) queued: usize,
    /// Whether the kernel still holds sent bytes the peer has not acknowledged.
    pub(crate) unacked: bool,
    /// Whether the kernel holds input nobody has read (closing now would reset).
    pub(crate) unread: bool,
}

/// A list of actions to carry out (kept short; no allocation for the common case
/// beyond the driver's reused vector).
pub(crate) type Actions = Vec<Action>;

impl Conn {
    /// A socket whose connect is in progress.
    pub(crate) fn connecting() -> Conn {
        Conn::new(Phase::Connecting)
    }

    /// A socket accepted by a listener, waiting for `start`.
    pub(crate) fn accepted() -> Conn {
        Conn::new(Phase::Accepted)
    }

    /// A socket wrapped from an existing fd, waiting for `start`.
    pub(crate) fn bound() -> Conn {
        Conn::new(Phase::Accepted)
    }

    fn new(phase: Phase) -> Conn {
        Conn {
            phase,
            paused: false,
            peer_eof: false,
            fin_sent: false,
            close_pending: false,
            close_reported: false,
            error_reported: false,
        }
    }

    /// Whether the driver should have read interest.
    pub(crate) fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open | Phase::WriteClosed => !self.paused,
            // Discard input whatever the pause state, until the peer's EOF.
            Phase::Closing => !self.peer_eof,
            _ => false,
        }
    }

    /// Whether the driver should have write interest, given the queue length.
    pub(crate) fn wants_write(&self, queued: usize) -> bool {
        match self.phase {
            Phase::Connecting => true,
            Phase::Open | Phase::ReadClosed | Phase::Closing => queued > 0,
            _ => false,
        }
    }

    /// Whether the owner may still send.
    pub(crate) fn accepts_sends(&self) -> bool {
        !self.close_pending
            && matches!(
                self.phase,
                Phase::Connecting | Phase::Accepted | Phase::Open | Phase::ReadClosed
            )
    }

    /// Whether the owner has let go of the socket (closed it, or it is gone):
    /// `start` can no longer hand it to anyone.
    pub(crate) fn is_released(&self) -> bool {
        self.close_pending || matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// Whether the socket is the owner's to read: data read now is delivered.
    pub(crate) fn delivers_data(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::WriteClosed)
    }

    fn report_close(&mut self, out: &mut Actions) {
        if !self.close_reported {
            self.close_reported = true;
            out.push(Action::EmitClose);
        }
    }

    fn report_error(&mut self, reason: String, out: &mut Actions) {
        if !self.error_reported {
            self.error_reported = true;
            out.push(Action::EmitError(reason));
        }
    }

    fn finish(&mut self, out: &mut Actions) {
        self.phase = Phase::Closed;
        out.push(Action::CloseFd);
    }

    /// `start`: an owner takes the socket (first start of an accepted or bound socket,
    /// or a transfer to a new owner, `new_owner`). Also lifts a pause. The driver
    /// changes the owner only if the socket is not released.
    pub(crate) fn start(&mut self, new_owner: bool, out: &mut Actions) {
        match self.phase {
            Phase::Accepted | Phase::Open => {
                self.phase = Phase::Open;
                self.paused = false;
                out.push(Action::EmitConnect);
            }
            Phase::ReadClosed => {
                // After the peer's FIN: a new owner learns both; the old one had
                // its Close already.
                out.push(Action::EmitConnect);
                if new_owner {
                    out.push(Action::EmitClose);
                }
            }
            Phase::WriteClosed => {
                self.paused = false;
                out.push(Action::EmitConnect);
            }
            // Connect will come when it completes; closing sockets are nobody's.
            Phase::Connecting | Phase::Closing | Phase::Closed => {}
        }
    }

    /// `pause`: stop reading. A no-op unless the socket is read by its owner.
    pub(crate) fn pause(&mut self) {
        if matches!(self.phase, Phase::Open | Phase::WriteClosed) {
            self.paused = true;
        }
    }

    /// `resume`: read again. A no-op on a socket that is closing or not started.
    pub(crate) fn resume(&mut self) {
        if matches!(self.phase, Phase::Open | Phase::WriteClosed) {
            self.paused = false;
        }
    }

    /// A non-blocking connect completed.
    pub(crate) fn connected(&mut self, out: &mut Actions) {
        if self.phase != Phase::Connecting {
            return;
        }
        if self.close_pending {
            // The owner closed meanwhile: deliver what it queued, then close.
            self.phase = Phase::Closing;
        } else {
            self.phase = Phase::Open;
            out.push(Action::EmitConnect);
        }
    }

    /// A connect failed (refused, unreachable, no address).
    pub(crate) fn connect_failed(&mut self, reason: String, out: &mut Actions) {
        if self.phase == Phase::Connecting {
            self.report_error(reason, out);
            self.finish(out);
        }
    }

    /// A read returned 0: the peer sent FIN.
    pub(crate) fn read_eof(&mut self, io: Io, out: &mut Actions) {
        match self.phase {
            Phase::Open => {
                self.phase = Phase::ReadClosed;
                self.report_close(out);
            }
            Phase::WriteClosed => {
                self.report_close(out);
                self.finish(out);
            }
            Phase::Closing => {
                self.peer_eof = true;
                if io.queued == 0 {
                    // Nothing more to send and nothing more can arrive.
                    self.finish(out);
                }
            }
            _ => {}
        }
    }

    /// A read failed (e.g. ECONNRESET): the connection is dead both ways.
    pub(crate) fn read_error(&mut self, reason: String, io: Io, out: &mut Actions) {
        match self.phase {
            Phase::Open | Phase::ReadClosed | Phase::WriteClosed => {
                self.report_error(reason, out);
                self.report_close(out);
                self.finish(out);
            }
            Phase::Closing => {
                if io.queued > 0 || io.unacked {
                    self.report_error(reason, out);
                }
                self.finish(out);
            }
            _ => {}
        }
    }

    /// A write failed (EPIPE, ECONNRESET, ...).
    pub(crate) fn write_error(&mut self, reason: String, out: &mut Actions) {
        match self.phase {
            Phase::Open => {
                self.phase = Phase::WriteClosed;
                out.push(Action::StopSending);
                out.push(Action::DiscardQueue);
                self.report_error(reason, out);
            }
            Phase::ReadClosed => {
                // The peer is gone both ways: Close came already, now Error.
                out.push(Action::StopSending);
                out.push(Action::DiscardQueue);
                self.report_error(reason, out);
                self.finish(out);
            }
            Phase::Closing => {
                out.push(Action::DiscardQueue);
                self.report_error(reason, out);
                self.finish(out);
            }
            _ => {}
        }
    }

    /// The send queue just became empty.
    pub(crate) fn flushed(&mut self, io: Io, out: &mut Actions) {
        if self.phase != Phase::Closing {
            return;
        }
        if self.peer_eof {
            self.finish(out);
        } else if !self.fin_sent {
            self.fin_sent = true;
            out.push(Action::ShutdownWrite);
            if !io.unacked {
                self.finish(out);
            }
        }
    }

    /// While Closing with our FIN sent: the kernel reports everything acknowledged.
    pub(crate) fn acked(&mut self, out: &mut Actions) {
        if self.phase == Phase::Closing && self.fin_sent {
            self.finish(out);
        }
    }

    /// The owner's close ('K', shutdown=0): flush, then close.
    pub(crate) fn close(&mut self, io: Io, out: &mut Actions) {
        match self.phase {
            Phase::Connecting | Phase::Accepted if io.queued > 0 => {
                // Bytes accepted by send before close still go out: once
                // connected (or at once, for an accepted socket).
                out.push(Action::StopSending);
                self.report_close(out);
                out.push(Action::StartLinger);
                if self.phase == Phase::Connecting {
                    self.close_pending = true;
                } else {
                    self.phase = Phase::Closing;
                }
            }
            Phase::Connecting | Phase::Accepted | Phase::WriteClosed => {
                out.push(Action::StopSending);
                out.push(Action::DiscardQueue);
                self.report_close(out);
                self.finish(out);
            }
            Phase::Open => {
                out.push(Action::StopSending);
                self.report_close(out);
                if io.queued == 0 && !io.unacked && !io.unread {
                    self.finish(out);
                } else {
                    self.phase = Phase::Closing;
                    out.push(Action::StartLinger);
                    if io.queued == 0 {
                        self.fin_sent = true;
                        out.push(Action::ShutdownWrite);
                    }
                }
            }
            Phase::ReadClosed => {
                out.push(Action::StopSending);
                if io.queued == 0 {
                    // The peer can send nothing more, so closing cannot reset.
                    self.finish(out);
                } else {
                    self.phase = Phase::Closing;
                    self.peer_eof = true;
                    out.push(Action::StartLinger);
                }
            }
            Phase::Closing | Phase::Closed => {}
        }
    }

    /// The owner's shutdown ('K', shutdown=1): close now, discard unsent data.
    pub(crate) fn shutdown(&mut self, out: &mut Actions) {
        match self.phase {
            Phase::Closing | Phase::Closed => {}
            _ => {
                out.push(Action::StopSending);
                out.push(Action::DiscardQueue);
                self.report_close(out);
                self.finish(out);
            }
        }
    }

    /// The linger timeout ran out while Closing.
    pub(crate) fn linger_expired(&mut self, io: Io, out: &mut Actions) {
        if self.phase == Phase::Closing {
            if io.queued > 0 || io.unacked {
                self.report_error(
                    format!(
                        "linger timeout: closed with {} bytes unsent{}",
                        io.queued,
                        if io.unacked { " or unacknowledged" } else { "" }
                    ),
                    out,
                );
            }
            out.push(Action::DiscardQueue);
            self.finish(out);
        }
    }

    /// The fd cannot be used (e.g. the poller refused it): Error, then Close.
    pub(crate) fn failed(&mut self, reason: String, out: &mut Actions) {
        if self.phase != Phase::Closed {
            out.push(Action::StopSending);
            out.push(Action::DiscardQueue);
            self.report_error(reason, out);
            self.report_close(out);
            self.finish(out);
        }
    }

    /// The socket thread is exiting and cannot wait any longer.
    pub(crate) fn abort(&mut self, out: &mut Actions) {
        if self.phase != Phase::Closed {
            out.push(Action::StopSending);
            out.push(Action::DiscardQueue);
            self.report_close(out);
            self.finish(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    const EMPTY: Io = Io {
        queued: 0,
        unacked: false,
        unread: false,
    };
    const QUEUED: Io = Io {
        queued: 10,
        unacked: true,
        unread: false,
    };
    const IN_FLIGHT: Io = Io {
        queued: 0,
        unacked: true,
        unread: false,
    };

    const UNREAD: Io = Io {
        queued: 0,
        unacked: false,
        unread: true,
    };

    fn open() -> Conn {
        let mut c = Conn::accepted();
        c.start(false, &mut vec![]);
        c
    }

    fn run(c: &mut Conn, f: impl FnOnce(&mut Conn, &mut Actions)) -> Actions {
        let mut out = vec![];
        f(c, &mut out);
        out
    }

    fn err(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn accepted_socket_reads_only_after_start() {
        let mut c = Conn::accepted();
        assert!(!c.wants_read());
        assert_eq!(run(&mut c, |c, o| c.start(false, o)), vec![EmitConnect]);
        assert_eq!(c.phase, Phase::Open);
        assert!(c.wants_read());
    }

    #[test]
    fn start_transfers_an_open_socket_and_lifts_pause() {
        let mut c = open();
        c.pause();
        assert_eq!(run(&mut c, |c, o| c.start(false, o)), vec![EmitConnect]);
        assert!(!c.paused && c.wants_read());
    }

    #[test]
    fn start_after_peer_fin_tells_new_owner_connect_then_close() {
        let mut c = open();
        run(&mut c, |c, o| c.read_eof(EMPTY, o));
        assert_eq!(
            run(&mut c, |c, o| c.start(true, o)),
            vec![EmitConnect, EmitClose]
        );
        // The same owner had its Close: only Connect, never a second Close.
        assert_eq!(run(&mut c, |c, o| c.start(false, o)), vec![EmitConnect]);
    }

    #[test]
    fn start_on_connecting_closing_or_closed_does_nothing() {
        let mut c = Conn::connecting();
        assert!(run(&mut c, |c, o| c.start(false, o)).is_empty());
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert!(run(&mut c, |c, o| c.start(false, o)).is_empty());
        assert_eq!(c.phase, Phase::Closing);
        let mut c = open();
        run(&mut c, |c, o| c.shutdown(o));
        assert!(run(&mut c, |c, o| c.start(false, o)).is_empty());
    }

    #[test]
    fn pause_and_resume_toggle_read_interest() {
        let mut c = open();
        c.pause();
        assert!(!c.wants_read());
        c.resume();
        assert!(c.wants_read());
    }

    #[test]
    fn resume_on_closing_socket_is_a_no_op() {
        let mut c = open();
        c.pause();
        run(&mut c, |c, o| c.close(QUEUED, o));
        c.resume();
        assert_eq!(c.phase, Phase::Closing);
        assert!(c.wants_read(), "closing discards input whatever the pause");
    }

    #[test]
    fn pause_on_unstarted_socket_is_a_no_op() {
        let mut c = Conn::accepted();
        c.pause();
        assert!(!c.paused);
    }

    #[test]
    fn connect_success_and_failure() {
        let mut c = Conn::connecting();
        assert!(c.wants_write(0));
        assert_eq!(run(&mut c, |c, o| c.connected(o)), vec![EmitConnect]);
        assert_eq!(c.phase, Phase::Open);
        let mut c = Conn::connecting();
        assert_eq!(
            run(&mut c, |c, o| c.connect_failed(err("refused"), o)),
            vec![EmitError(err("refused")), CloseFd]
        );
        assert_eq!(c.phase, Phase::Closed);
        // A late duplicate report changes nothing.
        assert!(run(&mut c, |c, o| c.connect_failed(err("x"), o)).is_empty());
    }

    #[test]
    fn peer_fin_reports_close_once_and_stops_reading() {
        let mut c = open();
        assert_eq!(run(&mut c, |c, o| c.read_eof(EMPTY, o)), vec![EmitClose]);
        assert_eq!(c.phase, Phase::ReadClosed);
        assert!(!c.wants_read(), "no read interest on a half-closed fd");
        assert!(c.accepts_sends());
        assert!(c.wants_write(5));
        assert!(run(&mut c, |c, o| c.read_eof(EMPTY, o)).is_empty());
    }

    #[test]
    fn close_after_peer_fin_flushes_then_closes_without_second_close() {
        let mut c = open();
        run(&mut c, |c, o| c.read_eof(EMPTY, o));
        assert_eq!(
            run(&mut c, |c, o| c.close(QUEUED, o)),
            vec![StopSending, StartLinger]
        );
        assert_eq!(c.phase, Phase::Closing);
        assert!(!c.wants_read());
        assert!(c.wants_write(10));
        assert_eq!(run(&mut c, |c, o| c.flushed(IN_FLIGHT, o)), vec![CloseFd]);
    }

    #[test]
    fn close_after_peer_fin_with_nothing_queued_closes_at_once() {
        let mut c = open();
        run(&mut c, |c, o| c.read_eof(EMPTY, o));
        assert_eq!(
            run(&mut c, |c, o| c.close(IN_FLIGHT, o)),
            vec![StopSending, CloseFd]
        );
    }

    #[test]
    fn close_with_nothing_in_flight_closes_at_once() {
        let mut c = open();
        assert_eq!(
            run(&mut c, |c, o| c.close(EMPTY, o)),
            vec![StopSending, EmitClose, CloseFd]
        );
    }

    #[test]
    fn close_with_queue_enters_closing_discards_input_and_refuses_sends() {
        let mut c = open();
        assert_eq!(
            run(&mut c, |c, o| c.close(QUEUED, o)),
            vec![StopSending, EmitClose, StartLinger]
        );
        assert_eq!(c.phase, Phase::Closing);
        assert!(c.wants_read(), "input is read and discarded");
        assert!(!c.delivers_data());
        assert!(!c.accepts_sends());
        // Flushed: FIN goes out, then we wait for the peer's EOF or the ack.
        assert_eq!(
            run(&mut c, |c, o| c.flushed(IN_FLIGHT, o)),
            vec![ShutdownWrite]
        );
        assert!(c.fin_sent);
        assert_eq!(run(&mut c, |c, o| c.read_eof(EMPTY, o)), vec![CloseFd]);
    }

    #[test]
    fn closing_finishes_when_everything_is_acknowledged() {
        let mut c = open();
        run(&mut c, |c, o| c.close(IN_FLIGHT, o));
        assert!(c.fin_sent, "nothing queued: FIN at once");
        assert_eq!(run(&mut c, |c, o| c.acked(o)), vec![CloseFd]);
    }

    #[test]
    fn flushed_with_everything_acked_closes_at_once() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert_eq!(
            run(&mut c, |c, o| c.flushed(EMPTY, o)),
            vec![ShutdownWrite, CloseFd]
        );
    }

    #[test]
    fn acked_before_fin_does_not_close() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert!(run(&mut c, |c, o| c.acked(o)).is_empty());
        assert_eq!(c.phase, Phase::Closing);
    }

    #[test]
    fn peer_eof_while_closing_with_queue_keeps_flushing() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert!(run(&mut c, |c, o| c.read_eof(QUEUED, o)).is_empty());
        assert!(!c.wants_read());
        assert_eq!(run(&mut c, |c, o| c.flushed(IN_FLIGHT, o)), vec![CloseFd]);
    }

    #[test]
    fn commands_on_a_closing_socket_never_force_close() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert!(run(&mut c, |c, o| c.shutdown(o)).is_empty());
        assert!(run(&mut c, |c, o| c.close(QUEUED, o)).is_empty());
        c.pause();
        c.resume();
        assert!(run(&mut c, |c, o| c.start(false, o)).is_empty());
        assert_eq!(c.phase, Phase::Closing);
    }

    #[test]
    fn linger_expiry_force_closes_and_tells_the_owner() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        let out = run(&mut c, |c, o| c.linger_expired(QUEUED, o));
        assert!(matches!(&out[0], EmitError(r) if r.contains("linger timeout")));
        assert_eq!(&out[1..], &[DiscardQueue, CloseFd]);
        assert!(run(&mut c, |c, o| c.linger_expired(QUEUED, o)).is_empty());
    }

    #[test]
    fn linger_on_an_open_socket_does_nothing() {
        let mut c = open();
        assert!(run(&mut c, |c, o| c.linger_expired(QUEUED, o)).is_empty());
    }

    #[test]
    fn shutdown_closes_now_and_discards() {
        let mut c = open();
        assert_eq!(
            run(&mut c, |c, o| c.shutdown(o)),
            vec![StopSending, DiscardQueue, EmitClose, CloseFd]
        );
        let mut c = open();
        run(&mut c, |c, o| c.read_eof(EMPTY, o));
        assert_eq!(
            run(&mut c, |c, o| c.shutdown(o)),
            vec![StopSending, DiscardQueue, CloseFd],
            "Close was already reported"
        );
    }

    #[test]
    fn write_error_reports_once_and_reads_on_until_eof() {
        let mut c = open();
        assert_eq!(
            run(&mut c, |c, o| c.write_error(err("EPIPE"), o)),
            vec![StopSending, DiscardQueue, EmitError(err("EPIPE"))]
        );
        assert_eq!(c.phase, Phase::WriteClosed);
        assert!(c.wants_read() && c.delivers_data());
        assert!(!c.wants_write(10));
        assert!(run(&mut c, |c, o| c.write_error(err("again"), o)).is_empty());
        assert_eq!(
            run(&mut c, |c, o| c.read_eof(EMPTY, o)),
            vec![EmitClose, CloseFd]
        );
    }

    #[test]
    fn read_error_after_write_error_gives_close_not_second_error() {
        let mut c = open();
        run(&mut c, |c, o| c.write_error(err("EPIPE"), o));
        assert_eq!(
            run(&mut c, |c, o| c.read_error(err("ECONNRESET"), EMPTY, o)),
            vec![EmitClose, CloseFd]
        );
    }

    #[test]
    fn write_error_after_peer_fin_closes_with_error() {
        let mut c = open();
        run(&mut c, |c, o| c.read_eof(EMPTY, o));
        assert_eq!(
            run(&mut c, |c, o| c.write_error(err("EPIPE"), o)),
            vec![StopSending, DiscardQueue, EmitError(err("EPIPE")), CloseFd]
        );
    }

    #[test]
    fn write_error_while_closing_closes_and_reports_lost_bytes() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert_eq!(
            run(&mut c, |c, o| c.write_error(err("EPIPE"), o)),
            vec![DiscardQueue, EmitError(err("EPIPE")), CloseFd]
        );
    }

    #[test]
    fn read_error_while_open_reports_error_then_close() {
        let mut c = open();
        assert_eq!(
            run(&mut c, |c, o| c.read_error(err("reset"), EMPTY, o)),
            vec![EmitError(err("reset")), EmitClose, CloseFd]
        );
    }

    #[test]
    fn read_error_while_closing_reports_only_if_bytes_were_lost() {
        let mut c = open();
        run(&mut c, |c, o| c.close(IN_FLIGHT, o));
        assert_eq!(
            run(&mut c, |c, o| c.read_error(err("reset"), EMPTY, o)),
            vec![CloseFd]
        );
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert_eq!(
            run(&mut c, |c, o| c.read_error(err("reset"), QUEUED, o)),
            vec![EmitError(err("reset")), CloseFd]
        );
    }

    #[test]
    fn close_with_nothing_queued_before_connect_or_start_closes_at_once() {
        for mut c in [Conn::connecting(), Conn::accepted()] {
            let out = run(&mut c, |c, o| c.close(EMPTY, o));
            assert_eq!(out, vec![StopSending, DiscardQueue, EmitClose, CloseFd]);
        }
    }

    #[test]
    fn close_on_write_closed_closes_at_once() {
        let mut c = open();
        c.write_error(err("x"), &mut vec![]);
        let out = run(&mut c, |c, o| c.close(QUEUED, o));
        assert_eq!(out, vec![StopSending, DiscardQueue, EmitClose, CloseFd]);
    }

    #[test]
    fn close_before_connect_keeps_queued_bytes_and_flushes_once_connected() {
        let mut c = Conn::connecting();
        assert_eq!(
            run(&mut c, |c, o| c.close(QUEUED, o)),
            vec![StopSending, EmitClose, StartLinger]
        );
        assert!(c.is_released());
        assert!(!c.accepts_sends());
        assert!(c.wants_write(10));
        assert!(run(&mut c, |c, o| c.connected(o)).is_empty(), "no Connect");
        assert_eq!(c.phase, Phase::Closing);
        assert_eq!(
            run(&mut c, |c, o| c.flushed(EMPTY, o)),
            vec![ShutdownWrite, CloseFd]
        );
    }

    #[test]
    fn close_before_connect_then_connect_failure_reports_error() {
        let mut c = Conn::connecting();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert_eq!(
            run(&mut c, |c, o| c.connect_failed(err("refused"), o)),
            vec![EmitError(err("refused")), CloseFd]
        );
    }

    #[test]
    fn close_before_start_keeps_queued_bytes() {
        let mut c = Conn::accepted();
        assert_eq!(
            run(&mut c, |c, o| c.close(QUEUED, o)),
            vec![StopSending, EmitClose, StartLinger]
        );
        assert_eq!(c.phase, Phase::Closing);
        assert!(c.wants_write(10) && c.wants_read());
        assert!(run(&mut c, |c, o| c.start(true, o)).is_empty());
    }

    #[test]
    fn close_with_unread_input_drains_instead_of_resetting() {
        let mut c = open();
        assert_eq!(
            run(&mut c, |c, o| c.close(UNREAD, o)),
            vec![StopSending, EmitClose, StartLinger, ShutdownWrite]
        );
        assert_eq!(c.phase, Phase::Closing);
        assert!(c.wants_read(), "input is read and discarded until EOF");
        assert_eq!(run(&mut c, |c, o| c.read_eof(EMPTY, o)), vec![CloseFd]);
    }

    #[test]
    fn failed_fd_reports_error_then_close() {
        let mut c = Conn::bound();
        run(&mut c, |c, o| c.start(false, o));
        assert_eq!(
            run(&mut c, |c, o| c.failed(err("EPERM"), o)),
            vec![
                StopSending,
                DiscardQueue,
                EmitError(err("EPERM")),
                EmitClose,
                CloseFd
            ]
        );
        assert!(run(&mut c, |c, o| c.failed(err("again"), o)).is_empty());
    }

    #[test]
    fn abort_closes_anything_once() {
        let mut c = open();
        run(&mut c, |c, o| c.close(QUEUED, o));
        assert_eq!(
            run(&mut c, |c, o| c.abort(o)),
            vec![StopSending, DiscardQueue, CloseFd]
        );
        assert!(run(&mut c, |c, o| c.abort(o)).is_empty());
    }

    #[test]
    fn bound_fd_behaves_like_accepted() {
        let mut c = Conn::bound();
        assert_eq!(run(&mut c, |c, o| c.start(false, o)), vec![EmitConnect]);
    }
}
