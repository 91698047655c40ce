//! The node's config file: Lua syntax, skynet's keys, sensible defaults.
//!
//! A config file is Lua source whose global assignments become the node's
//! settings, as in skynet:
//!
//! ```lua
//! -- config.lua
//! thread = 4
//! start = "main"
//! root = "$HOME/game/"
//! luaservice = root .. "service/?.lua;" .. root .. "?/init.lua"
//! include "common.lua"
//! port = 8888            -- an application setting: skynet.getenv "port" == "8888"
//! ```
//!
//! # How a file is read
//! - **`$NAME`** (a `$` followed by letters, digits and underscores) is replaced
//!   textually by the environment variable `NAME` before the file is parsed, as in
//!   skynet: everywhere in the text, strings and comments included, so write
//!   `root = "$HOME/game"` with the quotes. A variable that is not set (or is not
//!   valid UTF-8) is an error naming the variable, the file and the line (skynet
//!   raises too; an empty string would silently produce paths like `/game`). A `$`
//!   not followed by a name character is left alone; there is no escape.
//! - **`include "path"`** runs another config file into the same settings. A
//!   relative path is resolved against the directory of the file that contains the
//!   `include` (as skynet does); an absolute one is used as is. Variables are
//!   substituted in the included file too. Including a file that is already being
//!   included (a cycle) is an error listing the chain; including the same file twice
//!   from different places is fine.
//! - The chunk's environment is the settings themselves: a key assigned earlier can
//!   be read (`root .. "service/?.lua"`), string methods work (`("x"):rep(3)`), and
//!   `include` is the only predefined name; the standard library is not visible, as
//!   in skynet.
//! - Values are strings, numbers or booleans. Assigning a table or a function to a
//!   global (`function helper() end` included) is an error naming the file, line
//!   and key; use `local` for helpers.
//! - Every value is kept as a string, the form `skynet.getenv` returns: integers
//!   print without `.0` (`4`), floats as Lua prints them (`0.5`, `2.0`, `1e+15`),
//!   booleans as `true`/`false`.
//!
//! # Known keys
//! Every key, known or not, is readable with [`Config::get`]; the known ones also
//! have typed accessors, defaults, and are checked when the file is loaded and on
//! every [`Config::set`]. A bad value is a [`ConfigError::Invalid`] naming the file,
//! the key and what was expected. Numeric keys also accept a string holding the
//! number (`thread = "4"`, as skynet's `atoi` does) and integral floats
//! (`memlimit = 2^30`).
//!
//! | key | value | default | |
//! |---|---|---|---|
//! | `thread` | integer 1..=1024 | number of CPUs | worker threads |
//! | `start` | non-empty string | `"main"` | the service bootstrap starts |
//! | `bootstrap` | non-empty string | `"snlua bootstrap"` | the first service |
//! | `luaservice` | non-empty string | `"D/?.lua;D/service/?.lua;D/?/init.lua"` | service search path |
//! | `lua_path` | non-empty string | `"D/?.lua;D/?/init.lua"` | `package.path` |
//! | `lua_cpath` | string | none | accepted, unused (no C modules) |
//! | `preload` | non-empty string | none | file run before each service |
//! | `logger` | non-empty string | none (stdout) | log file |
//! | `logservice` | non-empty string | `"logger"` | the log service |
//! | `harbor` | integer 0..=255 | `0` | node id (skynet's) |
//! | `daemon` | — | — | refused: not supported (`false` is accepted) |
//! | `memlimit` | positive integer | none | bytes of Lua memory per service |
//! | `endless_limit` | positive number | none | seconds on one message before the monitor interrupts a service (it only logs otherwise) |
//! | `linger` | number >= 0 | none (socket default) | seconds a close may wait to flush |
//!
//! `D` is the directory of the config file (`.` for a file in the working
//! directory), so a config holding only `start = "main"` finds `main.lua` next to
//! it whatever the working directory. Values that are set are used as written;
//! relative paths in them are relative to the working directory, as in skynet.
//! Keys with a default appear in [`Config::get`] and [`Config::iter`] even when the
//! file does not set them (skynet's `getenv "thread"` works the same way), so the
//! iteration is what seeds the node's environment.
//!
//! # Overrides
//! [`Config::set`] (`lunet run CONFIG --set port=9001`) replaces or adds a key
//! after loading. The value is read like a Lua literal: `nil` removes the key,
//! `true`/`false` are booleans, `42`/`-7`/`0x1f` integers, `1.5`/`1e3` floats, a
//! value in matching `"` or `'` quotes is that string (no escapes), anything else is
//! the string as given. No `$NAME` substitution is done (the shell did it).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mlua::{ChunkMode, Lua, LuaOptions, StdLib, Table, Value};

/// The most worker threads a config may ask for.
pub const MAX_THREADS: usize = 1024;

/// Why a config could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file (the main one or an included one) could not be read.
    #[error("cannot read config file {}{}: {source}", .path.display(), included_from_note(.included_from))]
    Read {
        /// The file, as it was resolved.
        path: PathBuf,
        /// The file whose `include` named it, if any.
        included_from: Option<PathBuf>,
        /// What the operating system said.
        source: io::Error,
    },
    /// A `$NAME` in a file names an environment variable that is not set.
    #[error("{}:{line}: environment variable ${name} is not set{}", .file.display(), if *.not_unicode { " to valid UTF-8" } else { "" })]
    UnsetVariable {
        /// The file containing the `$NAME`.
        file: PathBuf,
        /// Its line (1-based).
        line: u32,
        /// The variable's name, without the `$`.
        name: String,
        /// The variable is set but its value is not valid UTF-8.
        not_unicode: bool,
    },
    /// A Lua syntax or runtime error while running a file, or a table or function
    /// assigned to a key. The message is Lua's and starts with the file and line.
    #[error("{message}")]
    Lua {
        /// The file the error is in.
        file: PathBuf,
        /// The line, when Lua gave one.
        line: Option<u32>,
        /// The message, starting with the file name.
        message: String,
    },
    /// A file includes itself, directly or through others.
    #[error("include cycle: {}", display_chain(.chain))]
    IncludeCycle {
        /// The files from the first on the cycle back to it.
        chain: Vec<PathBuf>,
    },
    /// A known key has a value of the wrong kind or out of range.
    #[error("{}: key \"{key}\"{}: expected {expected}, got {got}", .file.display(), if *.overridden { " (set by override)" } else { "" })]
    Invalid {
        /// The file that set the key (the main config file for an override).
        file: PathBuf,
        /// The key.
        key: String,
        /// The value came from [`Config::set`], not from the file.
        overridden: bool,
        /// What was expected, e.g. "a positive integer".
        expected: String,
        /// The value, strings quoted: `"x"`, `4.5`, `true`.
        got: String,
    },
    /// A known key asks for something lunet does not do.
    #[error("{}: key \"{key}\": {reason}", .file.display())]
    Unsupported {
        /// The file that set the key (the main config file for an override).
        file: PathBuf,
        /// The key.
        key: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// An override is not `key=value` with `key` a Lua name.
    #[error("bad override {arg:?}: expected key=value, with key a name like `port`")]
    BadOverride {
        /// The override as given.
        arg: String,
    },
}

