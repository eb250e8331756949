//! marketgate's own header names, and header hygiene for forwarding (RFC 9110 §7.6.1):
//! hop-by-hop headers, and any header the `Connection` header names, stop at marketgate
//! in both directions.

use http::header::{self, HeaderMap, HeaderName};

/// Which provider answered (normalized and raw responses).
pub const X_MARKETGATE_PROVIDER: HeaderName = HeaderName::from_static("x-marketgate-provider");
/// `miss`, `hit` or `stale` (normalized responses).
pub const X_MARKETGATE_CACHE: HeaderName = HeaderName::from_static("x-marketgate-cache");
/// The instances a request passed through, oldest first (`x-marketgate-via: 3f2a…,
/// 91c0…`). Every request one marketgate sends to another (`kind = "marketgate"`,
/// normalized or raw) carries it with its own instance id appended. An instance that
/// finds its own id, or more than [`MAX_HOPS`] ids, answers 508 instead of forwarding
/// again; a request that arrived through another marketgate is answered from this
/// instance's own providers only. A client that sends the header itself can only
/// narrow its own request.
pub const X_MARKETGATE_VIA: HeaderName = HeaderName::from_static("x-marketgate-via");

/// Most marketgates one request may pass through.
pub const MAX_HOPS: usize = 4;

/// Which host answered (raw responses).
pub const X_MARKETGATE_HOST: HeaderName = HeaderName::from_static("x-marketgate-host");

/// Headers that apply to one connection only, and `Upgrade` (last), which a forwarded
/// upgrade puts back. As text: comparing a name's text is a length check for most
/// names, cheaper than comparing `HeaderName`s.
const STRIPPED: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers and the ones `Connection` lists. `Upgrade` goes too; a
/// forwarded upgrade puts it back (`ingress/upgrade.rs`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One look at the few names present finds which fixed names to remove: most heads
    // hold one of them (`Connection: keep-alive`) or none. Removing all nine by hash,
    // twice a proxied request, took 2,600 of its 43,200 instructions
    // (bench/instructions.sh).
    let mut present = [false; STRIPPED.len()];
    for name in headers.keys() {
        if let Some(i) = STRIPPED.iter().position(|s| *s == name.as_str()) {
            present[i] = true;
        }
    }
    // The usual `Connection: keep-alive` (or `close`, `upgrade`) names nothing that the
    // fixed list does not already remove: no list is built for it. Without a
    // `Connection` header nothing is listed.
    let removed_anyway =
        |t: &str| t.eq_ignore_ascii_case("close") || STRIPPED.iter().any(|h| t.eq_ignore_ascii_case(h));
    let listed: Vec<HeaderName> = if !present[0] || connection_tokens(headers).all(removed_anyway) {
        Vec::new()
    } else {
        connection_tokens(headers).filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok()).collect()
    };
    for name in &listed {
        headers.remove(name);
    }
    for (name, _) in STRIPPED.iter().zip(present).filter(|(_, p)| *p) {
        headers.remove(*name);
    }
}

/// The tokens the `Connection` headers list (`keep-alive`, `upgrade`, header names).
pub fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| crate::split::pieces(v, b','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether `req` asks to upgrade to WebSocket: HTTP/1.1 with `Upgrade: websocket` and
/// a `Connection` header that lists `upgrade` (RFC 6455 §4.1).
pub fn asks_websocket<B>(req: &http::Request<B>) -> bool {
    let upgrade = req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok());
    req.version() == http::Version::HTTP_11
        && upgrade.is_some_and(|p| p.trim().eq_ignore_ascii_case("websocket"))
        && connection_tokens(req.headers()).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// Prepares a client's headers for an upstream provider: hop-by-hop headers go, and so
/// do `Host` (the client sets the upstream's own from the URI, and SNI follows it) and
/// `x-marketgate-via` (set by the exchange, towards other marketgates only).
pub fn for_upstream(mut headers: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(X_MARKETGATE_VIA);
    headers
}

/// Replaces every occurrence of a secret (an API key, a secret header value), plain or
/// percent-encoded, in the response headers with `***`: an upstream redirect whose
/// `Location` echoes the query (`?api_key=...`) must not hand the key to the client.
pub fn redact_secrets<S: AsRef<str>>(headers: &mut HeaderMap, secrets: &[S]) {
    let secrets: Vec<(&str, String)> = secrets
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| s.len() >= 4)
        .map(|s| (s, percent_encoding::utf8_percent_encode(s, crate::transport::url::QUERY).to_string()))
        .collect();
    if secrets.is_empty() {
        return;
    }
    for value in headers.values_mut() {
        let Ok(text) = value.to_str() else { continue };
        if !secrets.iter().any(|(plain, enc)| text.contains(plain) || text.contains(enc.as_str())) {
            continue;
        }
        let mut clean = text.to_owned();
        for (plain, enc) in &secrets {
            clean = clean.replace(plain, "***").replace(enc.as_str(), "***");
        }
        if let Ok(v) = http::HeaderValue::from_str(&clean) {
            *value = v;
        }
    }
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

        // Without a `Connection` header the fixed names still go, and nothing else.
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::TRAILER, HeaderValue::from_static("x-sum"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-sum", HeaderValue::from_static("1"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["content-length", "x-sum"]);

        // The usual response: `Connection: keep-alive` goes, the rest stays.
        let mut h = HeaderMap::new();
        h.insert(header::SERVER, HeaderValue::from_static("nginx"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["content-type", "server"]);
    }

    #[test]
    fn secrets_in_response_headers_are_redacted() {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::from_static("https://x.org/v1?api_key=s3cr3t-k%2Fy&a=1"));
        h.insert("link", HeaderValue::from_static("<https://x.org/p?k=s3cr3t-k/y>; rel=next"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        redact_secrets(&mut h, &["s3cr3t-k/y"]);
        assert_eq!(h[header::LOCATION], "https://x.org/v1?api_key=***&a=1");
        assert_eq!(h["link"], "<https://x.org/p?k=***>; rel=next");
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
    }
}
