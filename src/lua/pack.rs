//! `skynet.pack` / `skynet.unpack`: Lua values to bytes and back, in Rust.
//!
//! [`pack`] turns a sequence of Lua values (the varargs of `skynet.pack(...)`)
//! into one byte string; [`unpack`] turns that string back into the same
//! values in any Lua state. [`register`] builds the Lua-facing table the
//! `skynet` library uses: two Lua C functions that read their arguments from
//! the Lua stack and push their results onto it, with no mlua value on the way.
//! [`pack`] and [`unpack`] run the same encoder and decoder, through
//! [`Lua::exec_raw`]. Everything here runs on the thread of the service that
//! calls it; nothing is shared between Lua states.
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
//! rejects varints longer than 10 bytes or above `u64::MAX`. Values are
//! decoded onto a Lua stack, so at most [`MAX_LUA_RESULTS`] of them are
//! returned.
//!
//! # Errors raised to Lua
//! The Lua functions raise plain strings, without a position prefix, that
//! start with `skynet.pack: ` or `skynet.unpack: ` (the [`PackError`] message).
//! The one exception is running out of memory (the service's `memlimit`) while
//! the result is built: that is Lua's own memory error, `not enough memory`, as
//! for any allocation made by Lua code. The Rust functions report it as
//! [`PackError::Lua`].
//!
//! # Implementation and safety
//! A Lua error is a `longjmp` (the vendored Lua is C). It must never skip a
//! Rust frame holding a value with a destructor, nor a `catch_unwind` (frames
//! it skips must be "plain old frames"); and a Rust panic must never unwind
//! into Lua's C frames. The code is split along that line:
//!
//! - The **encoder** (`Encoder`) only *reads* Lua: `lua_type`, `lua_to*` on
//!   values of the matching type (so `lua_tolstring` never converts a number in
//!   place), `lua_rawgeti`, `lua_next` on a table it never writes, `lua_settop`
//!   / `lua_pushnil` to drop and seed stack slots, and `lua_checkstack`, which
//!   returns false instead of raising. None of these allocate Lua memory or
//!   raise, so the encoder may own a `Vec` (its output, once larger than a
//!   buffer on the Rust stack) and `String`s (error paths), and it runs inside
//!   `catch_unwind`.
//! - Strings that Rust owns reach Lua through `push_bytes_protected`: a
//!   `lua_pcall` of a tiny C function that calls `lua_pushlstring`. A memory
//!   error there stops at that `lua_pcall`, skipping only the tiny function's
//!   frame; the owner is dropped afterwards, and only then is the error (or
//!   the message) raised with `lua_error`, from a frame holding plain data.
//! - The **decoder** (`Decoder`) creates Lua values, so any of its calls may
//!   raise a memory error. Its state is plain data (`Copy` types: a slice, an
//!   offset, a depth), it reports malformed input as a `Copy` enum
//!   (`DecodeFail`) turned into a message only after it has returned, and it
//!   cannot panic: no indexing, no unchecked arithmetic, no `unwrap` (enforced
//!   by the clippy lints on it), so it runs without `catch_unwind`.
//! - Each C function finishes with raising calls only from a frame whose live
//!   values are plain data: `lua_pack` pushes a result held in a stack array,
//!   and errors go through `raise`.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_int, c_void};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, MultiValue, Table, Value};

/// The deepest table nesting [`pack`] and [`unpack`] accept: a table at the top
/// level is at depth 1, a table inside it at depth 2, and so on (skynet's limit).
pub const MAX_DEPTH: usize = 32;

/// The most values [`unpack`] (and [`register`]'s `unpack`) returns at once;
/// more would not fit on a Lua stack.
pub const MAX_LUA_RESULTS: usize = 100_000;

pub(crate) const TAG_NIL: u8 = 0x00;
pub(crate) const TAG_FALSE: u8 = 0x01;
pub(crate) const TAG_TRUE: u8 = 0x02;
pub(crate) const TAG_INTEGER: u8 = 0x03;
pub(crate) const TAG_FLOAT: u8 = 0x04;
pub(crate) const TAG_STRING: u8 = 0x05;
pub(crate) const TAG_TABLE: u8 = 0x06;
pub(crate) const TAG_SHORT_STRING: u8 = 0x40;
pub(crate) const TAG_SHORT_STRING_LAST: u8 = 0x5f;
pub(crate) const TAG_SMALL_INTEGER: u8 = 0x80;
pub(crate) const SHORT_STRING_MAX: usize = 31;
pub(crate) const SMALL_INTEGER_MAX: i64 = 127;
pub(crate) const VARINT_MAX_BYTES: usize = 10;

/// Packed output up to this many bytes stays in an array on the Rust stack and
/// is pushed from there; longer output moves to a `Vec`.
const INLINE_OUT: usize = 256;

/// Raised if a Rust panic is caught (a bug).
const PACK_PANIC: &[u8] = b"skynet.pack: internal error (a Rust panic)";
const UNPACK_PANIC: &[u8] = b"skynet.unpack: internal error (a Rust panic)";

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
    /// More values than a Lua function can return.
    #[error("skynet.unpack: too many values ({count}, at most {limit})")]
    TooManyValues {
        /// How many values the input holds.
        count: usize,
        /// The limit, [`MAX_LUA_RESULTS`].
        limit: usize,
    },
    /// The Lua stack could not grow (Lua's stack limit, or the memory limit).
    #[error("{function}: cannot grow the Lua stack")]
    StackOverflow {
        /// `"skynet.pack"` or `"skynet.unpack"`.
        function: &'static str,
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

/// Packs `values` (the arguments of `skynet.pack(...)`, values of `lua`) into
/// bytes.
///
/// Each value is encoded in turn as described in the [module docs](self).
/// Tables are read raw, without metamethods.
///
/// # Errors
/// [`PackError::Unsupported`] / [`PackError::UnsupportedKey`] for a function,
/// userdata, light userdata or thread anywhere inside, [`PackError::TooDeep`]
/// for tables nested deeper than [`MAX_DEPTH`] (or a cycle),
/// [`PackError::StackOverflow`] if the Lua stack cannot hold the traversal, and
/// [`PackError::Lua`] if `lua` cannot take the values as arguments.
pub fn pack(lua: &Lua, values: &[Value]) -> Result<Vec<u8>, PackError> {
    let mut packed: Option<std::thread::Result<Result<Vec<u8>, PackError>>> = None;
    let args = MultiValue::from_iter(values.iter().cloned());
    // SAFETY: `exec_raw` pushes `args` and runs the closure inside mlua's
    // protected call, with the values at stack slots 1..=n of the closure's
    // frame (the same layout as the arguments of a C function). The encoder
    // only reads Lua and never raises (module docs), so no longjmp can skip
    // the `Vec`/`String`s built in the closure; a panic is caught there and
    // resumed below, outside Lua's frames. `lua_settop(l, 0)` only drops the
    // arguments (no to-be-closed slots in this frame).
    let called = unsafe {
        lua.exec_raw::<()>(args, |l| {
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut inline = [0; INLINE_OUT];
                let mut out = Out::new(&mut inline);
                encode_stack(l, &mut out).map(|()| out.into_vec())
            }));
            ffi::lua_settop(l, 0);
            packed = Some(result);
        })
    };
    called.map_err(|source| PackError::Lua {
        function: "skynet.pack",
        source,
    })?;
    match packed.expect("exec_raw ran the closure") {
        Ok(result) => result,
        Err(payload) => std::panic::resume_unwind(payload),
    }
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
/// found; [`PackError::TooManyValues`] for more than [`MAX_LUA_RESULTS`]
/// values; [`PackError::StackOverflow`] or [`PackError::Lua`] if `lua` fails to
/// make room for or to create a value (e.g. its memory limit is reached).
pub fn unpack(lua: &Lua, data: &[u8]) -> Result<MultiValue, PackError> {
    let mut failure: Option<DecodeFail> = None;
    // SAFETY: the closure runs inside mlua's protected call (`exec_raw`), in a
    // frame with no arguments; the values it pushes are its results. The
    // decoder may raise a memory error: the longjmp then ends at that protected
    // call, skipping the decoder's frames (plain data only, module docs), the
    // closure's (it captures `&[u8]` and `&mut Option<DecodeFail>`, both
    // without destructors) and mlua's trampoline, which holds nothing else once
    // it has called the closure. The decoder cannot panic (module docs).
    let values = unsafe {
        lua.exec_raw::<MultiValue>((), |l| {
            if let Err(fail) = decode_stack(l, data) {
                ffi::lua_settop(l, 0);
                failure = Some(fail);
            }
        })
    };
    if let Some(fail) = failure {
        return Err(fail.into());
    }
    values.map_err(|source| PackError::Lua {
        function: "skynet.unpack",
        source,
    })
}

