//! The admin API and metrics: JSON shapes with a failing and a healthy provider, the
//! Prometheus exposition (promtool checks it in tests/tools), bounded label cardinality, history,
//! the config view and the reload endpoint.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{Mock, Proxy, TestEnv, get, send};
use bytes::Bytes;
use http::Method;
use serde_json::Value;

fn config(good: &str, bad: &str) -> String {
    format!(
        r#"
[defaults]
breaker = {{ consecutive_failures = 2, open_for = "60s" }}
[admin]
history_interval = "200ms"
history_points = 20
[assets]
BTC = {{ name = "Bitcoin" }}
[providers.good]
hosts = ["{good}"]
symbols = {{ format = "{{BASE}}" }}
headers = {{ "x-api-key" = "${{GOOD_KEY:-literal-header-secret}}" }}
[providers.good.ops.price]
quotes = ["USD"]
request = {{ path = "/price" }}
response = '[{{symbol: "BTC", vs: $vs, price: 42000, ts: $now}}]'
[providers.bad]
hosts = ["{bad}"]
symbols = {{ format = "{{BASE}}" }}
auth = {{ env = "BAD_KEY", query = "key" }}
[providers.bad.ops.price]
quotes = ["USD"]
request = {{ path = "/price" }}
response = '[{{symbol: "BTC", vs: $vs, price: 42000, ts: $now}}]'
[providers.keyed]
hosts = ["{good}"]
quota = {{ limit = 10, per = "1m" }}
auth = {{ env = "UNSET_KEY_FOR_TEST", required = true, query = "api_key" }}
[routes]
"/v1/price" = {{ op = "price", pool = [["bad"], ["good"]] }}
"/v1/cached-price" = {{ op = "price", pool = [["good"]], cache = "1s", hedge_after = "p95" }}
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

async fn started() -> (Proxy, Mock, Mock) {
    let good = Mock::fixed(200, "{}").await;
    let bad = Mock::fixed(503, "{}").await;
    let env = TestEnv(std::collections::HashMap::from([("BAD_KEY".to_owned(), "bad-provider-key".to_owned())]));
    let proxy = Proxy::start_with(&config(&good.url(), &bad.url()), env, None, Default::default()).await;
    for _ in 0..4 {
        assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.status, 200);
    }
    (proxy, good, bad)
}

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array().and_then(|a| a.iter().find(|x| x[key] == name)).unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[tokio::test(start_paused = true)]
async fn provider_health_shows_a_failing_and_a_healthy_provider() {
    let (proxy, _good, bad) = started().await;
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let b = find(&health, "name", "bad");
    assert_eq!(b["status"], "down");
    assert_eq!(b["reason"], "every host's breaker is open");
    assert_eq!(b["success_rate"], 0.0);
    assert_eq!(b["hosts"][0]["breaker"], "open");
    assert_eq!(b["hosts"][0]["host"], bad.addr.to_string());
    assert!(b["hosts"][0]["retry_at"].is_string());
    assert_eq!(b["tiers"][0]["route"], "/v1/price");
    assert_eq!(b["tiers"][0]["tier"], 1);
    assert_eq!(b["last_error"]["outcome"], "http_5xx");
    let g = find(&health, "name", "good");
    assert_eq!(g["status"], "healthy");
    assert_eq!(g["success_rate"], 1.0);
    assert!(g["latency_ms"]["p50"].as_f64().is_some() && g["latency_ms"]["p95"].as_f64().is_some());
    assert_eq!(g["window_requests"], 4);
    let k = find(&health, "name", "keyed");
    assert_eq!(k["status"], "disabled");
    assert!(k["reason"].as_str().unwrap_or_default().contains("UNSET_KEY_FOR_TEST"));
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn hosts_breakers_stats_and_history_endpoints() {
    let (proxy, _good, bad) = started().await;
    let hosts = get(proxy.admin_url("/api/system/providers/bad/hosts")).await.json();
    assert_eq!(hosts["provider"], "bad");
    assert_eq!(hosts["hosts"][0]["consecutive_failures"], 2);
    assert_eq!(get(proxy.admin_url("/api/system/providers/nosuch/hosts")).await.status, 404);
    let breakers = get(proxy.admin_url("/api/system/circuit-breakers")).await.json();
    let b = find(&breakers, "host", &bad.addr.to_string());
    assert_eq!(
        (b["provider"].as_str(), b["state"].as_str(), b["threshold"].as_u64()),
        (Some("bad"), Some("open"), Some(2))
    );
    assert!(b["opened_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let stats = get(proxy.admin_url("/api/system/providers/stats")).await.json();
    let s = find(&stats, "provider", "bad");
    assert_eq!(s["requests"], 2);
    assert_eq!(s["failures"]["http_5xx"], 2);
    assert_eq!(s["skips"]["unavailable"], 2, "skipped while its breaker was open");
    assert_eq!(find(&stats, "provider", "good")["load_share"], 1.0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let history = get(proxy.admin_url("/api/system/providers/history")).await.json();
    let points = history["points"].as_array().expect("points");
    assert!(points.len() >= 2, "{history}");
    assert!(points.iter().all(|p| p["providers"]["good"]["status"].is_string()));
    let total: u64 = points.iter().map(|p| p["providers"]["good"]["requests"].as_u64().unwrap_or(0)).sum();
    assert!(total <= 4, "each point covers only its own interval");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_config_view_redacts_secrets_and_reports_reload_errors() {
    let (proxy, _good, _bad) = started().await;
    let view = get(proxy.admin_url("/api/system/config")).await.json();
    assert_eq!(view["version"], 1);
    assert_eq!(view["sha256"].as_str().map(str::len), Some(64));
    let text = view.to_string();
    assert!(!text.contains("literal-header-secret"), "header values are redacted: {text}");
    let good = find(&view["providers"], "name", "good");
    assert_eq!(good["headers"][0], serde_json::json!(["x-api-key", "***"]));
    // No file behind this proxy: the reload re-reads the embedded default, which is valid.
    let r = send(Method::POST, &proxy.admin_url("/admin/reload"), &[], Bytes::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"], "ok");
    let view = get(proxy.admin_url("/api/system/config")).await.json();
    assert_eq!(view["version"], 2);
    assert_eq!(view["last_reload"]["result"], "ok");
    proxy.stop().await;
}

pub fn series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_owned()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_thousand_distinct_symbols_and_paths_add_no_series() {
    let (proxy, _good, _bad) = started().await;
    let warm = ["/v1/price?symbols=NOPE", "/nowhere", "/raw/ghost/x", "/raw/good/x", "/v1/price?symbols=BTC"];
    for p in warm {
        get(proxy.url(p)).await;
    }
    let before = series(&get(proxy.admin_url("/metrics")).await.text());
    let paths: Vec<String> = (0..1000)
        .map(|i| match i % 4 {
            0 => format!("/v1/price?symbols=SYM{i}"),
            1 => format!("/random/path/{i}?x={i}"),
            2 => format!("/raw/provider{i}/x"),
            _ => format!("/raw/good/api/{i}?q={i}"),
        })
        .collect();
    for chunk in paths.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|p| get(proxy.url(p)))).await;
    }
    let after = series(&get(proxy.admin_url("/metrics")).await.text());
    let new: Vec<&String> = after.difference(&before).collect();
    assert!(new.is_empty(), "new series appeared: {new:?}");
    proxy.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_exposition_has_every_designed_family() {
    let (proxy, _good, _bad) = started().await;
    let text = get(proxy.admin_url("/metrics")).await.text();
    for name in marketgate::metrics::METRIC_NAMES {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
    }
    assert!(text.contains(r#"marketgate_requests_total{route="/v1/price",status="200"} 4"#), "{text}");
    assert!(text.contains(&format!("marketgate_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
    proxy.stop().await;
}
