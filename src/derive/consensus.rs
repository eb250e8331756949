//! `/v1/price?consensus=N`: one price from several providers' answers.
//!
//! The rule, per symbol: quotes older than the route's `max_quote_age` (60 s) do not
//! vote (listed as `dropped: "stale"`; when none is fresh, the freshest alone is
//! served). Among the voters: the median; with three or more, a voter more than
//! [`OUTLIER_PCT`] % from that median is dropped (`"outlier"`) and the price is the
//! median of the rest (`agree` is false when fewer than two are left). Two voters
//! cannot outvote each other: both are kept, the price is their mean, and `agree` is
//! false when they are more than [`OUTLIER_PCT`] % apart. The answer's `ts` is the
//! oldest kept quote's.

use serde::{Serialize, Serializer};

use crate::normalize::schema::Ts;

/// How far (percent of the median) an answer may be from the median and still count.
pub const OUTLIER_PCT: f64 = 1.0;

/// Why a quote was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Too far from the median of the voters.
    Outlier,
    /// Older than the route's `max_quote_age`.
    Stale,
}

/// One provider's price for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// Provider.
    pub provider: String,
    /// Canonical ticker.
    pub symbol: String,
    /// The provider's id for the coin it quoted (`bitcoin`, `BTCUSDT`): which coin each
    /// vote is for, not only which ticker (set by the request path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its price.
    pub price: f64,
    /// When the provider says the price was current (ms since the epoch).
    pub ts: Ts,
    /// `false` when it counted, else why not: `"outlier"` or `"stale"`.
    #[serde(serialize_with = "dropped")]
    pub dropped: Option<Dropped>,
}

fn dropped<S: Serializer>(d: &Option<Dropped>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        None => s.serialize_bool(false),
        Some(Dropped::Outlier) => s.serialize_str("outlier"),
        Some(Dropped::Stale) => s.serialize_str("stale"),
    }
}

/// The agreed price of one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreed {
    /// Median of the kept answers.
    pub price: f64,
    /// Oldest timestamp among the kept answers.
    pub ts: Ts,
    /// (max − min) / price of the kept answers, percent.
    pub spread_pct: f64,
    /// Answers kept.
    pub kept: usize,
    /// False when two answers are further apart than [`OUTLIER_PCT`].
    pub agree: bool,
    /// No quote was fresh: the freshest was served alone.
    pub stale_only: bool,
}

/// Applies the rule to `quotes` (provider, price, ts) of `symbol` at `now`, with quotes
/// older than `max_age_ms` left out; records every quote in `sources`. `None` without
/// any quote.
pub fn agree(
    symbol: &str,
    quotes: &[(String, f64, Ts)],
    sources: &mut Vec<Source>,
    now: Ts,
    max_age_ms: i64,
) -> Option<Agreed> {
    let fresh: Vec<bool> = quotes.iter().map(|q| now.0.saturating_sub(q.2.0) <= max_age_ms).collect();
    let stale_only = !fresh.contains(&true);
    let freshest = quotes.iter().enumerate().max_by_key(|(_, q)| q.2.0).map(|(i, _)| i)?;
    let votes = |i: usize| if stale_only { i == freshest } else { fresh[i] };
    let prices: Vec<f64> = (0..quotes.len()).filter(|&i| votes(i)).map(|i| quotes[i].1).collect();
    let all = median(&prices)?;
    let voting = prices.len() >= 3;
    let first = sources.len();
    for (i, (provider, price, ts)) in quotes.iter().enumerate() {
        let dropped = if !votes(i) {
            Some(Dropped::Stale)
        } else if voting && (price - all).abs() / all * 100.0 > OUTLIER_PCT {
            Some(Dropped::Outlier)
        } else {
            None
        };
        let (provider, symbol) = (provider.clone(), symbol.to_owned());
        sources.push(Source { provider, symbol, id: None, price: *price, ts: *ts, dropped });
    }
    // Voters split in two camps can all sit away from the median (100, 100, 103, 103):
    // then none is dropped, and they do not agree.
    let mine = &mut sources[first..];
    if mine.iter().filter(|s| s.dropped != Some(Dropped::Stale)).all(|s| s.dropped == Some(Dropped::Outlier)) {
        mine.iter_mut().filter(|s| s.dropped == Some(Dropped::Outlier)).for_each(|s| s.dropped = None);
    }
    let kept: Vec<&(String, f64, Ts)> =
        quotes.iter().zip(&sources[first..]).filter(|(_, s)| s.dropped.is_none()).map(|(q, _)| q).collect();
    let kept_prices: Vec<f64> = kept.iter().map(|q| q.1).collect();
    let price = median(&kept_prices)?;
    let ts = kept.iter().map(|q| q.2).min().unwrap_or(Ts(0));
    let (lo, hi) = kept_prices.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    let spread_pct = (hi - lo) / price * 100.0;
    // Three or more voters agree when at least two are near their median (kept ones
    // are, unless all were kept as two camps); two when they are near each other; one
    // trivially.
    let agree = match prices.len() {
        1 => true,
        2 => spread_pct <= OUTLIER_PCT,
        _ => kept.len() >= 2 && spread_pct <= 2.0 * OUTLIER_PCT,
    };
    Some(Agreed { price, ts, spread_pct, kept: kept.len(), agree, stale_only })
}

