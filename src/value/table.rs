//! [`Table`]: a Lua table as plain Rust data. The rules (array part, keys,
//! equality, costs) are in the type's docs; the array part is kept exact
//! after every operation so that the encoder can write it as is, and
//! [`TableBuilder`] is the linear-time path for untrusted input.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

use super::{Value, ValueError};

/// A Lua table: an array part `t[1..=n]` and the other pairs in insertion
/// order.
///
/// A table has two parts, as in Lua and in the `skynet.pack` wire format:
/// - the **array part**, `t[1] .. t[n]`, where `n` ([`Table::len`]) is the
///   largest index such that `t[1]` through `t[n]` are all non-nil (the first
///   border, the `narr` of the wire format);
/// - the **other pairs**, every other key with its value, kept in insertion
///   order (a pair that is replaced keeps its place; a removed one leaves none).
///
/// Every operation keeps that split exact, so the array part is always what
/// `skynet.pack` would write as the array part of the same Lua table:
/// - setting `t[n + 1]` extends the array part, and pulls in `t[n + 2]`,
///   `t[n + 3]`, ... from the other pairs if they were there;
/// - setting `t[k] = nil` for `k <= n` shortens the array part to `k - 1` and
///   moves `t[k + 1] .. t[n]` to the other pairs (this costs `O(n - k)`, like
///   removing from the middle of a `Vec`);
/// - a `nil` value never stays in a table: inserting one removes the key.
///
/// # Keys
/// Keys follow Lua's rules for a raw set:
/// - `nil` and NaN cannot be keys: [`Table::insert`] panics on them (Lua raises
///   "index is nil" / "index is NaN"), [`Table::try_insert`] returns an error,
///   and lookups with them find nothing;
/// - a float key with an integral value in `i64` range is the integer key of
///   the same value (`t[2.0]` is `t[2]`; `-0.0` is `0`), as Lua converts it;
/// - strings compare by bytes, booleans and integers by value, other floats
///   by value;
/// - a table used as a key is a key of its own. Lua compares table keys by
///   identity, and no two tables in a [`Value`] are the same table (they are
///   copies, as after `skynet.unpack`), so inserting a pair whose key is a
///   table always adds a pair, even next to an equal-looking table key. This
///   keeps every pair of a decoded Lua table, e.g. `{[{}] = 1, [{}] = 2}`.
///   [`Table::get`] and [`Table::remove`] with a table key use the first pair
///   whose key is equal ([`PartialEq`]) to it.
///
/// # Equality
/// Two tables are equal ([`PartialEq`]) when they have the same array part and
/// the same other pairs in any order (table keys are paired off by equality).
/// Values compare as [`Value`] does: `Integer(1) != Number(1.0)`, and NaN is
/// not equal to itself.
///
/// # Costs
/// Lookups by a non-table key, inserts and removals are `O(1)` on average
/// (a hash index over the other pairs; removed pairs leave a hole that is
/// compacted once holes outnumber pairs). Table keys are found by a linear
/// scan. A table with only an array part holds one `Vec` and no index.
///
/// # Example
/// ```
/// use lunet::value::{Table, Value};
///
/// let mut t = Table::new();
/// t.push(10);
/// t.push(20);
/// t.insert("name", "ann");
/// t.insert(3, 30); // t[3]: extends the array part
/// assert_eq!(t.len(), 3);
/// assert_eq!(t.get_str("name").and_then(Value::as_str), Some("ann"));
/// assert_eq!(t.to_string(), r#"{10, 20, 30, name = "ann"}"#);
/// ```
#[derive(Clone, Default)]
pub struct Table {
    /// `t[1] .. t[n]`, never holding a `Nil`.
    array: Vec<Value>,
    /// Every other pair; `None` while there is none.
    hash: Option<Box<HashPart>>,
}

/// The pairs outside the array part.
#[derive(Clone, Default)]
struct HashPart {
    /// The pairs in insertion order; `None` is a removed pair's hole. Keys are
    /// normalized (an integral float key is stored as an integer) and never
    /// `Nil`, NaN, or an integer in `1..=n + 1` of the table's array part.
    entries: Vec<Option<(Value, Value)>>,
    /// Where each non-table key is in `entries`.
    index: HashMap<HashKey, usize>,
    /// How many entries are not holes.
    live: usize,
}

/// A non-table key in a hashable form.
#[derive(Clone)]
enum HashKey {
    Bool(bool),
    Int(i64),
    /// A float key that is not integral (and not NaN), by its bits.
    Float(u64),
    Str(Bytes),
}

/// A borrowed [`HashKey`], for lookups without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum KeyRef<'a> {
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'a [u8]),
}

