//! How values are shown: [`Display`] for [`Value`] and [`Table`] in Lua
//! syntax, and the short forms used in error messages and paths.
//!
//! [`Display`] writes a Lua-ish literal: `nil`, `true`, `42`, floats with a
//! fractional part or an exponent so they read as floats (`1.0`, `2.5`,
//! `1e100`; `inf`, `-inf` and `nan` for the non-finite ones, as Lua's
//! `tostring` prints them), strings in double quotes with Lua escapes
//! (`\n`, `\t`, `\r`, `\\`, `\"`, `\0`, and `\xNN` for other control bytes
//! and for bytes that are not UTF-8), and tables as constructors:
//! `{1, 2, x = true, ["a b"] = 1, [2.5] = {}}`, the array part first.
//! The output is Lua source for every value except NaN and the infinities.
//! Formatting flags (width, precision) are ignored.

use std::fmt::{self, Display, Formatter, Write as _};

use super::{Table, Value};

/// Strings longer than this are cut (with `...`) in error messages and paths.
const SHOWN: usize = 40;

/// Lua syntax: `nil`, `true`, `42`, floats that read as floats (`1.0`,
/// `2.5`, `1e100`, `inf`, `-inf`, `nan`), strings in double quotes with Lua
/// escapes (`\xNN` for control bytes and bytes that are not UTF-8), and
/// tables as constructors, the array part first. Formatting flags are
/// ignored.
///
/// ```
/// use lunet::value::{Table, Value};
///
/// let mut t = Table::from_array(vec![Value::from(1), Value::from(2.0)]);
/// t.insert("x", true);
/// t.insert("a b", "line\n");
/// t.insert(10, vec![0xffu8]);
/// assert_eq!(t.to_string(), r#"{1, 2.0, x = true, ["a b"] = "line\n", [10] = "\xff"}"#);
/// assert_eq!(Value::from(f64::NEG_INFINITY).to_string(), "-inf");
/// ```
impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Number(n) => number(*n, f),
            Value::String(s) => quoted(s, usize::MAX, f),
            Value::Table(t) => t.fmt(f),
        }
    }
}

/// As for [`Value`]: a table constructor, the array part first, then the
/// other pairs in insertion order (`name = v` for identifier keys,
/// `[key] = v` for others).
///
/// ```
/// let mut t = lunet::value::Table::new();
/// t.insert("end", 1); // a keyword: not an identifier
/// t.insert(false, 2);
/// assert_eq!(t.to_string(), r#"{["end"] = 1, [false] = 2}"#);
/// ```
impl Display for Table {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (n, (key, value)) in self.pairs().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            if n >= self.len() {
                match identifier(&key) {
                    Some(name) => write!(f, "{name} = ")?,
                    None => write!(f, "[{key}] = ")?,
                }
            }
            value.fmt(f)?;
        }
        f.write_char('}')
    }
}

/// A float as Lua shows it, always recognisable as a float.
fn number(n: f64, f: &mut Formatter<'_>) -> fmt::Result {
    if n.is_nan() {
        f.write_str("nan")
    } else if n.is_infinite() {
        f.write_str(if n > 0.0 { "inf" } else { "-inf" })
    } else {
        // `Debug` keeps a `.0` on integral values and uses exponents for
        // very large and very small ones.
        write!(f, "{n:?}")
    }
}

/// `bytes` as a double-quoted Lua string, cut after `max` bytes.
fn quoted(bytes: &[u8], max: usize, f: &mut impl fmt::Write) -> fmt::Result {
    let shown = &bytes[..bytes.len().min(max)];
    f.write_char('"')?;
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                c if c.is_control() && c.is_ascii() => write!(f, "\\x{:02x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        for byte in chunk.invalid() {
            write!(f, "\\x{byte:02x}")?;
        }
    }
    f.write_char('"')?;
    if shown.len() < bytes.len() {
        f.write_str("...")?;
    }
    Ok(())
}

