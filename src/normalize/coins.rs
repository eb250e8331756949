//! The coin list: every provider's list merged into one (a coin listed by CoinGecko
//! and CoinPaprika is one entry carrying both ids), the `[assets]` coins first among
//! equals, and a search over it. Pure.
//!
//! A ticker is not a coin: CoinGecko's list has five `btc` and two `acc` coins. Every
//! coin sharing its ticker with another is `ambiguous`, and its `id` is what the other
//! routes accept for exactly that coin: the ticker for an `[assets]` coin, else the
//! provider's id in the `provider:id` form (`coingecko:acchain`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// One coin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coin {
    /// What `/v1/price?symbols=` and the other routes take for this coin (set by
    /// [`merge`]; a provider's mapping leaves it out).
    #[serde(default)]
    pub id: String,
    /// Upper-case ticker (may be empty: some listed coins have none).
    pub symbol: String,
    /// Display name.
    pub name: String,
    /// Market-cap rank, when a provider ranks it.
    #[serde(default)]
    pub rank: Option<u32>,
    /// The coin's id at each provider, keyed by the provider (or the provider whose
    /// ids it uses, `symbols.ids_from`).
    pub ids: BTreeMap<String, String>,
    /// Another coin has the same ticker (set by [`merge`]).
    #[serde(default)]
    pub ambiguous: bool,
}

/// A coin marketgate knows from `[assets]`: its ticker, name and provider ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The canonical ticker.
    pub ticker: String,
    /// The display name, when configured.
    pub name: Option<String>,
    /// Provider (id namespace) -> id.
    pub ids: BTreeMap<String, String>,
}

/// How a coin matched a search, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    /// Ticker, name or an id equal to the search.
    Exact,
    /// One of them starts with it.
    Prefix,
    /// One of them contains it.
    Contains,
}

/// Merges provider lists (in pool order) into one, `[assets]` coins included: an entry
/// joins the coin that has one of its ids already, else the coin with its ticker and
/// name that has no id of its provider yet. Ranks are the best (lowest) given; a rank of
/// 0 is none. The result is ordered by rank, then ticker, and carries `id` and
/// `ambiguous`. Merging a merged list again gives it back unchanged.
pub fn merge(lists: Vec<Vec<Coin>>, known: &[Known]) -> Vec<Coin> {
    let mut out: Vec<Coin> = Vec::new();
    let mut by_id: HashMap<(String, String), usize> = HashMap::new();
    let mut by_name: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for k in known {
        let coin = Coin {
            id: k.ticker.clone(),
            symbol: k.ticker.clone(),
            name: k.name.clone().unwrap_or_else(|| k.ticker.clone()),
            rank: None,
            ids: k.ids.clone(),
            ambiguous: false,
        };
        index(&mut by_id, &mut by_name, &coin, out.len());
        out.push(coin);
    }
    for mut coin in lists.into_iter().flatten() {
        coin.symbol = coin.symbol.trim().to_uppercase();
        coin.name = coin.name.trim().to_owned();
        coin.rank = coin.rank.filter(|r| *r > 0);
        if coin.name.is_empty() || coin.ids.is_empty() {
            continue;
        }
        let same_id = coin.ids.iter().find_map(|(ns, id)| by_id.get(&(ns.clone(), id.clone())).copied());
        let same_name = || {
            by_name
                .get(&name_key(&coin))
                .and_then(|at| at.iter().copied().find(|&i| coin.ids.keys().all(|ns| !out[i].ids.contains_key(ns))))
        };
        match same_id.or_else(same_name) {
            Some(i) => {
                let target = &mut out[i];
                for (ns, id) in &coin.ids {
                    target.ids.entry(ns.clone()).or_insert_with(|| id.clone());
                }
                target.rank = match (target.rank, coin.rank) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if target.id.is_empty() {
                    target.id = coin.id;
                }
                let snapshot = target.clone();
                index(&mut by_id, &mut by_name, &snapshot, i);
            }
            None => {
                index(&mut by_id, &mut by_name, &coin, out.len());
                out.push(coin);
            }
        }
    }
    let mut tickers: HashMap<&str, usize> = HashMap::new();
    for c in &out {
        *tickers.entry(c.symbol.as_str()).or_default() += 1;
    }
    let ambiguous: Vec<bool> = out.iter().map(|c| !c.symbol.is_empty() && tickers[c.symbol.as_str()] > 1).collect();
    for (coin, ambiguous) in out.iter_mut().zip(ambiguous) {
        coin.ambiguous = ambiguous;
        if coin.id.is_empty()
            && let Some((ns, id)) = coin.ids.iter().next()
        {
            coin.id = format!("{ns}:{id}");
        }
    }
    // [assets] coins first among coins of equal rank (they are the ones the other
    // routes know by ticker).
    out.sort_by(|a, b| {
        let key = |c: &Coin| (c.rank.unwrap_or(u32::MAX), c.id != c.symbol);
        key(a).cmp(&key(b)).then_with(|| a.symbol.cmp(&b.symbol)).then_with(|| a.name.cmp(&b.name))
    });
    out
}

fn index(
    by_id: &mut HashMap<(String, String), usize>,
    by_name: &mut HashMap<(String, String), Vec<usize>>,
    coin: &Coin,
    at: usize,
) {
    for (ns, id) in &coin.ids {
        by_id.entry((ns.clone(), id.clone())).or_insert(at);
    }
    let slot = by_name.entry(name_key(coin)).or_default();
    if !slot.contains(&at) {
        slot.push(at);
    }
}

/// Ticker and name compared without case, spaces or punctuation ("Bitcoin Cash" and
/// "bitcoin-cash" are one name).
fn name_key(coin: &Coin) -> (String, String) {
    let name = coin.name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    (coin.symbol.to_uppercase(), name)
}

/// The coins matching `q` (ticker, name or any id; case ignored), best first: equal
/// before starting with before containing; then by market rank, `[assets]` coins
/// (those with a ticker `id`) before others; an exact ticker before an exact name.
/// At most `limit`.
pub fn search(coins: &[Coin], q: &str, limit: usize) -> Vec<Coin> {
    let q = q.trim().to_lowercase();
    let mut found: Vec<(Match, bool, &Coin)> = coins
        .iter()
        .filter_map(|c| {
            let ticker = c.symbol.to_lowercase();
            let name = c.name.to_lowercase();
            let fields = std::iter::once(ticker.as_str())
                .chain(std::iter::once(name.as_str()))
                .chain(c.ids.values().map(String::as_str))
                .chain(std::iter::once(c.id.as_str()));
            let best = fields
                .filter_map(|f| {
                    let f = f.to_lowercase();
                    if f == q {
                        Some(Match::Exact)
                    } else if f.starts_with(&q) {
                        Some(Match::Prefix)
                    } else if f.contains(&q) {
                        Some(Match::Contains)
                    } else {
                        None
                    }
                })
                .min()?;
            Some((best, ticker == q, c))
        })
        .collect();
    found.sort_by(|(ma, ta, a), (mb, tb, b)| {
        let key = |m: Match, ticker: bool, c: &Coin| (m, c.rank.unwrap_or(u32::MAX), c.id != c.symbol, !ticker);
        key(*ma, *ta, a).cmp(&key(*mb, *tb, b))
    });
    found.into_iter().take(limit).map(|(_, _, c)| c.clone()).collect()
}

/// The page of the merged list from `offset`, at most `limit`.
pub fn page(coins: &[Coin], offset: usize, limit: usize) -> Vec<Coin> {
    coins.iter().skip(offset).take(limit).cloned().collect()
}

#[cfg(test)]
mod tests;
