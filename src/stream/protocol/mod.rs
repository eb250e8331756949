//! The venues' stream protocols, as pure functions (no sockets): how a connection URL
//! is written, how SUBSCRIBE/UNSUBSCRIBE look, how a frame is read (data of which
//! stream, the answer to which request, a restart notice), and what keeps a quiet
//! connection alive.
//!
//! A stream is named as the machine and the topics know it. Binance names its own
//! (`btcusdt@trade`); the other venues subscribe to a channel of an instrument, named
//! here `<channel>:<instrument>` (`matches:BTC-USD`, `trade:BTC/USD`,
//! `trades:BTC-USDT`), which is also how their data frames are told apart.
//!
//! * [`binance`]: combined streams (`/stream?streams=a/b`, `{"stream":..,"data":..}`).
//! * [`coinbase`]: Coinbase Exchange's feed (`matches`, `ticker`).
//! * [`kraken`]: Kraken's v2 feed (`trade`, `ticker`).
//! * [`okx`]: OKX's public v5 feed (`trades`, `tickers`).

pub mod binance;
pub mod coinbase;
pub mod kraken;
pub mod okx;

use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::config::model::stream::Protocol;

/// A control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Add streams.
    Subscribe,
    /// Drop streams.
    Unsubscribe,
}

/// One market-data event of one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The stream it belongs to.
    pub stream: String,
    /// The event, as the channel's mapping reads it.
    pub data: serde_json::Value,
}

/// One message from the upstream.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// Market data (Kraken and OKX batch several events in one frame).
    Data(Vec<Event>),
    /// The answer to a control request: its id, or `None` where the venue's answers
    /// carry none and come in request order (Coinbase).
    Reply {
        /// The request's id.
        id: Option<u64>,
        /// The upstream's complaint, when it refused.
        error: Option<String>,
    },
    /// The venue refused something it does not tie to a request (logged).
    Refused(String),
    /// The upstream is about to restart the server behind this connection: replace it
    /// now (Binance's `serverShutdown`, OKX's notice 64008).
    Shutdown,
    /// A frame that only says the connection is alive (heartbeat, pong, status).
    Alive,
    /// Anything else (ignored, counted).
    Other,
}

/// What keeps a connection alive that might otherwise carry nothing for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// A WebSocket ping frame.
    Ping,
    /// An application-level text frame.
    Text(&'static str),
}

impl Protocol {
    /// The connection URL.
    pub fn url(self, base: &str, path: &str, streams: &[String]) -> String {
        match self {
            Self::Binance => binance::url(base, path, streams),
            _ => format!("{}{path}", base.trim_end_matches('/')),
        }
    }

    /// The frames of one control request (Kraken takes one channel per request).
    pub fn control(self, method: Method, streams: &[String], id: u64) -> Vec<String> {
        match self {
            Self::Binance => vec![binance::control(method, streams, id)],
            Self::Coinbase => vec![coinbase::control(method, streams)],
            Self::Kraken => kraken::control(method, streams, id),
            Self::Okx => vec![okx::control(method, streams, id)],
        }
    }

    /// Reads one text frame.
    pub fn parse(self, text: &str) -> Inbound {
        match self {
            Self::Binance => binance::parse(text),
            Self::Coinbase => coinbase::parse(text),
            Self::Kraken => kraken::parse(text),
            Self::Okx => okx::parse(text),
        }
    }

    /// What to send, and how often, so that a quiet connection is not cut: OKX cuts a
    /// connection that pushed nothing for 30 s unless it is sent `ping`; Coinbase
    /// sends nothing for a pair that does not trade. Binance pings the client itself,
    /// and Kraken sends a heartbeat every second.
    pub fn keepalive(self) -> Option<(Duration, Keepalive)> {
        match self {
            Self::Binance | Self::Kraken => None,
            Self::Coinbase => Some((Duration::from_secs(20), Keepalive::Ping)),
            Self::Okx => Some((Duration::from_secs(20), Keepalive::Text("ping"))),
        }
    }
}

/// `matches:BTC-USD` -> (`matches`, `BTC-USD`).
fn split(stream: &str) -> Option<(&str, &str)> {
    stream.split_once(':')
}

/// The instruments of each channel among `streams`, channels in name order and
/// instruments in the order given.
fn by_channel(streams: &[String]) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (channel, id) in streams.iter().filter_map(|s| split(s)) {
        out.entry(channel).or_default().push(id);
    }
    out
}

/// The events of a frame that batches several of one channel (Kraken, OKX), each
/// named by its instrument (`instrument` reads it off the event, or `None`: skipped).
fn batch(
    channel: &str,
    data: Vec<serde_json::Value>,
    instrument: impl Fn(&serde_json::Value) -> Option<String>,
) -> Inbound {
    let events: Vec<Event> = data
        .into_iter()
        .filter_map(|data| Some(Event { stream: format!("{channel}:{}", instrument(&data)?), data }))
        .collect();
    if events.is_empty() { Inbound::Other } else { Inbound::Data(events) }
}

/// Reads a JSON text frame into `T`, or `None`.
fn json<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
pub(crate) fn fixture(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_each_venue_s_case_and_templates_are_checked() {
        assert_eq!(Protocol::Binance.stream_name("{id}@trade", "BTCUSDT", None), "btcusdt@trade");
        assert_eq!(Protocol::Coinbase.stream_name("matches:{id}", "BTC-USD", None), "matches:BTC-USD");
        assert_eq!(Protocol::Binance.stream_name("{id}@kline_{interval}", "BTCUSDT", Some("1m")), "btcusdt@kline_1m");
        assert!(Protocol::Okx.check_template("{id}@trade").unwrap_err().contains("trades:{id}"));
        assert!(Protocol::Kraken.check_template("trade:{id}").is_ok());
        assert!("ftx".parse::<Protocol>().unwrap_err().contains("binance, coinbase, kraken, okx"));
        assert_eq!(Protocol::Kraken.url("wss://ws.kraken.com/", "/v2", &[]), "wss://ws.kraken.com/v2");
    }
}
