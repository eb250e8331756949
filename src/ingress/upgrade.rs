//! HTTP/1.1 protocol upgrades (WebSocket) forwarded to the fronted app or through the
//! raw passthrough. The upstream request keeps `Upgrade` and `Connection: upgrade`
//! (hop-by-hop headers are dropped otherwise); when the upstream answers 101, both
//! upgraded connections are spliced in the background until either side closes (the
//! other is then closed too) or nothing moves for `server.idle_timeout`. The client's
//! connection keeps its `max_connections` slot while the tunnel lives. HTTP/2 extended
//! CONNECT is not enabled, so an HTTP/2 client's WebSocket request is refused by the
//! protocol layer, never half-forwarded.

use std::time::Duration;

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::ConnSlot;

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
    /// `Some` when `req` asks to upgrade: HTTP/1.1 with `Upgrade` and a `Connection`
    /// header that lists `upgrade`.
    pub fn take<B>(req: &mut Request<B>) -> Option<Self> {
        if req.version() != Version::HTTP_11 {
            return None;
        }
        let protocol = req.headers().get(UPGRADE)?.clone();
        if !lists_upgrade(req.headers()) {
            return None;
        }
        let slot = req.extensions().get::<ConnSlot>().cloned();
        Some(Self { client: hyper::upgrade::on(req), protocol, slot })
    }

    /// Puts the upgrade request headers back on the upstream request's (cleaned) headers.
    pub fn restore(&self, headers: &mut HeaderMap) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, self.protocol.clone());
    }

    /// When `resp` is the upstream's 101, starts the splice and returns what the client's
    /// 101 must carry; otherwise the client's connection stays plain HTTP.
    pub fn on_response(self, resp: &mut Response<Incoming>, idle: Duration) -> Option<Switched> {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return None;
        }
        let protocol = resp.headers().get(UPGRADE).cloned().unwrap_or(self.protocol);
        let upstream = hyper::upgrade::on(resp);
        let (client, slot) = (self.client, self.slot);
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::try_join!(client, upstream) {
                Ok((c, u)) => splice(TokioIo::new(c), TokioIo::new(u), idle).await,
                Err(e) => tracing::debug!(error = %e, "protocol upgrade did not complete"),
            }
        });
        Some(Switched { protocol })
    }
}

impl Switched {
    /// Puts `Connection: upgrade` and `Upgrade` back on the (cleaned) 101 response headers.
    pub fn restore(&self, headers: &mut HeaderMap) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, self.protocol.clone());
    }
}

fn lists_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Copies both ways until either side ends (then both are closed) or `idle` passes
/// without a byte in either direction.
async fn splice<A, B>(mut client: A, mut upstream: B, idle: Duration)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut up = vec![0u8; 8192];
    let mut down = vec![0u8; 8192];
    loop {
        let turn = tokio::time::timeout(idle, async {
            tokio::select! {
                r = client.read(&mut up) => (true, r),
                r = upstream.read(&mut down) => (false, r),
            }
        })
        .await;
        let moved = match turn {
            Ok((true, Ok(n))) if n > 0 => upstream.write_all(&up[..n]).await,
            Ok((false, Ok(n))) if n > 0 => client.write_all(&down[..n]).await,
            // End of stream or an error on either side, or idle: close both.
            _ => break,
        };
        if moved.is_err() {
            break;
        }
    }
    let _ = client.shutdown().await;
    let _ = upstream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_side_closing_closes_the_other_and_bytes_pass_both_ways() {
        let (mut app_end, a) = tokio::io::duplex(64);
        let (mut client_end, b) = tokio::io::duplex(64);
        let task = tokio::spawn(splice(b, a, Duration::from_secs(5)));
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
        let task = tokio::spawn(splice(b, a, Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_secs(61)).await;
        task.await.expect("splice ends");
        let mut buf = [0u8; 1];
        assert_eq!(client_end.read(&mut buf).await.expect("eof"), 0);
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
        assert!(Pending::take(&mut req("keep-alive", Version::HTTP_11)).is_none());
        assert!(Pending::take(&mut req("", Version::HTTP_11)).is_none());
        assert!(Pending::take(&mut req("upgrade", Version::HTTP_2)).is_none());
    }
}
