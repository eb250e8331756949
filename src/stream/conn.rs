//! One upstream WebSocket connection as a task: TCP, TLS for `wss` (our rustls config,
//! ring provider), the handshake, all within a timeout; then text frames go to the
//! driver and the driver's frames go out, until either side ends or the connection
//! stays silent too long. tungstenite answers pings itself (the pong is flushed by the
//! next read). Dropping the driver's sender closes the connection.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::machine::ConnId;
use super::protocol::Keepalive;
use crate::config::model::stream::StreamHost;

/// What a connection reports to its driver.
#[derive(Debug)]
pub enum ConnEvent {
    /// The handshake completed.
    Opened(ConnId),
    /// A text frame.
    Text(ConnId, String),
    /// A frame no protocol here reads (binary).
    Unreadable(ConnId),
    /// The connection failed or ended (why).
    Closed(ConnId, String),
}

/// Where and how to connect.
pub struct Dial {
    /// The connection's id.
    pub conn: ConnId,
    /// The full URL (with `?streams=`).
    pub url: String,
    /// Its host.
    pub host: StreamHost,
    /// TLS settings for `wss`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// For the whole connect and handshake.
    pub timeout: Duration,
    /// Longest quiet time.
    pub silence: Duration,
    /// The User-Agent sent.
    pub user_agent: String,
    /// What to send, and how often, to keep a quiet connection open.
    pub keepalive: Option<(Duration, Keepalive)>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// Largest upstream message accepted (a Binance event is well under 2 KiB).
const MAX_MESSAGE: usize = 1 << 20;

/// Starts the connection; frames sent on the returned sender go out in order.
pub fn spawn(dial: Dial, events: mpsc::Sender<ConnEvent>) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(dial, rx, events));
    tx
}

async fn run(dial: Dial, mut out: mpsc::Receiver<String>, events: mpsc::Sender<ConnEvent>) {
    let conn = dial.conn;
    let mut ws = match tokio::time::timeout(dial.timeout, open(&dial)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            let _ = events.send(ConnEvent::Closed(conn, e)).await;
            return;
        }
        Err(_) => {
            let why = format!("no handshake within {} ms", dial.timeout.as_millis());
            let _ = events.send(ConnEvent::Closed(conn, why)).await;
            return;
        }
    };
    if events.send(ConnEvent::Opened(conn)).await.is_err() {
        return;
    }
    let every = dial.keepalive.map_or(Duration::from_secs(3600), |(d, _)| d);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let reason = loop {
        tokio::select! {
            _ = keepalive.tick(), if dial.keepalive.is_some() => {
                let msg = match dial.keepalive {
                    Some((_, Keepalive::Text(text))) => Message::text(text),
                    _ => Message::Ping(bytes::Bytes::new()),
                };
                if let Err(e) = ws.send(msg).await {
                    break format!("keep-alive failed: {e}");
                }
            }
            frame = out.recv() => match frame {
                Some(text) => {
                    if let Err(e) = ws.send(Message::text(text)).await {
                        break format!("send failed: {e}");
                    }
                }
                None => {
                    let _ = ws.close(None).await;
                    break "closed by marketgate".to_owned();
                }
            },
            msg = tokio::time::timeout(dial.silence, ws.next()) => match msg {
                Err(_) => break format!("nothing received for {} s", dial.silence.as_secs()),
                Ok(None) => break "closed by the upstream".to_owned(),
                Ok(Some(Err(e))) => break format!("read failed: {e}"),
                Ok(Some(Ok(Message::Text(text)))) => {
                    if events.send(ConnEvent::Text(conn, text.as_str().to_owned())).await.is_err() {
                        break "driver gone".to_owned();
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    break frame.map_or_else(|| "closed by the upstream".to_owned(), |f| format!("closed by the upstream: {} {}", f.code, f.reason));
                }
                Ok(Some(Ok(Message::Binary(_)))) => {
                    if events.send(ConnEvent::Unreadable(conn)).await.is_err() {
                        break "driver gone".to_owned();
                    }
                }
                Ok(Some(Ok(_))) => {}
            },
        }
    };
    let _ = events.send(ConnEvent::Closed(conn, reason)).await;
}

async fn open(dial: &Dial) -> Result<Ws, String> {
    // Within the handshake timeout of `run`, which also bounds this connect.
    let tcp = crate::transport::connect::connect(&dial.host.host, dial.host.port, dial.timeout)
        .await
        .map_err(|e| format!("connect to {} failed: {e}", dial.host.base))?;
    let io: Box<dyn Io> = match &dial.tls {
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from(dial.host.host.clone())
                .map_err(|e| format!("{} is not a TLS server name: {e}", dial.host.host))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {} failed: {e}", dial.host.base))?;
            Box::new(tls)
        }
        None => Box::new(tcp),
    };
    let mut req = dial.url.as_str().into_client_request().map_err(|e| format!("bad stream URL: {e}"))?;
    if let Ok(ua) = http::HeaderValue::from_str(&dial.user_agent) {
        req.headers_mut().insert(http::header::USER_AGENT, ua);
    }
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, io, Some(config))
        .await
        .map_err(|e| format!("handshake with {} failed: {e}", dial.host.base))?;
    Ok(ws)
}
