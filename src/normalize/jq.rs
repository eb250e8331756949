//! jq response mappings, compiled once per config load with the jaq crates.
//!
//! Three hazards of jaq are closed here (see CRATES.md §4): `halt`/`halt_error` would end
//! the process through `unwrap_valr`, so results are unpacked with `get_err`/`get_halt`
//! and a halt becomes an ordinary mapping error; the `env` builtin would hand the
//! process environment (API keys) to a mapping, so it is not registered at all; and
//! jaq's own JSON reader recurses once per nesting level (and reads `#` comments), so
//! a provider body of 70,000 `[` would overflow a worker's stack and abort the process.
//! Untrusted JSON is therefore never given to jaq's reader: bodies are parsed by
//! serde_json, whose recursion limit (128 levels) turns such a body into an error, and
//! `fromjson` (which `tonumber` calls) is replaced by the same bounded parser.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::{Fun, bome, run, v};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;

type Data = data::JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// The global variables every mapping may read, in the order [`Globals`] passes them.
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

/// The values of the [`GLOBALS`] for one upstream request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Globals {
    /// `$now`: wall-clock time of the request, ms.
    pub now: i64,
    /// `$symbols`: canonical tickers this request covers.
    pub symbols: Vec<String>,
    /// `$ids`: the provider's ids for them, in the same order.
    pub ids: Vec<String>,
    /// `$symbol_of`: provider id -> canonical ticker.
    pub symbol_of: BTreeMap<String, String>,
    /// `$vs`: the canonical quote currency.
    pub vs: String,
    /// `$quote`: the provider's quote currency.
    pub quote: String,
    /// `$interval`: the canonical interval name (ohlcv).
    pub interval: Option<&'static str>,
    /// `$interval_ms`: its length.
    pub interval_ms: Option<i64>,
    /// `$limit`.
    pub limit: Option<i64>,
    /// `$depth`.
    pub depth: Option<u32>,
    /// `$q`.
    pub q: Option<String>,
}

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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JqRunError {
    /// The body is not JSON (or nests deeper than 128 levels).
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// The program raised `error(...)` (or failed, e.g. a type error): the error's value.
    #[error("mapping raised an error: {0}")]
    Raised(serde_json::Value),
    /// The program called `halt`/`halt_error`, which mappings may not do.
    #[error("mapping called halt({0}), which is not allowed")]
    Halted(i32),
    /// No output, or more than one.
    #[error("mapping produced {0} outputs, expected exactly 1")]
    OutputCount(usize),
}

// === impl Globals ===

impl Globals {
    /// The values in [`GLOBALS`] order.
    fn vals(&self) -> Vec<Val> {
        let str = |s: &str| Val::from(s.to_owned());
        let list = |items: &[String]| items.iter().map(|s| str(s)).collect::<Val>();
        let opt_str = |s: Option<&str>| s.map_or(Val::Null, str);
        let opt_int = |n: Option<i64>| n.map_or(Val::Null, |n| Val::from(n as isize));
        let symbol_of: jaq_json::Map = self.symbol_of.iter().map(|(k, v)| (str(k), str(v))).collect();
        vec![
            Val::from(self.now as isize),
            list(&self.symbols),
            list(&self.ids),
            Val::obj(symbol_of),
            opt_str(self.symbols.first().map(String::as_str)),
            opt_str(self.ids.first().map(String::as_str)),
            str(&self.vs),
            str(&self.quote),
            opt_str(self.interval),
            opt_int(self.interval_ms),
            opt_int(self.limit),
            opt_int(self.depth.map(i64::from)),
            opt_str(self.q.as_deref()),
        ]
    }
}

// === impl JqProgram ===

impl JqProgram {
    /// Compiles `code` with the std library minus `env`, a bounded `fromjson`, and the
    /// [`GLOBALS`].
    pub fn compile(code: &str) -> Result<Self, JqCompileError> {
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, _, _)| *name != "env" && *name != "fromjson")
            .chain(std::iter::once(bounded_fromjson()));
        let arena = Arena::default();
        let modules = Loader::new(defs).load(&arena, File { code, path: () }).map_err(|errs| load_error(code, errs))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(GLOBALS.iter().copied())
            .compile(modules)
            .map_err(|errs| compile_error(code, errs))?;
        Ok(Self { filter: Arc::new(filter) })
    }

    /// Runs the program on a JSON body and returns the single output as compact JSON.
    pub fn run(&self, body: &[u8], globals: &Globals) -> Result<String, JqRunError> {
        self.run_val(parse(body)?, globals).map(|v| v.to_string())
    }

    /// Runs the program on a parsed value and returns its single output.
    pub fn run_val(&self, input: Val, globals: &Globals) -> Result<Val, JqRunError> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new(globals.vals()));
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
        match outputs.len() {
            1 => outputs.pop().ok_or(JqRunError::OutputCount(0)),
            n => Err(JqRunError::OutputCount(n)),
        }
    }
}

impl fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JqProgram")
    }
}

/// Parses an untrusted JSON body with serde_json's recursion limit (128 levels): no
/// input can overflow the stack.
pub fn parse(body: &[u8]) -> Result<Val, JqRunError> {
    serde_json::from_slice::<Val>(body).map_err(|e| JqRunError::NotJson(e.to_string()))
}

/// A serde_json value as a jq value (the value came from a bounded parse, so the
/// recursion here is bounded too).
pub fn from_json(value: serde_json::Value) -> Val {
    use serde_json::Value;
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::from(b),
        Value::Number(n) => match n.as_i64().and_then(|i| isize::try_from(i).ok()) {
            Some(i) => Val::from(i),
            None => Val::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Val::from(s),
        Value::Array(items) => items.into_iter().map(from_json).collect(),
        Value::Object(map) => Val::obj(map.into_iter().map(|(k, v)| (Val::from(k), from_json(v))).collect()),
    }
}

/// `fromjson` with the bounded parser (jaq's own would recurse without limit).
fn bounded_fromjson() -> Fun<Data> {
    run(("fromjson", v(0), |cv| {
        let parsed = match cv.1.try_as_utf8_bytes_owned() {
            Ok(bytes) => serde_json::from_slice::<Val>(&bytes).map_err(|e| {
                let shown: String = String::from_utf8_lossy(&bytes).chars().take(40).collect();
                jaq_core::Error::str(format!("cannot parse {shown:?} as JSON: {e}"))
            }),
            Err(e) => Err(e),
        };
        bome(parsed)
    }))
}

fn exception(exn: jaq_core::Exn<Val>) -> JqRunError {
    match exn.get_err() {
        Ok(err) => {
            let val = err.into_val();
            JqRunError::Raised(serde_json::from_str(&val.to_string()).unwrap_or(serde_json::Value::Null))
        }
        Err(exn) => match exn.get_halt() {
            Ok(code) => JqRunError::Halted(code),
            Err(_) => JqRunError::Raised(serde_json::Value::String("internal exception".into())),
        },
    }
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
mod tests;
