//! Three marketgate processes and one real Redis (`redis-server` from Debian, on a free
//! loopback port): one provider budget for all three, a 429 seen by one replica
//! honoured by all, answers and misses shared, and Redis going away under load without
//! a single failed request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::process::Process;
use crate::support::redis::RedisServer;
use crate::support::{Mock, PRICE_MAP, Reply, get, until};
use futures_util::future::join_all;
use serde_json::Value;
use tokio::time::Instant;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"18229.90"},{"symbol":"ETHUSDT","price":"1395.60"}]"#;

/// A replica's config: provider `p` at `upstream` with `quota`, a cached and an
/// uncached price route and the raw passthrough.
pub(crate) fn config(redis: &str, upstream: &str, quota: &str) -> String {
    format!(
        r#"
[log]
format = "json"
[cluster]
redis = "{redis}"
replicas = 3
egress = "test"
timeout = "50ms"
[assets]
BTC = {{ name = "Bitcoin" }}
ETH = {{ name = "Ethereum" }}
[providers.p]
hosts = ["{upstream}"]
symbols = {{ format = "{{BASE}}{{QUOTE}}", quote = {{ USD = "USDT" }} }}
quota = {quota}
[providers.p.ops.price]
request = {{ path = "/api/v3/ticker/price" }}
response = '{PRICE_MAP}'
[routes]
"/v1/price" = {{ op = "price", pool = [["p"]], hedge_after = "off" }}
"/v1/cprice" = {{ op = "price", pool = [["p"]], cache = "30s", max_stale = "5m", hedge_after = "off" }}
"/raw/{{provider}}/{{*path}}" = {{ passthrough = "*" }}
"#
    )
}

fn replicas(redis: &RedisServer, upstream: &str, quota: &str) -> Vec<Process> {
    let cfg = config(&redis.url(), upstream, quota);
    ["a", "b", "c"].iter().map(|n| Process::start(n, &cfg, &[])).collect()
}

/// A mock that answers the recorded-shape price list and notes when each request came.
pub(crate) async fn counting_mock(delay: Duration) -> (Mock, Arc<Mutex<Vec<u64>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&times);
    let mock = Mock::start(move |_| {
        seen.lock().expect("lock").push(now_ms());
        Reply::After(delay, Box::new(Reply::Json(200, PRICES.into())))
    })
    .await;
    (mock, times)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub(crate) async fn cluster_view(p: &Process) -> Value {
    get(p.admin_url("/api/system/cluster")).await.json()
}