/// Builds the native table behind `skynet.pack` / `skynet.unpack`:
///
/// - `pack(...)` returns the packed string and its length. The length makes
///   skynet's idiom `local msg, sz = skynet.pack(...)` work unchanged; a string
///   is all `unpack` needs.
/// - `unpack(msg [, sz])` returns the values packed in the string `msg`, or in
///   its first `sz` bytes when `sz` is given (skynet's `unpack(msg, sz)`).
///
/// Both are Lua C functions and raise plain string errors starting with
/// `skynet.pack: ` or `skynet.unpack: ` (the [`PackError`] message), without a
/// position prefix, except for memory errors (see the [module docs](self)).
/// `unpack` refuses to return more than [`MAX_LUA_RESULTS`] values.
///
/// # Errors
/// Fails only if the Lua state cannot create the table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(0, 2)?;
    // SAFETY: `lua_pack` and `lua_unpack` follow the C function protocol: they
    // use only their own stack frame, check stack space before pushing beyond
    // the LUA_MINSTACK slots a C function starts with, return the number of
    // results they pushed, never let a panic unwind out, and raise Lua errors
    // only from frames without destructors (module docs).
    let (pack_fn, unpack_fn) = unsafe {
        (
            lua.create_c_function(lua_pack)?,
            lua.create_c_function(lua_unpack)?,
        )
    };
    table.raw_set("pack", pack_fn)?;
    table.raw_set("unpack", unpack_fn)?;
    Ok(table)
}

/// What [`pack_to_stack`] left for `lua_pack` to do.
#[derive(Clone, Copy)]
enum PackOutcome {
    /// Push the first `len` bytes of the stack array and their length.
    Inline(usize),
    /// The string and its length are on the stack: return them.
    Pushed,
    /// Raise the error on top of the stack.
    Raise,
    /// A panic was caught: raise [`PACK_PANIC`].
    Panicked,
}

/// `skynet.pack(...)`: the packed string and its length.
///
/// # Safety
/// Called by Lua as a C function.
unsafe extern "C-unwind" fn lua_pack(l: *mut lua_State) -> c_int {
    let mut inline = [0u8; INLINE_OUT];
    // SAFETY: `l` is the state running this C function. `pack_to_stack` never
    // raises a Lua error (it reads Lua through the encoder and pushes only
    // through `push_bytes_protected`), so nothing longjmps over
    // `catch_unwind`. A caught panic's payload is leaked rather than dropped:
    // its destructor could panic again, outside any guard.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
        pack_to_stack(l, &mut inline)
    }))
    .unwrap_or_else(|payload| {
        std::mem::forget(payload);
        PackOutcome::Panicked
    });
    // From here on the live values are `inline` (a byte array), `outcome` and
    // `l`: plain data, so a Lua error may longjmp over this frame.
    let len = match outcome {
        PackOutcome::Inline(len) => len,
        PackOutcome::Pushed => return 2,
        // SAFETY: `pack_to_stack` left the error object on top; plain data
        // only in this frame (above).
        PackOutcome::Raise => unsafe { ffi::lua_error(l) },
        // SAFETY: plain data only in this frame (above).
        PackOutcome::Panicked => unsafe { raise_bytes(l, PACK_PANIC) },
    };
    let Some(bytes) = inline.get(..len) else {
        // `Out` keeps `len <= INLINE_OUT`: cannot happen.
        // SAFETY: plain data only in this frame (above).
        unsafe { raise_bytes(l, PACK_PANIC) }
    };
    // SAFETY: `lua_settop(l, 0)` drops the arguments (this frame has no
    // to-be-closed slots), leaving at least LUA_MINSTACK free slots for the
    // two pushes. `lua_pushlstring` copies `bytes`; the memory error it may
    // raise skips plain data only.
    unsafe {
        ffi::lua_settop(l, 0);
        ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
        ffi::lua_pushinteger(l, len as ffi::lua_Integer);
    }
    2
}

/// Packs the values on `l`'s stack (the arguments of `skynet.pack`). Small
/// output is left in `inline` ([`PackOutcome::Inline`]); larger output is
/// pushed with its length ([`PackOutcome::Pushed`]); an error leaves its
/// message on the stack ([`PackOutcome::Raise`]).
///
/// Never raises a Lua error: it may run inside `catch_unwind`.
///
/// # Safety
/// `l` is the state running `lua_pack`, with the arguments as its frame.
unsafe fn pack_to_stack(l: *mut lua_State, inline: &mut [u8; INLINE_OUT]) -> PackOutcome {
    let mut out = Out::new(inline);
    // SAFETY: per this function's contract; see `encode_stack`.
    let encoded = unsafe { encode_stack(l, &mut out) };
    if let Err(error) = encoded {
        let message = error.to_string();
        // SAFETY: the error's path has been rendered, so the stack can go
        // (no to-be-closed slots), leaving LUA_MINSTACK free slots;
        // `push_bytes_protected` never raises.
        unsafe {
            ffi::lua_settop(l, 0);
            push_bytes_protected(l, message.as_bytes());
        }
        return PackOutcome::Raise;
    }
    match out.finish() {
        Finished::Inline(len) => PackOutcome::Inline(len),
        Finished::Heap(bytes) => {
            // SAFETY: as above; `lua_pushinteger` does not allocate and has a
            // free slot (the protected push used one of LUA_MINSTACK).
            unsafe {
                ffi::lua_settop(l, 0);
                if !push_bytes_protected(l, &bytes) {
                    return PackOutcome::Raise;
                }
                ffi::lua_pushinteger(l, bytes.len() as ffi::lua_Integer);
            }
            PackOutcome::Pushed
        }
    }
}

/// `skynet.unpack(msg [, sz])`: the values packed in `msg` (or in its first
/// `sz` bytes).
///
/// # Safety
/// Called by Lua as a C function.
#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]
unsafe extern "C-unwind" fn lua_unpack(l: *mut lua_State) -> c_int {
    // Not guarded by `catch_unwind` (the decoder raises memory errors, which
    // must not longjmp over one): everything below is panic-free. All live
    // values are plain data: `data` borrows the string in argument slot 1,
    // which stays on the stack (so alive and unmoved) until the decoder is
    // done.
    // SAFETY: `l` is the state running this C function.
    let data = match unsafe { unpack_args(l) } {
        Ok(data) => data,
        // SAFETY: plain data only in this frame.
        Err(bad) => unsafe { raise(l, UNPACK_PANIC, move || bad.to_string()) },
    };
    // SAFETY: see `decode_stack`; `data` stays valid (above).
    match unsafe { decode_stack(l, data) } {
        Ok(count) => count,
        // SAFETY: plain data only in this frame.
        Err(fail) => unsafe { raise(l, UNPACK_PANIC, move || PackError::from(fail).to_string()) },
    }
}

/// A bad argument to `skynet.unpack`.
#[derive(Clone, Copy)]
enum BadArgument {
    /// `msg` is not a string; the type found.
    Message(&'static str),
    /// `sz` is an integer out of `0..=len`.
    Size { size: ffi::lua_Integer, len: usize },
    /// `sz` is neither nil nor an integer; the type found.
    SizeType(&'static str),
}

impl std::fmt::Display for BadArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Message(got) => write!(
                f,
                "skynet.unpack: bad argument #1 (string expected, got {got})"
            ),
            Self::Size { size, len } => write!(
                f,
                "skynet.unpack: bad argument #2 (size {size} out of range 0..={len})"
            ),
            Self::SizeType(got) => write!(
                f,
                "skynet.unpack: bad argument #2 (integer expected, got {got})"
            ),
        }
    }
}

