//! `[cluster]`: the Redis URL (checked, never echoed with its password), the replica
//! count, the egress name, the key namespace and the per-request Redis timeout.

use std::time::Duration;

use super::Ctx;
use crate::config::model::{ClusterConfig, RedisTls, SentinelConfig};
use crate::config::schema::ClusterSection;
use crate::secret::Secret;

/// Default longest wait for Redis on a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5);

/// Default prefix of the Redis keys (the keys of deployments before namespaces).
pub const DEFAULT_NAMESPACE: &str = "mg";

/// The cluster settings, or `None` for a single replica (no section, or an empty URL).
pub(super) fn cluster(cx: &mut Ctx<'_>, spec: Option<&ClusterSection>) -> Option<ClusterConfig> {
    let spec = spec?;
    let url = cx.expand("cluster.redis", spec.redis.as_deref().unwrap_or(""))?;
    let url = url.trim().to_owned();
    if url.is_empty() {
        return None;
    }
    let shown = without_password(&url);
    let tls_url = url.starts_with("rediss://");
    if !(tls_url || url.starts_with("redis://") || url.starts_with("redis+unix://") || url.starts_with("unix://")) {
        let msg = format!(
            "{shown}: expected a redis:// or rediss:// URL (for Sentinel, list them in cluster.sentinels with \
             cluster.master; Redis Cluster is not supported, see docs/CONFIG.md)"
        );
        return cx.fail("cluster.redis", msg);
    }
    let tls = tls_material(cx, spec, tls_url)?;
    if let Err(e) = redis::Client::open(url.as_str()) {
        // Only the kind: the error text may quote the URL, password and all.
        return cx.fail("cluster.redis", format!("{shown}: not a usable Redis URL ({:?})", e.kind()));
    }
    let replicas = spec.replicas.unwrap_or(1);
    if replicas == 0 {
        return cx.fail("cluster.replicas", "must be at least 1".to_owned());
    }
    let egress = cx.expand("cluster.egress", spec.egress.as_deref().unwrap_or("default"))?;
    let egress = if egress.trim().is_empty() { "default".to_owned() } else { egress.trim().to_owned() };
    if !egress.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
        return cx.fail("cluster.egress", format!("{egress:?}: letters, digits, '-', '_', '.' and ':' only"));
    }
    let namespace = cx.expand("cluster.namespace", spec.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE))?;
    let namespace = namespace.trim().to_owned();
    if namespace.is_empty()
        || namespace.len() > 32
        || !namespace.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return cx.fail(
            "cluster.namespace",
            format!("{namespace:?}: 1 to 32 letters, digits, '-', '_' or '.' (it prefixes every Redis key)"),
        );
    }
    let timeout = spec.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    if timeout.is_zero() || timeout > Duration::from_secs(1) {
        return cx.fail("cluster.timeout", "must be more than 0 and at most 1s".to_owned());
    }
    let secret = match spec.secret.as_deref() {
        None => None,
        Some(raw) => {
            let text = cx.expand("cluster.secret", raw)?;
            let text = text.trim();
            if text.is_empty() {
                None
            } else if text.chars().count() < 16 {
                // The value itself is never echoed.
                return cx.fail("cluster.secret", "must be at least 16 characters (or empty: unsigned)".to_owned());
            } else {
                Some(Secret::new(text))
            }
        }
    };
    let sentinel = sentinels(cx, spec)?;
    Some(ClusterConfig {
        sentinel,
        tls,
        secret,
        redis: Secret::new(url),
        redis_shown: shown,
        replicas,
        egress,
        namespace,
        cache: spec.cache.unwrap_or(true),
        timeout,
    })
}