/// Waits until every replica reports `up` for Redis.
pub(crate) async fn until_up(procs: &[Process], up: bool, within: Duration) {
    let end = Instant::now() + within;
    loop {
        let mut all = true;
        for p in procs {
            let v = cluster_view(p).await;
            all &= v["redis"]["up"] == up && v["counting_shared"] == up;
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < end,
            "replicas did not see Redis {} within {within:?}",
            if up { "up" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Load spread over three replicas keeps the provider within its one budget (6 per
/// 2 s window) in every window, over four windows. (Without the cluster each replica
/// would spend 6: 18 per window.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn three_replicas_spend_one_budget() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::ZERO).await;
    // Exact counts: a slow machine (CI runs Chromium and other replicas beside it) must
    // not push a take past the Redis timeout. A take that times out falls back to the
    // local share while Redis still counts it, which can pass the limit: #27's leases.
    let cfg = config(&redis.url(), &mock.url(), r#"{ limit = 6, per = "2s" }"#)
        .replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a", "b", "c"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    // Start at a window boundary, run four whole windows.
    let start = (now_ms() / 2000 + 1) * 2000;
    tokio::time::sleep(Duration::from_millis(start - now_ms())).await;
    let mut codes = Vec::new();
    while now_ms() < start + 8000 {
        let round = procs.iter().map(|p| get(p.url("/raw/p/api/v3/ticker/price")));
        codes.extend(join_all(round).await.into_iter().map(|r| r.status));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let times = times.lock().expect("lock").clone();
    for w in 0..4 {
        let (from, to) = (start + w * 2000, start + (w + 1) * 2000);
        let n = times.iter().filter(|t| (from..to).contains(*t)).count();
        assert!(n <= 6, "window {w}: {n} upstream requests for a budget of 6 (all replicas)");
        assert!(n >= 5, "window {w}: only {n} requests; the shared budget should be spent, not starved");
    }
    assert!(codes.iter().filter(|c| **c == 200).count() >= 20 && codes.contains(&503), "{codes:?}");
    let view = cluster_view(&procs[0]).await;
    assert_eq!(view["replicas_seen"].as_array().map(Vec::len), Some(3), "{view}");
}

/// A 429 answered to one replica benches the provider on all three within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn a_rate_limit_seen_by_one_replica_stops_all_of_them() {
    let redis = RedisServer::start();
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (f, h) = (Arc::clone(&first), Arc::clone(&hits));
    let mock = Mock::start(move |_| {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if f.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Reply::With(429, vec![("retry-after", "60".into())], r#"{"code":-1003}"#.into())
        } else {
            Reply::Json(200, PRICES.into())
        }
    })
    .await;
    let procs = replicas(&redis, &mock.url(), r#"{ limit = 1000, per = "1m" }"#);
    until_up(&procs, true, Duration::from_secs(5)).await;
    let r = get(procs[0].url("/v1/price?symbols=BTC")).await;
    assert_ne!(r.status, 200, "{}", r.text());
    let seen_429 = Instant::now();
    for p in &procs[1..] {
        loop {
            let health = get(p.admin_url("/api/system/providers/health")).await.json();
            if health[0]["benched_until"].is_string() {
                break;
            }
            assert!(seen_429.elapsed() < Duration::from_secs(1), "{} not benched within 1 s", p.client);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let before = hits.load(std::sync::atomic::Ordering::SeqCst);
    for p in &procs {
        let r = get(p.url("/v1/price?symbols=BTC")).await;
        assert_eq!(r.status, 503, "{}", r.text());
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), before, "nobody asked the rate-limited provider");
}

/// What one replica fetched, another serves from the shared cache; 50 concurrent
/// identical misses over three replicas make one upstream request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn answers_and_misses_are_shared() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::from_millis(300)).await;
    let procs = replicas(&redis, &mock.url(), r#"{ limit = 1000, per = "1m" }"#);
    until_up(&procs, true, Duration::from_secs(5)).await;

    let a = get(procs[0].url("/v1/cprice?symbols=BTC")).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let b = get(procs[1].url("/v1/cprice?symbols=BTC")).await;
    assert_eq!(b.status, 200);
    assert_eq!(b.json()["meta"]["cached"], true, "{}", b.text());
    assert_eq!(b.json()["data"], a.json()["data"]);
    assert_eq!(times.lock().expect("lock").len(), 1, "B served A's answer");

    let requests = (0..50).map(|i| get(procs[i % 3].url("/v1/cprice?symbols=ETH")));
    let answers = join_all(requests).await;
    assert!(answers.iter().all(|r| r.status == 200), "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(times.lock().expect("lock").len(), 2, "50 identical misses over three replicas: one upstream call");
    // One replica fetched ETH; the other two served it from Redis, and B served BTC.
    let mut by_result = std::collections::BTreeMap::<String, u64>::new();
    for p in &procs {
        let metrics = get(p.admin_url("/metrics")).await.text();
        for line in
            metrics.lines().filter(|l| l.starts_with("marketgate_cache_requests_total{") && l.contains("/v1/cprice"))
        {
            let result = line.split("result=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
            let n: u64 = line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            *by_result.entry(result.to_owned()).or_default() += n;
        }
    }
    assert_eq!(by_result.get("miss"), Some(&2), "{by_result:?}");
    assert!(by_result.get("shared").is_some_and(|n| *n >= 3), "{by_result:?}");
}

/// Redis killed under load: no client request fails, the replicas fall back to their
/// local shares, and shared counting comes back when Redis does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn redis_going_away_fails_no_request() {
    let mut redis = RedisServer::start();
    let (mock, _times) = counting_mock(Duration::ZERO).await;
    let procs = replicas(&redis, &mock.url(), r#"{ limit = 3000, per = "1m" }"#);
    until_up(&procs, true, Duration::from_secs(5)).await;
    let load = |until: Instant| {
        let urls: Vec<String> = procs.iter().map(|p| p.url("/raw/p/api/v3/ticker/price")).collect();
        async move {
            let mut codes = Vec::new();
            while Instant::now() < until {
                codes.extend(join_all(urls.iter().map(get)).await.into_iter().map(|r| r.status));
            }
            codes
        }
    };
    let before = load(Instant::now() + Duration::from_millis(500)).await;
    redis.kill();
    let during = load(Instant::now() + Duration::from_millis(1500)).await;
    let view = cluster_view(&procs[1]).await;
    assert_eq!(view["redis"]["up"], false, "{view}");
    assert_eq!(view["counting_shared"], false);
    let budget = view["budgets"].as_array().and_then(|b| b.first()).cloned().unwrap_or_default();
    assert_eq!(budget["local_share"], 1000, "a third of 3000 while Redis is away: {view}");
    redis.restart();
    until_up(&procs, true, Duration::from_secs(5)).await;
    let after = load(Instant::now() + Duration::from_millis(500)).await;
    let all: Vec<u16> = [before, during, after].concat();
    let failed = all.iter().filter(|c| **c != 200).count();
    assert_eq!(failed, 0, "{failed} of {} client requests failed", all.len());
    let view = cluster_view(&procs[2]).await;
    let used = view["budgets"][0]["used"].as_u64().unwrap_or(0);
    assert!(used > 0, "shared counting resumed after the restart: {view}");
}

/// A Redis password given through the environment reaches Redis (the cluster comes up)
/// and appears nowhere a person or a scraper can look: logs, admin API, metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn the_redis_password_is_never_shown() {
    const PASSWORD: &str = "rds-pw-7Hq2XvL9";
    const SECRET: &str = "fleet-secret-5Rw8ZpQ1mK";
    let redis = RedisServer::start_with_password(PASSWORD);
    let (mock, _times) = counting_mock(Duration::ZERO).await;
    let cfg = config("${MARKETGATE_REDIS_URL}", &mock.url(), r#"{ limit = 1000, per = "1m" }"#)
        .replace("[cluster]\n", "[cluster]\nsecret = \"${MARKETGATE_CLUSTER_SECRET}\"\n");
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let env = [("MARKETGATE_REDIS_URL", url.as_str()), ("MARKETGATE_CLUSTER_SECRET", SECRET)];
    let p = Process::start("secret", &cfg, &env);
    until_up(std::slice::from_ref(&p), true, Duration::from_secs(5)).await;
    assert_eq!(get(p.url("/v1/cprice?symbols=BTC")).await.status, 200);
    let view = cluster_view(&p).await;
    assert!(view["redis"]["url"].as_str().is_some_and(|u| u.contains("***@127.0.0.1")), "{view}");
    let mut seen = vec![view.to_string(), p.log.lock().map(|l| l.clone()).unwrap_or_default()];
    for path in ["/api/system/config", "/api/system/providers/health", "/metrics", "/api/system/budgets"] {
        seen.push(get(p.admin_url(path)).await.text());
    }
    // A wrong password: the error is logged and shown, the password still is not.
    let bad = Process::start(
        "bad",
        &cfg,
        &[
            ("MARKETGATE_REDIS_URL", &format!("redis://:wrong-{PASSWORD}@127.0.0.1:{}", redis.port)),
            ("MARKETGATE_CLUSTER_SECRET", SECRET),
        ],
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bad_view = cluster_view(&bad).await;
    assert_eq!(bad_view["redis"]["up"], false, "{bad_view}");
    assert_eq!(get(bad.url("/v1/cprice?symbols=BTC")).await.status, 200, "Redis refusing us fails no request");
    seen.push(bad_view.to_string());
    seen.push(bad.log.lock().map(|l| l.clone()).unwrap_or_default());
    let bad_log = bad.log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(bad_log.contains("Redis refused the credentials"), "a wrong password is said at start: {bad_log}");
    for text in &seen {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        assert!(!text.contains(SECRET), "the cluster secret leaked: {text}");
    }
}

/// The shipped config with a `[cluster]` section: Binance's weight (limited per IP) is
/// counted in Redis under the egress name, next to the local share of 5000 / replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn the_shipped_config_counts_binance_weight_in_redis() {
    let redis = RedisServer::start();
    let binance = crate::support::shipped::provider("binance", None).await;
    let mut cfg = crate::support::shipped::config(&[("binance", binance.hosts.clone())]);
    cfg.push_str(&format!("\n[cluster]\nredis = \"{}\"\nreplicas = 2\negress = \"nat-a\"\n", redis.url()));
    let proxy = crate::support::Proxy::start(&cfg).await;
    let up = Instant::now() + Duration::from_secs(5);
    while get(proxy.admin_url("/api/system/cluster")).await.json()["counting_shared"] != true {
        assert!(Instant::now() < up, "the cluster never reached Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["meta"]["provider"], "binance");
    let view = get(proxy.admin_url("/api/system/cluster")).await.json();
    let budgets = view["budgets"].as_array().cloned().unwrap_or_default();
    let binance_quota = budgets
        .iter()
        .find(|b| b["provider"] == "binance" && b["window"] == "quota")
        .unwrap_or_else(|| panic!("no binance budget: {view}"));
    assert_eq!(binance_quota["scope"], "ip:nat-a");
    assert_eq!(binance_quota["limit"], 5000);
    assert_eq!(binance_quota["local_share"], 2500);
    assert!(binance_quota["used"].as_u64().is_some_and(|u| u >= 1), "weight counted in Redis: {view}");
    assert!(view["counters"]["shared_takes"].as_u64().is_some_and(|n| n >= 1), "{view}");
    // No namespace set: the default `mg`, the prefix keys had before namespaces.
    assert_eq!(view["namespace"], "mg", "{view}");
    let keys = redis.command(&["KEYS", "{mg|binance|ip:nat-a}:quota:*"]).unwrap_or_default();
    assert!(keys.contains("{mg|binance|ip:nat-a}:quota:"), "Binance's weight under the default namespace: {keys}");
    proxy.stop().await;
}

/// Two deployments on one Redis database, told apart by `cluster.namespace`: each
/// spends its own budget, fetches its own answers and sees only its own replicas, and
/// every key either writes starts with its namespace. (Before namespaces, both wrote
/// `mg:*`: green would have found its budget spent by blue.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn deployments_with_different_namespaces_share_nothing_on_one_redis() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::ZERO).await;
    // A day-long window, so no window boundary falls inside the test.
    let quota = r#"{ limit = 4, per = "1d" }"#;
    let deployment = |ns: &str| {
        // Exact counts: a slow machine must not push a take past the Redis timeout.
        let cfg = config(&redis.url(), &mock.url(), quota)
            .replace("timeout = \"50ms\"", "timeout = \"500ms\"")
            .replace("egress = \"test\"", &format!("egress = \"test\"\nnamespace = \"{ns}\""));
        Process::start(ns, &cfg, &[])
    };
    let (blue, green) = (deployment("blue"), deployment("green"));
    for p in [&blue, &green] {
        until_up(std::slice::from_ref(p), true, Duration::from_secs(5)).await;
    }

    let b = get(blue.url("/v1/cprice?symbols=BTC")).await;
    let g = get(green.url("/v1/cprice?symbols=BTC")).await;
    assert_eq!((b.status, g.status), (200, 200), "{} / {}", b.text(), g.text());
    assert_eq!(g.json()["meta"]["cached"], false, "green must not serve blue's answer: {}", g.text());
    assert_eq!(times.lock().expect("lock").len(), 2, "each deployment fetched its own answer");

    // Each has 3 of its 4 left: blue spends them and is refused, green still has its own.
    let mut blue_codes = Vec::new();
    for _ in 0..4 {
        blue_codes.push(get(blue.url("/raw/p/api/v3/ticker/price")).await.status);
    }
    assert_eq!(blue_codes, [200, 200, 200, 503], "blue's budget of 4");
    for _ in 0..3 {
        let r = get(green.url("/raw/p/api/v3/ticker/price")).await;
        assert_eq!(r.status, 200, "green's budget is its own: {}", r.text());
    }

    for (p, ns) in [(&blue, "blue"), (&green, "green")] {
        let view = cluster_view(p).await;
        assert_eq!(view["namespace"], ns, "{view}");
        assert_eq!(view["replicas_seen"].as_array().map(Vec::len), Some(1), "only its own replica: {view}");
    }
    let listed = redis.command(&["KEYS", "*"]).unwrap_or_default();
    let names: Vec<&str> = listed.lines().filter(|l| !l.starts_with('*') && !l.starts_with('$')).collect();
    assert!(names.len() >= 6, "quota, cache and replica keys of both: {names:?}");
    for name in &names {
        let owned = ["blue:", "{blue|", "green:", "{green|"].iter().any(|p| name.starts_with(p));
        assert!(owned, "a key outside both namespaces: {name} (all: {names:?})");
    }
}

/// A replica whose fetch fails lets go of the fill lock at once and wakes the waiters:
/// one of them fetches, and the rest are served its answer, instead of all of them
/// waiting out their deadline for an answer that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn a_failed_fill_hands_the_lock_on() {
    let redis = RedisServer::start();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let mock = Mock::start(move |_| {
        let reply = if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::Json(500, r#"{"error":"upstream hiccup"}"#.into())
        } else {
            Reply::Json(200, PRICES.into())
        };
        Reply::After(Duration::from_millis(300), Box::new(reply))
    })
    .await;
    // Exact counts: a slow machine must not push a lookup past the Redis timeout.
    let cfg = config(&redis.url(), &mock.url(), r#"{ limit = 1000, per = "1m" }"#)
        .replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a", "b", "c"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    let first = get(procs[0].url("/v1/cprice?symbols=BTC"));
    let others = async {
        // Once the first is fetching (so it holds the lock), twenty more misses on the
        // other two replicas (the first replica's own requests would share its fetch
        // in-process, failure too).
        until("the first fetch", Duration::from_secs(5), || calls.load(std::sync::atomic::Ordering::SeqCst) >= 1).await;
        join_all((0..20).map(|i| get(procs[1 + i % 2].url("/v1/cprice?symbols=BTC")))).await
    };
    let (first, others) = tokio::join!(first, others);
    assert_eq!(first.status, 502, "the lead's own fetch failed: {}", first.text());
    let codes: Vec<u16> = others.iter().map(|r| r.status).collect();
    // Waiting out the lock (held for the 5 s deadline) would leave them no time: 504.
    assert!(codes.iter().all(|c| *c == 200), "the waiters got the next fetch's answer: {codes:?}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2, "one failed fetch, then one for everybody");
}

/// A leader abandoned mid-fetch (its client hung up) lets go of the fill lock at once:
/// the other replicas' waiters fetch and answer instead of waiting out the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn an_abandoned_fill_lets_go_of_the_lock() {
    let redis = RedisServer::start();
    let (mock, times) = counting_mock(Duration::from_millis(1500)).await;
    let cfg = config(&redis.url(), &mock.url(), r#"{ limit = 1000, per = "1m" }"#)
        .replace("timeout = \"50ms\"", "timeout = \"500ms\"");
    let procs: Vec<Process> = ["a", "b"].iter().map(|n| Process::start(n, &cfg, &[])).collect();
    until_up(&procs, true, Duration::from_secs(5)).await;
    // The client of replica a gives up while a leads the fill (its fetch has begun).
    let url = procs[0].url("/v1/cprice?symbols=BTC");
    let a = tokio::spawn(async move { get(url).await });
    until("a's fetch", Duration::from_secs(5), || !times.lock().expect("lock").is_empty()).await;
    a.abort();
    assert!(a.await.is_err_and(|e| e.is_cancelled()), "the upstream takes 1.5 s: a's client gave up first");
    // Within the 5 s deadline: a's lock is gone, b fetches (1.5 s) and answers.
    let b = get(procs[1].url("/v1/cprice?symbols=BTC")).await;
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(times.lock().expect("lock").len(), 2, "a's abandoned fetch, then b's");
}

/// A 3-day ban (Binance's 418) seen by one replica of the shipped config benches
/// Binance on both; an operator's `unbench` on one lifts it on both within a second,
/// and the other replica audits it as coming from its peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server): scripts/test.sh installs it and runs this"]
async fn an_unbench_on_one_replica_lifts_the_ban_on_every_replica() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let redis = RedisServer::start();
    let banned = Arc::new(AtomicBool::new(true));
    let mocks = crate::support::shipped::binance_banned_while(Arc::clone(&banned)).await;
    let mut cfg = crate::support::shipped::config(&[("binance", mocks.iter().map(Mock::url).collect())]);
    cfg.push_str(&format!("\n[cluster]\nredis = \"{}\"\nreplicas = 2\n", redis.url()));
    let (a, b) = (crate::support::Proxy::start(&cfg).await, crate::support::Proxy::start(&cfg).await);
    for p in [&a, &b] {
        let up = Instant::now() + Duration::from_secs(5);
        while get(p.admin_url("/api/system/cluster")).await.json()["counting_shared"] != true {
            assert!(Instant::now() < up, "a replica never reached Redis");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let benched = |v: &Value| {
        v.as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "binance"))
            .is_some_and(|p| p["benched_until"].is_string())
    };
    let _ = get(a.url("/v1/price?symbols=BTC")).await;
    until_health(&b, true, &benched).await;
    banned.store(false, Ordering::SeqCst);
    let r = send_post(&a, "/admin/providers/binance/unbench").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["shared"], true, "{}", r.text());
    until_health(&b, false, &benched).await;
    for p in [&a, &b] {
        let r = get(p.url("/v1/price?symbols=ETH")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["meta"]["provider"], "binance", "back in service on every replica: {}", r.text());
    }
    let audit = get(b.admin_url("/api/system/audit")).await.json();
    assert_eq!(audit[0]["action"], "unbench", "{audit}");
    assert_eq!(audit[0]["source"]["kind"], "cluster", "{audit}");
    a.stop().await;
    b.stop().await;
}

/// Waits up to a second until `benched` says `want` of the replica's health.
async fn until_health(p: &crate::support::Proxy, want: bool, benched: &impl Fn(&Value) -> bool) {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        let health = get(p.admin_url("/api/system/providers/health")).await.json();
        if benched(&health) == want {
            return;
        }
        assert!(Instant::now() < end, "binance benched is not {want} on the other replica within 1 s: {health}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send_post(p: &crate::support::Proxy, path: &str) -> crate::support::Got {
    crate::support::send(http::Method::POST, &p.admin_url(path), &[], bytes::Bytes::new()).await
}
