//! `lunet::value` against the real thing: bytes packed in Rust are unpacked by
//! the Lua-side codec (`lunet::lua::pack`) in a Lua VM and the other way
//! round, for random nested values; serde conversions for every mapping; and
//! the memory the decoder uses on hostile input, measured by a counting
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use lunet::lua::pack as lua_pack;
use lunet::value::{from_value, pack, to_value, unpack, Table, Value, ValueError};
use mlua::Lua;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// A counting allocator: live and peak bytes allocated by the current thread.
// ---------------------------------------------------------------------------

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: the slots may be gone while a thread is torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// const-initialized thread locals without destructors, so touching them
// neither allocates nor recurses.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a new block then a freed one: the peak includes both,
        // as a moving reallocation holds both.
        count(new_size as isize);
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak number of bytes this thread had allocated while `f` ran, above
/// what it had before.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

// ---------------------------------------------------------------------------
// Random Lua values, built on both sides.
// ---------------------------------------------------------------------------

/// A Lua value built in Rust, the same way on the Lua side and in a `Value`.
#[derive(Debug, Clone)]
enum Gen {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    /// Array values (a `Nil` makes a hole) and then hash pairs, set in order
    /// with a raw set (a `Nil` or NaN key is skipped; a later key overwrites
    /// an earlier one, except that every table key is a new table).
    Table(Vec<Gen>, Vec<(Gen, Gen)>),
}

impl Gen {
    fn skipped_key(&self) -> bool {
        matches!(self, Gen::Nil) || matches!(self, Gen::Float(f) if f.is_nan())
    }

    fn to_lua(&self, lua: &Lua) -> mlua::Value {
        match self {
            Gen::Nil => mlua::Value::Nil,
            Gen::Bool(b) => mlua::Value::Boolean(*b),
            Gen::Int(i) => mlua::Value::Integer(*i),
            Gen::Float(f) => mlua::Value::Number(*f),
            Gen::Str(s) => mlua::Value::String(lua.create_string(s).unwrap()),
            Gen::Table(array, hash) => {
                let t = lua.create_table().unwrap();
                for (i, v) in array.iter().enumerate() {
                    t.raw_set(i as i64 + 1, v.to_lua(lua)).unwrap();
                }
                for (k, v) in hash {
                    if !k.skipped_key() {
                        t.raw_set(k.to_lua(lua), v.to_lua(lua)).unwrap();
                    }
                }
                mlua::Value::Table(t)
            }
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Gen::Nil => Value::Nil,
            Gen::Bool(b) => Value::Boolean(*b),
            Gen::Int(i) => Value::Integer(*i),
            Gen::Float(f) => Value::Number(*f),
            Gen::Str(s) => Value::from(s.clone()),
            Gen::Table(array, hash) => {
                let mut t = Table::new();
                for (i, v) in array.iter().enumerate() {
                    t.insert(i as i64 + 1, v.to_value());
                }
                for (k, v) in hash {
                    // In Lua a fresh table key with a nil value sets nothing;
                    // in a `Table` it would remove an equal-looking key.
                    let fresh_table_nil = matches!(k, Gen::Table(..)) && matches!(v, Gen::Nil);
                    if !k.skipped_key() && !fresh_table_nil {
                        t.insert(k.to_value(), v.to_value());
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
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)].prop_map(Gen::Int),
        any::<f64>().prop_map(Gen::Float),
        prop_oneof![
            Just(-0.0),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::from_bits(0x7ff0_0000_0000_0001)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(2.0),
            Just(9.3e18),
            Just(-9_223_372_036_854_775_808.0),
        ]
        .prop_map(Gen::Float),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Gen::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Gen::Str),
        "[a-z_]{1,6}".prop_map(|s| Gen::Str(s.into_bytes())),
    ]
}

/// Nested values with mixed keys: scalars, small integers (which collide
/// with and extend array parts) and tables.
fn gen() -> impl Strategy<Value = Gen> {
    gen_with(12, true)
}

/// Values whose tables have at most `pairs` hash pairs; with `holes` false,
/// no `nil` is set in a table (so no array part is cut short).
fn gen_with(pairs: usize, holes: bool) -> impl Strategy<Value = Gen> {
    scalar().prop_recursive(6, 200, 12, move |inner| {
        let key = prop_oneof![
            4 => scalar(),
            2 => (1i64..16).prop_map(Gen::Int),
            1 => inner.clone(),
        ];
        let element = inner
            .clone()
            .prop_filter("no holes", move |g| holes || !matches!(g, Gen::Nil));
        (
            proptest::collection::vec(element.clone(), 0..12),
            proptest::collection::vec((key, element), 0..=pairs),
        )
            .prop_map(|(array, hash)| Gen::Table(array, hash))
    })
}

/// Bit-exact equality: floats by their bits (NaN payloads included), integers
/// and floats distinct, tables with the same pairs in any order (table keys
/// paired off).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.to_bits() == y.to_bits(),
        (Value::Table(x), Value::Table(y)) => same_table(x, y),
        _ => a == b,
    }
}

