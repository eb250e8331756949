//! jq response mappings, compiled once per config load with the jaq crates.
//!
//! Two hazards of jaq are closed here (see CRATES.md §4): `halt`/`halt_error` would end
//! the process through `unwrap_valr`, so results are unpacked with `get_err`/`get_halt`
//! and a halt becomes an ordinary mapping error; and the `env` builtin would hand the
//! process environment (API keys) to a mapping, so it is not registered at all.

use std::fmt;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;

type Data = data::JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// The global variables every mapping may read, in the order values are passed.
pub const GLOBALS: [&str; 13] = [
    "$now",
    "$symbols",
    "$ids",
    "$symbol_of",
    "$symbol",
    "$id",
    "$vs",
    "$quote",
    "$interval",
    "$interval_ms",
    "$limit",
    "$depth",
    "$q",
];

/// Most outputs a mapping may produce before it is stopped (a guard against `range(1e9)`).
const MAX_OUTPUTS: usize = 16;

/// Deepest nesting accepted in a body. jaq's parser recurses per level, so a body of
/// 64 KiB of `[` would overflow a worker's stack and abort the process; real provider
/// answers nest a handful of levels.
pub const MAX_DEPTH: usize = 128;

/// A compiled jq program (cheap to clone; `Send + Sync`).
#[derive(Clone)]
pub struct JqProgram {
    filter: Arc<Filter>,
}

/// A program that does not compile: message and byte offset inside the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqCompileError {
    /// What is wrong.
    pub message: String,
    /// Byte offset of the offending token in the program text, when known.
    pub offset: Option<usize>,
}

/// Why running a mapping failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JqRunError {
    /// The body is not JSON.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// The program raised `error(...)`; the value is kept as JSON text.
    #[error("mapping raised an error: {0}")]
    Raised(String),
    /// The program called `halt`/`halt_error`, which mappings may not do.
    #[error("mapping called halt({0}), which is not allowed")]
    Halted(i32),
    /// No output, or more than one.
    #[error("mapping produced {0} outputs, expected exactly 1")]
    OutputCount(usize),
}

// === impl JqProgram ===

impl JqProgram {
    /// Compiles `code` with the std library minus `env`, and the [`GLOBALS`].
    pub fn compile(code: &str) -> Result<Self, JqCompileError> {
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs =
            jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs()).filter(|(name, _, _)| *name != "env");
        let arena = Arena::default();
        let modules = Loader::new(defs).load(&arena, File { code, path: () }).map_err(|errs| load_error(code, errs))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(GLOBALS.iter().copied())
            .compile(modules)
            .map_err(|errs| compile_error(code, errs))?;
        Ok(Self { filter: Arc::new(filter) })
    }

    /// Runs the program on a JSON body with the global values (JSON, in [`GLOBALS`]
    /// order) and returns the single output as compact JSON text.
    pub fn run(&self, body: &[u8], globals: &[serde_json::Value; GLOBALS.len()]) -> Result<String, JqRunError> {
        if !depth_within(body, MAX_DEPTH) {
            return Err(JqRunError::NotJson(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let input = jaq_json::read::parse_single(body).map_err(|e| JqRunError::NotJson(e.to_string()))?;
        let mut vars = Vec::with_capacity(GLOBALS.len());
        for value in globals {
            vars.push(to_val(value)?);
        }
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new(vars));
        let mut outputs = Vec::new();
        for result in self.filter.id.run((ctx, input)) {
            match result {
                Ok(v) => outputs.push(v),
                Err(exn) => return Err(exception(exn)),
            }
            if outputs.len() > MAX_OUTPUTS {
                return Err(JqRunError::OutputCount(outputs.len()));
            }
        }
        match outputs.as_slice() {
            [one] => Ok(one.to_string()),
            other => Err(JqRunError::OutputCount(other.len())),
        }
    }
}

impl fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JqProgram")
    }
}

