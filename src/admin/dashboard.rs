//! `/dashboard`: one self-contained HTML page embedded in the binary (no CDN, no build
//! step). It reads the `/api/system/*` endpoints and redraws itself.

use bytes::Bytes;
use http::{HeaderValue, Response, header};

use crate::body::Body;
use crate::body::full;

/// The page.
pub const PAGE: &str = include_str!("assets/dashboard.html");

/// Serves the page.
pub fn page() -> Response<Body> {
    let mut r = Response::new(full(Bytes::from_static(PAGE.as_bytes())));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src *",
        ),
    );
    r
}
