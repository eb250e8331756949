//! `parse` (pure, from text) and `load` (read a file, then parse): the one code path
//! used by start-up, `marketgate check` and every reload.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::env::EnvLookup;
use super::error::ConfigError;
use super::model::{Config, SourceInfo};
use super::schema::FileConfig;
use super::validate::validate;

/// The default config, embedded at build time.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/marketgate.toml");

/// Name used for the embedded config in messages.
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// Every problem that refused a config (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The problems, in file order where known.
    pub errors: Vec<ConfigError>,
}

/// Parses and validates config text. `name` is used in messages.
pub fn parse(text: &str, name: &str, env: &dyn EnvLookup) -> Result<Config, LoadError> {
    let file: FileConfig = deserialize(text, name)?;
    let info = SourceInfo { name: name.to_owned(), sha256: sha256_hex(text.as_bytes()) };
    if let Some(base) = &file.extends {
        return parse_extended(text, name, base, info, env);
    }
    validate(file, text, info, env).map_err(|problems| located(problems, name, text))
}

fn located(problems: Vec<super::error::Problem>, name: &str, text: &str) -> LoadError {
    let mut errors: Vec<ConfigError> = problems.into_iter().map(|p| p.into_error(name, text)).collect();
    errors.sort_by_key(|e| e.location.unwrap_or((usize::MAX, 0)));
    LoadError { errors }
}

/// `extends = "default"`: the file is merged over the embedded default. The file itself
/// was already checked (syntax and keys, with lines); problems found after the merge
/// are reported by key path, since their lines belong to the merged text.
fn parse_extended(
    text: &str,
    name: &str,
    base: &str,
    info: SourceInfo,
    env: &dyn EnvLookup,
) -> Result<Config, LoadError> {
    let one = |message: String| LoadError {
        errors: vec![ConfigError::at(name, text, None, Some("extends".into()), message)],
    };
    if base != "default" {
        return Err(one(format!("extends = {base:?} is not supported; the only base is \"default\"")));
    }
    let mut merged: toml::Table = toml::from_str(DEFAULT_CONFIG).map_err(|e| one(format!("embedded default: {e}")))?;
    let mut overlay: toml::Table = toml::from_str(text).map_err(|e| one(e.message().to_owned()))?;
    overlay.remove("extends");
    merge(&mut merged, overlay);
    let merged_text = toml::to_string(&merged).map_err(|e| one(format!("cannot merge: {e}")))?;
    let file: FileConfig = deserialize(&merged_text, name)?;
    validate(file, &merged_text, info, env).map_err(|problems| {
        let mut e = located(problems, name, &merged_text);
        // Lines of the merged text mean nothing to the reader: point into the file
        // itself where it sets the key, else give the key alone.
        for err in &mut e.errors {
            err.location = err
                .key
                .as_deref()
                .and_then(|k| super::error::key_span(text, k))
                .map(|span| super::error::line_col(text, span.start));
        }
        e
    })
}

/// Merges `overlay` into `base`: tables recursively, any other value replaces (what
/// `extends = "default"` does).
pub fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Reads and parses a config file.
pub fn load(path: &Path, env: &dyn EnvLookup) -> Result<Config, LoadError> {
    let (name, text) = read(Some(path))?;
    parse(&text, &name, env)
}

/// Loads `path`, or the embedded default when `None`.
pub fn load_or_default(path: Option<&Path>, env: &dyn EnvLookup) -> Result<Config, LoadError> {
    let (name, text) = read(path)?;
    parse(&text, &name, env)
}

/// The config's name and text: the file at `path`, or the embedded default when `None`.
pub fn read(path: Option<&Path>) -> Result<(String, String), LoadError> {
    let Some(path) = path else { return Ok((EMBEDDED_NAME.to_owned(), DEFAULT_CONFIG.to_owned())) };
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((name, text)),
        Err(e) => {
            let errors = vec![ConfigError::whole_file(&name, format!("cannot read the config file: {e}"))];
            Err(LoadError { errors })
        }
    }
}

fn deserialize(text: &str, name: &str) -> Result<FileConfig, LoadError> {
    let one = |e: ConfigError| LoadError { errors: vec![e] };
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| one(ConfigError::at(name, text, e.span(), None, clean(e.message()))))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let key = (path != ".").then_some(path);
        one(ConfigError::at(name, text, inner.span(), key, clean(inner.message())))
    })
}

fn clean(message: &str) -> String {
    message.trim().replace('\n', " ")
}

/// sha256 of `bytes` as lower-case hex (the config's identity in the admin view).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

// === impl LoadError ===

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

#[cfg(test)]
mod tests;