/// What a [`Value`] is as a table key.
enum Key<'a> {
    /// A non-table key, normalized.
    Scalar(KeyRef<'a>),
    /// A table key (compared by equality, never indexed).
    Table,
    /// `nil` or NaN: not a key.
    Invalid(&'static str),
}

/// Lets the index be searched with a [`KeyRef`] though it stores [`HashKey`]s.
trait Lookup {
    fn key_ref(&self) -> KeyRef<'_>;
}

impl Lookup for HashKey {
    fn key_ref(&self) -> KeyRef<'_> {
        match self {
            HashKey::Bool(b) => KeyRef::Bool(*b),
            HashKey::Int(i) => KeyRef::Int(*i),
            HashKey::Float(bits) => KeyRef::Float(*bits),
            HashKey::Str(s) => KeyRef::Str(s),
        }
    }
}

impl Lookup for KeyRef<'_> {
    fn key_ref(&self) -> KeyRef<'_> {
        *self
    }
}

impl<'a> Borrow<dyn Lookup + 'a> for HashKey {
    fn borrow(&self) -> &(dyn Lookup + 'a) {
        self
    }
}

impl Hash for dyn Lookup + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_ref().hash(state);
    }
}

impl PartialEq for dyn Lookup + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key_ref() == other.key_ref()
    }
}

impl Eq for dyn Lookup + '_ {}

impl Hash for HashKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_ref().hash(state);
    }
}

impl PartialEq for HashKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_ref() == other.key_ref()
    }
}

impl Eq for HashKey {}

impl KeyRef<'_> {
    fn to_owned_key(self, stored: &Value) -> HashKey {
        match (self, stored) {
            (KeyRef::Bool(b), _) => HashKey::Bool(b),
            (KeyRef::Int(i), _) => HashKey::Int(i),
            (KeyRef::Float(bits), _) => HashKey::Float(bits),
            // Share the stored key's bytes rather than copying them.
            (KeyRef::Str(_), Value::String(s)) => HashKey::Str(s.clone()),
            (KeyRef::Str(s), _) => HashKey::Str(Bytes::copy_from_slice(s)),
        }
    }
}

/// The integer with the same value as `f`, if `f` is integral and in `i64`
/// range (Lua's float-to-integer conversion for keys and `math.tointeger`).
pub(crate) fn float_to_int(f: f64) -> Option<i64> {
    // 2^63: the first float past `i64::MAX`; `-2^63` is `i64::MIN` exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

fn classify(key: &Value) -> Key<'_> {
    match key {
        Value::Nil => Key::Invalid("nil"),
        Value::Boolean(b) => Key::Scalar(KeyRef::Bool(*b)),
        Value::Integer(i) => Key::Scalar(KeyRef::Int(*i)),
        Value::Number(n) if n.is_nan() => Key::Invalid("NaN"),
        Value::Number(n) => Key::Scalar(match float_to_int(*n) {
            Some(i) => KeyRef::Int(i),
            None => KeyRef::Float(n.to_bits()),
        }),
        Value::String(s) => Key::Scalar(KeyRef::Str(s)),
        Value::Table(_) => Key::Table,
    }
}

/// `key` as it is stored: an integral float becomes an integer.
fn normalize(key: Value) -> Value {
    match key {
        Value::Number(n) => match float_to_int(n) {
            Some(i) => Value::Integer(i),
            None => Value::Number(n),
        },
        other => other,
    }
}

/// The error for a key that cannot be stored, `what` being "nil" or "NaN".
fn invalid_key(what: &str) -> ValueError {
    ValueError::new(format!("invalid table key: {what}"))
}

impl HashPart {
    fn get(&self, key: KeyRef<'_>) -> Option<&Value> {
        let at = *self.index.get(&key as &dyn Lookup)?;
        self.entries.get(at)?.as_ref().map(|(_, v)| v)
    }

    fn get_table_key(&self, key: &Value) -> Option<usize> {
        self.entries
            .iter()
            .position(|entry| matches!(entry, Some((k @ Value::Table(_), _)) if k == key))
    }

    /// Sets `key` (normalized, not nil or NaN, not in the array part) to a
    /// non-nil `value`; returns the old value. A table key is always a new
    /// pair.
    fn set(&mut self, key: Value, value: Value) -> Option<Value> {
        let Key::Scalar(key_ref) = classify(&key) else {
            return self.append(key, value);
        };
        if let Some(&at) = self.index.get(&key_ref as &dyn Lookup) {
            if let Some(Some((_, old))) = self.entries.get_mut(at) {
                return Some(std::mem::replace(old, value));
            }
        }
        let owned = key_ref.to_owned_key(&key);
        self.index.insert(owned, self.entries.len());
        self.append(key, value)
    }

    fn append(&mut self, key: Value, value: Value) -> Option<Value> {
        self.entries.push(Some((key, value)));
        self.live += 1;
        None
    }

    fn remove(&mut self, key: KeyRef<'_>) -> Option<Value> {
        let at = self.index.remove(&key as &dyn Lookup)?;
        self.take(at)
    }

    /// Removes the entry at `at`, leaving a hole.
    fn take(&mut self, at: usize) -> Option<Value> {
        let (_, value) = self.entries.get_mut(at)?.take()?;
        self.live -= 1;
        if self.live < self.entries.len() / 2 {
            self.compact();
        }
        Some(value)
    }