/// Median (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Ts = Ts(1_765_000_000_000);
    const MINUTE: i64 = 60_000;

    fn q(p: &str, price: f64) -> (String, f64, Ts) {
        (p.to_owned(), price, NOW)
    }

    fn agree(symbol: &str, quotes: &[(String, f64, Ts)], sources: &mut Vec<Source>) -> Option<Agreed> {
        super::agree(symbol, quotes, sources, NOW, MINUTE)
    }

    #[test]
    fn stale_quotes_do_not_vote_and_are_listed_with_their_ts() {
        let years = Ts(NOW.0 - 3 * 365 * 86_400_000);
        let quotes =
            [q("binance", 90_000.0), ("coingecko".into(), 11_691.65, years), ("coinpaprika".into(), 11_700.0, years)];
        let mut sources = Vec::new();
        let a = agree("BTC", &quotes, &mut sources).expect("agreed");
        assert_eq!((a.price, a.kept, a.stale_only, a.ts), (90_000.0, 1, false, NOW), "the fresh price, not the median");
        let dropped: Vec<_> = sources.iter().map(|s| s.dropped).collect();
        assert_eq!(dropped, [None, Some(Dropped::Stale), Some(Dropped::Stale)]);
        let json = serde_json::to_value(&sources).expect("json");
        assert_eq!(json[0]["dropped"], false);
        assert_eq!(json[1]["dropped"], "stale");
        assert_eq!(json[1]["ts"], years.0);
    }

    #[test]
    fn when_no_quote_is_fresh_the_freshest_is_served_alone() {
        let (old, older) = (Ts(NOW.0 - 10 * MINUTE), Ts(NOW.0 - 60 * MINUTE));
        let quotes = [("a".into(), 100.0, older), ("b".into(), 101.0, old), ("c".into(), 150.0, older)];
        let mut sources = Vec::new();
        let a = agree("BTC", &quotes, &mut sources).expect("agreed");
        assert_eq!((a.price, a.ts, a.stale_only, a.kept), (101.0, old, true, 1));
        assert_eq!(sources.iter().filter(|s| s.dropped == Some(Dropped::Stale)).count(), 2);
    }

    #[test]
    fn the_answer_is_as_old_as_its_oldest_kept_quote() {
        let half = Ts(NOW.0 - MINUTE / 2);
        let quotes = [q("a", 100.0), ("b".into(), 100.2, half), q("c", 100.1)];
        let a = agree("BTC", &quotes, &mut Vec::new()).expect("agreed");
        assert_eq!((a.kept, a.ts), (3, half));
    }

    #[test]
    fn a_price_ten_percent_off_is_dropped_and_listed() {
        let mut sources = Vec::new();
        let a = agree("BTC", &[q("a", 100.0), q("b", 110.0), q("c", 100.4)], &mut sources).expect("agreed");
        assert_eq!(a.kept, 2);
        assert!((a.price - 100.2).abs() < 1e-9);
        assert!((a.spread_pct - 0.4 / 100.2 * 100.0).abs() < 1e-9);
        assert_eq!(sources.iter().map(|s| s.dropped).collect::<Vec<_>>(), [None, Some(Dropped::Outlier), None]);
    }

    #[test]
    fn three_answers_far_apart_do_not_agree() {
        let mut sources = Vec::new();
        let a = agree("BTC", &[q("a", 100.0), q("b", 300.0), q("c", 30.0)], &mut sources).expect("agreed");
        assert_eq!((a.kept, a.agree, a.price), (1, false, 100.0));
    }

    #[test]
    fn answers_in_two_camps_are_all_kept_and_do_not_agree() {
        let mut sources = Vec::new();
        let a = agree("BTC", &[q("a", 100.0), q("b", 100.0), q("c", 103.0), q("d", 103.0)], &mut sources)
            .expect("the symbol is answered");
        assert_eq!((a.kept, a.agree), (4, false));
        assert!((a.price - 101.5).abs() < 1e-9);
        assert!(sources.iter().all(|s| s.dropped.is_none()));
    }

    #[test]
    fn two_answers_that_disagree_are_both_kept_and_said_to_disagree() {
        let mut sources = Vec::new();
        let a = agree("BTC", &[q("a", 100.0), q("b", 110.0)], &mut sources).expect("agreed");
        assert!(!a.agree);
        assert_eq!(a.kept, 2);
        assert!((a.price - 105.0).abs() < 1e-9);
        assert!(sources.iter().all(|s| s.dropped.is_none()));
        let a = agree("BTC", &[q("a", 100.0), q("b", 100.5)], &mut Vec::new()).expect("agreed");
        assert!(a.agree);
    }
}
