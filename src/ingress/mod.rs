//! The way in: the client listener's request handler ([`service`]), which routes a
//! request to the normalized pipeline, to raw passthrough ([`raw`]) or to the fronted
//! application ([`app`]), and writes one access-log line per request.

pub mod app;
pub mod raw;
pub mod service;
pub mod upgrade;

use crate::error::{ErrorKind, ProxyError};

/// `Err` with a 413 when the declared `content-length` exceeds `limit`.
pub fn check_declared_length(headers: &http::HeaderMap, limit: usize) -> Result<(), ProxyError> {
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ProxyError::new(
            ErrorKind::PayloadTooLarge,
            format!("request body of {n} bytes is larger than max_request_body ({limit} bytes)"),
        )),
        _ => Ok(()),
    }
}