    /// Drops the holes and rebuilds the index.
    fn compact(&mut self) {
        self.entries.retain(Option::is_some);
        self.index.clear();
        for (at, entry) in self.entries.iter().enumerate() {
            if let Some((key, _)) = entry {
                if let Key::Scalar(key_ref) = classify(key) {
                    self.index.insert(key_ref.to_owned_key(key), at);
                }
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().flatten().map(|(k, v)| (k, v))
    }
}

impl Table {
    /// An empty table.
    ///
    /// ```
    /// let t = lunet::value::Table::new();
    /// assert!(t.is_empty());
    /// ```
    pub const fn new() -> Table {
        Table {
            array: Vec::new(),
            hash: None,
        }
    }

    /// The table `{values[0], values[1], ...}`, i.e. `t[i + 1] = values[i]`.
    ///
    /// A `Nil` in `values` leaves a hole, as in the Lua constructor
    /// `{1, nil, 3}`: the array part stops before it and the values after it
    /// are pairs with integer keys.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let t = Table::from_array(vec![1.into(), 2.into()]);
    /// assert_eq!(t.array(), &[Value::Integer(1), Value::Integer(2)]);
    ///
    /// let holey = Table::from_array(vec![1.into(), Value::Nil, 3.into()]);
    /// assert_eq!(holey.len(), 1);
    /// assert_eq!(holey.get_index(3), Some(&Value::Integer(3)));
    /// ```
    pub fn from_array(values: Vec<Value>) -> Table {
        if values.iter().any(Value::is_nil) {
            TableBuilder::new(values).finish()
        } else {
            Table {
                array: values,
                hash: None,
            }
        }
    }

    /// The length of the array part: the largest `n` such that `t[1]` through
    /// `t[n]` are all non-nil (`#t` in Lua, for a table without holes).
    ///
    /// ```
    /// let mut t = lunet::value::Table::from_array(vec![1.into(), 2.into()]);
    /// t.insert("x", true);
    /// assert_eq!(t.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// How many pairs are outside the array part.
    ///
    /// ```
    /// let mut t = lunet::value::Table::from_array(vec![1.into()]);
    /// t.insert("x", true);
    /// t.insert(5, "five"); // not next to the array part
    /// assert_eq!((t.len(), t.hash_len()), (1, 2));
    /// ```
    pub fn hash_len(&self) -> usize {
        self.hash.as_ref().map_or(0, |h| h.live)
    }

    /// Whether the table has no pair at all.
    ///
    /// ```
    /// let mut t = lunet::value::Table::new();
    /// t.insert("x", 1);
    /// assert!(!t.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.array.is_empty() && self.hash_len() == 0
    }

    /// The array part, `t[1] .. t[len]`.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let t: Table = vec![Value::from("a"), Value::from("b")].into_iter().collect();
    /// let names: Vec<_> = t.array().iter().filter_map(Value::as_str).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn array(&self) -> &[Value] {
        &self.array
    }

