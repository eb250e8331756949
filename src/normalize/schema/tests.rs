use std::collections::BTreeMap;

use super::*;

const NOW: i64 = 1_800_000_000_000;

fn req(op: Operation, q: &str) -> OpRequest {
    OpRequest::parse(op, Some(q), &crate::routing::pattern::Params::new(), &BTreeMap::new(), 32).expect("valid request")
}

fn price_req() -> OpRequest {
    req(Operation::Price, "symbols=BTC")
}

#[test]
fn a_good_price_list_passes() {
    let p =
        Payload::from_json(r#"[{"symbol":"BTC","vs":"USD","price":18229.9,"ts":1700000000000}]"#, &price_req(), NOW)
            .expect("valid");
    assert_eq!(p.price_symbols(), vec!["BTC"]);
}

#[test]
fn integral_float_timestamps_are_accepted_but_seconds_are_not() {
    let ok = r#"[{"symbol":"BTC","vs":"USD","price":1,"ts":1.7e12}]"#;
    assert!(Payload::from_json(ok, &price_req(), NOW).is_ok());
    let secs = r#"[{"symbol":"BTC","vs":"USD","price":1,"ts":1700000000}]"#;
    let e = Payload::from_json(secs, &price_req(), NOW).expect_err("seconds");
    assert_eq!(e.path, "data[0].ts");
    let frac = r#"[{"symbol":"BTC","vs":"USD","price":1,"ts":1700000000000.5}]"#;
    assert_eq!(Payload::from_json(frac, &price_req(), NOW).expect_err("fraction").path, "data[0].ts");
}

#[test]
fn errors_name_the_first_offending_path() {
    let cases = [
        (r#"[{"symbol":"BTC","vs":"USD","price":0,"ts":1700000000000}]"#, "data[0].price"),
        (r#"[{"symbol":"BTC","vs":"USD","price":-1,"ts":1700000000000}]"#, "data[0].price"),
        (r#"[{"symbol":"BTC","vs":"USD","ts":1700000000000}]"#, "data[0]"),
        (r#"[{"symbol":"BTC","vs":"USD","price":"1","ts":1700000000000}]"#, "data[0].price"),
        (r#"[{"symbol":"BTC","vs":"USD","price":1,"ts":1700000000000,"extra":1}]"#, "data[0].extra"),
        (r#"{"symbol":"BTC"}"#, "data"),
    ];
    for (json, path) in cases {
        let e = Payload::from_json(json, &price_req(), NOW).expect_err(json);
        assert_eq!(e.path, path, "{json}: {e}");
    }
}

#[test]
fn candles_must_ascend_and_are_cut_to_the_last_limit() {
    let r = req(Operation::Ohlcv, "symbol=BTC&limit=2");
    let c = |ts: i64| format!(r#"{{"ts":{ts},"open":1,"high":2,"low":0.5,"close":1.5,"volume":null}}"#);
    let asc = format!("[{},{},{}]", c(1_700_000_000_000), c(1_700_000_060_000), c(1_700_000_120_000));
    match Payload::from_json(&asc, &r, NOW).expect("valid") {
        Payload::Ohlcv(v) => {
            assert_eq!(v.iter().map(|x| x.ts.0).collect::<Vec<_>>(), vec![1_700_000_060_000, 1_700_000_120_000])
        }
        other => panic!("unexpected {other:?}"),
    }
    let desc = format!("[{},{}]", c(1_700_000_060_000), c(1_700_000_000_000));
    assert_eq!(Payload::from_json(&desc, &r, NOW).expect_err("descending").path, "data[1].ts");
}

#[test]
fn book_sides_must_be_ordered() {
    let r = req(Operation::Orderbook, "symbol=BTC&depth=5");
    let good = r#"{"symbol":"BTC","vs":"USD","bids":[[10,1],[9,1]],"asks":[[11,1],[12,1]],"ts":1700000000000}"#;
    assert!(Payload::from_json(good, &r, NOW).is_ok());
    let bad_bids = r#"{"symbol":"BTC","vs":"USD","bids":[[9,1],[10,1]],"asks":[],"ts":1700000000000}"#;
    assert_eq!(Payload::from_json(bad_bids, &r, NOW).expect_err("bids").path, "data.bids[1][0]");
    let bad_asks = r#"{"symbol":"BTC","vs":"USD","bids":[],"asks":[[12,1],[11,1]],"ts":1700000000000}"#;
    assert_eq!(Payload::from_json(bad_asks, &r, NOW).expect_err("asks").path, "data.asks[1][0]");
}

#[test]
fn sentiment_value_is_bounded_and_sorted_newest_first() {
    let r = req(Operation::Sentiment, "limit=2");
    let two = r#"[{"value":20,"classification":"Fear","ts":1700000000000},{"value":71,"classification":"Greed","ts":1700086400000}]"#;
    match Payload::from_json(two, &r, NOW).expect("valid") {
        Payload::Sentiment(s) => assert_eq!(s[0].value, 71.0),
        other => panic!("unexpected {other:?}"),
    }
    let over = r#"[{"value":101,"classification":"Greed","ts":1700000000000}]"#;
    assert_eq!(Payload::from_json(over, &r, NOW).expect_err("over").path, "data[0].value");
}

#[test]
fn a_candle_whose_open_or_close_leaves_its_range_or_whose_volume_is_negative_is_refused() {
    let r = req(Operation::Ohlcv, "symbol=BTC&limit=5");
    let c = |o: f64, h: f64, l: f64, cl: f64, v: f64| {
        format!(r#"[{{"ts":1700000000000,"open":{o},"high":{h},"low":{l},"close":{cl},"volume":{v}}}]"#)
    };
    assert!(Payload::from_json(&c(10.0, 12.0, 9.0, 11.0, 3.0), &r, NOW).is_ok());
    assert!(Payload::from_json(&c(9.0, 9.0, 9.0, 9.0, 0.0), &r, NOW).is_ok(), "a flat candle with no trade");
    // Coinbase's [time, low, high, open, close] read in Binance's order: the real low
    // (9) lands in `open`, the real open (10) in `low`.
    let swapped = Payload::from_json(&c(9.0, 12.0, 10.0, 11.0, 3.0), &r, NOW).expect_err("low above open");
    assert_eq!(swapped.path, "data[0].open", "{swapped}");
    assert!(swapped.message.contains("swapped"), "{swapped}");
    assert_eq!(Payload::from_json(&c(10.0, 12.0, 9.0, 13.0, 3.0), &r, NOW).expect_err("close").path, "data[0].close");
    assert_eq!(Payload::from_json(&c(10.0, 12.0, 9.0, 11.0, -1.0), &r, NOW).expect_err("vol").path, "data[0].volume");
}

/// One news item dated 9999 or without a link is left out and named; the rest are
/// served; a list whose every item is wrong is still an error (the mapping is).
#[test]
fn news_items_that_do_not_fit_are_dropped_one_by_one() {
    let item = |title: &str, url: &str, ts: i64| {
        format!(
            r#"{{"title":"{title}","url":"{url}","source":"x","published_at":{ts},"summary":null,"categories":[]}}"#
        )
    };
    let year_9999 = 253_402_300_799_000_i64;
    let list = format!(
        "[{},{},{},{}]",
        item("Good", "https://x.io/1", NOW - 1000),
        item("Far future", "https://x.io/2", year_9999),
        item("No link", "", NOW - 1000),
        item("From 2003", "https://x.io/3", 1_054_633_161_000)
    );
    let (payload, dropped) = Payload::checked(&list, &req(Operation::News, "limit=10"), NOW).expect("served");
    let Payload::News(items) = payload else { panic!("news") };
    let titles: Vec<&str> = items.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, ["Good", "From 2003"]);
    assert_eq!(dropped, ["data[1].published_at: 253402300799000 is in the future", "data[2].url: must not be empty"]);
    let all_bad = format!("[{}]", item("Seconds", "https://x.io/4", 1_700_000_000));
    let e = Payload::checked(&all_bad, &req(Operation::News, "limit=10"), NOW).expect_err("every item wrong");
    assert_eq!(e.path, "data[0].published_at");
}
