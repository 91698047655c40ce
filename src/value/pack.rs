//! [`pack`] and [`unpack`]: [`Value`]s to `skynet.pack` bytes and back, with
//! no Lua VM.
//!
//! The wire format is the one [`crate::lua::pack`] documents (its module docs
//! are the specification; the tags come from there), so bytes from one side
//! decode on the other: a Rust service can read the payload of a `lua`
//! message (ptype 10) sent by `skynet.send(addr, "lua", ...)`, and a Lua
//! service can `skynet.unpack` what [`pack`] made.
//!
//! The contract (what is written, what is accepted, memory bounds) is on
//! [`pack`] and [`unpack`]. The decoder follows the Lua decoder's structure
//! but builds Rust values, through [`TableBuilder`] so that table building
//! stays linear on hostile key orders.

use bytes::Bytes;

use super::display::key_segment;
use super::table::TableBuilder;
use super::{Table, Value};
use crate::lua::pack::{
    unzigzag, varint, zigzag, ReadFail, Reader, MAX_DEPTH, SHORT_STRING_MAX, SMALL_INTEGER_MAX,
    TAG_FALSE, TAG_FLOAT, TAG_INTEGER, TAG_NIL, TAG_SHORT_STRING, TAG_SHORT_STRING_LAST,
    TAG_SMALL_INTEGER, TAG_STRING, TAG_TABLE, TAG_TRUE,
};

/// Why [`pack`] or [`unpack`] failed.
///
/// ```
/// use lunet::value::{unpack, PackError};
///
/// let err = unpack(&[0x07]).unwrap_err();
/// assert!(matches!(err, PackError::InvalidTag { tag: 0x07, offset: 0 }));
/// assert_eq!(err.to_string(), "unpack: invalid type tag 0x07 at offset 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// [`pack`]: tables nested more than [`MAX_DEPTH`] levels deep.
    #[error("pack: tables nested deeper than {limit} levels (at {path})")]
    TooDeep {
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
        /// The path of the first table past the limit, e.g. `[1].a[2]`
        /// (`[1]`: the first value).
        path: String,
    },
    /// The input ends (or claims a length that ends) past its last byte.
    #[error(
        "unpack: truncated input: {what} at offset {offset} needs {needed} more byte(s), \
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
    #[error("unpack: invalid type tag 0x{tag:02x} at offset {offset}")]
    InvalidTag {
        /// The byte found.
        tag: u8,
        /// Its offset.
        offset: usize,
    },
    /// A varint longer than 10 bytes or larger than `u64::MAX`.
    #[error("unpack: malformed varint at offset {offset}")]
    InvalidVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A table key that cannot be stored.
    #[error("unpack: invalid table key ({what}) at offset {offset}")]
    InvalidKey {
        /// `"nil"` or `"NaN"`.
        what: &'static str,
        /// Where the key starts.
        offset: usize,
    },
    /// Input tables nested more than [`MAX_DEPTH`] levels deep.
    #[error("unpack: tables nested deeper than {limit} levels at offset {offset}")]
    TooDeepInput {
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
        /// Where the first table past the limit starts.
        offset: usize,
    },
}

