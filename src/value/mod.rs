//! Lua values as Rust data: [`Value`] and [`Table`], their `skynet.pack`
//! encoding ([`pack`], [`unpack`]), and serde conversions ([`to_value`],
//! [`from_value`]).
//!
//! Messages of type `lua` (ptype 10) carry `skynet.pack(...)` bytes. With this
//! module a Rust host or a Rust service reads and writes them without a Lua
//! VM: [`unpack`] the payload into values, look at them directly or turn them
//! into Rust types with [`from_value`]; build the reply from Rust types with
//! [`to_value`] (or by hand) and [`pack`] it.
//!
//! ```
//! use lunet::value::{from_value, pack, to_value, unpack, Value};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Move {
//!     player: String,
//!     to: (i32, i32),
//!     run: Option<bool>,
//! }
//!
//! // What `skynet.send(rust_service, "lua", "move", {player = "ann", to = {3, 4}})`
//! // sends, made here in Rust:
//! let m = Move { player: "ann".into(), to: (3, 4), run: None };
//! let payload = pack(&["move".into(), to_value(&m)?])?;
//!
//! // The receiving side:
//! let mut args = unpack(&payload)?.into_iter();
//! assert_eq!(args.next().as_ref().and_then(Value::as_str), Some("move"));
//! let back: Move = from_value(args.next().unwrap_or_default())?;
//! assert_eq!(back, m);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Values
//! [`Value`] has one variant per packable Lua type: `nil`, booleans, integers
//! (`i64`) and floats (`f64`) kept apart as Lua 5.4 keeps them (`math.type`),
//! byte strings ([`bytes::Bytes`]; Lua strings need not be UTF-8), and tables.
//! Functions, userdata and threads cannot be packed, so they have no variant.
//! [`Table`] holds an array part and the other pairs in insertion order; its
//! docs give the rules (Lua's, for a raw set). Values are plain owned data:
//! cloning a table copies it, and a table can never contain itself.
//!
//! Equality ([`PartialEq`]) is structural and typed: `Integer(1)` is not
//! `Number(1.0)` (Lua's `==` would say they are), NaN is not equal to itself,
//! and tables are equal when they hold the same pairs, in any order.
//!
//! # serde mapping
//! [`to_value`] turns any [`serde::Serialize`] type into a [`Value`],
//! [`from_value`] any [`serde::de::DeserializeOwned`] type out of one, and
//! [`Value`] and [`Table`] implement `Serialize` and `Deserialize`
//! themselves, so they convert to and from other formats (JSON with
//! `serde_json`, ...).
//!
//! | Rust (serde data model)                         | [`Value`]                                   |
//! |-------------------------------------------------|---------------------------------------------|
//! | `bool`                                          | `Boolean`                                   |
//! | `i8` .. `i64`, `u8` .. `u64`, `i128`, `u128`    | `Integer` (values outside `i64`: error)     |
//! | `f32`, `f64`                                    | `Number`                                    |
//! | `char`, `str`, `String`                         | `String` (UTF-8)                            |
//! | bytes (`serde_bytes`, ...)                      | `String` (any bytes)                        |
//! | `()`, unit struct, `None`                       | `Nil`                                       |
//! | `Some(x)`, newtype struct `N(x)`                | the value of `x`                            |
//! | sequence (`Vec`, arrays, sets), tuple, tuple struct | table `{x1, x2, ...}` (keys `1..n`)     |
//! | map, struct                                     | table with the keys (struct: field names)   |
//! | unit variant `E::A`                             | `String` `"A"`                              |
//! | newtype, tuple, struct variant `E::A(..)`       | table `{A = payload}`                       |
//!
//! Choices made where Lua and serde disagree:
//! - **Integers outside `i64`.** A `u64` above `i64::MAX` (or an `i128`/`u128`
//!   outside `i64`) is an error naming the value, rather than a float that
//!   silently loses precision. Lua has no bigger integer; send such values as
//!   strings.
//! - **`nil` in tables.** A table cannot hold `nil`: a struct field or map
//!   value that is `None` (or `()`) leaves no key, and reads back as `None`
//!   (a missing `Option` field is `None`). A `None` inside a sequence leaves a
//!   hole: `vec![Some(1), None, Some(3)]` is `{1, [3] = 3}` and reads back
//!   whole, but a trailing `None` is lost (`vec![Some(1), None]` reads back
//!   as `vec![Some(1)]`). `Some(None)` reads back as `None`.
//! - **A variant whose payload is `nil`** (`E::A(None)`, `E::A(())`) becomes
//!   the name alone, `"A"`, since `{A = nil}` would be an empty table; a name
//!   reads back as a newtype variant whose payload accepts `nil`, or as a
//!   tuple or struct variant whose fields all accept being absent.
//! - **Map keys** may be any value but `nil` and NaN (an error names the key):
//!   `HashMap<i32, _>` gives integer keys, and keys `1..n` form the array part.
//!
//! Reading ([`from_value`]) is lenient where the intent is clear:
//! - an `Integer` reads as a float; a `Number` with an integral value reads
//!   as an integer type (`3.0` as `3u8`); a value out of the target's range is
//!   an error naming the value and the type;
//! - a table reads as a sequence when its keys are exactly `1..n` (only an
//!   array part), and also when all its keys are positive integers up to
//!   `n` with at least half of `1..n` present (holes read as `nil`, so as
//!   `None`); a tuple of length `k` also takes a table whose keys stop before
//!   `k` (the missing tail reads as `nil`);
//! - a table reads as a map (or struct) with all its pairs, the array part's
//!   keys as integers; an empty table reads as an empty sequence and as an
//!   empty map; a table with only an array part also reads as a struct, field
//!   by field in order (as `serde_json` reads a struct from an array);
//! - struct fields match string keys; a non-string key is matched by its Lua
//!   text (`1`, `true`), so `#[serde(rename = "1")]` reads `t[1]`, and other
//!   keys are unknown fields (ignored unless `deny_unknown_fields`);
//! - a string reads as a sequence of its bytes, so a `Vec<u8>` field takes a
//!   Lua binary string; a string that is not UTF-8 is an error for `String`
//!   and `char`, but fine for bytes;
//! - an enum reads from a variant name or from a table with exactly one pair
//!   whose key is a variant name.
//!
//! Writing a [`Value`] with `Serialize` gives `Nil` as unit (JSON `null`),
//! strings as `str` when they are UTF-8 and as bytes otherwise, a table with
//! only an array part as a sequence, and any other table (the empty table
//! included, as Lua's cjson writes `{}`) as a map, array part first. Reading
//! a [`Value`] with `Deserialize` takes unit and `None` as `Nil`, sequences as
//! array tables, maps as tables (a `nil`/NaN key is an error, `null` values
//! leave no key), and integers outside `i64` as an error.
//!
//! Errors ([`ValueError`]) say what was expected and what was found, with the
//! path where: `expected a string, found integer 3 (at .players[2].name)`.
//!
//! # Limits
//! [`pack`] refuses tables nested deeper than
//! [`MAX_DEPTH`](crate::lua::pack::MAX_DEPTH), as `skynet.pack` does. Other
//! operations (clone, drop, comparison, display, serde) recurse once per
//! level of nesting, so a value built by hand thousands of levels deep can
//! overflow the stack; values from [`unpack`] are at most 32 levels deep.

