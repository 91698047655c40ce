//! Service log lines: `skynet.error` and `print`.
//!
//! Each line is a `tracing` event at INFO with target `lunet::service` and the
//! service's handle as a field; the `lunet` command's subscriber prints it as
//! `[:0000000a] text`, flushed as it is written.

use crate::actor::Handle;

/// The `tracing` target of service log lines.
pub const TARGET: &str = "lunet::service";

/// Logs one line from service `handle`.
pub fn service_line(handle: Handle, text: &str) {
    tracing::info!(target: "lunet::service", service = %handle, "{text}");
}
