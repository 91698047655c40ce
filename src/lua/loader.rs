//! Finding Lua code: services by the config's `luaservice` patterns, modules by
//! `package.path`; the embedded library and services come after the user's own
//! paths, so a user can replace any of them.

use std::path::{Path, PathBuf};

use super::embedded;
use super::service::LuaEnv;

/// Where a service's code was found.
pub(crate) struct Found {
    /// The source.
    pub(crate) source: String,
    /// The chunk name for error messages (`@path` or `=[lunet] name`).
    pub(crate) chunk_name: String,
    /// The directory it was found in (`SERVICE_PATH`), if on disk.
    pub(crate) dir: Option<PathBuf>,
    /// Whether the pattern's file part was fixed (`?/init.lua`): then the
    /// service's own directory goes first on `package.path`.
    pub(crate) own_dir: bool,
}

/// Looks for service `name` among the sources a host registered, then along
/// the `luaservice` patterns (`;`-separated, `?` replaced by the name), then
/// among the embedded services. On failure, returns every place searched, for
/// the error message.
pub(crate) fn find_service(name: &str, env: &LuaEnv) -> Result<Found, Vec<String>> {
    if let Some(source) = env.sources.get(name) {
        return Ok(Found {
            source: source.to_string(),
            chunk_name: format!("={name}"),
            dir: None,
            own_dir: false,
        });
    }
    let mut searched = Vec::new();
    for pattern in env.luaservice.split(';').filter(|p| !p.is_empty()) {
        let candidate = pattern.replace('?', name);
        let path = Path::new(&candidate);
        if let Ok(source) = std::fs::read_to_string(path) {
            let file_part_fixed = Path::new(pattern)
                .file_name()
                .is_some_and(|f| !f.to_string_lossy().contains('?'));
            return Ok(Found {
                source,
                chunk_name: format!("@{candidate}"),
                dir: path.parent().map(Path::to_path_buf),
                own_dir: file_part_fixed,
            });
        }
        searched.push(candidate);
    }
    match embedded::service(name) {
        Some(source) => Ok(Found {
            source: source.to_string(),
            chunk_name: format!("=[lunet] {name}"),
            dir: None,
            own_dir: false,
        }),
        None => {
            searched.push(format!("[embedded services]/{name}"));
            Err(searched)
        }
    }
}
