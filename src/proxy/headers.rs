//! Header hygiene for forwarding (RFC 9110 §7.6.1): hop-by-hop headers, and any header
//! the `Connection` header names, stop at marketgate in both directions.

use http::header::{self, HeaderMap, HeaderName};

/// Which provider answered (normalized and raw responses).
pub const X_MARKETGATE_PROVIDER: HeaderName = HeaderName::from_static("x-marketgate-provider");
/// `miss`, `hit` or `stale` (normalized responses).
pub const X_MARKETGATE_CACHE: HeaderName = HeaderName::from_static("x-marketgate-cache");
/// Set on requests one marketgate forwards to another (`kind = "marketgate"`); the
/// receiver then skips its own marketgate providers, so two instances naming each other
/// as fallback cannot bounce a request back and forth.
pub const X_MARKETGATE_FORWARDED: HeaderName = HeaderName::from_static("x-marketgate-forwarded");

/// Which host answered (raw responses).
pub const X_MARKETGATE_HOST: HeaderName = HeaderName::from_static("x-marketgate-host");

/// Headers that apply to one connection only.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers and the ones `Connection` lists. `Upgrade` goes too:
/// marketgate does not tunnel protocol upgrades.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Prepares a client's headers for an upstream provider: hop-by-hop headers go, and so
/// does `Host` (the client sets the upstream's own from the URI, and SNI follows it).
pub fn for_upstream(mut headers: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_listed_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let out = for_upstream(h);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, vec!["accept"]);
    }
}
