//! The HTTP side of `/v1/stream`: reads the query, joins the hub, and answers with a
//! WebSocket (when the client asks to upgrade) or a Server-Sent Events body.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::JoinError;
use super::client::ClientRx;
use super::driver::Topic;
use super::fallback;
use super::listing::Verdict;
use super::message::{Channel, Status};
use super::naming::NoStream;
use crate::body::{Body, BoxError};
use crate::config::model::stream::StreamRoute;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::Gateway;
use crate::normalize::params::{self, ParamError};
use crate::server::ConnSlot;
use crate::shutdown::stopped;
use crate::snapshot::Snapshot;

/// A keep-alive comment goes to an SSE client after this long without a message.
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);
/// A WebSocket client is pinged this often.
const WS_PING: Duration = Duration::from_secs(20);
/// Longest a join waits for the REST fallback to say whether its pairs are listed.
const LISTED_CHECK: Duration = Duration::from_secs(1);

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// Canonical tickers.
    pub symbols: Vec<String>,
    /// Channels.
    pub channels: Vec<Channel>,
    /// Quote currency.
    pub vs: String,
    /// Candle interval (`channels=candles`; default 1m).
    pub interval: crate::normalize::op::Interval,
    /// Book levels a side (`channels=book`; default 20, at most 1000).
    pub depth: usize,
}

/// Book levels a side when `depth` is not given.
pub const DEFAULT_DEPTH: usize = 20;
/// Most book levels a side.
pub const MAX_DEPTH: usize = 1000;

/// Serves one `/v1/stream` request.
pub async fn serve(
    gw: &Arc<Gateway>,
    hub: &Arc<super::Hub>,
    snap: &Arc<Snapshot>,
    route: &StreamRoute,
    mut req: Request<Incoming>,
    peer: std::net::IpAddr,
) -> Result<Response<Body>, ProxyError> {
    if req.method() != Method::GET {
        let mut resp = ProxyError::new(ErrorKind::MethodNotAllowed, "the stream route answers GET").into_response();
        resp.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static("GET"));
        return Ok(resp);
    }
    let bad = |e: ParamError| ProxyError::new(ErrorKind::BadRequest, e.to_string());
    let ask = parse(req.uri().query(), snap.config.server.max_query_params, route.max_symbols).map_err(bad)?;
    let provider = snap.config.provider(&route.provider);
    let Some((provider, cfg)) = provider.and_then(|p| p.stream.clone().map(|s| (p, s))) else {
        let msg = format!("provider {:?} has no stream configured", route.provider);
        return Err(ProxyError::new(ErrorKind::NoProviderAvailable, msg));
    };
    let mut topics = Vec::new();
    for symbol in &ask.symbols {
        for &channel in &ask.channels {
            let t = super::naming::topic(&snap.config, provider, &cfg, symbol, &ask.vs, channel, ask.interval)
                .map(|t| Topic { depth: if channel == Channel::Book { ask.depth } else { 0 }, ..t });
            topics.push(t.map_err(|e| {
                let kind = match e {
                    NoStream::Unknown { .. } => ErrorKind::UnknownSymbol,
                    NoStream::NoChannel { .. } => ErrorKind::BadRequest,
                };
                ProxyError::new(kind, e.to_string())
            })?);
        }
    }
    // A pair the provider does not list would subscribe without complaint and then
    // stay silent for ever: its own list first (one request per 10 minutes for every
    // join), the REST fallback when there is no list to go by.
    let verdict = match &cfg.listed {
        Some(listed) => {
            let mut ids: Vec<String> = topics.iter().map(|t| t.id.clone()).collect();
            ids.dedup();
            hub.listings.check(gw, &provider.name, listed, &ids, LISTED_CHECK).await
        }
        None => Verdict::Unknown("no list configured".into()),
    };
    match verdict {
        Verdict::Listed => {}
        Verdict::Unlisted(ids) => return Err(unlisted(&provider.name, &topics, &ids, route.fallback.as_deref())),
        Verdict::Unknown(_) => {
            if let Some(path) = &route.fallback {
                let checks = ask.symbols.iter().map(|s| fallback::check_listed(gw, path, s, &ask.vs, LISTED_CHECK));
                futures_util::future::try_join_all(checks).await?;
            }
        }
    }
    let unavailable = |e: JoinError| match e {
        JoinError::Full(why) => ProxyError::new(ErrorKind::NoProviderAvailable, why),
        JoinError::Busy(why) => ProxyError::new(ErrorKind::TooManyRequests, why),
    };
    let joiner = Some((peer, route.max_clients_per_address));
    if let Some(key) = websocket_key(&req) {
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let rx = hub.join(gw, &cfg, route, topics, "ws", joiner).await.map_err(unavailable)?;
        let upgrade = hyper::upgrade::on(&mut req);
        let slot = req.extensions().get::<ConnSlot>().cloned();
        let send_timeout = snap.config.server.idle_timeout;
        let stop = gw.stop_signal();
        tokio::spawn(async move {
            let _slot = slot;
            match upgrade.await {
                Ok(io) => {
                    // Clients send little (pongs, a close): a 4 KiB read buffer instead
                    // of tungstenite's 128 KiB, which is allocated for each connection.
                    let config = WebSocketConfig::default().max_message_size(Some(64 << 10)).read_buffer_size(4 << 10);
                    let ws = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config)).await;
                    pump_ws(ws, rx, send_timeout, stop).await;
                }
                Err(e) => tracing::debug!(error = %e, "stream client upgrade did not complete"),
            }
        });
        let mut resp = Response::new(crate::body::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(SEC_WEBSOCKET_ACCEPT, v);
        }
        return Ok(resp);
    }
    let rx = hub.join(gw, &cfg, route, topics, "sse", joiner).await.map_err(unavailable)?;
    let mut resp = Response::new(sse_body(rx, gw.stop_signal()));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(resp)
}

