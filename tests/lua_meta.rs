//! The editor annotations in `lua/meta/` keep up with the Lua API.
//!
//! `lua/meta/` holds LuaLS definition files (`---@meta NAME`), one per module
//! of the Lua API, at the path of its require name (`skynet.socket` →
//! `lua/meta/skynet/socket.lua`). Nothing runs them, so nothing else would
//! notice when they fall behind the library. These tests read the sources as
//! text (no VM, no network) and check:
//!
//! - every public module has a meta file that declares `---@meta NAME`, and
//!   every meta file names a module that exists (embedded in
//!   `src/lua/embedded.rs`, or native and preloaded in `src/lua/service.rs`);
//! - `src/lua/embedded.rs` embeds nothing from `lua/meta/` (the annotations
//!   are for editors, not for the binary);
//! - for each module whose exports can be read off its source, the meta file
//!   annotates exactly the names the module exports: none missing, none that
//!   does not exist.
//!
//! How exports are found, by simple line scanning (no Lua parser):
//! - Lua modules: the table a module returns is named by its last line,
//!   `return NAME`; its exports are `function NAME.f(`, `NAME.f = ...` at the
//!   start of a line, and the `f = ...` fields of its constructor
//!   `local NAME = { ... }`. `skynet` also counts the parts it loads on first
//!   use (the `["lunet.skynet_*"]` keys of its `parts` table). The meta file
//!   is read the same way (its own `return NAME`).
//! - Native modules (Rust): the names the `open` function sets, `t.set("f",`
//!   and the `("f", ...)` tuples of its loops.
//! - `skynet.queue` returns a function, not a table: there are no names; its
//!   meta file must describe a callable (`---@type fun(`).
//!
//! Each extraction must find some names it knows are there, so a change of
//! style in a source fails loudly instead of checking nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Embedded modules that are internal to the library, with why they have no
/// meta file. Each must still be in `MODULES` (so this list cannot rot).
const INTERNAL: &[(&str, &str)] = &[
    (
        "skynet.debug",
        "the debug protocol's handler, loaded by lua/skynet.lua; its messages \
         are described in the skynet meta (skynet.debug_stat)",
    ),
    ("lunet.wrap", "coroutine.wrap rebuilt for interrupts"),
    (
        "lunet.skynet_misc",
        "a part of skynet, annotated in skynet's meta",
    ),
    (
        "lunet.skynet_services",
        "a part of skynet, annotated in skynet's meta",
    ),
    (
        "lunet.skynet_requests",
        "a part of skynet, annotated in skynet's meta",
    ),
];

/// Native modules (Rust), preloaded in `src/lua/service.rs`, with meta files,
/// and the Rust source that builds each.
const NATIVE: &[(&str, &str)] = &[
    ("skynet.netpack", "src/lua/netpack.rs"),
    ("skynet.socketdriver", "src/lua/socket_driver.rs"),
];

/// The protocol-test module. It has a meta file even while the module itself
/// is not in this checkout yet; once it is in `MODULES` its exports are
/// checked like the others.
const TEST_MODULE: &str = "lunet.test";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The meta file of module `name`, relative to the repository root.
fn meta_path(name: &str) -> String {
    format!("lua/meta/{}.lua", name.replace('.', "/"))
}

/// The string literals of `text`, in order (no escapes appear in the parts
/// read here; a `\"` would end a literal early and fail the pairing below).
fn string_literals(text: &str) -> Vec<String> {
    text.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// `MODULES` of `src/lua/embedded.rs`: (module name, source path relative to
/// the repository root). Its entries are `("name", include_str!("../../path"))`
/// however rustfmt wraps them, so its string literals alternate name, path.
fn embedded_modules() -> Vec<(String, String)> {
    let source = read("src/lua/embedded.rs");
    let start = source
        .find("const MODULES")
        .expect("src/lua/embedded.rs: no `const MODULES`");
    let end = source[start..]
        .find("const SERVICES")
        .map(|n| start + n)
        .expect("src/lua/embedded.rs: no `const SERVICES` after MODULES");
    // Skip the type (`&[(&str, &str)]`), which has no literal anyway.
    let literals = string_literals(&source[start..end]);
    assert!(
        literals.len() >= 2 && literals.len() % 2 == 0,
        "src/lua/embedded.rs: MODULES does not read as (\"name\", include_str!(\"path\")) pairs: {literals:?}"
    );
    literals
        .chunks(2)
        .map(|pair| {
            let path = pair[1].strip_prefix("../../").unwrap_or_else(|| {
                panic!(
                    "src/lua/embedded.rs: MODULES entry {:?} has path {:?}, not ../../...",
                    pair[0], pair[1]
                )
            });
            (pair[0].clone(), path.to_string())
        })
        .collect()
}

/// Every meta file under `lua/meta`, as module names from their paths.
fn meta_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let base = root().join("lua/meta");
    let mut files = Vec::new();
    walk(&base, &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&base).expect("under lua/meta");
            let rel = rel.to_str().expect("UTF-8 path").to_string();
            let name = rel
                .strip_suffix(".lua")
                .unwrap_or_else(|| panic!("lua/meta/{rel}: not a .lua file"))
                .replace('/', ".");
            (name, format!("lua/meta/{rel}"))
        })
        .collect()
}