mod de;
mod display;
mod error;
mod pack;
mod ser;
mod table;

use bytes::Bytes;

pub use de::from_value;
pub use error::ValueError;
pub use pack::{pack, unpack, PackError};
pub use ser::to_value;
pub use table::{IntoPairs, Pairs, Table};

/// A Lua value that `skynet.pack` can carry.
///
/// ```
/// use lunet::value::Value;
///
/// let v = Value::from("hi");
/// assert_eq!(v.type_name(), "string");
/// assert_eq!(v.as_str(), Some("hi"));
/// assert_eq!(Value::from(3).as_f64(), Some(3.0));
/// assert_eq!(v.to_string(), "\"hi\"");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// `nil`.
    #[default]
    Nil,
    /// `true` or `false`.
    Boolean(bool),
    /// An integer (`math.type(v) == "integer"`).
    Integer(i64),
    /// A float (`math.type(v) == "float"`), any `f64` including NaN, the
    /// infinities and `-0.0`.
    Number(f64),
    /// A string: any bytes, not necessarily UTF-8.
    String(Bytes),
    /// A table.
    Table(Table),
}

impl Value {
    /// The string, if this is a string holding UTF-8.
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// assert_eq!(Value::from("né").as_str(), Some("né"));
    /// assert_eq!(Value::from(vec![0xffu8]).as_str(), None);
    /// assert_eq!(Value::from(1).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    /// The bytes, if this is a string.
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// assert_eq!(Value::from(vec![0u8, 0xff]).as_bytes(), Some(&[0u8, 0xff][..]));
    /// assert_eq!(Value::Nil.as_bytes(), None);
    /// ```
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer or a float with an integral value
    /// in `i64` range (Lua's `math.tointeger`).
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// assert_eq!(Value::from(7).as_i64(), Some(7));
    /// assert_eq!(Value::from(7.0).as_i64(), Some(7));
    /// assert_eq!(Value::from(7.5).as_i64(), None);
    /// assert_eq!(Value::from("7").as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            Value::Number(n) => table::float_to_int(*n),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer or a float.
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// assert_eq!(Value::from(2).as_f64(), Some(2.0));
    /// assert_eq!(Value::from(2.5).as_f64(), Some(2.5));
    /// assert_eq!(Value::Boolean(true).as_f64(), None);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean (no Lua truthiness: `nil` is `None`).
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// assert_eq!(Value::from(false).as_bool(), Some(false));
    /// assert_eq!(Value::Nil.as_bool(), None);
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The table, if this is a table.
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// let v = Value::from(vec![Value::from(1), Value::from(2)]);
    /// assert_eq!(v.as_table().map(|t| t.len()), Some(2));
    /// assert!(Value::from(1).as_table().is_none());
    /// ```
    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The table, mutably, if this is a table.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let mut v = Value::from(Table::new());
    /// if let Some(t) = v.as_table_mut() {
    ///     t.insert("k", 1);
    /// }
    /// assert_eq!(v.to_string(), "{k = 1}");
    /// ```
    pub fn as_table_mut(&mut self) -> Option<&mut Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The table, by value, if this is a table.
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// let t = Value::from(vec![Value::from("x")]).into_table().unwrap();
    /// assert_eq!(t.len(), 1);
    /// ```
    pub fn into_table(self) -> Option<Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Whether this is `nil`.
    ///
    /// ```
    /// assert!(lunet::value::Value::Nil.is_nil());
    /// assert!(!lunet::value::Value::from(false).is_nil());
    /// ```
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The type's name as Lua's `math.type`/`type` say it: `"nil"`,
    /// `"boolean"`, `"integer"`, `"number"` (a float), `"string"`, `"table"`.
    ///
    /// ```
    /// use lunet::value::Value;
    ///
    /// assert_eq!(Value::from(1).type_name(), "integer");
    /// assert_eq!(Value::from(1.0).type_name(), "number");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
        }
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            #[doc = concat!("An `Integer` from a `", stringify!($t), "`.")]
            fn from(i: $t) -> Value {
                Value::Integer(i64::from(i))
            }
        }
    )*};
}

