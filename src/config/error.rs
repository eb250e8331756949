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

    /// Attaches the file name and resolves the span to line:column.
    pub fn into_error(self, file: &str, source: &str) -> ConfigError {
        ConfigError::at(file, source, self.span, Some(self.key), self.message)
    }
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
