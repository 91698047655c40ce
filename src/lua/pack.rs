//! `skynet.pack` / `skynet.unpack`: Lua values to bytes and back, in Rust.
//!
//! [`pack`] turns a sequence of Lua values (the varargs of `skynet.pack(...)`)
//! into one byte string; [`unpack`] turns that string back into the same
//! values in any Lua state. [`register`] builds the Lua-facing table the
//! `skynet` library uses. Everything here runs on the thread of the service
//! that calls it; nothing is shared between Lua states.
//!
//! # What round-trips
//! - `nil`, `true`, `false`;
//! - integers, all of `i64` exactly (`math.type` stays `"integer"`);
//! - floats, all of `f64` bit for bit: `-0.0` stays negative, infinities stay
//!   infinite, NaN stays NaN (with its payload). `1.0` stays a float;
//! - strings, binary-safe (any bytes, embedded zeros), any length;
//! - tables, nested up to [`MAX_DEPTH`] levels, with any packable key
//!   (booleans, integers, non-NaN floats, strings, tables) and any packable
//!   value. Tables are copied by value: shared sub-tables become separate
//!   copies, and a table used as a key becomes a new table on the other side.
//!
//! Tables are read raw: metatables (`__index`, `__pairs`, `__len`, ...) are
//! ignored and are not packed. A float key with an integral value cannot be
//! observed in a Lua table (Lua converts `t[2.0]` to `t[2]` on insertion), so
//! such keys arrive as integers on both sides; float *values* stay floats.
//!
//! Functions, userdata, light userdata and threads cannot be packed: the error
//! names the type and the path where it was found, as in
//! `skynet.pack: cannot pack a function (at [2].handlers.on_open)`
//! (`[2]` is the second argument). Tables nested deeper than [`MAX_DEPTH`] are an
//! error naming the limit; a table that contains itself is caught this way.
//!
//! # Format
//! The packed form of `pack(v1, v2, ...)` is the encodings of `v1`, `v2`, ...
//! one after the other, with no header and no count: `unpack` decodes values
//! until the input is used up, so `pack()` is the empty string and unpacks to no
//! values, and trailing `nil`s are kept. Every encoding starts with a one-byte
//! tag:
//!
//! | tag           | value                | followed by                                    |
//! |---------------|----------------------|------------------------------------------------|
//! | `0x00`        | `nil`                | nothing                                        |
//! | `0x01`        | `false`              | nothing                                        |
//! | `0x02`        | `true`               | nothing                                        |
//! | `0x03`        | integer              | zigzag varint                                  |
//! | `0x04`        | float                | 8 bytes, IEEE-754 binary64, little-endian      |
//! | `0x05`        | string               | varint length, then that many bytes            |
//! | `0x06`        | table                | varint `narr`, varint `nhash`, `narr` values, `nhash` key/value pairs |
//! | `0x40..=0x5f` | string of 0..=31 bytes | `tag & 0x1f` bytes                           |
//! | `0x80..=0xff` | integer 0..=127      | nothing (the value is `tag & 0x7f`)            |
//!
//! Other tags are invalid. A *varint* is an unsigned LEB128 number: 7 bits per
//! byte, least significant group first, high bit set on every byte but the
//! last, at most 10 bytes for a `u64`. Integers outside `0..=127` are
//! zigzag-mapped first (`0, -1, 1, -2, ...` become `0, 1, 2, 3, ...`), so small
//! negative numbers stay short: `-1` takes 2 bytes, `i64::MIN` takes 11.
//!
//! A table's *array part* holds `t[1] .. t[narr]`, where `narr` is the largest
//! `n` such that `t[1]` through `t[n]` are all non-nil; its *hash part* holds
//! every other key, each pair as the key's encoding followed by the value's. For
//! example `{10, 20, x = true}` packs to
//! `06 02 01 8a 94 41 78 02`: table, 2 array values, 1 pair, `10`, `20`,
//! `"x"`, `true`. The order of the hash part follows Lua's `next`, so equal
//! tables may pack to different bytes; only the decoded values are guaranteed
//! equal.
//!
//! # Decoding untrusted input
//! [`unpack`] never panics and never trusts a length: a string length, or a
//! table's `narr + 2 * nhash` (each entry takes at least one byte), larger than
//! the bytes left is reported as truncated input before anything is allocated,
//! so memory use is bounded by a small multiple of the input size. Tables nested
//! deeper than [`MAX_DEPTH`] are rejected, which also bounds recursion. A `nil`
//! or NaN key is an error (Lua cannot store one). The decoder accepts a few
//! encodings the encoder never produces (non-minimal varints, an integer in
//! `0..=127` under tag `0x03`, a short string under tag `0x05`, duplicate keys,
//! where the last one wins, and `nil` values, which leave no entry); it
//! rejects varints longer than 10 bytes or above `u64::MAX`.

use mlua::{Lua, MultiValue, Table, Value};

/// The deepest table nesting [`pack`] and [`unpack`] accept: a table at the top
/// level is at depth 1, a table inside it at depth 2, and so on (skynet's limit).
pub const MAX_DEPTH: usize = 32;

/// The most values [`register`]'s `unpack` returns to Lua at once; more would
/// not fit on a Lua stack.
pub const MAX_LUA_RESULTS: usize = 100_000;

const TAG_NIL: u8 = 0x00;
const TAG_FALSE: u8 = 0x01;
const TAG_TRUE: u8 = 0x02;
const TAG_INTEGER: u8 = 0x03;
const TAG_FLOAT: u8 = 0x04;
const TAG_STRING: u8 = 0x05;
const TAG_TABLE: u8 = 0x06;
const TAG_SHORT_STRING: u8 = 0x40;
const TAG_SHORT_STRING_LAST: u8 = 0x5f;
const TAG_SMALL_INTEGER: u8 = 0x80;
const SHORT_STRING_MAX: usize = 31;
const SMALL_INTEGER_MAX: i64 = 127;
const VARINT_MAX_BYTES: usize = 10;

