use std::collections::BTreeMap;

use super::*;

fn parse(op: Operation, q: &str) -> Result<OpRequest, ParamError> {
    OpRequest::parse(op, Some(q), &Params::new(), &BTreeMap::new(), 32)
}

#[test]
fn price_symbols_are_upper_cased_deduplicated_and_ordered() {
    let r = parse(Operation::Price, "symbols=btc,%20ETH,btc&vs=usd").expect("valid");
    assert_eq!(r.symbols, vec!["BTC", "ETH"]);
    assert_eq!(r.vs, "USD");
}

#[test]
fn missing_or_empty_symbols_name_the_parameter() {
    for q in ["", "symbols=", "symbols=BTC,,ETH", "vs=USD"] {
        let e = parse(Operation::Price, q).expect_err(q);
        assert_eq!(e.param, "symbols", "{q}: {e}");
    }
}

#[test]
fn more_than_100_symbols_is_refused() {
    let many: Vec<String> = (0..101).map(|i| format!("S{i}")).collect();
    let e = parse(Operation::Price, &format!("symbols={}", many.join(","))).expect_err("too many");
    assert!(e.to_string().contains("at most 100"), "{e}");
    let ok: Vec<String> = (0..100).map(|i| format!("S{i}")).collect();
    assert!(parse(Operation::Price, &format!("symbols={}", ok.join(","))).is_ok());
}

#[test]
fn bad_interval_depth_and_limit_are_named() {
    let e = parse(Operation::Ohlcv, "symbol=BTC&interval=3h").expect_err("interval");
    assert_eq!(e.param, "interval");
    assert!(e.message.contains("1m 5m 15m 1h 4h 1d"));
    for q in ["symbol=BTC&depth=0", "symbol=BTC&depth=1001", "symbol=BTC&depth=abc", "symbol=BTC&depth=-5"] {
        assert_eq!(parse(Operation::Orderbook, q).expect_err(q).param, "depth");
    }
    assert_eq!(parse(Operation::Markets, "limit=251").expect_err("limit").param, "limit");
}

#[test]
fn defaults_fill_in() {
    let r = parse(Operation::Ohlcv, "symbol=eth").expect("valid");
    assert_eq!((r.interval, r.limit, r.vs.as_str()), (Some(Interval::H1), Some(100), "USD"));
    assert_eq!(parse(Operation::Orderbook, "symbol=BTC").expect("valid").depth, Some(20));
    assert_eq!(parse(Operation::Sentiment, "").expect("valid").limit, Some(1));
}

#[test]
fn unknown_and_repeated_parameters_are_refused() {
    let e = parse(Operation::Ticker, "symbol=BTC&symbl=ETH").expect_err("unknown");
    assert_eq!(e.param, "symbl");
    assert!(e.message.contains("symbol, vs"));
    assert_eq!(parse(Operation::Ticker, "symbol=BTC&symbol=ETH").expect_err("twice").param, "symbol");
}

#[test]
fn path_parameters_and_route_defaults_apply() {
    let path: Params = [("q".to_owned(), "bitcoin etf".to_owned())].into_iter().collect();
    let defaults = BTreeMap::from([("limit".to_owned(), "5".to_owned())]);
    let r = OpRequest::parse(Operation::News, None, &path, &defaults, 32).expect("valid");
    assert_eq!((r.q.as_deref(), r.limit), (Some("bitcoin etf"), Some(5)));
    let r = OpRequest::parse(Operation::News, Some("limit=7"), &path, &defaults, 32).expect("valid");
    assert_eq!(r.limit, Some(7));
}

#[test]
fn cache_keys_ignore_symbol_order_and_case() {
    let a = parse(Operation::Price, "symbols=eth,BTC").expect("valid");
    let b = parse(Operation::Price, "symbols=BTC,ETH&vs=USD").expect("valid");
    assert_eq!(a.cache_key(), b.cache_key());
    let c = parse(Operation::Price, "symbols=BTC,ETH&vs=EUR").expect("valid");
    assert_ne!(a.cache_key(), c.cache_key());
    // The key's text is shared with other replicas through Redis: it must not change.
    assert_eq!(a.cache_key(), "price|BTC,ETH|USD||0|0||0|0");
    let path: Params = [("q".to_owned(), "Bitcoin%20ETF".to_owned())].into_iter().collect();
    let news = OpRequest::parse(Operation::News, Some("limit=7"), &path, &BTreeMap::new(), 32).expect("valid");
    assert_eq!(news.cache_key(), "news||USD||7|0|bitcoin%20etf|0|0");
}

#[test]
fn query_parameter_count_is_bounded() {
    let q: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
    let e =
        OpRequest::parse(Operation::Price, Some(&q.join("&")), &Params::new(), &BTreeMap::new(), 32).expect_err("many");
    assert_eq!(e.param, "query");
}

#[test]
fn coins_take_an_offset_and_search_a_required_q() {
    let page = OpRequest::parse_for(
        Operation::Coins,
        None,
        Some("offset=20&limit=5"),
        &Default::default(),
        &Default::default(),
        20,
    )
    .expect("valid");
    assert_eq!((page.offset, page.limit), (Some(20), Some(5)));
    for bad in ["offset=", "offset=-1", "offset=%2B3", "offset=100001"] {
        let e = OpRequest::parse_for(Operation::Coins, None, Some(bad), &Default::default(), &Default::default(), 20)
            .expect_err(bad);
        assert_eq!(e.param, "offset", "{bad}");
    }
    let search = |q: &str| {
        OpRequest::parse_for(
            Operation::Coins,
            Some(Derive::Search),
            Some(q),
            &Default::default(),
            &Default::default(),
            20,
        )
    };
    assert_eq!(search("q=%20ACC%20").expect("valid").q.as_deref(), Some("ACC"));
    for bad in ["", "q=", "q=%20", "q=btc&offset=1"] {
        let e = search(bad).expect_err(bad);
        assert!(e.param == "q" || e.param == "offset", "{bad}: {e}");
    }
}

#[test]
fn a_coin_may_be_named_by_a_provider_id() {
    assert_eq!(symbols(Some("coingecko:acchain, BTC"), "symbols").expect("valid"), vec!["coingecko:acchain", "BTC"]);
    assert_eq!(symbols(Some("CoinGecko:0x"), "symbols").expect("valid"), vec!["coingecko:0x"]);
    for bad in ["coingecko:", ":acchain", "coingecko:a b", "coingecko:x:y"] {
        assert!(symbols(Some(bad), "symbols").is_err(), "{bad}");
    }
}