fn same_table(a: &Table, b: &Table) -> bool {
    if a.len() != b.len() || a.hash_len() != b.hash_len() {
        return false;
    }
    let mut theirs: Vec<Option<(Value, &Value)>> =
        b.pairs().map(|(k, v)| Some((k.into_owned(), v))).collect();
    a.pairs().all(|(ka, va)| {
        theirs
            .iter_mut()
            .find(|slot| matches!(slot, Some((kb, vb)) if same(&ka, kb) && same(va, vb)))
            .and_then(Option::take)
            .is_some()
    })
}

/// Whether every table in `v` has at most one pair outside its array part,
/// so that the Lua encoder's output does not depend on `next`'s order.
fn deterministic(v: &Value) -> bool {
    match v {
        Value::Table(t) => {
            t.hash_len() <= 1
                && t.pairs()
                    .all(|(k, v)| deterministic(&k) && deterministic(v))
        }
        _ => true,
    }
}

/// Packs Lua values with the Lua-side codec.
fn lua_pack_values(lua: &Lua, values: &[mlua::Value]) -> Vec<u8> {
    lua_pack::pack(lua, values).expect("the Lua-side pack")
}

/// Unpacks with the Lua-side codec into `lua`, then packs again there: the
/// bytes Lua would send back after receiving `bytes`.
fn through_lua(lua: &Lua, bytes: &[u8]) -> Vec<u8> {
    let values: Vec<mlua::Value> = lua_pack::unpack(lua, bytes)
        .expect("the Lua-side unpack")
        .into_iter()
        .collect();
    lua_pack_values(lua, &values)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Rust packs, the Lua codec unpacks into a VM and packs again, Rust
    /// unpacks: the same values come back, bit for bit.
    #[test]
    fn rust_pack_round_trips_through_a_lua_vm(gens in proptest::collection::vec(gen(), 0..4)) {
        let values: Vec<Value> = gens.iter().map(Gen::to_value).collect();
        let bytes = pack(&values).unwrap();
        let lua = Lua::new();
        let back = unpack(&through_lua(&lua, &bytes)).unwrap();
        prop_assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(&back) {
            prop_assert!(same(a, b), "{} came back as {}", a, b);
        }
    }

    /// The Lua codec packs values built in a VM; Rust unpacks exactly the
    /// values built the same way in Rust, and packs them back to the very
    /// same bytes.
    #[test]
    fn lua_pack_unpacks_in_rust_and_repacks_byte_for_byte(gens in proptest::collection::vec(gen(), 0..4)) {
        let lua = Lua::new();
        let lua_values: Vec<mlua::Value> = gens.iter().map(|g| g.to_lua(&lua)).collect();
        let bytes = lua_pack_values(&lua, &lua_values);
        let values = unpack(&bytes).unwrap();
        prop_assert_eq!(values.len(), gens.len());
        for (g, v) in gens.iter().zip(&values) {
            let expected = g.to_value();
            prop_assert!(same(&expected, v), "{} unpacked as {}", expected, v);
        }
        prop_assert_eq!(pack(&values).unwrap().to_vec(), bytes);
    }

    /// Where the Lua encoder's output does not depend on table iteration
    /// order, both encoders write the same bytes.
    #[test]
    fn both_encoders_agree_byte_for_byte_on_deterministic_values(
        gens in proptest::collection::vec(gen_with(1, false), 0..4),
    ) {
        let values: Vec<Value> = gens.iter().map(Gen::to_value).collect();
        prop_assert!(values.iter().all(deterministic));
        let lua = Lua::new();
        let lua_values: Vec<mlua::Value> = gens.iter().map(|g| g.to_lua(&lua)).collect();
        prop_assert_eq!(pack(&values).unwrap().to_vec(), lua_pack_values(&lua, &lua_values));
    }
}

