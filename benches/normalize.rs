//! Normalization cost per response (jq mapping + schema check), release mode:
//!
//!     cargo bench --bench normalize
//!
//! Bodies are the recorded fixtures, and the same recorded items repeated to the size of
//! a full provider answer (a 250-coin markets page, a 1000-candle klines answer), so the
//! large-body cost is measured on real item shapes. Prints µs per response.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use marketgate::config::{DEFAULT_CONFIG, parse};
use marketgate::normalize::op::Operation;
use marketgate::normalize::params::OpRequest;
use marketgate::normalize::schema::Payload;
use marketgate::pipeline::plan::Plan;
use marketgate::routing::pattern::Params;
use tokio::time::Instant;

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The JSON array `items` repeated to at least `n` elements.
fn repeat_array(body: &str, n: usize) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    let items = v.as_array().expect("array").clone();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.extend(items.iter().cloned());
    }
    out.truncate(n);
    serde_json::to_string(&out).expect("json")
}

/// Klines with strictly ascending open times (the schema requires it).
fn klines(n: usize) -> String {
    let v: serde_json::Value = serde_json::from_str(&fixture("binance/klines.json")).expect("json");
    let rows = v.as_array().expect("array");
    let out: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut row = rows[i % rows.len()].clone();
            row[0] = serde_json::json!(1_634_000_000_000_i64 + i as i64 * 60_000);
            row
        })
        .collect();
    serde_json::to_string(&out).expect("json")
}

fn main() {
    let env = HashMap::from([
        ("COINCAP_API_KEY".to_owned(), "k".to_owned()),
        ("CRYPTOCOMPARE_API_KEY".to_owned(), "k".to_owned()),
    ]);
    let cfg = parse(DEFAULT_CONFIG, "default", &env).expect("default config");
    let now = marketgate::pipeline::failover::now_ms();
    let cases: Vec<(&str, &str, Operation, &str, String)> = vec![
        (
            "coingecko coins/markets (3 coins, recorded)",
            "coingecko",
            Operation::Markets,
            "limit=250",
            fixture("coingecko/coins_markets.json"),
        ),
        (
            "coingecko coins/markets (250 coins, recorded items)",
            "coingecko",
            Operation::Markets,
            "limit=250",
            repeat_array(&fixture("coingecko/coins_markets.json"), 250),
        ),
        (
            "binance klines (10 candles, recorded)",
            "binance",
            Operation::Ohlcv,
            "symbol=BTC&interval=1m&limit=1000",
            fixture("binance/klines.json"),
        ),
        (
            "binance klines (1000 candles, recorded rows)",
            "binance",
            Operation::Ohlcv,
            "symbol=BTC&interval=1m&limit=1000",
            klines(1000),
        ),
        (
            "binance klines (1000 daily candles, recorded)",
            "binance",
            Operation::Ohlcv,
            "symbol=BTC&interval=1d&limit=1000",
            fixture("binance/klines_btcusdt_1d_1000.json"),
        ),
        (
            "binance ticker/price (20 pairs, recorded)",
            "binance",
            Operation::Price,
            "symbols=BTC,ETH",
            fixture("binance/ticker_price_list.json"),
        ),
        (
            "binance ticker/price (2500 pairs, recorded items)",
            "binance",
            Operation::Price,
            "symbols=BTC,ETH",
            repeat_array(&fixture("binance/ticker_price_list.json"), 2500),
        ),
    ];
    println!("{:<55} {:>9} {:>12} {:>12}", "body", "bytes", "µs/response", "MB/s");
    for (name, provider, op, query, body) in cases {
        let p = cfg.provider(provider).expect("provider");
        let req = OpRequest::parse(op, Some(query), &Params::new(), &BTreeMap::new(), 32).expect("request");
        let plan = Plan::new(p, &req, now).expect("plan");
        let mapping = p.ops.get(&op).expect("mapping");
        let globals = &plan.requests[0].globals;
        let run = || {
            let json =
                marketgate::pipeline::mapping::run_mapping(mapping, body.as_bytes(), globals).expect("mapping runs");
            black_box(Payload::from_json(&json, &req, now).expect("schema"))
        };
        for _ in 0..20 {
            run();
        }
        let iterations = (2_000_000 / body.len().max(1)).clamp(20, 20_000);
        let started = Instant::now();
        for _ in 0..iterations {
            run();
        }
        let per = started.elapsed().as_secs_f64() / iterations as f64;
        println!("{name:<55} {:>9} {:>12.1} {:>12.1}", body.len(), per * 1e6, body.len() as f64 / per / 1e6);
    }
    indicators(&cfg, now);
}

/// `/v1/indicators` on 1000 recorded candles with every indicator, after the candles
/// are normalized: the computation and the serialization of the rows.
fn indicators(cfg: &marketgate::config::Config, now: i64) {
    let p = cfg.provider("binance").expect("binance");
    let req = OpRequest::parse(
        Operation::Ohlcv,
        Some("symbol=BTC&interval=1d&limit=1000"),
        &Params::new(),
        &BTreeMap::new(),
        32,
    )
    .expect("request");
    let plan = Plan::new(p, &req, now).expect("plan");
    let body = fixture("binance/klines_btcusdt_1d_1000.json");
    let mapping = p.ops.get(&Operation::Ohlcv).expect("mapping");
    let json =
        marketgate::pipeline::mapping::run_mapping(mapping, body.as_bytes(), &plan.requests[0].globals).expect("maps");
    let Payload::Ohlcv(candles) = Payload::from_json(&json, &req, now).expect("schema") else { panic!("ohlcv") };
    let spec = marketgate::derive::indicators::Spec::parse(None).expect("default indicators");
    for (name, shown) in
        [("indicators, all 11 fields, 1000 candles shown", 1000), ("indicators, all 11 fields, 100 of 1000 shown", 100)]
    {
        let run = || black_box(serde_json::to_vec(&spec.compute(&candles, shown)).expect("json"));
        for _ in 0..20 {
            run();
        }
        let iterations = 2_000;
        let started = Instant::now();
        for _ in 0..iterations {
            run();
        }
        let per = started.elapsed().as_secs_f64() / iterations as f64;
        println!("{name:<55} {:>9} {:>12.1}", run().len(), per * 1e6);
    }
}
