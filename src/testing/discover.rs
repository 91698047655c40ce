//! Which files `lunet test PATH...` runs.
//!
//! A file given on the command line is run as given (it must be a `.lua`
//! file: its name, less `.lua`, is the service the node starts). A directory
//! is searched recursively for test scripts: files named `*_test.lua` or
//! `test_*.lua`, except `test_config.lua` (a directory's base config, see
//! [`super::config`]). Hidden entries (names starting with `.`) are skipped
//! and symbolic links to directories are not followed (no loops). Files run
//! in the order of the paths given, each directory's scripts sorted by path.
//! A path that does not exist, or a directory with no test script, is an
//! error: nothing is run. Paths are reported without `.` components
//! (`./x_test.lua` is `x_test.lua`).

use std::path::{Path, PathBuf};

/// The name of a directory's base config for its test scripts.
pub const CONFIG_NAME: &str = "test_config.lua";

/// Why the paths given name no runnable scripts.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A path does not exist.
    #[error("no such file or directory: {}", .0.display())]
    Missing(PathBuf),
    /// A file given is not a `.lua` file.
    #[error("not a Lua test script (expected NAME.lua): {}", .0.display())]
    NotLua(PathBuf),
    /// A directory holds no test script.
    #[error("no test scripts (*_test.lua, test_*.lua) in {}", .0.display())]
    Empty(PathBuf),
    /// A directory could not be read.
    #[error("cannot read directory {}: {source}", .path.display())]
    Read {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Whether a file named `name` is a test script a directory search picks.
pub fn is_test_script(name: &str) -> bool {
    name != CONFIG_NAME
        && !name.starts_with('.')
        && (name.ends_with("_test.lua") || (name.starts_with("test_") && name.ends_with(".lua")))
}

/// The test scripts `paths` name (see the module docs).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, DiscoverError> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|_| DiscoverError::Missing(path.clone()))?;
        if meta.is_dir() {
            let before = found.len();
            search(path, &mut found)?;
            if found.len() == before {
                return Err(DiscoverError::Empty(path.clone()));
            }
        } else if path.extension().is_some_and(|e| e == "lua")
            && path.file_stem().is_some_and(|s| s.to_str().is_some())
        {
            found.push(path.clone());
        } else {
            return Err(DiscoverError::NotLua(path.clone()));
        }
    }
    Ok(found.into_iter().map(|p| tidy(&p)).collect())
}

/// `path` without `.` components (`./tests/lua/x_test.lua` is
/// `tests/lua/x_test.lua`), so it reads as the script's own messages show it.
fn tidy(path: &Path) -> PathBuf {
    let tidy: PathBuf = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if tidy.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        tidy
    }
}

fn search(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), DiscoverError> {
    let read = |source| DiscoverError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(read)?;
        let path = dir.join(name);
        if kind.is_dir() {
            search(&path, found)?;
        } else if is_test_script(name) {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_test_scripts() {
        assert!(is_test_script("echo_test.lua"));
        assert!(is_test_script("test_echo.lua"));
        assert!(!is_test_script("test_config.lua"));
        assert!(!is_test_script("external.lua"));
        assert!(!is_test_script("echo_test.lua.bak"));
        assert!(!is_test_script("latest.lua"));
        assert!(!is_test_script(".hidden_test.lua"));
    }

    #[test]
    fn directories_are_searched_recursively_in_order() {
        let dir = std::env::temp_dir().join(format!("lunet-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for file in [
            "b_test.lua",
            "a_test.lua",
            "helper.lua",
            "test_config.lua",
            "sub/test_c.lua",
            ".git/x_test.lua",
            "empty/readme.txt",
        ] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let found = discover(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a_test.lua", "b_test.lua", "sub/test_c.lua"]);

        let empty = dir.join("empty");
        let err = discover(std::slice::from_ref(&empty)).unwrap_err();
        assert!(matches!(err, DiscoverError::Empty(_)), "{err}");
        let helper = dir.join("helper.lua");
        assert_eq!(discover(std::slice::from_ref(&helper)).unwrap(), [helper]);
        let text = dir.join("empty/readme.txt");
        assert!(matches!(
            discover(&[text]).unwrap_err(),
            DiscoverError::NotLua(_)
        ));
        let missing = dir.join("nope");
        assert_eq!(
            discover(std::slice::from_ref(&missing))
                .unwrap_err()
                .to_string(),
            format!("no such file or directory: {}", missing.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
