//! The config of the node a test script runs in.
//!
//! Every script runs in a fresh node, booted as `lunet run` boots one
//! (bootstrap, launcher, service_mgr, logger, then the script as the `start`
//! service), so `skynet.newservice` and `uniqueservice` work. Its config is
//! built, for script `DIR/NAME.lua`, from:
//!
//! 1. the base: `DIR/test_config.lua` if there is one (a config file in the
//!    usual syntax, shared by the scripts of that directory; not searched
//!    for in parent directories), else an empty config anchored at `DIR`
//!    (so the defaults look in `DIR`). Unlike `lunet run`'s configs, relative
//!    paths set in `test_config.lua` for `luaservice`, `lua_path` and
//!    `preload` are relative to `DIR`, so `lunet test` works from any
//!    directory: `luaservice = "../gameroom/?.lua"` finds the services under
//!    test next door;
//! 2. `thread = 2`, unless the base sets `thread`;
//! 3. `lunet_test_timeout` = `--timeout SECS`, when given (the default
//!    per-case timeout `lunet.test` reads);
//! 4. every `--set key=value`, in order (`--set target=host:port` reaches
//!    the script's `test.getenv "target"`). A relative path set this way is
//!    relative to the working directory, as it is for `lunet run`;
//! 5. then, whatever the base and `--set` said: `start = "NAME"`, and
//!    `DIR/?.lua;DIR/?/init.lua` put first on `luaservice` and `lua_path`,
//!    so the script and the services and modules next to it are found first.
//!
//! The `logger` key is not used: the runner captures the node's log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::discover::CONFIG_NAME;
use crate::config::{Config, ConfigError};

/// The directory of `script` (`.` for a bare file name).
pub fn script_dir(script: &Path) -> PathBuf {
    match script.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `value` as a config literal that reads back as that string.
fn literal(value: &str) -> String {
    if !value.contains('"') {
        format!("\"{value}\"")
    } else if !value.contains('\'') {
        format!("'{value}'")
    } else {
        value.to_string()
    }
}

/// Patterns (`;`-separated) with each relative one joined to `dir`.
fn anchored(patterns: &str, dir: &Path) -> String {
    patterns
        .split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if Path::new(p).is_relative() {
                dir.join(p).display().to_string()
            } else {
                p.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// The base config of the scripts in `dir` (see the module docs, step 1).
fn base(dir: &Path) -> Result<Config, ConfigError> {
    let file = dir.join(CONFIG_NAME);
    if !file.is_file() {
        return Config::from_source(&file, "");
    }
    let mut config = Config::load(&file)?;
    for key in ["luaservice", "lua_path", "preload"] {
        if config.is_set(key) {
            if let Some(value) = config.get(key) {
                let value = anchored(value, dir);
                config.set(key, &literal(&value))?;
            }
        }
    }
    Ok(config)
}

/// The config of the node that runs `script` (see the module docs).
///
/// The error names the file and key (a bad `test_config.lua`) or the
/// override (a bad `--set`).
pub fn script_config(
    script: &Path,
    overrides: &[String],
    timeout: Option<Duration>,
) -> Result<Config, ConfigError> {
    let dir = script_dir(script);
    let name = script
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let mut config = base(&dir)?;
    if !config.is_set("thread") {
        config.set("thread", "2")?;
    }
    if let Some(timeout) = timeout {
        config.set("lunet_test_timeout", &timeout.as_secs_f64().to_string())?;
    }
    for arg in overrides {
        config.set_override(arg)?;
    }
    config.set("start", &literal(name))?;
    let own = [
        format!("{}/?.lua", dir.display()),
        format!("{}/?/init.lua", dir.display()),
    ];
    let luaservice = first(&own, config.luaservice());
    config.set("luaservice", &literal(&luaservice))?;
    let lua_path = first(&own, config.lua_path());
    config.set("lua_path", &literal(&lua_path))?;
    Ok(config)
}

/// `patterns` with `own` first (and not again later).
fn first(own: &[String], patterns: &str) -> String {
    own.iter()
        .map(String::as_str)
        .chain(
            patterns
                .split(';')
                .filter(|p| !p.is_empty() && !own.iter().any(|o| o == p)),
        )
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_without_a_base_config() {
        let config = script_config(Path::new("tests/lua/call_test.lua"), &[], None).unwrap();
        assert_eq!(config.start(), "call_test");
        assert_eq!(config.thread(), 2);
        assert!(
            config
                .luaservice()
                .starts_with("tests/lua/?.lua;tests/lua/?/init.lua;"),
            "{}",
            config.luaservice()
        );
        assert!(config.lua_path().starts_with("tests/lua/?.lua;"));
        assert_eq!(config.get("lunet_test_timeout"), None);
        let bare = script_config(Path::new("x_test.lua"), &[], None).unwrap();
        assert!(
            bare.luaservice().starts_with("./?.lua;"),
            "{}",
            bare.luaservice()
        );
    }

    #[test]
    fn overrides_and_the_timeout_reach_the_node_but_start_stays_the_script() {
        let config = script_config(
            Path::new("dir/x_test.lua"),
            &[
                "target=127.0.0.1:7000".into(),
                "start=other".into(),
                "thread=3".into(),
            ],
            Some(Duration::from_millis(1500)),
        )
        .unwrap();
        assert_eq!(config.get("target"), Some("127.0.0.1:7000"));
        assert_eq!(config.start(), "x_test");
        assert_eq!(config.thread(), 3);
        assert_eq!(config.get("lunet_test_timeout"), Some("1.5"));
        let err = script_config(Path::new("dir/x_test.lua"), &["thread=x".into()], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("thread"), "{err}");
    }

    #[test]
    fn a_base_config_anchors_its_relative_paths_at_its_directory() {
        let dir = std::env::temp_dir().join(format!("lunet-test-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(CONFIG_NAME),
            "luaservice = \"../served/?.lua;/abs/?.lua\"\nthread = 1\nport = 0\n",
        )
        .unwrap();
        let config = script_config(&dir.join("a_test.lua"), &[], None).unwrap();
        let d = dir.display();
        assert_eq!(
            config.luaservice(),
            format!("{d}/?.lua;{d}/?/init.lua;{d}/../served/?.lua;/abs/?.lua")
        );
        assert_eq!(config.thread(), 1);
        assert_eq!(config.get("port"), Some("0"));
        std::fs::write(dir.join(CONFIG_NAME), "thread = 'many'\n").unwrap();
        let err = script_config(&dir.join("a_test.lua"), &[], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(CONFIG_NAME) && err.contains("thread"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
