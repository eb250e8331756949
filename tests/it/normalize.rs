//! Binance, CoinGecko and CoinCap: every (provider, operation) pair of the shipped config against the recorded provider
//! bodies in tests/fixtures: a mock serves the fixture on the provider's real path, the
//! other providers refuse connections, and the normalized answer must carry the
//! fixture's own values.

// Numbers are copied verbatim from the fixtures, even past f64 precision.
#![allow(clippy::excessive_precision)]

use crate::support::cases::{Case, assert_num, run};
use serde_json::Value;

#[tokio::test(start_paused = true)]
async fn binance_price() {
    run(&Case {
        provider: "binance",
        base: "",
        route: "/v1/price?symbols=BTC,ETH",
        upstream: "/api/v3/ticker/price?symbolStatus=TRADING",
        fixture: "binance/ticker_price_list.json",
        check: |d| {
            assert_eq!(d[0]["symbol"], "BTC");
            assert_num!(d[0]["price"], 18229.9);
            assert_eq!(d[1]["symbol"], "ETH");
            assert_num!(d[1]["price"], 1395.6);
            assert_eq!(d[0]["vs"], "USD");
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn binance_ticker() {
    run(&Case {
        provider: "binance",
        base: "",
        route: "/v1/ticker?symbol=BTC",
        upstream: "/api/v3/ticker/24hr?symbol=BTCUSDT&symbolStatus=TRADING",
        fixture: "binance/ticker_24hr_single.json",
        check: |d| {
            assert_num!(d["last"], 60755.18);
            assert_num!(d["open"], 62636.13);
            assert_num!(d["high"], 63732.39);
            assert_num!(d["low"], 60000.0);
            assert_num!(d["change_pct"], -3.003);
            assert_num!(d["volume"], 53076.8465);
            assert_num!(d["quote_volume"], 3289695271.6771771);
            assert_eq!(d["ts"], 1634944401452_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn binance_ohlcv() {
    run(&Case {
        provider: "binance",
        base: "",
        route: "/v1/ohlcv?symbol=BTC&interval=1m&limit=10",
        upstream: "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=10",
        fixture: "binance/klines.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(10));
            assert_eq!(d[0]["ts"], 1634943780000_i64);
            assert_num!(d[0]["open"], 60685.22);
            assert_num!(d[0]["high"], 60729.84);
            assert_num!(d[0]["low"], 60670.9);
            assert_num!(d[0]["close"], 60719.27);
            assert_num!(d[0]["volume"], 21.63272);
            assert_eq!(d[9]["ts"], 1634944320000_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn binance_orderbook() {
    run(&Case {
        provider: "binance",
        base: "",
        route: "/v1/orderbook?symbol=BTC&depth=5",
        upstream: "/api/v3/depth?symbol=BTCUSDT&limit=5&symbolStatus=TRADING",
        fixture: "binance/depth.json",
        check: |d| {
            assert_eq!(d["bids"].as_array().map(Vec::len), Some(5));
            assert_num!(d["bids"][0][0], 60650.0);
            assert_num!(d["bids"][0][1], 0.00213);
            assert_num!(d["bids"][1][0], 60648.08);
            assert_num!(d["asks"][0][0], 60650.01);
            assert_num!(d["asks"][0][1], 0.61982);
            assert_eq!(d["symbol"], "BTC");
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coingecko_price() {
    run(&Case {
        provider: "coingecko",
        base: "/api/v3",
        route: "/v1/price?symbols=BTC,ETH",
        upstream: "/simple/price?ids=bitcoin%2Cethereum&vs_currencies=usd",
        fixture: "coingecko/simple_price_multi.json",
        check: |d| {
            assert_num!(d[0]["price"], 5005.73);
            assert_num!(d[1]["price"], 163.58);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coingecko_ticker() {
    run(&Case {
        provider: "coingecko",
        base: "/api/v3",
        route: "/v1/ticker?symbol=ETH",
        upstream: "/coins/markets?vs_currency=usd&ids=ethereum",
        fixture: "coingecko/coins_markets.json",
        check: |d| {
            assert_eq!(d["symbol"], "ETH");
            assert_num!(d["last"], 1333.4);
            assert_num!(d["high"], 1342.62);
            assert_num!(d["low"], 1322.93);
            assert_num!(d["open"], 1333.4 - 8.39);
            assert_num!(d["change_pct"], 0.63315);
            assert_num!(d["quote_volume"], 6029536785.0);
            assert_eq!(d["ts"], 1673420167000_i64, "last_updated, to the second");
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coingecko_ohlcv() {
    run(&Case {
        provider: "coingecko",
        base: "/api/v3",
        route: "/v1/ohlcv?symbol=BTC&interval=4h&limit=100",
        upstream: "/coins/bitcoin/ohlc?vs_currency=usd&days=30",
        fixture: "coingecko/ohlc_bitcoin_usd_days7.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(43));
            assert_eq!(
                d[0]["ts"],
                1702972800000_i64 - 4 * 3_600_000,
                "CoinGecko stamps candle close times; ts is the open"
            );
            assert_num!(d[0]["open"], 42930.0);
            assert_num!(d[0]["high"], 42938.0);
            assert_eq!(d[0]["volume"], Value::Null);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coingecko_markets() {
    run(&Case {
        provider: "coingecko",
        base: "/api/v3",
        route: "/v1/markets?limit=2",
        upstream: "/coins/markets?vs_currency=usd&per_page=2",
        fixture: "coingecko/coins_markets.json",
        check: |d| {
            assert_eq!(d.as_array().map(Vec::len), Some(2));
            assert_eq!(d[0]["symbol"], "BTC");
            assert_eq!(d[0]["name"], "Bitcoin");
            assert_eq!(d[0]["rank"], 1);
            assert_num!(d[0]["price"], 17434.49);
            assert_num!(d[0]["market_cap"], 335779071152.0);
            assert_eq!(d[1]["symbol"], "ETH");
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coingecko_exchanges() {
    run(&Case {
        provider: "coingecko",
        base: "/api/v3",
        route: "/v1/exchanges?limit=2",
        upstream: "/exchanges?per_page=2",
        fixture: "coingecko/exchanges.json",
        check: |d| {
            assert_eq!(d[0]["id"], "bybit_spot");
            assert_eq!(d[0]["name"], "Bybit");
            assert_eq!(d[0]["country"], "British Virgin Islands");
            assert_eq!(d[0]["url"], "https://www.bybit.com");
            assert_num!(d[0]["volume_24h_btc"], 74761.2135950351);
            assert_eq!(d.as_array().map(Vec::len), Some(2));
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coincap_price() {
    run(&Case {
        provider: "coincap",
        base: "/v3",
        route: "/v1/price?symbols=BTC,ETH",
        upstream: "/assets?ids=bitcoin%2Cethereum",
        fixture: "coincap/v2_assets_limit10.json",
        check: |d| {
            assert_num!(d[0]["price"], 60310.6888208343493939);
            assert_num!(d[1]["price"], 4129.8665728728088499);
            assert_eq!(d[0]["ts"], 1635293152930_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coincap_markets() {
    run(&Case {
        provider: "coincap",
        base: "/v3",
        route: "/v1/markets?limit=3",
        upstream: "/assets?limit=3",
        fixture: "coincap/v2_assets_limit10.json",
        check: |d| {
            assert_eq!(d[2]["symbol"], "BNB");
            assert_eq!(d[2]["rank"], 3);
            assert_num!(d[2]["price"], 477.6148568179112637);
            assert_num!(d[0]["change_24h_pct"], -4.3370911053518709);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coincap_exchanges() {
    run(&Case {
        provider: "coincap",
        base: "/v3",
        route: "/v1/exchanges?limit=3",
        upstream: "/exchanges?limit=3",
        fixture: "coincap/v2_exchanges_docsample.json",
        check: |d| {
            assert_eq!(d[0]["id"], "okex");
            assert_eq!(d[1]["name"], "Bithumb");
            assert_eq!(d[2]["url"], "https://quoine.com/");
            assert_eq!(d[0]["volume_24h_btc"], Value::Null);
        },
    })
    .await;
}
