use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn limits() -> Limits {
    Limits {
        protocol: crate::stream::protocol::Protocol::Binance,
        max_streams: 1024,
        control_interval: Duration::from_millis(250),
        batch: 100,
        url_streams: 2,
        connects: 300,
        connect_window: Duration::from_secs(300),
        lifetime: Duration::from_secs(3600),
        overlap: Duration::from_secs(5),
        fallback_after: Duration::from_secs(2),
        max_backoff: Duration::from_secs(10),
    }
}

fn policy() -> BreakerPolicy {
    BreakerPolicy { consecutive_failures: 2, open_for: Duration::from_secs(30), max_open_for: Duration::from_secs(60) }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn connects(actions: &[Action]) -> Vec<(ConnId, usize, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect { conn, host, streams } => Some((*conn, *host, streams.clone())),
            _ => None,
        })
        .collect()
}

fn sends(actions: &[Action]) -> Vec<serde_json::Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { text, .. } => serde_json::from_str(text).ok(),
            _ => None,
        })
        .collect()
}

fn notices(actions: &[Action]) -> Vec<Notice> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// A machine with `want` carried by an open connection on host 0.
fn connected(want: &[&str], t0: Instant) -> (Machine, ConnId) {
    let mut m = Machine::new(limits(), 2, policy());
    m.set_wanted(set(want), t0);
    let c = connects(&m.poll(t0));
    assert_eq!(c.len(), 1, "one connection for every stream");
    m.opened(c[0].0, t0);
    let actions = m.poll(t0);
    // Streams past the URL's share are subscribed and acknowledged.
    for s in sends(&actions) {
        m.replied(c[0].0, s["id"].as_u64(), None);
    }
    m.poll(t0);
    (m, c[0].0)
}

#[test]
fn wanted_streams_open_one_connection_with_the_first_streams_in_its_url() {
    let t0 = Instant::now();
    let mut m = Machine::new(limits(), 2, policy());
    m.set_wanted(set(&["a@trade", "b@trade", "c@trade"]), t0);
    let actions = m.poll(t0);
    assert_eq!(connects(&actions), vec![(1, 0, vec!["a@trade".to_owned(), "b@trade".to_owned()])]);
    assert!(m.poll(t0).is_empty(), "no second connection while the first is connecting");
    m.opened(1, t0);
    let actions = m.poll(t0);
    let sent = sends(&actions);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["method"], "SUBSCRIBE");
    assert_eq!(sent[0]["params"], serde_json::json!(["c@trade"]));
    assert!(notices(&actions).is_empty(), "not carrying every stream before the reply");
    m.replied(1, sent[0]["id"].as_u64(), None);
    assert_eq!(notices(&m.poll(t0)), vec![Notice::Connected { host: 0, rollover: false }]);
}

#[test]
fn control_messages_are_batched_and_paced() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["a@trade"], t0);
    let t1 = t0 + Duration::from_secs(1);
    m.set_wanted(set(&["a@trade", "b@trade", "c@trade"]), t1);
    let first = sends(&m.poll(t1));
    assert_eq!(first.len(), 1, "one SUBSCRIBE carries every new stream");
    assert_eq!(first[0]["params"], serde_json::json!(["b@trade", "c@trade"]));
    m.replied(conn, first[0]["id"].as_u64(), None);
    m.set_wanted(set(&["a@trade"]), t1);
    assert!(sends(&m.poll(t1)).is_empty(), "the next message waits for the pacing interval");
    assert_eq!(m.deadline(), Some(t1 + Duration::from_millis(250)));
    let second = sends(&m.poll(t1 + Duration::from_millis(250)));
    assert_eq!(second[0]["method"], "UNSUBSCRIBE");
    assert_eq!(second[0]["params"], serde_json::json!(["b@trade", "c@trade"]));
}

