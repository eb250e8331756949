//! API keys reach their provider and nowhere else: not the logs (trace level, JSON),
//! error bodies, /metrics, /api/system/*, /dashboard, nor `marketgate check` output.
//! Runs the real binary with keys in its environment.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Mock, Reply, get};

const KEY_A: &str = "sk-live-SECRET-AAAA-1111";
const KEY_B: &str = "sk-live-SECRET-BBBB-2222";
const QUERY_KEY: &str = "qk-SECRET-CCCC-3333";
const HEADER_SECRET: &str = "hdr-SECRET-DDDD-4444";
const ADMIN_TOKEN: &str = "adm-SECRET-EEEE-5555";
const PATH_SECRET: &str = "path-SECRET-FFFF-6666";
const FILE_K1: &str = "fk1-SECRET-GGGG-7777";
const FILE_K2: &str = "fk2-SECRET-HHHH-8888";
const LITERAL: &str = "lit-SECRET-IIII-9999";
const ALL: [&str; 9] = [KEY_A, KEY_B, QUERY_KEY, HEADER_SECRET, ADMIN_TOKEN, PATH_SECRET, FILE_K1, FILE_K2, LITERAL];

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90000000"}]"#;

/// `MG_PATH_HOST` holds a base URL whose path carries a secret (an Infura-style key);
/// `filed` reads its key from `key_file`.
fn config(hdr: &str, qry: &str, broken: &str, key_file: &std::path::Path) -> String {
    let key_file = key_file.display();
    format!(
        r#"
[log]
format = "json"
level = "trace"
[admin]
token_env = "MG_ADMIN_TOKEN"
[assets]
BTC = {{ name = "Bitcoin" }}
[providers.hdr]
hosts = ["{hdr}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
auth = {{ env = "MG_TEST_KEYS", required = true, header = "authorization", value = "Bearer {{key}}" }}
headers = {{ "x-extra" = "${{MG_EXTRA_SECRET}}" }}
[providers.hdr.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = 'map(select(.symbol | in($symbol_of)) | {{symbol: $symbol_of[.symbol], vs: $vs, price: (.price | tonumber), ts: $now}})'
[providers.qry]
hosts = ["{qry}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
auth = {{ env = "MG_QUERY_KEY", required = true, query = "api_key" }}
[providers.qry.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = 'map(select(.symbol | in($symbol_of)) | {{symbol: $symbol_of[.symbol], vs: $vs, price: (.price | tonumber), ts: $now}})'
[providers.broken]
hosts = ["{broken}"]
auth = {{ env = "MG_QUERY_KEY", query = "api_key" }}
[providers.failing]
hosts = ["{broken}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
[providers.failing.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = '.'
[providers.filed]
hosts = ["{hdr}"]
auth = {{ file = "{key_file}", required = true, header = "x-api-key" }}
[providers.pathy]
hosts = ["${{MG_PATH_HOST}}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
[providers.pathy.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = 'map(select(.symbol | in($symbol_of)) | {{symbol: $symbol_of[.symbol], vs: $vs, price: (.price | tonumber), ts: $now}})'
[routes]
"/v1/price" = {{ op = "price", pool = [["hdr"], ["qry"]] }}
"/v1/qprice" = {{ op = "price", pool = [["qry"]] }}
"/v1/fprice" = {{ op = "price", pool = [["failing"]] }}
"/v1/pprice" = {{ op = "price", pool = [["pathy"]] }}
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

/// The binary with every secret in its environment.
fn marketgate_with_keys(path_host: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketgate"));
    cmd.env("MG_PATH_HOST", format!("{path_host}/v3/{PATH_SECRET}"))
        .env("MG_TEST_KEYS", format!("{KEY_A},{KEY_B}"))
        .env("MG_QUERY_KEY", QUERY_KEY)
        .env("MG_EXTRA_SECRET", HEADER_SECRET)
        .env("MG_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("RUST_LOG");
    cmd
}

fn spawn(config_path: &std::path::Path, path_host: &str) -> (Child, Arc<Mutex<String>>, String, String) {
    let config = config_path.to_str().expect("utf8");
    let mut child = marketgate_with_keys(path_host)
        .args(["--config", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn marketgate");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("marketgate ready") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let _ = tx.send((
                    v["listen"].as_str().unwrap_or_default().to_owned(),
                    v["admin"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            let mut l = sink.lock().expect("lock");
            l.push_str(&line);
            l.push('\n');
        }
    });
    let (client, admin) = rx.recv_timeout(Duration::from_secs(10)).expect("marketgate became ready");
    (child, log, client, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_reach_only_their_provider() {
    let hdr = Mock::start(|s| {
        let auth = s.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if auth.contains("BBBB") {
            Reply::Json(401, r#"{"code":-2015,"msg":"Invalid API-key"}"#.into())
        } else {
            Reply::Json(200, PRICES.into())
        }
    })
    .await;
    // An upstream redirect that echoes the request (the key in the query among it).
    let qry = Mock::start(|s| {
        if s.path_and_query.starts_with("/redirect") {
            Reply::With(
                302,
                vec![("location", format!("https://elsewhere.example{}", s.path_and_query))],
                String::new(),
            )
        } else {
            Reply::Json(200, PRICES.into())
        }
    })
    .await;
    let broken = Mock::fixed(500, "{}").await;
    let pathy = Mock::fixed(200, PRICES).await;
    let dir = std::env::temp_dir().join(format!("marketgate-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("marketgate.toml");
    let key_file = dir.join("filed.key");
    std::fs::write(&key_file, format!("{FILE_K1}\n")).expect("key file");
    let text = config(&hdr.url(), &qry.url(), &broken.url(), &key_file);
    std::fs::write(&path, &text).expect("config");
    let (mut child, log, client, admin) = spawn(&path, &pathy.url());
    let mut surfaces: Vec<(String, String)> = Vec::new();
    for p in [
        "/v1/price?symbols=BTC",
        "/v1/price?symbols=BTC",
        "/v1/price?symbols=BTC",
        "/v1/qprice?symbols=BTC",
        "/raw/qry/api/v3/ticker/price",
        "/raw/broken/x",
        "/raw/hdr/x",
        "/v1/price?symbols=NOPE",
        "/v1/fprice?symbols=BTC",
        "/v1/pprice?symbols=BTC",
        "/raw/pathy/api/v3/ticker/price",
        "/raw/qry/redirect",
        "/nope",
    ] {
        let r = get(format!("http://{client}{p}")).await;
        surfaces.push((format!("client {p} -> {}", r.status), format!("{:?}\n{}", r.headers, r.text())));
    }
    assert!(
        qry.seen().iter().any(|s| s.path_and_query.starts_with("/redirect") && s.path_and_query.contains(QUERY_KEY)),
        "the key went to the provider, whose redirect echoed it"
    );
    assert!(pathy.seen().iter().any(|s| s.path_and_query.starts_with(&format!("/v3/{PATH_SECRET}/"))));
    let token = format!("Bearer {ADMIN_TOKEN}");
    // The key file rewritten in place: within 2 s requests carry the new key, and the
    // old one never again.
    let filed = format!("http://{client}/raw/filed/api/v3/ticker/price");
    assert_eq!(get(&filed).await.status, 200);
    std::fs::write(&key_file, format!("{FILE_K2}\n")).expect("rewrite key file");
    let rotated = tokio::time::Instant::now();
    let sent_key =
        |s: &crate::support::Seen| s.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    loop {
        let r = get(&filed).await;
        surfaces.push((format!("client {filed} -> {}", r.status), r.text()));
        if hdr.seen().iter().filter_map(sent_key).any(|k| k == FILE_K2) {
            break;
        }
        assert!(rotated.elapsed() < Duration::from_secs(2), "the rewritten key file was not used within 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert_eq!(get(&filed).await.status, 200);
    }
    let keys: Vec<String> = hdr.seen().iter().filter_map(sent_key).collect();
    let first_new = keys.iter().position(|k| k == FILE_K2).expect("k2 used");
    assert!(keys[..first_new].iter().all(|k| k == FILE_K1) && first_new > 0, "{keys:?}");
    assert!(keys[first_new..].iter().all(|k| k == FILE_K2), "the old key was sent after the new one: {keys:?}");
    // A reload that adds a literal secret: the audit names the key, never the value.
    let with_literal = text.replace(
        "[providers.failing]\n",
        &format!("[providers.failing]\nheaders = {{ \"x-literal\" = \"{LITERAL}\" }}\n"),
    );
    std::fs::write(&path, with_literal).expect("config v2");
    let r = crate::support::send(
        http::Method::POST,
        &format!("http://{admin}/admin/reload"),
        &[("authorization", &token)],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    surfaces.push(("admin POST /admin/reload".into(), r.text()));
    for p in [
        "/metrics",
        "/api/system/providers/health",
        "/api/system/providers/hdr/hosts",
        "/api/system/circuit-breakers",
        "/api/system/providers/stats",
        "/api/system/providers/history",
        "/api/system/config",
        "/api/system/audit",
        "/dashboard",
    ] {
        let r = crate::support::send(
            http::Method::GET,
            &format!("http://{admin}{p}"),
            &[("authorization", &token)],
            bytes::Bytes::new(),
        )
        .await;
        assert_eq!(r.status, 200, "{p}");
        surfaces.push((format!("admin {p}"), r.text()));
    }
    let denied = get(format!("http://{admin}/api/system/config")).await;
    surfaces.push(("admin without token".into(), denied.text()));
    assert_eq!(denied.status, 401);
    crate::support::process::terminate(&mut child, Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(200)).await;
    surfaces.push(("logs (trace, json)".into(), log.lock().expect("lock").clone()));
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text.replace("[admin]", "[admin]\ntokn = 1")).expect("bad");
    let check = marketgate_with_keys(&pathy.url())
        .args(["check", "--config", bad.to_str().expect("utf8")])
        .output()
        .expect("check");
    assert_eq!(check.status.code(), Some(2));
    surfaces.push((
        "check output".into(),
        format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr)),
    ));
    let good = marketgate_with_keys(&pathy.url())
        .args(["check", "--config", path.to_str().expect("utf8")])
        .output()
        .expect("check");
    surfaces.push(("check summary".into(), String::from_utf8_lossy(&good.stdout).into_owned()));

    for (name, text) in &surfaces {
        for secret in ALL {
            assert!(!text.contains(secret), "{name} leaks {secret}");
        }
    }
    let logs = &surfaces.iter().find(|(n, _)| n.starts_with("logs")).expect("logs").1;
    assert!(logs.lines().count() > 20, "trace logs were captured");
    assert!(logs.contains("\"key_index\":1") && logs.contains("set aside"), "the refused key is reported by index");
    let failed_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["route"] == "/v1/fprice" && v["status"] == 502)
        .expect("an access line for the failed request");
    assert_eq!(failed_line["attempts"], 1, "a 502 says how many attempts it made: {failed_line}");
    // The keys did reach their provider, and only theirs.
    let seen_auth: Vec<String> = hdr
        .seen()
        .iter()
        .filter_map(|s| s.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .collect();
    assert!(
        seen_auth.contains(&format!("Bearer {KEY_A}")) && seen_auth.contains(&format!("Bearer {KEY_B}")),
        "{seen_auth:?}"
    );
    let hdr_own = hdr.seen().into_iter().filter(|s| s.headers.get("x-api-key").is_none()).collect::<Vec<_>>();
    assert!(hdr_own.iter().all(|s| s.headers.get("x-extra").and_then(|v| v.to_str().ok()) == Some(HEADER_SECRET)));
    assert!(
        hdr.seen().iter().all(|s| s.headers.get("x-api-key").is_none() || s.headers.get("authorization").is_none())
    );
    assert!(qry.seen().iter().any(|s| s.path_and_query.contains(&format!("api_key={QUERY_KEY}"))));
    assert!(qry.seen().iter().all(|s| s.headers.get("authorization").is_none()), "hdr's key never goes to qry");
    let audit = &surfaces.iter().find(|(n, _)| n.contains("/api/system/audit")).expect("audit").1;
    assert!(audit.contains("providers.failing.headers.x-literal"), "the audit names the changed key: {audit}");
    let check_summary = &surfaces.iter().find(|(n, _)| n == "check summary").expect("check").1;
    assert!(
        check_summary.contains("filed.key") && check_summary.contains("1 key"),
        "check reports the key file: {check_summary}"
    );
    let health = surfaces.iter().find(|(n, _)| n.contains("providers/health")).expect("health").1.clone();
    let health: serde_json::Value = serde_json::from_str(&health).expect("json");
    let hdr_view = health.as_array().and_then(|a| a.iter().find(|p| p["name"] == "hdr")).expect("hdr");
    assert_eq!(hdr_view["keys"]["set_aside"], serde_json::json!([1]), "the 401 key is set aside by index");
}
