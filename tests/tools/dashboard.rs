//! The dashboard in a real browser: marketgate runs with one failing, one healthy and
//! one flipping provider, sharing budgets through a real Redis; `tests/browser/dashboard.mjs` (playwright-core driving the
//! system's Chromium) checks the page shows each correctly, that auto-refresh picks up
//! a change without a reload, that its reset and Reload config buttons work (the reload
//! audited with the key it changed) while a page from another origin cannot reload,
//! and that the try panel works. Screenshots land in
//! target/dashboard*.png.
//!
//! Needs Node, Chromium (`apt-get install chromium`) and `npm ci --prefix
//! tests/browser`; `.ci/run` and `scripts/test.sh` install them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::redis::RedisServer;
use marketgate::app::RunOptions;

use crate::support::process::TempDir;
use crate::support::{Mock, Proxy, Reply, TestEnv, get};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn config(good: &str, bad1: &str, bad2: &str, flaky: &str, keyed: &str, redis: &str) -> String {
    format!(
        r#"
[server]
deadline = "5s"
[cluster]
redis = "{redis}"
replicas = 2
[defaults]
breaker = {{ consecutive_failures = 3, open_for = "60s" }}
[admin]
history_interval = "1s"
[assets]
BTC = {{ name = "Bitcoin" }}
[providers.good]
hosts = ["{good}"]
symbols = {{ format = "{{BASE}}" }}
credits = {{ limit = 1000, per = "month" }}
[providers.good.ops.price]
quotes = ["USD"]
request = {{ path = "/price" }}
response = '[{{symbol: "BTC", vs: $vs, price: 42000, ts: $now}}]'
[providers.bad]
hosts = ["{bad1}", "{bad2}"]
symbols = {{ format = "{{BASE}}" }}
[providers.bad.ops.price]
quotes = ["USD"]
request = {{ path = "/price" }}
response = '[{{symbol: "BTC", vs: $vs, price: 42000, ts: $now}}]'
[providers.flaky]
hosts = ["{flaky}"]
symbols = {{ format = "{{BASE}}" }}
[providers.flaky.ops.ticker]
quotes = ["USD"]
request = {{ path = "/ticker" }}
response = '{{symbol: "BTC", vs: $vs, last: 1, open: null, high: null, low: null, change_pct: null, volume: null, quote_volume: null, ts: $now}}'
[providers.keyed]
hosts = ["{keyed}"]
auth = {{ env = "SOME_UNSET_KEY", required = true, header = "authorization", value = "Bearer {{key}}" }}
[routes]
"/v1/price" = {{ op = "price", pool = [["bad"], ["good"]] }}
"/v1/ticker" = {{ op = "ticker", pool = [["flaky"]] }}
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

fn ensure_node_modules() {
    let browser_dir = Path::new(ROOT).join("tests/browser");
    if browser_dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let status = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&browser_dir).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "`npm ci --prefix tests/browser` failed: Node and npm are needed for the dashboard test"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and node with playwright-core: scripts/test.sh installs them and runs this"]
async fn the_dashboard_shows_health_and_refreshes_itself_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} not found: install Debian's chromium (scripts/test.sh does)");
    ensure_node_modules();
    let good = Mock::fixed(200, "{}").await;
    let bad1 = Mock::fixed(500, "{}").await;
    let bad2 = Mock::fixed(500, "{}").await;
    let flaky = Mock::fixed(500, "{}").await;
    let keyed = Mock::start(|_| Reply::Json(200, "{}".into())).await;
    let redis = RedisServer::start();
    let dir = TempDir::new("dashboard");
    let file = dir.path().join("marketgate.toml");
    let text = config(&good.url(), &bad1.url(), &bad2.url(), &flaky.url(), &keyed.url(), &redis.url());
    std::fs::write(&file, &text).expect("write config");
    let proxy = Proxy::start_with(&text, TestEnv::default(), Some(file.clone()), RunOptions::default()).await;
    for _ in 0..100 {
        if get(proxy.admin_url("/api/system/cluster")).await.json()["counting_shared"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..8 {
        assert_eq!(get(proxy.url("/v1/price?symbols=BTC")).await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let screenshot = Path::new(ROOT).join("target/dashboard.png");
    let admin = format!("http://{}", proxy.admin);
    let client = format!("http://{}", proxy.addr);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(Path::new(ROOT).join("tests/browser/dashboard.mjs"))
            .env("ADMIN_URL", admin)
            .env("CLIENT_URL", client)
            .env("DOWN", "bad")
            .env("HEALTHY", "good")
            .env("FLIP", "flaky")
            .env("FLIP_PATH", "/v1/ticker?symbol=BTC")
            .env("CREDITS", "good")
            .env("CONFIG_FILE", &file)
            .env("CLUSTER", "1")
            .env("SCREENSHOT", screenshot)
            .env("CHROMIUM", chromium)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "dashboard checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("PASS"), "{stdout}");
    proxy.stop().await;
}
