//! Kraken, Coinbase Exchange and OKX: every (provider, operation) pair of the shipped
//! config against the recorded bodies in tests/fixtures (kraken/, coinbase_exchange/,
//! okx/; provenance in SOURCES.md): a mock serves the fixture on the exchange's real
//! path, every other provider refuses connections, and the normalized answer must
//! carry the fixture's own values: ascending candles with open times in ms and the
//! base volume, books best first, the pair asked for and no other.

// Numbers are copied verbatim from the fixtures, even past f64 precision.
#![allow(clippy::excessive_precision)]

use crate::support::cases::{Case, assert_num, run};
use serde_json::Value;

// === Kraken ===

/// Kraken answers a pair by its canonical key (XXBTZUSD), which marketgate asks for.
#[tokio::test(start_paused = true)]
async fn kraken_price_maps_canonical_keys_back() {
    run(&Case {
        provider: "kraken",
        base: "",
        route: "/v1/price?symbols=BTC,ETH",
        upstream: "/0/public/Ticker",
        fixture: "kraken/ticker_multi_ethusd_xbtusd_2024-03-19.json",
        check: |d| {
            assert_eq!(d[0]["symbol"], "BTC");
            assert_num!(d[0]["price"], 64547.2);
            assert_eq!(d[1]["symbol"], "ETH");
            assert_num!(d[1]["price"], 3338.08);
            assert_eq!(d[0]["vs"], "USD");
        },
    })
    .await;
}

