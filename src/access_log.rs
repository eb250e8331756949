//! The access log: one line per client request, written off the request path.
//!
//! A worker formats its line in place (a few hundred nanoseconds: no field visitors, no
//! per-line timestamp formatter, no lock) and hands the bytes to a [`LineSink`], in the
//! binary a bounded, lossy channel drained by its own thread: when the output (stderr)
//! stops draining, lines are dropped and counted, and no worker ever waits. The lines
//! look like the rest of the log (`tracing`'s text or JSON format, target
//! `marketgate::access`), so one parser reads both.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::calendar::date;
use crate::config::model::LogFormat;

/// Where finished lines go.
pub trait LineSink: Send + Sync {
    /// Takes one line (with its newline); must not block.
    fn write_line(&self, line: &[u8]);
}

/// The access log of the client listener.
pub struct AccessLog {
    format: LogFormat,
    sink: Box<dyn LineSink>,
}

/// One request, as the access line shows it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Method.
    pub method: &'a str,
    /// Route template (or `refused`, `app`, `none`).
    pub route: &'a str,
    /// Response status.
    pub status: u16,
    /// Provider that answered, or `-`.
    pub provider: &'a str,
    /// Upstream attempts (hosts reached).
    pub attempts: usize,
    /// Cache result, or `-`.
    pub cache: &'a str,
    /// Time to the response head, ms.
    pub duration_ms: f64,
}

// === impl AccessLog ===

impl AccessLog {
    /// An access log writing `format` lines to `sink`.
    pub fn new(format: LogFormat, sink: Box<dyn LineSink>) -> Self {
        Self { format, sink }
    }

    /// Whether the log level lets access lines through (`info` for `marketgate::access`).
    pub fn enabled() -> bool {
        tracing::enabled!(target: "marketgate::access", tracing::Level::INFO)
    }

    /// Writes one line for `e`, if the level lets it through.
    pub fn log(&self, e: &Entry<'_>) {
        if Self::enabled() {
            self.sink.write_line(format_line(self.format, SystemTime::now(), e).as_bytes());
        }
    }
}

/// The line for `e` at time `at` (pure).
pub fn format_line(format: LogFormat, at: SystemTime, e: &Entry<'_>) -> String {
    let mut line = String::with_capacity(224);
    let ts = timestamp(at);
    match format {
        LogFormat::Text => {
            let _ = write!(
                line,
                "{ts}  INFO marketgate::access: request method={} route={} status={} provider={:?} attempts={} cache={:?} duration_ms={}",
                e.method, e.route, e.status, e.provider, e.attempts, e.cache, e.duration_ms
            );
        }
        LogFormat::Json => {
            let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
            let _ = write!(
                line,
                r#"{{"timestamp":"{ts}","level":"INFO","message":"request","method":{},"route":{},"status":{},"provider":{},"attempts":{},"cache":{},"duration_ms":{},"target":"marketgate::access"}}"#,
                q(e.method),
                q(e.route),
                e.status,
                q(e.provider),
                e.attempts,
                q(e.cache),
                e.duration_ms
            );
        }
    }
    line.push('\n');
    line
}

/// RFC 3339 UTC with microseconds, as `tracing`'s formatter writes it.
fn timestamp(at: SystemTime) -> String {
    let d = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let rem = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}.{:06}Z", date(secs), rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_micros())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            method: "GET",
            route: "/raw/{provider}/{*path}",
            status: 502,
            provider: "binance",
            attempts: 3,
            cache: "-",
            duration_ms: 1.5,
        }
    }

    #[test]
    fn text_lines_look_like_the_rest_of_the_log() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_214_302_146_455);
        assert_eq!(
            format_line(LogFormat::Text, at, &entry()),
            "2025-11-27T03:31:42.146455Z  INFO marketgate::access: request method=GET route=/raw/{provider}/{*path} \
             status=502 provider=\"binance\" attempts=3 cache=\"-\" duration_ms=1.5\n"
        );
    }

    #[test]
    fn json_lines_parse_and_carry_every_field() {
        let line = format_line(LogFormat::Json, SystemTime::now(), &Entry { provider: "a\"b", ..entry() });
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["route"], "/raw/{provider}/{*path}");
        assert_eq!((v["status"].as_u64(), v["attempts"].as_u64()), (Some(502), Some(3)));
        assert_eq!(v["provider"], "a\"b");
        assert_eq!(v["target"], "marketgate::access");
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
