//! The shipped default config, whole (quotas, caches, hedging, health checks, rate-limit
//! rules), with every provider's hosts moved to loopback mocks that replay the recorded
//! bodies on the providers' real paths, or fail on purpose.

use std::time::Duration;

use bytes::Bytes;

use super::{Mock, Reply, fixture, refused_addr};

/// Base path of each provider's host in the shipped config.
pub fn base(provider: &str) -> &'static str {
    match provider {
        "coingecko" => "/api/v3",
        "coincap" => "/v3",
        "coinpaprika" => "/v1",
        "cryptopanic" => "/api/developer/v2",
        _ => "",
    }
}

/// How many hosts the shipped config gives a provider.
pub fn host_count(provider: &str) -> usize {
    if provider == "binance" { 7 } else { 1 }
}

/// The recorded body a provider answers on `path` (below its base path).
pub fn recorded(provider: &str, path: &str) -> Option<&'static str> {
    let table: &[(&str, &str, &str)] = &[
        ("binance", "/api/v3/ticker/price", "binance/ticker_price_list.json"),
        ("binance", "/api/v3/ticker/24hr", "binance/ticker_24hr_single.json"),
        ("binance", "/api/v3/klines", "binance/klines.json"),
        ("binance", "/api/v3/depth", "binance/depth.json"),
        ("binance", "/api/v3/ping", "binance/ping.json"),
        // Kraken answers BTC/USD under its canonical key, XXBTZUSD.
        ("kraken", "/0/public/Ticker", "kraken/ticker_multi_ethusd_xbtusd_2024-03-19.json"),
        ("kraken", "/0/public/OHLC", "kraken/ohlc_xxbtzusd_docsample.json"),
        ("kraken", "/0/public/Depth", "kraken/depth_xxbtzusd_docsample.json"),
        ("kraken", "/0/public/SystemStatus", "kraken/system_status_online_2025-11-11.json"),
        ("coinbase", "/products/BTC-USD/ticker", "coinbase_exchange/ticker_btc-usd_2026-06-19.json"),
        ("coinbase", "/products/BTC-USD/stats", "coinbase_exchange/stats_btc-usd_2026-06-19.json"),
        ("coinbase", "/products/BTC-USD/candles", "coinbase_exchange/candles_btc-usd_60_first2_2026-06-19.json"),
        ("coinbase", "/products/BTC-USD/book", "coinbase_exchange/book_level1_btc-usd_2026-06-19.json"),
        ("coinbase", "/time", "coinbase_exchange/time_2026-06-19.json"),
        // The recorded spot list holds none of our assets; the single-ticker answer has
        // the same shape.
        ("okx", "/api/v5/market/tickers", "okx/ticker_btc-usdt_2023-01-04.json"),
        ("okx", "/api/v5/market/ticker", "okx/ticker_btc-usdt_2023-01-04.json"),
        ("okx", "/api/v5/market/candles", "okx/candles_btc-usdt_1h_3rows_2024-01-30.json"),
        ("okx", "/api/v5/market/books", "okx/books_btc-usdt_sz2_2024-04-04.json"),
        ("okx", "/api/v5/public/time", "okx/time_2024-04-04.json"),
        ("coingecko", "/simple/price", "coingecko/simple_price_multi.json"),
        ("coingecko", "/coins/markets", "coingecko/coins_markets.json"),
        ("coingecko", "/coins/bitcoin/ohlc", "coingecko/ohlc_bitcoin_usd_days7.json"),
        ("coingecko", "/exchanges", "coingecko/exchanges.json"),
        // The 2019 list: both ACC coins (Accelerator Network, ACChain) and 0x.
        ("coingecko", "/coins/list", "coingecko/coins_list.json"),
        ("coincap", "/assets", "coincap/v2_assets_limit10.json"),
        ("coincap", "/exchanges", "coincap/v2_exchanges_docsample.json"),
        ("coinpaprika", "/tickers/btc-bitcoin", "coinpaprika/tickers_id_btc-bitcoin.json"),
        ("coinpaprika", "/tickers", "coinpaprika/tickers_list_first3_2023-09-14.json"),
        ("coinpaprika", "/coins", "coinpaprika/coins_list_top10.json"),
        ("coinpaprika", "/coins/btc-bitcoin/ohlcv/historical", "coinpaprika/coins_btc-bitcoin_ohlcv_historical.json"),
        ("cryptocompare", "/data/pricemulti", "cryptocompare/pricemulti_btc_eth_usd.json"),
        ("cryptocompare", "/data/pricemultifull", "cryptocompare/pricemultifull_btc_usd_eur.json"),
        ("cryptocompare", "/data/v2/histoday", "cryptocompare/histoday_v2_btc_usd_limit30.json"),
        ("cryptocompare", "/data/v2/news/", "cryptocompare/news_v2_lang_EN_2020-11.json"),
        ("alternative_me", "/fng/", "alternative_me/fng_limit2_2026-09-25.json"),
        ("coindesk", "/arc/outboundfeeds/rss/", "news/coindesk_2025-12-13.xml"),
        ("cointelegraph", "/rss", "news/cointelegraph_2025-12-12.xml"),
        ("decrypt", "/feed", "news/decrypt_2025-12-12.xml"),
        ("theblock", "/rss.xml", "news/theblock_2025-12-13.xml"),
        ("cryptopanic", "/posts/", "news/cryptopanic_v1_2025-02-26.json"),
    ];
    table.iter().find(|(p, at, _)| *p == provider && *at == path).map(|(_, _, f)| *f)
}

