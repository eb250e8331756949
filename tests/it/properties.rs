//! Property tests (proptest) for the parsers that face input: the config loader, the
//! query parser, and the response normalizer over random and mutated fixture bodies.
//! The property everywhere: no panic; errors are errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use marketgate::config::{Config, DEFAULT_CONFIG, parse};
use marketgate::normalize::op::Operation;
use marketgate::normalize::params::OpRequest;
use marketgate::normalize::schema::Payload;
use marketgate::pipeline::plan::Plan;
use marketgate::routing::pattern::Params;
use proptest::prelude::*;

fn env() -> HashMap<String, String> {
    HashMap::from([
        ("COINCAP_API_KEY".to_owned(), "k".to_owned()),
        ("CRYPTOCOMPARE_API_KEY".to_owned(), "k".to_owned()),
    ])
}

fn default_config() -> &'static Config {
    static CFG: OnceLock<Config> = OnceLock::new();
    CFG.get_or_init(|| parse(DEFAULT_CONFIG, "default", &env()).expect("default config"))
}

/// Applies byte-level mutations: flips, truncation, insertion of JSON-ish tokens.
fn mutate(base: &[u8], flips: &[(usize, u8)], cut: Option<usize>, insert: Option<(usize, &str)>) -> Vec<u8> {
    let mut out = base.to_vec();
    for (i, b) in flips {
        if !out.is_empty() {
            let at = i % out.len();
            out[at] = *b;
        }
    }
    if let Some((at, token)) = insert {
        let at = at % (out.len() + 1);
        out.splice(at..at, token.bytes());
    }
    if let Some(c) = cut {
        out.truncate(c % (out.len() + 1));
    }
    out
}

const TOKENS: [&str; 10] =
    ["null", "\"\"", "-1", "1e999", "[", "]", "{\"a\":", "\"price\":\"x\"", "\u{0}", "999999999999999999999999"];

const FIXTURES: [(&str, &str, &str); 22] = [
    ("binance", "price", "binance/ticker_price_list.json"),
    ("binance", "ticker", "binance/ticker_24hr_single.json"),
    ("binance", "ohlcv", "binance/klines.json"),
    ("binance", "orderbook", "binance/depth.json"),
    ("coingecko", "price", "coingecko/simple_price_multi.json"),
    ("coingecko", "ticker", "coingecko/coins_markets.json"),
    ("coingecko", "ohlcv", "coingecko/ohlc_bitcoin_usd_days7.json"),
    ("coingecko", "markets", "coingecko/coins_markets.json"),
    ("coingecko", "exchanges", "coingecko/exchanges.json"),
    ("coincap", "price", "coincap/v2_assets_limit10.json"),
    ("coincap", "markets", "coincap/v2_assets_limit10.json"),
    ("coincap", "exchanges", "coincap/v2_exchanges_docsample.json"),
    ("coinpaprika", "price", "coinpaprika/tickers_id_btc-bitcoin.json"),
    ("coinpaprika", "ticker", "coinpaprika/tickers_id_btc-bitcoin.json"),
    ("coinpaprika", "ohlcv", "coinpaprika/coins_btc-bitcoin_ohlcv_historical.json"),
    ("coinpaprika", "markets", "coinpaprika/tickers_list_first3_2023-09-14.json"),
    ("cryptocompare", "price", "cryptocompare/pricemulti_btc_eth_usd.json"),
    ("cryptocompare", "ticker", "cryptocompare/pricemultifull_btc_usd_eur.json"),
    ("cryptocompare", "ohlcv", "cryptocompare/histoday_v2_btc_usd_limit30.json"),
    ("cryptocompare", "news", "cryptocompare/news_v2_lang_EN_2020-11.json"),
    ("alternative_me", "sentiment", "alternative_me/fng_limit2_2026-09-25.json"),
    ("coincap", "price", "coincap/v2_deprecation_notice_assets.json"),
];

