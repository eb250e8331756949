//! The shipped default config with its provider hosts pointed at test mocks.

use std::collections::HashMap;

use super::TestEnv;

/// Test keys for the providers that need one.
pub fn keyed_env() -> TestEnv {
    TestEnv(HashMap::from([
        ("COINCAP_API_KEY".to_owned(), "test-coincap-key".to_owned()),
        ("CRYPTOCOMPARE_API_KEY".to_owned(), "test-cryptocompare-key".to_owned()),
        ("CRYPTOPANIC_API_KEY".to_owned(), "test-cryptopanic-key".to_owned()),
    ]))
}

/// The embedded default config with each provider's `hosts` replaced: providers named
/// in `hosts` get that URL, every other provider gets `others`. Health checks, quotas,
/// credits and the routes' cache and hedging are dropped (tests that need them add
/// their own), so every request reaches the providers; `merge` stays.
pub fn with_hosts(hosts: &[(&str, String)], others: &str) -> String {
    super::shipped::edit_default(|provider, line| {
        let trimmed = line.trim_start();
        if ["health_check = ", "quota = ", "credits = "].iter().any(|k| trimmed.starts_with(k)) {
            return None;
        }
        if let Some((route, _)) = line.split_once(", cache = ") {
            let merge = if line.contains("merge = true") { ", merge = true" } else { "" };
            return Some(format!("{route}{merge} }}"));
        }
        match provider {
            Some(name) if trimmed.starts_with("hosts = ") => {
                let default = if name.ends_with(".stream") { super::shipped::NOWHERE_WS } else { others };
                let url = hosts.iter().find(|(n, _)| *n == name).map_or(default, |(_, u)| u.as_str());
                Some(format!("hosts = [{url:?}]"))
            }
            _ => Some(line.to_owned()),
        }
    })
}
