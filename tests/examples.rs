//! The shipped examples work: the Python and Node clients against marketgate serving
//! the offline demo (`examples/mock_providers` + `config/demo.toml`), on the happy path
//! and when every provider fails; the Prometheus config and alert rules pass promtool.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::demo::{demo, start_mocks};
use support::{Proxy, get};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

async fn run_client(program: &str, script: &str, proxy: &Proxy) -> Output {
    let (program, script, url) = (program.to_owned(), Path::new(ROOT).join(script), format!("http://{}", proxy.addr));
    tokio::task::spawn_blocking(move || Command::new(program).arg(script).env("MARKETGATE_URL", url).output())
        .await
        .expect("join")
        .expect("client runs (python3 with requests, and node, are installed by scripts/test.sh)")
}

/// The typed client generated from the OpenAPI document reads prices, candles,
/// indicators and movers from the demo as typed models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_python_client_reads_the_demo() {
    let mocks = start_mocks();
    let proxy = demo(&mocks).await;
    let out = run_client("python3", "examples/python/typed_client.py", &proxy).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for want in ["BTC/USD: 18,229.90", "5 candles", "RSI(14)", "gainers:", "OK"] {
        assert!(stdout.contains(want), "{want}:\n{stdout}");
    }
    proxy.stop().await;
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
    // The compose example's config, with the environment the compose file gives it.
    let out = Command::new(env!("CARGO_BIN_EXE_marketgate"))
        .args(["check", "--config", "examples/compose/marketgate.toml"])
        .env("MARKETGATE_REDIS_URL", "redis://redis:6379")
        .env("MARKETGATE_EGRESS", "compose-host")
        .env("MARKETGATE_ADMIN_TOKEN", "t")
        .current_dir(ROOT)
        .output()
        .expect("check");
    assert!(out.status.success(), "examples/compose/marketgate.toml: {}", String::from_utf8_lossy(&out.stderr));
    let compose = std::fs::read_to_string(Path::new(ROOT).join("examples/docker-compose.yml")).expect("compose file");
    for needle in ["./compose/marketgate.toml:/etc/marketgate/marketgate.toml", "redis://redis:6379", "image: redis:"] {
        assert!(compose.contains(needle), "examples/docker-compose.yml lost {needle}");
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
