//! `/v1/movers`: the markets that rose and fell most in 24 h, from the markets
//! operation of whichever provider answers.

use crate::normalize::schema::Market;
use crate::normalize::schema::derived::Movers;

/// The `limit` largest rises and falls by `change_24h_pct` (markets without one are
/// left out; ties keep the provider's order, which is by market cap).
pub fn movers(markets: &[Market], limit: usize) -> Movers {
    let mut moved: Vec<(&Market, f64)> =
        markets.iter().filter_map(|m| m.change_24h_pct.filter(|c| c.is_finite()).map(|c| (m, c))).collect();
    let mut falls = moved.clone();
    // Stable sorts: ties keep the provider's order on both lists.
    moved.sort_by(|a, b| b.1.total_cmp(&a.1));
    falls.sort_by(|a, b| a.1.total_cmp(&b.1));
    let gainers = moved.iter().filter(|(_, c)| *c > 0.0).take(limit).map(|(m, _)| (*m).clone()).collect();
    let losers = falls.iter().filter(|(_, c)| *c < 0.0).take(limit).map(|(m, _)| (*m).clone()).collect();
    Movers { gainers, losers }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(symbol: &str, change: Option<f64>) -> Market {
        Market {
            symbol: symbol.into(),
            name: symbol.into(),
            rank: None,
            price: 1.0,
            market_cap: None,
            volume_24h: None,
            change_24h_pct: change,
        }
    }

    #[test]
    fn rises_and_falls_are_ranked_and_flat_or_unknown_left_out() {
        let all = [
            market("A", Some(5.0)),
            market("B", Some(-7.5)),
            market("C", None),
            market("D", Some(12.0)),
            market("E", Some(0.0)),
            market("F", Some(-1.0)),
            market("G", Some(-7.5)),
        ];
        let m = movers(&all, 10);
        let names = |v: &[Market]| v.iter().map(|m| m.symbol.clone()).collect::<Vec<_>>();
        assert_eq!(names(&m.gainers), ["D", "A"]);
        assert_eq!(names(&m.losers), ["B", "G", "F"], "ties in the provider's order");
        assert_eq!(names(&movers(&all, 1).gainers), ["D"]);
    }
}