fn included_from_note(from: &Option<PathBuf>) -> String {
    match from {
        Some(f) => format!(" (included from {})", f.display()),
        None => String::new(),
    }
}

fn display_chain(chain: &[PathBuf]) -> String {
    chain
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// The Lua type of a setting, kept for validation and error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    File(PathBuf),
    Override,
}

/// One key's value as written.
#[derive(Clone, Debug)]
struct Setting {
    text: String,
    kind: Kind,
    origin: Origin,
}

impl Setting {
    /// The value for error messages: strings quoted, others bare.
    fn shown(&self) -> String {
        match self.kind {
            Kind::Str => format!("{:?}", self.text),
            _ => self.text.clone(),
        }
    }

    /// The value as an integer: an integer, an integral float, or a string
    /// holding an integer literal.
    fn as_integer(&self) -> Option<i64> {
        match self.kind {
            Kind::Int | Kind::Str => parse_int_literal(&self.text),
            Kind::Float => {
                let f: f64 = self.text.parse().ok()?;
                // 2^63 is exactly representable; anything below it fits an i64.
                (f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0).then_some(f as i64)
            }
            Kind::Bool => None,
        }
    }

    /// The value as a number: an integer, a float, or a string holding either.
    fn as_number(&self) -> Option<f64> {
        match self.kind {
            Kind::Int | Kind::Float | Kind::Str => match parse_int_literal(&self.text) {
                Some(i) => Some(i as f64),
                None => parse_float_literal(&self.text),
            },
            Kind::Bool => None,
        }
    }
}

/// The validated known keys.
#[derive(Clone, Debug)]
struct Known {
    thread: usize,
    start: String,
    bootstrap: String,
    luaservice: String,
    lua_path: String,
    lua_cpath: Option<String>,
    preload: Option<PathBuf>,
    logger: Option<PathBuf>,
    logservice: String,
    harbor: u8,
    memlimit: Option<usize>,
    endless_limit: Option<Duration>,
    linger: Option<Duration>,
}

/// A loaded config: every setting as a string, plus typed accessors for the keys
/// lunet knows (see the [module docs](self) for the format, keys and defaults).
#[derive(Clone, Debug)]
pub struct Config {
    path: PathBuf,
    dir: PathBuf,
    settings: BTreeMap<String, Setting>,
    /// `settings` plus the defaults of known keys, as strings.
    effective: BTreeMap<String, String>,
    known: Known,
}

impl Config {
    /// Loads the config file at `path`, following its `include`s.
    ///
    /// A missing or unreadable file is [`ConfigError::Read`] naming the path; a
    /// syntax error is [`ConfigError::Lua`] with the file and line; a bad known key
    /// is [`ConfigError::Invalid`] naming the file and key.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let source = read_file(path)?;
        Config::from_source(path, &source)
    }

    /// Loads a config from `source`, as if it were the content of the file `name`.
    ///
    /// `name` is used in error messages, relative `include`s are resolved against
    /// its directory, and the default search paths are anchored there; it need not
    /// exist.
    ///
    /// ```
    /// use lunet::config::Config;
    ///
    /// let config = Config::from_source(
    ///     "config.lua",
    ///     r#"
    ///         thread = 2
    ///         port = 8000 + 888
    ///         greeting = "hello"
    ///     "#,
    /// )?;
    /// assert_eq!(config.thread(), 2);
    /// assert_eq!(config.start(), "main"); // a default
    /// assert_eq!(config.get("port"), Some("8888")); // an application's own key
    /// assert_eq!(config.get("greeting"), Some("hello"));
    /// assert!(Config::from_source("config.lua", "thread = 'x'").is_err());
    /// # Ok::<(), lunet::config::ConfigError>(())
    /// ```
    pub fn from_source(name: impl AsRef<Path>, source: &str) -> Result<Config, ConfigError> {
        let path = name.as_ref().to_path_buf();
        let settings = Loader::run(&path, source)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (known, effective) = validate(&path, &dir, &settings)?;
        Ok(Config {
            path,
            dir,
            settings,
            effective,
            known,
        })
    }

    /// Sets `key` to `value`, read as a Lua literal (see [Overrides](self#overrides)),
    /// then checks the known keys again. On error the config is unchanged.
    ///
    /// ```
    /// # use lunet::config::Config;
    /// let mut config = Config::from_source("config.lua", "port = 8888")?;
    /// config.set("port", "9001")?;
    /// assert_eq!(config.get("port"), Some("9001"));
    /// assert!(config.set("thread", "x").is_err());
    /// # Ok::<(), lunet::config::ConfigError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if !is_name(key) {
            return Err(ConfigError::BadOverride {
                arg: format!("{key}={value}"),
            });
        }
        let new = parse_literal(value).map(|(text, kind)| Setting {
            text,
            kind,
            origin: Origin::Override,
        });
        let old = match new {
            Some(s) => self.settings.insert(key.to_string(), s),
            None => self.settings.remove(key),
        };
        match validate(&self.path, &self.dir, &self.settings) {
            Ok((known, effective)) => {
                self.known = known;
                self.effective = effective;
                Ok(())
            }
            Err(e) => {
                match old {
                    Some(s) => self.settings.insert(key.to_string(), s),
                    None => self.settings.remove(key),
                };
                Err(e)
            }
        }
    }

    /// Applies an override written `key=value` (a `--set` argument), splitting at
    /// the first `=`; see [`Config::set`].
    pub fn set_override(&mut self, arg: &str) -> Result<(), ConfigError> {
        match arg.split_once('=') {
            Some((key, value)) if is_name(key) => self.set(key, value),
            _ => Err(ConfigError::BadOverride {
                arg: arg.to_string(),
            }),
        }
    }

    /// The value of `key` as a string (what `skynet.getenv` returns): the value
    /// set by the file or an override, else the default of a known key, else none.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.effective.get(key).map(String::as_str)
    }

    /// Whether the file or an override set `key` (as opposed to a default).
    pub fn is_set(&self, key: &str) -> bool {
        self.settings.contains_key(key)
    }

    /// Every key and its value as a string, in key order: what [`Config::get`]
    /// sees, defaults of known keys included. Seed the node's environment with it.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.effective.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The config file's path, or the name given to [`Config::from_source`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of the config file (`.` when it has none): where the default
    /// `luaservice` and `lua_path` look.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `thread`: worker threads. Default: the number of CPUs.
    pub fn thread(&self) -> usize {
        self.known.thread
    }

    /// `start`: the service bootstrap launches. Default `"main"`.
    pub fn start(&self) -> &str {
        &self.known.start
    }

    /// `bootstrap`: the first service and its arguments. Default `"snlua bootstrap"`.
    pub fn bootstrap(&self) -> &str {
        &self.known.bootstrap
    }

    /// `luaservice`: `;`-separated patterns where `?` is a service name. Default
    /// `D/?.lua;D/service/?.lua;D/?/init.lua`, `D` being [`Config::dir`].
    pub fn luaservice(&self) -> &str {
        &self.known.luaservice
    }

    /// `lua_path`: the services' `package.path`. Default `D/?.lua;D/?/init.lua`,
    /// `D` being [`Config::dir`].
    pub fn lua_path(&self) -> &str {
        &self.known.lua_path
    }

    /// `lua_cpath`: accepted for compatibility; lunet loads no C modules.
    pub fn lua_cpath(&self) -> Option<&str> {
        self.known.lua_cpath.as_deref()
    }

    /// `preload`: a Lua file run in each service before its own code.
    pub fn preload(&self) -> Option<&Path> {
        self.known.preload.as_deref()
    }

    /// `logger`: the log file; none means stdout.
    pub fn logger(&self) -> Option<&Path> {
        self.known.logger.as_deref()
    }

    /// `logservice`: the service that writes the log. Default `"logger"`.
    pub fn logservice(&self) -> &str {
        &self.known.logservice
    }

    /// `harbor`: skynet's node id, 0..=255. Default 0.
    pub fn harbor(&self) -> u8 {
        self.known.harbor
    }

    /// `memlimit`: bytes of Lua memory each service may use. Default none.
    pub fn memlimit(&self) -> Option<usize> {
        self.known.memlimit
    }

    /// `endless_limit`: how long a service may stay on one message before the
    /// monitor interrupts it. Default none: the monitor only logs.
    pub fn endless_limit(&self) -> Option<Duration> {
        self.known.endless_limit
    }

    /// `linger`: how long closing a socket may wait for queued data to flush.
    /// Default none: the socket layer's own default.
    pub fn linger(&self) -> Option<Duration> {
        self.known.linger
    }
}