/// The 400 for pairs the stream provider does not carry, naming each and where else
/// the pair's ticker may be had.
fn unlisted(provider: &str, topics: &[Topic], ids: &[String], fallback: Option<&str>) -> ProxyError {
    let mut pairs: Vec<String> = Vec::new();
    for t in topics.iter().filter(|t| ids.iter().any(|id| id.eq_ignore_ascii_case(&t.id))) {
        let pair = format!("{}/{} ({})", t.symbol, t.vs, t.id);
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    let mut msg = format!("unknown symbol: {provider}'s stream does not carry {}", pairs.join(", "));
    if let Some(path) = fallback {
        msg.push_str(&format!("; {path} may still answer for it from other providers"));
    }
    ProxyError::new(ErrorKind::UnknownSymbol, msg)
}

/// Reads `symbols`, `channels` (default both) and `vs` (default USD); anything else is
/// refused by name.
pub fn parse(query: Option<&str>, max_params: usize, max_symbols: usize) -> Result<Ask, ParamError> {
    let pairs = params::decode_query(query, max_params)?;
    let get = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_ref());
    if let Some((name, _)) = pairs.iter().find(|(n, _)| !super::PARAMS.contains(&n.as_ref())) {
        return Err(ParamError {
            param: name.chars().take(40).collect(),
            message: format!("is not a parameter of this route (it takes {})", super::PARAMS.join(", ")),
        });
    }
    let symbols = params::symbols(get("symbols"), "symbols")?;
    if symbols.len() > max_symbols {
        let message = format!("asks for {} symbols; at most {max_symbols} per stream client", symbols.len());
        return Err(ParamError { param: "symbols".into(), message });
    }
    let mut channels = Vec::new();
    for name in get("channels").map(str::trim).filter(|c| !c.is_empty()).unwrap_or("trades,ticker").split(',') {
        let c: Channel = name.trim().parse().map_err(|message| ParamError { param: "channels".into(), message })?;
        if !channels.contains(&c) {
            channels.push(c);
        }
    }
    let interval = match get("interval").map(str::trim).filter(|i| !i.is_empty()) {
        None => crate::normalize::op::Interval::M1,
        Some(text) => text.parse().map_err(|e: crate::normalize::op::UnknownName| ParamError {
            param: "interval".into(),
            message: e.to_string(),
        })?,
    };
    if get("interval").is_some() && !channels.contains(&Channel::Candles) {
        let message = "applies to channels=candles only".to_owned();
        return Err(ParamError { param: "interval".into(), message });
    }
    let depth = match get("depth").map(str::trim) {
        None => DEFAULT_DEPTH,
        Some(_) if !channels.contains(&Channel::Book) => {
            return Err(ParamError { param: "depth".into(), message: "applies to channels=book only".into() });
        }
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_DEPTH).contains(&n) => n,
            _ => {
                let message = format!("must be a whole number from 1 to {MAX_DEPTH}, got {text:?}");
                return Err(ParamError { param: "depth".into(), message });
            }
        },
    };
    Ok(Ask { symbols, channels, vs: params::vs(get("vs"))?, interval, depth })
}

