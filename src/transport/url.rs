//! `BaseUrl`: a provider host from the config, split into the parts a request needs.
//!
//! The client never chooses any of these: scheme, authority and base path come from the
//! config only, and a request path is appended under the base path.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use http::uri::{Authority, PathAndQuery, Scheme, Uri};

/// Characters escaped in a query key or value (everything but unreserved and `,`).
pub const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b',');

/// `https://api.coingecko.com/api/v3` as scheme + authority + base path.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    base_path: String,
    label: String,
    shown_path: Option<String>,
}

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

// === impl BaseUrl ===

impl BaseUrl {
    /// Parses an absolute http(s) URL without query or fragment.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let uri: Uri = text.parse().map_err(|e| UrlError(format!("{text:?} is not a URL: {e}")))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| UrlError(format!("{text:?} needs http:// or https://")))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(UrlError(format!("{text:?}: only http and https are supported")));
        }
        let authority = uri.authority().cloned().ok_or_else(|| UrlError(format!("{text:?} has no host")))?;
        if authority.as_str().contains('@') {
            return Err(UrlError(format!("{text:?}: credentials in URLs are not supported; use auth or headers")));
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(UrlError(format!("{text:?}: a base URL cannot have a query or fragment")));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let label = format!("{}{base_path}", authority.as_str());
        Ok(Self { scheme, authority, base_path, label, shown_path: None })
    }

    /// Byte offset of the base path in the text this URL was parsed from.
    pub fn path_offset(&self) -> usize {
        self.scheme.as_str().len() + "://".len() + self.authority.as_str().len()
    }

    /// The same URL, shown (label, `Display`) with its path hidden: `host/***~1a2b3c4d`,
    /// where the suffix is a short hash of the path that keeps two such hosts apart and
    /// the label stable across reloads.
    pub fn with_hidden_path(mut self) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.base_path.as_bytes());
        let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let shown = format!("/***~{tag}");
        self.label = format!("{}{shown}", self.authority.as_str());
        self.shown_path = Some(shown);
        self
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// `host[:port]`.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Host name without port (what SNI and the Host header carry).
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// The stable name used in metrics, state and admin views: `host[:port]` plus the
    /// base path when there is one (`api.coingecko.com/api/v3`), so two upstreams on
    /// one host never share a breaker or a series.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Base path without trailing slash (`/api/v3`, or empty).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The full URI for `path_and_query` (which must start with `/`) under the base path.
    pub fn join(&self, path_and_query: &str) -> Result<Uri, UrlError> {
        let mut joined = String::with_capacity(self.base_path.len() + path_and_query.len());
        joined.push_str(&self.base_path);
        joined.push_str(path_and_query);
        // Handed over, not copied again.
        let pq = PathAndQuery::from_maybe_shared(bytes::Bytes::from(joined)).map_err(|e| {
            UrlError(format!("bad upstream path {:?}: {e}", format!("{}{path_and_query}", self.base_path)))
        })?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|e| UrlError(format!("bad upstream URI: {e}")))
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.shown_path.as_deref().unwrap_or(&self.base_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_scheme_host_and_base_path() {
        let u = BaseUrl::parse("https://api.coingecko.com/api/v3/").expect("valid");
        assert_eq!((u.host(), u.label(), u.base_path()), ("api.coingecko.com", "api.coingecko.com/api/v3", "/api/v3"));
        assert_eq!(u.join("/ping?x=1").expect("uri").to_string(), "https://api.coingecko.com/api/v3/ping?x=1");
        let local = BaseUrl::parse("http://127.0.0.1:8081").expect("valid");
        assert_eq!((local.label(), local.base_path()), ("127.0.0.1:8081", ""));
        assert_eq!(local.to_string(), "http://127.0.0.1:8081");
    }

    #[test]
    fn a_hidden_path_is_never_shown() {
        let u = BaseUrl::parse("https://mainnet.example.io/v3/s3cr3t").expect("valid").with_hidden_path();
        assert!(!u.label().contains("s3cr3t") && !u.to_string().contains("s3cr3t"), "{u}");
        assert!(u.label().starts_with("mainnet.example.io/***~"), "{}", u.label());
        assert_eq!(u.join("/x").expect("uri").to_string(), "https://mainnet.example.io/v3/s3cr3t/x", "still used");
        let other = BaseUrl::parse("https://mainnet.example.io/v3/other").expect("valid").with_hidden_path();
        assert_ne!(u.label(), other.label(), "two hidden paths keep apart");
    }

    #[test]
    fn refuses_what_a_base_url_cannot_be() {
        for bad in ["api.binance.com", "ftp://x.org", "https://x.org/?a=1", "https://u:p@x.org", "", "https://"] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
