//! The validated stream settings: a provider's `[providers.<name>.stream]` (hosts,
//! channels, the limits its connection machine keeps) and a stream route's options.

use std::collections::BTreeMap;
use std::time::Duration;

use std::fmt;
use std::str::FromStr;

use crate::normalize::jq::JqProgram;

/// A channel a client can ask for (`channels=trades,ticker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every trade.
    Trades,
    /// The rolling 24 h ticker.
    Ticker,
    /// Candles of one interval as they form (`channels=candles&interval=1m`).
    Candles,
    /// The order book, kept in sync locally (`channels=book&depth=20`).
    Book,
}

/// Which venue's protocol a stream speaks (`protocol = "coinbase"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Binance's combined streams.
    #[default]
    Binance,
    /// Coinbase Exchange.
    Coinbase,
    /// Kraken v2.
    Kraken,
    /// OKX v5 public.
    Okx,
}

impl Protocol {
    /// Every protocol, in documentation order.
    pub const ALL: [Protocol; 4] = [Protocol::Binance, Protocol::Coinbase, Protocol::Kraken, Protocol::Okx];

    /// The name in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Coinbase => "coinbase",
            Self::Kraken => "kraken",
            Self::Okx => "okx",
        }
    }

    /// Whether a connection's first streams go in its URL (Binance); the others
    /// subscribe after the handshake.
    pub fn streams_in_url(self) -> bool {
        self == Self::Binance
    }

    /// The stream of `id` on a channel's name template: Binance's names are lower
    /// case (`{id}@trade`); the others keep the venue's instrument id as it is
    /// (`matches:{id}` -> `matches:BTC-USD`).
    pub fn stream_name(self, template: &str, id: &str, interval: Option<&str>) -> String {
        let id = if self == Self::Binance { id.to_ascii_lowercase() } else { id.to_owned() };
        let name = template.replace("{id}", &id);
        match interval {
            Some(i) => name.replace("{interval}", i),
            None => name,
        }
    }

    /// What a channel's name template must look like, when it does not.
    pub fn check_template(self, template: &str) -> Result<(), String> {
        if !template.contains("{id}") {
            return Err("must contain {id}, e.g. \"{id}@trade\"".into());
        }
        if self != Self::Binance && !template.ends_with(":{id}") {
            return Err(format!("a {} stream is named <channel>:{{id}}, e.g. \"{}\"", self.as_str(), self.example()));
        }
        Ok(())
    }

    fn example(self) -> &'static str {
        match self {
            Self::Binance => "{id}@trade",
            Self::Coinbase => "matches:{id}",
            Self::Kraken => "trade:{id}",
            Self::Okx => "trades:{id}",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
            format!("unknown protocol {s:?}; protocols are {}", names.join(", "))
        })
    }
}

/// The limits the machine keeps (from `[providers.<name>.stream]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// How control messages are written and whether streams go in the connect URL.
    pub protocol: Protocol,
    /// Streams one connection may carry (Binance: 1024).
    pub max_streams: usize,
    /// Shortest spacing of control messages on one connection (Binance counts at most
    /// 5 incoming messages a second, pongs included).
    pub control_interval: Duration,
    /// Streams per SUBSCRIBE/UNSUBSCRIBE message.
    pub batch: usize,
    /// Streams put into the connect URL (0 when the protocol subscribes only after
    /// the handshake).
    pub url_streams: usize,
    /// Connection attempts allowed per `connect_window` (Binance: 300 per 5 min per IP).
    pub connects: usize,
    /// See `connects`.
    pub connect_window: Duration,
    /// When a connection is replaced (Binance cuts connections at 24 h).
    pub lifetime: Duration,
    /// How long the old connection stays after its replacement is subscribed.
    pub overlap: Duration,
    /// How long without a subscribed connection before clients are served from REST.
    pub fallback_after: Duration,
    /// Longest wait between failed connection attempts.
    pub max_backoff: Duration,
}

/// A provider's combined-stream endpoint.
#[derive(Debug)]
pub struct StreamConfig {
    /// Hosts in rotation order.
    pub hosts: Vec<StreamHost>,
    /// Path of the combined endpoint (`/stream`).
    pub path: String,
    /// What each channel subscribes to and how its events map.
    pub channels: BTreeMap<Channel, StreamChannel>,
    /// What the connection state machine keeps to.
    pub limits: Limits,
    /// Handshake timeout.
    pub connect_timeout: Duration,
    /// Longest quiet time of a live connection.
    pub silence: Duration,
    /// Messages queued per client.
    pub client_queue: usize,
    /// Where the provider lists the pairs its stream carries.
    pub listed: Option<std::sync::Arc<Listed>>,
    /// The venue's protocol.
    pub protocol: Protocol,
    /// Upstream connections the stream may use at once (each carries `max_streams`).
    pub max_connections: usize,
    /// How the stream names a pair when its REST ids differ (Kraken's `BTC/USD`, not
    /// `XXBTZUSD`): `{BASE}` and `{QUOTE}` are the canonical ticker and the quote.
    pub id_format: Option<String>,
}