    /// The value at `key` (`rawget(t, key)`), or `None` when absent. A float
    /// key with an integral value finds the integer key; `nil` and NaN find
    /// nothing.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let mut t = Table::new();
    /// t.insert(1, "one");
    /// t.insert(true, "yes");
    /// assert_eq!(t.get(&Value::Number(1.0)), Some(&Value::from("one")));
    /// assert_eq!(t.get(&Value::Boolean(true)), Some(&Value::from("yes")));
    /// assert_eq!(t.get(&Value::Nil), None);
    /// ```
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match classify(key) {
            Key::Scalar(KeyRef::Int(i)) => self.get_index(i),
            Key::Scalar(key_ref) => self.hash.as_ref()?.get(key_ref),
            Key::Table => {
                let hash = self.hash.as_ref()?;
                let at = hash.get_table_key(key)?;
                hash.entries.get(at)?.as_ref().map(|(_, v)| v)
            }
            Key::Invalid(_) => None,
        }
    }

    /// The value at the string key `key` (`t.key`), or `None`.
    ///
    /// ```
    /// let mut t = lunet::value::Table::new();
    /// t.insert("hp", 100);
    /// assert_eq!(t.get_str("hp").and_then(|v| v.as_i64()), Some(100));
    /// assert!(t.get_str("mp").is_none());
    /// ```
    pub fn get_str(&self, key: &str) -> Option<&Value> {
        self.hash.as_ref()?.get(KeyRef::Str(key.as_bytes()))
    }

    /// The value at the integer key `i` (`t[i]`), or `None`.
    ///
    /// ```
    /// let t = lunet::value::Table::from_array(vec!["a".into(), "b".into()]);
    /// assert_eq!(t.get_index(2).and_then(|v| v.as_str()), Some("b"));
    /// assert!(t.get_index(0).is_none());
    /// ```
    pub fn get_index(&self, i: i64) -> Option<&Value> {
        match usize::try_from(i) {
            Ok(n @ 1..) if n <= self.array.len() => self.array.get(n - 1),
            _ => self.hash.as_ref()?.get(KeyRef::Int(i)),
        }
    }

    /// Sets `t[key] = value` (a raw set) and returns the value it replaced.
    ///
    /// A `Nil` value removes the key. Setting `t[len + 1]` extends the array
    /// part; setting `t[k] = nil` inside it shortens it (see [`Table`]). A table
    /// key always adds a new pair, and a `Nil` value with a table key removes
    /// the first pair whose key equals it.
    ///
    /// # Panics
    /// If `key` is `Nil` or NaN, as Lua raises for `rawset(t, nil, v)`. Use
    /// [`Table::try_insert`] for keys that come from outside.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let mut t = Table::new();
    /// assert_eq!(t.insert("x", 1), None);
    /// assert_eq!(t.insert("x", 2), Some(Value::Integer(1)));
    /// assert_eq!(t.insert("x", Value::Nil), Some(Value::Integer(2)));
    /// assert!(t.is_empty());
    /// ```
    pub fn insert(&mut self, key: impl Into<Value>, value: impl Into<Value>) -> Option<Value> {
        match self.try_insert(key, value) {
            Ok(old) => old,
            Err(e) => panic!("Table::insert: {e}"),
        }
    }

    /// [`Table::insert`], with an error instead of a panic for a `Nil` or NaN
    /// key.
    ///
    /// # Errors
    /// `invalid table key: nil` or `invalid table key: NaN`; the table is
    /// unchanged.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let mut t = Table::new();
    /// let err = t.try_insert(f64::NAN, 1).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid table key: NaN");
    /// assert_eq!(t.try_insert(2.0, "two").unwrap(), None);
    /// assert_eq!(t.get_index(2), Some(&Value::from("two")));
    /// ```
    pub fn try_insert(
        &mut self,
        key: impl Into<Value>,
        value: impl Into<Value>,
    ) -> Result<Option<Value>, ValueError> {
        let key = normalize(key.into());
        let value = value.into();
        match classify(&key) {
            Key::Invalid(what) => Err(invalid_key(what)),
            Key::Scalar(KeyRef::Int(i)) => Ok(self.set_index(i, value)),
            _ if value.is_nil() => Ok(self.remove(&key)),
            _ => Ok(self.hash_mut().set(key, value)),
        }
    }

    /// Appends `value` as `t[len + 1]` (`table.insert(t, value)` on a table
    /// without holes). Pushing `Nil` does nothing.
    ///
    /// ```
    /// let mut t = lunet::value::Table::new();
    /// t.push("a");
    /// t.push(lunet::Value::Nil);
    /// t.push("b");
    /// assert_eq!(t.to_string(), r#"{"a", "b"}"#);
    /// ```
    pub fn push(&mut self, value: impl Into<Value>) {
        let value = value.into();
        if !value.is_nil() {
            self.array.push(value);
            self.pull_into_array();
        }
    }

    /// Removes `key` and returns its value (`t[key] = nil`). A table key
    /// removes the first pair whose key equals it; `Nil` and NaN remove
    /// nothing.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let mut t = Table::from_array(vec![1.into(), 2.into(), 3.into()]);
    /// assert_eq!(t.remove(&Value::Integer(2)), Some(Value::Integer(2)));
    /// // t[3] is no longer in the array part: t[2] is a hole.
    /// assert_eq!((t.len(), t.hash_len()), (1, 1));
    /// ```
    pub fn remove(&mut self, key: &Value) -> Option<Value> {
        match classify(key) {
            Key::Scalar(KeyRef::Int(i)) => self.set_index(i, Value::Nil),
            Key::Scalar(key_ref) => self.remove_from_hash(key_ref),
            Key::Table => {
                let hash = self.hash.as_mut()?;
                let at = hash.get_table_key(key)?;
                let old = hash.take(at);
                if hash.live == 0 {
                    self.hash = None;
                }
                old
            }
            Key::Invalid(_) => None,
        }
    }

    /// Every pair, the array part first (`1 .. len`, keys as integers), then
    /// the other pairs in insertion order. Keys of the array part are made on
    /// the fly, hence the [`Cow`].
    ///
    /// ```
    /// use lunet::value::Table;
    ///
    /// let mut t = Table::from_array(vec!["a".into()]);
    /// t.insert("x", 1);
    /// let shown: Vec<String> = t.pairs().map(|(k, v)| format!("{k}={v}")).collect();
    /// assert_eq!(shown, [r#"1="a""#, r#""x"=1"#]);
    /// ```
    pub fn pairs(&self) -> Pairs<'_> {
        Pairs {
            array: self.array.iter().enumerate(),
            hash: self.hash.as_ref().map(|h| h.entries.iter()),
        }
    }

    /// The other pairs (outside the array part), in insertion order.
    pub(crate) fn hash_pairs(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.hash.iter().flat_map(|h| h.iter())
    }

    fn hash_mut(&mut self) -> &mut HashPart {
        self.hash.get_or_insert_with(Box::default)
    }

    /// Sets `t[i] = value` for an integer key.
    fn set_index(&mut self, i: i64, value: Value) -> Option<Value> {
        let n = self.array.len();
        let at = usize::try_from(i).ok().filter(|&k| k >= 1 && k <= n + 1);
        match at {
            Some(k) if k <= n => {
                if value.is_nil() {
                    // t[k] = nil: t[k + 1 ..] leave the array part.
                    let tail = self.array.split_off(k);
                    let old = self.array.pop();
                    if !tail.is_empty() {
                        let hash = self.hash_mut();
                        for (j, v) in (k + 1..).zip(tail) {
                            hash.set(Value::Integer(j as i64), v);
                        }
                    }
                    old
                } else {
                    Some(std::mem::replace(&mut self.array[k - 1], value))
                }
            }
            Some(_) if !value.is_nil() => {
                // t[n + 1]: never in the hash part (it would be in the array).
                self.array.push(value);
                self.pull_into_array();
                None
            }
            _ if value.is_nil() => self.remove_from_hash(KeyRef::Int(i)),
            _ => self.hash_mut().set(Value::Integer(i), value),
        }
    }

    /// Removes a non-table key from the hash part, dropping the part once it
    /// is empty.
    fn remove_from_hash(&mut self, key: KeyRef<'_>) -> Option<Value> {
        let hash = self.hash.as_mut()?;
        let old = hash.remove(key);
        if hash.live == 0 {
            self.hash = None;
        }
        old
    }

    /// Moves `t[n + 1]`, `t[n + 2]`, ... from the hash part to the array part
    /// while they are there.
    fn pull_into_array(&mut self) {
        let Some(hash) = self.hash.as_mut() else {
            return;
        };
        while hash.live > 0 {
            let next = self.array.len() as i64 + 1;
            match hash.remove(KeyRef::Int(next)) {
                Some(v) => self.array.push(v),
                None => break,
            }
        }
        if hash.live == 0 {
            self.hash = None;
        }
    }
}

