//! Kraken's v2 feed (`wss://ws.kraken.com/v2`, docs.kraken.com spot-websocket-v2):
//! `{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":n}`
//! takes one channel per request and is answered per symbol with the same `req_id`;
//! data frames are `{"channel":"trade","type":"update","data":[{"symbol":..},..]}`, several
//! events in one frame. A trade's `side` is the taker's. Trades are subscribed without
//! the snapshot of the last 50 (history, not news); a heartbeat comes every second.

use serde::Deserialize;

use super::{Inbound, Method, by_channel};

/// The request frames, one per channel.
pub fn control(method: Method, streams: &[String], id: u64) -> Vec<String> {
    let kind = match method {
        Method::Subscribe => "subscribe",
        Method::Unsubscribe => "unsubscribe",
    };
    by_channel(streams)
        .into_iter()
        .map(|(channel, symbols)| {
            let mut params = serde_json::json!({"channel": channel, "symbol": symbols});
            if method == Method::Subscribe && channel == "trade" {
                params["snapshot"] = false.into();
            }
            serde_json::json!({"method": kind, "params": params, "req_id": id}).to_string()
        })
        .collect()
}

#[derive(Deserialize)]
struct Frame {
    channel: Option<String>,
    #[serde(default)]
    data: Vec<serde_json::Value>,
    method: Option<String>,
    req_id: Option<u64>,
    success: Option<bool>,
    error: Option<String>,
}

/// Reads one frame.
pub fn parse(text: &str) -> Inbound {
    let Some(frame) = super::json::<Frame>(text) else { return Inbound::Other };
    if let Some(method) = frame.method.as_deref() {
        return match method {
            "subscribe" | "unsubscribe" => {
                let error =
                    (frame.success == Some(false)).then(|| frame.error.unwrap_or_else(|| format!("{method} failed")));
                match frame.req_id {
                    Some(id) => Inbound::Reply { id: Some(id), error },
                    None => error.map_or(Inbound::Other, Inbound::Refused),
                }
            }
            "pong" => Inbound::Alive,
            _ => Inbound::Other,
        };
    }
    match frame.channel.as_deref() {
        Some("heartbeat" | "status") => Inbound::Alive,
        Some(channel @ ("trade" | "ticker")) => {
            super::batch(channel, frame.data, |d| d.get("symbol")?.as_str().map(str::to_owned))
        }
        _ => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        super::super::fixture("kraken_ws", name)
    }

    #[test]
    fn a_recorded_session_is_status_ack_heartbeats_and_batched_trades() {
        let session = fixture("v2_session_trade_btc-usd_2024-07-27.jsonl");
        let read: Vec<Inbound> = session.lines().map(parse).collect();
        assert_eq!(read[0], Inbound::Alive, "the status frame");
        assert!(matches!(read[1], Inbound::Other), "an ack without req_id and without complaint");
        let trades: Vec<&super::super::Event> =
            read.iter().filter_map(|i| if let Inbound::Data(e) = i { Some(e) } else { None }).flatten().collect();
        assert!(!trades.is_empty());
        assert!(trades.iter().all(|e| e.stream == "trade:BTC/USD"));
        let both = fixture("v2_ticker_trade_btc-usd_2026-09-04.jsonl");
        let batched = both.lines().map(parse).find_map(|i| match i {
            Inbound::Data(e) if e.len() > 1 => Some(e),
            _ => None,
        });
        assert_eq!(batched.map(|e| e.len()), Some(2), "two trades in one frame are two events");
        assert!(both.lines().map(parse).any(|i| matches!(&i, Inbound::Data(e) if e[0].stream == "ticker:BTC/USD")));
    }

    #[test]
    fn acks_answer_their_request() {
        let ack = parse(fixture("v2_subscribe_ack_trade_btc-usd_2024-05-19.json").trim());
        assert_eq!(ack, Inbound::Reply { id: Some(0), error: None });
        let refused =
            parse(r#"{"error":"Currency pair not supported FOO/USD","method":"subscribe","req_id":7,"success":false}"#);
        assert!(matches!(refused, Inbound::Reply { id: Some(7), error: Some(e) } if e.contains("FOO/USD")));
        assert_eq!(parse(fixture("v2_pong_2024-09-10.json").trim()), Inbound::Alive);
        assert_eq!(parse(fixture("v2_heartbeat.json").trim()), Inbound::Alive);
    }

    #[test]
    fn requests_take_one_channel_each_and_trades_skip_the_snapshot() {
        let streams = ["trade:BTC/USD", "ticker:BTC/USD", "trade:ETH/USD"].map(str::to_owned);
        let frames = control(Method::Subscribe, &streams, 3);
        let v: Vec<serde_json::Value> = frames.iter().map(|f| serde_json::from_str(f).expect("json")).collect();
        assert_eq!(
            v[0],
            serde_json::json!({"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}, "req_id": 3})
        );
        assert_eq!(
            v[1],
            serde_json::json!({"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"], "snapshot": false}, "req_id": 3})
        );
        let recorded: serde_json::Value =
            serde_json::from_str(&fixture("v2_subscribe_request_trade_btc-usd.json")).expect("json");
        assert_eq!(recorded["params"]["channel"], v[1]["params"]["channel"]);
    }
}
