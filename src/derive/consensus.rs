//! `/v1/price?consensus=N`: one price from several providers' answers.
//!
//! The rule: per symbol, the median of every answer; with three or more answers, an
//! answer more than [`OUTLIER_PCT`] % from that median is dropped and the price is the
//! median of the rest (`agree` is false when fewer than two are left). Two answers
//! cannot outvote each other: both are kept, the price is their mean, and `agree` is
//! false when they are more than [`OUTLIER_PCT`] % apart.

use serde::Serialize;

use crate::normalize::schema::Ts;

/// How far (percent of the median) an answer may be from the median and still count.
pub const OUTLIER_PCT: f64 = 1.0;

/// One provider's price for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// Provider.
    pub provider: String,
    /// Canonical ticker.
    pub symbol: String,
    /// Its price.
    pub price: f64,
    /// Left out as an outlier.
    pub dropped: bool,
}

/// The agreed price of one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreed {
    /// Median of the kept answers.
    pub price: f64,
    /// Newest timestamp among the kept answers.
    pub ts: Ts,
    /// (max − min) / price of the kept answers, percent.
    pub spread_pct: f64,
    /// Answers kept.
    pub kept: usize,
    /// False when two answers are further apart than [`OUTLIER_PCT`].
    pub agree: bool,
}

/// Applies the rule to `quotes` (provider, price, ts) of `symbol`; marks dropped
/// sources in `sources`. `None` without any quote.
pub fn agree(symbol: &str, quotes: &[(String, f64, Ts)], sources: &mut Vec<Source>) -> Option<Agreed> {
    let prices: Vec<f64> = quotes.iter().map(|q| q.1).collect();
    let all = median(&prices)?;
    let voting = prices.len() >= 3;
    let first = sources.len();
    for (provider, price, _) in quotes {
        let dropped = voting && (price - all).abs() / all * 100.0 > OUTLIER_PCT;
        sources.push(Source { provider: provider.clone(), symbol: symbol.to_owned(), price: *price, dropped });
    }
    // Answers split in two camps can all sit away from the median (100, 100, 103, 103):
    // then none is dropped, and they do not agree.
    if sources[first..].iter().all(|s| s.dropped) {
        sources[first..].iter_mut().for_each(|s| s.dropped = false);
    }
    let kept: Vec<&(String, f64, Ts)> =
        quotes.iter().zip(&sources[first..]).filter(|(_, s)| !s.dropped).map(|(q, _)| q).collect();
    let kept_prices: Vec<f64> = kept.iter().map(|q| q.1).collect();
    let price = median(&kept_prices)?;
    let ts = kept.iter().map(|q| q.2).max().unwrap_or(Ts(0));
    let (lo, hi) = kept_prices.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    let spread_pct = (hi - lo) / price * 100.0;
    // Three or more answers agree when at least two are near their median (kept ones
    // are, unless all were kept as two camps); two when they are near each other; one
    // trivially.
    let agree = match prices.len() {
        1 => true,
        2 => spread_pct <= OUTLIER_PCT,
        _ => kept.len() >= 2 && spread_pct <= 2.0 * OUTLIER_PCT,
    };
    Some(Agreed { price, ts, spread_pct, kept: kept.len(), agree })
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

    fn q(p: &str, price: f64) -> (String, f64, Ts) {
        (p.to_owned(), price, Ts(1))
    }

    #[test]
    fn a_price_ten_percent_off_is_dropped_and_listed() {
        let mut sources = Vec::new();
        let a = agree("BTC", &[q("a", 100.0), q("b", 110.0), q("c", 100.4)], &mut sources).expect("agreed");
        assert_eq!(a.kept, 2);
        assert!((a.price - 100.2).abs() < 1e-9);
        assert!((a.spread_pct - 0.4 / 100.2 * 100.0).abs() < 1e-9);
        assert_eq!(sources.iter().map(|s| s.dropped).collect::<Vec<_>>(), [false, true, false]);
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
        assert!(sources.iter().all(|s| !s.dropped));
    }

    #[test]
    fn two_answers_that_disagree_are_both_kept_and_said_to_disagree() {
        let mut sources = Vec::new();
        let a = agree("BTC", &[q("a", 100.0), q("b", 110.0)], &mut sources).expect("agreed");
        assert!(!a.agree);
        assert_eq!(a.kept, 2);
        assert!((a.price - 105.0).abs() < 1e-9);
        assert!(sources.iter().all(|s| !s.dropped));
        let a = agree("BTC", &[q("a", 100.0), q("b", 100.5)], &mut Vec::new()).expect("agreed");
        assert!(a.agree);
    }
}
