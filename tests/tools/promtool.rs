//! The Prometheus exposition checked by promtool (Debian's `prometheus` package;
//! `scripts/test.sh` installs it): the shipped config after requests that succeed, fail
//! over and fail, so every family has series.

use crate::support::shipped;
use crate::support::{Proxy, get};

#[tokio::test]
#[ignore = "needs promtool (Debian package prometheus): scripts/test.sh installs it and runs this"]
async fn the_exposition_passes_promtool() {
    let binance = shipped::provider("binance", None).await;
    let proxy = Proxy::start(&shipped::config(&[("binance", binance.hosts.clone())])).await;
    for route in ["/v1/price?symbols=BTC", "/v1/ticker?symbol=BTC", "/v1/markets?limit=2", "/v1/price?symbols=BTC"] {
        let _ = get(proxy.url(route)).await;
    }
    let text = get(proxy.admin_url("/metrics")).await.text();
    let path = std::env::temp_dir().join(format!("marketgate-metrics-{}.txt", std::process::id()));
    std::fs::write(&path, &text).expect("write scrape");
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).expect("open scrape"))
        .output()
        .expect("promtool (Debian package prometheus) must be installed; scripts/test.sh installs it");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    proxy.stop().await;
}
