//! The Lua library (`lua/`) and the shipped services (`services/`), compiled into
//! the binary so an installed `lunet` works from any directory.
//!
//! Adding a file to `lua/` or `services/` means adding a line here.
//!
//! Library modules are compiled once per process and loaded into each service's
//! VM as bytecode without debug information ([`bytecode`]): a VM then holds no
//! line tables or local names for the library, which makes an idle service
//! smaller, and no service parses the library again. The cost: frames of library
//! functions show no line numbers in tracebacks (`[lunet] skynet: in function
//! <[lunet] skynet:178>` gives the line where the function starts), as C
//! functions show none; errors the library raises for its callers name the
//! caller's line, as before.

use std::sync::{LazyLock, OnceLock};

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
    ("skynet.socket", include_str!("../../lua/skynet/socket.lua")),
    ("lunet.wrap", include_str!("../../lua/lunet/wrap.lua")),
    (
        "lunet.skynet_misc",
        include_str!("../../lua/lunet/skynet_misc.lua"),
    ),
    (
        "lunet.skynet_services",
        include_str!("../../lua/lunet/skynet_services.lua"),
    ),
    (
        "lunet.skynet_requests",
        include_str!("../../lua/lunet/skynet_requests.lua"),
    ),
    ("lunet.test", include_str!("../../lua/lunet/test.lua")),
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
    ("gate", include_str!("../../services/gate.lua")),
    (
        "debug_console",
        include_str!("../../services/debug_console.lua"),
    ),
    (
        "service_cell",
        include_str!("../../services/service_cell.lua"),
    ),
];

/// The bytecode of embedded module `name` (see the module docs), or why it
/// does not compile.
pub(crate) fn bytecode(name: &str) -> Option<Result<&'static [u8], String>> {
    /// Per module: its bytecode, or the compile error.
    type Compiled = OnceLock<Result<Vec<u8>, String>>;
    static COMPILED: LazyLock<Vec<Compiled>> =
        LazyLock::new(|| MODULES.iter().map(|_| OnceLock::new()).collect());
    let index = MODULES.iter().position(|(n, _)| *n == name)?;
    let compiled = COMPILED[index].get_or_init(|| {
        let (name, source) = MODULES[index];
        let chunk_name = format!("=[lunet] {name}");
        mlua::Lua::new()
            .load(source)
            .set_name(&chunk_name)
            .into_function()
            .map(|f| with_source(f.dump(true), &chunk_name))
            .map_err(|e| e.to_string())
    });
    Some(compiled.as_deref().map_err(Clone::clone))
}

/// Offset of the main function's source name in a Lua 5.4 dump: the header
/// (signature 4, version 1, format 1, LUAC_DATA 6, three sizes 3, LUAC_INT 8,
/// LUAC_NUM 8) and the count of upvalues (1).
const SOURCE_AT: usize = 32;

/// Puts `source` back into a stripped dump, which has none (so tracebacks
/// would say `?` instead of the module's name). Lua writes a missing string as
/// the size 0, one byte `0x80`; a string is its size plus one, in 7-bit groups
/// from the most significant, the last one marked with `0x80`, then its bytes.
/// Nested functions without a source take their parent's when loaded. A dump
/// that does not look as expected is returned unchanged.
fn with_source(mut dump: Vec<u8>, source: &str) -> Vec<u8> {
    if dump.get(SOURCE_AT) != Some(&0x80) {
        return dump;
    }
    let mut size = source.len() + 1;
    let mut encoded = vec![(size & 0x7f) as u8 | 0x80];
    size >>= 7;
    while size != 0 {
        encoded.insert(0, (size & 0x7f) as u8);
        size >>= 7;
    }
    encoded.extend_from_slice(source.as_bytes());
    dump.splice(SOURCE_AT..SOURCE_AT + 1, encoded);
    dump
}

/// Loads embedded module `name` into `lua` (its chunk, not yet run).
pub(crate) fn load(lua: &mlua::Lua, name: &str) -> mlua::Result<mlua::Function> {
    let bytecode = bytecode(name)
        .ok_or_else(|| mlua::Error::runtime(format!("no embedded module '{name}'")))?
        .map_err(mlua::Error::runtime)?;
    lua.load(bytecode)
        .set_name(format!("=[lunet] {name}"))
        .set_mode(mlua::ChunkMode::Binary)
        .into_function()
}

/// The source of embedded service `name`.
pub(crate) fn service(name: &str) -> Option<&'static str> {
    SERVICES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VM that loads binary chunks (mlua's safe mode refuses them).
    fn vm() -> mlua::Lua {
        // SAFETY: the tests load only bytecode made by `bytecode`/`with_source`
        // from trusted source, as the services' VMs do.
        unsafe { mlua::Lua::unsafe_new() }
    }

    fn source_of(lua: &mlua::Lua, f: mlua::Function) -> (String, i64) {
        let info: mlua::Table = lua
            .load("local f = ... return debug.getinfo(f, 'S')")
            .call(f)
            .unwrap();
        (
            info.get("source").unwrap(),
            info.get("currentline").unwrap_or(-1),
        )
    }

    #[test]
    fn every_module_compiles_and_keeps_its_name() {
        for (name, _) in MODULES {
            let lua = vm();
            let chunk = load(&lua, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(source_of(&lua, chunk).0, format!("=[lunet] {name}"));
        }
    }

    #[test]
    fn nested_functions_take_the_name_and_have_no_line_numbers() {
        let lua = vm();
        let source = "return function() return debug.getinfo(1, 'Sl') end";
        let f = lua.load(source).set_name("=m").into_function().unwrap();
        let dump = with_source(f.dump(true), "=m");
        let make: mlua::Function = lua
            .load(&dump[..])
            .set_mode(mlua::ChunkMode::Binary)
            .call(())
            .unwrap();
        let info: mlua::Table = make.call(()).unwrap();
        assert_eq!(info.get::<String>("source").unwrap(), "=m");
        assert_eq!(info.get::<i64>("currentline").unwrap(), -1);
    }

    #[test]
    fn a_long_source_name_is_encoded_in_several_groups() {
        let lua = vm();
        let long = format!("={}", "x".repeat(300));
        let f = lua
            .load("return 1")
            .set_name(&long)
            .into_function()
            .unwrap();
        let dump = with_source(f.dump(true), &long);
        let g = lua
            .load(&dump[..])
            .set_mode(mlua::ChunkMode::Binary)
            .into_function()
            .unwrap();
        assert_eq!(source_of(&lua, g).0, long);
    }
}
