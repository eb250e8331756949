//! CoinPaprika, CryptoCompare, Alternative.me and the fallback tier: every (provider,
//! operation) pair of the shipped config against the recorded provider
//! bodies in tests/fixtures: a mock serves the fixture on the provider's real path, the
//! other providers refuse connections, and the normalized answer must carry the
//! fixture's own values.

// Numbers are copied verbatim from the fixtures, even past f64 precision.
#![allow(clippy::excessive_precision)]

use crate::support::cases::{Case, assert_num, close, run, run_edited};
use crate::support::{Mock, Proxy, defaults, fixture, get, refused_addr};
use serde_json::Value;

#[tokio::test(start_paused = true)]
async fn coinpaprika_price() {
    run(&Case {
        provider: "coinpaprika",
        base: "/v1",
        route: "/v1/price?symbols=BTC",
        upstream: "/tickers/btc-bitcoin?quotes=USD",
        fixture: "coinpaprika/tickers_id_btc-bitcoin.json",
        check: |d| {
            assert_num!(d[0]["price"], 11691.65276996);
            assert_eq!(d[0]["ts"], 1598932624000_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coinpaprika_ticker() {
    run(&Case {
        provider: "coinpaprika",
        base: "/v1",
        route: "/v1/ticker?symbol=BTC",
        upstream: "/tickers/btc-bitcoin?quotes=USD",
        fixture: "coinpaprika/tickers_id_btc-bitcoin.json",
        check: |d| {
            assert_num!(d["last"], 11691.65276996);
            assert_num!(d["change_pct"], -0.06);
            assert_num!(d["quote_volume"], 17505564862.454);
            assert_eq!(d["open"], Value::Null);
        },
    })
    .await;
}

/// CoinPaprika's free plan serves only the last 24 h of candles, so the shipped ohlcv
/// pool leaves it out; a paid-plan user puts it back. Its volume is quote currency
/// (3,627,095,860 at a close of 3,942: dollars), so marketgate says `null`.
#[tokio::test(start_paused = true)]
async fn coinpaprika_ohlcv() {
    let with_paprika = |cfg: String| {
        let shipped = r#"["cryptocompare", "coingecko"], ["fallback"]]"#;
        assert!(
            cfg.contains(&format!("ohlcv     = [[\"binance\"], [\"okx\", \"coinbase\", \"kraken\"], {shipped}")),
            "the shipped ohlcv pool changed"
        );
        cfg.replace(shipped, r#"["cryptocompare", "coingecko", "coinpaprika"], ["fallback"]]"#)
    };
    let case = Case {
        provider: "coinpaprika",
        base: "/v1",
        route: "/v1/ohlcv?symbol=BTC&interval=1d&limit=2",
        upstream: "/coins/btc-bitcoin/ohlcv/historical?start=&interval=24h&limit=2&quote=usd",
        fixture: "coinpaprika/coins_btc-bitcoin_ohlcv_historical.json",
        check: |d| {
            assert_eq!(d[0]["ts"], 1546300800000_i64);
            assert_num!(d[0]["open"], 3743.13383814);
            assert_num!(d[1]["close"], 3941.99122065);
            assert_eq!(d[1]["volume"], Value::Null, "quote-currency volume is not passed off as base volume");
        },
    };
    run_edited(&case, with_paprika).await;
}

#[tokio::test(start_paused = true)]
async fn coinpaprika_markets() {
    run(&Case {
        provider: "coinpaprika",
        base: "/v1",
        route: "/v1/markets?limit=2",
        upstream: "/tickers?quotes=USD",
        fixture: "coinpaprika/tickers_list_first3_2023-09-14.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(2));
            assert_eq!(d[0]["symbol"], "BTC");
            assert_num!(d[0]["price"], 26426.246037855784);
            assert_num!(d[1]["market_cap"], 195015451448.0);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cryptocompare_price() {
    run(&Case {
        provider: "cryptocompare",
        base: "",
        route: "/v1/price?symbols=BTC,ETH",
        upstream: "/data/pricemulti?fsyms=BTC%2CETH&tsyms=USD",
        fixture: "cryptocompare/pricemulti_btc_eth_usd.json",
        check: |d| {
            assert_num!(d[0]["price"], 30231.69);
            assert_num!(d[1]["price"], 1796.09);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cryptocompare_ticker() {
    run(&Case {
        provider: "cryptocompare",
        base: "",
        route: "/v1/ticker?symbol=BTC",
        upstream: "/data/pricemultifull?fsyms=BTC&tsyms=USD",
        fixture: "cryptocompare/pricemultifull_btc_usd_eur.json",
        check: |d| {
            assert_num!(d["last"], 59692.06);
            assert_num!(d["open"], 58365.92);
            assert_num!(d["high"], 61222.49);
            assert_num!(d["low"], 57866.04);
            assert_num!(d["change_pct"], 2.272113589574189);
            assert_num!(d["volume"], 34972.740182819995);
            assert_eq!(d["ts"], 1618082612000_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cryptocompare_ohlcv() {
    run(&Case {
        provider: "cryptocompare",
        base: "",
        route: "/v1/ohlcv?symbol=BTC&interval=1d&limit=30",
        upstream: "/data/v2/histoday?fsym=BTC&tsym=USD&limit=30&aggregate=1",
        fixture: "cryptocompare/histoday_v2_btc_usd_limit30.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(30), "limit=N returns N+1 rows; the last N are kept");
            assert_eq!(d[29]["ts"], 1654732800000_i64);
            assert_num!(d[29]["close"], 30210.38);
            assert_num!(d[29]["volume"], 1700.04);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cryptocompare_news() {
    run(&Case {
        provider: "cryptocompare",
        base: "",
        route: "/v1/news?limit=2",
        upstream: "/data/v2/news/?lang=EN",
        fixture: "cryptocompare/news_v2_lang_EN_2020-11.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(2));
            assert_eq!(
                d[0]["url"],
                "https://www.trustnodes.com/2020/11/14/guy-makes-5-million-from-an-80000-ethereum-flashloan"
            );
            assert_eq!(d[0]["source"], "TrustNodes");
            assert_eq!(d[0]["published_at"], 1605373250000_i64);
            assert_eq!(d[0]["categories"], serde_json::json!(["ETH"]));
            assert_eq!(d[1]["source"], "Decrypt");
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn alternative_me_sentiment() {
    run(&Case {
        provider: "alternative_me",
        base: "",
        route: "/v1/sentiment?limit=2",
        upstream: "/fng/?limit=2",
        fixture: "alternative_me/fng_limit2_2026-09-25.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(2));
            assert_num!(d[0]["value"], 71.0);
            assert_eq!(d[0]["classification"], "Greed");
            assert_eq!(d[0]["ts"], 1790294400000_i64);
            assert_eq!(d[1]["ts"], 1790208000000_i64);
        },
    })
    .await;
}

/// The fallback tier is another marketgate: a sidecar whose every provider fails
/// answers through a second marketgate that can reach Binance.
#[tokio::test(start_paused = true)]
async fn fallback_is_another_marketgate() {
    let binance = Mock::fixed(200, &fixture("binance/ticker_price_list.json")).await;
    let remote_cfg = defaults::with_hosts(&[("binance", binance.url())], &refused_addr().await);
    let remote = Proxy::start_with(&remote_cfg, defaults::keyed_env(), None, Default::default()).await;
    let mut env = defaults::keyed_env();
    env.0.insert("MARKETGATE_FALLBACK_URL".into(), format!("http://{}", remote.addr));
    let local_cfg = defaults::with_hosts(&[("fallback", "${MARKETGATE_FALLBACK_URL}".into())], &refused_addr().await);
    let local = Proxy::start_with(&local_cfg, env, None, Default::default()).await;
    let r = get(local.url("/v1/price?symbols=ETH,BTC")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], "fallback");
    assert_eq!(v["data"][0]["symbol"], "ETH");
    assert!(close(&v["data"][0]["price"], 1395.6));
    assert!(close(&v["data"][1]["price"], 18229.9));
    local.stop().await;
    remote.stop().await;
}
