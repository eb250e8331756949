//! Lists every request shares (news, coins): fetched and cached whole, then each
//! request's cut (its search, page and limit) taken from the shared copy.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::Reply;
use crate::cache::Cached;
use crate::derive::ListCut;
use crate::normalize::coins::{self, Coin};
use crate::normalize::news;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::{News, Payload};

/// The coin list last read from a cached entry: a search on a cached list of 17,000
/// coins reads its 2 MB once, not once per keystroke of an autocomplete.
static PARSED: Mutex<Option<(Bytes, Arc<Vec<Coin>>)>> = Mutex::new(None);

/// `reply` cut as `cut` asks.
pub fn cut(reply: Reply, cut: ListCut<'_>) -> Reply {
    match reply {
        Reply::Fresh { mut answer, ttl, .. } => {
            let payload = std::mem::replace(&mut answer.payload, Payload::News(Vec::new()));
            answer.payload = match (payload, cut) {
                (Payload::News(items), ListCut::News(q, limit)) => Payload::News(news::search(items, q, limit)),
                (Payload::Coins(list), ListCut::Page(offset, limit)) => {
                    Payload::Coins(coins::page(&list, offset, limit))
                }
                (Payload::Coins(list), ListCut::Search(q, limit)) => Payload::Coins(coins::search(&list, q, limit)),
                (other, _) => other,
            };
            let data = Bytes::from(serde_json::to_vec(&answer.payload).unwrap_or_default());
            Reply::Fresh { answer, data, ttl }
        }
        Reply::Cached { entry, result, ttl } => {
            let data = match cut {
                ListCut::News(q, limit) => {
                    let items: Vec<News> = serde_json::from_slice(&entry.data).unwrap_or_default();
                    serde_json::to_vec(&news::search(items, q, limit))
                }
                ListCut::Page(offset, limit) => {
                    serde_json::to_vec(&coins::page(&cached_coins(&entry.data), offset, limit))
                }
                ListCut::Search(q, limit) => serde_json::to_vec(&coins::search(&cached_coins(&entry.data), q, limit)),
            };
            let entry = Arc::new(Cached {
                data: Bytes::from(data.unwrap_or_default()),
                order: Vec::new(),
                missing: entry.missing.clone(),
                provider: entry.provider.clone(),
                host: entry.host.clone(),
                fetched: entry.fetched,
                extra: entry.extra.clone(),
            });
            Reply::Cached { entry, result, ttl }
        }
    }
}

/// A cached coin list, parsed once per cache entry.
fn cached_coins(data: &Bytes) -> Arc<Vec<Coin>> {
    let mut last = PARSED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // The same cache entry is the same buffer: no need to compare 2 MB.
    if let Some((bytes, list)) = last.as_ref()
        && ((bytes.as_ptr() == data.as_ptr() && bytes.len() == data.len()) || bytes == data)
    {
        return Arc::clone(list);
    }
    let list: Arc<Vec<Coin>> = Arc::new(serde_json::from_slice(data).unwrap_or_default());
    *last = Some((data.clone(), Arc::clone(&list)));
    list
}

/// What the request asked, put back for the envelope (the fetch asked for everything).
pub fn restore(req: &mut OpRequest, cut: ListCut<'_>) {
    let (q, offset, limit) = match cut {
        ListCut::News(q, limit) => (q, None, limit),
        ListCut::Page(offset, limit) => (None, Some(offset), limit),
        ListCut::Search(q, limit) => (Some(q), None, limit),
    };
    req.q = q.map(str::to_owned);
    req.offset = offset.and_then(|o| u32::try_from(o).ok());
    req.limit = u32::try_from(limit).ok();
}