/// Why [`pack`] or [`unpack`] failed. The message starts with the Lua function's
/// name (`skynet.pack: ...` or `skynet.unpack: ...`) so it can be raised to Lua
/// as is.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A value of a type that cannot be packed.
    #[error("skynet.pack: cannot pack {what} (at {path})")]
    Unsupported {
        /// The value's type with an article, e.g. `"a function"`.
        what: &'static str,
        /// Where it was found, e.g. `[2].handlers.on_open` (`[2]`: the second
        /// argument).
        path: String,
    },
    /// A table key of a type that cannot be packed.
    #[error("skynet.pack: cannot pack {what} as a table key (at {path})")]
    UnsupportedKey {
        /// The key's type with an article, e.g. `"a function"`.
        what: &'static str,
        /// The path of the table holding the key.
        path: String,
    },
    /// Tables nested more than [`MAX_DEPTH`] levels deep (possibly a cycle).
    #[error(
        "skynet.pack: tables nested deeper than {limit} levels (is there a cycle?) (at {path})"
    )]
    TooDeep {
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
        /// The path of the first table past the limit.
        path: String,
    },
    /// The input ends (or claims a length that ends) past its last byte.
    #[error(
        "skynet.unpack: truncated input: {what} at offset {offset} needs {needed} more byte(s), \
         {remaining} left"
    )]
    Truncated {
        /// What was being read, e.g. `"a string"`.
        what: &'static str,
        /// Where the item being read starts.
        offset: usize,
        /// How many bytes it needs (at least) after its header.
        needed: u64,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A byte that is not a type tag where a value should start.
    #[error("skynet.unpack: invalid type tag 0x{tag:02x} at offset {offset}")]
    InvalidTag {
        /// The byte found.
        tag: u8,
        /// Its offset.
        offset: usize,
    },
    /// A varint longer than 10 bytes or larger than `u64::MAX`.
    #[error("skynet.unpack: malformed varint at offset {offset}")]
    InvalidVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A table key Lua cannot store.
    #[error("skynet.unpack: invalid table key ({what}) at offset {offset}")]
    InvalidKey {
        /// `"nil"` or `"NaN"`.
        what: &'static str,
        /// Where the key starts.
        offset: usize,
    },
    /// Input tables nested more than [`MAX_DEPTH`] levels deep.
    #[error("skynet.unpack: tables nested deeper than {limit} levels at offset {offset}")]
    TooDeepInput {
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
        /// Where the first table past the limit starts.
        offset: usize,
    },
    /// The Lua state failed (e.g. the service's memory limit was reached).
    #[error("{function}: {source}")]
    Lua {
        /// `"skynet.pack"` or `"skynet.unpack"`.
        function: &'static str,
        /// The Lua error.
        source: mlua::Error,
    },
}

/// Packs `values` (the arguments of `skynet.pack(...)`) into bytes.
///
/// Each value is encoded in turn as described in the [module docs](self).
/// Tables are read raw, without metamethods.
///
/// # Errors
/// [`PackError::Unsupported`] / [`PackError::UnsupportedKey`] for a function,
/// userdata, light userdata or thread anywhere inside, [`PackError::TooDeep`]
/// for tables nested deeper than [`MAX_DEPTH`] (or a cycle), and
/// [`PackError::Lua`] if the Lua state fails while the tables are read.
pub fn pack(values: &[Value]) -> Result<Vec<u8>, PackError> {
    let mut packer = Packer { out: Vec::new() };
    for (i, value) in values.iter().enumerate() {
        packer
            .value(value, 0)
            .map_err(|e| within(e, || format!("[{}]", i + 1)))?;
    }
    Ok(packer.out)
}

/// Unpacks bytes made by [`pack`] into Lua values created in `lua`.
///
/// Returns as many values as were packed (none for empty input). Safe on any
/// input: malformed or truncated bytes give an error, never a panic or an
/// allocation larger than a small multiple of `data.len()`.
///
/// # Errors
/// [`PackError::Truncated`], [`PackError::InvalidTag`],
/// [`PackError::InvalidVarint`], [`PackError::InvalidKey`] or
/// [`PackError::TooDeepInput`] for bad input, each with the offset where it was
/// found; [`PackError::Lua`] if `lua` fails to create a value (e.g. its memory
/// limit is reached).
pub fn unpack(lua: &Lua, data: &[u8]) -> Result<MultiValue, PackError> {
    let mut unpacker = Unpacker { lua, data, pos: 0 };
    let mut values = Vec::new();
    while unpacker.pos < data.len() {
        values.push(unpacker.value(0)?);
    }
    Ok(MultiValue::from_vec(values))
}

/// Builds the native table behind `skynet.pack` / `skynet.unpack`:
///
/// - `pack(...)` returns the packed string and its length. The length makes
///   skynet's idiom `local msg, sz = skynet.pack(...)` work unchanged; a string
///   is all [`unpack`] needs.
/// - `unpack(msg [, sz])` returns the values packed in the string `msg`, or in
///   its first `sz` bytes when `sz` is given (skynet's `unpack(msg, sz)`).
///
/// Both raise plain string errors starting with `skynet.pack: ` or
/// `skynet.unpack: ` (the [`PackError`] message), without a position prefix.
/// `unpack` refuses to return more than [`MAX_LUA_RESULTS`] values.
///
/// # Errors
/// Fails only if the Lua state cannot create the functions.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    // The Rust functions report failure as `false, message`, and a small Lua
    // wrapper raises the message as a plain string: Lua code sees the same kind
    // of error value as from skynet's C functions.
    let raw_pack = lua.create_function(|lua, mut args: MultiValue| {
        let result = pack(args.make_contiguous()).and_then(|bytes| {
            let len = bytes.len();
            let s = lua.create_string(bytes).map_err(|source| PackError::Lua {
                function: "skynet.pack",
                source,
            })?;
            Ok((s, len))
        });
        Ok(match result {
            Ok((s, len)) => (true, Value::String(s), Some(len)),
            Err(e) => (
                false,
                Value::String(lua.create_string(e.to_string())?),
                None,
            ),
        })
    })?;
    let raw_unpack = lua.create_function(|lua, args: MultiValue| match lua_unpack(lua, &args) {
        Ok(mut values) => {
            values.push_front(Value::Boolean(true));
            Ok(values)
        }
        Err(message) => {
            let mut values = MultiValue::with_capacity(2);
            values.push_back(Value::Boolean(false));
            values.push_back(Value::String(lua.create_string(message)?));
            Ok(values)
        }
    })?;
    lua.load(
        r#"
        local raw_pack, raw_unpack = ...
        local error = error
        local function check(ok, ...)
            if ok then
                return ...
            end
            error((...), 0)
        end
        return {
            pack = function(...)
                return check(raw_pack(...))
            end,
            unpack = function(...)
                return check(raw_unpack(...))
            end,
        }
        "#,
    )
    .set_name("=skynet.pack")
    .call((raw_pack, raw_unpack))
}

/// `unpack(msg [, sz])` for Lua: checks the arguments, then unpacks.
fn lua_unpack(lua: &Lua, args: &MultiValue) -> Result<MultiValue, String> {
    const NAME: &str = "skynet.unpack";
    let msg = match args.front() {
        Some(Value::String(s)) => s.clone(),
        other => {
            let got = other.map_or("no value", Value::type_name);
            return Err(format!(
                "{NAME}: bad argument #1 (string expected, got {got})"
            ));
        }
    };
    let bytes = msg.as_bytes();
    let len = match args.get(1) {
        None | Some(Value::Nil) => bytes.len(),
        Some(Value::Integer(sz)) => match usize::try_from(*sz) {
            Ok(sz) if sz <= bytes.len() => sz,
            _ => {
                return Err(format!(
                    "{NAME}: bad argument #2 (size {sz} out of range 0..={})",
                    bytes.len()
                ))
            }
        },
        Some(other) => {
            return Err(format!(
                "{NAME}: bad argument #2 (integer expected, got {})",
                other.type_name()
            ))
        }
    };
    let values = unpack(lua, &bytes[..len]).map_err(|e| e.to_string())?;
    if values.len() > MAX_LUA_RESULTS {
        return Err(format!(
            "{NAME}: too many values ({}, at most {MAX_LUA_RESULTS})",
            values.len()
        ));
    }
    Ok(values)
}

