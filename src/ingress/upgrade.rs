//! HTTP/1.1 protocol upgrades (WebSocket) forwarded to the fronted app or through the
//! raw passthrough. The upstream request keeps `Upgrade` and `Connection: upgrade`
//! (hop-by-hop headers are dropped otherwise); when the upstream answers 101, both
//! upgraded connections are spliced in the background until either side closes (the
//! other is then closed too) or no byte moves either way for `server.idle_timeout`
//! (the same rule, and the same I/O wrapper, as client connections). The client's
//! connection keeps its `max_connections` slot while the tunnel lives, and shutdown
//! waits for the tunnel up to `server.shutdown_grace`, then closes it. HTTP/2 extended
//! CONNECT is not enabled, so an HTTP/2 client's WebSocket request is refused by the
//! protocol layer, never half-forwarded.

use std::time::Duration;

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::headers;
use crate::server::ConnSlot;
use crate::server::idle::{Activity, IdleIo};
use crate::transport::upstream_body::UpstreamResponse;

/// A client request that asks to switch protocols, with its side of the upgrade.
pub struct Pending {
    client: OnUpgrade,
    protocol: HeaderValue,
    slot: Option<ConnSlot>,
}

/// The upstream switched protocols: its `Upgrade` value, to put back on the response.
pub struct Switched {
    protocol: HeaderValue,
}

impl Pending {
    /// `Some` when `req` asks to upgrade to WebSocket: HTTP/1.1 with `Upgrade:
    /// websocket` and a `Connection` header that lists `upgrade`. Other protocols
    /// (`h2c`, ...) are not tunnelled: after one, later requests would pass marketgate
    /// by.
    pub fn take<B>(req: &mut Request<B>) -> Option<Self> {
        if !headers::asks_websocket(req) {
            return None;
        }
        let protocol = req.headers().get(UPGRADE)?.clone();
        let slot = req.extensions().get::<ConnSlot>().cloned();
        Some(Self { client: hyper::upgrade::on(req), protocol, slot })
    }

    /// Puts the upgrade request headers back on the upstream request's (cleaned) headers.
    pub fn restore(&self, headers: &mut HeaderMap) {
        upgrade_headers(headers, &self.protocol);
    }

    /// When `resp` is the upstream's 101, starts the splice and returns what the client's
    /// 101 must carry; otherwise the client's connection stays plain HTTP.
    pub fn on_response(self, resp: &mut UpstreamResponse, idle: Duration) -> Option<Switched> {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return None;
        }
        let protocol = resp.headers().get(UPGRADE).cloned().unwrap_or(self.protocol);
        // Only hyper's path carries upgrades; it leaves the upgrade in the extensions.
        let upstream = resp.extensions_mut().remove::<OnUpgrade>()?;
        let (client, slot) = (self.client, self.slot);
        tokio::spawn(async move {
            let closing = slot.as_ref().map(ConnSlot::closing);
            let _slot = slot;
            let closing = async move {
                match closing {
                    Some(at_grace_end) => at_grace_end.await,
                    None => std::future::pending().await,
                }
            };
            match tokio::try_join!(client, upstream) {
                Ok((c, u)) => splice(TokioIo::new(c), TokioIo::new(u), idle, closing).await,
                Err(e) => tracing::debug!(error = %e, "protocol upgrade did not complete"),
            }
        });
        Some(Switched { protocol })
    }
}

impl Switched {
    /// Puts `Connection: upgrade` and `Upgrade` back on the (cleaned) 101 response headers.
    pub fn restore(&self, headers: &mut HeaderMap) {
        upgrade_headers(headers, &self.protocol);
    }
}

/// `Connection: upgrade` and `Upgrade: <protocol>`, which hop-by-hop cleaning removed.
fn upgrade_headers(headers: &mut HeaderMap, protocol: &HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol.clone());
}

/// Copies both ways (each direction on its own, so neither waits for the other) until
/// either side ends, then closes both; or until no byte is read or written either way
/// for `idle` (within two of it: [`Activity`]'s rule for client connections), whether
/// both peers went silent or one stopped reading and stalled the writes towards it; or
/// until `closing` resolves (the shutdown grace period is over).
async fn splice<A, B>(client: A, upstream: B, idle: Duration, closing: impl std::future::Future<Output = ()>)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity::new();
    let mut client = IdleIo::new(client, activity.clone());
    let mut upstream = IdleIo::new(upstream, activity.clone());
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        () = activity.idle(idle) => {}
        () = activity.stalled(idle) => {}
        () = closing => tracing::debug!("tunnel closed: the shutdown grace period is over"),
    }
    let _ = client.shutdown().await;
    let _ = upstream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use http::Version;
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn one_side_closing_closes_the_other_and_bytes_pass_both_ways() {
        let (mut app_end, a) = tokio::io::duplex(64);
        let (mut client_end, b) = tokio::io::duplex(64);
        let task = tokio::spawn(splice(b, a, Duration::from_secs(5), std::future::pending()));
        client_end.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        app_end.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
        app_end.write_all(b"pong").await.expect("write");
        client_end.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"pong");
        drop(app_end);
        task.await.expect("splice ends");
        assert_eq!(client_end.read(&mut buf).await.expect("eof"), 0, "the client side is closed too");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_tunnel_is_closed_after_the_idle_timeout() {
        let (_app_end, a) = tokio::io::duplex(64);
        let (mut client_end, b) = tokio::io::duplex(64);
        let task = tokio::spawn(splice(b, a, Duration::from_secs(60), std::future::pending()));
        tokio::time::sleep(Duration::from_secs(61)).await;
        task.await.expect("splice ends");
        let mut buf = [0u8; 1];
        assert_eq!(client_end.read(&mut buf).await.expect("eof"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_does_not_hold_the_tunnel() {
        // The app never reads: the copy towards it stalls once the pipe is full.
        let (_app_end, a) = tokio::io::duplex(16);
        let (mut client_end, b) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(splice(b, a, Duration::from_secs(60), std::future::pending()));
        client_end.write_all(&[7u8; 4096]).await.expect("write");
        tokio::time::sleep(Duration::from_secs(61)).await;
        task.await.expect("splice ends although a write is stuck");
    }

    #[test]
    fn only_http11_requests_that_list_upgrade_are_upgrades() {
        let req = |conn: &str, version| {
            let mut r = Request::builder().version(version).header(UPGRADE, "websocket");
            if !conn.is_empty() {
                r = r.header(CONNECTION, conn);
            }
            r.body(()).expect("request")
        };
        assert!(Pending::take(&mut req("keep-alive, Upgrade", Version::HTTP_11)).is_some());
        let mut h2c = req("upgrade", Version::HTTP_11);
        h2c.headers_mut().insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(Pending::take(&mut h2c).is_none(), "only WebSocket is tunnelled");
        assert!(Pending::take(&mut req("keep-alive", Version::HTTP_11)).is_none());
        assert!(Pending::take(&mut req("", Version::HTTP_11)).is_none());
        assert!(Pending::take(&mut req("upgrade", Version::HTTP_2)).is_none());
    }
}