/// Checks `unpack`'s arguments: the bytes to decode, borrowed from the string
/// in slot 1 (valid while that slot is untouched).
///
/// # Safety
/// `l` is the state running `lua_unpack`.
#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]
unsafe fn unpack_args<'a>(l: *mut lua_State) -> Result<&'a [u8], BadArgument> {
    // SAFETY: slots 1 and 2 are valid indices (or "none") in a C function.
    // `lua_tolstring` runs on a string only (no conversion, no allocation) and
    // returns a pointer to its `len` bytes, which Lua keeps alive and unmoved
    // while the string is in slot 1. `lua_isinteger` / `lua_tointegerx` on a
    // number neither allocate nor raise.
    unsafe {
        if ffi::lua_type(l, 1) != ffi::LUA_TSTRING {
            return Err(BadArgument::Message(type_name(l, 1)));
        }
        let mut len = 0;
        let ptr = ffi::lua_tolstring(l, 1, &mut len);
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
        match ffi::lua_type(l, 2) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => Ok(bytes),
            ffi::LUA_TNUMBER if ffi::lua_isinteger(l, 2) != 0 => {
                let size = ffi::lua_tointegerx(l, 2, ptr::null_mut());
                usize::try_from(size)
                    .ok()
                    .and_then(|size| bytes.get(..size))
                    .ok_or(BadArgument::Size { size, len })
            }
            _ => Err(BadArgument::SizeType(type_name(l, 2))),
        }
    }
}

/// The name of the value at `idx`, as mlua's `Value::type_name` gives it
/// (`"integer"` and `"number"` apart), or `"no value"`.
///
/// # Safety
/// `idx` is a valid or acceptable index of `l`.
unsafe fn type_name(l: *mut lua_State, idx: c_int) -> &'static str {
    // SAFETY: per the contract; neither call allocates or raises.
    match unsafe { ffi::lua_type(l, idx) } {
        ffi::LUA_TNONE => "no value",
        ffi::LUA_TNIL => "nil",
        ffi::LUA_TBOOLEAN => "boolean",
        ffi::LUA_TLIGHTUSERDATA => "lightuserdata",
        // SAFETY: as above.
        ffi::LUA_TNUMBER if unsafe { ffi::lua_isinteger(l, idx) } != 0 => "integer",
        ffi::LUA_TNUMBER => "number",
        ffi::LUA_TSTRING => "string",
        ffi::LUA_TTABLE => "table",
        ffi::LUA_TFUNCTION => "function",
        ffi::LUA_TUSERDATA => "userdata",
        ffi::LUA_TTHREAD => "thread",
        _ => "other",
    }
}

/// Raises the message `message` builds as a Lua error (a plain string).
///
/// The message is built and pushed in `catch_unwind`, through
/// [`push_bytes_protected`], and dropped before `lua_error`: the longjmp skips
/// this frame and the caller's with nothing to destroy. If building it panics,
/// `panic_message` is raised instead. A memory error while pushing the message
/// is raised in its place.
///
/// # Safety
/// `l` is the state running a C function, whose stack slots are no longer
/// needed, and the caller holds no value with a destructor.
#[cold]
#[inline(never)]
unsafe fn raise(
    l: *mut lua_State,
    panic_message: &'static [u8],
    message: impl FnOnce() -> String,
) -> ! {
    // SAFETY: per the contract: dropping the frame's slots (no to-be-closed
    // ones) leaves LUA_MINSTACK free slots for `push_bytes_protected`, which
    // never raises, so nothing longjmps over `catch_unwind`.
    unsafe { ffi::lua_settop(l, 0) };
    let pushed = catch_unwind(AssertUnwindSafe(|| {
        let text = message();
        // SAFETY: as above.
        unsafe { push_bytes_protected(l, text.as_bytes()) };
    }))
    .map_or_else(
        |payload| {
            // Leaked, not dropped: its destructor could panic outside a guard.
            std::mem::forget(payload);
            false
        },
        |()| true,
    );
    if !pushed {
        // SAFETY: per the contract; only plain data is live here.
        unsafe { raise_bytes(l, panic_message) }
    }
    // SAFETY: the message (or the memory error that stopped its push) is on
    // top; only plain data is live here.
    unsafe { ffi::lua_error(l) }
}

/// Raises the constant `message` as a Lua error.
///
/// # Safety
/// As for [`raise`].
#[cold]
unsafe fn raise_bytes(l: *mut lua_State, message: &'static [u8]) -> ! {
    // SAFETY: per the contract: the frame's slots can go (no to-be-closed
    // ones), leaving a free slot; a memory error from `lua_pushlstring` and the
    // error itself skip plain data only.
    unsafe {
        ffi::lua_settop(l, 0);
        ffi::lua_pushlstring(l, message.as_ptr().cast(), message.len());
        ffi::lua_error(l)
    }
}

/// Pushes a Lua string copy of `bytes` without ever raising: the push runs in
/// a `lua_pcall`. Returns `true` with the string on top, or `false` with the
/// error that stopped it (a memory error) on top.
///
/// # Safety
/// `l` is a running state with at least 2 free stack slots.
#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]
unsafe fn push_bytes_protected(l: *mut lua_State, bytes: &[u8]) -> bool {
    /// Pushes the bytes described by the light userdata in slot 1, a
    /// `*const &[u8]`.
    unsafe extern "C-unwind" fn push(l: *mut lua_State) -> c_int {
        // SAFETY: called only by the `lua_pcall` below, with slot 1 holding a
        // pointer to the `&[u8]` borrowed for that call. Its frame holds only
        // that copied reference: a memory error from `lua_pushlstring` (which
        // has one of LUA_MINSTACK slots) ends at the `lua_pcall`, skipping
        // nothing with a destructor.
        unsafe {
            let bytes = *ffi::lua_touserdata(l, 1).cast::<&[u8]>();
            ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
        }
        1
    }
    // SAFETY: per the contract, the two pushes have room, and neither
    // allocates (a light C function and a light userdata). `lua_pcall` does not
    // raise: every error in the call, including "C stack overflow", becomes its
    // status, with the error object as its one result. The pointer to `bytes`
    // lives on this frame for the whole call.
    unsafe {
        ffi::lua_pushcfunction(l, push);
        ffi::lua_pushlightuserdata(l, ptr::from_ref(&bytes).cast_mut().cast::<c_void>());
        ffi::lua_pcall(l, 1, 1, 0) == ffi::LUA_OK
    }
}

// ---------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------

/// Packed output: in a borrowed array on the Rust stack while it fits, in a
/// `Vec` after that.
struct Out<'b> {
    inline: &'b mut [u8; INLINE_OUT],
    /// Bytes used in `inline`, while not `spilled`.
    len: usize,
    /// All the bytes, once `spilled`.
    heap: Vec<u8>,
    spilled: bool,
}

/// What [`Out::finish`] returns.
enum Finished {
    /// The output is the first `len` bytes of the array.
    Inline(usize),
    /// The output.
    Heap(Vec<u8>),
}

impl<'b> Out<'b> {
    fn new(inline: &'b mut [u8; INLINE_OUT]) -> Self {
        Out {
            inline,
            len: 0,
            heap: Vec::new(),
            spilled: false,
        }
    }