// ---------------------------------------------------------------------------
// Validation of the known keys

/// Checks the known keys of `settings` and computes what `get` returns.
fn validate(
    path: &Path,
    dir: &Path,
    settings: &BTreeMap<String, Setting>,
) -> Result<(Known, BTreeMap<String, String>), ConfigError> {
    let invalid = |key: &str, s: &Setting, expected: &str| {
        let (file, overridden) = origin_file(path, s);
        ConfigError::Invalid {
            file,
            key: key.to_string(),
            overridden,
            expected: expected.to_string(),
            got: s.shown(),
        }
    };
    let get = |key: &str| settings.get(key);
    let string = |key: &str, expected: &str| -> Result<Option<String>, ConfigError> {
        match get(key) {
            None => Ok(None),
            Some(s) if s.kind == Kind::Str && !s.text.is_empty() => Ok(Some(s.text.clone())),
            Some(s) => Err(invalid(key, s, expected)),
        }
    };

    if let Some(s) = get("daemon") {
        if !(s.kind == Kind::Bool && s.text == "false") {
            let (file, _) = origin_file(path, s);
            return Err(ConfigError::Unsupported {
                file,
                key: "daemon".into(),
                reason: "running as a daemon is not supported; remove the key and run lunet \
                         under a process supervisor (systemd, docker, ...) instead"
                    .into(),
            });
        }
    }

    let thread = match get("thread") {
        None => default_threads(),
        Some(s) => match s.as_integer() {
            Some(n) if (1..=MAX_THREADS as i64).contains(&n) => n as usize,
            Some(n) if n > MAX_THREADS as i64 => {
                return Err(invalid(
                    "thread",
                    s,
                    &format!("a positive integer no greater than {MAX_THREADS}"),
                ))
            }
            _ => return Err(invalid("thread", s, "a positive integer")),
        },
    };
    let harbor = match get("harbor") {
        None => 0,
        Some(s) => match s.as_integer().and_then(|n| u8::try_from(n).ok()) {
            Some(n) => n,
            None => return Err(invalid("harbor", s, "an integer from 0 to 255")),
        },
    };
    let memlimit = match get("memlimit") {
        None => None,
        Some(s) => match s.as_integer().filter(|&n| n > 0) {
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => return Err(invalid("memlimit", s, "a positive integer (bytes)")),
        },
    };
    let seconds = |key: &str, allow_zero: bool| -> Result<Option<Duration>, ConfigError> {
        let Some(s) = get(key) else { return Ok(None) };
        let d = s
            .as_number()
            .filter(|&f| f > 0.0 || (allow_zero && f == 0.0))
            .and_then(|f| Duration::try_from_secs_f64(f).ok());
        match d {
            Some(d) => Ok(Some(d)),
            None if allow_zero => Err(invalid(key, s, "a number of seconds, 0 or more")),
            None => Err(invalid(key, s, "a positive number of seconds")),
        }
    };
    let endless_limit = seconds("endless_limit", false)?;
    let linger = seconds("linger", true)?;

    let d = dir.display();
    let known = Known {
        thread,
        start: string("start", "a service name")?.unwrap_or_else(|| "main".into()),
        bootstrap: string("bootstrap", "a service name and its arguments")?
            .unwrap_or_else(|| "snlua bootstrap".into()),
        luaservice: string("luaservice", "a search path (a string)")?
            .unwrap_or_else(|| format!("{d}/?.lua;{d}/service/?.lua;{d}/?/init.lua")),
        lua_path: string("lua_path", "a search path (a string)")?
            .unwrap_or_else(|| format!("{d}/?.lua;{d}/?/init.lua")),
        lua_cpath: match get("lua_cpath") {
            None => None,
            Some(s) if s.kind == Kind::Str => Some(s.text.clone()),
            Some(s) => return Err(invalid("lua_cpath", s, "a search path (a string)")),
        },
        preload: string("preload", "a file path")?.map(PathBuf::from),
        logger: string("logger", "a file path")?.map(PathBuf::from),
        logservice: string("logservice", "a service name")?.unwrap_or_else(|| "logger".into()),
        harbor,
        memlimit,
        endless_limit,
        linger,
    };

    let mut effective: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, s)| (k.clone(), s.text.clone()))
        .collect();
    let defaults = [
        ("thread", known.thread.to_string()),
        ("start", known.start.clone()),
        ("bootstrap", known.bootstrap.clone()),
        ("luaservice", known.luaservice.clone()),
        ("lua_path", known.lua_path.clone()),
        ("logservice", known.logservice.clone()),
        ("harbor", known.harbor.to_string()),
    ];
    for (key, value) in defaults {
        effective.entry(key.to_string()).or_insert(value);
    }
    Ok((known, effective))
}