/// A provider's recorded error body served with HTTP 200 (synthetic where none was
/// recorded, and marked so). A provider-side failure, never one that is about the
/// client's request: Binance's recorded bodies are all -1121/-1220 (the pair) or -1003
/// (rate limits, a fault of their own), so it gets -1000, the code its docs give for
/// an unknown server error.
pub fn error_body(provider: &str) -> String {
    match provider {
        "binance" => {
            r#"{"code":-1000,"msg":"synthetic fault: an unknown error occurred while processing the request."}"#
                .to_owned()
        }
        "coingecko" => fixture("coingecko/error_429.json"),
        "coincap" => fixture("coincap/v2_deprecation_notice_assets.json"),
        "cryptocompare" => fixture("cryptocompare/error_rate_limit_type99.json"),
        "alternative_me" => r#"{"data":[],"metadata":{"error":"synthetic fault"}}"#.to_owned(),
        // Kraken's and OKX's error envelopes with their documented internal-error codes.
        "kraken" => r#"{"error":["EService:Unavailable"]}"#.to_owned(),
        "okx" => r#"{"code":"50001","msg":"synthetic fault: Service temporarily unavailable","data":[]}"#.to_owned(),
        "coinbase" => r#"{"message":"synthetic fault: Internal server error"}"#.to_owned(),
        _ => r#"{"error":"synthetic fault"}"#.to_owned(),
    }
}

/// A fault a provider can throw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Connection refused.
    Refused,
    /// The connection is closed without an answer.
    Reset,
    /// No answer at all.
    Hang,
    /// Headers, then a byte every 300 ms.
    Drip,
    /// HTTP 503.
    Http5xx,
    /// HTTP 429 with `Retry-After: 60`.
    TooMany,
    /// HTTP 418 with `Retry-After: 86400` (Binance's ban).
    Banned,
    /// HTTP 200 with the provider's error body.
    ErrorBody,
    /// HTTP 200 with JSON of the wrong shape.
    WrongShape,
    /// HTTP 200 with the recorded body cut in half.
    Truncated,
    /// HTTP 200 with a 9 MiB body.
    Huge,
    /// HTTP 200 with 70,000 `[`.
    Nested,
}

impl Fault {
    /// Every fault, in table order.
    pub const ALL: [Fault; 12] = [
        Self::Refused,
        Self::Reset,
        Self::Hang,
        Self::Drip,
        Self::Http5xx,
        Self::TooMany,
        Self::Banned,
        Self::ErrorBody,
        Self::WrongShape,
        Self::Truncated,
        Self::Huge,
        Self::Nested,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Reset => "reset",
            Self::Hang => "hang",
            Self::Drip => "slow drip",
            Self::Http5xx => "HTTP 503",
            Self::TooMany => "429 + Retry-After 60",
            Self::Banned => "418 + Retry-After 86400",
            Self::ErrorBody => "HTTP-200 error body",
            Self::WrongShape => "wrong JSON shape",
            Self::Truncated => "truncated body",
            Self::Huge => "9 MiB body",
            Self::Nested => "70,000 nested [",
        }
    }
}

/// One provider's hosts: mocks that serve the recorded bodies, or all throw `fault`.
pub struct ProviderMocks {
    /// The base URLs to put in the config.
    pub hosts: Vec<String>,
    /// The mocks (none when the fault is `Refused`).
    pub mocks: Vec<Mock>,
}

