//! The upstream HTTP client: one `send` with a per-attempt timeout. A plain-HTTP request
//! without a body or upgrade takes the lean HTTP/1.1 path (`h1`, driven by the request's
//! own task); the rest goes through hyper-util's pooled client over rustls (HTTP/1.1 and
//! HTTP/2 by ALPN).
//!
//! Each thread gets its own connection pool: request workers run one single-threaded
//! runtime each, and a pooled connection's task lives on the runtime that opened it,
//! so a pool shared between workers would hand every request across threads.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::h1;
use super::upstream_body::{UpstreamBody, UpstreamResponse};
use crate::body::{Body, BoxError};
use crate::tls::{TlsError, client_config};

/// `[upstream]`, validated: the client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Extra trusted CA file.
    pub extra_ca_file: Option<std::path::PathBuf>,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// Idle connection lifetime.
    pub pool_idle_timeout: Duration,
    /// Default User-Agent.
    pub user_agent: String,
}

type Pooled = Client<HttpsConnector<HttpConnector>, Body>;

/// The pooled upstream client (one pool per thread, see the module doc).
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    id: usize,
    connector: HttpsConnector<HttpConnector>,
    settings: UpstreamConfig,
}

/// Clients are told apart by a process-wide id so a thread's pool cache never mixes
/// two configurations.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// Pools kept per thread (the newest client configurations).
const POOLS_PER_THREAD: usize = 4;

thread_local! {
    static POOLS: RefCell<Vec<(usize, Pooled)>> = const { RefCell::new(Vec::new()) };
}

/// How sending failed; the cause is kept as the error's source.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made (refused, DNS, TLS handshake).
    #[error("connect failed")]
    Connect(#[source] BoxError),
    /// No response head within the attempt timeout.
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection broke after the request may have reached the upstream.
    #[error("upstream connection failed")]
    Broken(#[source] BoxError),
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// Builds a client for the `[upstream]` settings.
    pub fn new(settings: &UpstreamConfig) -> Result<Self, TlsError> {
        let tls = client_config(settings.extra_ca_file.as_deref())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(h1::CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), connector, settings: settings.clone() })
    }

    /// This thread's pool for this client.
    fn pooled(&self) -> Pooled {
        POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            if let Some((_, c)) = pools.iter().find(|(id, _)| *id == self.id) {
                return c.clone();
            }
            let client = Client::builder(TokioExecutor::new())
                .pool_idle_timeout(self.settings.pool_idle_timeout)
                .pool_max_idle_per_host(self.settings.pool_max_idle_per_host)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(self.connector.clone());
            if pools.len() >= POOLS_PER_THREAD {
                pools.remove(0);
            }
            pools.push((self.id, client.clone()));
            client
        })
    }

    /// The settings it was built with (a reload rebuilds the client only when they change).
    pub fn settings(&self) -> &UpstreamConfig {
        &self.settings
    }

    /// Sends a request and waits up to `timeout` for the response head.
    pub async fn send(&self, req: Request<Body>, timeout: Duration) -> Result<UpstreamResponse, SendError> {
        self.send_prepared(self.prepare(req), timeout).await
    }

    /// Makes `req` ready to send: encoded for the lean path when it [`h1::fits`], else
    /// boxed for hyper's client. The request path prepares before it awaits, so its
    /// future holds the encoded head and not the request.
    pub fn prepare(&self, req: Request<Body>) -> Prepared {
        match req.uri().authority() {
            Some(host) if h1::fits(&req) => {
                let limits = h1::pool::Limits {
                    max_idle: self.settings.pool_max_idle_per_host,
                    idle_timeout: self.settings.pool_idle_timeout,
                };
                let home = h1::pool::Home { client: self.id, host: host.clone(), limits };
                Prepared::Lean(h1::Encoded::new(&req, home))
            }
            _ => Prepared::Hyper(Box::new(req)),
        }
    }

    /// Sends a prepared request and waits up to `timeout` for the response head.
    pub async fn send_prepared(&self, req: Prepared, timeout: Duration) -> Result<UpstreamResponse, SendError> {
        match req {
            Prepared::Lean(req) => match tokio::time::timeout(timeout, h1::send(req)).await {
                Err(_) => Err(SendError::Timeout(timeout)),
                Ok(Ok(resp)) => Ok(resp.map(UpstreamBody::Lean)),
                Ok(Err(h1::Failed::Connect(e))) => Err(SendError::Connect(Box::new(e))),
                Ok(Err(e)) => Err(SendError::Broken(Box::new(e))),
            },
            Prepared::Hyper(req) => {
                let sent = self.pooled().request(*req);
                match tokio::time::timeout(timeout, sent).await {
                    Err(_) => Err(SendError::Timeout(timeout)),
                    Ok(Ok(resp)) => Ok(resp.map(UpstreamBody::Hyper)),
                    Ok(Err(e)) if e.is_connect() => Err(SendError::Connect(Box::new(e))),
                    Ok(Err(e)) => Err(SendError::Broken(Box::new(e))),
                }
            }
        }
    }
}

/// A request ready to send (see [`UpstreamClient::prepare`]).
#[derive(Debug)]
pub enum Prepared {
    /// Encoded for the lean HTTP/1.1 path.
    Lean(h1::Encoded),
    /// For hyper's client (HTTPS, a body, an upgrade).
    Hyper(Box<Request<Body>>),
}

/// The error and its causes on one line (no request data is in these messages).
pub fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}
