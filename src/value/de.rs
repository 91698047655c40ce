//! [`Value`] to Rust data: [`from_value`], a serde `Deserializer` reading a
//! borrowed value, and `Deserialize` for [`Value`] and [`Table`]. The mapping
//! and its lenient reads are in the [module docs of
//! `value`](super#serde-mapping).
//!
//! The deserializer checks each value's type itself before calling the
//! visitor, so errors read `expected a string, found integer 3` rather than
//! serde's generic wording, and each sequence element, map value and enum
//! payload adds its step to the error's path as the error travels out.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer as _, Visitor};
use serde::Deserialize;

use super::display::describe;
use super::table::TableBuilder;
use super::{Table, Value, ValueError};

/// Reads any `DeserializeOwned` type out of a [`Value`] (mapping in the
/// [module docs](super#serde-mapping)).
///
/// ```
/// use lunet::value::{from_value, unpack, Value};
/// use std::collections::HashMap;
///
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// enum Cmd {
///     Quit,
///     Say(String),
///     Move { x: f64, y: f64 },
/// }
///
/// // `skynet.pack("Quit", {Say = "hi"}, {Move = {x = 1, y = 2.5}})`:
/// let bytes = b"\x44Quit\x06\x00\x01\x43Say\x42hi\x06\x00\x01\x44Move\x06\x00\x02\x41x\x81\x41y\x04\x00\x00\x00\x00\x00\x00\x04\x40";
/// let cmds: Vec<Cmd> = unpack(bytes)?.into_iter().map(from_value).collect::<Result<_, _>>()?;
/// assert_eq!(cmds, [Cmd::Quit, Cmd::Say("hi".into()), Cmd::Move { x: 1.0, y: 2.5 }]);
///
/// let err = from_value::<HashMap<String, u8>>(unpack(b"\x06\x00\x01\x41a\x03\x80\x04")?.remove(0));
/// assert_eq!(err.unwrap_err().to_string(), "integer 256 is out of range for u8 (at .a)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// A value of the wrong type or out of range, a missing struct field, an
/// unknown enum variant, or an error raised by the type's own `Deserialize`
/// implementation; the message names what was expected, what was found, and
/// the path to it.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(Deserializer(&value))
}

/// `nil`, for absent values (a tuple's missing tail, a variant without
/// payload).
static NIL: Value = Value::Nil;

/// The empty table, for a tuple or struct variant written as a name alone.
static EMPTY: Value = Value::Table(Table::new());

/// The deserializer behind [`from_value`]: reads a borrowed value.
#[derive(Clone, Copy)]
struct Deserializer<'a>(&'a Value);

fn expected(what: &str, found: &Value) -> ValueError {
    ValueError::new(format!("expected {what}, found {}", describe(found)))
}

impl<'a> Deserializer<'a> {
    /// The value as an integer of type `T` named `name`.
    fn integer<T: TryFrom<i128>>(self, name: &str) -> Result<T, ValueError> {
        let wide: i128 = match *self.0 {
            Value::Integer(i) => i128::from(i),
            // Integral and within ±2^127, so the conversion is exact.
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1.7e38 => n as i128,
            _ => return Err(expected(&format!("an integer ({name})"), self.0)),
        };
        T::try_from(wide).map_err(|_| {
            ValueError::new(format!("{} is out of range for {name}", describe(self.0)))
        })
    }

    fn float(self) -> Result<f64, ValueError> {
        match *self.0 {
            Value::Integer(i) => Ok(i as f64),
            Value::Number(n) => Ok(n),
            _ => Err(expected("a number", self.0)),
        }
    }

