//! Capturing the log of a test script's node.
//!
//! The library logs through `tracing` and leaves the subscriber to the host.
//! `lunet test` installs one whose writer is a [`LogCapture`] (see
//! [`LogCapture::writer`]) and gives the same capture to the runner, which
//! empties it before each script and takes what was written when the
//! script's node has shut down: scripts run one at a time, so what is in
//! the buffer then is that script's log (service lines, warnings of the
//! runtime, tracebacks of errors in cases).

use std::io;
use std::sync::{Arc, Mutex};

/// A shared, growable log buffer (cheap to clone: clones share it).
///
/// ```
/// use std::io::Write;
/// use lunet::testing::LogCapture;
///
/// let capture = LogCapture::default();
/// writeln!(capture.writer(), "[:00000008] hello").unwrap();
/// assert_eq!(capture.take(), "[:00000008] hello\n");
/// assert_eq!(capture.take(), "");
/// ```
#[derive(Clone, Debug, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// A writer appending to the buffer (what a `tracing` subscriber's
    /// make-writer returns for each event).
    pub fn writer(&self) -> CaptureWriter {
        CaptureWriter(self.0.clone())
    }

    /// Empties the buffer and returns what it held (invalid UTF-8 replaced).
    pub fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Appends to a [`LogCapture`].
#[derive(Debug)]
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