/// `sentinels`, `master` and `sentinel_password`; `Some(None)` without sentinels.
fn sentinels(cx: &mut Ctx<'_>, spec: &ClusterSection) -> Option<Option<SentinelConfig>> {
    let addrs: Vec<String> = spec.sentinels.iter().flatten().map(|a| a.trim().to_owned()).collect();
    if addrs.is_empty() {
        if spec.master.is_some() {
            return cx
                .fail("cluster.master", "names a Sentinel master: list the sentinels in cluster.sentinels".into());
        }
        return Some(None);
    }
    for a in &addrs {
        let port_ok = a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return cx.fail("cluster.sentinels", format!("{a:?} is not host:port"));
        }
    }
    let Some(master) = spec.master.as_deref().map(str::trim).filter(|m| !m.is_empty()) else {
        return cx.fail("cluster.master", "is required with cluster.sentinels (the name in `sentinel monitor`)".into());
    };
    let password = match spec.sentinel_password.as_deref() {
        Some(raw) => {
            Some(cx.expand("cluster.sentinel_password", raw)?).filter(|p| !p.trim().is_empty()).map(Secret::new)
        }
        None => None,
    };
    Some(Some(SentinelConfig { addrs, master: master.to_owned(), password }))
}

/// `ca_file`, `cert_file` and `key_file`, read now (a file that cannot be read is an
/// error naming its key); `Some(None)` when none is set.
fn tls_material(cx: &mut Ctx<'_>, spec: &ClusterSection, tls_url: bool) -> Option<Option<RedisTls>> {
    let files = [("ca_file", &spec.ca_file), ("cert_file", &spec.cert_file), ("key_file", &spec.key_file)];
    let given: Vec<&str> = files.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| *k).collect();
    if given.is_empty() {
        return Some(None);
    }
    if !tls_url {
        return cx.fail(&format!("cluster.{}", given[0]), "TLS files need a rediss:// URL in cluster.redis".into());
    }
    let mut read = |key: &str, path: &Option<crate::config::schema::Templated>| -> Option<Option<Vec<u8>>> {
        let Some(raw) = path else { return Some(None) };
        let path = cx.expand(&format!("cluster.{key}"), raw)?;
        let path = path.trim();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return cx.fail(&format!("cluster.{key}"), format!("cannot read {path}: {e}")),
        };
        if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            return cx.fail(&format!("cluster.{key}"), format!("{path} is not PEM (no -----BEGIN line)"));
        }
        Some(Some(bytes))
    };
    let ca = read("ca_file", &spec.ca_file)?;
    let cert = read("cert_file", &spec.cert_file)?;
    let key = read("key_file", &spec.key_file)?;
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, Secret::new(String::from_utf8_lossy(&k).into_owned()))),
        (None, None) => None,
        _ => return cx.fail("cluster.cert_file", "mutual TLS takes both cert_file and key_file".into()),
    };
    Some(Some(RedisTls { ca, client }))
}

/// `redis://user:secret@host:6379/0` as `redis://user:***@host:6379/0`, and a socket
/// URL's `?pass=` (or `password=`) as `?pass=***`. The user part ends at the last `@`,
/// so a password with `/`, `?`, `#` or `@` in it is hidden whole.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "***".to_owned() };
    if scheme.contains("unix") {
        let Some((path, query)) = rest.split_once('?') else { return url.to_owned() };
        let masked: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("pass") || k.eq_ignore_ascii_case("password") => {
                    format!("{k}=***")
                }
                _ => kv.to_owned(),
            })
            .collect();
        return format!("{scheme}://{path}?{}", masked.join("&"));
    }
    let Some(at) = rest.rfind('@') else { return url.to_owned() };
    let user = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{user}{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(without_password("redis://u:p4ss@r:6379/0"), "redis://u:***@r:6379/0");
        assert_eq!(without_password("redis://:p4ss@r:6379"), "redis://:***@r:6379");
        assert_eq!(without_password("redis://tokenonly@r"), "redis://***@r");
        assert_eq!(without_password("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(without_password("redis://u:p/a?s#s@r:6379/0"), "redis://u:***@r:6379/0", "a password with / ? #");
        assert_eq!(without_password("redis://:a@b@r"), "redis://:***@r");
        assert_eq!(
            without_password("redis+unix:///run/r.sock?db=1&pass=s3cr3t"),
            "redis+unix:///run/r.sock?db=1&pass=***"
        );
        assert_eq!(without_password("unix:///run/r.sock?password=s3cr3t"), "unix:///run/r.sock?password=***");
    }
}
