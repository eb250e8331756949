//! `ConfigError`: what is wrong with a config file, where (file, line:column, key path),
//! and how to fix it.

use std::fmt;
use std::ops::Range;

/// A refused config. Display: `file:line:col: key.path: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file name, or `<embedded default>`.
    pub file: String,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// Dotted key path such as `providers.binance.hosts[0]`, when known.
    pub key: Option<String>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

/// An error found while validating, before the file name and line are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path.
    pub key: String,
    /// Byte span in the source, when the key's value was spanned.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
}

// === impl ConfigError ===

impl ConfigError {
    /// Builds an error at a byte span of `source`.
    pub fn at(file: &str, source: &str, span: Option<Range<usize>>, key: Option<String>, message: String) -> Self {
        Self { file: file.to_owned(), location: span.map(|s| line_col(source, s.start)), key, message }
    }

    /// An error about the file as a whole (unreadable, for example).
    pub fn whole_file(file: &str, message: String) -> Self {
        Self { file: file.to_owned(), location: None, key: None, message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

// === impl Problem ===

impl Problem {
    /// A problem at `key` with no source span.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), span: None, message: message.into() }
    }

    /// A problem at `key` whose value sits at `span`.
    pub fn spanned(key: impl Into<String>, span: Range<usize>, message: impl Into<String>) -> Self {
        Self { key: key.into(), span: Some(span), message: message.into() }
    }

    /// Attaches the file name and resolves the span to line:column. A problem found
    /// after deserialization (no span) is placed at the line that sets its key, when
    /// the text has one.
    pub fn into_error(self, file: &str, source: &str) -> ConfigError {
        let span = self.span.or_else(|| key_span(source, &self.key));
        ConfigError::at(file, source, span, Some(self.key), self.message)
    }
}

/// Where `key` (`assets.POL.aliases`, `providers.p.credits.limit`) is set in `source`:
/// the line of its innermost `[table]` header that exists, then, inside that table, the
/// line assigning the next path segment (`POL = ...`), else the header itself.
pub fn key_span(source: &str, key: &str) -> Option<Range<usize>> {
    let segs: Vec<&str> = key.split('.').collect();
    let lines = || {
        source.split_inclusive('\n').scan(0usize, |at, line| {
            let start = *at;
            *at += line.len();
            Some((start, line))
        })
    };
    for n in (1..=segs.len()).rev() {
        let header = format!("[{}]", segs[..n].join("."));
        let Some(h) = lines().find(|(_, l)| l.trim() == header).map(|(at, _)| at) else { continue };
        // The key is a table of its own (`[providers.p.ops.price]`): its header.
        let Some(&next) = segs.get(n) else { return Some(h..h + header.len()) };
        let assigning = |l: &str| {
            let t = l.trim_start();
            t.strip_prefix(next).is_some_and(|rest| rest.trim_start().starts_with('='))
        };
        let body = lines().skip_while(|(at, _)| *at <= h).take_while(|(_, l)| !l.trim_start().starts_with('['));
        return Some(body.into_iter().find(|(_, l)| assigning(l)).map_or(h..h + header.len(), |(at, l)| {
            let indent = l.len() - l.trim_start().len();
            at + indent..at + l.trim_end().len()
        }));
    }
    None
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_without_a_span_are_found_in_their_table() {
        let src = "[assets]\nBTC = { name = \"Bitcoin\" }\nPOL = { aliases = [\"TON\"] }\n[providers.p]\nhosts = []\n";
        let at = |key: &str| key_span(src, key).map(|s| line_col(src, s.start));
        assert_eq!(at("assets.POL.aliases"), Some((3, 1)));
        assert_eq!(at("providers.p.credits.limit"), Some((4, 1)), "not set: the table's header");
        assert_eq!(at("providers.p.hosts"), Some((5, 1)));
        assert_eq!(at("server.listen"), None);
        let ops = "[providers.k]\nhosts = []\n\n[providers.k.ops.price]\nrequest = { path = \"/p\" }\n";
        assert_eq!(
            key_span(ops, "providers.k.ops.price").map(|s| line_col(ops, s.start)),
            Some((4, 1)),
            "its own table"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
        assert_eq!(line_col(src, 999), (3, 1));
    }

    #[test]
    fn display_names_file_line_key_and_message() {
        let e = ConfigError::at("m.toml", "x\ny", Some(2..3), Some("server.listen".into()), "bad".into());
        assert_eq!(e.to_string(), "m.toml:2:1: server.listen: bad");
    }
}
