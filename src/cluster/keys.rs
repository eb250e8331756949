//! Redis key names and the Lua scripts that change them atomically.
//!
//! Budgets are counted per provider and *scope*: `ip:<egress>` for providers limited
//! per IP (Binance, keyless CoinGecko), `key:<fingerprint>` for providers limited per
//! API key (a hash of the keys, never a key). Every key of one provider and scope
//! carries the hash tag `{<namespace>|<provider>|<scope>}`, so a script touching several
//! of them stays on one slot. Every key and the event channel start with the
//! deployment's `cluster.namespace` (default `mg`), so two deployments can share one
//! Redis database without counting each other's requests. Windows are aligned to the wall clock as the local budgets are
//! (a `1m` window is a calendar minute; `month` is a calendar month, UTC), and each key
//! expires after its window, so nothing needs cleaning up.

use std::sync::LazyLock;

use redis::Script;
use sha2::{Digest, Sha256};

use crate::config::model::{Period, ProviderConfig};
use crate::state::quota;

/// The scope a provider's limits apply to.
pub fn scope(cfg: &ProviderConfig, egress: &str) -> String {
    match &cfg.auth {
        Some(auth) if !auth.keys.is_empty() => {
            let mut h = Sha256::new();
            for k in &auth.keys {
                h.update(k.expose().as_bytes());
                h.update(b"\n");
            }
            let digest = h.finalize();
            let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            format!("key:{hex}")
        }
        _ => format!("ip:{egress}"),
    }
}

/// The hash tag of a provider and scope.
fn tag(ns: &str, provider: &str, scope: &str) -> String {
    format!("{{{ns}|{provider}|{scope}}}")
}

/// How long a window's key outlives the window, so a late reader still finds it.
pub const LINGER_MS: u64 = 60_000;

/// A budget window's key, and how long it should live (ms): until the window ends,
/// plus [`LINGER_MS`].
pub fn window(ns: &str, provider: &str, scope: &str, name: &str, period: Period, now_ms: u64) -> (String, u64) {
    let (index, ends_at) = quota::window_at(period, now_ms);
    let ttl = ends_at.saturating_sub(now_ms) + LINGER_MS;
    // The period is in the key: replicas on two configs during a rollout never count
    // a `1d` and a `month` window in one key.
    let period = match period {
        Period::Every(d) => crate::config::units::format_duration(d),
        Period::Month => "month".to_owned(),
    };
    (format!("{}:{name}:{period}:{index}", tag(ns, provider, scope)), ttl)
}

/// The bench key of a provider and scope.
pub fn bench(ns: &str, provider: &str, scope: &str) -> String {
    format!("{}:bench", tag(ns, provider, scope))
}

/// A shared cache entry. It and its fill lock share a hash tag, so the scripts that
/// touch both stay on one slot.
pub fn cache(ns: &str, key: &str) -> String {
    format!("{{{ns}|{key}}}:cache")
}

/// The lock of a shared cache fill.
pub fn fill_lock(ns: &str, key: &str) -> String {
    format!("{{{ns}|{key}}}:fill")
}

/// Replicas by their last heartbeat (a sorted set: instance -> unix ms).
pub fn replicas(ns: &str) -> String {
    format!("{ns}:replicas")
}

/// The pub/sub channel of bench and cache-fill events.
pub fn events(ns: &str) -> String {
    format!("{ns}:events")
}

/// Claims a lease of at least `ARGV[1]` weight from every window in `KEYS` (`ARGV[2]`
/// is twice the replica count; `ARGV[1+2i]` the limit and `ARGV[2+2i]` the ttl of
/// `KEYS[i]`): the slice is what every window can give, at most `room / ARGV[2]` and
/// `limit / (4 × ARGV[2])` of each, never less than the weight. `{0, slice, used of each
/// key}`, or `{i, used}` for the first window without room for the weight (nothing
/// taken). Atomic and one round trip; a refusal takes nothing (INCRBY + EXPIRE alone,
/// as envoyproxy/ratelimit does, would count refused requests as spent).
pub const CLAIM: &str = r"
local w = tonumber(ARGV[1])
local div = tonumber(ARGV[2])
local slice = nil
for i, k in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', k) or '0')
  local limit = tonumber(ARGV[1 + 2 * i])
  local room = limit - used
  if room < w then return {i, used} end
  local grant = math.min(math.floor(room / div), math.floor(limit / (4 * div)))
  if grant < w then grant = w end
  if grant > room then grant = room end
  if slice == nil or grant < slice then slice = grant end
end
local out = {0, slice}
for i, k in ipairs(KEYS) do
  local used = redis.call('INCRBY', k, slice)
  if used == slice then redis.call('PEXPIRE', k, ARGV[2 + 2 * i]) end
  out[i + 2] = used
end
return out
";

/// Gives back `ARGV[1]` weight to every window in `KEYS` that still exists (a lease a
/// replica did not spend), never below zero.
pub const GIVE_BACK: &str = r"
for i, k in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', k) or '0')
  if used > 0 then redis.call('DECRBY', k, math.min(used, tonumber(ARGV[1]))) end
