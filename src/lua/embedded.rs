//! The Lua library (`lua/`) and the shipped services (`services/`), compiled into
//! the binary so an installed `lunet` works from any directory.
//!
//! Adding a file to `lua/` or `services/` means adding a line here.

/// Library modules, by module name (`require "skynet.queue"` → `skynet.queue`).
pub(crate) const MODULES: &[(&str, &str)] = &[
    ("skynet", include_str!("../../lua/skynet.lua")),
    (
        "skynet.manager",
        include_str!("../../lua/skynet/manager.lua"),
    ),
    ("skynet.queue", include_str!("../../lua/skynet/queue.lua")),
    (
        "skynet.coroutine",
        include_str!("../../lua/skynet/coroutine.lua"),
    ),
    (
        "skynet.service",
        include_str!("../../lua/skynet/service.lua"),
    ),
    ("skynet.debug", include_str!("../../lua/skynet/debug.lua")),
];

/// Shipped services, by service name.
pub(crate) const SERVICES: &[(&str, &str)] = &[
    ("bootstrap", include_str!("../../services/bootstrap.lua")),
    ("launcher", include_str!("../../services/launcher.lua")),
    (
        "service_mgr",
        include_str!("../../services/service_mgr.lua"),
    ),
    ("logger", include_str!("../../services/logger.lua")),
    (
        "service_cell",
        include_str!("../../services/service_cell.lua"),
    ),
];

/// The source of embedded module `name`.
pub(crate) fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The source of embedded service `name`.
pub(crate) fn service(name: &str) -> Option<&'static str> {
    SERVICES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
