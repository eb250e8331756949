//! What is in Redis is not trusted blindly (real `redis-server`, replicas as processes):
//! with `[cluster] secret` a forged event or planted answer is ignored; without one, a
//! planted answer that could not come from a replica (fetched "in the future", a body
//! that is not JSON) is ignored too; a fill lock whose holder is gone costs waiters half
//! their deadline, not a 504; and a replicas key of the wrong type is replaced, not
//! reported as "cannot reach Redis" for ever.

use std::time::Duration;

use super::cluster::{cluster_view, config, counting_mock, until_up};
use crate::support::process::Process;
use crate::support::redis::RedisServer;
use crate::support::{get, until};
use tokio::time::Instant;

const QUOTA: &str = r#"{ limit = 1000, per = "1m" }"#;
const SECRET: &str = "a fleet secret of more than 16 characters";

/// Keys matching `pattern` (from a raw RESP `KEYS` reply).
fn keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let reply = redis.command(&["KEYS", pattern]).unwrap_or_default();
    reply.split("\r\n").filter(|l| !l.is_empty() && !l.starts_with(['*', '$'])).map(str::to_owned).collect()
}

fn with_secret(cfg: &str) -> String {
    cfg.replace("timeout = \"50ms\"", &format!("timeout = \"500ms\"\nsecret = \"{SECRET}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn with_a_secret_forged_events_and_answers_are_ignored() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::from_millis(1)).await;
    let cfg = with_secret(&config(&redis.url(), &mock.url(), QUOTA));
    let procs: Vec<Process> = ["a", "b"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;

    // Both replicas listen on the event channel before the forgery goes out (a replica
    // is up, and serves, a moment before its subscription is in place).
    let subscribers = || {
        let reply = redis.command(&["PUBSUB", "NUMSUB", "mg:events"]).unwrap_or_default();
        reply.lines().find_map(|l| l.strip_prefix(':')).and_then(|n| n.trim().parse::<usize>().ok()).unwrap_or(0)
    };
    until("both replicas subscribed to mg:events", Duration::from_secs(10), || subscribers() >= 2).await;
    // Anyone who can write to Redis tries to bench the provider on every replica.
    let forged = r#"{"kind":"bench","from":"x","provider":"p","scope":"ip:test","status":418,"ms":259200000}"#;
    redis.command(&["PUBLISH", "mg:events", forged]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in &procs {
        let r = get(p.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 200, "a forged bench benched nothing: {}", r.text());
    }

    // a fills the shared answer; then someone rewrites it.
    assert_eq!(get(procs[0].url("/v1/cprice?symbols=BTC")).await.status, 200);
    let entry = keys(&redis, "*:cache");
    assert_eq!(entry.len(), 1, "{entry:?}");
    let planted = format!(
        "{{\"order\":[\"BTC\"],\"missing\":[],\"provider\":\"p\",\"host\":\"x\",\"fetched_ms\":{},\"ttl_ms\":30000}}\n[{{\"symbol\":\"BTC\",\"vs\":\"USD\",\"price\":1.0,\"ts\":1}}]",
        super::cluster::now_ms()
    );
    redis.command(&["SET", &entry[0], &planted]);
    let before = times.lock().expect("lock").len();
    let b = get(procs[1].url("/v1/cprice?symbols=BTC")).await;
    assert_eq!(b.status, 200, "{}", b.text());
    assert_ne!(b.json()["data"][0]["price"], 1.0, "the planted answer was served: {}", b.text());
    assert_eq!(times.lock().expect("lock").len(), before + 1, "b fetched for itself");
    let refused = cluster_view(&procs[1]).await["counters"]["refused"].as_u64().unwrap_or_default();
    assert!(refused >= 1, "counted: {refused}");
    let metrics = get(procs[1].admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_cluster_refused_total{what=\"event\"} 1"), "the forged event: {metrics}");
    assert!(metrics.contains("marketgate_cluster_refused_total{what=\"answer\"} 1"), "the planted answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn without_a_secret_an_answer_no_replica_could_have_written_is_ignored() {
    let redis = RedisServer::start();
    let (mock, _times) = counting_mock(Duration::from_millis(1)).await;
    let cfg = config(&redis.url(), &mock.url(), QUOTA).replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a", "b"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    assert_eq!(get(procs[0].url("/v1/cprice?symbols=BTC")).await.status, 200);
    let entry = keys(&redis, "*:cache");
    assert_eq!(entry.len(), 1, "{entry:?}");
    // Fetched a day from now: it would be fresh for ever.
    let planted = format!(
        "{{\"order\":[\"BTC\"],\"missing\":[],\"provider\":\"p\",\"host\":\"x\",\"fetched_ms\":{},\"ttl_ms\":30000}}\n[{{\"symbol\":\"BTC\",\"vs\":\"USD\",\"price\":1.0,\"ts\":1}}]",
        super::cluster::now_ms() + 86_400_000
    );
    redis.command(&["SET", &entry[0], &planted]);
    let b = get(procs[1].url("/v1/cprice?symbols=BTC")).await;
    assert_eq!(b.status, 200, "{}", b.text());
    assert_ne!(b.json()["data"][0]["price"], 1.0, "{}", b.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn a_fill_lock_whose_holder_is_gone_costs_a_short_wait_not_a_504() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::from_millis(800)).await;
    let cfg = config(&redis.url(), &mock.url(), QUOTA).replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a", "b"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    // Learn the lock's name while a holds it.
    let url = procs[0].url("/v1/cprice?symbols=BTC");
    let a = tokio::spawn(async move { get(url).await });
    until("a's fetch", Duration::from_secs(5), || !times.lock().expect("lock").is_empty()).await;
    let lock = keys(&redis, "*:fill");
    assert_eq!(lock.len(), 1, "{lock:?}");
    assert_eq!(a.await.expect("a").status, 200);
    // The answer is gone and the lock is back, held by a replica that died (60 s).
    for k in keys(&redis, "*:cache") {
        redis.command(&["DEL", &k]);
    }
    redis.command(&["SET", &lock[0], "gone:1", "PX", "60000"]);
    let started = Instant::now();
    let b = get(procs[1].url("/v1/cprice?symbols=BTC")).await;
    let took = started.elapsed();
    assert_eq!(b.status, 200, "b fetched for itself: {}", b.text());
    assert!(took < Duration::from_millis(2_000), "b waited at most a second, then fetched: {took:?}");
    assert!(took >= Duration::from_millis(900), "b waited for the holder first: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn a_replicas_key_written_by_something_else_is_replaced_and_named() {
    let redis = RedisServer::start();
    let (mock, _times) = counting_mock(Duration::from_millis(1)).await;
    let cfg = config(&redis.url(), &mock.url(), QUOTA).replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    redis.command(&["SET", "mg:replicas", "x"]);
    // Within a few heartbeats the key is ours again and sharing goes on.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let v = cluster_view(&procs[0]).await;
        let typed = redis.command(&["TYPE", "mg:replicas"]).unwrap_or_default();
        if typed.starts_with("+zset") && v["redis"]["up"] == true {
            break;
        }
        assert!(Instant::now() < end, "still broken: {typed:?} {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = procs[0].log.lock().expect("log").clone();
    assert!(log.contains("a key of this deployment holds a value marketgate did not write"), "{log}");
    assert!(log.contains("replaced a replicas key"), "{log}");
}

/// Leases: three replicas spend one budget of 300 an hour mostly from slices they
/// claimed (a round trip per slice, not per request), and together never pass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn leases_make_most_takes_local_and_never_pass_the_limit() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::ZERO).await;
    let cfg = config(&redis.url(), &mock.url(), r#"{ limit = 300, per = "1h" }"#)
        .replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a", "b", "c"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    let hour = |ms: u64| ms / 3_600_000;
    let started = super::cluster::now_ms();
    let mut ok = 0;
    for round in 0..140 {
        let batch =
            futures_util::future::join_all((0..3).map(|i| get(procs[(round + i) % 3].url("/v1/price?symbols=BTC"))))
                .await;
        ok += batch.iter().filter(|r| r.status == 200).count();
    }
    let sent = times.lock().expect("lock").len();
    if hour(started) == hour(super::cluster::now_ms()) {
        assert!(sent <= 300, "{sent} requests reached the provider for a budget of 300");
        assert_eq!(ok, sent, "every answer was one upstream request");
        assert!(sent >= 250, "the budget was spent, not hoarded: {sent}");
    }
    let mut claims = 0;
    let mut local = 0;
    for p in &procs {
        let v = cluster_view(p).await;
        claims += v["counters"]["shared_takes"].as_u64().unwrap_or_default();
        local += v["counters"]["lease_takes"].as_u64().unwrap_or_default();
        assert!(v["leases"].as_array().is_some_and(|l| l.iter().any(|l| l["provider"] == "p")), "{v}");
    }
    eprintln!("leases: {sent} upstream requests, {claims} claims, {local} local takes");
    let metrics = get(procs[0].admin_url("/metrics")).await.text();
    assert!(metrics.contains("marketgate_cluster_lease_claims_total{provider=\"p\"}"), "{metrics}");
    assert!(local > claims * 2, "most takes were local: {local} local, {claims} claims");
}

/// A replica that stops gives back the slice it claimed and did not spend: in a
/// rolling restart, the month's credits are not lost a slice at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn a_replica_that_stops_gives_back_its_unspent_lease() {
    let redis = RedisServer::start();
    let (mock, _times) = counting_mock(Duration::ZERO).await;
    let cfg = config(&redis.url(), &mock.url(), r#"{ limit = 100000, per = "1h" }"#)
        .replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let mut procs: Vec<Process> = ["a"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    for _ in 0..5 {
        assert_eq!(get(procs[0].url("/v1/price?symbols=BTC")).await.status, 200);
    }
    let key = keys(&redis, "*:quota:*");
    assert_eq!(key.len(), 1, "{key:?}");
    let count = |redis: &RedisServer| -> u64 {
        let reply = redis.command(&["GET", &key[0]]).unwrap_or_default();
        reply.split("\r\n").nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let claimed = count(&redis);
    assert!(claimed > 5, "a slice was claimed, not one request at a time: {claimed}");
    assert!(procs[0].stop(Duration::from_secs(10)).is_some_and(|s| s.success()), "a clean stop");
    assert_eq!(count(&redis), 5, "the unspent {} went back", claimed - 5);
    procs.clear();
}

/// Redis that stalls (15 ms every 200 ms), fills up (`maxmemory` with `noeviction`) or
/// flaps (killed and restarted) under steady load: no request fails, and the stalls do
/// not reach the clients' p99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn redis_that_stalls_fills_up_or_flaps_fails_no_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut redis = RedisServer::start();
    let (mock, _times) = counting_mock(Duration::from_millis(1)).await;
    // The shipped Redis timeout (5 ms).
    let cfg = config(&redis.url(), &mock.url(), QUOTA).replace("timeout = \"50ms\"\n", "");
    let procs: Vec<Process> = ["a", "b"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    let load = |n: usize| {
        let procs = &procs;
        async move {
            let mut took = Vec::new();
            for i in 0..n {
                // Uncached (budget) and cached (shared answers) routes, both replicas.
                let path = if i % 2 == 0 { "/v1/price?symbols=BTC" } else { "/v1/cprice?symbols=ETH" };
                let started = Instant::now();
                let r = get(procs[i % 2].url(path)).await;
                took.push(started.elapsed());
                assert_eq!(r.status, 200, "request {i} failed: {}", r.text());
            }
            took.sort();
            took[took.len() * 99 / 100]
        }
    };
    // Stalls: DEBUG SLEEP 15 ms every 200 ms.
    let stalling = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&stalling);
    let port = redis.port;
    let staller = std::thread::spawn(move || {
        let probe = RedisServer::attach(port);
        while flag.load(Ordering::Acquire) {
            probe.command(&["DEBUG", "SLEEP", "0.015"]);
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let p99 = load(400).await;
    stalling.store(false, Ordering::Release);
    let _ = staller.join();
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?} with 15 ms stalls every 200 ms");

    // Full: every write refused with OOM.
    redis.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis.command(&["CONFIG", "SET", "maxmemory", "1"]);
    load(100).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = procs[0].log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(log.contains("Redis is full"), "said for what it is: {log}");
    redis.command(&["CONFIG", "SET", "maxmemory", "0"]);

    // Flapping: killed and restarted three times under load.
    for _ in 0..3 {
        redis.kill();
        load(30).await;
        redis.restart();
        load(30).await;
    }
}
