//! The nine normalized operations and the ohlcv intervals.

use std::fmt;
use std::str::FromStr;

/// A normalized operation (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Spot price of one or more symbols.
    Price,
    /// 24 h rolling ticker of one symbol.
    Ticker,
    /// Candles of one symbol.
    Ohlcv,
    /// Order book of one symbol.
    Orderbook,
    /// Top assets by market cap.
    Markets,
    /// Exchanges by volume.
    Exchanges,
    /// News articles.
    News,
    /// Fear and greed index.
    Sentiment,
    /// The coins the providers list, with their ids (`/v1/coins`, `/v1/search`).
    Coins,
}

/// A candle interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// One minute.
    M1,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// One hour.
    H1,
    /// Four hours.
    H4,
    /// One day.
    D1,
}

/// An unknown operation or interval name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}; expected one of: {expected}")]
pub struct UnknownName {
    what: &'static str,
    name: String,
    expected: String,
}

/// Data a route computes from an operation's answer instead of serving it as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derive {
    /// Technical indicators from `ohlcv` candles (`/v1/indicators`).
    Indicators,
    /// The largest 24 h rises and falls from `markets` (`/v1/movers`).
    Movers,
    /// Coins whose ticker, name or id matches a search, from `coins` (`/v1/search`).
    Search,
}

impl Derive {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Indicators => "indicators",
            Self::Movers => "movers",
            Self::Search => "search",
        }
    }

    /// The operation whose answers it is computed from.
    pub fn from_op(self) -> Operation {
        match self {
            Self::Indicators => Operation::Ohlcv,
            Self::Movers => Operation::Markets,
            Self::Search => Operation::Coins,
        }
    }
}

impl FromStr for Derive {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Indicators, Self::Movers, Self::Search].into_iter().find(|d| d.as_str() == s).ok_or_else(|| {
            UnknownName { what: "derive", name: s.to_owned(), expected: "indicators, movers, search".to_owned() }
        })
    }
}

// === impl Operation ===

impl Operation {
    /// Every operation, in documentation order.
    pub const ALL: [Operation; 9] = [
        Self::Price,
        Self::Ticker,
        Self::Ohlcv,
        Self::Orderbook,
        Self::Markets,
        Self::Exchanges,
        Self::News,
        Self::Sentiment,
        Self::Coins,
    ];

    /// The config and URL name (`price`, `ohlcv`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price => "price",
            Self::Ticker => "ticker",
            Self::Ohlcv => "ohlcv",
            Self::Orderbook => "orderbook",
            Self::Markets => "markets",
            Self::Exchanges => "exchanges",
            Self::News => "news",
            Self::Sentiment => "sentiment",
            Self::Coins => "coins",
        }
    }

    /// Whether requests name symbols (and so go through symbol mapping).
    pub fn takes_symbols(self) -> bool {
        matches!(self, Self::Price | Self::Ticker | Self::Ohlcv | Self::Orderbook)
    }
}

impl FromStr for Operation {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|op| op.as_str() == s).ok_or_else(|| UnknownName {
            what: "operation",
            name: s.to_owned(),
            expected: Self::ALL.map(Operation::as_str).join(", "),
        })
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Interval ===

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 6] = [Self::M1, Self::M5, Self::M15, Self::H1, Self::H4, Self::D1];

    /// The canonical name (`1m` ... `1d`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::H1 => "1h",
            Self::H4 => "4h",
            Self::D1 => "1d",
        }
    }

    /// Length in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Self::M1 => 60_000,
            Self::M5 => 300_000,
            Self::M15 => 900_000,
            Self::H1 => 3_600_000,
            Self::H4 => 14_400_000,
            Self::D1 => 86_400_000,
        }
    }
}

impl FromStr for Interval {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|i| i.as_str() == s).ok_or_else(|| UnknownName {
            what: "interval",
            name: s.to_owned(),
            expected: Self::ALL.map(Interval::as_str).join(" "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>(), Ok(i));
        }
    }

    #[test]
    fn unknown_names_list_the_choices() {
        let err = "3h".parse::<Interval>().expect_err("unknown");
        assert_eq!(err.to_string(), "unknown interval \"3h\"; expected one of: 1m 5m 15m 1h 4h 1d");
        assert!("prices".parse::<Operation>().is_err());
    }
}
