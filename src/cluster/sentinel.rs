//! Redis Sentinel: the master is asked of the sentinels (`SENTINEL
//! get-master-addr-by-name`), checked to be a master (`ROLE`: a replica is never
//! written to), and asked for again when calls fail or a server answers `READONLY`
//! (it was demoted in a failover). Meanwhile requests go on with local shares, as when
//! Redis is down; counting resumes on the new master.

use std::time::Duration;

use crate::config::model::SentinelConfig;
use crate::secret::Secret;

/// The master the sentinels name now, checked with `ROLE`: `(host, port)`.
pub async fn master(cfg: &SentinelConfig, template: &Secret, within: Duration) -> Result<(String, u16), String> {
    let mut why = Vec::new();
    for addr in &cfg.addrs {
        match ask(cfg, addr, within).await {
            Ok((host, port)) => {
                let url = master_url(template.expose(), &host, port);
                return match role(&url, within).await {
                    Ok(role) if role == "master" => Ok((host, port)),
                    Ok(role) => Err(format!("sentinel {addr} names {host}:{port}, which is a {role}, not a master")),
                    Err(e) => Err(format!("sentinel {addr} names {host}:{port}, which does not answer: {e}")),
                };
            }
            Err(e) => why.push(format!("{addr}: {e}")),
        }
    }
    Err(format!("no sentinel named the master {:?} ({})", cfg.master, why.join("; ")))
}

async fn ask(cfg: &SentinelConfig, addr: &str, within: Duration) -> Result<(String, u16), String> {
    let auth = cfg.password.as_ref().map(|p| format!(":{}@", p.expose())).unwrap_or_default();
    // Only the kind: the error text may quote the URL, password and all.
    let client = redis::Client::open(format!("redis://{auth}{addr}")).map_err(|e| format!("{:?}", e.kind()))?;
    let work = async {
        let mut conn = client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
        let found: Option<(String, String)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&cfg.master)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let (host, port) = found.ok_or_else(|| format!("does not know the master {:?}", cfg.master))?;
        let port = port.parse::<u16>().map_err(|_| format!("named the port {port:?}"))?;
        Ok((host, port))
    };
    tokio::time::timeout(within, work).await.map_err(|_| format!("no answer within {} ms", within.as_millis()))?
}

/// The server's `ROLE` (`master`, `slave`, `sentinel`).
async fn role(url: &str, within: Duration) -> Result<String, String> {
    let client = redis::Client::open(url).map_err(|e| format!("{:?}", e.kind()))?;
    let work = async {
        let mut conn = client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
        let reply: redis::Value = redis::cmd("ROLE").query_async(&mut conn).await.map_err(|e| e.to_string())?;
        match reply {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
                Some(redis::Value::SimpleString(s)) => Ok(s.clone()),
                _ => Err("an empty ROLE".to_owned()),
            },
            _ => Err("ROLE is not an array".to_owned()),
        }
    };
    tokio::time::timeout(within, work).await.map_err(|_| format!("no answer within {} ms", within.as_millis()))?
}

/// `template` (`redis://:pw@anything:6379/0`) with its host and port replaced by the
/// master's (credentials, database and scheme kept).
pub fn master_url(template: &str, host: &str, port: u16) -> String {
    let (scheme, rest) = template.split_once("://").unwrap_or(("redis", template));
    let (auth, after) = match rest.rsplit_once('@') {
        Some((auth, after)) => (format!("{auth}@"), after),
        None => (String::new(), rest),
    };
    let tail = after.find('/').map_or("", |i| &after[i..]);
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
    format!("{scheme}://{auth}{host}:{port}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_address_replaces_the_templates_host() {
        assert_eq!(master_url("redis://:pw@sentinel-master:6379/2", "10.0.0.5", 6380), "redis://:pw@10.0.0.5:6380/2");
        assert_eq!(master_url("rediss://u:p@x", "db.internal", 6379), "rediss://u:p@db.internal:6379");
        assert_eq!(master_url("redis://127.0.0.1:1", "::1", 7000), "redis://[::1]:7000");
    }
}
