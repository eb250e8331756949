//! The shipped examples work: the Python and Node clients against marketgate serving
//! the offline demo (`examples/mock_providers` + `config/demo.toml`), on the happy path
//! and when every provider fails; the Prometheus config and alert rules pass promtool.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use support::{Proxy, TestEnv, get};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `target/<profile>/examples/mock_providers`, built by `cargo test` with the examples.
fn mock_providers_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    profile_dir.join("examples").join("mock_providers")
}

struct Mocks {
    child: Child,
    url: String,
}

impl Drop for Mocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mocks() -> Mocks {
    let bin = mock_providers_bin();
    let mut child = Command::new(&bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo test builds the examples)", bin.display()));
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("first line");
    // Keep draining: the mocks log every mode change to stdout.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("listening address").to_owned();
    Mocks { child, url }
}

async fn demo(mocks: &Mocks) -> Proxy {
    let text = std::fs::read_to_string(Path::new(ROOT).join("config/demo.toml")).expect("demo config");
    let env = TestEnv(std::collections::HashMap::from([("DEMO_MOCKS".to_owned(), mocks.url.clone())]));
    Proxy::start_with(&text, env, None, Default::default()).await
}

async fn run_client(program: &str, script: &str, proxy: &Proxy) -> Output {
    let (program, script, url) = (program.to_owned(), Path::new(ROOT).join(script), format!("http://{}", proxy.addr));
    tokio::task::spawn_blocking(move || Command::new(program).arg(script).env("MARKETGATE_URL", url).output())
        .await
        .expect("join")
        .expect("client runs (python3 with requests, and node, are installed by scripts/test.sh)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_and_node_clients_read_the_demo() {
    let mocks = start_mocks();
    let proxy = demo(&mocks).await;
    let direct = get(proxy.url("/v1/price?symbols=BTC,ETH")).await;
    assert_eq!(direct.status, 200, "{}", direct.text());
    for (program, script) in [("python3", "examples/python/client.py"), ("node", "examples/node/client.mjs")] {
        let out = run_client(program, script, &proxy).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            stdout.contains("18,229.90") && stdout.contains("1,395.60"),
            "{script} printed the normalized prices:\n{stdout}"
        );
        assert!(stdout.contains("5 candles"), "{script}:\n{stdout}");
        assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_report_failure_when_every_provider_fails() {
    let mocks = start_mocks();
    let control =
        support::send(http::Method::POST, &format!("{}/control/all/fail", mocks.url), &[], bytes::Bytes::new()).await;
    assert_eq!(control.status, 303);
    let proxy = demo(&mocks).await;
    for (program, script) in [("python3", "examples/python/client.py"), ("node", "examples/node/client.mjs")] {
        let out = run_client(program, script, &proxy).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{script}:\n{stdout}");
        assert!(stdout.contains("all_providers_failed"), "{script} shows the error envelope:\n{stdout}");
    }
    proxy.stop().await;
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("promtool (Debian package prometheus) must be installed; scripts/test.sh installs it");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_prometheus_example_and_alert_rules_pass_promtool() {
    promtool(&["check", "config", "examples/prometheus/prometheus.yml"]);
    promtool(&["check", "rules", "examples/prometheus/alerts.yml"]);
    promtool(&["test", "rules", "examples/prometheus/alerts_test.yml"]);
}

#[test]
fn the_example_configs_are_valid() {
    for file in ["config/demo.toml", "config/examples/seed-routes.toml", "config/examples/seed-fallback.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_marketgate"))
            .args(["check", "--config", file])
            .current_dir(ROOT)
            .output()
            .expect("check");
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let json = std::fs::read_to_string(Path::new(ROOT).join("examples/grafana/marketgate.json")).expect("grafana");
    let v: serde_json::Value = serde_json::from_str(&json).expect("the Grafana dashboard is valid JSON");
    let exprs = v.to_string();
    for name in [
        "marketgate_requests_total",
        "marketgate_breaker_state",
        "marketgate_upstream_requests_total",
        "marketgate_cache_requests_total",
    ] {
        assert!(exprs.contains(name), "the dashboard charts {name}");
    }
}
