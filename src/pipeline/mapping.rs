//! From an upstream body to the operation's JSON: a provider's jq mapping (large bodies
//! on the blocking pool), another marketgate's envelope, or the per-symbol outputs of
//! one attempt joined. A mapping's `error(...)` value decides the outcome class.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::bench::MAX_BENCH;
use crate::breaker::Outcome;
use crate::config::model::{FeedSource, OpMapping};
use crate::normalize::jq::{self, Globals, JqProgram, JqRunError};
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::prefilter::Prefilter;
use crate::normalize::rows::Rows;
use crate::upstream::classify::Failure;

/// Bodies larger than this are mapped on the blocking pool.
const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// Runs `m` on `body` and returns the output JSON text.
pub async fn map(
    m: &OpMapping,
    body: Bytes,
    globals: &Globals,
    provider: &str,
    op: Operation,
) -> Result<String, Failure> {
    let large = body.len() > BLOCKING_THRESHOLD;
    let work = {
        let (program, prefilter, rows, globals) =
            (m.response.clone(), m.prefilter.clone(), m.rows.clone(), globals.clone());
        move || run(&program, &prefilter, rows.as_ref(), &body, &globals)
    };
    // Large bodies cost milliseconds of CPU: keep them off the request workers.
    let result = if large {
        let gave_up = || Err(JqRunError::Raised(Value::String("the request gave up before the mapping ran".into())));
        off_the_workers(work, gave_up)
            .await
            .unwrap_or_else(|e| Err(JqRunError::Raised(Value::String(format!("mapping task failed: {e}")))))
    } else {
        work()
    };
    result.map_err(|e| match e {
        JqRunError::Raised(value) => raised(provider, op, value),
        other => Failure::new(Outcome::BadBody, format!("{provider} {op}: {other}")),
    })
}

/// Runs a mapping synchronously: the prefilter (if any) on the parsed body, then the
/// `rows` fast path when the body has its shape, else the jq program; the output as
/// compact JSON.
pub fn run(
    program: &JqProgram,
    prefilter: &Prefilter,
    rows: Option<&Rows>,
    body: &[u8],
    globals: &Globals,
) -> Result<String, JqRunError> {
    let input = if prefilter.is_active() || rows.is_some() {
        let mut value: Value = serde_json::from_slice(body).map_err(|e| JqRunError::NotJson(e.to_string()))?;
        prefilter.apply_value(&mut value, &globals.ids);
        if let Some(out) = rows.and_then(|r| r.apply(&value, globals.ids.first().map(String::as_str), globals.limit)) {
            return Ok(out);
        }
        jq::from_json(value)
    } else {
        jq::parse(body)?
    };
    program.run_val(input, globals).map(|v| v.to_string())
}

/// [`run`] with an op mapping's parts.
pub fn run_mapping(m: &OpMapping, body: &[u8], globals: &Globals) -> Result<String, JqRunError> {
    run(&m.response, &m.prefilter, m.rows.as_ref(), body, globals)
}

/// A mapping's `error(...)`. An object may name the outcome:
/// `{"outcome": "rate_limited", "message": ..., "retry_after": s}` benches the provider;
/// `{"outcome": "unsupported", "message": ...}` says the request does not suit this
/// provider (a symbol or quote it does not list: fail over, no breaker penalty);
/// `{"outcome": "blocked", ...}` that it refuses this location (as HTTP 451 does).
/// Anything else is a bad body.
pub fn raised(provider: &str, op: Operation, value: Value) -> Failure {
    let Value::Object(obj) = value else {
        let text = match value {
            Value::String(s) => s,
            other => other.to_string(),
        };
        return Failure::new(Outcome::BadBody, format!("{provider} {op}: {}", shorten(&text)));
    };
    let message = shorten(obj.get("message").and_then(Value::as_str).unwrap_or("provider error"));
    match obj.get("outcome").and_then(Value::as_str) {
        Some("rate_limited") => {
            let mut f = Failure::new(Outcome::RateLimited, format!("{provider} {op}: {message}"));
            f.retry_after =
                obj.get("retry_after").and_then(Value::as_u64).map(|s| Duration::from_secs(s).min(MAX_BENCH));
            f
        }
        Some("unsupported") => Failure::unlisted(format!("{provider} {op}: {message}")),
        Some("blocked") => Failure::new(Outcome::Blocked, format!("{provider} {op}: {message}")),
        _ => Failure::new(Outcome::BadBody, format!("{provider} {op}: provider error: {message}")),
    }
}

/// Error text from a body, cut to a readable length.
fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX { text.to_owned() } else { format!("{}…", text.chars().take(MAX).collect::<String>()) }
}