    fn len(&self) -> usize {
        if self.spilled {
            self.heap.len()
        } else {
            self.len
        }
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        if !self.spilled && self.len < INLINE_OUT {
            self.inline[self.len] = byte;
            self.len += 1;
        } else {
            self.put(&[byte]);
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if !self.spilled {
            if let Some(to) = self.inline.get_mut(self.len..self.len + bytes.len()) {
                to.copy_from_slice(bytes);
                self.len += bytes.len();
                return;
            }
            self.spill(bytes.len());
        }
        self.heap.extend_from_slice(bytes);
    }

    /// Moves the output to `heap`, with room for `more` bytes.
    #[cold]
    fn spill(&mut self, more: usize) {
        let mut heap = Vec::with_capacity((self.len + more).max(4 * INLINE_OUT));
        heap.extend_from_slice(&self.inline[..self.len]);
        self.heap = heap;
        self.spilled = true;
    }

    fn put_varint(&mut self, v: u64) {
        let (bytes, n) = varint(v);
        self.put(&bytes[..n]);
    }

    /// Writes `count` as a varint into the one-byte slot at `at`, widening the
    /// slot if needed; returns the varint's length.
    #[inline]
    fn patch_count(&mut self, at: usize, count: u64) -> usize {
        if count < 0x80 {
            let slot = if self.spilled {
                &mut self.heap[at]
            } else {
                &mut self.inline[at]
            };
            *slot = count as u8;
            return 1;
        }
        self.widen_count(at, count)
    }

    /// [`Out::patch_count`] for a count of 128 or more.
    #[cold]
    fn widen_count(&mut self, at: usize, count: u64) -> usize {
        let (bytes, n) = varint(count);
        let bytes = &bytes[..n];
        if !self.spilled && self.len + n - 1 <= INLINE_OUT {
            self.inline.copy_within(at + 1..self.len, at + n);
            self.inline[at..at + n].copy_from_slice(bytes);
            self.len += n - 1;
        } else {
            if !self.spilled {
                self.spill(n);
            }
            self.heap.splice(at..at + 1, bytes.iter().copied());
        }
        n
    }

    fn finish(self) -> Finished {
        if self.spilled {
            Finished::Heap(self.heap)
        } else {
            Finished::Inline(self.len)
        }
    }

    fn into_vec(self) -> Vec<u8> {
        if self.spilled {
            self.heap
        } else {
            self.inline[..self.len].to_vec()
        }
    }
}

/// A step of the path to a value that could not be packed.
#[derive(Clone, Copy)]
enum Seg {
    /// `[i]`: an argument or an array-part value.
    Index(i64),
    /// The key at this absolute stack slot (kept there until the error has
    /// been rendered): `.name`, `["a b"]`, `[2.5]`, `[<table key>]`, ...
    Key(c_int),
}

/// Why the encoder stopped (its path is in [`Encoder::path`]).
#[derive(Clone, Copy)]
enum EncodeFail {
    Unsupported(&'static str),
    UnsupportedKey(&'static str),
    TooDeep,
    NoStack,
}

/// The encoder: appends the encodings of values on the Lua stack to `out`.
///
/// It only reads Lua (module docs) and never raises a Lua error. On failure it
/// returns at once, leaving the stack as it was at the failure, so that the
/// keys named in `path` are still in their slots when the error is rendered.
struct Encoder<'o, 'b> {
    l: *mut lua_State,
    out: &'o mut Out<'b>,
    /// On failure: the path to the failing value, innermost step first.
    path: Vec<Seg>,
}

/// Encodes every value on `l`'s stack into `out`, as the arguments of
/// `skynet.pack`. Never raises a Lua error.
///
/// # Safety
/// `l` is a running state on this thread whose current frame holds the values
/// (a C function's arguments). Only reads Lua, so it is sound even inside
/// `catch_unwind` or with values that have destructors alive.
unsafe fn encode_stack(l: *mut lua_State, out: &mut Out) -> Result<(), PackError> {
    // SAFETY: per the contract.
    let nargs = unsafe { ffi::lua_gettop(l) };
    let mut encoder = Encoder {
        l,
        out,
        path: Vec::new(),
    };
    for arg in 1..=nargs {
        // SAFETY: `arg` is a valid slot of the frame.
        if let Err(fail) = unsafe { encoder.value(arg, 0) } {
            encoder.path.push(Seg::Index(arg.into()));
            // SAFETY: the failure left the stack as the path expects.
            return Err(unsafe { encoder.error(fail) });
        }
    }
    Ok(())
}

impl Encoder<'_, '_> {
    /// Packs the value at absolute slot `idx`, found inside a table at `depth`
    /// (0 at the top level).
    ///
    /// # Safety
    /// `idx` is a valid absolute slot of the current frame.
    unsafe fn value(&mut self, idx: c_int, depth: usize) -> Result<(), EncodeFail> {
        // SAFETY: per the contract; `lua_type` only reads.
        unsafe { self.typed_value(idx, ffi::lua_type(self.l, idx), depth) }
    }

    /// [`Encoder::value`] for a value whose `lua_type` is `ty`.
    ///
    /// # Safety
    /// `idx` is a valid absolute slot of the current frame, of type `ty`.
    #[inline]
    unsafe fn typed_value(
        &mut self,
        idx: c_int,
        ty: c_int,
        depth: usize,
    ) -> Result<(), EncodeFail> {
        let l = self.l;
        // SAFETY: per the contract. None of these calls allocates or raises:
        // each `lua_to*` runs on a value of its own type (`lua_tolstring` on a
        // string only, so nothing is converted in place), and the string's
        // bytes stay valid while it is in slot `idx`, that is, during `string`.
        unsafe {
            match ty {
                ffi::LUA_TNIL => self.out.push(TAG_NIL),
                ffi::LUA_TBOOLEAN => self.out.push(if ffi::lua_toboolean(l, idx) != 0 {
                    TAG_TRUE
                } else {
                    TAG_FALSE
                }),
                ffi::LUA_TNUMBER => {
                    if ffi::lua_isinteger(l, idx) != 0 {
                        self.integer(ffi::lua_tointegerx(l, idx, ptr::null_mut()));
                    } else {
                        let n = ffi::lua_tonumberx(l, idx, ptr::null_mut());
                        self.out.push(TAG_FLOAT);
                        self.out.put(&n.to_bits().to_le_bytes());
                    }
                }
                ffi::LUA_TSTRING => {
                    let mut len = 0;
                    let ptr = ffi::lua_tolstring(l, idx, &mut len);
                    self.string(std::slice::from_raw_parts(ptr.cast(), len));
                }
                ffi::LUA_TTABLE => return self.table(idx, depth + 1),
                other => return Err(EncodeFail::Unsupported(unsupported(other))),
            }
        }
        Ok(())
    }

    fn integer(&mut self, i: i64) {
        if (0..=SMALL_INTEGER_MAX).contains(&i) {
            self.out.push(TAG_SMALL_INTEGER | i as u8);
        } else {
            self.out.push(TAG_INTEGER);
            self.out.put_varint(zigzag(i));
        }
    }

    fn string(&mut self, bytes: &[u8]) {
        if bytes.len() <= SHORT_STRING_MAX {
            self.out.push(TAG_SHORT_STRING | bytes.len() as u8);
        } else {
            self.out.push(TAG_STRING);
            self.out.put_varint(bytes.len() as u64);
        }
        self.out.put(bytes);
    }

    /// Packs the table at absolute slot `idx`, at `depth` (1 for a table at
    /// the top level).
    ///
    /// The two counts are not known until the parts have been written, so each
    /// gets a one-byte slot that is patched afterwards, and widened (moving the
    /// bytes after it) only for parts of 128 entries or more.
    ///
    /// # Safety
    /// `idx` is a valid absolute slot of the current frame holding a table.
    unsafe fn table(&mut self, idx: c_int, depth: usize) -> Result<(), EncodeFail> {
        let l = self.l;
        if depth > MAX_DEPTH {
            return Err(EncodeFail::TooDeep);
        }
        // SAFETY: `lua_checkstack` reports failure instead of raising (it
        // neither raises for a stack overflow nor for a failed allocation).
        // On success the two slots it guarantees cover this level's pushes:
        // one array value, or a key and its value.
        if unsafe { ffi::lua_checkstack(l, 2) } == 0 {
            return Err(EncodeFail::NoStack);
        }
        self.out.push(TAG_TABLE);
        let narr_at = self.out.len();
        self.out.put(&[0, 0]);

        // SAFETY: `lua_gettop` reads the frame.
        let slot = unsafe { ffi::lua_gettop(l) } + 1;
        let mut narr: i64 = 0;
        // SAFETY: `lua_rawgeti` pushes `t[narr + 1]` into `slot` without
        // metamethods, allocation or errors (room checked above); each value
        // is popped (`lua_pop` of a plain slot runs nothing) after it has been
        // packed, and on failure it stays for the error's path.
        unsafe {
            loop {
                let ty = ffi::lua_rawgeti(l, idx, narr + 1);
                if ty == ffi::LUA_TNIL {
                    break;
                }
                narr += 1;
                if let Err(fail) = self.typed_value(slot, ty, depth) {
                    self.path.push(Seg::Index(narr));
                    return Err(fail);
                }
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pop(l, 1);
        }
        let nhash_at = narr_at + self.out.patch_count(narr_at, narr as u64);

        let mut nhash: u64 = 0;
        // SAFETY: a standard `lua_next` traversal of a table nothing writes to
        // (the encoder never writes to Lua, and it allocates nothing, so no
        // garbage collector or finalizer runs meanwhile): each key passed
        // back is the one `lua_next` returned, so it raises no "invalid key to
        // 'next'", and it neither allocates nor calls metamethods. The key is
        // in `slot` and its value in `slot + 1` (room checked above); the
        // value is popped after packing, the key by the last `lua_next`. On
        // failure both stay for the error's path.
        unsafe {
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, idx) != 0 {
                if ffi::lua_isinteger(l, slot) != 0 {
                    let key = ffi::lua_tointegerx(l, slot, ptr::null_mut());
                    if (1..=narr).contains(&key) {
                        ffi::lua_pop(l, 1);
                        continue;
                    }
                }
                nhash += 1;
                let ty = ffi::lua_type(l, slot);
                match ty {
                    ffi::LUA_TBOOLEAN | ffi::LUA_TNUMBER | ffi::LUA_TSTRING | ffi::LUA_TTABLE => {}
                    other => return Err(EncodeFail::UnsupportedKey(unsupported(other))),
                }
                if let Err(fail) = self.typed_value(slot, ty, depth) {
                    self.path.push(Seg::Key(slot));
                    return Err(fail);
                }
                if let Err(fail) = self.value(slot + 1, depth) {
                    self.path.push(Seg::Key(slot));
                    return Err(fail);
                }
                ffi::lua_pop(l, 1);
            }
        }
        self.out.patch_count(nhash_at, nhash);
        Ok(())
    }

    /// The error for `fail`, with its path rendered.
    ///
    /// # Safety
    /// The stack is as the failure left it (the keys in `path` in their slots).
    unsafe fn error(&self, fail: EncodeFail) -> PackError {
        let mut path = String::new();
        for seg in self.path.iter().rev() {
            match *seg {
                Seg::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
                // SAFETY: per the contract.
                Seg::Key(slot) => unsafe { key_segment(self.l, slot, &mut path) },
            }
        }
        match fail {
            EncodeFail::Unsupported(what) => PackError::Unsupported { what, path },
            EncodeFail::UnsupportedKey(what) => PackError::UnsupportedKey { what, path },
            EncodeFail::TooDeep => PackError::TooDeep {
                limit: MAX_DEPTH,
                path,
            },
            EncodeFail::NoStack => PackError::StackOverflow {
                function: "skynet.pack",
            },
        }
    }
}

/// Appends the path segment for the table key in `slot`: `.name` for
/// identifiers, `[3]`, `["a b"]`, `[true]`, `[<table key>]`, and so on.
///
/// # Safety
/// `slot` is a valid slot of `l`'s current frame.
unsafe fn key_segment(l: *mut lua_State, slot: c_int, path: &mut String) {
    // SAFETY: per the contract; reads only, each `lua_to*` on a value of its
    // own type (no conversion, no allocation, no error), and the string's
    // bytes are used while it is in `slot`.
    unsafe {
        let _ = match ffi::lua_type(l, slot) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let ptr = ffi::lua_tolstring(l, slot, &mut len);
                let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
                match std::str::from_utf8(bytes) {
                    Ok(name) if is_identifier(name) => write!(path, ".{name}"),
                    _ => {
                        const SHOWN: usize = 40;
                        let more = if bytes.len() > SHOWN { "..." } else { "" };
                        let shown = &bytes[..bytes.len().min(SHOWN)];
                        write!(path, "[\"{}{more}\"]", shown.escape_ascii())
                    }
                }
            }
            ffi::LUA_TNUMBER if ffi::lua_isinteger(l, slot) != 0 => {
                write!(path, "[{}]", ffi::lua_tointegerx(l, slot, ptr::null_mut()))
            }
            ffi::LUA_TNUMBER => {
                write!(path, "[{:?}]", ffi::lua_tonumberx(l, slot, ptr::null_mut()))
            }
            ffi::LUA_TBOOLEAN => write!(path, "[{}]", ffi::lua_toboolean(l, slot) != 0),
            ffi::LUA_TTABLE => write!(path, "[<table key>]"),
            _ => write!(path, "[?]"),
        };
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
fn unsupported(lua_type: c_int) -> &'static str {
    match lua_type {
        ffi::LUA_TFUNCTION => "a function",
        ffi::LUA_TTHREAD => "a thread",
        ffi::LUA_TUSERDATA => "a userdata",
        ffi::LUA_TLIGHTUSERDATA => "a light userdata",
        _ => "a value of an unknown type",
    }
}

/// `v` as an unsigned LEB128 varint: the bytes and how many are used.
pub(crate) fn varint(mut v: u64) -> ([u8; VARINT_MAX_BYTES], usize) {
    let mut bytes = [0; VARINT_MAX_BYTES];
    let mut n = 0;
    while v >= 0x80 {
        bytes[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    (bytes, n + 1)
}

pub(crate) fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ ((u & 1) as i64).wrapping_neg()
}

// ---------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------

/// Why the decoder stopped: plain data, so nothing needs dropping when a Lua
/// error longjmps over a frame holding one. Becomes a [`PackError`].
#[derive(Clone, Copy)]
enum DecodeFail {
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        remaining: usize,
    },
    InvalidTag {
        tag: u8,
        offset: usize,
    },
    InvalidVarint {
        offset: usize,
    },
    InvalidKey {
        what: &'static str,
        offset: usize,
    },
    TooDeep {
        offset: usize,
    },
    TooMany {
        count: usize,
    },
    NoStack,
}

impl From<DecodeFail> for PackError {
    fn from(fail: DecodeFail) -> Self {
        match fail {
            DecodeFail::Truncated {
                what,
                offset,
                needed,
                remaining,
            } => PackError::Truncated {
                what,
                offset,
                needed,
                remaining,
            },
            DecodeFail::InvalidTag { tag, offset } => PackError::InvalidTag { tag, offset },
            DecodeFail::InvalidVarint { offset } => PackError::InvalidVarint { offset },
            DecodeFail::InvalidKey { what, offset } => PackError::InvalidKey { what, offset },
            DecodeFail::TooDeep { offset } => PackError::TooDeepInput {
                limit: MAX_DEPTH,
                offset,
            },
            DecodeFail::TooMany { count } => PackError::TooManyValues {
                count,
                limit: MAX_LUA_RESULTS,
            },
            DecodeFail::NoStack => PackError::StackOverflow {
                function: "skynet.unpack",
            },
        }
    }
}

/// A cursor over packed bytes: the reading half of the format, shared by the
/// decoder here and the one of [`crate::value`]. Plain data (`Copy`), and it
/// cannot panic (the lints on its `impl`): safe to hold across a Lua error.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    /// The offset of the next byte to read.
    pub(crate) pos: usize,
}

/// Why a [`Reader`] stopped.
#[derive(Clone, Copy)]
pub(crate) enum ReadFail {
    /// The item `what`, starting at `offset`, needs more bytes than are left.
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        remaining: usize,
    },
    /// A varint longer than 10 bytes, or above `u64::MAX`, at `offset`.
    InvalidVarint { offset: usize },
}