/// The 24 h values are the second of each pair; `o` is today's open (since 00:00 UTC),
/// not the price 24 h ago, so open and change_pct stay null.
#[tokio::test(start_paused = true)]
async fn kraken_ticker() {
    run(&Case {
        provider: "kraken",
        base: "",
        route: "/v1/ticker?symbol=BTC",
        upstream: "/0/public/Ticker?pair=XXBTZUSD",
        fixture: "kraken/ticker_xbtusd_2024-03-19.json",
        check: |d| {
            assert_num!(d["last"], 64587.4);
            assert_num!(d["high"], 68075.0);
            assert_num!(d["low"], 62356.5);
            assert_num!(d["volume"], 6251.33408493);
            assert_num!(d["quote_volume"], 6251.33408493 * 64670.5477);
            assert_eq!(d["open"], Value::Null, "today's open is not the 24 h open");
            assert_eq!(d["change_pct"], Value::Null);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn kraken_ticker_in_usdt_composes_the_base_name() {
    run(&Case {
        provider: "kraken",
        base: "",
        route: "/v1/ticker?symbol=BTC&vs=USDT",
        upstream: "/0/public/Ticker?pair=XBTUSDT",
        fixture: "kraken/ticker_xbtusdt_2025-11-11.json",
        check: |d| {
            assert_eq!(d["vs"], "USDT");
            assert_num!(d["last"], 105899.4);
            assert_num!(d["volume"], 163.28908096);
        },
    })
    .await;
}

/// Column 5 is the VWAP and column 6 the volume; times are seconds.
#[tokio::test(start_paused = true)]
async fn kraken_ohlcv_reads_the_volume_column_not_the_vwap() {
    run(&Case {
        provider: "kraken",
        base: "",
        route: "/v1/ohlcv?symbol=BTC&vs=USDT&interval=1m&limit=720",
        upstream: "/0/public/OHLC?pair=XBTUSDT&interval=1",
        fixture: "kraken/ohlc_xbtusdt_1m_721_2025-11-10.json",
        check: |d| {
            let candles = d.as_array().expect("candles");
            assert_eq!(candles.len(), 720, "the last 720 of 721");
            assert_eq!(candles[0]["ts"], 1762777080000_i64);
            assert_eq!(candles[2]["ts"], 1762777200000_i64);
            assert_num!(candles[2]["open"], 106038.1);
            assert_num!(candles[2]["high"], 106044.3);
            assert_num!(candles[2]["close"], 106040.1);
            assert_num!(candles[2]["volume"], 0.08317981);
            assert_eq!(candles[719]["ts"], 1762820220000_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn kraken_orderbook() {
    run(&Case {
        provider: "kraken",
        base: "",
        route: "/v1/orderbook?symbol=BTC&vs=USDT&depth=5",
        upstream: "/0/public/Depth?pair=XBTUSDT&count=5",
        fixture: "kraken/depth_xbtusdt_count5_2025-11-11.json",
        check: |d| {
            assert_num!(d["bids"][0][0], 105944.2);
            assert_num!(d["bids"][0][1], 0.002);
            assert_num!(d["bids"][4][0], 105916.7);
            assert_num!(d["asks"][0][0], 105944.3);
            assert_num!(d["asks"][0][1], 0.136);
            assert_eq!(d["asks"][0].as_array().map(Vec::len), Some(2), "the level's timestamp is dropped");
        },
    })
    .await;
}

// === Coinbase Exchange ===

#[tokio::test(start_paused = true)]
async fn coinbase_price() {
    run(&Case {
        provider: "coinbase",
        base: "",
        route: "/v1/price?symbols=BTC",
        upstream: "/products/BTC-USD/ticker",
        fixture: "coinbase_exchange/ticker_btc-usd_2026-06-19.json",
        check: |d| {
            assert_num!(d[0]["price"], 63212.97);
            // 2026-06-19T16:43:33.016274911Z, to the second.
            assert_eq!(d[0]["ts"], 1781887413000_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn coinbase_ticker_from_the_24h_stats() {
    run(&Case {
        provider: "coinbase",
        base: "",
        route: "/v1/ticker?symbol=BTC",
        upstream: "/products/BTC-USD/stats",
        fixture: "coinbase_exchange/stats_btc-usd_2026-06-19.json",
        check: |d| {
            assert_num!(d["last"], 63212.41);
            assert_num!(d["open"], 62605.56);
            assert_num!(d["high"], 63351.3);
            assert_num!(d["low"], 62159.76);
            assert_num!(d["volume"], 4918.33722403);
            assert_num!(d["change_pct"], (63212.41 - 62605.56) / 62605.56 * 100.0);
        },
    })
    .await;
}

/// `[time, low, high, open, close, volume]`, newest first.
#[tokio::test(start_paused = true)]
async fn coinbase_ohlcv_reads_low_and_high_before_open() {
    run(&Case {
        provider: "coinbase",
        base: "",
        route: "/v1/ohlcv?symbol=BTC&interval=1m&limit=2",
        upstream: "/products/BTC-USD/candles?granularity=60",
        fixture: "coinbase_exchange/candles_btc-usd_60_first2_2026-06-19.json",
        check: |d| {
            assert_eq!(d[0]["ts"], 1781887080000_i64, "ascending");
            assert_num!(d[0]["low"], 63236.17);
            assert_num!(d[0]["high"], 63262.46);
            assert_num!(d[0]["open"], 63236.18);
            assert_num!(d[0]["close"], 63244.77);
            assert_num!(d[0]["volume"], 0.89694057);
            assert_eq!(d[1]["ts"], 1781887140000_i64);
        },
    })
    .await;
}

/// No level-2 body was recorded; level 1 has the same shape (`[price, size, orders]`).
#[tokio::test(start_paused = true)]
async fn coinbase_orderbook() {
    run(&Case {
        provider: "coinbase",
        base: "",
        route: "/v1/orderbook?symbol=BTC&depth=1",
        upstream: "/products/BTC-USD/book?level=2",
        fixture: "coinbase_exchange/book_level1_btc-usd_2026-06-19.json",
        check: |d| {
            assert_num!(d["bids"][0][0], 63217.42);
            assert_num!(d["bids"][0][1], 0.00004377);
            assert_num!(d["asks"][0][0], 63217.43);
            assert_num!(d["asks"][0][1], 0.24090999);
            assert_eq!(d["ts"], 1781887411000_i64);
        },
    })
    .await;
}

// === OKX ===

/// The spot list body, as `/market/tickers` sends it, here holding the one instrument
/// of the recorded `/market/ticker` answer (the recorded list has none of our assets).
#[tokio::test(start_paused = true)]
async fn okx_price_serves_usd_from_usdt() {
    run(&Case {
        provider: "okx",
        base: "",
        route: "/v1/price?symbols=BTC",
        upstream: "/api/v5/market/tickers?instType=SPOT",
        fixture: "okx/ticker_btc-usdt_2023-01-04.json",
        check: |d| {
            assert_eq!(d[0]["vs"], "USD");
            assert_num!(d[0]["price"], 16839.1);
            assert_eq!(d[0]["ts"], 1672863560203_i64);
        },
    })
    .await;
}

/// `open24h` is the rolling 24 h open; for SPOT `vol24h` is base and `volCcy24h` quote.
#[tokio::test(start_paused = true)]
async fn okx_ticker() {
    run(&Case {
        provider: "okx",
        base: "",
        route: "/v1/ticker?symbol=BTC&vs=USDT",
        upstream: "/api/v5/market/ticker?instId=BTC-USDT",
        fixture: "okx/ticker_btc-usdt_2023-01-04.json",
        check: |d| {
            assert_num!(d["last"], 16839.1);
            assert_num!(d["open"], 16659.1);
            assert_num!(d["high"], 16988.0);
            assert_num!(d["low"], 16651.7);
            assert_num!(d["volume"], 5150.98223027);
            assert_num!(d["quote_volume"], 86702682.03645192);
            assert_num!(d["change_pct"], (16839.1 - 16659.1) / 16659.1 * 100.0);
            assert_eq!(d["ts"], 1672863560203_i64);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn okx_ohlcv_newest_first_comes_out_ascending() {
    run(&Case {
        provider: "okx",
        base: "",
        route: "/v1/ohlcv?symbol=BTC&interval=1h&limit=3",
        upstream: "/api/v5/market/candles?instId=BTC-USDT&bar=1H&limit=3",
        fixture: "okx/candles_btc-usdt_1h_3rows_2024-01-30.json",
        check: |d| {
            assert_eq!(d[0]["ts"], 1706630400000_i64);
            assert_num!(d[0]["open"], 43377.1);
            assert_num!(d[0]["volume"], 7137.30786672);
            assert_eq!(d[2]["ts"], 1706637600000_i64);
            assert_num!(d[2]["close"], 43373.9);
        },
    })
    .await;
}

/// Daily candles are asked as `1Dutc`, which open at 00:00 UTC (`1D` opens at 16:00).
#[tokio::test(start_paused = true)]
async fn okx_daily_candles_open_at_midnight_utc() {
    run(&Case {
        provider: "okx",
        base: "",
        route: "/v1/ohlcv?symbol=BTC&interval=1d&limit=3",
        upstream: "/api/v5/market/candles?instId=BTC-USDT&bar=1Dutc&limit=3",
        fixture: "okx/candles_btc-usdt_1dutc_3rows_2021-09.json",
        check: |d| {
            for c in d.as_array().expect("candles") {
                assert_eq!(c["ts"].as_i64().map(|t| t % 86_400_000), Some(0), "{c}");
            }
            assert_num!(d[2]["open"], 43016.9);
            assert_num!(d[2]["volume"], 28840.93614238);
        },
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn okx_orderbook() {
    run(&Case {
        provider: "okx",
        base: "",
        route: "/v1/orderbook?symbol=BTC&depth=2",
        upstream: "/api/v5/market/books?instId=BTC-USDT&sz=2",
        fixture: "okx/books_btc-usdt_sz2_2024-04-04.json",
        check: |d| {
            assert_num!(d["bids"][0][0], 67973.3);
            assert_num!(d["bids"][1][1], 0.00725939);
            assert_num!(d["asks"][0][0], 67973.4);
            assert_num!(d["asks"][0][1], 1.40848059);
            assert_eq!(d["ts"], 1712265035051_i64);
        },
    })
    .await;
}