/// Whether `[`/`{` nesting (outside strings) stays within `max`, scanning the bytes once.
pub fn depth_within(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

fn to_val(value: &serde_json::Value) -> Result<Val, JqRunError> {
    let text = value.to_string();
    jaq_json::read::parse_single(text.as_bytes()).map_err(|e| JqRunError::NotJson(e.to_string()))
}

fn exception(exn: jaq_core::Exn<Val>) -> JqRunError {
    match exn.get_err() {
        Ok(err) => JqRunError::Raised(raised_text(&err)),
        Err(exn) => match exn.get_halt() {
            Ok(code) => JqRunError::Halted(code),
            Err(_) => JqRunError::Raised("internal exception".to_owned()),
        },
    }
}

/// `error("x")` keeps its value; other runtime errors (type errors) print as text.
fn raised_text(err: &jaq_core::Error<Val>) -> String {
    err.to_string()
}

// === compile error rendering ===

fn load_error(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> JqCompileError {
    use jaq_core::load::Error;
    let Some((_, first)) = errs.into_iter().next() else {
        return JqCompileError { message: "jq program could not be loaded".into(), offset: None };
    };
    match first {
        Error::Io(items) => JqCompileError {
            message: items.into_iter().map(|(_, msg)| msg).collect::<Vec<_>>().join("; "),
            offset: None,
        },
        Error::Lex(items) => match items.into_iter().next() {
            Some((expect, found)) => JqCompileError {
                message: format!("jq syntax error: expected {}", expect.as_str()),
                offset: Some(jaq_core::load::span(code, found).start),
            },
            None => JqCompileError { message: "jq syntax error".into(), offset: None },
        },
        Error::Parse(items) => match items.into_iter().next() {
            Some((expect, found)) => JqCompileError {
                message: format!("jq syntax error: expected {}, found {}", expect.as_str(), shown(found)),
                offset: Some(jaq_core::load::span(code, found).start),
            },
            None => JqCompileError { message: "jq syntax error".into(), offset: None },
        },
    }
}

fn compile_error(code: &str, errs: jaq_core::compile::Errors<&str, ()>) -> JqCompileError {
    let first = errs.into_iter().next().and_then(|(_, list)| list.into_iter().next());
    match first {
        Some((name, undefined)) => JqCompileError {
            message: format!("jq compile error: undefined {} `{name}`", undefined.as_str()),
            offset: Some(jaq_core::load::span(code, name).start),
        },
        None => JqCompileError { message: "jq compile error".into(), offset: None },
    }
}

fn shown(found: &str) -> String {
    if found.is_empty() {
        "end of program".to_owned()
    } else {
        format!("{:?}", found.chars().take(20).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn globals() -> [Value; GLOBALS.len()] {
        let mut g: [Value; GLOBALS.len()] = Default::default();
        g[0] = json!(1_700_000_000_000_i64);
        g[6] = json!("USD");
        g
    }

    #[test]
    fn maps_a_body_with_globals() {
        let p = JqProgram::compile(r#"{price: (.price | tonumber), vs: $vs, ts: $now}"#).expect("compiles");
        let out = p.run(br#"{"price":"42.5"}"#, &globals()).expect("runs");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v, json!({"price": 42.5, "vs": "USD", "ts": 1_700_000_000_000_i64}));
    }

    #[test]
    fn halt_is_an_error_not_an_exit() {
        for code in ["halt", "halt_error", "halt_error(3)", "\"x\" | halt_error(1)"] {
            let p = JqProgram::compile(code).expect(code);
            assert!(matches!(p.run(b"{}", &globals()), Err(JqRunError::Halted(_))), "{code}");
        }
    }

    #[test]
    fn env_is_not_available() {
        for code in ["env", "env.HOME", "$ENV"] {
            let err = JqProgram::compile(code).expect_err(code);
            assert!(err.message.contains("undefined"), "{code}: {}", err.message);
        }
    }

    #[test]
    fn syntax_errors_point_into_the_program() {
        let err = JqProgram::compile(".data | map(").expect_err("syntax");
        assert!(err.message.contains("syntax"), "{}", err.message);
        let err = JqProgram::compile(".a | nosuchfn(1)").expect_err("undefined");
        assert_eq!(err.offset, Some(5), "{}", err.message);
        assert!(err.message.contains("nosuchfn"));
    }

    #[test]
    fn raised_errors_and_bad_json_are_errors() {
        let p = JqProgram::compile(r#"if .Response == "Error" then error(.Message) else . end"#).expect("compiles");
        let err = p.run(br#"{"Response":"Error","Message":"over limit"}"#, &globals()).expect_err("raised");
        assert!(err.to_string().contains("over limit"), "{err}");
        assert!(matches!(p.run(b"<html>", &globals()), Err(JqRunError::NotJson(_))));
        let many = JqProgram::compile(".[]").expect("compiles");
        assert_eq!(many.run(b"[1,2]", &globals()), Err(JqRunError::OutputCount(2)));
        let deep = vec![b'['; 64 * 1024];
        assert!(matches!(many.run(&deep, &globals()), Err(JqRunError::NotJson(_))), "no stack overflow");
        assert!(depth_within(br#"{"a":"[[[[[[[[[[","b":[1,[2]]}"#, 3));
        assert!(!depth_within(b"[[[[", 3));
        let endless = JqProgram::compile("range(1000000000)").expect("compiles");
        assert!(matches!(endless.run(b"null", &globals()), Err(JqRunError::OutputCount(_))));
    }
}
