//! `[providers.<name>.stream]` as written in the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::Templated;
use crate::config::units::DurationStr;

/// `[providers.<name>.stream]`: a combined-stream WebSocket endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// `ws://` or `wss://` base URLs, tried in rotation.
    pub hosts: Spanned<Vec<Templated>>,
    /// Path of the combined endpoint (default `/stream`).
    pub path: Option<String>,
    /// Channel (`trades`, `ticker`) -> stream name template and jq mapping (required
    /// after an `extends` merge; an overlay may leave it to the base).
    #[serde(default)]
    pub channels: BTreeMap<String, StreamChannelSpec>,
    /// Streams one connection may carry (default 1024).
    pub max_streams: Option<usize>,
    /// Upstream connections the stream may use at once (default 4): when one is full,
    /// new streams go to another.
    pub max_connections: Option<usize>,
    /// Control messages per second sent on one connection (default 4; Binance allows 5
    /// incoming messages a second, pongs included).
    pub control_rate: Option<u32>,
    /// Connection attempts per window (default 300 per 5 min).
    pub connects: Option<ConnectsSpec>,
    /// Replace a connection after this long (default 23h; Binance cuts at 24h).
    pub lifetime: Option<DurationStr>,
    /// Old and new connection overlap this long at a replacement (default 10s).
    pub overlap: Option<DurationStr>,
    /// Serve tickers from REST after this long without a stream (default 2s).
    pub fallback_after: Option<DurationStr>,
    /// Handshake timeout (default: the provider's attempt timeout).
    pub connect_timeout: Option<DurationStr>,
    /// A connection that carries nothing (not even a ping) this long is dead (default 60s).
    pub silence: Option<DurationStr>,
    /// Messages queued per client before it loses some (default 1024).
    pub client_queue: Option<usize>,
    /// Where the provider's REST API lists the pairs its stream carries: a join for a
    /// pair it does not list is refused before the upgrade instead of subscribing to
    /// a stream that stays silent.
    pub listed: Option<ListedSpec>,
    /// The venue's protocol: `binance` (the default), `coinbase`, `kraken` or `okx`.
    pub protocol: Option<String>,
    /// How the stream names a pair when its REST ids differ (`"{BASE}/{QUOTE}"`).
    pub id_format: Option<String>,
}

/// `listed = { path = "/api/v3/ticker/price?symbolStatus=TRADING", ids = '[.[].symbol]' }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedSpec {
    /// Path and query on the provider's REST hosts.
    pub path: String,
    /// jq from the body to the list of ids the stream takes (`BTCUSDT`).
    pub ids: Spanned<String>,
    /// How long a list is kept (default 10m).
    pub every: Option<DurationStr>,
    /// Quota weight of the request (default 1).
    pub weight: Option<u32>,
}

/// `connects = { limit = 300, per = "5m" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectsSpec {
    /// Attempts.
    pub limit: u32,
    /// Window.
    pub per: DurationStr,
}

/// `trades = { name = "{id}@trade", mapping = '...' }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamChannelSpec {
    /// Stream name: Binance's `{id}@trade` (the id lower-cased), or
    /// `<channel>:{id}` for the other protocols (`matches:{id}`).
    pub name: String,
    /// jq from the event (`data` of a combined frame) to the channel's message fields.
    pub mapping: Spanned<String>,
    /// A topic with no event this long while its connection is up is silent: its
    /// clients are told and get tickers polled from REST until it speaks again
    /// (default 5s for ticker, which Binance pushes every second; 2m for trades).
    pub quiet: Option<DurationStr>,
    /// Book channels: the REST snapshot that starts (and restarts) the local book.
    pub snapshot: Option<SnapshotSpec>,
}

/// `snapshot = { path = "/api/v3/depth?symbol={id}&limit=1000", mapping = '...', weight = 50 }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    /// Path and query on the provider's REST hosts; `{id}` is the pair's REST id.
    pub path: String,
    /// jq from the body to `{last, bids: [[price, amount]], asks}`.
    pub mapping: Spanned<String>,
    /// Quota weight of one request (default 1).
    pub weight: Option<u32>,
}
