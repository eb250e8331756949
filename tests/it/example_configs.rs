//! The example configs (demo, seed routes, seed fallback, compose) pass `check`, and the
//! compose file and Grafana dashboard keep what the README says they hold.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_example_configs_are_valid() {
    for file in ["config/demo.toml", "config/examples/seed-routes.toml", "config/examples/seed-fallback.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_marketgate"))
            .args(["check", "--config", file])
            .current_dir(ROOT)
            .output()
            .expect("check");
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The compose example's config, with the environment the compose file gives it.
    let out = Command::new(env!("CARGO_BIN_EXE_marketgate"))
        .args(["check", "--config", "examples/compose/marketgate.toml"])
        .env("MARKETGATE_REDIS_URL", "redis://redis:6379")
        .env("MARKETGATE_EGRESS", "compose-host")
        .env("MARKETGATE_ADMIN_TOKEN", "t")
        .current_dir(ROOT)
        .output()
        .expect("check");
    assert!(out.status.success(), "examples/compose/marketgate.toml: {}", String::from_utf8_lossy(&out.stderr));
    let compose = std::fs::read_to_string(Path::new(ROOT).join("examples/docker-compose.yml")).expect("compose file");
    for needle in ["./compose/marketgate.toml:/etc/marketgate/marketgate.toml", "redis://redis:6379", "image: redis:"] {
        assert!(compose.contains(needle), "examples/docker-compose.yml lost {needle}");
    }
    let json = std::fs::read_to_string(Path::new(ROOT).join("examples/grafana/marketgate.json")).expect("grafana");
    let v: serde_json::Value = serde_json::from_str(&json).expect("the Grafana dashboard is valid JSON");
    let exprs = v.to_string();
    for name in [
        "marketgate_requests_total",
        "marketgate_breaker_state",
        "marketgate_upstream_requests_total",
        "marketgate_cache_requests_total",
    ] {
        assert!(exprs.contains(name), "the dashboard charts {name}");
    }
}

/// The TLS compose example: its config passes `check` with the certificate files the
/// `certs` service writes (made here by rcgen), and the compose file runs Redis
/// TLS-only with client certificates. (Docker itself is not run here.)
#[test]
fn the_tls_compose_example_is_valid() {
    let pki = crate::support::tls::TestPki::new("compose-tls");
    let path = |p: std::path::PathBuf| p.display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_marketgate"))
        .args(["check", "--config", "examples/compose/marketgate-tls.toml"])
        .env("MARKETGATE_REDIS_URL", "rediss://redis:6379")
        .env("MARKETGATE_EGRESS", "compose-host")
        .env("MARKETGATE_ADMIN_TOKEN", "t")
        .env("MARKETGATE_CLUSTER_SECRET", "a fleet secret of 32 characters!")
        .env("MARKETGATE_REDIS_CA", path(pki.ca_path()))
        .env("MARKETGATE_REDIS_CERT", path(pki.cert_path()))
        .env("MARKETGATE_REDIS_KEY", path(pki.key_path()))
        .current_dir(ROOT)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "examples/compose/marketgate-tls.toml: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("rediss://redis:6379") && text.contains("signed (secret set)"), "{text}");
    let compose = std::fs::read_to_string(Path::new(ROOT).join("examples/docker-compose.tls.yml")).expect("compose");
    for needle in
        ["--tls-auth-clients\", \"yes\"", "\"--port\", \"0\"", "rediss://redis:6379", "subjectAltName=DNS:redis"]
    {
        assert!(compose.contains(needle), "examples/docker-compose.tls.yml lost {needle}");
    }
}