    fn str(self) -> Result<&'a str, ValueError> {
        match self.0 {
            Value::String(s) => std::str::from_utf8(s).map_err(|_| {
                ValueError::new(format!(
                    "expected a UTF-8 string, found {}",
                    describe(self.0)
                ))
            }),
            other => Err(expected("a string", other)),
        }
    }

    /// The table, or an error saying `what` was expected.
    fn table(self, what: &str) -> Result<&'a Table, ValueError> {
        match self.0 {
            Value::Table(t) => Ok(t),
            other => Err(expected(what, other)),
        }
    }

    /// Visits the value as a sequence: a table per [`sequence_len`], or a
    /// string as its bytes. For a tuple of `Some(k)` values, a table with
    /// fewer elements is padded with `nil`s; otherwise every element must be
    /// read.
    fn visit_sequence<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        tuple: Option<usize>,
        what: &str,
    ) -> Result<V::Value, ValueError> {
        let too_many = |len: usize| {
            ValueError::new(format!("expected {what}, found a sequence of {len} values"))
        };
        match self.0 {
            Value::String(s) => {
                if tuple.is_some_and(|k| k != s.len()) {
                    return Err(ValueError::new(format!(
                        "expected {what}, found a string of {} bytes",
                        s.len()
                    )));
                }
                let mut seq = de::value::SeqDeserializer::new(s.iter().copied());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Table(t) => {
                let len = sequence_len(t, what)?;
                let padded = match tuple {
                    Some(k) if len > k => return Err(too_many(len)),
                    Some(k) => k,
                    None => len,
                };
                let mut seq = Seq {
                    table: t,
                    next: 0,
                    len: padded,
                };
                let value = visitor.visit_seq(&mut seq)?;
                if seq.next < len {
                    return Err(too_many(len));
                }
                Ok(value)
            }
            other => Err(expected(what, other)),
        }
    }
}

/// How many elements table `t` has as a sequence: its keys must all be
/// positive integers, and at least half of `1..=n` present for the largest
/// key `n` (holes read as `nil`).
fn sequence_len(t: &Table, what: &str) -> Result<usize, ValueError> {
    if t.hash_len() == 0 {
        return Ok(t.len());
    }
    let mut max = t.len();
    for (key, _) in t.hash_pairs() {
        match *key {
            Value::Integer(i) if i > 0 => max = max.max(usize::try_from(i).unwrap_or(usize::MAX)),
            _ => {
                return Err(ValueError::new(format!(
                    "expected {what}, found a table with key {}",
                    describe(key)
                )))
            }
        }
    }
    let count = t.len() + t.hash_len();
    if max / 2 > count {
        return Err(ValueError::new(format!(
            "expected {what}, found a table with {count} integer keys up to {max} \
             (too sparse for a sequence)"
        )));
    }
    Ok(max)
}

/// Elements `1 ..= len` of a table, `nil` for holes.
struct Seq<'a> {
    table: &'a Table,
    /// Elements handed out so far.
    next: usize,
    len: usize,
}

impl<'de> de::SeqAccess<'de> for Seq<'_> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        if self.next >= self.len {
            return Ok(None);
        }
        self.next += 1;
        let i = self.next;
        let value = self.table.get_index(i as i64).unwrap_or(&NIL);
        seed.deserialize(Deserializer(value))
            .map(Some)
            .map_err(|e| e.at_index(i))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len - self.next)
    }
}

/// Every pair of a table, the array part first.
struct Map<'a> {
    pairs: super::Pairs<'a>,
    /// The pair whose key was handed out last.
    current: Option<(Cow<'a, Value>, &'a Value)>,
}

impl<'de> de::MapAccess<'de> for Map<'_> {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        let Some((key, value)) = self.pairs.next() else {
            return Ok(None);
        };
        let key_value = seed
            .deserialize(Deserializer(&key))
            .map_err(|e| e.at_key(&key))?;
        self.current = Some((key, value));
        Ok(Some(key_value))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let (key, value) = self
            .current
            .take()
            .ok_or_else(|| ValueError::new("next_value called before next_key"))?;
        seed.deserialize(Deserializer(value))
            .map_err(|e| e.at_key(&key))
    }

    fn size_hint(&self) -> Option<usize> {
        self.pairs.size_hint().1
    }
}

/// An enum: the variant's name and its payload (`None` for a name alone).
struct Enum<'a> {
    name: &'a Value,
    payload: Option<&'a Value>,
}

impl<'de> de::EnumAccess<'de> for Enum<'_> {
    type Error = ValueError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), ValueError> {
        let variant = seed.deserialize(Deserializer(self.name))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Enum<'_> {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.payload {
            None => Ok(()),
            Some(payload) => {
                Err(expected("no payload for a unit variant", payload).at_key(self.name))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(Deserializer(self.payload.unwrap_or(&NIL)))
            .map_err(|e| e.at_key(self.name))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        Deserializer(self.payload.unwrap_or(&EMPTY))
            .deserialize_tuple(len, visitor)
            .map_err(|e| e.at_key(self.name))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        Deserializer(self.payload.unwrap_or(&EMPTY))
            .deserialize_struct("", fields, visitor)
            .map_err(|e| e.at_key(self.name))
    }
}