/// Prepends a path segment to the path of a packing error found below it.
fn within(mut err: PackError, segment: impl FnOnce() -> String) -> PackError {
    match &mut err {
        PackError::Unsupported { path, .. }
        | PackError::UnsupportedKey { path, .. }
        | PackError::TooDeep { path, .. } => path.insert_str(0, &segment()),
        _ => {}
    }
    err
}

/// The path segment for a table key: `.name` for identifiers, `[3]`,
/// `["a b"]`, `[true]`, and so on.
fn key_segment(key: &Value) -> String {
    match key {
        Value::String(s) => {
            let bytes = s.as_bytes();
            match std::str::from_utf8(&bytes) {
                Ok(name) if is_identifier(name) => format!(".{name}"),
                _ => {
                    const SHOWN: usize = 40;
                    let more = if bytes.len() > SHOWN { "..." } else { "" };
                    let shown = &bytes[..bytes.len().min(SHOWN)];
                    format!("[\"{}{more}\"]", shown.escape_ascii())
                }
            }
        }
        Value::Integer(i) => format!("[{i}]"),
        Value::Number(n) => format!("[{n:?}]"),
        Value::Boolean(b) => format!("[{b}]"),
        Value::Table(_) => "[<table key>]".to_string(),
        _ => "[?]".to_string(),
    }
}

