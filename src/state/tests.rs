use std::sync::Arc;

use super::*;
use crate::config::env::EnvLookup;
use crate::config::parse;

struct NoEnv;
impl EnvLookup for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

fn provider(hosts: &[&str]) -> Arc<ProviderConfig> {
    let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    let text = format!("[providers.p]\nhosts = [{}]\n", list.join(", "));
    let cfg = parse(&text, "t.toml", &NoEnv).expect("valid");
    Arc::clone(&cfg.providers[0])
}

#[test]
fn a_changed_host_list_keeps_the_state_of_hosts_that_remain() {
    let store = StateStore::default();
    let (p1, _) = store.provider(&provider(&["http://a:1", "http://b:1"]));
    let a = p1.host("a:1").expect("a");
    a.breaker().force_open(Instant::now());
    let (p2, dropped) = store.provider(&provider(&["http://a:1", "http://c:1"]));
    assert!(Arc::ptr_eq(&p1, &p2), "provider state carried over");
    assert_eq!(dropped, vec!["b:1".to_owned()]);
    let a2 = p2.host("a:1").expect("a kept");
    assert!(Arc::ptr_eq(&a, &a2));
    assert!(matches!(a2.breaker().state(), crate::breaker::BreakerState::Open { .. }));
    assert!(p2.host("c:1").is_some() && p2.host("b:1").is_none());
}

#[test]
fn removed_providers_are_dropped() {
    let store = StateStore::default();
    store.provider(&provider(&["http://a:1"]));
    assert_eq!(store.retain(&["other"]), vec!["p".to_owned()]);
    assert!(store.retain(&[]).is_empty());
}

#[test]
fn benches_only_extend() {
    let store = StateStore::default();
    let (p, _) = store.provider(&provider(&["http://a:1"]));
    let t0 = Instant::now();
    p.bench_for(Duration::from_secs(10), 429, None, t0);
    p.bench_for(Duration::from_secs(2), 429, None, t0);
    assert!(p.benched(t0 + Duration::from_secs(5)).is_some());
    assert!(p.benched(t0 + Duration::from_secs(10)).is_none());
}