/// The name of the table a Lua chunk returns (its last line, not blank or a
/// comment, is `return NAME`), or None when it returns something else (a
/// function).
fn returned_table(source: &str) -> Option<String> {
    let last = source
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with("--"))?;
    let name = last.strip_prefix("return ")?.trim();
    is_identifier(name).then(|| name.to_string())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The leading identifier of `s`, if any.
fn identifier(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let id = &s[..end];
    is_identifier(id).then_some(id)
}

/// The names a Lua chunk defines in table `table` (see the module docs).
/// Names starting with `_` are private by convention and left out.
fn lua_exports(source: &str, table: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let function = format!("function {table}.");
    let method = format!("function {table}:");
    let field = format!("{table}.");
    let constructor = format!("local {table} = {{");
    let mut in_constructor = false;
    for line in source.lines().map(str::trim) {
        if in_constructor {
            if line.starts_with('}') {
                in_constructor = false;
            } else if let Some(key) = identifier(line) {
                if line[key.len()..].trim_start().starts_with('=') {
                    names.insert(key.to_string());
                }
            }
            continue;
        }
        if line == constructor {
            in_constructor = true;
            continue;
        }
        let rest = line
            .strip_prefix(&function)
            .or_else(|| line.strip_prefix(&method));
        if let Some(rest) = rest {
            if let Some(name) = identifier(rest) {
                names.insert(name.to_string());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(&field) {
            if let Some(name) = identifier(rest) {
                let after = rest[name.len()..].trim_start();
                if after.starts_with('=') && !after.starts_with("==") {
                    names.insert(name.to_string());
                }
            }
        }
    }
    names.retain(|n| !n.starts_with('_'));
    names
}

/// The names a native module's `open` function sets (see the module docs).
fn native_exports(source: &str, file: &str) -> BTreeSet<String> {
    let start = source
        .find("pub(crate) fn open(")
        .unwrap_or_else(|| panic!("{file}: no `pub(crate) fn open(`"));
    let end = source[start..]
        .find("\n}\n")
        .map(|n| start + n)
        .unwrap_or_else(|| panic!("{file}: the end of `open` not found"));
    let body = &source[start..end];
    let mut names = BTreeSet::new();
    // Reads the literal at the start of `s` (after whitespace), if any.
    let literal = |s: &str| -> Option<String> {
        let s = s.trim_start().strip_prefix('"')?;
        let close = s.find('"')?;
        Some(s[..close].to_string())
    };
    for (at, _) in body.match_indices("t.set(") {
        if let Some(name) = literal(&body[at + "t.set(".len()..]) {
            names.insert(name);
        }
    }
    // Tuples `("name", ...)`: a `(` that follows whitespace or `[`, not a
    // call such as `error("listen", e)` or `s.set("id", ...)`.
    for (at, _) in body.match_indices("(\"") {
        let before = body[..at].chars().next_back();
        if !matches!(before, Some(c) if c.is_whitespace() || c == '[') {
            continue;
        }
        let rest = &body[at + 1..];
        if let Some(name) = literal(rest) {
            let after = rest[name.len() + 2..].trim_start();
            if after.starts_with(',') {
                names.insert(name);
            }
        }
    }
    names
}

/// Fails unless `found` holds every name of `known` (the extraction still
/// works on this source).
fn assert_found(what: &str, found: &BTreeSet<String>, known: &[&str]) {
    let missing: Vec<_> = known.iter().filter(|k| !found.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "reading the exports of {what} found {found:?}, without {missing:?}: \
         the source changed style; update the scanner in tests/lua_meta.rs"
    );
}

/// Fails unless the meta file of `module` annotates exactly `exports`.
fn assert_annotated(module: &str, exports: &BTreeSet<String>) {
    let path = meta_path(module);
    let meta = read(&path);
    let table = returned_table(&meta)
        .unwrap_or_else(|| panic!("{path}: does not end with `return NAME` (the module's table)"));
    let annotated = lua_exports(&meta, &table);
    let missing: Vec<_> = exports.difference(&annotated).collect();
    let extra: Vec<_> = annotated.difference(exports).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{path} is out of date with {module}.\n\
         exported but not annotated (add `function {table}.NAME(...) end` with its \
         ---@param/---@return): {missing:?}\n\
         annotated but not exported (remove): {extra:?}"
    );
}

#[test]
fn every_public_module_has_a_meta_file() {
    let modules = embedded_modules();
    for (name, why) in INTERNAL {
        assert!(
            modules.iter().any(|(m, _)| m == name),
            "tests/lua_meta.rs: INTERNAL lists {name} ({why}), which is not in MODULES any more"
        );
    }
    let service = read("src/lua/service.rs");
    for (name, _) in NATIVE {
        assert!(
            service.contains(&format!("\"{name}\"")),
            "src/lua/service.rs: native module {name} is not preloaded any more \
             (update NATIVE in tests/lua_meta.rs)"
        );
    }
    let mut public: Vec<&str> = modules
        .iter()
        .map(|(m, _)| m.as_str())
        .filter(|m| m.starts_with("skynet") || *m == TEST_MODULE)
        .filter(|m| !INTERNAL.iter().any(|(i, _)| i == m))
        .collect();
    public.extend(NATIVE.iter().map(|(m, _)| *m));
    public.push(TEST_MODULE);
    public.sort_unstable();
    public.dedup();
    for name in public {
        let path = meta_path(name);
        assert!(
            root().join(&path).is_file(),
            "{name} has no meta file: write {path} (starting with `---@meta {name}`)"
        );
        let first = read(&path).lines().next().unwrap_or_default().to_string();
        assert_eq!(
            first,
            format!("---@meta {name}"),
            "{path}: the first line must be `---@meta {name}`"
        );
    }
}

#[test]
fn every_meta_file_names_a_module_that_exists() {
    let modules = embedded_modules();
    let files = meta_files();
    assert!(
        files.len() >= 9,
        "lua/meta holds only {files:?}: where did the meta files go?"
    );
    for (name, path) in files {
        let exists = modules.iter().any(|(m, _)| *m == name)
            || NATIVE.iter().any(|(m, _)| *m == name)
            || name == TEST_MODULE;
        assert!(
            exists,
            "{path}: there is no module {name} (neither in MODULES of src/lua/embedded.rs nor native)"
        );
        let first = read(&path).lines().next().unwrap_or_default().to_string();
        assert_eq!(
            first,
            format!("---@meta {name}"),
            "{path}: the first line must be `---@meta {name}`"
        );
    }
}

#[test]
fn meta_files_are_not_embedded_in_the_binary() {
    for (name, path) in embedded_modules() {
        assert!(
            !path.starts_with("lua/meta/"),
            "src/lua/embedded.rs: module {name} embeds {path}; lua/meta is for editors only"
        );
    }
}

#[test]
fn skynet_meta_annotates_every_function_of_skynet() {
    let modules = embedded_modules();
    let source_of = |name: &str| {
        let (_, path) = modules
            .iter()
            .find(|(m, _)| m == name)
            .unwrap_or_else(|| panic!("MODULES has no {name}"));
        read(path)
    };
    let main = source_of("skynet");
    let table = returned_table(&main).expect("lua/skynet.lua returns a table");
    let mut exports = lua_exports(&main, &table);
    // The parts loaded on first use: the `["lunet.skynet_..."]` keys of the
    // `parts` table. Each defines functions on its argument `skynet`.
    let parts: Vec<String> = main
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("[\"lunet.skynet_")?;
            let end = rest.find('"')?;
            Some(format!("lunet.skynet_{}", &rest[..end]))
        })
        .collect();
    assert_found(
        "lua/skynet.lua's parts",
        &parts.iter().cloned().collect(),
        &["lunet.skynet_misc", "lunet.skynet_requests"],
    );
    for part in &parts {
        exports.extend(lua_exports(&source_of(part), "skynet"));
    }
    assert_found(
        "skynet",
        &exports,
        &["call", "send", "PTYPE_LUA", "pack", "newservice", "stat"],
    );
    assert_annotated("skynet", &exports);
}

