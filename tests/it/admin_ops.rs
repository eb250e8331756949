//! The admin listener as an operator and as an attacker meet it, on the shipped config
//! with its hosts on loopback: writes a browser page could forge are refused (403) and
//! change nothing, a name rebound to 127.0.0.1 reads nothing (421), every config change
//! and admin action lands in the audit log with its source, shas and changed key names,
//! API keys rotate from files without a restart, and an operator can lift a 3-day ban
//! and reset a breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use marketgate::RunOptions;
use serde_json::Value;
use tokio::time::Instant;

use crate::support::process::TempDir;
use crate::support::shipped::{self, Fault};
use crate::support::{Got, Mock, Proxy, TestEnv, get, send};

/// The shipped config (hosts on loopback, `hosts` given) written to a file marketgate
/// reloads from, optionally watched.
async fn shipped_proxy(dir: &TempDir, text: &str, watch: bool) -> (Proxy, std::path::PathBuf) {
    let file = dir.path().join("marketgate.toml");
    std::fs::write(&file, text).expect("write config");
    let options = RunOptions { watch_config: watch, ..RunOptions::default() };
    (Proxy::start_with(text, TestEnv::default(), Some(file.clone()), options).await, file)
}

async fn post(p: &Proxy, path: &str, headers: &[(&str, &str)]) -> Got {
    send(Method::POST, &p.admin_url(path), headers, Bytes::new()).await
}

async fn version(p: &Proxy) -> u64 {
    get(p.admin_url("/api/system/config")).await.json()["version"].as_u64().unwrap_or(0)
}

async fn audit(p: &Proxy) -> Vec<Value> {
    get(p.admin_url("/api/system/audit")).await.json().as_array().cloned().unwrap_or_default()
}

