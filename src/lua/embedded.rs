//! The Lua library (`lua/`) and the shipped services (`services/`), compiled into
//! the binary so an installed `lunet` works from any directory.
//!
//! Adding a file to `lua/` or `services/` means adding a line here.

/// Library modules, by module name (`require "skynet.queue"` → `skynet.queue`).
pub(crate) const MODULES: &[(&str, &str)] = &[("skynet", include_str!("../../lua/skynet.lua"))];

/// Shipped services, by service name.
pub(crate) const SERVICES: &[(&str, &str)] = &[];

/// The source of embedded module `name`.
pub(crate) fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The source of embedded service `name`.
pub(crate) fn service(name: &str) -> Option<&'static str> {
    SERVICES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