macro_rules! deserialize_integer {
    ($($method:ident => $visit:ident($t:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            visitor.$visit(self.integer::<$t>(stringify!($t))?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Deserializer<'_> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Nil => visitor.visit_unit(),
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Number(n) => visitor.visit_f64(*n),
            Value::String(s) => match std::str::from_utf8(s) {
                Ok(text) => visitor.visit_str(text),
                Err(_) => visitor.visit_bytes(s),
            },
            Value::Table(t) if t.hash_len() == 0 && !t.array().is_empty() => {
                self.visit_sequence(visitor, None, "a sequence")
            }
            Value::Table(t) => visitor.visit_map(Map {
                pairs: t.pairs(),
                current: None,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Boolean(b) => visitor.visit_bool(*b),
            other => Err(expected("a boolean", other)),
        }
    }

    deserialize_integer! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f32(self.float()? as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let s = self.str()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(expected("a single character", self.0)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_str(self.str()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::String(s) => visitor.visit_bytes(s),
            other => Err(expected("a string (bytes)", other)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Nil => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Nil => visitor.visit_unit(),
            other => Err(expected("nil", other)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.visit_sequence(visitor, None, "a sequence")
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let what = format!("a tuple of {len} values");
        self.visit_sequence(visitor, Some(len), &what)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let t = self.table("a map (a table)")?;
        visitor.visit_map(Map {
            pairs: t.pairs(),
            current: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let t = self.table("a table")?;
        if t.hash_len() == 0 && !t.array().is_empty() {
            self.visit_sequence(visitor, None, "a struct")
        } else {
            visitor.visit_map(Map {
                pairs: t.pairs(),
                current: None,
            })
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let what = "an enum variant (a name, or a table with one key)";
        match self.0 {
            Value::String(_) => visitor.visit_enum(Enum {
                name: self.0,
                payload: None,
            }),
            Value::Table(t) if t.array().is_empty() && t.hash_len() == 1 => {
                match t.hash_pairs().next() {
                    Some((name @ Value::String(_), payload)) => visitor.visit_enum(Enum {
                        name,
                        payload: Some(payload),
                    }),
                    Some((key, _)) => Err(ValueError::new(format!(
                        "expected {what}, found a table with key {}",
                        describe(key)
                    ))),
                    None => Err(expected(what, self.0)),
                }
            }
            Value::Table(t) => Err(ValueError::new(format!(
                "expected {what}, found a table with {} keys",
                t.len() + t.hash_len()
            ))),
            other => Err(expected(what, other)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::String(s) => match std::str::from_utf8(s) {
                Ok(name) => visitor.visit_str(name),
                Err(_) => visitor.visit_bytes(s),
            },
            // Matched by its Lua text: `#[serde(rename = "1")]` reads `t[1]`.
            other => visitor.visit_str(&other.to_string()),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }
}

impl<'de> Deserialize<'de> for Value {
    /// Any self-describing input: unit and `None` as `Nil`, sequences as
    /// array tables, maps as tables (module docs).
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Table {
    /// A sequence or a map, as for [`Value`]; anything else is an error.
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Table, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Table(t) => Ok(t),
            other => Err(de::Error::custom(format!(
                "expected a table, found {}",
                describe(&other)
            ))),
        }
    }
}

/// Builds a [`Value`] from whatever a deserializer reports.
struct ValueVisitor;

fn out_of_range<E: de::Error>(i: impl fmt::Display) -> E {
    E::custom(format!(
        "integer {i} is out of range for a Lua integer (i64)"
    ))
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value Lua can hold")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| out_of_range(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| out_of_range(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| out_of_range(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // A hint only: bounded, whatever the input claims.
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(value) = seq.next_element::<Value>()? {
            values.push(value);
        }
        Ok(Value::Table(Table::from_array(values)))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut builder = TableBuilder::new(Vec::new());
        while let Some((key, value)) = map.next_entry::<Value, Value>()? {
            builder.set(key, value).map_err(de::Error::custom)?;
        }
        Ok(Value::Table(builder.finish()))
    }
}