/// Builds a table from pairs that may hold `nil`s, duplicates and keys in any
/// order, in time linear in the number of pairs (the decoder's and the serde
/// map visitor's path: untrusted input must not make [`Table::insert`]'s
/// array-part shifting quadratic).
pub(crate) struct TableBuilder {
    /// Values for `t[1] .. t[array.len()]`; `Nil` marks a hole.
    array: Vec<Value>,
    hash: HashPart,
}

impl TableBuilder {
    /// Starts from the array values `t[1] ..` (holes allowed).
    pub(crate) fn new(array: Vec<Value>) -> TableBuilder {
        TableBuilder {
            array,
            hash: HashPart::default(),
        }
    }

    /// Sets `t[key] = value`: the last set of a key wins, a `Nil` value
    /// removes it, and a table key always adds a pair.
    ///
    /// # Errors
    /// A `Nil` or NaN key (nothing is set).
    pub(crate) fn set(&mut self, key: Value, value: Value) -> Result<(), ValueError> {
        let key = normalize(key);
        match classify(&key) {
            Key::Invalid(what) => return Err(invalid_key(what)),
            Key::Scalar(KeyRef::Int(i)) => {
                if let Some(slot) = usize::try_from(i)
                    .ok()
                    .filter(|&k| k >= 1)
                    .and_then(|k| self.array.get_mut(k - 1))
                {
                    *slot = value;
                    return Ok(());
                }
            }
            _ => {}
        }
        if value.is_nil() {
            match classify(&key) {
                Key::Scalar(key_ref) => {
                    self.hash.remove(key_ref);
                }
                _ => {
                    if let Some(at) = self.hash.get_table_key(&key) {
                        self.hash.take(at);
                    }
                }
            }
        } else {
            self.hash.set(key, value);
        }
        Ok(())
    }

    /// The table: the array part ends at the first hole, the values after it
    /// become pairs, and pairs that continue the array part join it.
    pub(crate) fn finish(mut self) -> Table {
        let border = self
            .array
            .iter()
            .position(Value::is_nil)
            .unwrap_or(self.array.len());
        let tail = self.array.split_off(border);
        for (k, v) in (border + 1..).zip(tail) {
            if !v.is_nil() {
                self.hash.set(Value::Integer(k as i64), v);
            }
        }
        let mut table = Table {
            array: self.array,
            hash: (self.hash.live > 0).then(|| Box::new(self.hash)),
        };
        table.pull_into_array();
        table
    }
}