/// The file to blame for a setting, and whether it was an override.
fn origin_file(path: &Path, s: &Setting) -> (PathBuf, bool) {
    match &s.origin {
        Origin::File(f) => (f.clone(), false),
        Origin::Override => (path.to_path_buf(), true),
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MAX_THREADS)
}

// ---------------------------------------------------------------------------
// Literals

/// Whether `s` is a Lua name (what a config key looks like).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Lua integer literal, optionally negated: `42`, `-7`, `0x1f` (hex wraps
/// around as in Lua). A decimal too large for an integer is not one (Lua makes it
/// a float).
fn parse_int_literal(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()? as i64
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // "-9223372036854775808" must parse; go through i128.
        let v: i128 = digits.parse().ok()?;
        let v = if neg { -v } else { v };
        return i64::try_from(v).ok();
    };
    Some(if neg { value.wrapping_neg() } else { value })
}

/// A decimal Lua float literal, optionally negated: `1.5`, `.5`, `1e3`, `-2.`.
fn parse_float_literal(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let ok = body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Reads an override value as a Lua literal; `None` means `nil` (remove the key).
fn parse_literal(value: &str) -> Option<(String, Kind)> {
    if value == "nil" {
        return None;
    }
    if value == "true" || value == "false" {
        return Some((value.to_string(), Kind::Bool));
    }
    if let Some(i) = parse_int_literal(value) {
        return Some((i.to_string(), Kind::Int));
    }
    if let Some(f) = parse_float_literal(value) {
        return Some((format_float(f), Kind::Float));
    }
    let bytes = value.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        return Some((value[1..value.len() - 1].to_string(), Kind::Str));
    }
    Some((value.to_string(), Kind::Str))
}

/// Formats a float as Lua 5.4's `tostring` does: C's `%.14g`, plus `.0` when the
/// result looks like an integer.
fn format_float(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let mut s = format_g14(x);
    if s.bytes().all(|b| b == b'-' || b.is_ascii_digit()) {
        s.push_str(".0");
    }
    s
}

/// C's `printf("%.14g", x)` for a finite `x`.
fn format_g14(x: f64) -> String {
    const PRECISION: i32 = 14;
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, x);
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    fn trim(s: &str) -> &str {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            s
        }
    }
    if !(-4..PRECISION).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let fixed = format!("{:.*}", (PRECISION - 1 - exp) as usize, x);
        trim(&fixed).to_string()
    }
}

// ---------------------------------------------------------------------------
// Loading: substitution, include, and the Lua run

/// Reads a config file as UTF-8 text.
fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        included_from: None,
        source,
    })
}

