//! `Secret`: a string (an API key, a bearer token) that never prints itself.
//!
//! Debug and Display write `***`, and there is no Serialize impl, so a secret cannot
//! reach a log line, an error body, a metric or an admin endpoint by accident. The one
//! way out is [`Secret::expose`], called only where the value goes on the wire.

use std::fmt;

/// A value that must only ever be sent to the upstream it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

// === impl Secret ===

impl Secret {
    /// Wraps a value read from the environment.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for building the upstream request. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in constant time with respect to the contents (for bearer tokens).
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.as_bytes();
        let b = candidate.as_bytes();
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "sk-live-123");
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("token");
        assert!(s.matches("token"));
        assert!(!s.matches("toke"));
        assert!(!s.matches("tokens"));
        assert!(!s.matches(""));
    }
}