/// A feed's news items as JSON, and the entries left out (parsed on the blocking pool
/// when large). At most [`FEED_PARSES`] feeds are parsed at once, the rest wait their
/// turn within the attempt's timeout: eight requests for five large feeds no longer
/// hold forty parses in memory together. A body that is no feed is a bad body: the
/// outlet moved or sends an error page.
pub async fn feed(
    f: &FeedSource,
    body: Bytes,
    req: &OpRequest,
    provider: &str,
) -> Result<(String, Vec<String>), Failure> {
    let (source, q, limit) = (f.source.clone(), req.q.clone(), req.limit.map_or(usize::MAX, |l| l as usize));
    let large = body.len() > BLOCKING_THRESHOLD;
    let work = move || {
        crate::normalize::feed::news_items(&body, source.as_deref(), q.as_deref(), limit)
            .map(|f| (serde_json::to_string(&f.items).unwrap_or_default(), f.dropped))
            .map_err(|e| e.to_string())
    };
    let result = if large {
        // The permit goes with the parse: a request that gives up (its deadline) does
        // not free the slot of a parse still running.
        let permit = Arc::clone(parses()).acquire_owned().await;
        let work = move || {
            let _permit = permit;
            work()
        };
        off_the_workers(work, || Err("the request gave up before the parse ran".to_owned()))
            .await
            .unwrap_or_else(|e| Err(format!("feed task failed: {e}")))
    } else {
        work()
    };
    result.map_err(|e| Failure::new(Outcome::BadBody, format!("{provider} news: {e}")))
}

/// Runs `work` on the blocking pool, unless the request waiting for it has gone by the
/// time a blocking thread takes it up (its deadline passed while the work queued): then
/// `gave_up` stands in and no CPU is spent for nobody. Work already running finishes
/// (bounded: at most [`crate::normalize::feed::MAX_ITEMS`] feed entries, one body).
async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
    gave_up: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    struct Waiting(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Waiting {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::Release);
        }
    }
    let waiting = Waiting(Arc::new(std::sync::atomic::AtomicBool::new(true)));
    let still = Arc::clone(&waiting.0);
    let task =
        tokio::task::spawn_blocking(
            move || {
                if still.load(std::sync::atomic::Ordering::Acquire) { work() } else { gave_up() }
            },
        );
    let out = task.await;
    drop(waiting);
    out
}

/// Large feeds parsed at once, process-wide.
pub const FEED_PARSES: usize = 2;

fn parses() -> &'static Arc<tokio::sync::Semaphore> {
    static PARSES: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    PARSES.get_or_init(|| Arc::new(tokio::sync::Semaphore::new(FEED_PARSES)))
}

/// Another marketgate's envelope: `data` is the payload.
pub fn unwrap_envelope(body: &[u8], provider: &str) -> Result<String, Failure> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::new(Outcome::BadBody, format!("{provider}: body is not JSON: {e}")))?;
    match v.get("data") {
        Some(data) => Ok(data.to_string()),
        None => Err(Failure::new(Outcome::BadBody, format!("{provider}: envelope has no data"))),
    }
}

/// Another marketgate's 400 `unknown_symbol`: none of its providers lists the pair.
pub fn peer_unlisted(body: &[u8], provider: &str) -> Option<Failure> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error")?;
    (error.get("code")?.as_str()? == "unknown_symbol").then(|| {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown symbol");
        Failure::unlisted(format!("{provider}: {}", shorten(message)))
    })
}

