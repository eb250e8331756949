//! Talking to upstreams: base URLs, the pooled rustls client, `Retry-After`.

pub mod client;
pub mod retry_after;
pub mod url;
