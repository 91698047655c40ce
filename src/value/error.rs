//! [`ValueError`]: why a conversion between Rust data and a [`Value`] failed.
//!
//! The message says what was expected and what was found, and the path says
//! where, in Lua syntax from the converted value down: `.players[2].name` is
//! the `name` field of the second element of the `players` field. Array
//! indices are Lua's, starting at 1. The path is empty for a failure at the
//! top level, and is built while the error travels out of nested values.
//!
//! [`Value`]: super::Value

use std::fmt::Display;

use super::display::key_segment;
use super::Value;

/// Why [`to_value`](super::to_value), [`from_value`](super::from_value) or
/// [`Table::try_insert`](super::Table::try_insert) failed.
///
/// Displayed as the message followed by ` (at PATH)` when the failure is
/// inside a table:
///
/// ```
/// use lunet::value::{from_value, to_value};
/// use std::collections::HashMap;
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Player {
///     name: String,
/// }
///
/// let mut bad = HashMap::new();
/// bad.insert("name", 3);
/// let err = from_value::<Player>(to_value(&bad).unwrap()).unwrap_err();
/// assert_eq!(err.to_string(), "expected a string, found integer 3 (at .name)");
/// assert_eq!(err.message(), "expected a string, found integer 3");
/// assert_eq!(err.path(), ".name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", at(.path))]
pub struct ValueError {
    message: String,
    path: String,
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" (at {path})")
    }
}

impl ValueError {
    /// An error with `message` and no path yet.
    pub(crate) fn new(message: impl Into<String>) -> ValueError {
        ValueError {
            message: message.into(),
            path: String::new(),
        }
    }

    /// What went wrong, without the path.
    ///
    /// ```
    /// let err = lunet::value::from_value::<bool>(1.into()).unwrap_err();
    /// assert_eq!(err.message(), "expected a boolean, found integer 1");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where it went wrong, in Lua syntax (`.players[2].name`); empty at the
    /// top level.
    ///
    /// ```
    /// use lunet::value::{from_value, Value};
    ///
    /// let err = from_value::<Vec<u8>>(Value::from(vec![Value::from(1), Value::from(300)]));
    /// assert_eq!(err.unwrap_err().path(), "[2]");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The same error, found inside the value at table key `key`.
    pub(crate) fn at_key(mut self, key: &Value) -> ValueError {
        self.path.insert_str(0, &key_segment(key));
        self
    }

    /// The same error, found inside the field `name` of a struct.
    pub(crate) fn at_field(self, name: &'static str) -> ValueError {
        self.at_key(&Value::String(bytes::Bytes::from_static(name.as_bytes())))
    }

    /// The same error, found inside element `i` (1-based) of a sequence.
    pub(crate) fn at_index(mut self, i: usize) -> ValueError {
        self.path.insert_str(0, &format!("[{i}]"));
        self
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: Display>(msg: T) -> ValueError {
        ValueError::new(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: Display>(msg: T) -> ValueError {
        ValueError::new(msg.to_string())
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        ValueError::new(format!("expected {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        ValueError::new(format!("expected {exp}, found {unexp}"))
    }

    fn invalid_length(len: usize, exp: &dyn serde::de::Expected) -> Self {
        ValueError::new(format!("expected {exp}, found {len} value(s)"))
    }
}