impl From<ReadFail> for DecodeFail {
    fn from(fail: ReadFail) -> Self {
        match fail {
            ReadFail::Truncated {
                what,
                offset,
                needed,
                remaining,
            } => DecodeFail::Truncated {
                what,
                offset,
                needed,
                remaining,
            },
            ReadFail::InvalidVarint { offset } => DecodeFail::InvalidVarint { offset },
        }
    }
}

#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]
impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Takes the next byte of the item `what` that starts at `start`.
    pub(crate) fn byte(&mut self, what: &'static str, start: usize) -> Result<u8, ReadFail> {
        match self.data.get(self.pos) {
            Some(&byte) => {
                // Cannot wrap: `pos < data.len()`.
                self.pos = self.pos.wrapping_add(1);
                Ok(byte)
            }
            None => Err(ReadFail::Truncated {
                what,
                offset: start,
                needed: 1,
                remaining: 0,
            }),
        }
    }

    /// Takes the next `n` bytes of the item `what` that starts at `start`.
    pub(crate) fn take(
        &mut self,
        n: u64,
        what: &'static str,
        start: usize,
    ) -> Result<&'a [u8], ReadFail> {
        let data: &'a [u8] = self.data;
        let pos = self.pos;
        let bytes = usize::try_from(n)
            .ok()
            .and_then(|n| data.get(pos..pos.checked_add(n)?));
        match bytes {
            Some(bytes) => {
                // Cannot wrap: the bytes are inside `data`.
                self.pos = pos.wrapping_add(bytes.len());
                Ok(bytes)
            }
            None => Err(ReadFail::Truncated {
                what,
                offset: start,
                needed: n,
                remaining: self.remaining(),
            }),
        }
    }

    /// Takes a varint of the item `what` that starts at `start`.
    pub(crate) fn varint(&mut self, what: &'static str, start: usize) -> Result<u64, ReadFail> {
        let varint_at = self.pos;
        let mut v: u64 = 0;
        let mut shift: u32 = 0;
        for i in 0..VARINT_MAX_BYTES {
            let byte = self.byte(what, start)?;
            if i == VARINT_MAX_BYTES - 1 && byte > 1 {
                return Err(ReadFail::InvalidVarint { offset: varint_at });
            }
            // `shift` is at most 63 here.
            v |= u64::from(byte & 0x7f).wrapping_shl(shift);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
            shift = shift.wrapping_add(7);
        }
        Err(ReadFail::InvalidVarint { offset: varint_at })
    }
}

