use super::*;

fn cached(data: &str, at: Instant) -> Arc<Cached> {
    Arc::new(Cached {
        data: Bytes::from(data.to_owned()),
        order: Vec::new(),
        missing: Vec::new(),
        provider: "p".into(),
        host: "h".into(),
        fetched: at,
        extra: None,
    })
}

fn lead<'a>(c: &'a ResponseCache, key: &str, now: Instant) -> Lead<'a> {
    match c.lookup(key, now) {
        Lookup::Lead(l) => l,
        _ => panic!("expected to lead {key}"),
    }
}

#[test]
fn fresh_then_stale_then_gone() {
    let c = ResponseCache::new(10, 1 << 20);
    let t0 = Instant::now();
    let l = lead(&c, "k", t0);
    c.finish(l, Ok(cached("1", t0)), Duration::from_secs(2), Duration::from_secs(10), true);
    assert!(matches!(c.lookup("k", t0 + Duration::from_secs(1)), Lookup::Fresh(_)));
    let _l = lead(&c, "k", t0 + Duration::from_secs(3));
    assert!(c.stale("k", t0 + Duration::from_secs(3)).is_some());
    assert!(c.stale("k", t0 + Duration::from_secs(12)).is_none());
}

#[test]
fn a_look_for_a_fresh_copy_takes_no_lead() {
    let c = ResponseCache::new(10, 1 << 20);
    let t0 = Instant::now();
    assert!(c.fresh("k", t0).is_none());
    // Nobody leads "k" after the look: the next full lookup does.
    let l = lead(&c, "k", t0);
    assert!(c.fresh("k", t0).is_none(), "in flight is not fresh");
    c.finish(l, Ok(cached("1", t0)), Duration::from_secs(2), Duration::from_secs(10), true);
    assert_eq!(&c.fresh("k", t0 + Duration::from_secs(1)).expect("fresh").data[..], b"1");
    assert!(c.fresh("k", t0 + Duration::from_secs(3)).is_none(), "stale is not fresh");
    assert_eq!(c.usage().2, 0, "no lead left behind");
}

#[test]
fn concurrent_misses_wait_for_the_leader() {
    let c = ResponseCache::new(10, 1 << 20);
    let t0 = Instant::now();
    let l = lead(&c, "k", t0);
    let Lookup::Wait(rx) = c.lookup("k", t0) else { panic!("second lookup waits") };
    c.finish(l, Ok(cached("v", t0)), Duration::from_secs(1), Duration::ZERO, true);
    let got = tokio_test_block(wait(rx)).expect("leader answered").expect("ok");
    assert_eq!(&got.data[..], b"v");
}

#[test]
fn an_abandoned_lead_lets_the_next_caller_lead() {
    let c = ResponseCache::new(10, 1 << 20);
    let t0 = Instant::now();
    let l = lead(&c, "k", t0);
    let Lookup::Wait(rx) = c.lookup("k", t0) else { panic!("waits") };
    drop(l);
    assert_eq!(c.usage().2, 0, "a dropped lead leaves no in-flight entry behind");
    assert!(tokio_test_block(wait(rx)).is_none(), "followers learn the leader gave up");
    assert!(matches!(c.lookup("k", t0), Lookup::Lead(_)));
}

#[test]
fn bounded_in_entries_and_bytes_evicting_the_oldest() {
    let c = ResponseCache::new(3, 1 << 20);
    let t0 = Instant::now();
    for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
        let at = t0 + Duration::from_millis(i as u64);
        let l = lead(&c, k, at);
        c.finish(l, Ok(cached("x", at)), Duration::from_secs(60), Duration::ZERO, true);
    }
    assert_eq!(c.usage().0, 3);
    assert!(matches!(c.lookup("a", t0), Lookup::Lead(_)), "the oldest went first");
    let small = ResponseCache::new(100, 1000);
    for k in ["a", "b", "c"] {
        let l = lead(&small, k, t0);
        small.finish(l, Ok(cached(&"y".repeat(300), t0)), Duration::from_secs(60), Duration::ZERO, true);
    }
    assert!(small.usage().1 <= 1000, "{:?}", small.usage());
    let l = lead(&small, "huge", t0);
    small.finish(l, Ok(cached(&"z".repeat(5000), t0)), Duration::from_secs(60), Duration::ZERO, true);
    assert!(small.stale("huge", t0).is_none(), "an entry larger than the cache is not stored");
}

fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}
