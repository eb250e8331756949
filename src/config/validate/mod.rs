//! Schema -> typed [`Config`]: defaults filled in, `${VAR}` expanded, cross-references
//! checked, jq programs compiled. Every problem found is reported, each with its key
//! path and, where the value was spanned, its line.

pub mod cluster;
mod limits;
mod ops;
mod providers;
mod routes;
mod stream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::env::{EnvLookup, expand};
use super::error::Problem;
use super::model::*;
use super::schema::{FileConfig, ServerSection};
use crate::secret::Secret;
use crate::transport::url::BaseUrl;

/// Shared state of one validation pass.
pub(crate) struct Ctx<'a> {
    /// The file's text (to locate spanned program offsets).
    pub source: &'a str,
    /// Environment lookup.
    pub env: &'a dyn EnvLookup,
    /// Problems found so far.
    pub problems: Vec<Problem>,
}

/// Validates a parsed file. `Err` holds every problem found.
pub fn validate(file: FileConfig, source: &str, info: SourceInfo, env: &dyn EnvLookup) -> Result<Config, Vec<Problem>> {
    let mut cx = Ctx { source, env, problems: Vec::new() };
    let server = server(&mut cx, &file.server);
    let upstream = UpstreamConfig {
        extra_ca_file: file.upstream.extra_ca_file.as_deref().and_then(|p| cx.path("upstream.extra_ca_file", p)),
        pool_max_idle_per_host: file.upstream.pool_max_idle_per_host.unwrap_or(256),
        pool_idle_timeout: file.upstream.pool_idle_timeout.map_or(Duration::from_secs(90), |d| d.0),
        user_agent: file
            .upstream
            .user_agent
            .clone()
            .unwrap_or_else(|| format!("marketgate/{}", env!("CARGO_PKG_VERSION"))),
    };
    let log = LogConfig {
        format: file.log.format.unwrap_or_default(),
        level: file.log.level.clone().unwrap_or_else(|| "info".into()),
        buffer_lines: file.log.buffer_lines.unwrap_or(16_384).max(1),
    };
    let admin = admin(&mut cx, &file);
    if let Some(problem) = unprotected_admin(&server, &admin) {
        cx.problems.push(Problem::new("admin.token_env", problem));
    }
    let cache = CacheConfig {
        max_entries: file.cache.max_entries.unwrap_or(10_000),
        max_bytes: file.cache.max_bytes.map_or(64 << 20, |s| s.0 as usize),
    };
    let retry_budget = retry_budget(&mut cx, file.defaults.retry_budget.as_ref());
    let app = file.app.as_ref().and_then(|a| {
        let url = cx.expand("app.upstream", &a.upstream)?;
        match BaseUrl::parse(&url) {
            Ok(upstream) => Some(AppConfig { upstream, timeout: a.timeout.map_or(server.deadline, |d| d.0) }),
            // A value from the environment is never echoed: it may hold a credential.
            Err(_) if a.upstream.contains("${") => {
                cx.fail("app.upstream", format!("{} does not expand to an http(s) base URL", a.upstream))
            }
            Err(e) => cx.fail("app.upstream", e.to_string()),
        }
    });
    let assets = Arc::new(assets(&mut cx, &file));
    let aliases = aliases(&mut cx, &file);
    let cluster = cluster::cluster(&mut cx, file.cluster.as_ref());
    let providers = providers::providers(&mut cx, &file, &assets);
    let routes = routes::routes(&mut cx, &file, &providers);
    if cx.problems.is_empty() {
        let assets = Arc::try_unwrap(assets).unwrap_or_else(|shared| (*shared).clone());
        Ok(Config {
            source: info,
            server,
            upstream,
            log,
            admin,
            cache,
            retry_budget,
            app,
            assets,
            aliases,
            cluster,
            providers,
            routes,
        })
    } else {
        Err(cx.problems)
    }
}

fn server(cx: &mut Ctx<'_>, s: &ServerSection) -> ServerConfig {
    let addr = |cx: &mut Ctx<'_>, key: &str, value: Option<&String>, default: &str| -> SocketAddr {
        let text = value.and_then(|v| cx.expand(key, v)).unwrap_or_else(|| default.to_owned());
        match text.parse() {
            Ok(a) => a,
            Err(_) => {
                cx.problems.push(Problem::new(key, format!("{text:?} is not an address like 127.0.0.1:8080")));
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        }
    };
    let listen = addr(cx, "server.listen", s.listen.as_ref(), "127.0.0.1:8080");
    let admin_listen = addr(cx, "server.admin_listen", s.admin_listen.as_ref(), "127.0.0.1:9901");
    if listen == admin_listen && listen.port() != 0 {
        cx.problems.push(Problem::new("server.admin_listen", "must differ from server.listen"));
    }
    let max_header_size = s.max_header_size.map_or(16 * 1024, |v| v.0 as usize);
    if max_header_size < 8192 {
        cx.problems.push(Problem::new("server.max_header_size", "must be at least 8KiB"));
    }
    let tls = s.tls.as_ref().and_then(|t| {
        let cert = cx.path("server.tls.cert", &t.cert)?;
        let key = cx.path("server.tls.key", &t.key)?;
        Some(TlsFiles { cert, key })
    });
    let positive = |cx: &mut Ctx<'_>, key: &str, d: Option<crate::config::units::DurationStr>, default: u64| {
        let d = d.map_or(Duration::from_millis(default), |d| d.0);
        if d.is_zero() {
            cx.problems.push(Problem::new(key, "must be longer than 0"));
        }
        d
    };
    ServerConfig {
        listen,
        admin_listen,
        deadline: positive(cx, "server.deadline", s.deadline, 5000),
        max_upstream_body: s.max_upstream_body.map_or(8 << 20, |v| v.0 as usize),
        max_request_body: s.max_request_body.map_or(1 << 20, |v| v.0 as usize),
        header_read_timeout: positive(cx, "server.header_read_timeout", s.header_read_timeout, 10_000),
        idle_timeout: positive(cx, "server.idle_timeout", s.idle_timeout, 60_000),
        max_header_size,
        max_uri_length: s.max_uri_length.map_or(8192, |v| v.0 as usize),
        max_query_params: s.max_query_params.unwrap_or(32),
        max_connections: s.max_connections.unwrap_or(4096).max(1),
        shutdown_grace: s.shutdown_grace.map_or(Duration::from_secs(10), |d| d.0),
        tls,
    }
}