/// What the decoder pushed, as far as a table key cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pushed {
    Nil,
    NaN,
    Other,
}

/// Decodes every value in `data` onto `l`'s stack; returns how many were
/// pushed. Past [`MAX_LUA_RESULTS`] values, each further one is decoded (so
/// that malformed input is still reported as such) and popped, and the count
/// is an error.
///
/// May raise a Lua memory error; never panics.
///
/// # Safety
/// `l` is a running state on this thread. `data` stays valid during the call
/// (Lua allocations may run the garbage collector: it must not point into an
/// object that is not anchored). The caller holds no value with a destructor
/// and is not inside `catch_unwind`.
#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]
unsafe fn decode_stack(l: *mut lua_State, data: &[u8]) -> Result<c_int, DecodeFail> {
    let mut decoder = Decoder {
        l,
        input: Reader::new(data),
    };
    let mut count: usize = 0;
    while !decoder.input.is_done() {
        // SAFETY: `lua_checkstack` does not raise; on success the slot it
        // guarantees is the one `value` pushes into.
        if unsafe { ffi::lua_checkstack(l, 1) } == 0 {
            return Err(DecodeFail::NoStack);
        }
        // SAFETY: per the contract, with room for one value.
        unsafe { decoder.value(0)? };
        count = count.saturating_add(1);
        if count > MAX_LUA_RESULTS {
            // SAFETY: drops the value just pushed (a plain slot).
            unsafe { ffi::lua_pop(l, 1) };
        }
    }
    c_int::try_from(count)
        .ok()
        .filter(|_| count <= MAX_LUA_RESULTS)
        .ok_or(DecodeFail::TooMany { count })
}

/// The decoder: reads values from `input` and pushes them onto the stack of
/// `l`. `Copy`, like everything it holds, so that it has no
/// destructor for a Lua error to skip; it cannot panic (the lints on its
/// `impl` forbid indexing, unchecked arithmetic and unwrapping).
#[derive(Clone, Copy)]
struct Decoder<'a> {
    l: *mut lua_State,
    input: Reader<'a>,
}

#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]
impl<'a> Decoder<'a> {
    /// Reads one value found inside a table at `depth` (0 at the top level)
    /// and pushes it.
    ///
    /// # Safety
    /// As for [`decode_stack`], with room on the stack for one value.
    unsafe fn value(&mut self, depth: usize) -> Result<Pushed, DecodeFail> {
        let l = self.l;
        let start = self.input.pos;
        let tag = self.input.byte("a value", start)?;
        // SAFETY: per the contract, each arm pushes one value into the slot
        // the caller made room for. Only `string` and `table` allocate, and may
        // raise a memory error (the caller accepts it).
        unsafe {
            match tag {
                TAG_NIL => {
                    ffi::lua_pushnil(l);
                    return Ok(Pushed::Nil);
                }
                TAG_FALSE => ffi::lua_pushboolean(l, 0),
                TAG_TRUE => ffi::lua_pushboolean(l, 1),
                TAG_INTEGER => {
                    let v = self.input.varint("an integer", start)?;
                    ffi::lua_pushinteger(l, unzigzag(v));
                }
                TAG_FLOAT => {
                    let bytes = self.input.take(8, "a float", start)?;
                    let bits = <[u8; 8]>::try_from(bytes).map_or(0, u64::from_le_bytes);
                    let n = f64::from_bits(bits);
                    ffi::lua_pushnumber(l, n);
                    if n.is_nan() {
                        return Ok(Pushed::NaN);
                    }
                }
                TAG_STRING => {
                    let len = self.input.varint("a string", start)?;
                    self.string(len, start)?;
                }
                TAG_SHORT_STRING..=TAG_SHORT_STRING_LAST => {
                    self.string(u64::from(tag & 0x1f), start)?;
                }
                TAG_TABLE => self.table(depth.saturating_add(1), start)?,
                TAG_SMALL_INTEGER..=u8::MAX => ffi::lua_pushinteger(l, i64::from(tag & 0x7f)),
                _ => return Err(DecodeFail::InvalidTag { tag, offset: start }),
            }
        }
        Ok(Pushed::Other)
    }

    /// # Safety
    /// As for [`Decoder::value`].
    unsafe fn string(&mut self, len: u64, start: usize) -> Result<(), DecodeFail> {
        let bytes = self.input.take(len, "a string", start)?;
        // SAFETY: per the contract; `lua_pushlstring` copies the bytes and may
        // raise a memory error.
        unsafe { ffi::lua_pushlstring(self.l, bytes.as_ptr().cast(), bytes.len()) };
        Ok(())
    }

    /// Reads the rest of a table at `depth` whose tag was at `start`, and
    /// pushes it.
    ///
    /// # Safety
    /// As for [`Decoder::value`].
    unsafe fn table(&mut self, depth: usize, start: usize) -> Result<(), DecodeFail> {
        let l = self.l;
        if depth > MAX_DEPTH {
            return Err(DecodeFail::TooDeep { offset: start });
        }
        let narr = self.input.varint("a table", start)?;
        let nhash = self.input.varint("a table", start)?;
        // Every array value takes at least one byte, every pair at least two.
        let needed = nhash.saturating_mul(2).saturating_add(narr);
        let remaining = self.input.remaining();
        if needed > remaining as u64 {
            return Err(DecodeFail::Truncated {
                what: "a table",
                offset: start,
                needed,
                remaining,
            });
        }
        // SAFETY: `lua_checkstack` does not raise; on success its three slots
        // hold the table, a key and a value (a nested table makes its own
        // room). `lua_createtable` may raise a memory error (or "table
        // overflow" for sizes Lua cannot hold; the sizes are bounded by the
        // input's length, and saturated to `c_int`). The array values are set
        // with `lua_rawseti` (a `nil` is popped instead: it would leave no
        // entry), the pairs with `lua_rawset` after the key has been checked
        // (never nil or NaN, so the only error is a memory error). The table
        // is new and has no metatable.
        unsafe {
            if ffi::lua_checkstack(l, 3) == 0 {
                return Err(DecodeFail::NoStack);
            }
            ffi::lua_createtable(
                l,
                c_int::try_from(narr).unwrap_or(c_int::MAX),
                c_int::try_from(nhash).unwrap_or(c_int::MAX),
            );
            let mut i: ffi::lua_Integer = 0;
            for _ in 0..narr {
                // Cannot wrap: `narr` is at most `data.len()`.
                i = i.wrapping_add(1);
                if self.value(depth)? == Pushed::Nil {
                    ffi::lua_pop(l, 1);
                } else {
                    ffi::lua_rawseti(l, -2, i);
                }
            }
            for _ in 0..nhash {
                let key_at = self.input.pos;
                let invalid = match self.value(depth)? {
                    Pushed::Nil => "nil",
                    Pushed::NaN => "NaN",
                    Pushed::Other => "",
                };
                if !invalid.is_empty() {
                    return Err(DecodeFail::InvalidKey {
                        what: invalid,
                        offset: key_at,
                    });
                }
                self.value(depth)?;
                ffi::lua_rawset(l, -3);
            }
        }
        Ok(())
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
        let bytes = pack(lua, std::slice::from_ref(value)).expect("pack");
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
        pack(lua, &values).expect_err(code).to_string()
    }