#[test]
fn socket_manager_service_coroutine_metas_annotate_every_function() {
    let modules = embedded_modules();
    // Module -> names the scan must find in its source.
    let checked: &[(&str, &[&str])] = &[
        ("skynet.socket", &["read", "write", "BUFFER_LIMIT", "udp"]),
        ("skynet.manager", &["kill", "register", "filter"]),
        ("skynet.service", &["new", "query", "close"]),
        ("skynet.coroutine", &["create", "resume", "running"]),
    ];
    for (name, known) in checked {
        let (_, path) = modules
            .iter()
            .find(|(m, _)| m == name)
            .unwrap_or_else(|| panic!("MODULES has no {name}"));
        let source = read(path);
        let table = returned_table(&source)
            .unwrap_or_else(|| panic!("{path}: does not end with `return NAME`"));
        let exports = lua_exports(&source, &table);
        assert_found(name, &exports, known);
        assert_annotated(name, &exports);
    }
}

#[test]
fn queue_meta_describes_a_callable() {
    // skynet.queue returns a function (the maker of critical sections): there
    // are no names to compare, only the shape.
    let modules = embedded_modules();
    let (_, path) = modules
        .iter()
        .find(|(m, _)| m == "skynet.queue")
        .expect("MODULES has no skynet.queue");
    assert!(
        returned_table(&read(path)).is_none(),
        "{path} now returns a table: check its names like the other modules'"
    );
    let meta = read(&meta_path("skynet.queue"));
    assert!(
        meta.contains("---@type fun("),
        "lua/meta/skynet/queue.lua: must describe the module as a function (`---@type fun(...)`)"
    );
}

