//! The shipped default config with its provider hosts pointed at test mocks.

use std::collections::HashMap;

use super::TestEnv;

/// Test keys for the providers that need one.
pub fn keyed_env() -> TestEnv {
    TestEnv(HashMap::from([
        ("COINCAP_API_KEY".to_owned(), "test-coincap-key".to_owned()),
        ("CRYPTOCOMPARE_API_KEY".to_owned(), "test-cryptocompare-key".to_owned()),
    ]))
}

/// The embedded default config with each provider's `hosts` replaced: providers named
/// in `hosts` get that URL, every other provider gets `others`. Health checks, quotas,
/// and the routes' cache and hedging are dropped (tests that need them add their own),
/// so every request reaches the providers.
pub fn with_hosts(hosts: &[(&str, String)], others: &str) -> String {
    let mut out = String::new();
    let mut current: Option<String> = None;
    for line in marketgate::config::DEFAULT_CONFIG.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("[providers.").and_then(|r| r.strip_suffix(']')) {
            current = (!name.contains('.')).then(|| name.to_owned());
        } else if trimmed.starts_with('[') {
            current = None;
        }
        if trimmed.starts_with("health_check = ") || trimmed.starts_with("quota = ") {
            continue;
        }
        if let Some((route, _)) = line.split_once(", cache = ") {
            out.push_str(route);
            out.push_str(" }\n");
            continue;
        }
        if let (Some(name), true) = (&current, trimmed.starts_with("hosts = ")) {
            let url = hosts.iter().find(|(n, _)| n == name).map_or(others, |(_, u)| u.as_str());
            out.push_str(&format!("hosts = [{url:?}]\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
