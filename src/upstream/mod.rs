//! The upstream exchange and what it is made of: the admitted-host guard that records
//! outcomes, the outcome table, API keys, quotas, `Retry-After`, base URLs and the
//! pooled rustls client. Nothing outside this folder talks to the HTTP client.

pub mod admitted;
pub mod auth;
pub mod classify;
pub mod client;
pub mod exchange;
pub mod quota;
pub mod retry_after;
pub mod url;