/// Packs `values` as `skynet.pack(...)` would pack the same Lua values.
///
/// # Encoding
/// The format is the one [`crate::lua::pack`] specifies. Values are written
/// one after the other with no header. A table is written
/// as its array part ([`Table::array`]) followed by its other pairs in
/// insertion order, with minimal varints, which is exactly what the Lua
/// encoder writes for the array part and for scalars. For a table decoded by
/// [`unpack`] the pairs keep their order on the wire, so `pack(&unpack(b)?)`
/// gives back `b` byte for byte when `b` came from the Lua encoder.
///
/// It fails only for tables nested deeper than [`MAX_DEPTH`] (the error
/// names the path to the first table past the limit), which the Lua side
/// would refuse too. A [`Table`] cannot hold a `nil` or NaN key, so every
/// other [`Value`] packs.
///
/// # Example
/// ```
/// use lunet::value::{pack, Table, Value};
///
/// let mut t = Table::from_array(vec![10.into(), 20.into()]);
/// t.insert("x", true);
/// let bytes = pack(&[Value::Table(t)])?;
/// // table, 2 array values, 1 pair, 10, 20, "x", true
/// assert_eq!(&bytes[..], b"\x06\x02\x01\x8a\x94\x41x\x02");
/// assert!(pack(&[])?.is_empty());
/// # Ok::<(), lunet::value::PackError>(())
/// ```
///
/// # Errors
/// [`PackError::TooDeep`] for tables nested deeper than [`MAX_DEPTH`].
pub fn pack(values: &[Value]) -> Result<Bytes, PackError> {
    let mut out = Vec::with_capacity(32);
    for (i, value) in values.iter().enumerate() {
        if let Err(mut path) = encode(&mut out, value, 0) {
            path.push(format!("[{}]", i + 1));
            path.reverse();
            return Err(PackError::TooDeep {
                limit: MAX_DEPTH,
                path: path.concat(),
            });
        }
    }
    Ok(Bytes::from(out))
}

