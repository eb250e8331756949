//! The upstream exchange and what it is made of: the outcome table, API keys, quotas and
//! `Retry-After`. The one request path to the transport's HTTP client.

pub mod auth;
pub mod classify;
pub mod exchange;
pub mod quota;
pub mod retry_after;