/// The `Sec-WebSocket-Key` of a WebSocket upgrade request of version 13 (RFC 6455 §4.2.1).
fn websocket_key<B>(req: &Request<B>) -> Option<HeaderValue> {
    let version = req.headers().get("sec-websocket-version").is_some_and(|v| v.as_bytes() == b"13");
    (crate::headers::asks_websocket(req) && version).then(|| req.headers().get(SEC_WEBSOCKET_KEY).cloned())?
}

/// One `data: {json}` event per message, and a comment line when nothing came for a
/// while. On shutdown a last `closing` status, then the body ends cleanly, so an
/// `EventSource` reconnects (to another replica) instead of seeing a cut connection.
fn sse_body(rx: ClientRx, stop: watch::Receiver<bool>) -> Body {
    let events = futures_util::stream::unfold((Some(rx), stop), |(rx, mut stop)| async move {
        let mut rx = rx?;
        let msg = tokio::select! {
            () = stopped(&mut stop) => return Some((Ok(Frame::data(sse_event(&closing()))), (None, stop))),
            next = tokio::time::timeout(SSE_KEEPALIVE, rx.next()) => next,
        };
        let frame = match msg {
            Ok(Some(msg)) => sse_event(&msg),
            Ok(None) => return None,
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok::<_, BoxError>(Frame::data(frame)), (Some(rx), stop)))
    });
    BodyExt::boxed(http_body_util::StreamBody::new(events))
}

fn sse_event(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(msg.len() + 8);
    b.put_slice(b"data: ");
    b.put_slice(msg);
    b.put_slice(b"\n\n");
    b.freeze()
}

/// The last message of a stream whose instance shuts down.
fn closing() -> Bytes {
    Status::Closing.encode("marketgate is shutting down: reconnect", crate::calendar::now_ms())
}

/// Writes the client's messages as text frames; reads (and ignores) what the client
/// sends, so pings are answered and a close is seen; pings the client now and then. A
/// send that does not finish within `send_timeout` (a client that stopped reading)
/// ends the connection. On shutdown the client gets a `closing` status and a close
/// frame with code 1001 (going away).
async fn pump_ws<S>(
    mut ws: WebSocketStream<S>,
    mut rx: ClientRx,
    send_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ping = tokio::time::interval(WS_PING);
    ping.tick().await;
    let mut close = None;
    loop {
        let out = tokio::select! {
            () = stopped(&mut stop) => {
                close = Some(CloseFrame { code: CloseCode::Away, reason: "marketgate is shutting down".into() });
                match Utf8Bytes::try_from(closing()) {
                    Ok(text) => Message::Text(text),
                    Err(_) => break,
                }
            },
            msg = rx.next() => match msg {
                // The encoded message is shared by every client: no copy, a UTF-8 check.
                Some(bytes) => match Utf8Bytes::try_from(bytes) {
                    Ok(text) => Message::Text(text),
                    Err(_) => continue,
                },
                None => break,
            },
            incoming = ws.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => Message::Ping(Bytes::new()),
        };
        match tokio::time::timeout(send_timeout, ws.send(out)).await {
            Ok(Ok(())) if close.is_none() => {}
            _ => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(close)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_what_is_wrong() {
        let ask = parse(Some("symbols=btc,eth,BTC&channels=trades"), 32, 50).expect("valid");
        assert_eq!(
            ask,
            Ask {
                symbols: vec!["BTC".into(), "ETH".into()],
                channels: vec![Channel::Trades],
                vs: "USD".into(),
                interval: crate::normalize::op::Interval::M1,
                depth: DEFAULT_DEPTH
            }
        );
        assert_eq!(parse(Some("symbols=BTC"), 32, 50).expect("valid").channels, vec![Channel::Trades, Channel::Ticker]);
        let e = parse(Some("symbols=BTC&channels=books"), 32, 50).unwrap_err();
        assert_eq!(e.param, "channels");
        assert!(parse(None, 32, 50).unwrap_err().to_string().contains("symbols"));
        assert_eq!(parse(Some("symbols=BTC&interval=1m"), 32, 50).unwrap_err().param, "interval");
        assert_eq!(parse(Some("symbols=A,B,C"), 32, 2).unwrap_err().param, "symbols");
        assert_eq!(parse(Some("symbols=BTC&vs=U$D"), 32, 50).unwrap_err().param, "vs");
        assert_eq!(parse(Some("symbols=BTC&channels=book&depth=5"), 32, 50).expect("valid").depth, 5);
        assert_eq!(parse(Some("symbols=BTC&channels=book&depth=x"), 32, 50).unwrap_err().param, "depth");
    }
}
