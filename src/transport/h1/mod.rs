//! The lean HTTP/1.1 path for plain `http://` upstreams: the request's own task writes
//! the request, reads the response head and hands back a body that reads the rest,
//! with no connection task, no channel between tasks and no pool lock.
//!
//! It carries requests without a body and without an upgrade (market-data GETs, the
//! bulk of the traffic); `client.rs` sends everything else, and every `https://`
//! request (HTTP/2 by ALPN), through hyper. A request that finds its pooled connection
//! closed by the upstream before any byte of the answer came back is sent again once
//! on a new connection, when its method is safe (GET, HEAD, OPTIONS).

pub mod body;
pub mod chunked;
pub mod head;
pub mod pool;

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::uri::Authority;
use http::{Method, Request, Response};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use self::body::LeanBody;
use self::head::{HeadError, parse_response};
use self::pool::{Conn, Home};

/// How long one connect may take (hyper's connector in `client.rs` uses the same).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a lean request failed.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// No connection could be made.
    #[error("tcp connect error")]
    Connect(#[source] io::Error),
    /// The request was written and the answer broke off or was malformed.
    #[error("upstream connection failed")]
    Broken(#[source] Broken),
}

/// What broke on an open connection.
#[derive(Debug, thiserror::Error)]
pub enum Broken {
    /// The socket failed.
    #[error("connection error")]
    Io(#[source] io::Error),
    /// The upstream closed before a whole response head came.
    #[error("connection closed before the response head")]
    Closed,
    /// The head could not be read.
    #[error(transparent)]
    Head(#[from] HeadError),
}

/// True when `req` can take the lean path: plain HTTP, no body, no upgrade.
pub fn fits<B: hyper::body::Body>(req: &Request<B>) -> bool {
    req.uri().scheme() == Some(&http::uri::Scheme::HTTP)
        && req.body().is_end_stream()
        && !req.headers().contains_key(http::header::UPGRADE)
}

/// A request made ready for the lean path: its head encoded, with the method and the
/// pool its connection comes from and goes back to. Encoded before the sending future
/// is made, so that future holds these bytes and not the request (a future is copied
/// whole each time it is handed up a level, bench/future_sizes.sh).
#[derive(Debug)]
pub struct Encoded {
    wire: Bytes,
    method: Method,
    home: Home,
}

impl Encoded {
    /// Encodes `req` (which [`fits`]) for a connection of `home`.
    pub fn new<B>(req: &Request<B>, home: Home) -> Self {
        let mut wire = BytesMut::new();
        head::encode_request(req, &mut wire);
        Self { wire: wire.freeze(), method: req.method().clone(), home }
    }
}

/// Sends `req` over a pooled or new connection of its home.
pub async fn send(req: Encoded) -> Result<Response<LeanBody>, Failed> {
    let Encoded { wire, method, home } = req;
    let mut pooled = pool::checkout(&home);
    loop {
        let reused = pooled.is_some();
        let mut conn = match pooled.take() {
            Some(conn) => conn,
            // Boxed: a new connection is the rare case, and its future (address racing)
            // would otherwise make every request's future larger.
            None => Conn::new(Box::pin(connect(&home.host)).await.map_err(Failed::Connect)?),
        };
        match exchange(&mut conn, &wire, &method).await {
            Ok(head) => {
                let body = LeanBody::new(conn, head.framing, head.reusable, home);
                return Ok(head.response.map(|()| body));
            }
            // The upstream closed an idle connection as the request went out.
            Err(Exchange { nothing_back: true, .. }) if reused && repeatable(&method) => {}
            Err(Exchange { broken, .. }) => return Err(Failed::Broken(broken)),
        }
    }
}

/// A failed exchange, and whether no byte of an answer had come back.
struct Exchange {
    broken: Broken,
    nothing_back: bool,
}

/// Writes the request head and reads the response head.
async fn exchange(conn: &mut Conn, wire: &Bytes, method: &Method) -> Result<head::Head, Exchange> {
    let fail = |broken, nothing_back| Exchange { broken, nothing_back };
    if let Err(e) = conn.io.write_all(wire).await {
        return Err(fail(Broken::Io(e), true));
    }
    let mut read_any = false;
    loop {
        match std::future::poll_fn(|cx| conn.poll_fill(cx)).await {
            Ok(false) => return Err(fail(Broken::Closed, !read_any)),
            Ok(true) => read_any = true,
            Err(e) => return Err(fail(Broken::Io(e), !read_any)),
        }
        match parse_response(&mut conn.buf, method) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(e) => return Err(fail(e.into(), false)),
        }
    }
}

/// Methods sent again when a kept connection closed before any byte of the answer: the
/// safe ones only (RFC 9110 §9.2.1). hyper's client resends only requests it never
/// wrote; this path also resends a GET the upstream read and dropped unanswered, as
/// browsers do, so such a GET may reach the upstream twice.
fn repeatable(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Connects to `host` (its addresses raced, `connect.rs`), port 80 unless it names one.
async fn connect(host: &Authority) -> io::Result<TcpStream> {
    super::connect::connect(host.host(), host.port_u16().unwrap_or(80), CONNECT_TIMEOUT).await
}
