//! OKX's public v5 feed (`wss://ws.okx.com:8443/ws/v5/public`, okx.com/docs-v5
//! "WebSocket"): `{"id":"n","op":"subscribe","args":[{"channel":"trades","instId":
//! "BTC-USDT"}]}` is answered per argument by `{"id":"n","event":"subscribe","arg":..}`
//! or `{"event":"error","code":..,"msg":..}`; data frames are `{"arg":{..},"data":[..]}`.
//! A trade's `side` is the taker's. The connection is cut after 30 s without a push
//! unless the client sends the text `ping` (answered `pong`, not JSON); notice 64008
//! announces a restart ("The connection will soon be closed for a service upgrade").

use serde::Deserialize;

use super::{Inbound, Method, split};

/// The request frame (the id as a string of digits, as OKX takes it).
pub fn control(method: Method, streams: &[String], id: u64) -> String {
    let op = match method {
        Method::Subscribe => "subscribe",
        Method::Unsubscribe => "unsubscribe",
    };
    let args: Vec<serde_json::Value> = streams
        .iter()
        .filter_map(|s| split(s))
        .map(|(channel, inst)| serde_json::json!({"channel": channel, "instId": inst}))
        .collect();
    serde_json::json!({"id": id.to_string(), "op": op, "args": args}).to_string()
}

#[derive(Deserialize)]
struct Arg {
    channel: String,
    #[serde(rename = "instId")]
    inst_id: Option<String>,
}

#[derive(Deserialize)]
struct Frame {
    arg: Option<Arg>,
    data: Option<Vec<serde_json::Value>>,
    event: Option<String>,
    id: Option<String>,
    code: Option<String>,
    msg: Option<String>,
}

/// The notice code of a coming restart.
const RESTART_NOTICE: &str = "64008";

/// Reads one frame.
pub fn parse(text: &str) -> Inbound {
    if text.trim() == "pong" {
        return Inbound::Alive;
    }
    let Some(frame) = super::json::<Frame>(text) else { return Inbound::Other };
    let id = frame.id.as_deref().and_then(|i| i.parse::<u64>().ok());
    match (frame.event.as_deref(), frame.arg, frame.data) {
        (Some("subscribe" | "unsubscribe"), _, _) => Inbound::Reply { id, error: None },
        (Some("error"), _, _) => {
            let why = format!("{} {}", frame.code.unwrap_or_default(), frame.msg.unwrap_or_default());
            match id {
                Some(id) => Inbound::Reply { id: Some(id), error: Some(why) },
                None => Inbound::Refused(why),
            }
        }
        (Some("notice"), _, _) if frame.code.as_deref() == Some(RESTART_NOTICE) => Inbound::Shutdown,
        (Some(_), _, _) => Inbound::Alive,
        (None, Some(arg), Some(data)) => super::batch(&arg.channel, data, |d| {
            arg.inst_id.clone().or_else(|| d.get("instId")?.as_str().map(str::to_owned))
        }),
        _ => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        super::super::fixture("okx_ws", name)
    }

    #[test]
    fn recorded_pushes_are_data_of_their_instrument() {
        for line in fixture("trades_btc-usdt_2025-02-24.jsonl").lines() {
            assert!(matches!(parse(line), Inbound::Data(e) if e.len() == 1 && e[0].stream == "trades:BTC-USDT"));
        }
        let tickers = parse(fixture("tickers_btc-usdt_2026-06-14.json").trim());
        assert!(matches!(tickers, Inbound::Data(e) if e[0].stream == "tickers:BTC-USDT"));
    }

    #[test]
    fn replies_errors_notices_and_pongs() {
        assert_eq!(
            parse(fixture("subscribe_reply_docsample.json").trim()),
            Inbound::Reply { id: Some(1512), error: None }
        );
        for line in fixture("subscribe_event_replies_2022-05-13.jsonl").lines() {
            assert_eq!(parse(line), Inbound::Reply { id: None, error: None });
        }
        let failed = parse(fixture("error_60018_subscribe_failed_2026-10-02.json").trim());
        assert!(matches!(failed, Inbound::Refused(why) if why.starts_with("60018 Subscribe failed")));
        assert_eq!(parse(fixture("notice_64008_docsample.json").trim()), Inbound::Shutdown);
        assert_eq!(parse(fixture("pong_text_frame.txt").trim()), Inbound::Alive);
    }

    #[test]
    fn a_request_has_the_documented_shape() {
        let streams = ["tickers:BTC-USDT".to_owned()];
        let v: serde_json::Value = serde_json::from_str(&control(Method::Subscribe, &streams, 1512)).expect("json");
        let recorded: serde_json::Value =
            serde_json::from_str(&fixture("subscribe_request_docsample.json")).expect("json");
        assert_eq!(v, recorded);
    }
}
