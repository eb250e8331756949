//! Binance's combined-stream protocol (binance-spot-api-docs, web-socket-streams.md):
//! `<host>/stream?streams=a/b` opens a connection already subscribed to `a` and `b`;
//! `{"method":"SUBSCRIBE","params":[...],"id":n}` adds streams and is answered
//! `{"result":null,"id":n}` (or `{"error":{...},"id":n}`); data arrives as
//! `{"stream":"btcusdt@trade","data":{...}}`. Pure functions, no sockets.

use serde::Deserialize;

use super::{Event, Inbound, Method};

#[derive(Deserialize)]
struct Frame {
    stream: Option<String>,
    data: Option<serde_json::Value>,
    id: Option<u64>,
    error: Option<serde_json::Value>,
    /// The event type of a raw (not combined) event.
    e: Option<String>,
}

/// The event type of the shutdown notice: Binance is about to restart the server
/// behind this connection (`{"stream":"!serverShutdown","data":{"e":"serverShutdown",
/// "E":...}}`, since 2026-05: "establish a new connection as soon as possible").
const SHUTDOWN: &str = "serverShutdown";

/// The control request text.
pub fn control(method: Method, streams: &[String], id: u64) -> String {
    let method = match method {
        Method::Subscribe => "SUBSCRIBE",
        Method::Unsubscribe => "UNSUBSCRIBE",
    };
    serde_json::json!({"method": method, "params": streams, "id": id}).to_string()
}

/// The connection URL: `base` + `path` + `?streams=a/b` (at least one stream: Binance
/// refuses a combined connection without any).
pub fn url(base: &str, path: &str, streams: &[String]) -> String {
    format!("{}{}?streams={}", base.trim_end_matches('/'), path, streams.join("/"))
}

/// Reads one text frame. Bodies are parsed by serde_json (bounded recursion).
pub fn parse(text: &str) -> Inbound {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        return Inbound::Other;
    };
    let shutdown = |data: &serde_json::Value| data.get("e").and_then(|e| e.as_str()) == Some(SHUTDOWN);
    match frame {
        Frame { e: Some(e), .. } if e == SHUTDOWN => Inbound::Shutdown,
        Frame { stream: Some(stream), data: Some(data), .. } if stream == "!serverShutdown" || shutdown(&data) => {
            Inbound::Shutdown
        }
        Frame { stream: Some(stream), data: Some(data), .. } => Inbound::Data(vec![Event { stream, data }]),
        Frame { id: Some(id), error, .. } => Inbound::Reply { id: Some(id), error: error.map(|e| e.to_string()) },
        _ => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        super::super::fixture("binance_ws", name)
    }

    #[test]
    fn recorded_trade_frames_are_data_of_their_stream() {
        for line in fixture("combined_trade_btcusdt.jsonl").lines() {
            match parse(line) {
                Inbound::Data(events) => {
                    assert_eq!(events.len(), 1);
                    assert_eq!(events[0].stream, "btcusdt@trade");
                    assert_eq!(events[0].data["s"], "BTCUSDT");
                }
                other => panic!("not data: {other:?}"),
            }
        }
    }

    #[test]
    fn recorded_replies_carry_their_id() {
        assert_eq!(parse(&fixture("subscribe_response_id2.json")), Inbound::Reply { id: Some(2), error: None });
        assert_eq!(parse(&fixture("subscribe_response_docsample.json")), Inbound::Reply { id: Some(1), error: None });
        let err = parse(r#"{"error":{"code":2,"msg":"Invalid request"},"id":4}"#);
        assert!(matches!(err, Inbound::Reply { id: Some(4), error: Some(e) } if e.contains("Invalid request")));
        assert_eq!(parse("not json"), Inbound::Other);
    }

    #[test]
    fn the_shutdown_notice_is_read_in_both_recorded_forms() {
        assert_eq!(parse(fixture("combined_server_shutdown_docsample.json").trim()), Inbound::Shutdown);
        assert_eq!(parse(fixture("raw_server_shutdown_docsample.json").trim()), Inbound::Shutdown);
    }

    #[test]
    fn requests_and_urls_have_the_documented_shape() {
        let streams = vec!["btcusdt@trade".to_owned(), "ethusdt@ticker".to_owned()];
        let v: serde_json::Value = serde_json::from_str(&control(Method::Subscribe, &streams, 3)).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@ticker"], "id": 3})
        );
        assert_eq!(
            url("wss://stream.binance.com:9443/", "/stream", &streams),
            "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@ticker"
        );
    }
}