    /// Appends `v` as a varint, for hand-made inputs.
    fn put_varint(out: &mut Vec<u8>, v: u64) {
        let (bytes, n) = varint(v);
        out.extend_from_slice(&bytes[..n]);
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
            pack(
                &lua,
                &[Value::Nil, Value::Boolean(false), Value::Boolean(true)]
            )
            .unwrap(),
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
        let lua = Lua::new();
        let size = |i: i64| pack(&lua, &[Value::Integer(i)]).unwrap().len();
        assert_eq!(pack(&lua, &[Value::Integer(5)]).unwrap(), [0x85]);
        assert_eq!(size(0), 1);
        assert_eq!(size(127), 1);
        assert_eq!(size(128), 3);
        assert_eq!(size(-1), 2);
        assert_eq!(size(-64), 2);
        assert_eq!(size(i64::MAX), 11);
        assert_eq!(size(i64::MIN), 11);
        assert_eq!(
            pack(&lua, &[Value::Integer(-1)]).unwrap(),
            [TAG_INTEGER, 0x01]
        );
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
            pack(&lua, &[Value::String(lua.create_string("").unwrap())]).unwrap(),
            [TAG_SHORT_STRING]
        );
    }

    #[test]
    fn strings_longer_than_64_kib_round_trip() {
        let lua = Lua::new();
        for len in [65_535, 65_536, 65_537, 1 << 20, (1 << 20) + 3] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let v = Value::String(lua.create_string(&bytes).unwrap());
            let packed = pack(&lua, std::slice::from_ref(&v)).unwrap();
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
            pack(&lua, &[v]).unwrap(),
            [TAG_TABLE, 2, 1, 0x81, 0x82, 0x84, 0x84]
        );
    }

    #[test]
    fn documented_example_encoding() {
        let lua = Lua::new();
        let v = lua_value(&lua, "{10, 20, x = true}");
        assert_eq!(
            pack(&lua, &[v]).unwrap(),
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
        let bytes = pack(&lua, &values).unwrap();
        let back = unpack(&lua, &bytes).unwrap();
        assert_eq!(back.len(), 4);
        for (a, b) in values.iter().zip(back.iter()) {
            assert!(deep_eq(a, b));
        }
        assert!(pack(&lua, &[]).unwrap().is_empty());
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
        let err = pack(&lua, &[nested(&lua, MAX_DEPTH + 1)])
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
        let err = pack(&lua, &[Value::Table(t)]).unwrap_err().to_string();
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
            pack(&lua, &[Value::Table(t)]).unwrap_err().to_string(),
            "skynet.pack: cannot pack a userdata (at [1].ud)"
        );
        let light = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
        assert_eq!(
            pack(&lua, &[Value::Nil, light]).unwrap_err().to_string(),
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
        let bytes = pack(&lua, &[sample(&lua)]).unwrap();
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
        let bytes = pack(&lua, std::slice::from_ref(&big)).unwrap();
        lua.set_memory_limit(lua.used_memory() + (256 << 10))
            .unwrap();
        let err = unpack(&lua, &bytes).unwrap_err().to_string();
        assert!(err.starts_with("skynet.unpack: "), "{err}");
        assert!(err.contains("memory"), "{err}");
    }

    #[test]
    fn lua_unpack_argument_errors_are_exact() {
        let lua = lua_with_register();
        let errors: Vec<String> = lua
            .load(
                r#"
                local errs = {}
                local function try(...)
                    local ok, err = pcall(c.unpack, ...)
                    assert(not ok, "expected an error")
                    errs[#errs + 1] = err
                end
                try(nil) try() try(5) try(1.5) try(true) try(print) try(coroutine.create(print))
                try("abc", 1.0) try("abc", true) try("abc", {})
                try("abc", math.maxinteger) try("abc", math.mininteger)
                return errs
                "#,
            )
            .eval()
            .unwrap();
        let expected = [
            "skynet.unpack: bad argument #1 (string expected, got nil)",
            "skynet.unpack: bad argument #1 (string expected, got no value)",
            "skynet.unpack: bad argument #1 (string expected, got integer)",
            "skynet.unpack: bad argument #1 (string expected, got number)",
            "skynet.unpack: bad argument #1 (string expected, got boolean)",
            "skynet.unpack: bad argument #1 (string expected, got function)",
            "skynet.unpack: bad argument #1 (string expected, got thread)",
            "skynet.unpack: bad argument #2 (integer expected, got number)",
            "skynet.unpack: bad argument #2 (integer expected, got boolean)",
            "skynet.unpack: bad argument #2 (integer expected, got table)",
            "skynet.unpack: bad argument #2 (size 9223372036854775807 out of range 0..=3)",
            "skynet.unpack: bad argument #2 (size -9223372036854775808 out of range 0..=3)",
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn lua_errors_are_exact_and_match_the_rust_errors() {
        let lua = lua_with_register();
        let errors: Vec<String> = lua
            .load(
                r#"
                local errs = {}
                local function try(f, ...)
                    local ok, err = pcall(f, ...)
                    assert(not ok, "expected an error")
                    errs[#errs + 1] = err
                end
                try(c.pack, 1, {handlers = {on_open = print}})
                -- Output already past the stack buffer when the error is found.
                try(c.pack, {string.rep("x", 1000), {y = print}})
                try(c.pack, {[print] = 1})
                try(c.pack, nil, {[{[{}] = {io.stdout}}] = 1})
                local t = {} t[1] = t
                try(c.pack, t)
                try(c.unpack, "\6\255\255\255\255\15\0")
                try(c.unpack, "\6\0\255\255\255\255\255\255\255\255\255\1")
                try(c.unpack, "\5\255\255\255\255\255\255\255\255\255\1abc")
                try(c.unpack, "\3\255\255\255\255\255\255\255\255\255\2")
                try(c.unpack, "\6\0\1\0\129")
                try(c.unpack, string.rep("\0", 100001))
                try(c.unpack, string.rep("\0", 200000))
                -- Malformed input past the result limit is reported as such.
                try(c.unpack, string.rep("\0", 100001) .. "\7")
                return errs
                "#,
            )
            .eval()
            .unwrap();
        let expected = [
            "skynet.pack: cannot pack a function (at [2].handlers.on_open)".to_string(),
            "skynet.pack: cannot pack a function (at [1][2].y)".to_string(),
            "skynet.pack: cannot pack a function as a table key (at [1])".to_string(),
            "skynet.pack: cannot pack a userdata (at [2][<table key>][<table key>][1])".to_string(),
            format!(
                "skynet.pack: tables nested deeper than 32 levels (is there a cycle?) (at [1]{})",
                "[1]".repeat(MAX_DEPTH)
            ),
            "skynet.unpack: truncated input: a table at offset 0 needs 4294967295 more byte(s), \
             0 left"
                .to_string(),
            "skynet.unpack: truncated input: a table at offset 0 needs 18446744073709551615 more \
             byte(s), 0 left"
                .to_string(),
            "skynet.unpack: truncated input: a string at offset 0 needs 18446744073709551615 \
             more byte(s), 3 left"
                .to_string(),
            "skynet.unpack: malformed varint at offset 1".to_string(),
            "skynet.unpack: invalid table key (nil) at offset 3".to_string(),
            "skynet.unpack: too many values (100001, at most 100000)".to_string(),
            "skynet.unpack: too many values (200000, at most 100000)".to_string(),
            "skynet.unpack: invalid type tag 0x07 at offset 100001".to_string(),
        ];
        assert_eq!(errors, expected);
        // The Rust functions give the same messages.
        assert_eq!(
            pack_err(&lua, "return 1, {handlers = {on_open = print}}"),
            expected[0]
        );
        assert_eq!(
            pack_err(&lua, "return {string.rep('x', 1000), {y = print}}"),
            expected[1]
        );
        assert_eq!(unpack_err(b"\x06\x00\x01\x00\x81"), expected[9]);
        assert_eq!(unpack_err(&vec![0; 200_000]), expected[11]);
    }

    #[test]
    fn lua_and_rust_pack_agree_around_the_stack_buffer() {
        // Outputs from a few bytes to a few times the stack buffer, with table
        // counts widened before, across and after the output moves to the heap.
        let lua = lua_with_register();
        let make: mlua::Function = lua
            .load(
                r#"
                return function(prefix, n)
                    local t = {}
                    for i = 1, n do t[i] = i % 100 end
                    for i = 1, n do t["k" .. i] = true end
                    return string.rep("p", prefix), t, -1
                end
                "#,
            )
            .eval()
            .unwrap();
        let lua_pack: mlua::Function = lua.load("return c.pack").eval().unwrap();
        for n in [0, 1, 127, 128, 129, 200] {
            for prefix in 0..=2 * INLINE_OUT + 40 {
                let values: MultiValue = make.call((prefix, n)).unwrap();
                let values: Vec<Value> = values.into_iter().collect();
                let bytes = pack(&lua, &values).unwrap();
                let (s, len): (mlua::String, usize) =
                    lua_pack.call(MultiValue::from_vec(values.clone())).unwrap();
                assert_eq!(s.as_bytes().as_ref(), &bytes[..], "{prefix} {n}");
                assert_eq!(len, bytes.len());
                let back = unpack(&lua, &bytes).unwrap();
                assert_eq!(back.len(), 3);
                for (a, b) in values.iter().zip(back.iter()) {
                    assert!(deep_eq(a, b), "{prefix} {n}");
                }
            }
        }
    }

    #[test]
    fn many_arguments_and_deep_tables_fit_on_the_stack() {
        let lua = lua_with_register();
        lua.load(
            r#"
            local function nest(levels)
                local t = {}
                for _ = 2, levels do t = {t, k = {}} end
                return t
            end
            local args = {}
            for i = 1, 5000 do args[i] = nest(32) end
            local msg = c.pack(table.unpack(args))
            local back = table.pack(c.unpack(msg))
            assert(back.n == 5000)
            local depth, t = 0, back[5000]
            while t do depth, t = depth + 1, t[1] end
            assert(depth == 32, depth)
            "#,
        )
        .exec()
        .unwrap();
    }

    #[test]
    fn random_input_to_the_lua_unpack_gives_plain_errors() {
        let lua = lua_with_register();
        lua.load(
            r#"
            math.randomseed(42)
            local seeds = { c.pack({1, "two", {3.5, x = {y = true}}, [false] = -7}) }
            for _ = 1, 20000 do
                local bytes = {}
                if math.random() < 0.5 then
                    for i = 1, math.random(0, 24) do bytes[i] = string.char(math.random(0, 255)) end
                else
                    local s = seeds[1]
                    for i = 1, #s do bytes[i] = s:sub(i, i) end
                    for _ = 1, math.random(1, 3) do
                        bytes[math.random(1, #s)] = string.char(math.random(0, 255))
                    end
                end
                local ok, err = pcall(c.unpack, table.concat(bytes))
                assert(ok or (type(err) == "string" and err:find("^skynet%.unpack: ")), err)
            end
            "#,
        )
        .exec()
        .unwrap();
    }

    /// Runs the probe `which` (a Lua function returning what its `pcall` of
    /// `c.pack` or `c.unpack` gave, reduced to a boolean and a value) under
    /// memory limits from tight to loose. Every outcome must be a success or a
    /// plain string error, and the VM must work normally after each.
    #[test]
    fn lua_functions_under_a_tight_memory_limit_fail_cleanly_and_the_vm_lives_on() {
        let lua = lua_with_register();
        let probe: mlua::Function = lua
            .load(
                r##"
                local big = {}
                for i = 1, 200 do big[i] = {i, "v" .. i, x = i * 0.5} end
                local msg = c.pack(big, string.rep("s", 5000))
                local many = string.rep("\0", 100000)
                local bad_value = {f = print}
                local k = 1 << 40
                return function(which)
                    if which == 1 then
                        local ok, t, s = pcall(c.unpack, msg)
                        if not ok then return false, t end
                        return true, t[200][2] == "v200" and t[200].x == 100.0 and #s == 5000
                    elseif which == 2 then
                        -- Output past the stack buffer: the protected push.
                        local ok, s, sz = pcall(c.pack, big)
                        if not ok then return false, s end
                        return true, #s == sz and sz > 1000
                    elseif which == 3 then
                        -- A new short string pushed from the stack buffer.
                        k = k + 1
                        local ok, s, sz = pcall(c.pack, k)
                        if not ok then return false, s end
                        return true, sz == 7
                    elseif which == 4 then
                        local ok, n = pcall(function() return select("#", c.unpack(many)) end)
                        if not ok then return false, n end
                        return true, n == 100000
                    elseif which == 5 then
                        local ok, err = pcall(c.pack, 1, bad_value)
                        return false, err
                    else
                        local ok, err = pcall(c.unpack, "\6\0\1\0\129")
                        return false, err
                    end
                end
                "##,
            )
            .eval()
            .unwrap();
        let check: mlua::Function = lua
            .load(
                r#"
                return function()
                    local a, b, t = c.unpack(c.pack(1, "two", {3, x = {4}}))
                    return a == 1 and b == "two" and t[1] == 3 and t.x[1] == 4
                end
                "#,
            )
            .eval()
            .unwrap();
        let allowed = |which: i64| -> Vec<&'static str> {
            let mut allowed = vec!["not enough memory"];
            match which {
                4 => allowed.push("skynet.unpack: cannot grow the Lua stack"),
                5 => allowed.push("skynet.pack: cannot pack a function (at [2].f)"),
                6 => allowed.push("skynet.unpack: invalid table key (nil) at offset 3"),
                _ => {}
            }
            allowed
        };
        for which in 1..=6 {
            let (mut failed, mut succeeded, mut outside) = (0, 0, 0);
            // 100,000 results need megabytes of stack.
            let step = if which == 4 { 25_000 } else { 1_000 };
            for extra in (0..200 * step).step_by(step) {
                lua.gc_collect().unwrap();
                lua.gc_collect().unwrap();
                lua.set_memory_limit(lua.used_memory() + extra).unwrap();
                let result = probe.call::<(bool, Value)>(which);
                lua.set_memory_limit(0).unwrap();
                match result {
                    Ok((true, Value::Boolean(true))) => succeeded += 1,
                    Ok((false, Value::String(err))) => {
                        let err = err.to_str().unwrap().to_string();
                        assert!(allowed(which).contains(&err.as_str()), "{which}: {err:?}");
                        if err == "not enough memory" || err.contains("stack") {
                            failed += 1;
                        } else {
                            succeeded += 1;
                        }
                    }
                    Ok(other) => panic!("probe {which}: {other:?}"),
                    // mlua's own allocations for the call itself.
                    Err(mlua::Error::MemoryError(_)) => outside += 1,
                    Err(e) => panic!("probe {which}: {e}"),
                }
                assert!(check.call::<bool>(()).unwrap(), "probe {which}, {extra}");
            }
            assert!(
                failed > 0,
                "probe {which} never ran out of memory ({outside})"
            );
            assert!(succeeded > 0, "probe {which} never succeeded");
        }
    }

    #[test]
    fn rust_functions_under_a_tight_memory_limit_fail_cleanly_and_the_vm_lives_on() {
        let lua = Lua::new();
        let t = lua_value(
            &lua,
            "local t = {} for i = 1, 300 do t[i] = {i, tostring(i)} end return t",
        );
        let bytes = pack(&lua, std::slice::from_ref(&t)).unwrap();
        let (mut failed, mut succeeded) = (0, 0);
        for extra in (0..100_000).step_by(500) {
            lua.gc_collect().unwrap();
            lua.set_memory_limit(lua.used_memory() + extra).unwrap();
            let result = unpack(&lua, &bytes);
            lua.set_memory_limit(0).unwrap();
            match result {
                Ok(values) => {
                    succeeded += 1;
                    assert!(deep_eq(&t, &values[0]));
                }
                Err(PackError::Lua {
                    function: "skynet.unpack",
                    source: mlua::Error::MemoryError(_),
                }) => failed += 1,
                Err(e) => panic!("{extra}: {e}"),
            }
            let again = unpack(&lua, &pack(&lua, &[Value::Integer(7)]).unwrap()).unwrap();
            assert_eq!(int(&again[0]), 7);
        }
        assert!(failed > 0 && succeeded > 0, "{failed} {succeeded}");
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
            let bytes = pack(&lua, &values).unwrap();
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
            let bytes = pack(&lua, &[v.to_lua(&lua)]).unwrap();
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
            let mut bytes = pack(&lua, &[v.to_lua(&lua)]).unwrap();
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
