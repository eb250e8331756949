//! Conventions a machine can check: every config key and every metric name is
//! documented, and the README keeps the two set-up commands.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Field names of the serde structs in the config schema, `schema.rs` and its
/// submodules (every key a file may use).
fn config_keys() -> Vec<String> {
    let mut schema = read("src/config/schema.rs");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/schema");
    let mut parts: Vec<_> = std::fs::read_dir(&dir).expect("src/config/schema").flatten().map(|e| e.path()).collect();
    parts.sort();
    for part in parts {
        schema.push_str(&std::fs::read_to_string(&part).expect("schema part"));
    }
    schema
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("pub "))
        .filter(|l| {
            !l.starts_with("struct") && !l.starts_with("enum") && !l.starts_with("type") && !l.starts_with("use")
        })
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

#[test]
fn every_config_key_is_in_the_config_reference() {
    let doc = read("docs/CONFIG.md");
    let keys = config_keys();
    assert!(keys.len() > 60, "found {} keys: the scan is broken", keys.len());
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| {
            !doc.contains(&format!("`{k}`")) && !doc.contains(&format!("[{k}]")) && !doc.contains(&format!("[{k}."))
        })
        .collect();
    assert!(missing.is_empty(), "keys missing from docs/CONFIG.md: {missing:?}");
}

#[test]
fn every_metric_is_documented() {
    let doc = read("docs/METRICS.md");
    for name in marketgate::metrics::METRIC_NAMES.iter().chain(&marketgate::metrics::stream::NAMES) {
        assert!(doc.contains(&format!("`{name}`")), "{name} missing from docs/METRICS.md");
    }
    let source = read("src/metrics/mod.rs");
    let declared = source.matches("\"marketgate_").count();
    assert!(declared >= marketgate::metrics::METRIC_NAMES.len() * 2, "METRIC_NAMES lists every registered family");
}

#[test]
fn the_readme_keeps_the_run_and_test_commands_and_the_admin_endpoints() {
    let readme = read("README.md");
    assert!(readme.contains("cargo run --release"));
    assert!(readme.contains("scripts/test.sh"));
    assert!(!readme.contains("PERFORMANCE_SECTION"), "the performance section is filled in");
    for path in [
        "/api/system/providers/health",
        "/api/system/circuit-breakers",
        "/api/system/providers/stats",
        "/api/system/providers/history",
        "/api/system/config",
        "/admin/reload",
        "/dashboard",
        "/metrics",
    ] {
        assert!(readme.contains(path), "{path} missing from README");
    }
    let ci = read(".ci/run");
    assert!(ci.contains("scripts/test.sh"), ".ci/run runs the README's test command");
}