/// Whether `name` can follow a dot in Lua source (`t.name`).
fn is_identifier(name: &str) -> bool {
    const KEYWORDS: [&str; 22] = [
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
        "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ];
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

/// The type of a value that cannot be packed, with an article.
fn describe_unsupported(value: &Value) -> &'static str {
    match value {
        Value::Function(_) => "a function",
        Value::Thread(_) => "a thread",
        Value::UserData(_) | Value::Error(_) => "a userdata",
        Value::LightUserData(_) => "a light userdata",
        _ => "a value of an unknown type",
    }
}

fn pack_lua_error(source: mlua::Error) -> PackError {
    PackError::Lua {
        function: "skynet.pack",
        source,
    }
}

fn unpack_lua_error(source: mlua::Error) -> PackError {
    PackError::Lua {
        function: "skynet.unpack",
        source,
    }
}

/// Appends `v` as an unsigned LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// The encoder: appends encodings to `out`.
struct Packer {
    out: Vec<u8>,
}

impl Packer {
    /// Packs one value found inside a table at `depth` (0 at the top level).
    fn value(&mut self, value: &Value, depth: usize) -> Result<(), PackError> {
        match value {
            Value::Nil => self.out.push(TAG_NIL),
            Value::Boolean(false) => self.out.push(TAG_FALSE),
            Value::Boolean(true) => self.out.push(TAG_TRUE),
            Value::Integer(i) => self.integer(*i),
            Value::Number(n) => {
                self.out.push(TAG_FLOAT);
                self.out.extend_from_slice(&n.to_bits().to_le_bytes());
            }
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Table(t) => self.table(t, depth + 1)?,
            other => {
                return Err(PackError::Unsupported {
                    what: describe_unsupported(other),
                    path: String::new(),
                })
            }
        }
        Ok(())
    }

    fn integer(&mut self, i: i64) {
        if (0..=SMALL_INTEGER_MAX).contains(&i) {
            self.out.push(TAG_SMALL_INTEGER | i as u8);
        } else {
            self.out.push(TAG_INTEGER);
            put_varint(&mut self.out, zigzag(i));
        }
    }

    fn string(&mut self, bytes: &[u8]) {
        if bytes.len() <= SHORT_STRING_MAX {
            self.out.push(TAG_SHORT_STRING | bytes.len() as u8);
        } else {
            self.out.push(TAG_STRING);
            put_varint(&mut self.out, bytes.len() as u64);
        }
        self.out.extend_from_slice(bytes);
    }

    /// Packs a table at `depth` (1 for a table at the top level).
    ///
    /// The two counts are not known until the parts have been written, so each
    /// gets a one-byte slot that is patched afterwards, and widened (moving the
    /// bytes after it) only for parts of 128 entries or more.
    fn table(&mut self, table: &Table, depth: usize) -> Result<(), PackError> {
        if depth > MAX_DEPTH {
            return Err(PackError::TooDeep {
                limit: MAX_DEPTH,
                path: String::new(),
            });
        }
        self.out.push(TAG_TABLE);
        let narr_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);

        let mut narr: i64 = 0;
        loop {
            let value: Value = table.raw_get(narr + 1).map_err(pack_lua_error)?;
            if value.is_nil() {
                break;
            }
            narr += 1;
            self.value(&value, depth)
                .map_err(|e| within(e, || format!("[{narr}]")))?;
        }
        let nhash_at = narr_at + self.patch_count(narr_at, narr as u64);

        let mut nhash: u64 = 0;
        let mut failure = None;
        let walked = table.for_each(|key: Value, value: Value| {
            if matches!(key, Value::Integer(i) if (1..=narr).contains(&i)) {
                return Ok(());
            }
            nhash += 1;
            match self.pair(&key, &value, depth) {
                Ok(()) => Ok(()),
                Err(e) => {
                    failure = Some(e);
                    // Only stops the walk; `failure` is what gets reported.
                    Err(mlua::Error::runtime("skynet.pack: stopped"))
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        walked.map_err(pack_lua_error)?;
        self.patch_count(nhash_at, nhash);
        Ok(())
    }

    /// Packs one hash-part entry of a table at `depth`.
    fn pair(&mut self, key: &Value, value: &Value, depth: usize) -> Result<(), PackError> {
        match key {
            Value::Boolean(_) | Value::Integer(_) | Value::Number(_) | Value::String(_) => {
                self.value(key, depth)?
            }
            Value::Table(_) => self
                .value(key, depth)
                .map_err(|e| within(e, || key_segment(key)))?,
            other => {
                return Err(PackError::UnsupportedKey {
                    what: describe_unsupported(other),
                    path: String::new(),
                })
            }
        }
        self.value(value, depth)
            .map_err(|e| within(e, || key_segment(key)))
    }

    /// Writes `count` as a varint into the one-byte slot at `at`, widening the
    /// slot if needed; returns the varint's length.
    fn patch_count(&mut self, at: usize, count: u64) -> usize {
        if count < 0x80 {
            self.out[at] = count as u8;
            return 1;
        }
        let mut varint = Vec::with_capacity(VARINT_MAX_BYTES);
        put_varint(&mut varint, count);
        let len = varint.len();
        self.out.splice(at..at + 1, varint);
        len
    }
}

/// The decoder: reads values from `data` starting at `pos`.
struct Unpacker<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Unpacker<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Takes the next `n` bytes of the item `what` that starts at `start`.
    fn take(&mut self, n: u64, what: &'static str, start: usize) -> Result<&'a [u8], PackError> {
        let remaining = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= remaining => {
                let data: &'a [u8] = self.data;
                let bytes = &data[self.pos..self.pos + n];
                self.pos += n;
                Ok(bytes)
            }
            _ => Err(PackError::Truncated {
                what,
                offset: start,
                needed: n,
                remaining,
            }),
        }
    }

    fn varint(&mut self, what: &'static str, start: usize) -> Result<u64, PackError> {
        let varint_at = self.pos;
        let mut v: u64 = 0;
        for i in 0..VARINT_MAX_BYTES {
            let byte = self.take(1, what, start)?[0];
            if i == VARINT_MAX_BYTES - 1 && byte > 1 {
                return Err(PackError::InvalidVarint { offset: varint_at });
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(PackError::InvalidVarint { offset: varint_at })
    }

    /// Reads one value found inside a table at `depth` (0 at the top level).
    fn value(&mut self, depth: usize) -> Result<Value, PackError> {
        let start = self.pos;
        let tag = self.take(1, "a value", start)?[0];
        Ok(match tag {
            TAG_NIL => Value::Nil,
            TAG_FALSE => Value::Boolean(false),
            TAG_TRUE => Value::Boolean(true),
            TAG_INTEGER => Value::Integer(unzigzag(self.varint("an integer", start)?)),
            TAG_FLOAT => {
                let bytes = self.take(8, "a float", start)?;
                let bits = u64::from_le_bytes(bytes.try_into().expect("took 8 bytes"));
                Value::Number(f64::from_bits(bits))
            }
            TAG_STRING => {
                let len = self.varint("a string", start)?;
                self.string(len, start)?
            }
            TAG_SHORT_STRING..=TAG_SHORT_STRING_LAST => {
                self.string(u64::from(tag & 0x1f), start)?
            }
            TAG_TABLE => self.table(depth + 1, start)?,
            TAG_SMALL_INTEGER..=u8::MAX => Value::Integer(i64::from(tag & 0x7f)),
            _ => {
                return Err(PackError::InvalidTag { tag, offset: start });
            }
        })
    }

    fn string(&mut self, len: u64, start: usize) -> Result<Value, PackError> {
        let bytes = self.take(len, "a string", start)?;
        let s = self.lua.create_string(bytes).map_err(unpack_lua_error)?;
        Ok(Value::String(s))
    }

    /// Reads the rest of a table at `depth` whose tag was at `start`.
    fn table(&mut self, depth: usize, start: usize) -> Result<Value, PackError> {
        if depth > MAX_DEPTH {
            return Err(PackError::TooDeepInput {
                limit: MAX_DEPTH,
                offset: start,
            });
        }
        let narr = self.varint("a table", start)?;
        let nhash = self.varint("a table", start)?;
        // Every array value takes at least one byte, every pair at least two.
        let needed = nhash.saturating_mul(2).saturating_add(narr);
        let remaining = self.remaining();
        if needed > remaining as u64 {
            return Err(PackError::Truncated {
                what: "a table",
                offset: start,
                needed,
                remaining,
            });
        }
        // Both counts are now at most `remaining`, so they fit in usize.
        let table = self
            .lua
            .create_table_with_capacity(narr as usize, nhash as usize)
            .map_err(unpack_lua_error)?;
        for i in 1..=narr as i64 {
            let value = self.value(depth)?;
            if !value.is_nil() {
                table.raw_set(i, value).map_err(unpack_lua_error)?;
            }
        }
        for _ in 0..nhash {
            let key_at = self.pos;
            let key = self.value(depth)?;
            let invalid = match &key {
                Value::Nil => Some("nil"),
                Value::Number(n) if n.is_nan() => Some("NaN"),
                _ => None,
            };
            if let Some(what) = invalid {
                return Err(PackError::InvalidKey {
                    what,
                    offset: key_at,
                });
            }
            let value = self.value(depth)?;
            table.raw_set(key, value).map_err(unpack_lua_error)?;
        }
        Ok(Value::Table(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lua_value(lua: &Lua, code: &str) -> Value {
        lua.load(code).eval().expect(code)
    }

    /// Packs one value and unpacks it in the same state.
    fn round_trip(lua: &Lua, value: &Value) -> Value {
        let bytes = pack(std::slice::from_ref(value)).expect("pack");
        let values = unpack(lua, &bytes).expect("unpack");
        assert_eq!(values.len(), 1, "one value in, one value out");
        values.into_iter().next().unwrap()
    }

    fn assert_round_trips(lua: &Lua, code: &str) {
        let value = lua_value(lua, code);
        let back = round_trip(lua, &value);
        assert!(
            deep_eq(&value, &back),
            "{code}: {value:?} came back as {back:?}"
        );
    }

    fn float_eq(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Structural equality: integers and floats are distinct, floats compare by
    /// bits (so -0.0 != 0.0) except that NaN equals NaN, tables compare by
    /// contents (table keys are matched by contents too).
    fn deep_eq(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Boolean(x), Value::Boolean(y)) => x == y,
            (Value::Integer(x), Value::Integer(y)) => x == y,
            (Value::Number(x), Value::Number(y)) => float_eq(*x, *y),
            (Value::String(x), Value::String(y)) => x.as_bytes()[..] == y.as_bytes()[..],
            (Value::Table(x), Value::Table(y)) => tables_eq(x, y),
            _ => false,
        }
    }

    /// A scalar table key in a form that can be compared across Lua states.
    #[derive(PartialEq, Eq, Hash)]
    enum ScalarKey {
        Bool(bool),
        Int(i64),
        Float(u64),
        Str(Vec<u8>),
    }

    fn scalar_key(key: &Value) -> Option<ScalarKey> {
        Some(match key {
            Value::Boolean(b) => ScalarKey::Bool(*b),
            Value::Integer(i) => ScalarKey::Int(*i),
            Value::Number(n) => ScalarKey::Float(n.to_bits()),
            Value::String(s) => ScalarKey::Str(s.as_bytes().to_vec()),
            _ => return None,
        })
    }

    /// Tables are equal when their scalar keys map to deep-equal values and
    /// their table keys can be paired off, each with an equal key and value.
    fn tables_eq(a: &Table, b: &Table) -> bool {
        let pairs = |t: &Table| -> Vec<(Value, Value)> {
            t.pairs::<Value, Value>().map(|p| p.unwrap()).collect()
        };
        let (pa, pb) = (pairs(a), pairs(b));
        if pa.len() != pb.len() {
            return false;
        }
        let mut scalars = std::collections::HashMap::new();
        let mut table_keys = Vec::new();
        for (k, v) in &pb {
            match scalar_key(k) {
                Some(key) => {
                    scalars.insert(key, v);
                }
                None => table_keys.push(Some((k, v))),
            }
        }
        pa.iter().all(|(ka, va)| match scalar_key(ka) {
            Some(key) => scalars.get(&key).is_some_and(|vb| deep_eq(va, vb)),
            None => {
                let found = table_keys
                    .iter_mut()
                    .find(|slot| slot.is_some_and(|(kb, vb)| deep_eq(ka, kb) && deep_eq(va, vb)));
                found.map(Option::take).is_some()
            }
        })
    }

    fn int(v: &Value) -> i64 {
        match v {
            Value::Integer(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    fn float(v: &Value) -> f64 {
        match v {
            Value::Number(n) => *n,
            other => panic!("expected a float, got {other:?}"),
        }
    }

    fn pack_err(lua: &Lua, code: &str) -> String {
        let values: MultiValue = lua.load(code).eval().expect(code);
        let values: Vec<Value> = values.into_iter().collect();
        pack(&values).expect_err(code).to_string()
    }

    fn unpack_err(data: &[u8]) -> String {
        let lua = Lua::new();
        unpack(&lua, data).expect_err("malformed input").to_string()
    }

    #[test]
    fn nil_and_booleans_round_trip() {
        let lua = Lua::new();
        for v in [Value::Nil, Value::Boolean(true), Value::Boolean(false)] {
            let back = round_trip(&lua, &v);
            assert!(deep_eq(&v, &back), "{v:?} came back as {back:?}");
        }
        assert_eq!(
            pack(&[Value::Nil, Value::Boolean(false), Value::Boolean(true)]).unwrap(),
            [0, 1, 2]
        );
    }

    #[test]
    fn integers_round_trip_exactly() {
        let lua = Lua::new();
        let edges = [
            0,
            1,
            127,
            128,
            -1,
            -64,
            -65,
            255,
            16_383,
            16_384,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            (1 << 53) + 1,
            -(1 << 53) - 1,
            i64::MAX,
            i64::MAX - 1,
            i64::MIN,
            i64::MIN + 1,
        ];
        for i in edges {
            let back = round_trip(&lua, &Value::Integer(i));
            assert_eq!(int(&back), i);
        }
    }

    #[test]
    fn small_integers_take_one_byte_and_large_ones_stay_compact() {
        let size = |i: i64| pack(&[Value::Integer(i)]).unwrap().len();
        assert_eq!(pack(&[Value::Integer(5)]).unwrap(), [0x85]);
        assert_eq!(size(0), 1);
        assert_eq!(size(127), 1);
        assert_eq!(size(128), 3);
        assert_eq!(size(-1), 2);
        assert_eq!(size(-64), 2);
        assert_eq!(size(i64::MAX), 11);
        assert_eq!(size(i64::MIN), 11);
        assert_eq!(pack(&[Value::Integer(-1)]).unwrap(), [TAG_INTEGER, 0x01]);
    }

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let lua = Lua::new();
        let edges = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            9007199254740993.0,
        ];
        for f in edges {
            let back = float(&round_trip(&lua, &Value::Number(f)));
            assert_eq!(back.to_bits(), f.to_bits(), "{f:?} came back as {back:?}");
        }
        let nan = float(&round_trip(&lua, &Value::Number(f64::NAN)));
        assert!(nan.is_nan());
        let payload = f64::from_bits(0x7ff8_0000_dead_beef);
        let back = float(&round_trip(&lua, &Value::Number(payload)));
        assert_eq!(back.to_bits(), payload.to_bits(), "NaN payload kept");
    }

    #[test]
    fn integral_floats_stay_floats_and_integers_stay_integers() {
        let lua = Lua::new();
        let t = register(&lua).unwrap();
        lua.globals().set("c", t).unwrap();
        let types: (String, String, String) = lua
            .load("local a, b, c2 = c.unpack(c.pack(1.0, 1, -0.0)) return math.type(a), math.type(b), tostring(1/c2)")
            .eval()
            .unwrap();
        assert_eq!(types, ("float".into(), "integer".into(), "-inf".into()));
    }

    #[test]
    fn strings_are_binary_safe() {
        let lua = Lua::new();
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            b"\0".to_vec(),
            b"a\0b\xff\xfe\r\n".to_vec(),
            (0..=255u8).collect(),
            vec![b'x'; 31],
            vec![b'x'; 32],
            vec![0xff; 127],
            vec![0xff; 128],
        ];
        for bytes in cases {
            let v = Value::String(lua.create_string(&bytes).unwrap());
            let back = round_trip(&lua, &v);
            assert!(deep_eq(&v, &back), "{} bytes", bytes.len());
        }
        assert_eq!(
            pack(&[Value::String(lua.create_string("").unwrap())]).unwrap(),
            [TAG_SHORT_STRING]
        );
    }

    #[test]
    fn strings_longer_than_64_kib_round_trip() {
        let lua = Lua::new();
        for len in [65_535, 65_536, 65_537, 1 << 20, (1 << 20) + 3] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let v = Value::String(lua.create_string(&bytes).unwrap());
            let packed = pack(std::slice::from_ref(&v)).unwrap();
            assert!(packed.len() <= len + 1 + VARINT_MAX_BYTES);
            let back = round_trip(&lua, &v);
            assert!(deep_eq(&v, &back), "{len} bytes");
        }
    }

    #[test]
    fn empty_and_simple_tables_round_trip() {
        let lua = Lua::new();
        for code in [
            "{}",
            "{1, 2, 3}",
            "{x = 1, y = 'two', z = false}",
            "{1, 2, 'three', x = {}, [true] = 'yes', [false] = 0, [1.5] = -0.0}",
            "{{}, {{}}, {{{}}}}",
            "{[-1] = 'neg', [0] = 'zero', [1] = 'one', [2] = 'two', [2^40] = 'big'}",
            "{[math.maxinteger] = 1, [math.mininteger] = 2, [math.huge] = 3, [-math.huge] = 4}",
            "{'\\0', ['\\0\\255'] = '\\1'}",
            "{0.5, 1.0, -0.0, 1/0, 0/0}",
        ] {
            assert_round_trips(&lua, code);
        }
    }

    #[test]
    fn tables_with_holes_keep_every_entry() {
        let lua = Lua::new();
        for code in [
            "{1, 2, nil, 4}",
            "{nil, 2, 3}",
            "{nil, nil, nil, 4}",
            "local t = {} for i = 1000, 1, -1 do t[i] = i end t[500] = nil return t",
            "local t = {} for i = 1, 300 do t[i] = i end t[300] = nil t[150] = nil return t",
        ] {
            assert_round_trips(&lua, code);
        }
        // {1, 2, nil, 4}: two array values, then [4] = 4 in the hash part.
        let v = lua_value(&lua, "{1, 2, nil, 4}");
        assert_eq!(
            pack(&[v]).unwrap(),
            [TAG_TABLE, 2, 1, 0x81, 0x82, 0x84, 0x84]
        );
    }

    #[test]
    fn documented_example_encoding() {
        let lua = Lua::new();
        let v = lua_value(&lua, "{10, 20, x = true}");
        assert_eq!(
            pack(&[v]).unwrap(),
            [0x06, 0x02, 0x01, 0x8a, 0x94, 0x41, b'x', 0x02]
        );
    }

    #[test]
    fn big_tables_widen_their_counts() {
        let lua = Lua::new();
        for code in [
            "local t = {} for i = 1, 127 do t[i] = i end return t",
            "local t = {} for i = 1, 128 do t[i] = i end return t",
            "local t = {} for i = 1, 20000 do t[i] = {i} end return t",
            "local t = {} for i = 1, 300 do t['k' .. i] = i end return t",
            "local t = {} for i = 1, 20000 do t[i] = i t['k' .. i] = {i, tostring(i)} end return t",
            "local t = {{}} for i = 1, 200 do t[1][i] = i t[i + 1] = i t['x' .. i] = i end return t",
        ] {
            assert_round_trips(&lua, code);
        }
    }

    #[test]
    fn nested_mixed_tables_and_table_keys_round_trip() {
        let lua = Lua::new();
        assert_round_trips(
            &lua,
            r#"{
                name = "svc", id = 42, ratio = 0.25, ok = true,
                list = {1, "two", 3.0, {four = 4}, false},
                [{1, 2}] = "table key", [{k = {}}] = {v = 1},
                deep = {a = {b = {c = {d = {e = "end"}}}}},
            }"#,
        );
    }

    #[test]
    fn integral_float_keys_are_integers_on_both_sides() {
        let lua = Lua::new();
        let v = lua_value(
            &lua,
            "local t = {} t[2.0] = 'a' t[1.0] = 'b' t[3.5] = 'c' return t",
        );
        let back = round_trip(&lua, &v);
        let Value::Table(t) = back else { panic!() };
        assert_eq!(t.raw_get::<String>(1).unwrap(), "b");
        assert_eq!(t.raw_get::<String>(2).unwrap(), "a");
        assert_eq!(t.raw_get::<String>(3.5).unwrap(), "c");
        assert_eq!(t.raw_len(), 2);
    }

    #[test]
    fn metatables_are_ignored() {
        let lua = Lua::new();
        let v = lua_value(
            &lua,
            r#"return setmetatable({1, x = 2}, {
                __index = function() return "ghost" end,
                __pairs = function() error("__pairs called") end,
                __len = function() return 100 end,
                __newindex = function() error("__newindex called") end,
            })"#,
        );
        let back = round_trip(&lua, &v);
        let Value::Table(t) = &back else { panic!() };
        assert!(t.metatable().is_none(), "metatables are not packed");
        let expected = lua_value(&lua, "{1, x = 2}");
        assert!(deep_eq(&expected, &back));
    }

    #[test]
    fn several_values_keep_count_and_nils() {
        let lua = Lua::new();
        let s = Value::String(lua.create_string("a").unwrap());
        let values = [Value::Integer(1), Value::Nil, s, Value::Nil];
        let bytes = pack(&values).unwrap();
        let back = unpack(&lua, &bytes).unwrap();
        assert_eq!(back.len(), 4);
        for (a, b) in values.iter().zip(back.iter()) {
            assert!(deep_eq(a, b));
        }
        assert!(pack(&[]).unwrap().is_empty());
        assert!(unpack(&lua, &[]).unwrap().is_empty());
    }

    /// A chain of `levels` nested tables: `{ {  ... {} ... } }`.
    fn nested(lua: &Lua, levels: usize) -> Value {
        let mut v = Value::Table(lua.create_table().unwrap());
        for _ in 1..levels {
            let t = lua.create_table().unwrap();
            t.raw_set(1, v).unwrap();
            v = Value::Table(t);
        }
        v
    }

    #[test]
    fn nesting_up_to_the_depth_limit_is_accepted() {
        let lua = Lua::new();
        let v = nested(&lua, MAX_DEPTH);
        let back = round_trip(&lua, &v);
        assert!(deep_eq(&v, &back));
    }

    #[test]
    fn nesting_past_the_depth_limit_is_an_error_naming_the_limit() {
        let lua = Lua::new();
        let err = pack(&[nested(&lua, MAX_DEPTH + 1)])
            .unwrap_err()
            .to_string();
        let path = format!("[1]{}", "[1]".repeat(MAX_DEPTH));
        assert_eq!(
            err,
            format!(
                "skynet.pack: tables nested deeper than 32 levels (is there a cycle?) (at {path})"
            )
        );
    }

    #[test]
    fn depth_counts_tables_used_as_keys() {
        let lua = Lua::new();
        let key = nested(&lua, MAX_DEPTH);
        let t = lua.create_table().unwrap();
        t.raw_set(key, true).unwrap();
        let err = pack(&[Value::Table(t)]).unwrap_err().to_string();
        assert!(err.contains("deeper than 32"), "{err}");
        assert!(err.contains("(at [1][<table key>][1]"), "{err}");
    }

    #[test]
    fn a_cycle_is_caught_by_the_depth_limit() {
        let lua = Lua::new();
        let err = pack_err(&lua, "local t = {} t.self = t return t");
        let path = format!("[1]{}", ".self".repeat(MAX_DEPTH));
        assert!(
            err.starts_with("skynet.pack: tables nested deeper than 32"),
            "{err}"
        );
        assert!(err.ends_with(&format!("(at {path})")), "{err}");
    }

    #[test]
    fn unsupported_values_are_named_with_their_path() {
        let lua = Lua::new();
        assert_eq!(
            pack_err(&lua, "return 1, {handlers = {on_open = function() end}}"),
            "skynet.pack: cannot pack a function (at [2].handlers.on_open)"
        );
        assert_eq!(
            pack_err(&lua, "return print"),
            "skynet.pack: cannot pack a function (at [1])"
        );
        assert_eq!(
            pack_err(&lua, "return {1, 2, {coroutine.create(print)}}"),
            "skynet.pack: cannot pack a thread (at [1][3][1])"
        );
        assert_eq!(
            pack_err(
                &lua,
                "return {['a key'] = {[true] = {[2.5] = {['end'] = print}}}}"
            ),
            "skynet.pack: cannot pack a function (at [1][\"a key\"][true][2.5][\"end\"])"
        );
        assert_eq!(
            pack_err(&lua, "return {['\\0\\255\"'] = print}"),
            "skynet.pack: cannot pack a function (at [1][\"\\x00\\xff\\\"\"])"
        );
        assert_eq!(
            pack_err(&lua, "return {x = {[print] = 1}}"),
            "skynet.pack: cannot pack a function as a table key (at [1].x)"
        );
        assert_eq!(
            pack_err(&lua, "return {[{f = print}] = 1}"),
            "skynet.pack: cannot pack a function (at [1][<table key>].f)"
        );
    }

    #[test]
    fn userdata_and_light_userdata_are_unsupported() {
        let lua = Lua::new();
        struct Thing;
        impl mlua::UserData for Thing {}
        let ud = Value::UserData(lua.create_userdata(Thing).unwrap());
        let t = lua.create_table().unwrap();
        t.raw_set("ud", ud.clone()).unwrap();
        assert_eq!(
            pack(&[Value::Table(t)]).unwrap_err().to_string(),
            "skynet.pack: cannot pack a userdata (at [1].ud)"
        );
        let light = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
        assert_eq!(
            pack(&[Value::Nil, light]).unwrap_err().to_string(),
            "skynet.pack: cannot pack a light userdata (at [2])"
        );
    }

    #[test]
    fn long_string_keys_are_shortened_in_paths() {
        let lua = Lua::new();
        let err = pack_err(&lua, "return {[string.rep('k', 100) .. ' '] = print}");
        assert_eq!(
            err,
            format!(
                "skynet.pack: cannot pack a function (at [1][\"{}...\"])",
                "k".repeat(40)
            )
        );
    }

    /// One value exercising every tag, varint widths and nesting.
    fn sample(lua: &Lua) -> Value {
        lua_value(
            lua,
            r#"{
                1, 200, -3, math.mininteger, 0.5, -0.0, true, false,
                "short", string.rep("long", 20),
                {nested = {1, 2, {x = "y"}}}, [{k = 1}] = 2,
                [3.25] = "float key", [false] = {}, [-7] = 1e300,
            }"#,
        )
    }

    #[test]
    fn every_truncation_of_a_value_is_an_error() {
        let lua = Lua::new();
        let bytes = pack(&[sample(&lua)]).unwrap();
        assert!(unpack(&lua, &bytes).is_ok());
        for len in 1..bytes.len() {
            let err = unpack(&lua, &bytes[..len]).expect_err("a strict prefix");
            assert!(
                err.to_string().starts_with("skynet.unpack: "),
                "prefix {len}: {err}"
            );
        }
    }

    #[test]
    fn malformed_input_gives_clear_errors() {
        assert_eq!(
            unpack_err(&[0x07]),
            "skynet.unpack: invalid type tag 0x07 at offset 0"
        );
        assert_eq!(
            unpack_err(&[0x81, 0x3f]),
            "skynet.unpack: invalid type tag 0x3f at offset 1"
        );
        assert_eq!(
            unpack_err(&[TAG_FLOAT, 0, 0]),
            "skynet.unpack: truncated input: a float at offset 0 needs 8 more byte(s), 2 left"
        );
        assert_eq!(
            unpack_err(&[0x45, b'a']),
            "skynet.unpack: truncated input: a string at offset 0 needs 5 more byte(s), 1 left"
        );
        assert_eq!(
            unpack_err(&[TAG_TABLE, 1, 0]),
            "skynet.unpack: truncated input: a table at offset 0 needs 1 more byte(s), 0 left"
        );
        // An 11-byte varint, and a 10-byte one above u64::MAX.
        let mut overlong = vec![TAG_INTEGER];
        overlong.extend_from_slice(&[0x80; 10]);
        overlong.push(0);
        assert_eq!(
            unpack_err(&overlong),
            "skynet.unpack: malformed varint at offset 1"
        );
        let mut too_big = vec![TAG_INTEGER];
        too_big.extend_from_slice(&[0xff; 9]);
        too_big.push(0x02);
        assert_eq!(
            unpack_err(&too_big),
            "skynet.unpack: malformed varint at offset 1"
        );
        assert_eq!(
            unpack_err(&[TAG_TABLE, 0, 1, TAG_NIL, 0x81]),
            "skynet.unpack: invalid table key (nil) at offset 3"
        );
        let mut nan_key = vec![TAG_TABLE, 0, 1, TAG_FLOAT];
        nan_key.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        nan_key.push(0x81);
        assert_eq!(
            unpack_err(&nan_key),
            "skynet.unpack: invalid table key (NaN) at offset 3"
        );
    }

    #[test]
    fn bogus_lengths_are_rejected_before_allocating() {
        // A string claiming u64::MAX bytes, and tables claiming billions of
        // entries, in a few bytes of input.
        let mut huge_string = vec![TAG_STRING];
        put_varint(&mut huge_string, u64::MAX);
        huge_string.extend_from_slice(b"abc");
        let err = unpack_err(&huge_string);
        assert!(
            err.contains("a string at offset 0 needs 18446744073709551615"),
            "{err}"
        );

        let mut huge_table = vec![TAG_TABLE];
        put_varint(&mut huge_table, 1 << 40);
        put_varint(&mut huge_table, 0);
        assert!(unpack_err(&huge_table).contains("a table at offset 0 needs 1099511627776"));

        let mut huge_hash = vec![TAG_TABLE, 0];
        put_varint(&mut huge_hash, u64::MAX);
        huge_hash.extend_from_slice(&[0x81; 16]);
        let err = unpack_err(&huge_hash);
        assert!(err.contains(&format!("needs {}", u64::MAX)), "{err}");
    }

    #[test]
    fn deeply_nested_input_is_rejected_at_the_limit() {
        let lua = Lua::new();
        let encode = |levels: usize| {
            let mut bytes = [TAG_TABLE, 1, 0].repeat(levels - 1);
            bytes.extend_from_slice(&[TAG_TABLE, 0, 0]);
            bytes
        };
        assert!(unpack(&lua, &encode(MAX_DEPTH)).is_ok());
        let over = encode(MAX_DEPTH + 1);
        assert_eq!(
            unpack_err(&over),
            format!(
                "skynet.unpack: tables nested deeper than 32 levels at offset {}",
                3 * MAX_DEPTH
            )
        );
        // A million levels must not overflow the stack either.
        assert!(unpack(&lua, &encode(1_000_000)).is_err());
    }

    #[test]
    fn non_canonical_encodings_are_accepted() {
        let lua = Lua::new();
        // 5 as a zigzag varint with a redundant continuation byte, and "ab"
        // under the long string tag.
        let values = unpack(&lua, &[TAG_INTEGER, 0x8a, 0x00, TAG_STRING, 2, b'a', b'b']).unwrap();
        assert_eq!(int(&values[0]), 5);
        let Value::String(s) = &values[1] else {
            panic!()
        };
        assert_eq!(s.as_bytes().as_ref(), b"ab");
    }

    #[test]
    fn garbage_of_every_short_shape_never_panics() {
        let lua = Lua::new();
        // Every 1- and 2-byte input, and 3-byte inputs around the table tag.
        for a in 0..=255u8 {
            let _ = unpack(&lua, &[a]);
            for b in 0..=255u8 {
                let _ = unpack(&lua, &[a, b]);
                let _ = unpack(&lua, &[TAG_TABLE, a, b]);
            }
        }
    }

    fn lua_with_register() -> Lua {
        let lua = Lua::new();
        let t = register(&lua).unwrap();
        lua.globals().set("c", t).unwrap();
        lua
    }

    #[test]
    fn lua_functions_round_trip_values() {
        let lua = lua_with_register();
        lua.load(
            r##"
            local msg, sz = c.pack(1, nil, "two", {3, x = {4.5}}, nil)
            assert(type(msg) == "string" and sz == #msg)
            local n = select("#", c.unpack(msg, sz))
            assert(n == 5, n)
            local a, b, s, t, e = c.unpack(msg)
            assert(a == 1 and b == nil and s == "two" and t[1] == 3 and t.x[1] == 4.5 and e == nil)
            assert(select("#", c.unpack(c.pack())) == 0)
            assert(select("#", c.unpack("")) == 0)
            -- sz selects a prefix, as skynet.unpack(msg, sz) does.
            local two = c.pack(7, 8)
            assert(select("#", c.unpack(two, 1)) == 1 and c.unpack(two, 1) == 7)
            assert(select("#", c.unpack(two, 0)) == 0)
            "##,
        )
        .exec()
        .unwrap();
    }

    #[test]
    fn lua_errors_are_plain_strings_naming_the_function() {
        let lua = lua_with_register();
        let errors: Vec<String> = lua
            .load(
                r#"
                local errs = {}
                local function try(...)
                    local ok, err = pcall(...)
                    assert(not ok, "expected an error")
                    assert(type(err) == "string", type(err))
                    errs[#errs + 1] = err
                end
                try(c.pack, 1, {handlers = {on_open = function() end}})
                local t = {} t.t = t
                try(c.pack, t)
                try(c.unpack, "\7")
                try(c.unpack, {})
                try(c.unpack)
                try(c.unpack, "abc", 4)
                try(c.unpack, "abc", -1)
                try(c.unpack, "abc", "x")
                try(c.unpack, string.rep("\0", 100001))
                return errs
                "#,
            )
            .eval()
            .unwrap();
        let expected = [
            "skynet.pack: cannot pack a function (at [2].handlers.on_open)",
            "skynet.pack: tables nested deeper than 32 levels",
            "skynet.unpack: invalid type tag 0x07 at offset 0",
            "skynet.unpack: bad argument #1 (string expected, got table)",
            "skynet.unpack: bad argument #1 (string expected, got no value)",
            "skynet.unpack: bad argument #2 (size 4 out of range 0..=3)",
            "skynet.unpack: bad argument #2 (size -1 out of range 0..=3)",
            "skynet.unpack: bad argument #2 (integer expected, got string)",
            "skynet.unpack: too many values (100001, at most 100000)",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:?}");
        for (got, want) in errors.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn lua_unpack_returns_up_to_the_result_limit() {
        let lua = lua_with_register();
        let n: usize = lua
            .load("return select('#', c.unpack(string.rep('\\0', 100000)))")
            .eval()
            .unwrap();
        assert_eq!(n, MAX_LUA_RESULTS);
    }

    #[test]
    fn memory_limit_errors_name_the_function() {
        let lua = Lua::new();
        let big = Value::String(lua.create_string(vec![b'x'; 1 << 20]).unwrap());
        // `big` stays alive, so the garbage collector cannot make room.
        let bytes = pack(std::slice::from_ref(&big)).unwrap();
        lua.set_memory_limit(lua.used_memory() + (256 << 10))
            .unwrap();
        let err = unpack(&lua, &bytes).unwrap_err().to_string();
        assert!(err.starts_with("skynet.unpack: "), "{err}");
        assert!(err.contains("memory"), "{err}");
    }

    /// A Lua value built in Rust, for property tests.
    #[derive(Debug, Clone)]
    enum Gen {
        Nil,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(Vec<u8>),
        /// Array values (a `Nil` makes a hole) and then hash pairs (a `Nil` or
        /// NaN key is skipped; a later key overwrites an earlier one).
        Table(Vec<Gen>, Vec<(Gen, Gen)>),
    }

    impl Gen {
        fn to_lua(&self, lua: &Lua) -> Value {
            match self {
                Gen::Nil => Value::Nil,
                Gen::Bool(b) => Value::Boolean(*b),
                Gen::Int(i) => Value::Integer(*i),
                Gen::Float(f) => Value::Number(*f),
                Gen::Str(s) => Value::String(lua.create_string(s).unwrap()),
                Gen::Table(array, hash) => {
                    let t = lua.create_table().unwrap();
                    for (i, v) in array.iter().enumerate() {
                        t.raw_set(i as i64 + 1, v.to_lua(lua)).unwrap();
                    }
                    for (k, v) in hash {
                        match k {
                            Gen::Nil => {}
                            Gen::Float(f) if f.is_nan() => {}
                            _ => t.raw_set(k.to_lua(lua), v.to_lua(lua)).unwrap(),
                        }
                    }
                    Value::Table(t)
                }
            }
        }
    }

    fn scalar() -> impl Strategy<Value = Gen> {
        prop_oneof![
            Just(Gen::Nil),
            any::<bool>().prop_map(Gen::Bool),
            any::<i64>().prop_map(Gen::Int),
            (-200i64..200).prop_map(Gen::Int),
            prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0)].prop_map(Gen::Int),
            any::<f64>().prop_map(Gen::Float),
            prop_oneof![Just(-0.0), Just(f64::NAN), Just(f64::INFINITY), Just(2.0)]
                .prop_map(Gen::Float),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Gen::Str),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Gen::Str),
            "[a-z_]{1,6}".prop_map(|s| Gen::Str(s.into_bytes())),
        ]
    }

    fn value() -> impl Strategy<Value = Gen> {
        scalar().prop_recursive(6, 200, 12, |inner| {
            let key = prop_oneof![4 => scalar(), 1 => inner.clone()];
            (
                proptest::collection::vec(inner.clone(), 0..12),
                proptest::collection::vec((key, inner), 0..12),
            )
                .prop_map(|(array, hash)| Gen::Table(array, hash))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn pack_then_unpack_gives_deep_equal_values(values in proptest::collection::vec(value(), 0..4)) {
            let lua = Lua::new();
            let values: Vec<Value> = values.iter().map(|g| g.to_lua(&lua)).collect();
            let bytes = pack(&values).unwrap();
            let other = Lua::new();
            let back = unpack(&other, &bytes).unwrap();
            prop_assert_eq!(back.len(), values.len());
            for (a, b) in values.iter().zip(back.iter()) {
                prop_assert!(deep_eq(a, b), "{:?} came back as {:?}", a, b);
            }
        }

        #[test]
        fn strict_prefixes_of_one_value_are_errors(v in value(), cut in any::<prop::sample::Index>()) {
            let lua = Lua::new();
            let bytes = pack(&[v.to_lua(&lua)]).unwrap();
            if bytes.len() > 1 {
                let len = 1 + cut.index(bytes.len() - 1);
                prop_assert!(unpack(&lua, &bytes[..len]).is_err());
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let lua = Lua::new();
            let _ = unpack(&lua, &data);
        }

        #[test]
        fn corrupted_encodings_never_panic(
            v in value(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let lua = Lua::new();
            let mut bytes = pack(&[v.to_lua(&lua)]).unwrap();
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Err(e) = unpack(&lua, &bytes) {
                prop_assert!(e.to_string().starts_with("skynet.unpack: "));
            }
        }
    }
}
