//! Scripted mock upstreams on 127.0.0.1:0: each request is recorded ([`Seen`]) and
//! answered as the test's handler says ([`Reply`]): JSON, headers, a hang, a dropped
//! connection, a streamed or dripping body, after a delay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type MockBody = BoxBody<Bytes, BoxError>;

/// A request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `Host` header, or the HTTP/2 `:authority`.
    pub host: Option<String>,
    pub version: http::Version,
}

/// What the mock does with a request.
pub enum Reply {
    /// Status and body, `content-type: application/json`.
    Json(u16, String),
    /// Status, extra headers and body.
    With(u16, Vec<(&'static str, String)>, String),
    /// Never answers (the connection stays open until the test ends).
    Hang,
    /// Drops the connection without a response.
    Close,
    /// Waits, then replies.
    After(Duration, Box<Reply>),
    /// A streamed body of `total` bytes in `chunk`-byte frames; `gate` pauses the stream
    /// after `gate_after` bytes until it is notified.
    Stream { total: usize, chunk: usize, gate_after: usize, gate: Option<Arc<tokio::sync::Notify>> },
    /// Sends `chunk` every `every` (a slow drip) up to `total` bytes.
    Drip { chunk: Bytes, every: Duration, total: usize },
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A scripted upstream.
pub struct Mock {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    tls: bool,
    task: JoinHandle<()>,
}

impl Mock {
    /// Starts a plain HTTP mock.
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(handler), None).await
    }

    /// Starts an HTTPS mock with the given rustls server config.
    pub async fn start_tls(
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
        cfg: Arc<rustls::ServerConfig>,
    ) -> Self {
        Self::start_inner(Arc::new(handler), Some(cfg)).await
    }

    /// Always answers `status` with `body`.
    pub async fn fixed(status: u16, body: &str) -> Self {
        let body = body.to_owned();
        Self::start(move |_| Reply::Json(status, body.clone())).await
    }

    async fn start_inner(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let (h, s, hd) = (Arc::clone(&hits), Arc::clone(&seen), handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (h, s, hd) = (Arc::clone(&h), Arc::clone(&s), Arc::clone(&hd));
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (h, s, hd) = (Arc::clone(&h), Arc::clone(&s), Arc::clone(&hd));
                        async move { serve_one(req, h, s, hd).await }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match acceptor {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, hits, seen, tls: tls.is_some(), task }
    }

    /// `http://127.0.0.1:port` (or https).
    pub fn url(&self) -> String {
        if self.tls { format!("https://localhost:{}", self.addr.port()) } else { format!("http://{}", self.addr) }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    req: Request<Incoming>,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Handler,
) -> Result<Response<MockBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let s = Seen {
        host,
        version: parts.version,
        method: parts.method,
        path_and_query: parts.uri.path_and_query().map_or("/".into(), |p| p.to_string()),
        headers: parts.headers,
        body,
    };
    hits.fetch_add(1, Ordering::SeqCst);
    seen.lock().expect("lock").push(s.clone());
    let mut reply = handler(&s);
    loop {
        match reply {
            Reply::After(d, next) => {
                tokio::time::sleep(d).await;
                reply = *next;
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Err(std::io::Error::other("hung"));
            }
            Reply::Close => return Err(std::io::Error::other("closing on purpose")),
            Reply::Json(status, body) => {
                return Ok(build(status, vec![("content-type", "application/json".into())], body));
            }
            Reply::With(status, headers, body) => return Ok(build(status, headers, body)),
            Reply::Stream { total, chunk, gate_after, gate } => {
                return Ok(stream_reply(total, chunk, gate_after, gate));
            }
            Reply::Drip { chunk, every, total } => return Ok(drip_reply(chunk, every, total)),
        }
    }
}

fn build(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Response<MockBody> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    for (k, v) in headers {
        r.headers_mut().insert(k, v.parse().expect("header value"));
    }
    r
}

fn stream_reply(
    total: usize,
    chunk: usize,
    gate_after: usize,
    gate: Option<Arc<tokio::sync::Notify>>,
) -> Response<MockBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
    tokio::spawn(async move {
        let block = Bytes::from(vec![b'x'; chunk]);
        let mut sent = 0;
        while sent < total {
            if let Some(g) = &gate
                && sent == gate_after
            {
                g.notified().await;
            }
            let n = chunk.min(total - sent);
            if tx.send(Ok(Frame::data(block.slice(..n)))).await.is_err() {
                return;
            }
            sent += n;
        }
    });
    let stream = tokio_stream_from(rx);
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert("content-length", total.to_string().parse().expect("len"));
    r
}

fn drip_reply(chunk: Bytes, every: Duration, total: usize) -> Response<MockBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
    tokio::spawn(async move {
        let mut sent = 0;
        while sent < total {
            tokio::time::sleep(every).await;
            if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(tokio_stream_from(rx))));
    r.headers_mut().insert("content-type", "application/json".parse().expect("ct"));
    r
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// An address nothing listens on (connections are refused). The port stays bound,
/// without listening, for the rest of the process, so no other test's server can
/// take it over.
pub async fn refused_addr() -> String {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::mem::forget(socket);
    format!("http://{addr}")
}

/// A port for a server that comes up later in the test: bound but not listening, so
/// connections to it are refused until `listen` is called on the socket, and no other
/// test's server can take the port in between (as it could between dropping a listener
/// and binding its port again).
pub fn reserved_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr");
    (socket, addr)
}

/// 1,000 recorded Binance daily candles (2021-01-01 to 2023-09-27).
pub const KLINES: &str = "binance/klines_btcusdt_1d_1000.json";

/// A Binance mock serving the recorded klines as Binance does: the most recent `limit`
/// candles (500 when not given). Notes every limit asked.
pub async fn klines_mock() -> (Mock, Arc<Mutex<Vec<usize>>>) {
    let body: Vec<serde_json::Value> = serde_json::from_str(&super::fixture(KLINES)).expect("recorded klines");
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let mock = Mock::start(move |s| {
        let limit = s
            .path_and_query
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("limit="))
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(500);
        seen.lock().expect("lock").push(limit);
        let served = &body[body.len().saturating_sub(limit)..];
        Reply::Json(200, serde_json::to_string(served).unwrap_or_default())
    })
    .await;
    (mock, asked)
}
