//! The integration tests that need outside programs, each `#[ignore]`d with the program
//! it needs, so plain `cargo test` lists them as ignored and says why:
//! a real `redis-server` (cluster), Chromium and Node (the dashboard in a browser),
//! promtool (the exposition, the alert rules), Python (the example clients, TA-Lib,
//! openapi-spec-validator, schemathesis, the typed client generator). `scripts/test.sh`
//! installs what is missing and runs them with `cargo test --test tools -- --ignored`.

#[path = "../support/mod.rs"]
mod support;

mod cluster;
mod cluster_managed;
mod cluster_outage;
mod cluster_trust;
mod dashboard;
mod examples;
mod openapi;
mod promtool;
mod talib;