/// Appends the encoding of `value`, found inside a table at `depth` (0 at the
/// top level). On failure returns the path segments to the table past the
/// limit, innermost first.
fn encode(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), Vec<String>> {
    match value {
        Value::Nil => out.push(TAG_NIL),
        Value::Boolean(false) => out.push(TAG_FALSE),
        Value::Boolean(true) => out.push(TAG_TRUE),
        Value::Integer(i) => {
            if (0..=SMALL_INTEGER_MAX).contains(i) {
                out.push(TAG_SMALL_INTEGER | *i as u8);
            } else {
                out.push(TAG_INTEGER);
                put_varint(out, zigzag(*i));
            }
        }
        Value::Number(n) => {
            out.push(TAG_FLOAT);
            out.extend_from_slice(&n.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            if s.len() <= SHORT_STRING_MAX {
                out.push(TAG_SHORT_STRING | s.len() as u8);
            } else {
                out.push(TAG_STRING);
                put_varint(out, s.len() as u64);
            }
            out.extend_from_slice(s);
        }
        Value::Table(t) => return encode_table(out, t, depth + 1),
    }
    Ok(())
}

fn encode_table(out: &mut Vec<u8>, table: &Table, depth: usize) -> Result<(), Vec<String>> {
    if depth > MAX_DEPTH {
        return Err(Vec::new());
    }
    out.push(TAG_TABLE);
    put_varint(out, table.len() as u64);
    put_varint(out, table.hash_len() as u64);
    for (i, value) in table.array().iter().enumerate() {
        encode(out, value, depth).map_err(|mut path| {
            path.push(format!("[{}]", i + 1));
            path
        })?;
    }
    for (key, value) in table.hash_pairs() {
        // A table key is a step down in depth too.
        encode(out, key, depth)
            .and_then(|()| encode(out, value, depth))
            .map_err(|mut path| {
                path.push(key_segment(key));
                path
            })?;
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, v: u64) {
    let (bytes, n) = varint(v);
    out.extend_from_slice(&bytes[..n]);
}

impl From<ReadFail> for PackError {
    fn from(fail: ReadFail) -> Self {
        match fail {
            ReadFail::Truncated {
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
            ReadFail::InvalidVarint { offset } => PackError::InvalidVarint { offset },
        }
    }
}

/// Unpacks bytes made by `skynet.pack` (or [`pack`]) into the values packed.
///
/// Safe on any input: malformed or truncated bytes give an error, never a
/// panic, and memory use is linear in `data.len()`.
///
/// # Untrusted input
/// It follows the Lua decoder's rules: it never panics and never
/// trusts a length (a string length, or a table's `narr + 2 * nhash`, larger
/// than the bytes left is reported as truncated before anything is
/// allocated); tables nested deeper than [`MAX_DEPTH`] are rejected, which
/// bounds recursion; a `nil` or NaN key is an error. It accepts the same
/// lenient encodings (non-minimal varints, small integers under tag `0x03`,
/// short strings under tag `0x05`, duplicate keys where the last one wins,
/// `nil` values that leave no entry, or remove an earlier pair with the same
/// key) and rejects varints longer than 10 bytes or above `u64::MAX`.
///
/// Memory use is linear in the input: every value takes at least one byte of
/// input and becomes one 40-byte [`Value`] (plus its string bytes, and an
/// index entry for a table pair); the worst shapes measured in
/// `tests/value.rs` (a run of `nil`s, of pairs with distinct string keys)
/// peak at about 80 bytes of heap per input byte. Tables are built in time
/// linear in their size whatever the order of their keys. Unlike the Lua
/// decoder, it sets no limit on the number of top-level values (a Lua
/// service cannot receive more than
/// [`MAX_LUA_RESULTS`](crate::lua::pack::MAX_LUA_RESULTS) of them).
///
/// Errors name the offset in the input, with the same wording as the Lua
/// decoder's messages, prefixed `unpack: ` (and `pack: ` for the encoder).
///
/// # Example
/// ```
/// use lunet::value::{pack, unpack, Value};
///
/// let values = vec![Value::from("hello"), Value::Nil, Value::from(vec![Value::from(1.5)])];
/// assert_eq!(unpack(&pack(&values)?)?, values);
/// assert!(unpack(b"\x05\x10abc").is_err()); // a 16-byte string, 3 bytes present
/// # Ok::<(), lunet::value::PackError>(())
/// ```
///
/// # Errors
/// [`PackError::Truncated`], [`PackError::InvalidTag`],
/// [`PackError::InvalidVarint`], [`PackError::InvalidKey`] or
/// [`PackError::TooDeepInput`], each with the offset where it was found.
pub fn unpack(data: &[u8]) -> Result<Vec<Value>, PackError> {
    let mut decoder = Decoder {
        input: Reader::new(data),
    };
    let mut values = Vec::new();
    while !decoder.input.is_done() {
        values.push(decoder.value(0)?.0);
    }
    Ok(values)
}

/// Whether a decoded value can be a table key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyCheck {
    Nil,
    NaN,
    Valid,
}

/// Reads values from `data` at `pos`. Uses no indexing or unchecked
/// arithmetic that could panic on bad input.
#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
struct Decoder<'a> {
    input: Reader<'a>,
}

#[deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
impl<'a> Decoder<'a> {
    /// Reads one value found inside a table at `depth` (0 at the top level).
    fn value(&mut self, depth: usize) -> Result<(Value, KeyCheck), PackError> {
        let start = self.input.pos;
        let tag = self.input.byte("a value", start)?;
        let value = match tag {
            TAG_NIL => return Ok((Value::Nil, KeyCheck::Nil)),
            TAG_FALSE => Value::Boolean(false),
            TAG_TRUE => Value::Boolean(true),
            TAG_INTEGER => Value::Integer(unzigzag(self.input.varint("an integer", start)?)),
            TAG_FLOAT => {
                let bytes = self.input.take(8, "a float", start)?;
                let bits = <[u8; 8]>::try_from(bytes).map_or(0, u64::from_le_bytes);
                let n = f64::from_bits(bits);
                if n.is_nan() {
                    return Ok((Value::Number(n), KeyCheck::NaN));
                }
                Value::Number(n)
            }
            TAG_STRING => {
                let len = self.input.varint("a string", start)?;
                self.string(len, start)?
            }
            TAG_SHORT_STRING..=TAG_SHORT_STRING_LAST => {
                self.string(u64::from(tag & 0x1f), start)?
            }
            TAG_TABLE => Value::Table(self.table(depth.saturating_add(1), start)?),
            TAG_SMALL_INTEGER..=u8::MAX => Value::Integer(i64::from(tag & 0x7f)),
            _ => return Err(PackError::InvalidTag { tag, offset: start }),
        };
        Ok((value, KeyCheck::Valid))
    }

    fn string(&mut self, len: u64, start: usize) -> Result<Value, PackError> {
        let bytes = self.input.take(len, "a string", start)?;
        Ok(Value::String(Bytes::copy_from_slice(bytes)))
    }

    /// Reads the rest of a table at `depth` whose tag was at `start`.
    fn table(&mut self, depth: usize, start: usize) -> Result<Table, PackError> {
        if depth > MAX_DEPTH {
            return Err(PackError::TooDeepInput {
                limit: MAX_DEPTH,
                offset: start,
            });
        }
        let narr = self.input.varint("a table", start)?;
        let nhash = self.input.varint("a table", start)?;
        // Every array value takes at least one byte, every pair at least two.
        let needed = nhash.saturating_mul(2).saturating_add(narr);
        let remaining = self.input.remaining();
        if needed > remaining as u64 {
            return Err(PackError::Truncated {
                what: "a table",
                offset: start,
                needed,
                remaining,
            });
        }
        // Both counts are at most `remaining` now, so they fit in `usize`.
        let narr = usize::try_from(narr).unwrap_or(0);
        let mut array = Vec::with_capacity(narr);
        for _ in 0..narr {
            array.push(self.value(depth)?.0);
        }
        let mut builder = TableBuilder::new(array);
        for _ in 0..nhash {
            let key_at = self.input.pos;
            let (key, check) = self.value(depth)?;
            let what = match check {
                KeyCheck::Nil => "nil",
                KeyCheck::NaN => "NaN",
                KeyCheck::Valid => "",
            };
            if !what.is_empty() {
                return Err(PackError::InvalidKey {
                    what,
                    offset: key_at,
                });
            }
            let (value, _) = self.value(depth)?;
            // Cannot fail: the key was checked above.
            builder.set(key, value).map_err(|_| PackError::InvalidKey {
                what: "nil",
                offset: key_at,
            })?;
        }
        Ok(builder.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(value: impl Into<Value>) -> Vec<u8> {
        pack(&[value.into()]).unwrap().to_vec()
    }

    fn err(data: &[u8]) -> String {
        unpack(data).expect_err("malformed input").to_string()
    }

    /// `levels` tables, each the first array value of the one around it.
    fn nested(levels: usize) -> Value {
        let mut v = Value::Table(Table::new());
        for _ in 1..levels {
            v = Value::from(vec![v]);
        }
        v
    }

    #[test]
    fn scalars_have_their_documented_encodings() {
        assert_eq!(one(Value::Nil), [TAG_NIL]);
        assert_eq!(one(false), [TAG_FALSE]);
        assert_eq!(one(true), [TAG_TRUE]);
        assert_eq!(one(0), [0x80]);
        assert_eq!(one(127), [0xff]);
        assert_eq!(one(128), [TAG_INTEGER, 0x80, 0x02]);
        assert_eq!(one(-1), [TAG_INTEGER, 0x01]);
        let mut min = vec![TAG_INTEGER];
        min.extend_from_slice(&[0xff; 9]);
        min.push(0x01);
        assert_eq!(one(i64::MIN), min);
        let mut float = vec![TAG_FLOAT];
        float.extend_from_slice(&(-0.0f64).to_bits().to_le_bytes());
        assert_eq!(one(-0.0), float);
        assert_eq!(one(""), [0x40]);
        let short = "x".repeat(31);
        assert_eq!(one(short.as_str())[0], 0x5f);
        let long = "x".repeat(32);
        assert_eq!(one(long.as_str())[..2], [TAG_STRING, 32]);
    }

    #[test]
    fn tables_write_the_array_part_then_the_pairs_in_order() {
        let mut t = Table::from_array(vec![10.into(), 20.into()]);
        t.insert("x", true);
        t.insert(-1, Value::Nil);
        t.insert(5, "five");
        assert_eq!(one(t), b"\x06\x02\x02\x8a\x94\x41x\x02\x85\x44five");
        // Counts of 128 and more take two bytes.
        let big = Table::from_array((0..200).map(|_| Value::Boolean(true)).collect());
        assert_eq!(one(big)[..4], [TAG_TABLE, 0xc8, 0x01, 0x00]);
    }

    #[test]
    fn values_round_trip() {
        let mut inner = Table::from_array(vec![1.5.into(), Value::Nil, "three".into()]);
        inner.insert(false, vec![0u8, 255]);
        inner.insert(Table::from_array(vec![1.into()]), "table key");
        let values = vec![
            Value::Nil,
            i64::MAX.into(),
            i64::MIN.into(),
            f64::INFINITY.into(),
            "x".repeat(100_000).into(),
            Value::Table(inner),
            Value::Nil,
        ];
        let back = unpack(&pack(&values).unwrap()).unwrap();
        assert_eq!(back, values);
        let nan = unpack(&one(f64::from_bits(0x7ff8_0000_dead_beef))).unwrap();
        assert!(matches!(nan[..], [Value::Number(n)] if n.to_bits() == 0x7ff8_0000_dead_beef));
        assert!(unpack(&[]).unwrap().is_empty());
    }

    #[test]
    fn nesting_past_the_depth_limit_is_an_error_naming_the_path() {
        assert!(pack(&[nested(MAX_DEPTH)]).is_ok());
        let e = pack(&[Value::Nil, nested(MAX_DEPTH + 1)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "pack: tables nested deeper than 32 levels (at [2]{})",
                "[1]".repeat(MAX_DEPTH)
            )
        );
        // A table key is one level down too.
        let mut t = Table::new();
        t.insert(nested(MAX_DEPTH), 1);
        let mut outer = Table::new();
        outer.insert("k", t);
        let e = pack(&[Value::Table(outer)]).unwrap_err();
        let PackError::TooDeep { path, .. } = e else {
            panic!("{e}")
        };
        assert!(path.starts_with("[1].k[<table key>][1]"), "{path}");
    }

    #[test]
    fn malformed_input_gives_clear_errors() {
        assert_eq!(err(&[0x07]), "unpack: invalid type tag 0x07 at offset 0");
        assert_eq!(
            err(&[0x80, 0x3f]),
            "unpack: invalid type tag 0x3f at offset 1"
        );
        assert_eq!(err(&[0x60]), "unpack: invalid type tag 0x60 at offset 0");
        assert_eq!(
            err(&[0x45, b'a']),
            "unpack: truncated input: a string at offset 0 needs 5 more byte(s), 1 left"
        );
        assert_eq!(
            err(&[TAG_FLOAT, 0, 0]),
            "unpack: truncated input: a float at offset 0 needs 8 more byte(s), 2 left"
        );
        assert_eq!(
            err(&[TAG_INTEGER, 0x80]),
            "unpack: truncated input: an integer at offset 0 needs 1 more byte(s), 0 left"
        );
        let mut long = vec![TAG_INTEGER];
        long.extend_from_slice(&[0x80; 10]);
        long.push(0);
        assert_eq!(err(&long), "unpack: malformed varint at offset 1");
        let mut over = vec![TAG_INTEGER];
        over.extend_from_slice(&[0xff; 9]);
        over.push(0x02);
        assert_eq!(err(&over), "unpack: malformed varint at offset 1");
        assert_eq!(
            err(&[TAG_TABLE, 0, 1, TAG_NIL, 0x81]),
            "unpack: invalid table key (nil) at offset 3"
        );
        let mut nan_key = vec![TAG_TABLE, 0, 1, TAG_FLOAT];
        nan_key.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        nan_key.push(0x81);
        assert_eq!(err(&nan_key), "unpack: invalid table key (NaN) at offset 3");
        // A NaN value is fine.
        nan_key[2] = 0;
        nan_key[1] = 1;
        assert!(unpack(&nan_key[..12]).is_ok());
    }

    #[test]
    fn bogus_lengths_are_rejected_before_allocating() {
        let mut huge_string = vec![TAG_STRING];
        huge_string.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(
            err(&huge_string),
            "unpack: truncated input: a string at offset 0 needs 9223372036854775807 more \
             byte(s), 0 left"
        );
        // 3 array values and 1 pair need at least 5 bytes.
        assert_eq!(
            err(&[TAG_TABLE, 3, 1, 0x81, 0x82, 0x83, 0x84]),
            "unpack: truncated input: a table at offset 0 needs 5 more byte(s), 4 left"
        );
        let mut huge_table = vec![TAG_TABLE];
        huge_table.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        huge_table.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(err(&huge_table).contains(&format!("needs {} more", u64::MAX)));
    }

    #[test]
    fn deeply_nested_input_is_rejected_at_the_limit() {
        let encode = |levels: usize| {
            let mut data = Vec::new();
            for _ in 1..levels {
                data.extend_from_slice(&[TAG_TABLE, 1, 0]);
            }
            data.extend_from_slice(&[TAG_TABLE, 0, 0]);
            data
        };
        assert_eq!(unpack(&encode(MAX_DEPTH)).unwrap(), [nested(MAX_DEPTH)]);
        assert_eq!(
            err(&encode(MAX_DEPTH + 1)),
            "unpack: tables nested deeper than 32 levels at offset 96"
        );
        assert!(unpack(&encode(1_000_000)).is_err());
    }

    #[test]
    fn lenient_encodings_are_accepted() {
        // 5 with a redundant continuation byte, 7 under the long integer tag,
        // "ab" under the long string tag.
        assert_eq!(
            unpack(&[
                TAG_INTEGER,
                0x8a,
                0x00,
                TAG_INTEGER,
                14,
                TAG_STRING,
                2,
                b'a',
                b'b'
            ])
            .unwrap(),
            [Value::from(5), 7.into(), "ab".into()]
        );
        // {1, nil, 3} as an array part with a hole, then t.x twice (the last
        // wins), t.y = nil (no entry), t[3] = nil (removes the 3), t[2] = 2
        // (joins the array part).
        let data = [
            TAG_TABLE, 3, 5, 0x81, TAG_NIL, 0x83, 0x41, b'x', 0x81, 0x41, b'x', 0x82, 0x41, b'y',
            TAG_NIL, 0x83, TAG_NIL, 0x82, 0x82,
        ];
        let t = unpack(&data).unwrap().remove(0).into_table().unwrap();
        assert_eq!(t.array(), [Value::from(1), 2.into()]);
        assert_eq!(t.get_str("x"), Some(&Value::from(2)));
        assert_eq!(t.hash_len(), 1);
    }

    #[test]
    fn table_building_stays_linear_for_hostile_key_orders() {
        // A long array part, then pairs that punch a hole at t[1] and fill it
        // again: through `Table::insert` each would move the whole array.
        let n = 50_000;
        let mut data = vec![TAG_TABLE];
        put_varint(&mut data, n);
        put_varint(&mut data, n);
        data.resize(data.len() + n as usize, 0x81);
        for i in 0..n {
            data.extend_from_slice(&[0x81, if i % 2 == 0 { TAG_NIL } else { 0x82 }]);
        }
        let started = std::time::Instant::now();
        let t = unpack(&data).unwrap().remove(0).into_table().unwrap();
        assert_eq!(t.len(), n as usize);
        assert_eq!(t.get_index(1), Some(&Value::from(2)));
        // Quadratic work would be 2.5e9 element moves; linear is milliseconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    fn value() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::Integer),
            any::<f64>().prop_map(Value::Number),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::from),
        ];
        scalar.prop_recursive(4, 64, 8, |inner| {
            (
                proptest::collection::vec(inner.clone(), 0..8),
                proptest::collection::vec((inner.clone(), inner), 0..8),
            )
                .prop_map(|(array, pairs)| {
                    let mut t = Table::from_array(array);
                    for (k, v) in pairs {
                        let _ = t.try_insert(k, v);
                    }
                    Value::Table(t)
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn repacking_what_was_unpacked_gives_the_same_bytes(v in value()) {
            let bytes = one(v);
            let back = unpack(&bytes).unwrap();
            prop_assert_eq!(pack(&back).unwrap().to_vec(), bytes);
        }

        #[test]
        fn strict_prefixes_of_one_value_are_errors(v in value(), cut in any::<prop::sample::Index>()) {
            let bytes = one(v);
            if bytes.len() > 1 {
                let len = 1 + cut.index(bytes.len() - 1);
                prop_assert!(unpack(&bytes[..len]).is_err());
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = unpack(&data);
        }

        #[test]
        fn corrupted_encodings_never_panic(
            v in value(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = one(v);
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Err(e) = unpack(&bytes) {
                prop_assert!(e.to_string().starts_with("unpack: "));
            }
        }
    }
}
