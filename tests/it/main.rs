//! The integration tests that need nothing but the Rust toolchain: the real
//! `marketgate::run` (in process, or the built binary) against mock upstreams on
//! 127.0.0.1, replaying the recorded bodies in tests/fixtures. One binary, so an edit
//! relinks once. Tests that need outside programs (Redis, Chromium, Node, promtool,
//! Python tools) are in tests/tools, run by `scripts/test.sh`.

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod admin_ops;
mod cli;
mod client_wire;
mod coins;
mod derived;
mod docs;
mod edge_cases;
mod example_configs;
mod exchange;
mod failover;
mod guide;
mod hardening;
mod layers;
mod logging;
mod mapping_layer;
mod news_feeds;
mod normalize;
mod normalize_exchanges;
mod normalize_faults;
mod normalize_others;
mod openapi;
mod policy;
mod properties;
mod providers_2026;
mod regions;
mod reload;
mod resilience;
mod secrets;
mod stalled_clients;
mod stream_book;
mod stream_fairness;
mod stream_listing;
mod stream_venues;
mod streams;
mod upgrades;
mod upstream_wire;
