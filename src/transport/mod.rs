//! The transport, below the snapshot: the pooled rustls HTTP client with its
//! per-attempt timeout, and the base URLs requests are joined to (with the
//! percent-encoding set of query values). Nothing here knows providers or routes.

pub mod client;
pub mod url;