from_integer!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    /// A `Boolean`.
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<f64> for Value {
    /// A `Number` (a float, even for integral values).
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<f32> for Value {
    /// A `Number`.
    fn from(n: f32) -> Value {
        Value::Number(f64::from(n))
    }
}

impl From<&str> for Value {
    /// A `String` (the bytes are copied).
    fn from(s: &str) -> Value {
        Value::String(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Value {
    /// A `String` (the buffer is moved, not copied).
    fn from(s: String) -> Value {
        Value::String(Bytes::from(s))
    }
}

impl From<&[u8]> for Value {
    /// A `String` holding these bytes (copied).
    fn from(s: &[u8]) -> Value {
        Value::String(Bytes::copy_from_slice(s))
    }
}

impl From<Vec<u8>> for Value {
    /// A `String` holding these bytes (moved, not copied).
    fn from(s: Vec<u8>) -> Value {
        Value::String(Bytes::from(s))
    }
}

impl From<Bytes> for Value {
    /// A `String` holding these bytes.
    fn from(s: Bytes) -> Value {
        Value::String(s)
    }
}

impl From<Table> for Value {
    /// A `Table`.
    fn from(t: Table) -> Value {
        Value::Table(t)
    }
}

impl From<Vec<Value>> for Value {
    /// The table `{v1, v2, ...}` ([`Table::from_array`]).
    fn from(values: Vec<Value>) -> Value {
        Value::Table(Table::from_array(values))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `Nil` for `None`, the value for `Some`.
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_small() {
        // `Bytes` is four words; the table part must not make values bigger
        // (decoded memory per input byte depends on it).
        assert!(
            std::mem::size_of::<Value>() <= 40,
            "{}",
            std::mem::size_of::<Value>()
        );
    }

    #[test]
    fn accessors_follow_lua_conversions() {
        assert_eq!(Value::from(-0.0).as_i64(), Some(0));
        assert_eq!(Value::from(9.3e18).as_i64(), None);
        assert_eq!(
            Value::from(-9_223_372_036_854_775_808.0).as_i64(),
            Some(i64::MIN)
        );
        assert_eq!(Value::from(f64::INFINITY).as_i64(), None);
        assert_eq!(Value::from(f64::NAN).as_i64(), None);
        assert_eq!(Value::from(i64::MAX).as_f64(), Some(9.223372036854776e18));
        assert_eq!(Value::from(Some("x")).as_str(), Some("x"));
        assert!(Value::from(None::<i32>).is_nil());
        let names: Vec<&str> = [
            Value::Nil,
            true.into(),
            1.into(),
            1.5.into(),
            "s".into(),
            Table::new().into(),
        ]
        .iter()
        .map(Value::type_name)
        .collect();
        assert_eq!(
            names,
            ["nil", "boolean", "integer", "number", "string", "table"]
        );
    }

    #[test]
    fn integers_and_floats_are_different_values() {
        assert_ne!(Value::from(1), Value::from(1.0));
        assert_ne!(Value::from(f64::NAN), Value::from(f64::NAN));
        assert_eq!(Value::from(0.0), Value::from(-0.0));
    }
}