/// Replaces each `$NAME` in `source` by the environment variable `NAME`.
fn substitute(file: &Path, source: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        let name = &after[..len];
        match std::env::var(name) {
            Ok(value) => out.push_str(&value),
            Err(e) => {
                let consumed = source.len() - rest.len() + at;
                let line = source[..consumed].bytes().filter(|&b| b == b'\n').count() + 1;
                return Err(ConfigError::UnsetVariable {
                    file: file.to_path_buf(),
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    name: name.to_string(),
                    not_unicode: matches!(e, std::env::VarError::NotUnicode(_)),
                });
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds the environment config chunks run in: an always-empty proxy, so that
/// every assignment goes through `__newindex`, which records the key's file and
/// refuses tables, functions and non-string keys (with the assignment's line).
/// Reads see the settings, then `include`.
const ENV_BUILDER: &str = r#"
local store, include, assigned = ...
local type, error, format = type, error, string.format
local allowed = { string = true, number = true, boolean = true, ["nil"] = true }
return setmetatable({}, {
    __index = function(_, k)
        local v = store[k]
        if v == nil and k == "include" then return include end
        return v
    end,
    __newindex = function(_, k, v)
        if type(k) ~= "string" then
            error(format("config keys must be names, got a %s key", type(k)), 2)
        end
        if not allowed[type(v)] then
            error(format('key "%s": expected a string, number or boolean, got a %s', k, type(v)), 2)
        end
        store[k] = v
        assigned(k)
    end,
})
"#;

const ENV_KEY: &str = "lunet.config.env";

/// What the Rust side of a load tracks while Lua runs.
#[derive(Default)]
struct LoadState {
    /// The files being run, outermost first: (as named, canonical for cycles).
    stack: Vec<(PathBuf, PathBuf)>,
    /// The file that last assigned each key.
    origins: BTreeMap<String, PathBuf>,
    /// The first error; Lua only carries a marker up to the top.
    failure: Option<ConfigError>,
}

struct Loader;

impl Loader {
    /// Runs the config `source` of file `path` and its includes; returns the
    /// settings.
    fn run(path: &Path, source: &str) -> Result<BTreeMap<String, Setting>, ConfigError> {
        let state = Arc::new(Mutex::new(LoadState::default()));
        let lua = Lua::new_with(StdLib::STRING, LuaOptions::default())
            .map_err(|e| lua_failure(path, &e))?;
        let store = Self::prepare(&lua, &state).map_err(|e| lua_failure(path, &e))?;
        if Self::exec_file(&lua, &state, path, source).is_err() {
            let failure = lock(&state).failure.take();
            return Err(failure.unwrap_or_else(|| ConfigError::Lua {
                file: path.to_path_buf(),
                line: None,
                message: format!("{}: loading failed", path.display()),
            }));
        }
        let origins = std::mem::take(&mut lock(&state).origins);
        let mut settings = BTreeMap::new();
        for pair in store.pairs::<Value, Value>() {
            let (key, value) = pair.map_err(|e| lua_failure(path, &e))?;
            let Value::String(key) = key else { continue };
            let key = key.to_string_lossy();
            let file = origins.get(&key).cloned().unwrap_or_else(|| path.into());
            let invalid = |expected: &str, got: String| ConfigError::Invalid {
                file: file.clone(),
                key: key.clone(),
                overridden: false,
                expected: expected.into(),
                got,
            };
            let (text, kind) = match value {
                Value::String(s) => match s.to_str() {
                    Ok(t) => (t.to_string(), Kind::Str),
                    Err(_) => {
                        let lossy = format!("{:?}", s.to_string_lossy());
                        return Err(invalid("UTF-8 text", lossy));
                    }
                },
                Value::Integer(i) => (i.to_string(), Kind::Int),
                Value::Number(f) => (format_float(f), Kind::Float),
                Value::Boolean(b) => (b.to_string(), Kind::Bool),
                other => {
                    let got = format!("a {}", other.type_name());
                    return Err(invalid("a string, number or boolean", got));
                }
            };
            let origin = Origin::File(file);
            settings.insert(key, Setting { text, kind, origin });
        }
        Ok(settings)
    }

    /// Creates the settings table and the chunks' environment; returns the former.
    fn prepare(lua: &Lua, state: &Arc<Mutex<LoadState>>) -> mlua::Result<Table> {
        let store = lua.create_table()?;
        let include_state = Arc::clone(state);
        let include = lua.create_function(move |lua, target: String| {
            Self::include(lua, &include_state, &target)
        })?;
        let assigned_state = Arc::clone(state);
        let assigned = lua.create_function(move |_, key: String| {
            let mut st = lock(&assigned_state);
            if let Some((file, _)) = st.stack.last() {
                let file = file.clone();
                st.origins.insert(key, file);
            }
            Ok(())
        })?;
        let env: Table = lua.load(ENV_BUILDER).set_name("=lunet.config").call((
            store.clone(),
            include,
            assigned,
        ))?;
        lua.set_named_registry_value(ENV_KEY, env)?;
        Ok(store)
    }

    /// `include "target"`, called from the file on top of the stack.
    fn include(lua: &Lua, state: &Arc<Mutex<LoadState>>, target: &str) -> mlua::Result<()> {
        let (resolved, includer) = {
            let mut st = lock(state);
            let base = st
                .stack
                .last()
                .and_then(|(file, _)| file.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let resolved = base.join(target);
            let canonical = std::fs::canonicalize(&resolved).unwrap_or_else(|_| resolved.clone());
            if let Some(pos) = st.stack.iter().position(|(_, c)| *c == canonical) {
                let mut chain: Vec<PathBuf> =
                    st.stack[pos..].iter().map(|(f, _)| f.clone()).collect();
                chain.push(resolved);
                return Err(fail(&mut st, ConfigError::IncludeCycle { chain }));
            }
            let includer = st.stack.last().map(|(file, _)| file.clone());
            (resolved, includer)
        };
        let source = match read_file(&resolved) {
            Ok(s) => s,
            Err(mut e) => {
                if let ConfigError::Read { included_from, .. } = &mut e {
                    *included_from = includer;
                }
                return Err(fail(&mut lock(state), e));
            }
        };
        Self::exec_file(lua, state, &resolved, &source)
    }

    /// Substitutes variables in `source` and runs it as the file `path`.
    fn exec_file(
        lua: &Lua,
        state: &Arc<Mutex<LoadState>>,
        path: &Path,
        source: &str,
    ) -> mlua::Result<()> {
        let source = match substitute(path, source) {
            Ok(s) => s,
            Err(e) => return Err(fail(&mut lock(state), e)),
        };
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        lock(state).stack.push((path.to_path_buf(), canonical));
        let env: Table = lua.named_registry_value(ENV_KEY)?;
        let result = lua
            .load(source.as_str())
            .set_name(format!("@{}", path.display()))
            .set_mode(ChunkMode::Text)
            .set_environment(env)
            .exec();
        let mut st = lock(state);
        st.stack.pop();
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                if st.failure.is_none() {
                    st.failure = Some(lua_failure(path, &e));
                }
                Err(mlua::Error::runtime("config loading failed"))
            }
        }
    }
}

fn lock(state: &Mutex<LoadState>) -> MutexGuard<'_, LoadState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records `error` as the load's failure (unless one is already recorded) and
/// returns the marker error that carries it up through Lua.
fn fail(state: &mut LoadState, error: ConfigError) -> mlua::Error {
    if state.failure.is_none() {
        state.failure = Some(error);
    }
    mlua::Error::runtime("config loading failed")
}

/// Turns a Lua error raised while running `file` into a [`ConfigError::Lua`]
/// whose message starts with the file name and has no traceback.
fn lua_failure(file: &Path, error: &mlua::Error) -> ConfigError {
    fn message(e: &mlua::Error) -> String {
        match e {
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
            mlua::Error::CallbackError { cause, .. } => message(cause),
            mlua::Error::WithContext { cause, .. } => message(cause),
            other => other.to_string(),
        }
    }
    let mut text = message(error);
    if let Some(at) = text.find("\nstack traceback:") {
        text.truncate(at);
    }
    let name = file.display().to_string();
    let line = text
        .strip_prefix(&name)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(leading_line)
        .or_else(|| text.split(':').nth(1).and_then(|s| s.parse().ok()));
    if !text.starts_with(&name) && !text.starts_with("...") {
        text = format!("{name}: {text}");
    }
    ConfigError::Lua {
        file: file.to_path_buf(),
        line,
        message: text,
    }
}

/// The line number at the start of `rest` (`"12: ..."`).
fn leading_line(rest: &str) -> Option<u32> {
    let digits = rest.split(':').next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "lunet-config-{tag}-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn src(text: &str) -> Result<Config, ConfigError> {
        Config::from_source("config.lua", text)
    }

    #[test]
    fn only_start_gives_all_defaults() {
        let c = src(r#"start = "main""#).unwrap();
        assert_eq!(c.thread(), default_threads());
        assert!(c.thread() >= 1);
        assert_eq!(c.start(), "main");
        assert_eq!(c.bootstrap(), "snlua bootstrap");
        assert_eq!(c.luaservice(), "./?.lua;./service/?.lua;./?/init.lua");
        assert_eq!(c.lua_path(), "./?.lua;./?/init.lua");
        assert_eq!(c.lua_cpath(), None);
        assert_eq!(c.preload(), None);
        assert_eq!(c.logger(), None);
        assert_eq!(c.logservice(), "logger");
        assert_eq!(c.harbor(), 0);
        assert_eq!(c.memlimit(), None);
        assert_eq!(c.endless_limit(), None);
        assert_eq!(c.linger(), None);
        assert_eq!(c.dir(), Path::new("."));
        assert!(c.is_set("start"));
        assert!(!c.is_set("thread"));
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let c = src("").unwrap();
        assert_eq!(c.start(), "main");
    }

    #[test]
    fn defaults_are_readable_as_settings() {
        let c = src("").unwrap();
        assert_eq!(
            c.get("thread"),
            Some(default_threads().to_string().as_str())
        );
        assert_eq!(c.get("start"), Some("main"));
        assert_eq!(c.get("bootstrap"), Some("snlua bootstrap"));
        assert_eq!(c.get("harbor"), Some("0"));
        assert_eq!(c.get("logservice"), Some("logger"));
        assert_eq!(c.get("logger"), None);
        let keys: Vec<&str> = c.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "bootstrap",
                "harbor",
                "logservice",
                "lua_path",
                "luaservice",
                "start",
                "thread"
            ]
        );
    }

    #[test]
    fn default_search_paths_are_anchored_at_the_config_directory() {
        let c = Config::from_source("examples/echo/config.lua", "").unwrap();
        assert_eq!(c.dir(), Path::new("examples/echo"));
        assert_eq!(
            c.luaservice(),
            "examples/echo/?.lua;examples/echo/service/?.lua;examples/echo/?/init.lua"
        );
        assert_eq!(c.lua_path(), "examples/echo/?.lua;examples/echo/?/init.lua");
    }

    #[test]
    fn every_known_key_is_parsed() {
        let c = src(r#"
            thread = 3
            start = "game"
            bootstrap = "snlua mybootstrap"
            luaservice = "./svc/?.lua"
            lua_path = "./lib/?.lua"
            lua_cpath = "./?.so"
            preload = "./preload.lua"
            logger = "./node.log"
            logservice = "mylogger"
            harbor = 7
            daemon = false
            memlimit = 2^20
            endless_limit = 2.5
            linger = 0
        "#)
        .unwrap();
        assert_eq!(c.thread(), 3);
        assert_eq!(c.start(), "game");
        assert_eq!(c.bootstrap(), "snlua mybootstrap");
        assert_eq!(c.luaservice(), "./svc/?.lua");
        assert_eq!(c.lua_path(), "./lib/?.lua");
        assert_eq!(c.lua_cpath(), Some("./?.so"));
        assert_eq!(c.preload(), Some(Path::new("./preload.lua")));
        assert_eq!(c.logger(), Some(Path::new("./node.log")));
        assert_eq!(c.logservice(), "mylogger");
        assert_eq!(c.harbor(), 7);
        assert_eq!(c.memlimit(), Some(1 << 20));
        assert_eq!(c.endless_limit(), Some(Duration::from_millis(2500)));
        assert_eq!(c.linger(), Some(Duration::ZERO));
        assert_eq!(c.get("memlimit"), Some("1048576.0"));
        assert_eq!(c.get("daemon"), Some("false"));
    }

    #[test]
    fn numeric_keys_accept_strings_holding_numbers() {
        let c = src(r#"thread = "4"; harbor = "0x10"; linger = "1.5""#).unwrap();
        assert_eq!(c.thread(), 4);
        assert_eq!(c.harbor(), 16);
        assert_eq!(c.linger(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn unknown_keys_are_kept_as_strings() {
        let c = src(r#"
            host = "0.0.0.0"
            port = 8000 + 888
            ratio = 1 / 4
            whole = 2.0
            big = 1e15
            tiny = 1e-5
            neg = -3
            debug = true
            quiet = false
            root = "/srv/"
            path = root .. "x/?.lua"
            shout = ("ab"):upper()
        "#)
        .unwrap();
        assert_eq!(c.get("host"), Some("0.0.0.0"));
        assert_eq!(c.get("port"), Some("8888"));
        assert_eq!(c.get("ratio"), Some("0.25"));
        assert_eq!(c.get("whole"), Some("2.0"));
        assert_eq!(c.get("big"), Some("1e+15"));
        assert_eq!(c.get("tiny"), Some("1e-05"));
        assert_eq!(c.get("neg"), Some("-3"));
        assert_eq!(c.get("debug"), Some("true"));
        assert_eq!(c.get("quiet"), Some("false"));
        assert_eq!(c.get("path"), Some("/srv/x/?.lua"));
        assert_eq!(c.get("shout"), Some("AB"));
        assert_eq!(c.get("missing"), None);
        assert!(c.iter().any(|(k, v)| k == "port" && v == "8888"));
    }

    #[test]
    fn reassigned_and_removed_keys() {
        let c = src("a = 1; a = 2; b = 3; b = nil").unwrap();
        assert_eq!(c.get("a"), Some("2"));
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn float_formatting_matches_lua_tostring() {
        let lua = Lua::new();
        let values = [
            0.1,
            1.0 / 3.0,
            -2.5,
            100.0,
            1e14,
            1e15,
            123456789012345.0,
            12345678901234.5,
            1e-4,
            1e-5,
            0.000123456789,
            9007199254740993.0,
            1e100,
            -1e-300,
            5e-324,
            f64::MAX,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2.5e-7,
            99999999999999.99,
        ];
        for v in values {
            let expected: String = lua.load("return tostring(...)").call(v).expect("tostring");
            assert_eq!(format_float(v), expected, "formatting {v:?}");
        }
    }

    #[test]
    fn dollar_names_are_replaced_by_the_environment() {
        std::env::set_var("LUNET_CFG_TEST_SUBST_ROOT", "/opt/game");
        std::env::set_var("LUNET_CFG_TEST_SUBST_N", "5");
        let c = src(r#"
            root = "$LUNET_CFG_TEST_SUBST_ROOT/"
            thread = $LUNET_CFG_TEST_SUBST_N
            price = "$ 5 and $"
        "#)
        .unwrap();
        assert_eq!(c.get("root"), Some("/opt/game/"));
        assert_eq!(c.thread(), 5);
        assert_eq!(c.get("price"), Some("$ 5 and $"));
    }

    #[test]
    fn unset_variable_is_an_error_naming_it_the_file_and_line() {
        std::env::remove_var("LUNET_CFG_TEST_NEVER_SET");
        let err = src("a = 1\nroot = \"$LUNET_CFG_TEST_NEVER_SET/x\"\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnsetVariable { name, line: 2, .. }
                if name == "LUNET_CFG_TEST_NEVER_SET"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "config.lua:2: environment variable $LUNET_CFG_TEST_NEVER_SET is not set"
        );
    }

    #[test]
    fn include_is_relative_to_the_including_file() {
        let dir = TempDir::new("include");
        dir.write("conf/common.lua", "port = 9000\nhost = 'common'\n");
        let main = dir.write(
            "conf/main.lua",
            "host = 'main'\ninclude \"common.lua\"\nthread = 2\n",
        );
        // Loaded from elsewhere than its directory: the include still resolves.
        let c = Config::load(&main).unwrap();
        assert_eq!(c.get("port"), Some("9000"));
        assert_eq!(c.get("host"), Some("common"), "later assignment wins");
        assert_eq!(c.thread(), 2);
        assert_eq!(c.dir(), dir.0.join("conf"));
    }

    #[test]
    fn nested_include_resolves_against_each_file() {
        let dir = TempDir::new("nested");
        dir.write("a/b/leaf.lua", "leaf = root .. 'leaf'\n");
        dir.write("a/mid.lua", "mid = true\ninclude 'b/leaf.lua'\n");
        let main = dir.write("main.lua", "root = '/r/'\ninclude 'a/mid.lua'\n");
        let c = Config::load(&main).unwrap();
        assert_eq!(c.get("mid"), Some("true"));
        assert_eq!(c.get("leaf"), Some("/r/leaf"));
    }

    #[test]
    fn included_files_substitute_variables_too() {
        std::env::set_var("LUNET_CFG_TEST_INCLUDED_VAR", "yes");
        let dir = TempDir::new("incvar");
        dir.write("inc.lua", "v = '$LUNET_CFG_TEST_INCLUDED_VAR'\n");
        let main = dir.write("main.lua", "include 'inc.lua'\n");
        assert_eq!(Config::load(&main).unwrap().get("v"), Some("yes"));
    }

    #[test]
    fn same_file_included_twice_is_not_a_cycle() {
        let dir = TempDir::new("diamond");
        dir.write("shared.lua", "n = (n or 0) + 1\n");
        let main = dir.write("main.lua", "include 'shared.lua'\ninclude 'shared.lua'\n");
        assert_eq!(Config::load(&main).unwrap().get("n"), Some("2"));
    }

    #[test]
    fn include_cycle_is_an_error_not_a_stack_overflow() {
        let dir = TempDir::new("cycle");
        dir.write("a.lua", "include 'b.lua'\n");
        dir.write("b.lua", "include 'a.lua'\n");
        let main = dir.write("main.lua", "include 'a.lua'\n");
        let err = Config::load(&main).unwrap_err();
        let ConfigError::IncludeCycle { chain } = &err else {
            panic!("expected a cycle, got {err:?}");
        };
        let names: Vec<_> = chain.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["a.lua", "b.lua", "a.lua"]);
        assert!(err.to_string().starts_with("include cycle: "), "{err}");

        let selfish = dir.write("self.lua", "include 'self.lua'\n");
        assert!(matches!(
            Config::load(&selfish),
            Err(ConfigError::IncludeCycle { .. })
        ));
    }

    #[test]
    fn missing_include_names_the_resolved_path() {
        let dir = TempDir::new("missinc");
        let main = dir.write("main.lua", "include 'nope.lua'\n");
        let err = Config::load(&main).unwrap_err();
        match &err {
            ConfigError::Read {
                path,
                included_from,
                ..
            } => {
                assert_eq!(path, &dir.0.join("nope.lua"));
                assert_eq!(included_from.as_deref(), Some(main.as_path()));
            }
            other => panic!("expected Read, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("nope.lua (included from "), "{text}");
        assert!(text.contains("main.lua)"), "{text}");
    }

    #[test]
    fn missing_file_is_an_error_naming_the_path() {
        let err = Config::load("/nonexistent/lunet/config.lua").unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("cannot read config file /nonexistent/lunet/config.lua: "),
            "{err}"
        );
    }

    #[test]
    fn bad_thread_value_names_file_and_key() {
        let err = src(r#"thread = "x""#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"config.lua: key "thread": expected a positive integer, got "x""#
        );
        for bad in ["0", "-1", "1.5", "true", "'4 '"] {
            let err = src(&format!("thread = {bad}")).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { key, .. } if key == "thread"),
                "{bad}: {err}"
            );
        }
        let err = src("thread = 100000").unwrap_err();
        assert!(err.to_string().contains("no greater than 1024"), "{err}");
    }

    #[test]
    fn bad_values_of_other_known_keys_are_errors() {
        for (text, key) in [
            ("start = ''", "start"),
            ("start = 5", "start"),
            ("bootstrap = false", "bootstrap"),
            ("luaservice = 1", "luaservice"),
            ("lua_path = true", "lua_path"),
            ("logger = true", "logger"),
            ("preload = ''", "preload"),
            ("logservice = 2", "logservice"),
            ("harbor = 256", "harbor"),
            ("harbor = -1", "harbor"),
            ("memlimit = 0", "memlimit"),
            ("memlimit = 'lots'", "memlimit"),
            ("endless_limit = 0", "endless_limit"),
            ("endless_limit = -1", "endless_limit"),
            ("linger = -1", "linger"),
            ("linger = 1/0", "linger"),
        ] {
            let err = src(text).unwrap_err();
            let ConfigError::Invalid { key: k, file, .. } = &err else {
                panic!("{text}: expected Invalid, got {err:?}");
            };
            assert_eq!(k, key, "{text}");
            assert_eq!(file, Path::new("config.lua"));
            assert!(err.to_string().contains(&format!("key \"{key}\"")), "{err}");
        }
    }

    #[test]
    fn bad_key_in_an_included_file_names_that_file() {
        let dir = TempDir::new("badinc");
        dir.write("inc.lua", "harbor = 'far'\n");
        let main = dir.write("main.lua", "include 'inc.lua'\n");
        let err = Config::load(&main).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { file, .. } if file == &dir.0.join("inc.lua")),
            "{err:?}"
        );
    }

    #[test]
    fn lua_syntax_error_names_file_and_line() {
        let err = src("thread = 2\nstart = = 'x'\n").unwrap_err();
        let ConfigError::Lua { file, line, .. } = &err else {
            panic!("expected a Lua error, got {err:?}");
        };
        assert_eq!(file, Path::new("config.lua"));
        assert_eq!(*line, Some(2));
        assert!(err.to_string().starts_with("config.lua:2:"), "{err}");
    }

    #[test]
    fn lua_syntax_error_in_an_included_file_names_that_file() {
        let dir = TempDir::new("syntaxinc");
        let inc = dir.write("inc.lua", "\n\nx = (\n");
        let main = dir.write("main.lua", "include 'inc.lua'\n");
        let err = Config::load(&main).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Lua { file, .. } if file == &inc),
            "{err:?}"
        );
        assert!(err.to_string().contains("inc.lua:"), "{err}");
    }

    #[test]
    fn lua_runtime_error_names_file_and_line_without_traceback() {
        let err = src("a = 1\nb = undefined_thing.field\n").unwrap_err();
        assert!(
            matches!(err, ConfigError::Lua { line: Some(2), .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.starts_with("config.lua:2:"), "{text}");
        assert!(!text.contains("traceback"), "{text}");
    }

    #[test]
    fn tables_and_functions_are_errors_naming_the_key() {
        let err = src("a = 1\nservers = { 'x' }\n").unwrap_err();
        assert!(
            matches!(err, ConfigError::Lua { line: Some(2), .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            r#"config.lua:2: key "servers": expected a string, number or boolean, got a table"#
        );
        let err = src("function helper() end").unwrap_err();
        assert!(err.to_string().contains("key \"helper\""), "{err}");
        // Locals are fine.
        let c = src("local t = { p = 5 }\nport = t.p\nlocal function f() return 1 end\nn = f()")
            .unwrap();
        assert_eq!(c.get("port"), Some("5"));
        assert_eq!(c.get("n"), Some("1"));
    }

    #[test]
    fn standard_library_is_not_visible() {
        let err = src("x = os.getenv('HOME')").unwrap_err();
        assert!(matches!(err, ConfigError::Lua { .. }), "{err:?}");
    }

    #[test]
    fn daemon_is_refused() {
        let err = src(r#"daemon = "./skynet.pid""#).unwrap_err();
        assert!(matches!(&err, ConfigError::Unsupported { key, .. } if key == "daemon"));
        let text = err.to_string();
        assert!(text.starts_with(r#"config.lua: key "daemon": "#), "{text}");
        assert!(text.contains("not supported"), "{text}");
        assert!(src("daemon = true").is_err());
        assert!(src("daemon = false").is_ok());

        let mut c = src("").unwrap();
        assert!(matches!(
            c.set("daemon", "pidfile"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert_eq!(c.get("daemon"), None, "refused override leaves no trace");
    }

    #[test]
    fn set_overrides_and_revalidates() {
        let mut c = src("port = 8888\nthread = 2").unwrap();
        c.set("port", "9001").unwrap();
        assert_eq!(c.get("port"), Some("9001"));
        c.set("thread", "3").unwrap();
        assert_eq!(c.thread(), 3);
        c.set("endless_limit", "0.5").unwrap();
        assert_eq!(c.endless_limit(), Some(Duration::from_millis(500)));

        let err = c.set("thread", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"config.lua: key "thread" (set by override): expected a positive integer, got "x""#
        );
        assert_eq!(c.thread(), 3, "a refused override changes nothing");
        assert_eq!(c.get("thread"), Some("3"));

        c.set("start", "game").unwrap();
        assert_eq!(c.start(), "game");
        c.set("newkey", "hello world").unwrap();
        assert_eq!(c.get("newkey"), Some("hello world"));
    }

    #[test]
    fn set_reads_values_as_lua_literals() {
        let mut c = src("").unwrap();
        for (value, text, kind) in [
            ("42", "42", Kind::Int),
            ("-7", "-7", Kind::Int),
            ("007", "7", Kind::Int),
            ("0x1f", "31", Kind::Int),
            ("1.50", "1.5", Kind::Float),
            ("1e3", "1000.0", Kind::Float),
            (".5", "0.5", Kind::Float),
            ("true", "true", Kind::Bool),
            ("false", "false", Kind::Bool),
            ("\"42\"", "42", Kind::Str),
            ("'a b'", "a b", Kind::Str),
            ("inf", "inf", Kind::Str),
            ("+5", "+5", Kind::Str),
            ("", "", Kind::Str),
            ("a=b", "a=b", Kind::Str),
        ] {
            c.set("k", value).unwrap();
            assert_eq!(c.get("k"), Some(text), "{value}");
            assert_eq!(c.settings["k"].kind, kind, "{value}");
        }
        // A quoted number is a string: fine for an application key, and numeric
        // known keys accept it as skynet's atoi would.
        c.set("thread", "\"2\"").unwrap();
        assert_eq!(c.thread(), 2);
        // `nil` removes a key.
        c.set("logger", "node.log").unwrap();
        assert_eq!(c.logger(), Some(Path::new("node.log")));
        c.set("logger", "nil").unwrap();
        assert_eq!(c.logger(), None);
        assert_eq!(c.get("logger"), None);
    }

    #[test]
    fn set_override_splits_at_the_first_equals() {
        let mut c = src("").unwrap();
        c.set_override("port=9001").unwrap();
        assert_eq!(c.get("port"), Some("9001"));
        c.set_override("url=http://x/?a=b").unwrap();
        assert_eq!(c.get("url"), Some("http://x/?a=b"));
        for bad in ["port", "=5", "a b=1", "1x=2"] {
            assert!(
                matches!(c.set_override(bad), Err(ConfigError::BadOverride { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            c.set("bad key", "1"),
            Err(ConfigError::BadOverride { .. })
        ));
    }

    #[test]
    fn int_literals() {
        assert_eq!(parse_int_literal("0"), Some(0));
        assert_eq!(parse_int_literal("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int_literal("9223372036854775808"), None);
        assert_eq!(parse_int_literal("0xffffffffffffffff"), Some(-1));
        assert_eq!(parse_int_literal("-0x10"), Some(-16));
        assert_eq!(parse_int_literal("0x"), None);
        assert_eq!(parse_int_literal("-"), None);
        assert_eq!(parse_int_literal(" 1"), None);
    }
}