end
return 1
";

/// Adds `ARGV[1]` weight to the window `KEYS[1]` (its ttl `ARGV[2]` ms when the add
/// creates it): what a replica spent from its local share while Redis did not count it
/// (`debts.rs`). The new count.
pub const ADD: &str = r"
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return used
";

/// The scripts, each hashed once: redis-rs sends `EVALSHA` with the source's SHA-1
/// (loading the source when Redis does not know it), so building a `Script` per call
/// would hash it on every request.
pub struct Scripts {
    /// [`CLAIM`].
    pub claim: Script,
    /// [`GIVE_BACK`].
    pub give_back: Script,
    /// [`ADD`].
    pub add: Script,
    /// [`SYNC`].
    pub sync: Script,
    /// [`BENCH`].
    pub bench: Script,
    /// [`OBTAIN`].
    pub obtain: Script,
    /// [`FILL`].
    pub fill: Script,
    /// [`RELEASE`].
    pub release: Script,
}

/// [`Scripts`], built on first use.
pub static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    claim: Script::new(CLAIM),
    give_back: Script::new(GIVE_BACK),
    add: Script::new(ADD),
    sync: Script::new(SYNC),
    bench: Script::new(BENCH),
    obtain: Script::new(OBTAIN),
    fill: Script::new(FILL),
    release: Script::new(RELEASE),
});

/// Raises `KEYS[1]` to `ARGV[1]` (a provider's own count, e.g. `x-mbx-used-weight-1m`)
/// when that is more than counted, with ttl `ARGV[2]`.
pub const SYNC: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local rep = tonumber(ARGV[1])
if rep > cur then redis.call('SET', KEYS[1], rep, 'PX', ARGV[2]) return rep end
return cur
";

/// Sets the bench `KEYS[1]` to `ARGV[1]` for `ARGV[2]` ms unless a longer one is set;
/// 1 when it was set.
pub const BENCH: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
";

/// A miss's one round trip: the entry `KEYS[1]` if there is one (`{1, entry}`), else
/// the fill lock `KEYS[2]` taken with token `ARGV[1]` for `ARGV[2]` ms (`{2, false}`),
/// else `{0, false}`: another replica is filling it.
pub const OBTAIN: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, false} end
return {0, false}
";

/// A fill's one round trip: stores `ARGV[1]` in `KEYS[1]` for `ARGV[2]` ms, deletes
/// the lock `KEYS[2]` if it still holds this replica's token `ARGV[3]`, and publishes
/// `ARGV[5]` on the channel `ARGV[4]` to wake the waiters.
pub const FILL: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// Lets go of a fill that failed: deletes the lock `KEYS[1]` if it still holds the
/// token `ARGV[1]`, and publishes `ARGV[3]` on `ARGV[2]` so the waiters fetch now.
pub const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn windows_align_to_the_clock_and_live_past_their_end() {
        let t = 1_795_780_830_000; // 30 s into a minute
        let (k, ttl) = window("mg", "binance", "ip:eu", "quota", Period::Every(Duration::from_secs(60)), t);
        assert_eq!(k, format!("{{mg|binance|ip:eu}}:quota:1m:{}", t / 60_000));
        assert_eq!(ttl, 30_000 + 60_000);
        let (m, _) = window("mg", "coingecko", "key:abc", "credits", Period::Month, t);
        assert!(m.ends_with(&format!(":credits:month:{}", crate::calendar::month_index(t))), "{m}");
    }

    #[test]
    fn every_key_and_the_channel_carry_the_namespace() {
        let (w, _) = window("staging", "binance", "ip:eu", "quota", Period::Every(Duration::from_secs(60)), 0);
        let names = [w, bench("staging", "binance", "ip:eu"), cache("staging", "k"), fill_lock("staging", "k")];
        for name in names.iter().chain([replicas("staging"), events("staging")].iter()) {
            assert!(name.starts_with("staging:") || name.starts_with("{staging|"), "{name}");
        }
        assert_ne!(bench("staging", "binance", "ip:eu"), bench("mg", "binance", "ip:eu"));
    }

    #[test]
    fn keyed_providers_are_scoped_by_a_fingerprint_never_the_key() {
        let text = "[providers.p]\nhosts = [\"http://a:1\"]\nauth = { env = \"K\", header = \"x-key\" }\n";
        let env: std::collections::HashMap<String, String> = [("K".to_owned(), "sk-live-123".to_owned())].into();
        let cfg = crate::config::parse(text, "t.toml", &env).expect("config");
        let s = scope(&cfg.providers[0], "eu");
        assert!(s.starts_with("key:") && s.len() == 16 && !s.contains("sk-live"), "{s}");
        let keyless = crate::config::parse(text, "t.toml", &std::collections::HashMap::new()).expect("config");
        assert_eq!(scope(&keyless.providers[0], "eu"), "ip:eu");
    }
}
