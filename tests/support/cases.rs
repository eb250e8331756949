//! The fixture harness of the normalization tests: one (provider, operation) case runs
//! the shipped config with that provider's host at a mock serving the recorded body on
//! the provider's real path (the other providers refuse connections) and checks the
//! normalized answer.

use serde_json::Value;

use super::{Mock, Proxy, Reply, defaults, fixture, get, refused_addr};

/// One recorded body and what the normalized answer must carry.
pub struct Case {
    pub provider: &'static str,
    /// Base path of the provider's host in the shipped config.
    pub base: &'static str,
    /// Client request.
    pub route: &'static str,
    /// What the provider must be asked (path and query prefix, without the base path).
    pub upstream: &'static str,
    pub fixture: &'static str,
    pub check: fn(&Value),
}

pub async fn run(case: &Case) {
    run_edited(case, |cfg| cfg).await;
}

/// [`run`] on the shipped config as `edit` changes it.
pub async fn run_edited(case: &Case, edit: fn(String) -> String) {
    let body = fixture(case.fixture);
    let expected = format!("{}{}", case.base, case.upstream);
    let mock = Mock::start(move |s| {
        if asks_for(&s.path_and_query, &expected) {
            Reply::Json(200, body.clone())
        } else {
            Reply::Json(404, format!(r#"{{"error":"unexpected path {}"}}"#, s.path_and_query))
        }
    })
    .await;
    let url = format!("{}{}", mock.url(), case.base);
    let cfg = edit(defaults::with_hosts(&[(case.provider, url)], &refused_addr().await));
    let proxy = Proxy::start_with(&cfg, defaults::keyed_env(), None, Default::default()).await;
    let r = get(proxy.url(case.route)).await;
    let seen: Vec<String> = mock.seen().iter().map(|s| s.path_and_query.clone()).collect();
    assert_eq!(r.status, 200, "{} {}: {}\nupstream saw {seen:?}", case.provider, case.route, r.text());
    let v = r.json();
    assert_eq!(v["meta"]["provider"], case.provider, "{}", case.route);
    assert_eq!(r.header("x-marketgate-provider").as_deref(), Some(case.provider));
    (case.check)(&v["data"]);
    proxy.stop().await;
}

/// Same path, and every expected query pair present (order does not matter).
fn asks_for(seen: &str, expected: &str) -> bool {
    let split = |t: &str| -> (String, Vec<String>) {
        let (path, query) = t.split_once('?').unwrap_or((t, ""));
        let pairs = query.split('&').filter(|p| !p.is_empty()).map(|p| p.replace("%2C", ",")).collect();
        (path.to_owned(), pairs)
    };
    let (seen_path, seen_pairs) = split(seen);
    let (want_path, want_pairs) = split(expected);
    seen_path == want_path
        && want_pairs
            .iter()
            .all(|p| seen_pairs.iter().any(|s| s == p || (p.ends_with('=') && s.starts_with(p.as_str()))))
}

pub fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|x| (x - b).abs() <= 1e-9 * b.abs().max(1.0))
}

/// Asserts that a JSON number equals a fixture's number (to 1e-9, relative).
#[allow(unused_macros)]
macro_rules! assert_num {
    ($v:expr, $n:expr) => {
        assert!($crate::support::cases::close(&$v, $n), "{} = {} (expected {})", stringify!($v), $v, $n)
    };
}
#[allow(unused_imports)]
pub(crate) use assert_num;
