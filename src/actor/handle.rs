//! Service handles: the 32-bit address of a service, printed `:%08x` as in skynet.

use std::fmt;

/// The address of a service. 0 is "nobody" (the system: timers, the runtime).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(u32);

impl Handle {
    /// Nobody: the source of messages from the runtime itself.
    pub const SYSTEM: Handle = Handle(0);

    /// Wraps a raw handle (as Lua passes it).
    pub const fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }

    /// The raw value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Parses `:0000000a` or a plain decimal number.
    pub fn parse(text: &str) -> Option<Handle> {
        match text.strip_prefix(':') {
            Some(hex) => u32::from_str_radix(hex, 16).ok().map(Handle),
            None => text.parse().ok().map(Handle),
        }
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{:08x}", self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_like_skynet() {
        let h = Handle::from_raw(10);
        assert_eq!(h.to_string(), ":0000000a");
        assert_eq!(Handle::parse(":0000000a"), Some(h));
        assert_eq!(Handle::parse("10"), Some(h));
        assert_eq!(Handle::parse(":zz"), None);
    }
}