#[test]
fn a_refused_stream_is_reported_once_and_not_asked_again() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["a@trade"], t0);
    m.set_wanted(set(&["a@trade", "zz@trade"]), t0);
    let sent = sends(&m.poll(t0 + Duration::from_secs(1)));
    m.replied(conn, sent[0]["id"].as_u64(), Some("Invalid symbol".into()));
    let actions = m.poll(t0 + Duration::from_secs(2));
    assert_eq!(
        notices(&actions),
        vec![Notice::Rejected { streams: vec!["zz@trade".into()], reason: "Invalid symbol".into() }]
    );
    assert!(sends(&m.poll(t0 + Duration::from_secs(3))).is_empty());
}

#[test]
fn nothing_wanted_closes_the_connection() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["a@trade"], t0);
    m.set_wanted(BTreeSet::new(), t0);
    assert_eq!(m.poll(t0), vec![Action::Close { conn }]);
    assert_eq!(m.deadline(), None);
}

#[test]
fn a_lost_connection_is_announced_and_replaced_at_once_on_the_next_host() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["a@trade"], t0);
    let t1 = t0 + Duration::from_secs(60);
    m.closed(conn, "reset by peer", t1);
    let actions = m.poll(t1);
    assert_eq!(notices(&actions), vec![Notice::Lost { host: 0, reason: "reset by peer".into() }]);
    let c = connects(&actions);
    assert_eq!(c.len(), 1, "a connection that lived long reconnects without backoff");
    assert_eq!(c[0].1, 1, "the next host in rotation");
    m.opened(c[0].0, t1);
    assert_eq!(notices(&m.poll(t1)), vec![Notice::Connected { host: 1, rollover: false }, Notice::Resumed]);
}

#[test]
fn failing_hosts_back_off_open_their_breakers_and_fall_back_to_rest() {
    let t0 = Instant::now();
    let mut m = Machine::new(limits(), 2, policy());
    m.set_wanted(set(&["a@trade"]), t0);
    let mut now = t0;
    let mut hosts = Vec::new();
    let mut said = Vec::new();
    while now < t0 + Duration::from_secs(10) {
        let actions = m.poll(now);
        said.extend(notices(&actions));
        for (conn, host, _) in connects(&actions) {
            hosts.push(host);
            m.closed(conn, "connection refused", now);
        }
        let next = m.deadline().expect("something to wait for");
        assert!(next > now, "the deadline moves forward (no busy loop)");
        now = next;
    }
    assert_eq!(hosts, vec![0, 1, 0, 1], "hosts rotate; both breakers open after two failures each");
    assert!(said.contains(&Notice::Fallback), "{said:?}");
    assert!(m.in_fallback());
    assert!(!said.iter().any(|n| matches!(n, Notice::Lost { .. })), "nothing was carried, nothing was lost");
    // The breakers' open period ends; a trial connects and the stream resumes.
    let later = t0 + Duration::from_secs(31);
    let c = connects(&m.poll(later));
    assert_eq!(c.len(), 1);
    m.opened(c[0].0, later);
    let back = notices(&m.poll(later));
    assert!(back.contains(&Notice::Resumed), "{back:?}");
    assert!(!m.in_fallback());
}

#[test]
fn the_connection_budget_is_never_exceeded() {
    let t0 = Instant::now();
    let mut l = limits();
    l.connects = 3;
    l.connect_window = Duration::from_secs(60);
    l.max_backoff = Duration::from_millis(1);
    let mut m = Machine::new(l, 1, BreakerPolicy { consecutive_failures: 1000, ..policy() });
    m.set_wanted(set(&["a@trade"]), t0);
    let mut attempts = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(100) {
        for (conn, _, _) in connects(&m.poll(now)) {
            attempts.push(now);
            m.closed(conn, "refused", now);
        }
        let next = m.deadline().expect("deadline");
        assert!(next > now);
        now = next;
    }
    let in_first_minute = attempts.iter().filter(|t| **t < t0 + Duration::from_secs(60)).count();
    assert_eq!(in_first_minute, 3, "{attempts:?}");
    assert!(attempts.len() >= 4, "attempts resume when the window moves on");
}