#[test]
fn lua_code_sees_exactly_what_rust_packed() {
    let mut t = Table::from_array(vec![10.into(), 2.5.into(), "three".into()]);
    t.insert("int", 7);
    t.insert("float", 7.0);
    t.insert("neg_zero", -0.0);
    t.insert("min", i64::MIN);
    t.insert("bin", vec![0u8, 255, 10]);
    t.insert(false, "no");
    t.insert(100, "hundred");
    t.insert(1.5, "one and a half");
    t.insert(Table::from_array(vec!["key".into()]), "table key");
    t.insert(
        "nested",
        Table::from_array(vec![Table::from_array(vec![1.into()]).into()]),
    );
    let bytes = pack(&[Value::Table(t), Value::Nil, "last".into()]).unwrap();

    let lua = Lua::new();
    let check: mlua::Function = lua
        .load(
            r#"
            return function(n, t, gap, last)
                assert(n == 3, "count " .. n)
                assert(#t == 3 and t[1] == 10 and t[2] == 2.5 and t[3] == "three")
                assert(math.type(t[1]) == "integer" and math.type(t[2]) == "float")
                assert(math.type(t.int) == "integer" and t.int == 7)
                assert(math.type(t.float) == "float" and t.float == 7.0)
                assert(1 / t.neg_zero == -math.huge)
                assert(t.min == math.mininteger)
                assert(t.bin == "\0\255\n")
                assert(t[false] == "no" and t[100] == "hundred" and t[1.5] == "one and a half")
                local found
                for k, v in pairs(t) do
                    if type(k) == "table" then found = k[1] .. "=" .. v end
                end
                assert(found == "key=table key", found)
                assert(t.nested[1][1] == 1)
                assert(gap == nil and last == "last")
                return "ok"
            end
            "#,
        )
        .eval()
        .unwrap();
    let values = lua_pack::unpack(&lua, &bytes).unwrap();
    let n = values.len();
    let mut args = vec![mlua::Value::Integer(n as i64)];
    args.extend(values);
    let result: String = check
        .call(mlua::MultiValue::from_vec(args))
        .unwrap_or_else(|e| panic!("the Lua check failed: {e}"));
    assert_eq!(result, "ok");
}

#[test]
fn rust_reads_exactly_what_lua_packed() {
    let lua = Lua::new();
    let values: mlua::MultiValue = lua
        .load(
            r#"
            local t = {1, 2, 3, name = "ann", [2.0 ^ 70] = "big", [-1] = true}
            t[2.0] = "two" -- an integral float key is the integer 2
            return t, 1.0, math.maxinteger, "\0\255", nil
            "#,
        )
        .eval()
        .unwrap();
    let values: Vec<mlua::Value> = values.into_iter().collect();
    let back = unpack(&lua_pack_values(&lua, &values)).unwrap();
    assert_eq!(back.len(), 5);
    let t = back[0].as_table().unwrap();
    assert_eq!(t.array(), [Value::from(1), "two".into(), 3.into()]);
    assert_eq!(t.get_str("name").and_then(Value::as_str), Some("ann"));
    assert_eq!(t.get(&Value::Number(2f64.powi(70))), Some(&"big".into()));
    assert_eq!(t.get_index(-1), Some(&Value::Boolean(true)));
    assert!(matches!(back[1], Value::Number(n) if n == 1.0));
    assert_eq!(back[2], Value::Integer(i64::MAX));
    assert_eq!(back[3].as_bytes(), Some(&b"\0\xff"[..]));
    assert!(back[4].is_nil());
}

#[test]
fn rust_unpack_rejects_what_the_lua_unpack_rejects() {
    let lua = Lua::new();
    let mut bad: Vec<Vec<u8>> = vec![
        vec![0x07],
        vec![0x45, b'a'],
        vec![0x06, 0, 1, 0x00, 0x81],
        vec![0x06, 3, 0, 0x81],
        vec![
            0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
        ],
    ];
    let mut deep = Vec::new();
    for _ in 0..33 {
        deep.extend_from_slice(&[0x06, 1, 0]);
    }
    bad.push(deep);
    for data in &bad {
        let ours = unpack(data).expect_err("malformed input").to_string();
        let theirs = lua_pack::unpack(&lua, data)
            .expect_err("malformed input")
            .to_string();
        // Same wording, each with its function's name.
        assert_eq!(
            ours.strip_prefix("unpack: "),
            theirs.strip_prefix("skynet.unpack: "),
            "{data:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Memory on hostile input.
// ---------------------------------------------------------------------------

#[test]
fn decoding_memory_is_linear_in_the_input() {
    const N: usize = 100_000;
    let mut shapes: Vec<(&str, Vec<u8>)> = Vec::new();
    shapes.push(("nils", vec![0x00; N]));
    shapes.push(("empty tables", [0x06, 0, 0].repeat(N / 3)));
    shapes.push(("one-byte strings", [0x41, b'x'].repeat(N / 2)));
    let mut pairs = vec![0x06, 0x00];
    let count = (N / 4) as u32;
    pairs.extend_from_slice(&[
        0x80 | (count & 0x7f) as u8,
        0x80 | ((count >> 7) & 0x7f) as u8,
        (count >> 14) as u8,
    ]);
    for i in 0..count {
        // Distinct two-byte string keys, small integer values.
        pairs.extend_from_slice(&[0x42, (i >> 8) as u8, i as u8, 0x80]);
    }
    shapes.push(("string-keyed pairs", pairs));
    for (what, data) in &shapes {
        let (values, peak) = peak_allocation(|| unpack(data).unwrap());
        assert!(!values.is_empty());
        let per_byte = peak / data.len();
        assert!(
            per_byte <= 200,
            "{what}: {peak} bytes for {} input bytes",
            data.len()
        );
        drop(values);
    }
    // A claimed size beyond the input allocates nothing.
    let lie = [0x06, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x81];
    let (result, peak) = peak_allocation(|| unpack(&lie));
    assert!(result.is_err());
    assert!(peak < 1024, "{peak} bytes allocated for a lying header");
}

// ---------------------------------------------------------------------------
// serde.
// ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Action {
    Idle,
    Say(String),
    Move(i32, i32),
    Cast { spell: String, target: Option<u32> },
    Wait(Option<u32>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Unit;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Id(u64);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Point(f32, f32);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Player {
    name: String,
    id: Id,
    level: u8,
    hp: f64,
    pos: Point,
    tags: Vec<String>,
    stats: HashMap<String, i64>,
    by_slot: BTreeMap<u32, String>,
    guild: Option<String>,
    title: Option<String>,
    history: Vec<Action>,
    flags: (bool, char, Unit),
    nested: Vec<Vec<i16>>,
}

fn player() -> Player {
    Player {
        name: "ann".into(),
        id: Id(42),
        level: 7,
        hp: 99.5,
        pos: Point(1.5, -2.0),
        tags: vec!["a".into(), "b c".into()],
        stats: [("str".to_string(), 10), ("dex".to_string(), -3)].into(),
        by_slot: [
            (1, "sword".to_string()),
            (2, "shield".to_string()),
            (9, "ring".to_string()),
        ]
        .into(),
        guild: Some("owls".into()),
        title: None,
        history: vec![
            Action::Idle,
            Action::Say("hi".into()),
            Action::Move(3, -4),
            Action::Cast {
                spell: "fire".into(),
                target: None,
            },
            Action::Wait(None),
            Action::Wait(Some(5)),
        ],
        flags: (true, 'é', Unit),
        nested: vec![vec![], vec![1], vec![2, 3]],
    }
}

#[test]
fn a_struct_round_trips_through_value_and_through_pack() {
    let p = player();
    let v = to_value(&p).unwrap();
    let t = v.as_table().unwrap();
    assert_eq!(t.get_str("name").and_then(Value::as_str), Some("ann"));
    assert_eq!(t.get_str("id"), Some(&Value::Integer(42)));
    assert!(t.get_str("title").is_none(), "None leaves no key");
    let by_slot = t.get_str("by_slot").and_then(Value::as_table).unwrap();
    assert_eq!(by_slot.len(), 2, "keys 1 and 2 are the array part");
    let history = t.get_str("history").and_then(Value::as_table).unwrap();
    assert_eq!(
        history.to_string(),
        r#"{"Idle", {Say = "hi"}, {Move = {3, -4}}, {Cast = {spell = "fire"}}, "Wait", {Wait = 5}}"#
    );
    assert_eq!(from_value::<Player>(v.clone()).unwrap(), p);
    let packed = pack(&[v]).unwrap();
    let back = unpack(&packed).unwrap().remove(0);
    assert_eq!(from_value::<Player>(back).unwrap(), p);
}

#[test]
fn a_struct_packed_in_rust_reads_in_lua() {
    let bytes = pack(&[to_value(&player()).unwrap()]).unwrap();
    let lua = Lua::new();
    let values = lua_pack::unpack(&lua, &bytes).unwrap();
    lua.globals()
        .set("p", values.into_iter().next().unwrap())
        .unwrap();
    lua.load(
        r#"
        assert(p.name == "ann" and p.level == 7 and p.hp == 99.5 and p.id == 42)
        assert(p.pos[1] == 1.5 and p.pos[2] == -2.0)
        assert(p.stats.str == 10 and p.stats.dex == -3)
        assert(p.by_slot[1] == "sword" and p.by_slot[9] == "ring")
        assert(p.title == nil and p.guild == "owls")
        assert(p.history[1] == "Idle" and p.history[3].Move[2] == -4)
        assert(p.history[4].Cast.spell == "fire" and p.history[5] == "Wait")
        assert(p.flags[1] == true and p.flags[2] == "é" and p.flags[3] == nil)
        assert(#p.nested[1] == 0 and p.nested[3][2] == 3)
        "#,
    )
    .exec()
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn scalars_map_as_documented() {
    assert_eq!(to_value(&true).unwrap(), Value::Boolean(true));
    assert_eq!(to_value(&-5i8).unwrap(), Value::Integer(-5));
    assert_eq!(
        to_value(&u32::MAX).unwrap(),
        Value::Integer(u32::MAX as i64)
    );
    assert_eq!(
        to_value(&(i64::MAX as u64)).unwrap(),
        Value::Integer(i64::MAX)
    );
    assert_eq!(to_value(&-7i128).unwrap(), Value::Integer(-7));
    assert_eq!(to_value(&1.5f32).unwrap(), Value::Number(1.5));
    assert_eq!(to_value(&'x').unwrap(), Value::from("x"));
    assert_eq!(to_value("s").unwrap(), Value::from("s"));
    assert_eq!(to_value(&()).unwrap(), Value::Nil);
    assert_eq!(to_value(&Unit).unwrap(), Value::Nil);
    assert_eq!(to_value(&None::<i32>).unwrap(), Value::Nil);
    assert_eq!(to_value(&Some(3)).unwrap(), Value::Integer(3));
    assert_eq!(to_value(&Id(9)).unwrap(), Value::Integer(9));
    assert_eq!(to_value(&Action::Idle).unwrap(), Value::from("Idle"));
    assert_eq!(to_value(&[1, 2]).unwrap().to_string(), "{1, 2}");
    assert_eq!(to_value(&Vec::<i32>::new()).unwrap().to_string(), "{}");

    let err = to_value(&u64::MAX).unwrap_err();
    assert_eq!(
        err.to_string(),
        "integer 18446744073709551615 is out of range for a Lua integer (i64)"
    );
    let err = to_value(&vec![(1u8, u128::MAX)]).unwrap_err();
    assert_eq!(err.path(), "[1][2]");
}

/// Bytes through serde's bytes methods, as `serde_bytes` would.
#[derive(Debug, PartialEq)]
struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
        }
        d.deserialize_bytes(V)
    }
}

#[test]
fn bytes_are_binary_strings() {
    let v = to_value(&Blob(vec![0, 255, 1])).unwrap();
    assert_eq!(v.as_bytes(), Some(&[0u8, 255, 1][..]));
    assert_eq!(
        from_value::<Blob>(v.clone()).unwrap(),
        Blob(vec![0, 255, 1])
    );
    // A string also reads as a sequence of bytes.
    assert_eq!(from_value::<Vec<u8>>(v.clone()).unwrap(), [0, 255, 1]);
    assert_eq!(from_value::<[u8; 3]>(v.clone()).unwrap(), [0, 255, 1]);
    assert!(from_value::<[u8; 2]>(v.clone()).is_err());
    // But it is not text.
    let err = from_value::<String>(v).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"expected a UTF-8 string, found string "\0\xff\x01""#
    );
}

#[test]
fn nil_in_sequences_leaves_holes() {
    let v = to_value(&vec![Some(1), None, Some(3)]).unwrap();
    assert_eq!(v.to_string(), "{1, [3] = 3}");
    assert_eq!(
        from_value::<Vec<Option<i32>>>(v).unwrap(),
        [Some(1), None, Some(3)]
    );
    // A trailing None is lost: a table cannot end with nil.
    let v = to_value(&vec![Some(1), None]).unwrap();
    assert_eq!(from_value::<Vec<Option<i32>>>(v).unwrap(), [Some(1)]);
    // A tuple knows its length, so its missing tail reads as nil.
    let v = to_value(&(1, None::<i32>, None::<String>)).unwrap();
    assert_eq!(v.to_string(), "{1}");
    assert_eq!(
        from_value::<(i32, Option<i32>, Option<String>)>(v).unwrap(),
        (1, None, None)
    );
    // Some(None) collapses.
    let v = to_value(&Some(None::<i32>)).unwrap();
    assert_eq!(from_value::<Option<Option<i32>>>(v).unwrap(), None);
    // Too sparse for a sequence.
    let mut t = Table::new();
    t.insert(1, 1);
    t.insert(100, 2);
    let err = from_value::<Vec<Option<i32>>>(Value::Table(t)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a sequence, found a table with 2 integer keys up to 100 (too sparse for a \
         sequence)"
    );
}

#[test]
fn reads_are_lenient_where_the_intent_is_clear() {
    assert_eq!(from_value::<f64>(3.into()).unwrap(), 3.0);
    assert_eq!(from_value::<f32>(3.into()).unwrap(), 3.0);
    assert_eq!(from_value::<u8>(3.0.into()).unwrap(), 3);
    assert_eq!(
        from_value::<u64>(1.5e19.into()).unwrap(),
        15_000_000_000_000_000_000
    );
    assert_eq!(
        from_value::<i128>(i64::MIN.into()).unwrap(),
        i64::MIN as i128
    );
    assert_eq!(from_value::<char>("é".into()).unwrap(), 'é');
    // The empty table is an empty sequence and an empty map.
    assert!(from_value::<Vec<i32>>(Table::new().into())
        .unwrap()
        .is_empty());
    assert!(from_value::<HashMap<String, i32>>(Table::new().into())
        .unwrap()
        .is_empty());
    // A map reads every pair, the array part's keys as integers.
    let mut t = Table::from_array(vec!["a".into(), "b".into()]);
    t.insert(10, "j");
    let m: BTreeMap<i64, String> = from_value(t.into()).unwrap();
    assert_eq!(
        m,
        [(1, "a".into()), (2, "b".into()), (10, "j".into())].into()
    );
    // A struct from an array, field by field.
    #[derive(Deserialize, Debug, PartialEq)]
    struct P {
        x: i32,
        y: i32,
    }
    assert_eq!(
        from_value::<P>(Value::from(vec![Value::from(1), Value::from(2)])).unwrap(),
        P { x: 1, y: 2 }
    );
    // Unknown keys are ignored, integer ones included.
    let mut t = Table::from_array(vec!["extra".into()]);
    t.insert("x", 5);
    t.insert("y", 6);
    t.insert("z", 7);
    assert_eq!(from_value::<P>(t.into()).unwrap(), P { x: 5, y: 6 });
}

#[test]
fn non_string_keys_match_fields_by_their_lua_text() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Mixed {
        #[serde(rename = "1")]
        first: String,
        name: String,
    }
    let mut t = Table::from_array(vec!["one".into()]);
    t.insert("name", "n");
    assert_eq!(
        from_value::<Mixed>(t.into()).unwrap(),
        Mixed {
            first: "one".into(),
            name: "n".into()
        }
    );

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        name: String,
    }
    let mut t = Table::from_array(vec!["one".into()]);
    t.insert("name", "n");
    let err = from_value::<Strict>(t.into()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown field `1`, expected `name` (at [1])"
    );
}

#[test]
fn enums_read_from_names_and_one_key_tables() {
    for action in player().history {
        let v = to_value(&action).unwrap();
        assert_eq!(from_value::<Action>(v).unwrap(), action);
    }
    // A name alone also reads as a variant whose payload may be absent.
    assert_eq!(
        from_value::<Action>("Wait".into()).unwrap(),
        Action::Wait(None)
    );
    let err = from_value::<Action>("Say".into()).unwrap_err();
    assert_eq!(err.to_string(), "expected a string, found nil (at .Say)");
    let err = from_value::<Action>("Jump".into()).unwrap_err();
    assert!(
        err.to_string().starts_with("unknown variant `Jump`"),
        "{err}"
    );
    let mut two = Table::new();
    two.insert("Say", "a");
    two.insert("Idle", true);
    let err = from_value::<Action>(two.into()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected an enum variant (a name, or a table with one key), found a table with 2 keys"
    );
    let mut payload = Table::new();
    payload.insert("Idle", true);
    let err = from_value::<Action>(payload.into()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected no payload for a unit variant, found boolean true (at .Idle)"
    );
}

#[test]
fn errors_name_the_value_the_type_and_the_path() {
    let mut p = to_value(&player()).unwrap();
    let history = p
        .as_table_mut()
        .unwrap()
        .get_str("history")
        .cloned()
        .unwrap();
    let mut history = history.into_table().unwrap();
    history.insert(4, {
        let mut cast = Table::new();
        let mut body = Table::new();
        body.insert("spell", 3);
        cast.insert("Cast", body);
        cast
    });
    p.as_table_mut().unwrap().insert("history", history);
    let err = from_value::<Player>(p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a string, found integer 3 (at .history[4].Cast.spell)"
    );

    let cases: Vec<(ValueError, &str)> = vec![
        (
            from_value::<u8>(256.into()).unwrap_err(),
            "integer 256 is out of range for u8",
        ),
        (
            from_value::<u32>((-1).into()).unwrap_err(),
            "integer -1 is out of range for u32",
        ),
        (
            from_value::<i64>(1e19.into()).unwrap_err(),
            "number 1e19 is out of range for i64",
        ),
        (
            from_value::<i32>(2.5.into()).unwrap_err(),
            "expected an integer (i32), found number 2.5",
        ),
        (
            from_value::<bool>(Value::Nil).unwrap_err(),
            "expected a boolean, found nil",
        ),
        (
            from_value::<String>(Table::new().into()).unwrap_err(),
            "expected a string, found a table",
        ),
        (
            from_value::<char>("ab".into()).unwrap_err(),
            r#"expected a single character, found string "ab""#,
        ),
        (
            from_value::<()>(false.into()).unwrap_err(),
            "expected nil, found boolean false",
        ),
        (
            from_value::<Vec<i32>>(1.into()).unwrap_err(),
            "expected a sequence, found integer 1",
        ),
        (
            from_value::<HashMap<String, i32>>("x".into()).unwrap_err(),
            r#"expected a map (a table), found string "x""#,
        ),
        (
            from_value::<(i32, i32)>(Value::from(vec![Value::from(1), 2.into(), 3.into()]))
                .unwrap_err(),
            "expected a tuple of 2 values, found a sequence of 3 values",
        ),
        (
            from_value::<Player>(Table::new().into()).unwrap_err(),
            "missing field `name`",
        ),
    ];
    for (err, expected) in cases {
        assert_eq!(err.to_string(), expected);
    }
    let mut t = Table::from_array(vec![1.into()]);
    t.insert("x", 2);
    let err = from_value::<Vec<i32>>(t.into()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"expected a sequence, found a table with key string "x""#
    );
    let mut m = HashMap::new();
    m.insert(Some(1), 1);
    m.insert(None, 2);
    let err = to_value(&m).unwrap_err();
    assert_eq!(err.to_string(), "invalid table key: nil");
}

#[test]
fn values_and_tables_are_serde_types_themselves() {
    let p = to_value(&player()).unwrap();
    assert_eq!(to_value(&p).unwrap(), p);
    assert_eq!(from_value::<Value>(p.clone()).unwrap(), p);
    let t = from_value::<Table>(p.clone()).unwrap();
    assert_eq!(Value::Table(t), p);
    assert_eq!(
        from_value::<Table>(1.into()).unwrap_err().to_string(),
        "expected a table, found integer 1"
    );
}

// ---------------------------------------------------------------------------
// serde_json.
// ---------------------------------------------------------------------------

#[test]
fn json_converts_both_ways() {
    let json = r#"{"name":"ann","hp":99.5,"level":7,"tags":["a","b"],"guild":null,"empty":[],"deep":{"x":[1,{"y":true}]}}"#;
    let v: Value = serde_json::from_str(json).unwrap();
    let t = v.as_table().unwrap();
    assert_eq!(t.get_str("hp"), Some(&Value::Number(99.5)));
    assert_eq!(t.get_str("level"), Some(&Value::Integer(7)));
    assert!(t.get_str("guild").is_none(), "null leaves no key");
    assert_eq!(
        t.get_str("tags").map(Value::to_string).as_deref(),
        Some(r#"{"a", "b"}"#)
    );
    // Back to JSON: the same document, but for the null (gone) and the empty
    // array (an empty table writes as an object, as cjson does).
    let back: serde_json::Value = serde_json::to_value(&v).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        r#"{"name":"ann","hp":99.5,"level":7,"tags":["a","b"],"empty":{},"deep":{"x":[1,{"y":true}]}}"#,
    )
    .unwrap();
    assert_eq!(back, expected);

    // Integer keys become JSON's string keys; a table key cannot.
    let mut t = Table::from_array(vec!["a".into()]);
    t.insert(5, "e");
    assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"1":"a","5":"e"}"#);
    t.insert(Table::new(), 1);
    assert!(serde_json::to_string(&t).is_err());
    // Non-UTF-8 strings are bytes: a list of numbers in JSON.
    assert_eq!(
        serde_json::to_string(&Value::from(vec![0u8, 255])).unwrap(),
        "[0,255]"
    );
    // Integers beyond i64 are refused, as in `to_value`.
    let err = serde_json::from_str::<Value>("18446744073709551615").unwrap_err();
    assert!(
        err.to_string().contains("out of range for a Lua integer"),
        "{err}"
    );
    // A struct through JSON and through Value gives the same JSON.
    let p = player();
    let direct = serde_json::to_value(&p).unwrap();
    let via = serde_json::to_value(to_value(&p).unwrap()).unwrap();
    for field in ["name", "id", "pos", "tags", "stats", "by_slot"] {
        assert_eq!(direct[field], via[field], "{field}");
    }
    // Where nil is involved they differ: `Wait(None)` is `{"Wait": null}`
    // in serde_json and the name alone here.
    assert_eq!(via["history"][4], serde_json::json!("Wait"));
}
