//! The shipped examples work: the Python and Node clients against marketgate serving
//! the offline demo (`examples/mock_providers` + `config/demo.toml`), on the happy path
//! and when every provider fails; the Prometheus config and alert rules pass promtool.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::demo::{demo, start_mocks};
use crate::support::{Proxy, get};

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
#[ignore = "needs python3 with httpx and attrs, and the mock_providers example: scripts/test.sh installs them and runs this"]
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
#[ignore = "needs python3 with requests, node, and the mock_providers example: scripts/test.sh installs them and runs this"]
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
#[ignore = "needs python3 with requests, node, and the mock_providers example: scripts/test.sh installs them and runs this"]
async fn the_clients_report_failure_when_every_provider_fails() {
    let mocks = start_mocks();
    let control =
        crate::support::send(http::Method::POST, &format!("{}/control/all/fail", mocks.url), &[], bytes::Bytes::new())
            .await;
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
#[ignore = "needs promtool (Debian package prometheus): scripts/test.sh installs it and runs this"]
fn the_prometheus_example_and_alert_rules_pass_promtool() {
    promtool(&["check", "config", "examples/prometheus/prometheus.yml"]);
    promtool(&["check", "rules", "examples/prometheus/alerts.yml"]);
    promtool(&["test", "rules", "examples/prometheus/alerts_test.yml"]);
}
