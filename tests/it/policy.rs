//! One failover policy (`src/policy.rs`) for every path that tries upstreams in turn:
//! the normalized route, a merged (gathered) route, a consensus price and the raw
//! passthrough agree on when a retry counts, which host is next and what the final
//! error says. Each rule is driven through each path against the same mock hosts.

use crate::support::{Mock, Proxy, Reply, TwoTier, fixture, get, two_tier};

/// A news provider on `hosts` whose mapping makes one item of any JSON answer.
fn news_provider(name: &str, hosts: &[String]) -> String {
    let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    format!(
        "[providers.{name}]\nhosts = [{}]\n[providers.{name}.ops.news]\nrequest = {{ path = \"/api/v3/ticker/price\" }}\n\
         response = '[{{title: \"{name}\", url: \"https://example.com/{name}\", source: \"{name}\", published_at: $now, summary: null, categories: []}}]'\n",
        list.join(", ")
    )
}

/// Price providers `a` (hosts `a`) and `b` (hosts `b`) behind `/v1/price` (also with
/// `?consensus=2`) and `/raw/{provider}`, and news providers `na` and `nb` on the same
/// hosts, merged in one tier behind `/v1/merged`.
async fn start(a: &[String], b: &[String], budget: &str) -> Proxy {
    let cfg = two_tier(&TwoTier { a, b, breaker_failures: 10, route_extra: "", a_extra: "", extra: budget }).replace(
        "[routes]\n",
        &format!(
            "{}{}[routes]\n\"/v1/merged\" = {{ op = \"news\", pool = [[\"na\", \"nb\"]], merge = true }}\n",
            news_provider("na", a),
            news_provider("nb", b)
        ),
    );
    Proxy::start(&cfg).await
}

fn failing() -> Reply {
    Reply::Json(503, r#"{"error":"unavailable"}"#.into())
}

fn prices() -> Reply {
    Reply::Json(200, fixture("binance/ticker_price_list.json"))
}

const NO_RETRIES: &str = "retry_budget = { ratio = 0.0, min_per_second = 0, window = \"10s\" }";

/// Every path: the first attempt is free, every later one is a retry the budget must
/// grant. With no budget, each path asks one host and says the budget stopped it.
#[tokio::test]
async fn with_no_retry_budget_every_path_makes_one_attempt_per_run() {
    let (a1, a2) = (Mock::start(|_| failing()).await, Mock::start(|_| failing()).await);
    let b = Mock::start(|_| prices()).await;
    let proxy = start(&[a1.url(), a2.url()], &[b.url()], NO_RETRIES).await;
    let a_hits = || a1.hits() + a2.hits();

    let r = get(proxy.url("/v1/price?symbols=BTC")).await;
    assert_eq!(a_hits(), 1, "normalized: one host of a, then no retry: {}", r.text());
    assert!(r.text().contains("retry budget exhausted"), "{}", r.text());
    assert_eq!(b.hits(), 0, "moving on to b would be a retry too");

    let r = get(proxy.url("/raw/a/api/v3/ticker/price")).await;
    assert_eq!(a_hits(), 2, "raw: one host, then no retry");
    assert_eq!(r.status, 503, "the host's own answer: {}", r.text());

    // Gathered and consensus requests ask each provider through its own run: each
    // run's first attempt is free, its retries are not.
    let r = get(proxy.url("/v1/merged")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a_hits(), 3, "merged: one host of a");
    let r = get(proxy.url("/v1/price?symbols=BTC&consensus=2")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a_hits(), 4, "consensus: one host of a");
    proxy.stop().await;
}

/// Every path: a host fault (503) tries the same provider's next host before anything
/// else; the provider's second host answers.
#[tokio::test]
async fn a_host_fault_tries_the_providers_next_host_on_every_path() {
    let (a1, a2) = (Mock::start(|_| failing()).await, Mock::start(|_| prices()).await);
    let b = Mock::start(|_| prices()).await;
    let proxy = start(&[a1.url(), a2.url()], &[b.url()], "").await;
    for (path, what) in [
        ("/v1/price?symbols=BTC", "normalized"),
        ("/v1/merged", "merged"),
        ("/v1/price?symbols=BTC&consensus=2", "consensus"),
    ] {
        let before = a2.hits();
        let r = get(proxy.url(path)).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        let provider = r.json()["meta"]["provider"].as_str().unwrap_or_default().to_owned();
        assert!(provider.split(',').any(|p| p == "a" || p == "na"), "{what}: {}", r.text());
        assert_eq!(a2.hits(), before + 1, "{what}: a's second host answered");
    }
    let before = a2.hits();
    let r = get(proxy.url("/raw/a/api/v3/ticker/price")).await;
    assert_eq!(r.status, 200, "raw: {}", r.text());
    assert_eq!(a2.hits(), before + 1, "raw: a's second host answered");
    proxy.stop().await;
}

/// Every path: nothing answered gives the same error. Every host refused or failing:
/// 502 `all_providers_failed` with each attempt listed.
#[tokio::test]
async fn when_nothing_answers_every_path_gives_the_same_error() {
    let dead = crate::support::refused_addr().await;
    let proxy = start(std::slice::from_ref(&dead), std::slice::from_ref(&dead), "").await;
    for path in ["/v1/price?symbols=BTC", "/v1/merged", "/v1/price?symbols=BTC&consensus=2", "/raw/a/api/v3/ping"] {
        let r = get(proxy.url(path)).await;
        let v = r.json();
        assert_eq!((r.status, v["error"]["code"].as_str()), (502, Some("all_providers_failed")), "{path}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("upstream attempts failed")), "{path}: {v}");
        assert!(v["error"]["attempts"].as_array().is_some_and(|a| !a.is_empty()), "{path}: {v}");
    }
    proxy.stop().await;
}