/// The iterator of [`Table::pairs`]: `(key, value)` for every pair, the
/// array part first.
///
/// ```
/// use lunet::value::{Table, Value};
///
/// let mut t = Table::from_array(vec![Value::from(7)]);
/// t.insert("k", true);
/// let mut pairs = t.pairs();
/// assert_eq!(pairs.next().map(|(k, v)| (k.into_owned(), v)), Some((Value::from(1), &Value::from(7))));
/// assert_eq!(pairs.next().map(|(k, _)| k.to_string()), Some("\"k\"".to_string()));
/// assert!(pairs.next().is_none());
/// ```
pub struct Pairs<'a> {
    array: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    hash: Option<std::slice::Iter<'a, Option<(Value, Value)>>>,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (Cow<'a, Value>, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((i, v)) = self.array.next() {
            return Some((Cow::Owned(Value::Integer(i as i64 + 1)), v));
        }
        self.hash
            .as_mut()?
            .flatten()
            .next()
            .map(|(k, v)| (Cow::Borrowed(k), v))
    }
}

impl<'a> IntoIterator for &'a Table {
    type Item = (Cow<'a, Value>, &'a Value);
    type IntoIter = Pairs<'a>;

    fn into_iter(self) -> Pairs<'a> {
        self.pairs()
    }
}

/// The iterator of `Table::into_iter`: every pair, owned, in the order of
/// [`Table::pairs`].
///
/// ```
/// use lunet::value::{Table, Value};
///
/// let t = Table::from_array(vec![Value::from("a"), Value::from("b")]);
/// let values: Vec<Value> = t.into_iter().map(|(_, v)| v).collect();
/// assert_eq!(values, [Value::from("a"), Value::from("b")]);
/// ```
pub struct IntoPairs {
    array: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    hash: std::iter::Flatten<std::vec::IntoIter<Option<(Value, Value)>>>,
}

impl Iterator for IntoPairs {
    type Item = (Value, Value);

    fn next(&mut self) -> Option<(Value, Value)> {
        if let Some((i, v)) = self.array.next() {
            return Some((Value::Integer(i as i64 + 1), v));
        }
        self.hash.next()
    }
}

impl IntoIterator for Table {
    type Item = (Value, Value);
    type IntoIter = IntoPairs;

    /// Every pair, owned: the array part first, then the other pairs.
    ///
    /// ```
    /// use lunet::value::{Table, Value};
    ///
    /// let mut t = Table::from_array(vec!["a".into()]);
    /// t.insert("k", "v");
    /// let pairs: Vec<(Value, Value)> = t.into_iter().collect();
    /// assert_eq!(pairs, [(1.into(), "a".into()), ("k".into(), "v".into())]);
    /// ```
    fn into_iter(self) -> IntoPairs {
        let entries = self.hash.map(|h| h.entries).unwrap_or_default();
        IntoPairs {
            array: self.array.into_iter().enumerate(),
            hash: entries.into_iter().flatten(),
        }
    }
}

impl FromIterator<Value> for Table {
    /// The table `{v1, v2, ...}`, as [`Table::from_array`].
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Table {
        Table::from_array(iter.into_iter().collect())
    }
}

impl From<Vec<Value>> for Table {
    /// As [`Table::from_array`].
    fn from(values: Vec<Value>) -> Table {
        Table::from_array(values)
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        if self.array != other.array || self.hash_len() != other.hash_len() {
            return false;
        }
        // Table keys of `other`, each matched at most once.
        let mut table_keys: Vec<Option<(&Value, &Value)>> = other
            .hash_pairs()
            .filter(|(k, _)| matches!(k, Value::Table(_)))
            .map(Some)
            .collect();
        self.hash_pairs().all(|(k, v)| match classify(k) {
            Key::Scalar(key_ref) => {
                let theirs = other.hash.as_ref().and_then(|h| h.get(key_ref));
                theirs == Some(v)
            }
            _ => table_keys
                .iter_mut()
                .find(|slot| matches!(slot, Some((kb, vb)) if *kb == k && *vb == v))
                .and_then(Option::take)
                .is_some(),
        })
    }
}