fn request_for(op: Operation) -> OpRequest {
    let q = match op {
        Operation::Price => "symbols=BTC,ETH",
        Operation::Ticker | Operation::Orderbook => "symbol=BTC",
        Operation::Ohlcv => "symbol=BTC&interval=1d&limit=10",
        _ => "",
    };
    let mut req = OpRequest::parse(op, Some(q), &Params::new(), &BTreeMap::new(), 32).expect("request");
    if op == Operation::Ohlcv {
        req.interval = Some("4h".parse().expect("interval"));
    }
    req
}

/// Runs a shipped mapping and the schema check on `body`; must never panic.
fn normalize(provider: &str, op: &str, body: &[u8]) -> Result<Payload, String> {
    let cfg = default_config();
    let p = cfg.provider(provider).expect("provider");
    let op: Operation = op.parse().expect("op");
    let mut req = request_for(op);
    if p.ops.get(&op).is_some_and(|m| !m.intervals.is_empty()) {
        req.interval = m_first_interval(p, op);
    }
    let mapping = p.ops.get(&op).expect("mapping");
    let now = marketgate::pipeline::failover::now_ms();
    let plan = Plan::new(p, &req, now).map_err(|s| s.detail)?;
    let globals = &plan.requests[0].globals;
    let json = marketgate::pipeline::mapping::run_mapping(mapping, body, globals).map_err(|e| e.to_string())?;
    Payload::from_json(&json, &req, now).map_err(|e| e.to_string())
}

fn m_first_interval(
    p: &marketgate::config::model::ProviderConfig,
    op: Operation,
) -> Option<marketgate::normalize::op::Interval> {
    p.ops.get(&op).and_then(|m| m.intervals.keys().next().copied())
}

#[test]
fn every_fixture_normalizes_unmutated() {
    for (provider, op, file) in FIXTURES.iter().take(21) {
        let body = crate::support::fixture(file);
        assert!(
            normalize(provider, op, body.as_bytes()).is_ok(),
            "{provider} {op} {file}: {:?}",
            normalize(provider, op, body.as_bytes())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixture_bodies_never_panic_the_normalizer(
        which in 0..FIXTURES.len(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
        insert in prop::option::of((any::<usize>(), 0..TOKENS.len())),
    ) {
        let (provider, op, file) = FIXTURES[which];
        let body = crate::support::fixture(file);
        let mutated = mutate(body.as_bytes(), &flips, cut, insert.map(|(at, t)| (at, TOKENS[t])));
        let _ = normalize(provider, op, &mutated);
    }

    #[test]
    fn random_bodies_never_panic_the_normalizer(which in 0..FIXTURES.len(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let (provider, op, _) = FIXTURES[which];
        let _ = normalize(provider, op, &body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_query_parser_never_panics(query in "[a-z&=%,+0-9A-Z.\\-]{0,200}", op in 0..8usize) {
        let op = Operation::ALL[op];
        if let Ok(req) = OpRequest::parse(op, Some(&query), &Params::new(), &BTreeMap::new(), 32) {
            prop_assert!(req.symbols.len() <= 100);
            prop_assert!(req.symbols.iter().all(|s| s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())));
        }
    }

    #[test]
    fn arbitrary_query_bytes_never_panic_the_parser(query in ".{0,300}") {
        let _ = OpRequest::parse(Operation::Price, Some(&query), &Params::new(), &BTreeMap::new(), 32);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_config_text_is_refused_or_accepted_never_a_panic(text in "(\\[[a-z.]{1,20}\\]\\n|[a-z_]{1,15} = (\"[^\"\\n]{0,20}\"|[0-9]{1,5}|\\[\\]|true)\\n){0,12}") {
        match parse(&text, "fuzz.toml", &env()) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.errors.is_empty() && e.to_string().starts_with("fuzz.toml")),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_default_configs_never_panic_the_loader(
        flips in prop::collection::vec((any::<usize>(), prop::sample::select(b"\"'[]{}=\n ,$#a0".to_vec())), 1..4),
        cut in prop::option::of(any::<usize>()),
    ) {
        let mutated = mutate(DEFAULT_CONFIG.as_bytes(), &flips, cut, None);
        let text = String::from_utf8_lossy(&mutated);
        if let Err(e) = parse(&text, "mutated.toml", &env()) {
            prop_assert!(!e.errors.is_empty());
        }
    }
}