fn provider<'a>(health: &'a Value, name: &str) -> &'a Value {
    health
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name}: {health}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_a_page_could_forge_are_refused_and_change_nothing() {
    let dir = TempDir::new("forged");
    let (proxy, _) = shipped_proxy(&dir, &shipped::config(&[]), false).await;
    let own = proxy.admin.to_string();
    let forged: [&[(&str, &str)]; 5] = [
        &[("origin", "https://evil.example"), ("content-type", "text/plain")],
        &[("origin", "https://evil.example")],
        &[("content-type", "application/x-www-form-urlencoded")],
        &[("content-type", "multipart/form-data; boundary=x")],
        &[("sec-fetch-site", "cross-site")],
    ];
    for headers in forged {
        let r = post(&proxy, "/admin/reload", headers).await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "forbidden");
        let r = post(&proxy, "/admin/providers/binance/unbench", headers).await;
        assert_eq!(r.status, 403, "{headers:?}");
    }
    assert_eq!(version(&proxy).await, 1, "no forged reload ran");
    let records = audit(&proxy).await;
    assert_eq!(records.iter().filter(|r| r["result"] == "refused").count(), 10, "each forged write is audited");
    assert!(records.iter().all(|r| r["result"] == "refused"), "nothing but refusals: {records:?}");
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "unbench" && r["error"].as_str().is_some_and(|e| e.contains("evil.example")))
    );
    // The dashboard's own call (same origin) and curl (no browser headers) still work.
    let dashboard = [("origin", format!("http://{own}")), ("sec-fetch-site", "same-origin".into())];
    let headers: Vec<(&str, &str)> = dashboard.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&proxy, "/admin/reload", &headers).await.status, 200);
    assert_eq!(post(&proxy, "/admin/reload", &[]).await.status, 200);
    assert_eq!(version(&proxy).await, 3);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_rebound_to_loopback_reads_nothing() {
    let dir = TempDir::new("rebind");
    let (proxy, _) = shipped_proxy(&dir, &shipped::config(&[]), false).await;
    let port = proxy.admin.port();
    for path in ["/api/system/providers/health", "/api/system/config", "/metrics", "/dashboard"] {
        let evil =
            send(Method::GET, &proxy.admin_url(path), &[("host", &format!("evil.example:{port}"))], Bytes::new()).await;
        assert_eq!(evil.status, 421, "{path}: {}", evil.text());
        assert_eq!(evil.json()["error"]["code"], "misdirected_request");
        assert!(!evil.text().contains("binance"), "nothing of the topology: {}", evil.text());
        for own in [proxy.admin.to_string(), format!("localhost:{port}")] {
            let r = send(Method::GET, &proxy.admin_url(path), &[("host", &own)], Bytes::new()).await;
            assert_eq!(r.status, 200, "{path} with Host {own}");
        }
    }
    proxy.stop().await;
    // A name the operator lists is answered.
    let listed = shipped::config(&[]).replace("[server]", "[admin]\nhosts = [\"mg.internal\"]\n\n[server]");
    let dir = TempDir::new("rebind-listed");
    let (proxy, _) = shipped_proxy(&dir, &listed, false).await;
    let r = send(Method::GET, &proxy.admin_url("/healthz"), &[("host", "mg.internal")], Bytes::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(Method::GET, &proxy.admin_url("/healthz"), &[("host", "other.internal")], Bytes::new()).await;
    assert_eq!(r.status, 421);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_by_post_and_by_file_are_audited_with_shas_and_key_names() {
    let dir = TempDir::new("audit");
    let text = shipped::config(&[]);
    let (proxy, file) = shipped_proxy(&dir, &text, true).await;
    let sha0 = get(proxy.admin_url("/api/system/config")).await.json()["sha256"].as_str().expect("sha").to_owned();
    // By POST, after an edit that sets a header with a secret-looking value.
    let v2 = text.replace("deadline = \"5s\"", "deadline = \"4s\"").replace(
        "[providers.coingecko]\n",
        "[providers.coingecko]\nheaders = { \"x-audit-probe\" = \"value-never-shown-1\" }\n",
    );
    assert_ne!(v2, text);
    std::fs::write(dir.path().join("v2.toml"), &v2).expect("v2");
    std::fs::rename(dir.path().join("v2.toml"), &file).expect("swap v2");
    // The watcher may pick the edit up first: either way one record per source below.
    let r = post(&proxy, "/admin/reload", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sha1 = r.json()["sha256"].as_str().expect("sha").to_owned();
    // By the file watcher.
    let v3 = v2.replace("value-never-shown-1", "value-never-shown-2");
    std::fs::write(dir.path().join("v3.toml"), &v3).expect("v3");
    std::fs::rename(dir.path().join("v3.toml"), &file).expect("swap v3");
    // The v3 reload: from v2's sha to another. The watcher may also have seen v2's swap
    // late, after the POST, and audited a reload that changed nothing (sha1 to sha1).
    let is_v3 = |r: &&Value| {
        r["source"]["kind"] == "file" && r["config_before"] == sha1.as_str() && r["config_after"] != sha1.as_str()
    };
    let end = Instant::now() + Duration::from_secs(5);
    let records = loop {
        let records = audit(&proxy).await;
        if records.iter().any(|r| is_v3(&r)) {
            break records;
        }
        assert!(Instant::now() < end, "no file reload audited within 5 s: {records:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let by_post = records.iter().find(|r| r["source"]["kind"] == "admin").expect("the POST is audited");
    assert_eq!(by_post["action"], "reload");
    assert_eq!(by_post["result"], "ok");
    assert!(by_post["source"]["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{by_post}");
    let first = records.iter().rev().find(|r| r["action"] == "reload").expect("first reload");
    assert_eq!(first["config_before"], sha0.as_str(), "{first}");
    assert_eq!(first["config_after"], sha1.as_str(), "{first}");
    let keys: Vec<&str> = first["changed_keys"].as_array().expect("keys").iter().filter_map(Value::as_str).collect();
    assert_eq!(keys, ["providers.coingecko.headers.x-audit-probe", "server.deadline"], "{first}");
    let by_file = records.iter().find(is_v3).expect("file");
    assert_eq!(by_file["changed_keys"], serde_json::json!(["providers.coingecko.headers.x-audit-probe"]));
    assert!(by_file["config_after"].as_str().is_some_and(|s| s.len() == 64 && s != sha1), "{by_file}");
    let all = serde_json::to_string(&records).expect("json");
    assert!(!all.contains("value-never-shown") && !all.contains("4s"), "the audit holds names, never values: {all}");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_admin_actions_total{action=\"reload\",result=\"ok\"}"), "{metrics}");
    proxy.stop().await;
}

/// The shipped config with CoinGecko's key read from `key_file` (`required` as given).
fn coingecko_keyed_by_file(hosts: Vec<String>, key_file: &std::path::Path, required: bool) -> String {
    let text = shipped::config(&[("coingecko", hosts)]);
    let from = "auth = { env = \"COINGECKO_API_KEY\", required = false,";
    assert!(text.contains(from), "the shipped coingecko auth line moved");
    text.replace(from, &format!("auth = {{ file = {:?}, required = {required},", key_file.display().to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_on_the_shipped_config_rotates_within_two_seconds() {
    let cg = shipped::provider("coingecko", None).await;
    let dir = TempDir::new("keyfile");
    let key_file = dir.path().join("coingecko");
    std::fs::write(&key_file, "cg-file-key-one\n").expect("key");
    let (proxy, _) = shipped_proxy(&dir, &coingecko_keyed_by_file(cg.hosts.clone(), &key_file, false), false).await;
    let raw = proxy.url("/raw/coingecko/simple/price?ids=bitcoin&vs_currencies=usd");
    let sent = || -> Vec<String> {
        cg.mocks[0]
            .seen()
            .iter()
            .map(|s| s.headers.get("x-cg-demo-api-key").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned())
            .collect()
    };
    assert_eq!(get(&raw).await.status, 200);
    // Replaced the way Kubernetes replaces a mounted secret: a new file renamed over it.
    std::fs::write(dir.path().join("coingecko.new"), "cg-file-key-two\n").expect("new key");
    std::fs::rename(dir.path().join("coingecko.new"), &key_file).expect("swap");
    let swapped = Instant::now();
    while !sent().iter().any(|k| k == "cg-file-key-two") {
        assert!(swapped.elapsed() < Duration::from_secs(2), "the new key was not used within 2 s: {:?}", sent());
        assert_eq!(get(&raw).await.status, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert_eq!(get(&raw).await.status, 200);
    }
    let keys = sent();
    let first_new = keys.iter().position(|k| k == "cg-file-key-two").expect("new key");
    assert!(keys[first_new..].iter().all(|k| k == "cg-file-key-two"), "the old key came back: {keys:?}");
    // The file vanishes: the last good key stays in use, and health says so.
    std::fs::remove_file(&key_file).expect("remove");
    let end = Instant::now() + Duration::from_secs(3);
    let view = loop {
        let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
        let keys = provider(&health, "coingecko")["keys"].clone();
        if keys["file_problem"].is_string() {
            break keys;
        }
        assert!(Instant::now() < end, "a vanished key file is not reported: {keys}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(view["count"], 1, "{view}");
    assert!(view["file_problem"].as_str().is_some_and(|m| m.contains("last good keys")), "{view}");
    let n = keys.len();
    assert_eq!(get(&raw).await.status, 200);
    assert_eq!(sent()[n..], ["cg-file-key-two".to_owned()], "still the last good key");
    let surfaces = [
        get(proxy.admin_url("/api/system/providers/health")).await.text(),
        get(proxy.admin_url("/api/system/config")).await.text(),
        get(proxy.admin_url("/api/system/audit")).await.text(),
        get(proxy.admin_url("/metrics")).await.text(),
    ];
    for s in surfaces {
        assert!(!s.contains("cg-file-key"), "a key leaked: {s}");
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_waiting_for_its_key_file_comes_in_when_it_appears() {
    let cg = shipped::provider("coingecko", None).await;
    let dir = TempDir::new("keyfile-late");
    let key_file = dir.path().join("coingecko");
    let (proxy, _) = shipped_proxy(&dir, &coingecko_keyed_by_file(cg.hosts.clone(), &key_file, true), false).await;
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    assert_eq!(provider(&health, "coingecko")["status"], "disabled", "{health}");
    std::fs::write(&key_file, "cg-late-key\n").expect("key");
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
        if provider(&health, "coingecko")["status"] != "disabled" {
            break;
        }
        assert!(Instant::now() < end, "the provider did not come in after its key file appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = get(proxy.url("/raw/coingecko/simple/price?ids=bitcoin&vs_currencies=usd")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = cg.mocks[0].seen();
    assert_eq!(
        seen.last().and_then(|s| s.headers.get("x-cg-demo-api-key")).map(|v| v.as_bytes()),
        Some(&b"cg-late-key"[..])
    );
    // The reload is audited once it has finished (the new config serves a moment
    // before).
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let records = audit(&proxy).await;
        if records.iter().any(|r| r["action"] == "reload" && r["source"]["kind"] == "file") {
            break;
        }
        assert!(Instant::now() < end, "the reload is not audited: {records:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_day_ban_is_lifted_by_unbench_and_a_breaker_by_reset() {
    let banned = Arc::new(AtomicBool::new(true));
    let mocks = shipped::binance_banned_while(Arc::clone(&banned)).await;
    let hits = |m: &[Mock]| m.iter().map(Mock::hits).sum::<usize>();
    let cg = shipped::provider("coingecko", Some(Fault::Http5xx)).await;
    let hosts = vec![("binance", mocks.iter().map(Mock::url).collect()), ("coingecko", cg.hosts.clone())];
    let dir = TempDir::new("unbench");
    let (proxy, _) = shipped_proxy(&dir, &shipped::config(&hosts), false).await;
    let _ = get(proxy.url("/v1/price?symbols=BTC")).await;
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    let until = provider(&health, "binance")["benched_until"].as_str().expect("benched").to_owned();
    let until = chrono_secs(&until) - marketgate::calendar::now_ms() / 1000;
    assert!(until > 2 * 86_400, "benched for 3 days, {until} s left");
    banned.store(false, Ordering::SeqCst);
    let before = hits(&mocks);
    let r = get(proxy.url("/v1/price?symbols=ETH")).await;
    assert_ne!(r.json()["meta"]["provider"], "binance", "{}", r.text());
    assert_eq!(hits(&mocks), before, "a benched provider is not asked");
    let r = post(&proxy, "/admin/providers/binance/unbench", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["changed"], true);
    let r = get(proxy.url("/v1/price?symbols=ETH")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["meta"]["provider"], "binance", "back in service at once: {}", r.text());
    // A breaker opened by three 503s, closed by an operator.
    let host = |h: &Value| provider(h, "coingecko")["hosts"][0].clone();
    for _ in 0..3 {
        let r = get(proxy.url("/raw/coingecko/simple/price?ids=bitcoin&vs_currencies=usd")).await;
        assert_eq!(r.status, 503, "{}", r.text());
    }
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    assert_eq!(host(&health)["breaker"], "open", "{}", host(&health));
    let label = host(&health)["host"].as_str().expect("label").to_owned();
    let r = post(&proxy, &format!("/admin/providers/coingecko/hosts/{label}/reset"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let health = get(proxy.admin_url("/api/system/providers/health")).await.json();
    assert_eq!(host(&health)["breaker"], "closed", "{}", host(&health));
    let r = post(&proxy, "/admin/providers/nosuch/unbench", &[]).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let records = audit(&proxy).await;
    let actions: Vec<(&str, &str)> =
        records.iter().map(|r| (r["action"].as_str().unwrap_or(""), r["target"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        actions,
        [("breaker_reset", format!("coingecko/{label}").as_str()), ("unbench", "binance")],
        "{records:?}"
    );
    proxy.stop().await;
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-12-07T01:02:03Z`).
fn chrono_secs(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i64>().ok()).expect("rfc3339");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let days = marketgate::calendar::days_from_civil(y, m as u32, d as u32);
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// A config that grows by 2,000 routes and a provider, then shrinks back, leaves
/// `/metrics` with the series it had: a reload gives back the series of what it removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_shrinks_again_gives_its_series_back() {
    let kraken = shipped::provider("kraken", None).await;
    let broken = Mock::fixed(500, "{}").await;
    let dir = TempDir::new("shrink");
    let text = shipped::config(&[("kraken", kraken.hosts.clone())]);
    let (proxy, file) = shipped_proxy(&dir, &text, false).await;
    let series = || async { crate::admin::series(&get(proxy.admin_url("/metrics")).await.text()) };
    // Some traffic first, so the requests and upstream series exist too.
    assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.status, 200);
    let before = series().await;
    let extra: String = (0..2000)
        .map(|i| format!("\"/v1/p{i:04}\" = {{ op = \"price\", pool = [[\"spare\"], [\"kraken\"]], cache = \"2s\", hedge_after = \"100ms\" }}\n"))
        .collect();
    let spare = format!(
        "[providers.spare]\nhosts = [{:?}]\nsymbols = {{ format = \"{{BASE}}\" }}\n[providers.spare.ops.price]\nquotes = [\"USD\"]\n\
         request = {{ path = \"/price\" }}\nresponse = '[]'\n\n",
        broken.url()
    );
    let grown =
        text.replace("[pools]\n", &format!("{spare}[pools]\n")).replace("[routes]\n", &format!("[routes]\n{extra}"));
    std::fs::write(&file, &grown).expect("grown");
    let r = post(&proxy, "/admin/reload", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(proxy.url("/v1/p0001?symbols=BTC")).await.status, 200);
    let during = series().await;
    assert!(
        during.iter().any(|s| s.starts_with("marketgate_failovers_total") && s.contains("/v1/p0001")),
        "spare fails over to kraken"
    );
    assert!(
        during.len() > before.len() + 6000,
        "{} series with 2,000 more routes, {} before",
        during.len(),
        before.len()
    );
    std::fs::write(&file, &text).expect("shrunk");
    let r = post(&proxy, "/admin/reload", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = series().await;
    let left: Vec<&String> =
        after.difference(&before).filter(|s| !s.starts_with("marketgate_admin_actions_total")).collect();
    assert!(
        left.is_empty(),
        "{} series of the removed routes and provider stay: {:?}",
        left.len(),
        &left[..left.len().min(5)]
    );
    proxy.stop().await;
}