#[test]
fn native_metas_annotate_every_function() {
    for (name, file) in NATIVE {
        let exports = native_exports(&read(file), file);
        let known: &[&str] = if *name == "skynet.netpack" {
            &["pack", "filter", "pop", "tostring", "clear"]
        } else {
            &[
                "connect", "listen", "start", "send", "lsend", "unpack", "info",
            ]
        };
        assert_found(file, &exports, known);
        assert_annotated(name, &exports);
    }
}

#[test]
fn test_module_meta_annotates_every_function_once_the_module_exists() {
    let modules = embedded_modules();
    let Some((_, path)) = modules.iter().find(|(m, _)| m == TEST_MODULE) else {
        // Not in this checkout yet: its meta file follows the API agreed for
        // it (every_public_module_has_a_meta_file checks the file is there).
        return;
    };
    let source = read(path);
    let table = returned_table(&source)
        .unwrap_or_else(|| panic!("{path}: does not end with `return NAME`"));
    let exports = lua_exports(&source, &table);
    assert_found(TEST_MODULE, &exports, &["case", "eq", "connect"]);
    assert_annotated(TEST_MODULE, &exports);
}

#[test]
fn the_scanner_reads_the_forms_it_claims() {
    // The extraction itself, on a chunk with every form (and near misses).
    let chunk = "local M = {\n\tA = 1,\n\tB = 2,\n}\n\
                 function M.f(x) end\n\
                 function M:g() end\n\
                 M.h = other\n\
                 if M.h == nil then end\n\
                 M._private = 1\n\
                 local function helper() end\n\
                 function other.x() end\n\
                 return M\n";
    assert_eq!(returned_table(chunk).as_deref(), Some("M"));
    let names: Vec<_> = lua_exports(chunk, "M").into_iter().collect();
    assert_eq!(names, ["A", "B", "f", "g", "h"]);
    assert_eq!(returned_table("return function() end\n"), None);

    let rust = "pub(crate) fn open(lua: &Lua) -> R {\n\
                \x20   t.set(\n        \"one\",\n        f,\n    )?;\n\
                \x20   for (name, low) in [(\"two\", false)] {}\n\
                \x20   let c = [\n        (\"three\", |s| s),\n    ];\n\
                \x20   s.set(\"id\", 1)?;\n\
                \x20   error(\"listen\", e);\n\
                }\n";
    let names: Vec<_> = native_exports(rust, "test").into_iter().collect();
    assert_eq!(names, ["one", "three", "two"]);
}