/// Joins per-symbol outputs: arrays are concatenated, single objects collected.
pub fn concat(outputs: Vec<String>) -> Result<String, Failure> {
    let mut all = Vec::new();
    for text in outputs {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => all.extend(items),
            Ok(other) => all.push(other),
            Err(e) => return Err(Failure::new(Outcome::BadBody, format!("mapping output is not JSON: {e}"))),
        }
    }
    Ok(Value::Array(all).to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn work_queued_for_a_request_that_gave_up_never_runs() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_time()
            .build()
            .expect("runtime");
        let ran = Arc::new(AtomicBool::new(false));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        rt.block_on(async {
            // The only blocking thread is busy: the parse queues behind it.
            let busy = tokio::task::spawn_blocking(move || hold.recv().ok());
            let flag = Arc::clone(&ran);
            let parse = off_the_workers(move || flag.store(true, Ordering::SeqCst), || ());
            let gave_up = tokio::time::timeout(Duration::from_millis(20), parse).await;
            assert!(gave_up.is_err(), "the request's deadline passed while the parse queued");
            release.send(()).expect("release");
            busy.await.expect("busy task");
            // The queued task has run by the time a new one on the same thread does.
            tokio::task::spawn_blocking(|| ()).await.expect("later task");
        });
        assert!(!ran.load(Ordering::SeqCst), "a parse for nobody ran");
    }

    #[test]
    fn raised_values_pick_the_outcome() {
        let f =
            raised("cc", Operation::Price, json!({"outcome": "rate_limited", "message": "slow", "retry_after": 90}));
        assert_eq!((f.outcome, f.retry_after), (Outcome::RateLimited, Some(Duration::from_secs(90))));
        let f = raised("cc", Operation::Ticker, json!({"outcome": "unsupported", "message": "no BTC/QQQ"}));
        assert_eq!(f.outcome, Outcome::Http4xx, "a client's odd quote is not the host's fault");
        assert!(f.unlisted, "and it says the provider does not list the pair");
        assert!(f.detail.contains("no BTC/QQQ"));
        assert_eq!(raised("cc", Operation::Price, json!("broken")).outcome, Outcome::BadBody);
        let geo = raised("bn", Operation::Price, json!({"outcome": "blocked", "message": "restricted location"}));
        assert_eq!(geo.outcome, Outcome::Blocked);
        assert_eq!(raised("cc", Operation::Price, json!({"message": "x"})).outcome, Outcome::BadBody);
        let ban = raised("b", Operation::Price, json!({"outcome": "rate_limited", "retry_after": 999_999_999}));
        assert_eq!(ban.retry_after, Some(MAX_BENCH));
    }

    /// The Rust column mapping of every shipped ohlcv op with `rows` gives exactly what
    /// its jq mapping gives, on each exchange's recorded candles (oldest or newest
    /// first, seconds or ms, volume in whichever column), with and without a limit;
    /// each one's error body goes to jq.
    #[test]
    fn the_rows_fast_path_agrees_with_the_jq_mapping() {
        use crate::normalize::op::Operation;
        use crate::normalize::params::OpRequest;
        use crate::normalize::schema::Payload;
        let cfg = crate::config::parse(crate::config::DEFAULT_CONFIG, "default", &crate::config::env::ProcessEnv)
            .expect("default config");
        let cases = [
            ("binance", "binance/klines.json", "BTCUSDT", r#"{"code":-1121,"msg":"Invalid symbol."}"#),
            (
                "kraken",
                "kraken/ohlc_xbtusdt_1m_721_2025-11-10.json",
                "XBTUSDT",
                r#"{"error":["EQuery:Unknown asset pair"]}"#,
            ),
            (
                "okx",
                "okx/candles_btc-usdt_1h_3rows_2024-01-30.json",
                "BTC-USDT",
                r#"{"code":"51001","data":[],"msg":"x"}"#,
            ),
            ("coinbase", "coinbase_exchange/candles_60_3rows_2022-01-16.json", "BTC-USD", r#"{"message":"NotFound"}"#),
        ];
        for (provider, file, id, error) in cases {
            let m = cfg.provider(provider).and_then(|p| p.ops.get(&Operation::Ohlcv)).expect("ohlcv op");
            assert!(m.rows.is_some(), "{provider}: the shipped op uses the fast path");
            let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(path).expect("fixture");
            for limit in [2, 10, 1000] {
                let query = format!("symbol=BTC&interval=1m&limit={limit}");
                let req =
                    OpRequest::parse(Operation::Ohlcv, Some(&query), &Default::default(), &Default::default(), 32)
                        .expect("request");
                let g = Globals {
                    limit: Some(i64::from(limit)),
                    interval_ms: Some(60_000),
                    ids: vec![id.to_owned()],
                    ..Globals::default()
                };
                let fast = run_mapping(m, &body, &g).expect("rows");
                let jq_only = run(&m.response, &m.prefilter, None, &body, &g).expect("jq");
                let now = 1_800_000_000_000;
                let (a, b) = (Payload::from_json(&fast, &req, now), Payload::from_json(&jq_only, &req, now));
                assert_eq!(a, b, "{provider} limit {limit}");
                assert!(a.is_ok(), "{provider}: {a:?}");
            }
            let err = run_mapping(m, error.as_bytes(), &Globals { ids: vec![id.to_owned()], ..Globals::default() })
                .expect_err("an error body goes to jq");
            assert!(matches!(err, JqRunError::Raised(_)), "{provider}: {err}");
        }
    }

    #[test]
    fn envelopes_and_per_symbol_outputs() {
        assert_eq!(unwrap_envelope(br#"{"data":[1],"meta":{}}"#, "fb").expect("data"), "[1]");
        assert_eq!(unwrap_envelope(br#"{"meta":{}}"#, "fb").expect_err("no data").outcome, Outcome::BadBody);
        assert_eq!(concat(vec!["[1,2]".into(), "{\"a\":3}".into()]).expect("joined"), r#"[1,2,{"a":3}]"#);
    }
}