/// A provider's list of the pairs its stream carries (`listed`).
#[derive(Debug)]
pub struct Listed {
    /// Path and query on the provider's REST hosts.
    pub path: String,
    /// Body -> the ids.
    pub ids: JqProgram,
    /// How long a list is kept.
    pub every: Duration,
    /// Quota weight.
    pub weight: u32,
}

/// One `ws://` or `wss://` host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHost {
    /// `wss://host:port` (no path).
    pub base: String,
    /// TLS (`wss`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (default 443 for wss, 80 for ws).
    pub port: u16,
}

/// One channel of a provider's stream.
#[derive(Debug)]
pub struct StreamChannel {
    /// Stream name template (`{id}@trade`).
    pub name: String,
    /// Event -> message fields.
    pub mapping: JqProgram,
    /// Longest silence of one topic while its connection is up.
    pub quiet: Duration,
    /// Book channels: where the REST snapshot comes from.
    pub snapshot: Option<BookSnapshot>,
}

/// Where a book channel's REST snapshot comes from (`snapshot = { path, mapping }`).
#[derive(Debug)]
pub struct BookSnapshot {
    /// Path and query on the provider's REST hosts, `{id}` the pair's REST id.
    pub path: String,
    /// Body -> `{last, bids, asks}`.
    pub mapping: JqProgram,
    /// Quota weight of one snapshot.
    pub weight: u32,
}

/// A `/v1/stream` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRoute {
    /// The provider whose stream serves it.
    pub provider: String,
    /// The providers whose streams serve it, in turn, while this one's hosts are all
    /// refused or down (`stream = ["binance", "coinbase", ...]`).
    pub then: Vec<String>,
    /// The normalized ticker route polled while the stream is down.
    pub fallback: Option<String>,
    /// How often the fallback is polled.
    pub poll: Duration,
    /// Most symbols per client.
    pub max_symbols: usize,
    /// Most stream clients one client address may hold at once.
    pub max_clients_per_address: usize,
}

// === impl Channel ===

impl Channel {
    /// Every channel, in documentation order.
    pub const ALL: [Channel; 4] = [Channel::Trades, Channel::Ticker, Channel::Candles, Channel::Book];

    /// The name in queries and config (`trades`, `ticker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::Ticker => "ticker",
            Self::Candles => "candles",
            Self::Book => "book",
        }
    }

    /// How long a topic of this channel may go without an event by default: Binance
    /// pushes a ticker every second; a quiet pair may not trade for minutes.
    pub fn default_quiet(self) -> Duration {
        match self {
            Self::Trades => Duration::from_secs(120),
            Self::Ticker => Duration::from_secs(5),
            // Binance pushes the forming candle every 2 s or so.
            Self::Candles => Duration::from_secs(10),
            // A diff-depth stream sends only when the book changes.
            Self::Book => Duration::from_secs(30),
        }
    }

    /// The `channel` field of its messages (`trade`, `ticker`).
    pub fn message(self) -> &'static str {
        match self {
            Self::Trades => "trade",
            Self::Ticker => "ticker",
            Self::Candles => "candle",
            Self::Book => "book",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown channel {s:?}; channels are {}", names.join(", "))
        })
    }
}

// === impl StreamHost ===

impl StreamRoute {
    /// The route as the next provider in turn serves it, if there is one.
    pub fn next(&self) -> Option<StreamRoute> {
        let (first, rest) = self.then.split_first()?;
        Some(StreamRoute { provider: first.clone(), then: rest.to_vec(), ..self.clone() })
    }
}

impl StreamConfig {
    /// The stream's id for `asset`/`vs` given its provider's REST id (`rest_id`):
    /// the REST id unless the stream writes ids its own way (`id_format`).
    pub fn id(&self, rest_id: String, asset: &str, quote: &str) -> String {
        match &self.id_format {
            Some(f) => f.replace("{BASE}", asset).replace("{QUOTE}", quote),
            None => rest_id,
        }
    }
}

impl StreamHost {
    /// Parses `ws[s]://host[:port]` (a path, query or credentials are refused).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(format!("{text:?} is not a ws:// or wss:// URL"));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!("{text:?} must be scheme://host[:port], without path, query or credentials"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p.parse::<u16>().map_err(|_| format!("{text:?} has a bad port {p:?}"))?;
                (h.to_owned(), port)
            }
            _ => (authority.to_owned(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        Ok(Self { base: format!("{}://{authority}", if tls { "wss" } else { "ws" }), tls, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_websocket_urls_without_paths() {
        let h = StreamHost::parse("wss://stream.binance.com:9443").expect("valid");
        assert_eq!((h.tls, h.host.as_str(), h.port), (true, "stream.binance.com", 9443));
        let h = StreamHost::parse("ws://127.0.0.1:8080/").expect("valid");
        assert_eq!((h.tls, h.base.as_str(), h.port), (false, "ws://127.0.0.1:8080", 8080));
        assert_eq!(StreamHost::parse("wss://data-stream.binance.vision").expect("valid").port, 443);
        assert!(StreamHost::parse("https://x").is_err());
        assert!(StreamHost::parse("wss://x/stream").is_err());
        assert!(StreamHost::parse("wss://user:pw@x").is_err());
        assert!(StreamHost::parse("wss://x:99999").is_err());
    }
}
