//! Live configuration: the file watcher applies edits within a second, bad files are
//! refused while the running config keeps serving, in-flight and new requests never
//! fail across 50 rewrites, traffic follows each change, and breaker state of hosts
//! that stay is carried over.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{Mock, Proxy, TestEnv, get, send};
use bytes::Bytes;
use http::Method;
use marketgate::RunOptions;
use tokio::time::Instant;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"}]"#;

struct Hosts {
    a1: String,
    a2: String,
    dead: String,
    b: String,
    c: String,
}

/// One version of the file. `second` puts a second host on provider a; `b_first`
/// swaps the tiers; `with_c` adds provider c to the second tier.
fn version(h: &Hosts, second: bool, b_first: bool, with_c: bool) -> String {
    let a_hosts = if second {
        format!("\"{}\", \"{}\", \"{}\"", h.a1, h.dead, h.a2)
    } else {
        format!("\"{}\", \"{}\"", h.a1, h.dead)
    };
    let c = if with_c {
        format!(
            "[providers.c]\nhosts = [\"{}\"]\nsymbols = {{ format = \"{{BASE}}{{QUOTE}}\", quote = {{ USD = \"USDT\" }} }}\n[providers.c.ops.price]\nrequest = {{ path = \"/api/v3/ticker/price\" }}\nresponse = '{MAP}'\n",
            h.c
        )
    } else {
        String::new()
    };
    let tiers = match (b_first, with_c) {
        (false, false) => r#"[["a"], ["b"]]"#,
        (false, true) => r#"[["a"], ["b", "c"]]"#,
        (true, false) => r#"[["b"], ["a"]]"#,
        (true, true) => r#"[["b"], ["a", "c"]]"#,
    };
    format!(
        r#"
[defaults]
attempt_timeout = "1s"
breaker = {{ consecutive_failures = 1, open_for = "10m", max_open_for = "10m" }}
[assets]
BTC = {{ name = "Bitcoin" }}
[providers.a]
hosts = [{a_hosts}]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
[providers.a.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = '{MAP}'
[providers.b]
hosts = ["{b}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
[providers.b.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = '{MAP}'
{c}
[routes]
"/v1/price" = {{ op = "price", pool = {tiers} }}
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#,
        b = h.b
    )
}

const MAP: &str = "map(select(.symbol | in($symbol_of)) | {symbol: $symbol_of[.symbol], vs: $vs, price: (.price | tonumber), ts: $now})";

/// Writes like an editor: a temp file renamed over the config.
fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.swp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

async fn config_view(p: &Proxy) -> serde_json::Value {
    get(p.admin_url("/api/system/config")).await.json()
}

/// Waits until the config version passes `after` (or a refusal is reported).
async fn wait_reload(p: &Proxy, after: u64, expect_error: bool) -> Duration {
    let started = Instant::now();
    loop {
        let v = config_view(p).await;
        let version = v["version"].as_u64().unwrap_or(0);
        let result = v["last_reload"]["result"].as_str().unwrap_or("");
        let at = v["last_reload"]["at"].as_str().unwrap_or("").to_owned();
        if expect_error && result == "error" && !at.is_empty() && version == after {
            return started.elapsed();
        }
        if !expect_error && version > after {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "reload not applied within 5 s: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn temp_config(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("marketgate-reload-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join("marketgate.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_rewrites_under_load_lose_no_request() {
    let (a1, a2, b, c) = (
        Mock::fixed(200, PRICES).await,
        Mock::fixed(200, PRICES).await,
        Mock::fixed(200, PRICES).await,
        Mock::fixed(200, PRICES).await,
    );
    let dead = Mock::fixed(503, "{}").await;
    let h = Hosts { a1: a1.url(), a2: a2.url(), dead: dead.url(), b: b.url(), c: c.url() };
    let path = temp_config("load");
    let first = version(&h, true, false, false);
    write_file(&path, &first);
    let options = RunOptions { watch_config: true, ..RunOptions::default() };
    let proxy = Arc::new(Proxy::start_with(&first, TestEnv::default(), Some(path.clone()), options).await);

    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (p, stop, served, failed, failures) = (
                Arc::clone(&proxy),
                Arc::clone(&stop),
                Arc::clone(&served),
                Arc::clone(&failed),
                Arc::clone(&failures),
            );
            tokio::spawn(async move {
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let path = if n % 2 == 0 { "/v1/price?symbols=BTC" } else { "/raw/a/api/v3/ticker/price" };
                    let r = get(p.url(path)).await;
                    if r.status == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        failures.lock().expect("lock").push(format!("{path}: {} {}", r.status, r.text()));
                    }
                    n += 1;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(200)).await;
    let dead_hits = dead.hits();
    assert!(dead_hits >= 1, "the dead host was tried and its breaker opened");
    let mut latencies = Vec::new();
    let mut version_now = 1u64;
    let mut refused = 0;
    for i in 1..=50u32 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (second, b_first, with_c) = (i % 3 != 0, i % 4 == 1, i % 5 < 2);
        let text = match i {
            20 => "[routes\n\"/v1/price\" = broken".to_owned(),
            35 => version(&h, second, b_first, with_c)
                .replace(r#"pool = [["a"]"#, r#"pool = [["ghost"]"#)
                .replace(r#"pool = [["b"]"#, r#"pool = [["ghost"]"#),
            _ => format!("# rewrite {i}\n{}", version(&h, second, b_first, with_c)),
        };
        write_file(&path, &text);
        if i == 20 || i == 35 {
            wait_reload(&proxy, version_now, true).await;
            refused += 1;
            let v = config_view(&proxy).await;
            let errors = v["last_reload"]["errors"].to_string();
            if i == 20 {
                assert!(errors.contains(":1:") || errors.contains(":2:"), "syntax error located: {errors}");
            } else {
                assert!(errors.contains("ghost"), "semantic error named: {errors}");
            }
            continue;
        }
        latencies.push(wait_reload(&proxy, version_now, false).await);
        version_now = config_view(&proxy).await["version"].as_u64().unwrap_or(0);
        // Traffic follows the change.
        tokio::time::sleep(Duration::from_millis(40)).await;
        let a2_before = a2.hits();
        let c_before = c.hits();
        for _ in 0..6 {
            let r = get(proxy.url("/v1/price?symbols=BTC")).await;
            let tier1 = if b_first { "b" } else { "a" };
            assert_eq!(r.json()["meta"]["provider"], tier1, "rewrite {i}: tiers reordered");
            get(proxy.url("/raw/a/api/v3/ticker/price")).await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        if !second {
            assert_eq!(a2.hits(), a2_before, "rewrite {i}: a removed host gets no request after its reload");
        }
        if !with_c {
            assert_eq!(c.hits(), c_before, "rewrite {i}: a removed provider gets no request");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    let served = served.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    assert_eq!(
        failed,
        0,
        "failed client requests: {:?}",
        failures.lock().expect("lock").iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(refused, 2);
    assert_eq!(dead.hits(), dead_hits, "the open breaker of the unchanged dead host survived 48 reloads");
    let metrics = get(proxy.admin_url("/metrics")).await.text();
    assert!(metrics.contains(r#"marketgate_config_reloads_total{result="error"} 2"#));
    assert!(metrics.contains(r#"marketgate_config_reloads_total{result="ok"} 49"#), "48 reloads + the start");
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    println!(
        "reload latency (write -> active) over {} reloads: p50 {p50:?}, max {max:?}; {served} client requests served, {failed} failed",
        latencies.len()
    );
    assert!(max < Duration::from_secs(1), "applied within a second: {max:?}");
    if let Ok(p) = Arc::try_unwrap(proxy) {
        p.stop().await;
    }
}

#[tokio::test]
async fn a_listen_change_is_refused_politely_and_the_old_listener_keeps_serving() {
    let a = Mock::fixed(200, PRICES).await;
    let h = Hosts { a1: a.url(), a2: a.url(), dead: crate::support::refused_addr().await, b: a.url(), c: a.url() };
    let path = temp_config("listen");
    let text = version(&h, false, false, false);
    write_file(&path, &text);
    let proxy = Proxy::start_with(&text, TestEnv::default(), Some(path.clone()), RunOptions::default()).await;
    write_file(&path, &format!("[server]\nlisten = \"127.0.0.1:1\"\n{text}"));
    let r = send(Method::POST, &proxy.admin_url("/admin/reload"), &[], Bytes::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["result"], "ok");
    assert!(v["warnings"][0].as_str().unwrap_or_default().contains("needs a restart"), "{v}");
    assert_eq!(get(proxy.url("/raw/a/api/v3/ticker/price")).await.status, 200, "still served on the old address");
    proxy.stop().await;
}

#[tokio::test]
async fn a_bad_reload_via_the_admin_endpoint_is_reported_and_changes_nothing() {
    let a = Mock::fixed(200, PRICES).await;
    let h = Hosts { a1: a.url(), a2: a.url(), dead: crate::support::refused_addr().await, b: a.url(), c: a.url() };
    let path = temp_config("admin");
    let text = version(&h, false, false, false);
    write_file(&path, &text);
    let env = TestEnv(std::collections::HashMap::from([("ADMIN_TOKEN".to_owned(), "s3cret-admin".to_owned())]));
    let with_token = format!("[admin]\ntoken_env = \"ADMIN_TOKEN\"\n{text}");
    write_file(&path, &with_token);
    let proxy = Proxy::start_with(&with_token, env, Some(path.clone()), RunOptions::default()).await;
    write_file(&path, &with_token.replace("consecutive_failures = 1", "consecutive_failures = 0"));
    let denied = send(Method::POST, &proxy.admin_url("/admin/reload"), &[], Bytes::new()).await;
    assert_eq!(denied.status, 401);
    let r = send(
        Method::POST,
        &proxy.admin_url("/admin/reload"),
        &[("authorization", "Bearer s3cret-admin")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["result"], "error");
    assert!(v["errors"][0].as_str().unwrap_or_default().contains("defaults.breaker.consecutive_failures"), "{v}");
    let view = get(proxy.admin_url("/api/system/config")).await;
    assert_eq!(view.status, 401, "config view needs the token too");
    assert_eq!(get(proxy.admin_url("/healthz")).await.status, 200, "health stays public");
    assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.status, 200, "the running config keeps serving");
    proxy.stop().await;
}

#[test]
fn sighup_reloads_the_running_binary() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    // The shipped config with every host on loopback (its health probes would reach
    // the internet otherwise), through a symlink into a directory the file watcher does
    // not watch: only the signal sees the edit, so its audit record names the change.
    let dir = crate::support::process::TempDir::new("sighup");
    std::fs::create_dir_all(dir.path().join("real")).expect("dir");
    let real = dir.path().join("real/marketgate.toml");
    let text = crate::support::shipped::config(&[]);
    std::fs::write(&real, &text).expect("config");
    let file = dir.path().join("marketgate.toml");
    std::os::unix::fs::symlink(&real, &file).expect("symlink");
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketgate"))
        .args(["--config", file.to_str().expect("utf8"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // Signals are handled once it says it is ready (a loaded machine may take a while).
    let wait_for = |needle: &str| {
        let end = tokio::time::Instant::now() + Duration::from_secs(20);
        while let Ok(line) = rx.recv_timeout(end.saturating_duration_since(tokio::time::Instant::now())) {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    };
    let ready = wait_for("marketgate ready").expect("marketgate did not become ready");
    let admin = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("admin="))
        .map(|a| a.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no admin address in {ready:?}"));
    std::fs::write(&real, text.replace("deadline = \"5s\"", "deadline = \"4s\"")).expect("edit");
    assert!(crate::support::process::signal(&child, nix::sys::signal::Signal::SIGHUP));
    assert!(wait_for("config reloaded").is_some(), "no reload logged after SIGHUP");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let audit = runtime.block_on(get(format!("http://{admin}/api/system/audit"))).json();
    let status = crate::support::process::terminate(&mut child, Duration::from_secs(20));
    let log = reader.join().unwrap_or_default();
    assert!(status.is_some_and(|s| s.success()), "exit 0 after SIGTERM: {status:?} {log}");
    assert!(log.contains("config reloaded") && log.contains("trigger=\"sighup\""), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes when stderr is not a terminal");
    assert!(log.contains("marketgate stopped"), "{log}");
    let record = &audit[0];
    assert_eq!(record["action"], "reload", "{audit}");
    assert_eq!(record["source"]["kind"], "signal", "{audit}");
    assert_eq!(record["changed_keys"], serde_json::json!(["server.deadline"]), "{audit}");
    let (before, after) = (record["config_before"].as_str(), record["config_after"].as_str());
    assert!(
        before.is_some_and(|b| b.len() == 64) && after.is_some_and(|a| a.len() == 64) && before != after,
        "{record}"
    );
}
