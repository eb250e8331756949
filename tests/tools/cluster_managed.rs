//! Redis as users run it: over TLS (`rediss://`, as managed Redis is: Debian's
//! `redis-server` with a TLS port, a test CA and leaf made with rcgen, a client
//! certificate required), and behind a Redis Sentinel that fails over.

use std::time::Duration;

use super::cluster::{cluster_view, config, counting_mock, until_up};
use crate::support::get;
use crate::support::process::Process;
use crate::support::redis::RedisServer;
use crate::support::tls::TestPki;

const QUOTA: &str = r#"{ limit = 1000, per = "1m" }"#;

fn tls_config(redis: &RedisServer, upstream: &str, files: &str) -> String {
    config(&redis.tls_url(), upstream, QUOTA).replace("timeout = \"50ms\"", &format!("timeout = \"500ms\"\n{files}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn rediss_with_a_private_ca_and_a_client_certificate_shares_answers() {
    let pki = TestPki::new("redis-tls");
    let redis = RedisServer::start_tls(&pki, true);
    let (mock, _times) = counting_mock(Duration::from_millis(1)).await;
    let files = format!(
        "ca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}",
        pki.ca_path().display().to_string(),
        pki.cert_path().display().to_string(),
        pki.key_path().display().to_string()
    );
    let cfg = tls_config(&redis, &mock.url(), &files);
    let procs: Vec<Process> = ["a", "b"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    assert_eq!(get(procs[0].url("/v1/cprice?symbols=BTC")).await.status, 200);
    let b = get(procs[1].url("/v1/cprice?symbols=BTC")).await;
    assert_eq!(b.json()["meta"]["cached"], true, "b is served a's answer, through TLS: {}", b.text());
    assert!(cluster_view(&procs[0]).await["redis"]["url"].as_str().is_some_and(|u| u.starts_with("rediss://")));
    // Budgets are counted there too (read over the harness's plain port).
    assert_eq!(get(procs[1].url("/v1/price?symbols=BTC")).await.status, 200);
    let quota = redis.command(&["KEYS", "*:quota:*"]).unwrap_or_default();
    assert!(quota.contains(":quota:"), "the budget is counted in the TLS Redis: {quota:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn a_server_signed_by_another_ca_or_a_missing_client_certificate_is_refused_and_said() {
    let pki = TestPki::new("redis-tls-a");
    let other = TestPki::new("redis-tls-b");
    let redis = RedisServer::start_tls(&pki, true);
    let (mock, _times) = counting_mock(Duration::from_millis(1)).await;
    let path = |p: std::path::PathBuf| p.display().to_string();
    // Trusting another CA: the server's certificate does not verify.
    let wrong_ca = format!(
        "ca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}",
        path(other.ca_path()),
        path(pki.cert_path()),
        path(pki.key_path())
    );
    // The right CA, but no client certificate: the server refuses us.
    let no_client = format!("ca_file = {:?}", path(pki.ca_path()));
    for (name, files) in [("wrong-ca", wrong_ca), ("no-client", no_client)] {
        let p = Process::start(name, &tls_config(&redis, &mock.url(), &files), &[]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let view = cluster_view(&p).await;
        assert_eq!(view["redis"]["up"], false, "{name}: {view}");
        assert_eq!(get(p.url("/v1/cprice?symbols=BTC")).await.status, 200, "{name}: Redis refused fails no request");
        let log = p.log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(log.contains("Redis unusable"), "{name}: said at start: {log}");
    }
}

/// Redis Sentinel: the master is asked of the sentinel; when it dies, the sentinel
/// promotes the replica, requests go on meanwhile (local shares), and counting resumes
/// on the new master, which the admin view then names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn the_sentinels_master_is_followed_across_a_failover() {
    use crate::support::redis::Sentinel;
    let mut master = RedisServer::start();
    let replica = RedisServer::start_replica_of(master.port);
    // Three sentinels, two of which must agree that the master is down.
    let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(master.port, 2)).collect();
    let (mock, _times) = counting_mock(Duration::from_millis(1)).await;
    let addrs: Vec<String> = sentinels.iter().map(|s| format!("\"127.0.0.1:{}\"", s.port)).collect();
    let sentinels_cfg = format!("sentinels = [{}]\nmaster = \"mymaster\"", addrs.join(", "));
    // The URL's host is a placeholder: the sentinel names the master.
    let cfg = config("redis://sentinel-master:6379/0", &mock.url(), QUOTA)
        .replace("timeout = \"50ms\"", &format!("timeout = \"500ms\"\n{sentinels_cfg}"));
    let procs: Vec<Process> = ["a"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    let url = |v: &serde_json::Value| v["redis"]["url"].as_str().unwrap_or_default().to_owned();
    assert!(url(&cluster_view(&procs[0]).await).ends_with(&format!(":{}/0", master.port)));
    assert_eq!(get(procs[0].url("/v1/price?symbols=BTC")).await.status, 200);

    master.kill();
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // Steady load: ten requests at once, every 200 ms.
        let burst = futures_util::future::join_all((0..10).map(|_| get(procs[0].url("/v1/price?symbols=BTC")))).await;
        for r in &burst {
            assert_eq!(r.status, 200, "no request fails during the failover: {}", r.text());
        }
        let v = cluster_view(&procs[0]).await;
        if v["redis"]["up"] == true && url(&v).ends_with(&format!(":{}/0", replica.port)) {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "not following the new master: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sentinels[0].master_port(), Some(replica.port));
    // Counting resumes there.
    assert_eq!(get(procs[0].url("/v1/price?symbols=BTC")).await.status, 200);
    let log = procs[0].log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(log.contains("following the sentinels"), "{log}");
}
