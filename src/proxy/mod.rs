//! The client listener's request path: routing, raw passthrough, the fronted app, and
//! the pieces the normalized path shares (attempts, auth, quotas, bodies, errors).

pub mod app;
pub mod attempts;
pub mod auth;
pub mod body;
pub mod error;
pub mod headers;
pub mod quota;
pub mod raw;
pub mod service;
