//! Settings of the socket thread.

use std::time::Duration;

use super::write_queue::DEFAULT_WARN_THRESHOLD;

/// How the socket thread is set up. `SocketConfig::default()` suits a server.
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// Slots in the socket table: the most sockets open at once. Rounded up to a
    /// power of two. Default 65536, as in skynet.
    pub max_sockets: usize,
    /// How long a close may wait for queued bytes to reach a peer that does not
    /// read (or for the peer to acknowledge them) before the socket is force-closed
    /// and its owner gets an Error. Default 30 s.
    pub linger: Duration,
    /// How long `exit` waits for closing sockets to flush before force-closing
    /// them. Default 5 s.
    pub exit_linger: Duration,
    /// Queued bytes past which the owner gets a Warning (then at each doubling).
    /// Default 1 MiB; 0 turns warnings off.
    pub warn_threshold: usize,
    /// Whether a sender may write to a connection's fd itself when nothing is
    /// queued for it and the socket thread is asleep (DESIGN §3.5), instead of
    /// waking the socket thread. Saves a wake-up per send when the socket thread is
    /// idle; costs throughput when senders and the socket thread share a core.
    /// Default off: on a 2-core machine the echo bench measured the queued path as
    /// fast or faster in every multi-connection cell, and the direct path ahead
    /// only for a single connection's latency (`LUNET_BENCH_DIRECT=1` compares).
    pub direct_write: bool,
    /// Size of the buffer the socket thread reads into (also the largest Data
    /// event and UDP datagram). Default 64 KiB.
    pub read_buffer: usize,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            max_sockets: 65536,
            linger: Duration::from_secs(30),
            exit_linger: Duration::from_secs(5),
            warn_threshold: DEFAULT_WARN_THRESHOLD,
            read_buffer: 64 * 1024,
            direct_write: false,
        }
    }
}
