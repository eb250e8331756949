//! What a browser page must not do to the admin listener (pure).
//!
//! * **DNS rebinding**: a hostile page can point a name of its own at 127.0.0.1 and then
//!   read the admin API as "same origin". The listener answers only `Host` values that
//!   name it: an IP address (a page cannot rebind an address), `localhost`, or a name
//!   listed in `[admin] hosts`; anything else gets 421 Misdirected Request.
//! * **Cross-site writes**: a page open in the operator's browser can send a "simple"
//!   POST (no preflight) to `/admin/reload`. A state-changing request (POST, PUT, PATCH,
//!   DELETE) is refused with 403 when its `Origin` is not the listener's own, when
//!   `Sec-Fetch-Site` says it comes from another site, or when it carries a body type a
//!   form can send (`text/plain`, `application/x-www-form-urlencoded`,
//!   `multipart/form-data`) without the admin token. The dashboard's own calls are
//!   same-origin and send no form body; `curl` sends neither header.

use std::net::IpAddr;

use http::{HeaderMap, Method, header};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 421: the `Host` does not name this listener.
    MisdirectedHost(String),
    /// 403: a cross-site or form-type state-changing request.
    CrossSite(String),
}

/// Whether `host` (a `Host` header value) names the admin listener: an IP literal,
/// `localhost`, or one of `allowed` (names, with or without a port).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = strip_port(&host);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
        return true;
    }
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == host || a == name
    })
}

/// `host:port` -> `host` (IPv6 in brackets kept whole).
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Checks a request to the admin listener; `has_token` says whether it carries the
/// valid admin token.
pub fn check(method: &Method, headers: &HeaderMap, allowed_hosts: &[String], has_token: bool) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(h) = host
        && !host_allowed(h, allowed_hosts)
    {
        let msg = format!("Host {h:?} does not name this admin listener (add it to [admin] hosts)");
        return Err(Refusal::MisdirectedHost(msg));
    }
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let own = host.is_some_and(|h| same_host(origin, h));
        if !own {
            return Err(Refusal::CrossSite(format!("a request from {origin} may not change this marketgate")));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(Refusal::CrossSite(format!("a {site} request may not change this marketgate")));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let form = matches!(essence.as_str(), "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data");
    if form && !has_token {
        let msg = format!("a {essence} body is what a web form sends: send the admin token, or no body");
        return Err(Refusal::CrossSite(msg));
    }
    Ok(())
}

/// Whether the `Origin` (`scheme://host[:port]`) names the same host and port as `host`.
fn same_host(origin: &str, host: &str) -> bool {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest).trim_end_matches('/');
    authority.eq_ignore_ascii_case(host.trim())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn only_hosts_that_name_the_listener_are_answered() {
        let listed = vec!["admin.internal".to_owned(), "mg.example:9901".to_owned()];
        for ok in [
            "127.0.0.1:9901",
            "localhost:9901",
            "LOCALHOST",
            "[::1]:9901",
            "10.0.0.5",
            "admin.internal:9901",
            "mg.example:9901",
        ] {
            assert!(host_allowed(ok, &listed), "{ok}");
        }
        for bad in
            ["evil.example", "evil.example:9901", "127.0.0.1.evil.example", "mg.example:80", "admin.internal.evil"]
        {
            assert!(!host_allowed(bad, &listed), "{bad}");
        }
        let e = check(&Method::GET, &headers(&[("host", "evil.example:9901")]), &[], false);
        assert!(matches!(e, Err(Refusal::MisdirectedHost(_))), "{e:?}");
    }

    #[test]
    fn a_browser_page_cannot_forge_a_write_but_the_dashboard_and_curl_can_write() {
        let own = [("host", "127.0.0.1:9901")];
        let post = |extra: &[(&'static str, &str)]| {
            let mut all = own.to_vec();
            all.extend_from_slice(extra);
            check(&Method::POST, &headers(&all), &[], false)
        };
        assert_eq!(post(&[]), Ok(()), "curl -X POST");
        assert_eq!(
            post(&[("origin", "http://127.0.0.1:9901"), ("sec-fetch-site", "same-origin")]),
            Ok(()),
            "the dashboard"
        );
        assert!(matches!(post(&[("origin", "https://evil.example")]), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(&[("origin", "null")]), Err(Refusal::CrossSite(_))), "a sandboxed page");
        assert!(matches!(post(&[("sec-fetch-site", "cross-site")]), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(&[("sec-fetch-site", "same-site")]), Err(Refusal::CrossSite(_))));
        for form in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "Text/Plain;charset=UTF-8",
        ] {
            assert!(matches!(post(&[("content-type", form)]), Err(Refusal::CrossSite(_))), "{form}");
        }
        let with_token =
            check(&Method::POST, &headers(&[("host", "127.0.0.1:9901"), ("content-type", "text/plain")]), &[], true);
        assert_eq!(with_token, Ok(()), "a form body with the token is a deliberate client");
        assert_eq!(post(&[("content-type", "application/json")]), Ok(()), "JSON needs a preflight a page cannot pass");
        let read = check(
            &Method::GET,
            &headers(&[("host", "127.0.0.1:9901"), ("origin", "https://evil.example")]),
            &[],
            false,
        );
        assert_eq!(read, Ok(()), "reads are guarded by the Host check and CORS, not here");
    }
}
