//! The pairs a stream provider carries, read from its own REST API (`listed`, e.g.
//! Binance's `/api/v3/ticker/price?symbolStatus=TRADING`): one request per provider
//! per `every` (10 minutes) answers every join, however many symbols it names. Binance
//! accepts any well-formed stream name and then sends nothing for a pair it does not
//! trade, so without this a client would get `subscribed` and keep-alives for ever.
//!
//! The request goes through the provider's hosts, breakers, benches and quota like any
//! other. While no list could be had, joins are not refused for it (the REST check and
//! the silence watchdog still stand); an older list is kept when a refresh fails.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::model::stream::Listed;
use crate::gateway::Gateway;
use crate::normalize::jq::{self, Globals};
use crate::sync::lock;

/// How long after a failed fetch the next join may try again.
const RETRY: Duration = Duration::from_secs(30);

/// What the list says about a join's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every id is listed.
    Listed,
    /// These ids are not.
    Unlisted(Vec<String>),
    /// No list to go by (why).
    Unknown(String),
}

/// Every stream provider's list, kept for its `every`.
#[derive(Default)]
pub struct Listings {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

#[derive(Default)]
struct Slot {
    ids: Option<Arc<HashSet<String>>>,
    fetched: Option<Instant>,
    failed: Option<Instant>,
}

impl Listings {
    /// Which of `ids` `provider` lists, waiting at most `within` for a list. One join
    /// fetches for all that come while it does; a fetch that outlives `within` goes on
    /// in its own task and serves the joins after it.
    pub async fn check(
        &self,
        gw: &Arc<Gateway>,
        provider: &str,
        listed: &Arc<Listed>,
        ids: &[String],
        within: Duration,
    ) -> Verdict {
        let slot = Arc::clone(lock(&self.slots).entry(provider.to_owned()).or_default());
        let (gw, name, listed) = (Arc::clone(gw), provider.to_owned(), Arc::clone(listed));
        let task = tokio::spawn(async move {
            let mut s = slot.lock_owned().await;
            let now = Instant::now();
            let fresh = s.fetched.is_some_and(|at| now < at + listed.every);
            let may_retry = s.failed.is_none_or(|at| now >= at + RETRY);
            if !fresh && may_retry {
                match fetch(&gw, &name, &listed).await {
                    Ok(set) => {
                        tracing::debug!(provider = %name, pairs = set.len(), "stream pair list fetched");
                        *s = Slot { ids: Some(Arc::new(set)), fetched: Some(now), failed: None };
                    }
                    Err(e) => {
                        tracing::warn!(provider = %name, error = %e, "cannot read which pairs the stream lists");
                        s.failed = Some(now);
                        if s.ids.is_none() {
                            return Err(e);
                        }
                    }
                }
            }
            s.ids.clone().ok_or_else(|| "the list could not be read lately".to_owned())
        });
        match tokio::time::timeout(within, task).await {
            Ok(Ok(Ok(set))) => judge(&set, ids),
            Ok(Ok(Err(e))) => Verdict::Unknown(e),
            Ok(Err(e)) => Verdict::Unknown(format!("list task failed: {e}")),
            Err(_) => Verdict::Unknown(format!("no list within {} ms", within.as_millis())),
        }
    }
}

/// `ids` against a list (case is not compared: stream names are lower-case).
pub fn judge(list: &HashSet<String>, ids: &[String]) -> Verdict {
    let unlisted: Vec<String> = ids.iter().filter(|id| !list.contains(&id.to_ascii_uppercase())).cloned().collect();
    if unlisted.is_empty() { Verdict::Listed } else { Verdict::Unlisted(unlisted) }
}

/// The list, read through the provider's hosts, breakers and quota.
async fn fetch(gw: &Gateway, provider: &str, listed: &Listed) -> Result<HashSet<String>, String> {
    super::rest::get(gw, provider, &listed.path, listed.weight, |body| ids_of(listed, body)).await
}

fn ids_of(listed: &Listed, body: &[u8]) -> Result<HashSet<String>, String> {
    let input = jq::parse(body).map_err(|e| format!("list body: {e}"))?;
    let out = listed.ids.run_val(input, &Globals::default()).map_err(|e| format!("listed.ids: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&out.to_string()).map_err(|e| format!("listed.ids: {e}"))?;
    let Some(items) = value.as_array() else { return Err("listed.ids must give an array of ids".into()) };
    let set: HashSet<String> = items.iter().filter_map(|v| v.as_str()).map(str::to_ascii_uppercase).collect();
    if set.is_empty() {
        return Err("the list names no pair".into());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_judged_without_case() {
        let list: HashSet<String> = ["BTCUSDT".to_owned(), "ETHUSDT".to_owned()].into();
        assert_eq!(judge(&list, &["btcusdt".into(), "ETHUSDT".into()]), Verdict::Listed);
        assert_eq!(judge(&list, &["OKBUSDT".into(), "ethusdt".into()]), Verdict::Unlisted(vec!["OKBUSDT".into()]));
    }
}
