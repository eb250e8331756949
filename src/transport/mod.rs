//! The transport, below the snapshot: the upstream client (hyper's pooled rustls
//! client, and a lean HTTP/1.1 path for plain-HTTP requests without a body) with its
//! per-attempt timeout, the body either path returns, and the base URLs requests are
//! joined to (with the percent-encoding set of query values); and the TCP connect that
//! races a host's addresses (`connect.rs`). Nothing here knows providers or routes.

pub mod client;
pub mod connect;
pub mod h1;
pub mod upstream_body;
pub mod url;
