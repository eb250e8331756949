//! `${VAR}` and `${VAR:-default}` expansion for the config fields that allow it.
//!
//! The lookup is passed in, so tests never mutate the process environment and the
//! values (often API keys) never pass through a global.

/// Where environment values come from (the process environment, or a map in tests).
pub trait EnvLookup: Send + Sync {
    /// The value of `name`, or `None` when it is unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

/// Why a `${...}` reference could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// `${VAR}` names a variable that is unset and has no `:-default`.
    #[error("${{{name}}} is not set and has no default (write ${{{name}:-}} to allow it to be empty)")]
    Unset {
        /// The variable name.
        name: String,
    },
    /// `${` without a closing `}` or with an invalid name.
    #[error("malformed ${{...}} reference in {text:?}: expected ${{NAME}} or ${{NAME:-default}}")]
    Malformed {
        /// The text being expanded (never holds a secret: it is the config's own text).
        text: String,
    },
}

/// Expands every `${VAR}` / `${VAR:-default}` in `text`; `$$` is a literal `$`.
pub fn expand(text: &str, env: &dyn EnvLookup) -> Result<String, EnvError> {
    expand_marked(text, env).map(|(out, _)| out)
}

/// Like [`expand`], and also returns the byte ranges of the result that hold values
/// taken from the environment (which may be secrets; defaults written in the file are
/// not).
pub fn expand_marked(text: &str, env: &dyn EnvLookup) -> Result<(String, Vec<std::ops::Range<usize>>), EnvError> {
    let malformed = || EnvError::Malformed { text: text.to_owned() };
    let mut from_env = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let close = body_start.find('}').ok_or_else(malformed)?;
        let body = &body_start[..close];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(malformed());
        }
        match (env.get(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => {
                from_env.push(out.len()..out.len() + value.len());
                out.push_str(&value);
            }
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(EnvError::Unset { name: name.to_owned() });
            }
        }
        rest = &body_start[close + 1..];
    }
    out.push_str(rest);
    Ok((out, from_env))
}

/// The names of the variables `text` refers to (for "disabled because X is unset" messages).
pub fn referenced_vars(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        let body = &rest[pos + 2..];
        let Some(close) = body.find('}') else { break };
        let name = body[..close].split(":-").next().unwrap_or_default();
        names.push(name.to_owned());
        rest = &body[close + 1..];
    }
    names
}

// === impl ProcessEnv ===

impl EnvLookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvLookup for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([("HOST".into(), "example.org".into()), ("EMPTY".into(), String::new())])
    }

    #[test]
    fn expands_set_vars_and_defaults() {
        assert_eq!(expand("https://${HOST}/x", &env()).as_deref(), Ok("https://example.org/x"));
        assert_eq!(expand("${NOPE:-fallback}", &env()).as_deref(), Ok("fallback"));
        assert_eq!(expand("${NOPE:-}", &env()).as_deref(), Ok(""));
        assert_eq!(expand("${EMPTY:-d}", &env()).as_deref(), Ok("d"));
        assert_eq!(expand("cost $$5 and $x", &env()).as_deref(), Ok("cost $5 and $x"));
    }

    #[test]
    fn unset_without_default_names_the_variable() {
        let err = expand("${MARKETGATE_FALLBACK_URL}", &env()).expect_err("unset");
        assert_eq!(err, EnvError::Unset { name: "MARKETGATE_FALLBACK_URL".into() });
        assert!(err.to_string().contains("${MARKETGATE_FALLBACK_URL:-}"));
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(matches!(expand("${OPEN", &env()), Err(EnvError::Malformed { .. })));
        assert!(matches!(expand("${BAD NAME}", &env()), Err(EnvError::Malformed { .. })));
    }

    #[test]
    fn lists_referenced_names() {
        assert_eq!(referenced_vars("a${X}b${Y:-z}"), vec!["X".to_owned(), "Y".to_owned()]);
    }
}