#[test]
fn a_connection_is_replaced_before_its_lifetime_with_an_overlap() {
    let t0 = Instant::now();
    let (mut m, old) = connected(&["a@trade"], t0);
    assert_eq!(m.deadline(), Some(t0 + PROVEN_AFTER), "the connection proves itself first");
    m.poll(t0 + PROVEN_AFTER);
    let t1 = t0 + Duration::from_secs(3600);
    assert_eq!(m.deadline(), Some(t1));
    let c = connects(&m.poll(t1));
    assert_eq!(c.len(), 1, "a replacement connects while the old one still carries");
    m.opened(c[0].0, t1);
    let actions = m.poll(t1);
    assert_eq!(notices(&actions), vec![Notice::Connected { host: c[0].1, rollover: true }]);
    assert!(!actions.contains(&Action::Close { conn: old }), "the old connection stays for the overlap");
    assert_eq!(m.open_connections(), 2);
    assert_eq!(m.poll(t1 + Duration::from_secs(5)), vec![Action::Close { conn: old }]);
    assert_eq!(m.open_connections(), 1);
}

#[test]
fn an_announced_shutdown_ends_the_lifetime_now() {
    let t0 = Instant::now();
    let (mut m, old) = connected(&["a@trade"], t0);
    let t1 = t0 + Duration::from_secs(60);
    assert!(connects(&m.poll(t1)).is_empty(), "an hour-long lifetime: nothing to do yet");
    m.shutdown_announced(old);
    assert!(m.deadline().is_some_and(|d| d <= t1), "due at once");
    let c = connects(&m.poll(t1));
    assert_eq!(c.len(), 1, "a replacement connects while the announced one still carries");
    m.opened(c[0].0, t1);
    let actions = m.poll(t1);
    assert_eq!(notices(&actions), vec![Notice::Connected { host: c[0].1, rollover: true }]);
    // The upstream closes the announced connection before the overlap ends: no loss.
    m.closed(old, "restart", t1 + Duration::from_secs(2));
    let after = m.poll(t1 + Duration::from_secs(2));
    assert!(notices(&after).is_empty(), "no lost notice: {after:?}");
    assert_eq!(m.open_connections(), 1);
}

#[test]
fn at_most_max_streams_are_wanted() {
    let t0 = Instant::now();
    let mut l = limits();
    l.max_streams = 2;
    l.url_streams = 10;
    let mut m = Machine::new(l, 1, policy());
    m.set_wanted(set(&["a", "b", "c"]), t0);
    assert_eq!(connects(&m.poll(t0))[0].2.len(), 2);
}

/// An upstream that completes the handshake and then aborts at once: the handshake is
/// no success, so the backoff grows and the hosts' breakers open (it used to be redialed
/// about twice a second, spending Binance's 300-per-5-minutes connect budget in 3).
#[test]
fn a_handshake_cut_at_once_does_not_reset_the_backoff() {
    let t0 = Instant::now();
    let mut m = Machine::new(limits(), 2, policy());
    m.set_wanted(set(&["btcusdt@trade"]), t0);
    let mut t = t0;
    let mut dials = 0;
    while t < t0 + Duration::from_secs(60) {
        for (conn, _, _) in connects(&m.poll(t)) {
            dials += 1;
            m.opened(conn, t);
            t += Duration::from_millis(20);
            m.closed(conn, "reset right after the handshake", t);
        }
        let next = m.deadline().unwrap_or(t + Duration::from_millis(100));
        t = next.max(t + Duration::from_millis(1));
    }
    assert!(dials <= 12, "{dials} dials in a minute");
}

