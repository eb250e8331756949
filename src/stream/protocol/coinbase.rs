//! Coinbase Exchange's market-data feed (`wss://ws-feed.exchange.coinbase.com`,
//! docs.cdp.coinbase.com /exchange/websocket-feed): `{"type":"subscribe","channels":
//! [{"name":"matches","product_ids":["BTC-USD"]}]}` is answered by one
//! `{"type":"subscriptions",...}` per request, in order and without an id; data frames
//! carry their `type` and `product_id`. A `match`'s `side` is the **maker's** side
//! (the mapping turns it over); `last_match`, the trade before the subscription, is
//! history and not passed on.

use serde::Deserialize;

use super::{Event, Inbound, Method, by_channel};

/// The request frame.
pub fn control(method: Method, streams: &[String]) -> String {
    let kind = match method {
        Method::Subscribe => "subscribe",
        Method::Unsubscribe => "unsubscribe",
    };
    let channels: Vec<serde_json::Value> = by_channel(streams)
        .into_iter()
        .map(|(name, ids)| serde_json::json!({"name": name, "product_ids": ids}))
        .collect();
    serde_json::json!({"type": kind, "channels": channels}).to_string()
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    product_id: Option<String>,
    reason: Option<String>,
    message: Option<String>,
}

/// Reads one frame.
pub fn parse(text: &str) -> Inbound {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return Inbound::Other };
    let Ok(head) = Head::deserialize(&value) else { return Inbound::Other };
    let channel = match head.kind.as_str() {
        "match" => "matches",
        "ticker" => "ticker",
        "subscriptions" => return Inbound::Reply { id: None, error: None },
        "error" => {
            let why = [head.message, head.reason].into_iter().flatten().collect::<Vec<_>>().join(": ");
            return Inbound::Refused(why);
        }
        "heartbeat" | "last_match" => return Inbound::Alive,
        _ => return Inbound::Other,
    };
    match head.product_id {
        Some(id) => Inbound::Data(vec![Event { stream: format!("{channel}:{id}"), data: value }]),
        None => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        super::super::fixture("coinbase_ws", name)
    }

    #[test]
    fn recorded_matches_and_tickers_are_data_of_their_product() {
        for line in fixture("ticker_match_btc-usd_2026-09-04.jsonl").lines() {
            let Inbound::Data(events) = parse(line) else { continue };
            let kind = events[0].data["type"].as_str().unwrap_or_default().to_owned();
            let want = if kind == "match" { "matches:BTC-USD" } else { "ticker:BTC-USD" };
            assert_eq!(events[0].stream, want);
        }
        let mut lines = fixture("matches_skl-usd_2021-04-17.jsonl").lines().map(parse).collect::<Vec<_>>().into_iter();
        assert_eq!(lines.next(), Some(Inbound::Alive), "the last_match is history");
        assert!(lines.all(|i| matches!(&i, Inbound::Data(e) if e[0].stream == "matches:SKL-USD")));
    }

    #[test]
    fn replies_come_in_order_and_errors_are_refusals() {
        for line in fixture("subscriptions_replies_2021-04-17.jsonl").lines() {
            assert_eq!(parse(line), Inbound::Reply { id: None, error: None });
        }
        let recorded = fixture("error_then_subscriptions_sandbox_2022-01-17.jsonl");
        let mut it = recorded.lines().map(parse);
        assert!(matches!(it.next(), Some(Inbound::Refused(why)) if why.contains("ETH-USD is not a valid product")));
        assert_eq!(it.next(), Some(Inbound::Reply { id: None, error: None }));
        assert_eq!(parse(fixture("heartbeat_docsample.json").trim()), Inbound::Alive);
    }

    #[test]
    fn a_request_groups_products_by_channel_as_the_docs_show() {
        let streams = ["matches:BTC-USD", "ticker:ETH-USD", "matches:ETH-USD"].map(str::to_owned);
        let v: serde_json::Value = serde_json::from_str(&control(Method::Subscribe, &streams)).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"type": "subscribe", "channels": [
                {"name": "matches", "product_ids": ["BTC-USD", "ETH-USD"]},
                {"name": "ticker", "product_ids": ["ETH-USD"]}]})
        );
        assert!(control(Method::Unsubscribe, &streams).starts_with(r#"{"channels""#));
    }
}