/// The key as a Lua identifier, when `t.key` is valid Lua for it.
fn identifier(key: &Value) -> Option<&str> {
    const KEYWORDS: [&str; 22] = [
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
        "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ];
    let name = key.as_str()?;
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name);
    valid.then_some(name)
}

/// The path segment for a table key: `.name` for identifiers, `[3]`,
/// `["a b"]`, `[true]`, `[2.5]`, `[<table key>]`.
pub(crate) fn key_segment(key: &Value) -> String {
    if let Some(name) = identifier(key) {
        return format!(".{name}");
    }
    let mut out = String::new();
    let _ = match key {
        Value::String(s) => {
            out.push('[');
            let _ = quoted(s, SHOWN, &mut out);
            out.push(']');
            Ok(())
        }
        Value::Table(_) => write!(out, "[<table key>]"),
        other => write!(out, "[{other}]"),
    };
    out
}

/// A value as error messages name it: `nil`, `boolean true`, `integer 3`,
/// `number 2.5`, `string "abc"` (cut after 40 bytes), `a table`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Nil => "nil".to_string(),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Integer(i) => format!("integer {i}"),
        Value::Number(n) => format!("number {value}", value = Value::Number(*n)),
        Value::String(s) => {
            let mut out = "string ".to_string();
            let _ = quoted(s, SHOWN, &mut out);
            out
        }
        Value::Table(_) => "a table".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_print_as_lua_literals() {
        let shown: Vec<String> = [
            Value::Nil,
            Value::Boolean(false),
            Value::Integer(i64::MIN),
            Value::Number(1.0),
            Value::Number(-0.0),
            Value::Number(2.5),
            Value::Number(1e100),
            Value::Number(f64::INFINITY),
            Value::Number(f64::NEG_INFINITY),
            Value::Number(f64::NAN),
        ]
        .iter()
        .map(Value::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "nil",
                "false",
                "-9223372036854775808",
                "1.0",
                "-0.0",
                "2.5",
                "1e100",
                "inf",
                "-inf",
                "nan"
            ]
        );
    }

    #[test]
    fn strings_are_quoted_with_lua_escapes() {
        let v = Value::from(&b"a\"b\\c\n\t\r\0\x01\x7f\xff\xc3\xa9"[..]);
        assert_eq!(v.to_string(), r#""a\"b\\c\n\t\r\0\x01\x7f\xffé""#);
    }

    #[test]
    fn tables_print_as_constructors() {
        let mut t = Table::from_array(vec![1.into(), "two".into()]);
        t.insert("x", true);
        t.insert("a b", 1);
        t.insert("end", 2);
        t.insert(2.5, Table::new());
        t.insert(
            10,
            Value::Table(Table::from_array(vec![Value::Nil, 3.into()])),
        );
        t.insert(false, -1);
        assert_eq!(
            t.to_string(),
            r#"{1, "two", x = true, ["a b"] = 1, ["end"] = 2, [2.5] = {}, [10] = {[2] = 3}, [false] = -1}"#
        );
        assert_eq!(Table::new().to_string(), "{}");
    }

    #[test]
    fn paths_and_descriptions_are_short() {
        assert_eq!(key_segment(&"name".into()), ".name");
        assert_eq!(key_segment(&"a b".into()), r#"["a b"]"#);
        assert_eq!(key_segment(&3.into()), "[3]");
        assert_eq!(key_segment(&Value::Table(Table::new())), "[<table key>]");
        let long = "x".repeat(50);
        assert_eq!(
            describe(&Value::from(long.as_str())),
            format!("string \"{}\"...", "x".repeat(40))
        );
        assert_eq!(
            key_segment(&format!("{long}!").into()),
            format!("[\"{}\"...]", "x".repeat(40))
        );
        assert_eq!(describe(&Value::Number(3.0)), "number 3.0");
    }
}