impl ProviderMocks {
    /// Requests the provider's hosts received.
    pub fn hits(&self) -> usize {
        self.mocks.iter().map(Mock::hits).sum()
    }
}

/// Starts `provider`'s hosts, healthy (`None`) or throwing `fault`.
pub async fn provider(provider: &'static str, fault: Option<Fault>) -> ProviderMocks {
    provider_armed(provider, fault, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true))).await
}

/// [`provider`], whose hosts answer as healthy ones until `armed` is set (a refused
/// host refuses from the start): start-up health probes see a healthy provider, the
/// request under test sees the fault.
pub async fn provider_armed(
    provider: &'static str,
    fault: Option<Fault>,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> ProviderMocks {
    let n = host_count(provider);
    if fault == Some(Fault::Refused) {
        let mut hosts = Vec::new();
        for _ in 0..n {
            hosts.push(format!("{}{}", refused_addr().await, base(provider)));
        }
        return ProviderMocks { hosts, mocks: Vec::new() };
    }
    let mut mocks = Vec::new();
    for _ in 0..n {
        let armed = std::sync::Arc::clone(&armed);
        mocks.push(
            Mock::start(move |s| {
                let fault = fault.filter(|_| armed.load(std::sync::atomic::Ordering::Acquire));
                reply(provider, fault, &s.path_and_query)
            })
            .await,
        );
    }
    let hosts = mocks.iter().map(|m| format!("{}{}", m.url(), base(provider))).collect();
    ProviderMocks { hosts, mocks }
}

/// The exchanges' and aggregators' REST hosts replaying their recorded bodies, and the
/// shipped config (keys set) with them and Binance's stream at `stream`.
pub async fn with_rest_and_stream(stream: &str) -> (super::Proxy, Vec<(&'static str, ProviderMocks)>) {
    let mut mocks = Vec::new();
    for name in ["binance", "okx", "coinbase", "kraken", "coingecko", "coinpaprika", "coincap", "cryptocompare"] {
        mocks.push((name, provider(name, None).await));
    }
    let mut hosts: Vec<(&str, Vec<String>)> = mocks.iter().map(|(n, m)| (*n, m.hosts.clone())).collect();
    hosts.push(("binance.stream", vec![stream.to_owned()]));
    let proxy = super::Proxy::start_with(&config(&hosts), super::defaults::keyed_env(), None, Default::default()).await;
    (proxy, mocks)
}

/// What `provider`'s host answers on `path_and_query`: the recorded body, or `fault`.
pub fn reply(provider: &str, fault: Option<Fault>, path_and_query: &str) -> Reply {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let path = path.strip_prefix(base(provider)).unwrap_or(path);
    let Some(file) = recorded(provider, path) else {
        // Coinbase answers a product it does not list with 404 NotFound.
        if provider == "coinbase" && path.starts_with("/products/") {
            return Reply::Json(404, fixture("coinbase_exchange/error_404_notfound.json"));
        }
        return Reply::Json(404, format!(r#"{{"error":"no recorded body for {path}"}}"#));
    };
    let Some(fault) = fault else {
        return unlisted(provider, query).unwrap_or_else(|| Reply::Json(200, fixture(file)));
    };
    match fault {
        Fault::Refused | Fault::Reset => Reply::Close,
        Fault::Hang => Reply::Hang,
        Fault::Drip => {
            Reply::Drip { chunk: Bytes::from_static(b" "), every: Duration::from_millis(300), total: 1 << 20 }
        }
        Fault::Http5xx => Reply::Json(503, r#"{"error":"unavailable"}"#.into()),
        Fault::TooMany => Reply::With(429, vec![("retry-after", "60".into())], r#"{"code":-1003}"#.into()),
        Fault::Banned => Reply::With(418, vec![("retry-after", "86400".into())], r#"{"code":-1003}"#.into()),
        Fault::ErrorBody => Reply::Json(200, error_body(provider)),
        Fault::WrongShape => Reply::Json(200, r#"{"synthetic":"wrong shape"}"#.into()),
        Fault::Truncated => {
            let body = fixture(file);
            Reply::Json(200, body[..body.len() / 2].to_owned())
        }
        Fault::Huge => Reply::Stream { total: 9 << 20, chunk: 64 << 10, gate_after: 0, gate: None },
        Fault::Nested => Reply::Json(200, "[".repeat(70_000)),
    }
}

/// What a provider answers for a pair or quote it does not list, where the recorded
/// body would not say so by itself: Binance refuses an unknown symbol with HTTP 400 and
/// its recorded -1121 body; CoinGecko has no market for an unknown quote.
fn unlisted(provider: &str, query: &str) -> Option<Reply> {
    let param = |name: &str| {
        query.split('&').find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(str::to_owned)
    };
    match provider {
        "binance" => param("symbol")
            .filter(|s| s != "BTCUSDT" && s != "ETHUSDT")
            .map(|_| Reply::Json(400, fixture("binance/error_400_-1121_invalid_symbol.json"))),
        "kraken" => param("pair")
            .filter(|p| p != "XXBTZUSD" && p != "XETHZUSD")
            .map(|_| Reply::Json(200, fixture("kraken/error_unknown_asset_pair.json"))),
        "okx" => param("instId")
            .filter(|i| i != "BTC-USDT")
            .map(|_| Reply::Json(200, fixture("okx/error_51001_instrument_not_exist.json"))),
        "coingecko" => param("vs_currency")
            .or_else(|| param("vs_currencies"))
            .filter(|v| v != "usd")
            .map(|_| Reply::Json(200, if query.contains("vs_currency=") { "[]".into() } else { "{}".into() })),
        _ => None,
    }
}

/// Where providers a test does not start go: a loopback port nothing listens on (the
/// shipped hosts are on the internet, which tests never reach).
pub const NOWHERE: &str = "http://127.0.0.1:1";

/// [`NOWHERE`] for stream hosts (`<provider>.stream` tables).
pub const NOWHERE_WS: &str = "ws://127.0.0.1:1";

/// The embedded default config, whole, with each provider's `hosts` replaced by the
/// given lists (a provider's stream hosts are listed as `<provider>.stream`); providers
/// not listed get [`NOWHERE`] (streams [`NOWHERE_WS`]), except `fallback`, whose host
/// comes from `MARKETGATE_FALLBACK_URL` (unset in tests: the tier stays off).
pub fn config(hosts: &[(&str, Vec<String>)]) -> String {
    edit_default(|provider, line| {
        if !line.trim_start().starts_with("hosts = ") || line.contains("${") {
            return Some(line.to_owned());
        }
        let list = provider.and_then(|name| hosts.iter().find(|(n, _)| *n == name)).map(|(_, l)| l);
        let quoted: Vec<String> = match list {
            Some(list) => list.iter().map(|h| format!("{h:?}")).collect(),
            None if provider.is_some_and(|p| p.ends_with(".stream")) => vec![format!("{NOWHERE_WS:?}")],
            None => vec![format!("{NOWHERE:?}")],
        };
        Some(format!("hosts = [{}]", quoted.join(", ")))
    })
}

/// The embedded default config, line by line through `edit`, which is told the provider
/// whose top table the line is in (if any) and returns the line to keep (or `None`).
pub fn edit_default(mut edit: impl FnMut(Option<&str>, &str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut current: Option<String> = None;
    for line in marketgate::config::DEFAULT_CONFIG.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("[providers.").and_then(|r| r.strip_suffix(']')) {
            // A provider's top table, or its `stream` table (named `<provider>.stream`).
            current = (!name.contains('.') || name.ends_with(".stream")).then(|| name.to_owned());
        } else if trimmed.starts_with('[') {
            current = None;
        }
        if let Some(kept) = edit(current.as_deref(), line) {
            out.push_str(&kept);
            out.push('\n');
        }
    }
    out
}

/// Binance's hosts answering a 3-day ban (418, `Retry-After: 259200`) while `banned`
/// holds, and the recorded bodies after.
pub async fn binance_banned_while(banned: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Vec<Mock> {
    let mut mocks = Vec::new();
    for _ in 0..host_count("binance") {
        let banned = std::sync::Arc::clone(&banned);
        mocks.push(
            Mock::start(move |s| {
                if banned.load(std::sync::atomic::Ordering::SeqCst) {
                    Reply::With(418, vec![("retry-after", "259200".into())], r#"{"code":-1003}"#.into())
                } else {
                    reply("binance", None, &s.path_and_query)
                }
            })
            .await,
        );
    }
    mocks
}

/// The tickers of the shipped `[assets]`, in file order.
pub fn assets() -> Vec<String> {
    let text = marketgate::config::DEFAULT_CONFIG;
    let table = text.split("\n[assets]\n").nth(1).unwrap_or_default();
    table
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.starts_with('#') && !k.is_empty())
        .collect()
}