fn admin(cx: &mut Ctx<'_>, file: &FileConfig) -> AdminConfig {
    let a = &file.admin;
    let token = a.token_env.as_ref().and_then(|name| {
        let value = cx.env.get(name).filter(|v| !v.is_empty());
        if value.is_none() {
            cx.problems
                .push(Problem::new("admin.token_env", format!("{name} is not set; set it or remove admin.token_env")));
        }
        value.map(Secret::new)
    });
    let public_paths =
        a.public_paths.clone().unwrap_or_else(|| vec!["/healthz".into(), "/readyz".into(), "/metrics".into()]);
    AdminConfig {
        token,
        token_env: a.token_env.clone(),
        public_paths,
        history_interval: a.history_interval.map_or(Duration::from_secs(10), |d| d.0),
        history_points: a.history_points.unwrap_or(90).clamp(2, 10_000),
        hosts: a.hosts.clone().unwrap_or_default(),
        audit_file: a.audit_file.as_ref().filter(|f| !f.trim().is_empty()).map(std::path::PathBuf::from),
    }
}

fn retry_budget(cx: &mut Ctx<'_>, spec: Option<&super::schema::RetryBudgetSpec>) -> crate::budget::BudgetPolicy {
    let base = crate::budget::BudgetPolicy::default();
    let Some(s) = spec else { return base };
    let policy = crate::budget::BudgetPolicy {
        ratio: s.ratio.unwrap_or(base.ratio),
        min_per_second: s.min_per_second.unwrap_or(base.min_per_second),
        window: s.window.map_or(base.window, |d| d.0),
    };
    if !(0.0..=10.0).contains(&policy.ratio) || !(0.0..=1e6).contains(&policy.min_per_second) || policy.window.is_zero()
    {
        cx.problems
            .push(Problem::new("defaults.retry_budget", "ratio must be 0-10, min_per_second >= 0 and window > 0"));
    }
    policy
}

fn is_ticker(s: &str) -> bool {
    !s.is_empty() && s.len() <= 15 && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn assets(cx: &mut Ctx<'_>, file: &FileConfig) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for (ticker, spec) in &file.assets {
        if !is_ticker(ticker) {
            cx.problems.push(Problem::new(format!("assets.{ticker}"), "asset keys are upper-case tickers like BTC"));
        }
        for provider in spec.ids.keys() {
            if !file.providers.contains_key(provider) {
                cx.problems.push(Problem::new(
                    format!("assets.{ticker}.{provider}"),
                    format!("no provider named {provider:?} (keys other than name must be provider names)"),
                ));
            }
        }
        out.insert(ticker.clone(), spec.name.clone());
    }
    out
}

/// `aliases` of every asset: upper-case tickers, none an asset itself or taken twice.
fn aliases(cx: &mut Ctx<'_>, file: &FileConfig) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (ticker, spec) in &file.assets {
        for alias in &spec.aliases {
            let key = format!("assets.{ticker}.aliases");
            if !is_ticker(alias) {
                cx.problems.push(Problem::new(key, format!("{alias:?} is not an upper-case ticker like TON")));
            } else if file.assets.contains_key(alias) {
                cx.problems
                    .push(Problem::new(key, format!("{alias} is an asset of its own, so it cannot be an alias")));
            } else if let Some(other) = out.get(alias) {
                cx.problems.push(Problem::new(key, format!("{alias} is already an alias of {other}")));
            } else {
                out.insert(alias.clone(), ticker.clone());
            }
        }
    }
    out
}

// === impl Ctx ===

impl Ctx<'_> {
    /// Expands `${VAR}` in `value`, recording a problem at `key` on failure.
    pub fn expand(&mut self, key: &str, value: &str) -> Option<String> {
        match expand(value, self.env) {
            Ok(v) => Some(v),
            Err(e) => self.fail(key, e.to_string()),
        }
    }

    /// Expands `${VAR}` in `value` and says which byte ranges came from the environment.
    pub fn expand_marked(&mut self, key: &str, value: &str) -> Option<(String, Vec<std::ops::Range<usize>>)> {
        match super::env::expand_marked(value, self.env) {
            Ok(v) => Some(v),
            Err(e) => self.fail(key, e.to_string()),
        }
    }

    /// Expands a file path; an empty result is a problem.
    fn path(&mut self, key: &str, value: &str) -> Option<PathBuf> {
        let v = self.expand(key, value)?;
        if v.is_empty() {
            return self.fail(key, "path is empty".to_owned());
        }
        Some(PathBuf::from(v))
    }

    /// Records a problem and returns `None`.
    pub fn fail<T>(&mut self, key: &str, message: String) -> Option<T> {
        self.problems.push(Problem::new(key, message));
        None
    }

    /// Records a problem at a source span and returns `None`.
    pub fn fail_at<T>(&mut self, key: &str, span: std::ops::Range<usize>, message: String) -> Option<T> {
        self.problems.push(Problem::spanned(key, span, message));
        None
    }
}