/// A connection that stays up proves itself: the next failure starts the backoff over.
#[test]
fn a_connection_open_for_ten_seconds_resets_the_backoff() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["btcusdt@trade"], t0);
    m.failures = 4;
    m.poll(t0 + Duration::from_secs(9));
    assert_eq!(m.failures, 4, "not yet proven");
    m.poll(t0 + Duration::from_secs(10));
    assert_eq!(m.failures, 0);
    m.closed(conn, "cut", t0 + Duration::from_secs(11));
    assert_eq!(m.failures, 0, "a proven connection's end is no failure");
}

/// An upstream that never answers SUBSCRIBE: after the control timeout the connection
/// is given up, its clients hear of the gap, and a new connection asks for every
/// stream again (it used to wait for the answer for ever).
#[test]
fn an_unanswered_subscribe_gives_the_connection_up_and_asks_again() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["a@trade"], t0);
    m.set_wanted(set(&["a@trade", "b@trade"]), t0);
    let sent = sends(&m.poll(t0 + Duration::from_secs(1)));
    assert_eq!(sent.len(), 1, "one SUBSCRIBE for b");
    assert!(m.poll(t0 + Duration::from_millis(5_900)).is_empty(), "waiting for the answer");
    assert!(m.deadline().is_some_and(|d| d <= t0 + Duration::from_secs(6)), "woken at the timeout");
    let at = t0 + Duration::from_secs(6);
    let actions = m.poll(at);
    assert!(actions.contains(&Action::Close { conn }), "{actions:?}");
    assert!(notices(&actions).iter().any(|n| matches!(n, Notice::Lost { .. })), "its clients hear of it");
    let redial = connects(&m.poll(at + m.backoff()));
    assert_eq!(redial.len(), 1, "a new connection");
    let asked: BTreeSet<String> = redial[0].2.iter().cloned().collect();
    assert_eq!(asked, set(&["a@trade", "b@trade"]), "with every wanted stream in its URL");
}

/// The in-flight set (what makes "in flight?" one lookup instead of a scan of every
/// pending request) follows requests and replies: a stream in flight is not asked for
/// twice, and an answered one leaves the set.
#[test]
fn in_flight_streams_are_asked_for_once_and_leave_the_set_when_answered() {
    let t0 = Instant::now();
    let (mut m, conn) = connected(&["a@trade"], t0);
    m.set_wanted(set(&["a@trade", "b@trade", "c@trade"]), t0);
    let first = sends(&m.poll(t0 + Duration::from_secs(1)));
    assert_eq!(first.len(), 1);
    assert_eq!(m.conns[0].in_flight, set(&["b@trade", "c@trade"]).into_iter().collect());
    assert!(sends(&m.poll(t0 + Duration::from_secs(2))).is_empty(), "nothing asked twice");
    m.replied(conn, first[0]["id"].as_u64(), None);
    assert!(m.conns[0].in_flight.is_empty());
    assert!(m.carrier().is_some(), "subscribed to all three");
}

#[test]
fn a_venue_that_subscribes_after_the_handshake_gets_an_empty_url_and_ordered_replies() {
    let t0 = Instant::now();
    let mut l = limits();
    l.protocol = crate::stream::protocol::Protocol::Coinbase;
    l.url_streams = 0;
    let mut m = Machine::new(l, 1, policy());
    m.set_wanted(set(&["matches:BTC-USD", "ticker:BTC-USD"]), t0);
    assert_eq!(connects(&m.poll(t0)), vec![(1, 0, vec![])], "nothing in the URL");
    m.opened(1, t0);
    let actions = m.poll(t0);
    let sent = sends(&actions);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "subscribe");
    assert!(notices(&actions).is_empty(), "not carrying before the answer");
    // Coinbase's answer names no request: it answers the oldest one.
    m.replied(1, None, None);
    assert_eq!(notices(&m.poll(t0)), vec![Notice::Connected { host: 0, rollover: false }]);
    assert_eq!(m.live_host(), Some(0));
}
