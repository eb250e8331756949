//! marketgate: a sidecar reverse proxy for crypto market-data APIs.
//!
//! An app asks one normalized question (`GET /v1/price?symbols=BTC,ETH`); marketgate
//! asks an ordered pool of providers, rotates mirror hosts, trips a breaker per host,
//! fails over within the request's deadline, normalizes every answer to one schema and
//! reports provider health as JSON, Prometheus metrics and a dashboard. See
//! `docs/ARCHITECTURE.md` for the request path and the config/state split.

#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod allocator;
pub mod answer;
pub mod app;
pub mod attempt;
pub mod audit;
pub mod bench;
pub mod body;
pub mod breaker;
pub mod budget;
pub mod cache;
pub mod calendar;
pub mod candidates;
pub mod cluster;
pub mod config;
pub mod derive;
pub mod error;
pub mod excerpt;
pub mod gateway;
pub mod headers;
pub mod ingress;
pub mod listen;
pub mod metrics;
pub mod normalize;
pub mod openapi;
pub mod pipeline;
pub mod policy;
pub mod probe;
pub mod reload;
pub mod routing;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod split;
pub mod state;
pub mod stream;
pub mod sync;
pub mod tls;
pub mod transport;
pub mod upstream;
pub mod workers;

pub use app::{App, Listeners, RunOptions, run};
pub use reload::ListenOverrides;
pub use workers::WorkerMode;