impl std::fmt::Debug for Table {
    /// The pairs as a map, in the order of [`Table::pairs`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ints(values: &[i64]) -> Vec<Value> {
        values.iter().map(|&i| Value::Integer(i)).collect()
    }

    fn keys(t: &Table) -> Vec<Value> {
        t.pairs().map(|(k, _)| k.into_owned()).collect()
    }

    #[test]
    fn setting_the_next_index_extends_the_array_and_pulls_in_later_keys() {
        let mut t = Table::new();
        t.insert(3, 30);
        t.insert(2, 20);
        assert_eq!((t.len(), t.hash_len()), (0, 2));
        t.insert(1, 10);
        assert_eq!(t.array(), ints(&[10, 20, 30]));
        assert_eq!(t.hash_len(), 0);
        assert!(t.hash.is_none(), "an emptied hash part is dropped");
        t.push(40);
        t.insert(6, 60);
        assert_eq!((t.len(), t.hash_len()), (4, 1));
    }

    #[test]
    fn removing_inside_the_array_moves_the_tail_to_the_pairs() {
        let mut t = Table::from_array(ints(&[1, 2, 3, 4]));
        t.insert("x", true);
        assert_eq!(t.insert(2, Value::Nil), Some(Value::Integer(2)));
        assert_eq!(t.array(), ints(&[1]));
        assert_eq!(
            keys(&t),
            [
                Value::Integer(1),
                "x".into(),
                Value::Integer(3),
                Value::Integer(4)
            ]
        );
        // Filling the hole joins everything again.
        t.insert(2, 22);
        assert_eq!(t.array(), ints(&[1, 22, 3, 4]));
        assert_eq!(keys(&t)[4..], ["x".into()]);
        // Removing the last one just shortens the array.
        assert_eq!(t.remove(&4.into()), Some(Value::Integer(4)));
        assert_eq!((t.len(), t.hash_len()), (3, 1));
        assert_eq!(t.remove(&4.into()), None);
    }

    #[test]
    fn float_keys_with_integral_values_are_integer_keys() {
        let mut t = Table::new();
        t.insert(1.0, "one");
        t.insert(-0.0, "zero");
        t.insert(2.5, "two and a half");
        t.insert(9.3e18, "big");
        assert_eq!(t.array(), ["one".into()]);
        assert_eq!(t.get_index(0), Some(&"zero".into()));
        assert_eq!(t.get(&Value::Integer(0)), Some(&"zero".into()));
        assert_eq!(t.get(&2.5.into()), Some(&"two and a half".into()));
        assert_eq!(t.get(&9.3e18.into()), Some(&"big".into()));
        assert_eq!(
            keys(&t),
            [
                Value::Integer(1),
                Value::Integer(0),
                2.5.into(),
                9.3e18.into()
            ]
        );
    }

    #[test]
    fn nil_and_nan_keys_are_refused() {
        let mut t = Table::new();
        assert_eq!(
            t.try_insert(Value::Nil, 1).unwrap_err().to_string(),
            "invalid table key: nil"
        );
        assert!(t.try_insert(f64::NAN, 1).is_err());
        assert!(t.is_empty());
        assert_eq!(t.get(&Value::Nil), None);
        assert_eq!(t.remove(&f64::NAN.into()), None);
        let panic = std::panic::catch_unwind(|| Table::new().insert(Value::Nil, 1));
        let message = panic.unwrap_err();
        assert_eq!(
            message.downcast_ref::<String>().map(String::as_str),
            Some("Table::insert: invalid table key: nil")
        );
    }

    #[test]
    fn each_table_key_is_its_own_pair() {
        let mut t = Table::new();
        let k = Value::Table(Table::from_array(ints(&[1])));
        t.insert(k.clone(), "first");
        t.insert(k.clone(), "second");
        assert_eq!(t.hash_len(), 2);
        assert_eq!(t.get(&k), Some(&"first".into()));
        assert_eq!(t.get(&Value::Table(Table::new())), None);
        assert_eq!(t.remove(&k), Some("first".into()));
        assert_eq!(t.get(&k), Some(&"second".into()));
        assert_eq!(t.insert(k.clone(), Value::Nil), Some("second".into()));
        assert!(t.is_empty());
    }

    #[test]
    fn replaced_pairs_keep_their_place_and_removed_ones_leave_none() {
        let mut t = Table::new();
        for k in ["a", "b", "c", "d"] {
            t.insert(k, 1);
        }
        t.insert("b", 2);
        t.remove(&"c".into());
        t.insert("c", 3);
        assert_eq!(keys(&t), ["a".into(), "b".into(), "d".into(), "c".into()]);
        assert_eq!(t.get_str("b"), Some(&Value::Integer(2)));
    }

    #[test]
    fn many_removals_compact_the_pairs() {
        let mut t = Table::new();
        for i in 0..1000 {
            t.insert(format!("k{i}"), i);
        }
        for i in 0..990 {
            t.remove(&format!("k{i}").into());
        }
        let hash = t.hash.as_ref().unwrap();
        assert_eq!(hash.live, 10);
        assert!(hash.entries.len() <= 20, "{}", hash.entries.len());
        assert_eq!(t.get_str("k995"), Some(&Value::Integer(995)));
        assert_eq!(keys(&t)[0], "k990".into());
    }

    #[test]
    fn equality_ignores_pair_order_but_not_types() {
        let mut a = Table::new();
        a.insert("x", 1);
        a.insert("y", 2);
        a.insert(Table::new(), 1);
        a.insert(Table::new(), 2);
        let mut b = Table::new();
        b.insert(Table::new(), 2);
        b.insert("y", 2);
        b.insert(Table::new(), 1);
        b.insert("x", 1);
        assert_eq!(a, b);
        b.insert("x", 1.0);
        assert_ne!(a, b);
        let mut c = a.clone();
        c.remove(&Table::new().into());
        c.insert(Table::new(), 2);
        assert_ne!(a, c, "table keys are paired off, not merely found");
    }

    #[test]
    fn builder_handles_holes_duplicates_and_removals_in_any_order() {
        let mut b = TableBuilder::new(vec![1.into(), Value::Nil, 3.into(), 4.into()]);
        b.set(2.into(), 2.into()).unwrap();
        b.set(5.into(), 5.into()).unwrap();
        b.set("x".into(), 1.into()).unwrap();
        b.set("x".into(), Value::Nil).unwrap();
        b.set(7.into(), 7.into()).unwrap();
        b.set(4.into(), Value::Nil).unwrap();
        assert!(b.set(Value::Nil, 1.into()).is_err());
        let t = b.finish();
        assert_eq!(t.array(), ints(&[1, 2, 3]));
        assert_eq!(keys(&t)[3..], [Value::Integer(5), Value::Integer(7)]);
    }

    #[test]
    fn into_iter_and_pairs_agree() {
        let mut t = Table::from_array(ints(&[5, 6]));
        t.insert("k", "v");
        t.insert(Table::new(), false);
        let borrowed: Vec<(Value, Value)> = t
            .pairs()
            .map(|(k, v)| (k.into_owned(), v.clone()))
            .collect();
        let owned: Vec<(Value, Value)> = t.into_iter().collect();
        assert_eq!(borrowed, owned);
        assert_eq!(owned.len(), 4);
    }

    /// A key from a small domain, so operations collide often.
    fn key() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-2i64..12).prop_map(Value::Integer),
            prop_oneof![Just(1.0), Just(2.0), Just(-0.0), Just(2.5), Just(1e300)]
                .prop_map(Value::Number),
            prop_oneof![Just("a"), Just("b"), Just("")].prop_map(Value::from),
            any::<bool>().prop_map(Value::Boolean),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![1 => Just(Value::Nil), 3 => (0i64..100).prop_map(Value::Integer)]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Value, Value),
        Remove(Value),
        Push(Value),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => key().prop_map(Op::Remove),
            2 => value().prop_map(Op::Push),
        ]
    }

    /// A model key: what Lua would compare.
    fn model_key(key: &Value) -> String {
        match key {
            Value::Number(n) => match float_to_int(*n) {
                Some(i) => format!("i{i}"),
                None => format!("f{}", n.to_bits()),
            },
            Value::Integer(i) => format!("i{i}"),
            Value::String(s) => format!("s{}", String::from_utf8_lossy(s)),
            Value::Boolean(b) => format!("b{b}"),
            _ => unreachable!(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every sequence of operations leaves the table holding what a plain
        /// map would, with the array part exactly `t[1..=border]`.
        #[test]
        fn operations_agree_with_a_plain_map(ops in proptest::collection::vec(op(), 0..60)) {
            let mut t = Table::new();
            let mut model: std::collections::HashMap<String, (Value, Value)> = Default::default();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let old = t.insert(k.clone(), v.clone());
                        let expected = if v.is_nil() {
                            model.remove(&model_key(&k))
                        } else {
                            model.insert(model_key(&k), (k, v))
                        };
                        prop_assert_eq!(old, expected.map(|(_, v)| v));
                    }
                    Op::Remove(k) => {
                        let old = t.remove(&k);
                        prop_assert_eq!(old, model.remove(&model_key(&k)).map(|(_, v)| v));
                    }
                    Op::Push(v) => {
                        let n = (1..).find(|i| !model.contains_key(&format!("i{i}"))).unwrap();
                        t.push(v.clone());
                        if !v.is_nil() {
                            model.insert(format!("i{n}"), (Value::Integer(n), v));
                        }
                    }
                }
                let border = (1..).find(|i| !model.contains_key(&format!("i{i}"))).unwrap() - 1;
                prop_assert_eq!(t.len(), border as usize);
                prop_assert_eq!(t.hash_len(), model.len() - border as usize);
                for (i, v) in t.array().iter().enumerate() {
                    prop_assert_eq!(Some(v), model.get(&format!("i{}", i + 1)).map(|(_, v)| v));
                }
                for (k, v) in model.values() {
                    prop_assert_eq!(t.get(k), Some(v));
                }
                let mut seen: Vec<String> = t.pairs().map(|(k, _)| model_key(&k)).collect();
                seen.sort();
                let mut expected: Vec<String> = model.keys().cloned().collect();
                expected.sort();
                prop_assert_eq!(seen, expected);
            }
        }

        /// The builder (the decoder's path) gives the table that inserting
        /// the same pairs one by one gives.
        #[test]
        fn the_builder_agrees_with_insert(
            array in proptest::collection::vec(value(), 0..12),
            pairs in proptest::collection::vec((key(), value()), 0..40),
        ) {
            let mut expected = Table::new();
            for (i, v) in array.iter().enumerate() {
                expected.insert(i as i64 + 1, v.clone());
            }
            let mut builder = TableBuilder::new(array);
            for (k, v) in pairs {
                expected.insert(k.clone(), v.clone());
                builder.set(k, v).unwrap();
            }
            let built = builder.finish();
            prop_assert_eq!(built.array(), expected.array());
            prop_assert_eq!(built, expected);
        }
    }
}
