//! `ProxyError`: every way a client request can fail, and the one function that turns
//! it into a status and a JSON body `{"error":{"code","message","attempts"}}`.
//! Upstream attempts keep their own typed [`crate::upstream::classify::Failure`]; this
//! is what the client is told once the request is over.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::attempt::AttemptRecord;
use crate::body::Body;

/// A failed client request.
#[derive(Debug, Clone)]
pub struct ProxyError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Human-readable message (never holds a secret).
    pub message: String,
    /// Every upstream attempt and skip, in order.
    pub attempts: Vec<AttemptRecord>,
    /// Seconds the client should wait, when known (503).
    pub retry_after: Option<u64>,
}

/// The failure classes of DESIGN §3 (plus a few of marketgate's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: a parameter is missing or invalid.
    BadRequest,
    /// 400: no provider knows a symbol.
    UnknownSymbol,
    /// 404: no route matches and no app is configured.
    NoRoute,
    /// 404: `/raw/<name>` names no configured provider.
    UnknownProvider,
    /// 405: a normalized route was called with a method other than GET/HEAD.
    MethodNotAllowed,
    /// 413: the request body is larger than allowed.
    PayloadTooLarge,
    /// 414: the request target is longer than allowed.
    UriTooLong,
    /// 408: the client stopped sending its request body.
    ClientTimeout,
    /// 508: the request came back to this instance through other marketgates.
    LoopDetected,
    /// 502: every attempt failed.
    AllProvidersFailed,
    /// 502: the upstream body is larger than `max_upstream_body`.
    UpstreamBodyTooLarge,
    /// 502: the fronted application failed.
    AppFailed,
    /// 503: no candidate could be tried (breakers open, benched, over quota, disabled).
    NoProviderAvailable,
    /// 504: the overall deadline passed.
    DeadlineExceeded,
    /// 500: a bug (a panic in a handler).
    Internal,
    /// 429: this client holds too much already (stream clients per address).
    TooManyRequests,
}

#[derive(Serialize)]
struct Body_<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
    attempts: &'a [AttemptRecord],
}

// === impl ErrorKind ===

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 16] = [
        Self::BadRequest,
        Self::UnknownSymbol,
        Self::NoRoute,
        Self::UnknownProvider,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::ClientTimeout,
        Self::LoopDetected,
        Self::AllProvidersFailed,
        Self::UpstreamBodyTooLarge,
        Self::AppFailed,
        Self::NoProviderAvailable,
        Self::DeadlineExceeded,
        Self::Internal,
        Self::TooManyRequests,
    ];

    /// The status and the `code` string. Exhaustive on purpose: a new kind must be
    /// given its status here.
    pub fn status_and_code(self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::UnknownSymbol => (StatusCode::BAD_REQUEST, "unknown_symbol"),
            Self::NoRoute => (StatusCode::NOT_FOUND, "no_route"),
            Self::UnknownProvider => (StatusCode::NOT_FOUND, "unknown_provider"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            Self::ClientTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::LoopDetected => (StatusCode::LOOP_DETECTED, "loop_detected"),
            Self::AllProvidersFailed => (StatusCode::BAD_GATEWAY, "all_providers_failed"),
            Self::UpstreamBodyTooLarge => (StatusCode::BAD_GATEWAY, "upstream_body_too_large"),
            Self::AppFailed => (StatusCode::BAD_GATEWAY, "app_unavailable"),
            Self::NoProviderAvailable => (StatusCode::SERVICE_UNAVAILABLE, "no_provider_available"),
            Self::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        }
    }
}

// === impl ProxyError ===

impl ProxyError {
    /// An error without attempts.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), attempts: Vec::new(), retry_after: None }
    }

    /// An error with the attempts made.
    pub fn with_attempts(kind: ErrorKind, message: impl Into<String>, attempts: Vec<AttemptRecord>) -> Self {
        Self { kind, message: message.into(), attempts, retry_after: None }
    }

    /// The response the client gets.
    pub fn into_response(self) -> Response<Body> {
        let (status, code) = self.kind.status_and_code();
        let body = Body_ { error: Inner { code, message: &self.message, attempts: &self.attempts } };
        let mut resp = json_response(status, serde_json::to_vec(&body).unwrap_or_default());
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A JSON response with `content-type: application/json`.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(crate::body::full(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_is_pinned() {
        let table = [
            (ErrorKind::BadRequest, 400, "bad_request"),
            (ErrorKind::UnknownSymbol, 400, "unknown_symbol"),
            (ErrorKind::NoRoute, 404, "no_route"),
            (ErrorKind::UnknownProvider, 404, "unknown_provider"),
            (ErrorKind::MethodNotAllowed, 405, "method_not_allowed"),
            (ErrorKind::PayloadTooLarge, 413, "payload_too_large"),
            (ErrorKind::UriTooLong, 414, "uri_too_long"),
            (ErrorKind::ClientTimeout, 408, "request_timeout"),
            (ErrorKind::LoopDetected, 508, "loop_detected"),
            (ErrorKind::AllProvidersFailed, 502, "all_providers_failed"),
            (ErrorKind::UpstreamBodyTooLarge, 502, "upstream_body_too_large"),
            (ErrorKind::AppFailed, 502, "app_unavailable"),
            (ErrorKind::NoProviderAvailable, 503, "no_provider_available"),
            (ErrorKind::DeadlineExceeded, 504, "deadline_exceeded"),
            (ErrorKind::Internal, 500, "internal"),
            (ErrorKind::TooManyRequests, 429, "too_many_requests"),
        ];
        assert_eq!(table.len(), ErrorKind::ALL.len(), "every kind is pinned");
        for (kind, status, code) in table {
            assert_eq!(kind.status_and_code(), (StatusCode::from_u16(status).expect("status"), code));
        }
    }
}
