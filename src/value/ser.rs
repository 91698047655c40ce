//! Rust data to [`Value`]: [`to_value`], a serde `Serializer` producing
//! values, and `Serialize` for [`Value`] and [`Table`]. The mapping is in the
//! [module docs of `value`](super#serde-mapping).
//!
//! Errors carry the path to the failing part: each sequence element, map
//! value and struct field adds its step as the error travels out.

use bytes::Bytes;
use serde::ser::{self, Serialize, SerializeMap as _, SerializeSeq as _};

use super::table::TableBuilder;
use super::{Table, Value, ValueError};

/// Converts any `Serialize` type into a [`Value`] (mapping in the
/// [module docs](super#serde-mapping)).
///
/// ```
/// use lunet::value::{to_value, Value};
/// use std::collections::BTreeMap;
///
/// #[derive(serde::Serialize)]
/// struct Player {
///     name: String,
///     hp: u32,
///     items: Vec<&'static str>,
///     guild: Option<String>,
/// }
///
/// let p = Player { name: "ann".into(), hp: 90, items: vec!["sword"], guild: None };
/// let v = to_value(&p)?;
/// assert_eq!(v.to_string(), r#"{name = "ann", hp = 90, items = {"sword"}}"#);
///
/// let mut scores = BTreeMap::new();
/// scores.insert(2, "b");
/// scores.insert(1, "a");
/// assert_eq!(to_value(&scores)?.to_string(), r#"{"a", "b"}"#); // keys 1, 2: an array
///
/// assert!(to_value(&u64::MAX).is_err());
/// # Ok::<(), lunet::value::ValueError>(())
/// ```
///
/// # Errors
/// An integer outside `i64`, a map key that is `nil` or NaN, or an error
/// raised by the type's own `Serialize` implementation; the message names the
/// value and the path to it.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(Serializer)
}

impl Serialize for Value {
    /// `Nil` as unit, strings as `str` (or bytes when not UTF-8), tables as
    /// [`Table`] serializes.
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => serializer.serialize_unit(),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::Integer(i) => serializer.serialize_i64(*i),
            Value::Number(n) => serializer.serialize_f64(*n),
            Value::String(s) => match std::str::from_utf8(s) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => serializer.serialize_bytes(s),
            },
            Value::Table(t) => t.serialize(serializer),
        }
    }
}

impl Serialize for Table {
    /// A sequence when the table has only an array part (and is not empty),
    /// otherwise a map of every pair, array part first.
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.hash_len() == 0 && !self.array().is_empty() {
            let mut seq = serializer.serialize_seq(Some(self.len()))?;
            for value in self.array() {
                seq.serialize_element(value)?;
            }
            seq.end()
        } else {
            let mut map = serializer.serialize_map(Some(self.len() + self.hash_len()))?;
            for (key, value) in self.pairs() {
                map.serialize_entry(&*key, value)?;
            }
            map.end()
        }
    }
}

/// The serializer behind [`to_value`].
struct Serializer;

fn integer<T: TryInto<i64> + std::fmt::Display + Copy>(i: T) -> Result<Value, ValueError> {
    i.try_into().map(Value::Integer).map_err(|_| {
        ValueError::new(format!(
            "integer {i} is out of range for a Lua integer (i64)"
        ))
    })
}

fn string(s: &str) -> Value {
    Value::String(Bytes::copy_from_slice(s.as_bytes()))
}

/// `{name = payload}`, or just `"name"` when the payload is `nil` (a table
/// cannot hold it).
fn variant(name: &'static str, payload: Value) -> Value {
    let key = Value::String(Bytes::from_static(name.as_bytes()));
    if payload.is_nil() {
        return key;
    }
    let mut t = Table::new();
    t.insert(key, payload);
    Value::Table(t)
}

impl ser::Serializer for Serializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Map;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Boolean(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Integer(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        integer(v)
    }

    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        integer(v)
    }

    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        integer(v)
    }

    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Number(v))
    }

    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(string(v.encode_utf8(&mut [0; 4])))
    }

    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(string(v))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::String(Bytes::copy_from_slice(v)))
    }

    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Nil)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Nil)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Nil)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::String(Bytes::from_static(variant.as_bytes())))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let payload = value.serialize(Serializer).map_err(|e| e.at_field(name))?;
        Ok(variant(name, payload))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, ValueError> {
        Ok(Seq {
            // A hint only: bounded, whatever a type claims.
            values: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            variant: None,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Seq, ValueError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq, ValueError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq, ValueError> {
        let mut seq = self.serialize_seq(Some(len))?;
        seq.variant = Some(variant);
        Ok(seq)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Map, ValueError> {
        Ok(Map {
            builder: TableBuilder::new(Vec::new()),
            key: None,
            variant: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Map, ValueError> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Map, ValueError> {
        let mut map = self.serialize_map(Some(len))?;
        map.variant = Some(variant);
        Ok(map)
    }
}

/// A sequence, tuple (struct) or tuple variant being built.
struct Seq {
    values: Vec<Value>,
    /// The variant name, for a tuple variant.
    variant: Option<&'static str>,
}

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let n = self.values.len() + 1;
        let value = value.serialize(Serializer).map_err(|e| {
            let e = e.at_index(n);
            match self.variant {
                Some(name) => e.at_field(name),
                None => e,
            }
        })?;
        self.values.push(value);
        Ok(())
    }

    fn finish(self) -> Value {
        let table = Value::Table(Table::from_array(self.values));
        match self.variant {
            Some(name) => variant(name, table),
            None => table,
        }
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for Seq {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

/// A map, struct or struct variant being built.
struct Map {
    builder: TableBuilder,
    /// The key whose value comes next (`serialize_key` then
    /// `serialize_value`).
    key: Option<Value>,
    /// The variant name, for a struct variant.
    variant: Option<&'static str>,
}

impl Map {
    fn in_variant(&self, e: ValueError) -> ValueError {
        match self.variant {
            Some(name) => e.at_field(name),
            None => e,
        }
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let value = value
            .serialize(Serializer)
            .map_err(|e| self.in_variant(e.at_field(name)))?;
        let key = Value::String(Bytes::from_static(name.as_bytes()));
        // Field names are strings: never an invalid key.
        self.builder.set(key, value)
    }

    fn finish(self) -> Value {
        let table = Value::Table(self.builder.finish());
        match self.variant {
            Some(name) => variant(name, table),
            None => table,
        }
    }
}

impl ser::SerializeMap for Map {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        let key = key.serialize(Serializer)?;
        if key.is_nil() || matches!(key, Value::Number(n) if n.is_nan()) {
            return Err(ValueError::new(format!(
                "invalid table key: {}",
                if key.is_nil() { "nil" } else { "NaN" }
            )));
        }
        self.key = Some(key);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ValueError::new("serialize_value called before serialize_key"))?;
        let value = value.serialize(Serializer).map_err(|e| e.at_key(&key))?;
        self.builder.set(key, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for Map {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.field(name, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for Map {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.field(name, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}
