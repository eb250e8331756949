//! Data computed here from providers' normalized answers: technical indicators from
//! candles, top movers from markets, and a consensus price from several providers.
//! Pure: the pipeline fetches, these modules compute.

pub mod consensus;
pub mod indicators;
pub mod movers;

use crate::answer::Answer;
use crate::normalize::op::{Derive, Operation};
use crate::normalize::params::{OpRequest, ParamError, limit_bounds};
use crate::normalize::schema::Payload;

/// The most candles the ohlcv operation fetches (its `limit` bound).
fn max_candles() -> usize {
    limit_bounds(Operation::Ohlcv, None).map_or(1000, |(_, max)| max as usize)
}

/// How a derived route turns the fetched answer into its own.
#[derive(Debug, Clone)]
pub enum Shaping {
    /// Served as fetched.
    AsIs,
    /// Indicators over the fetched candles; the last `shown` rows are served.
    Indicators {
        /// The indicators.
        spec: indicators::Spec,
        /// Candles asked for.
        shown: usize,
        /// Candles fetched before the first one shown fall short of the warm-up (the
        /// ohlcv operation gives at most 1000): the first values may carry a seed.
        short: bool,
    },
    /// Movers from the fetched markets.
    Movers {
        /// Rises and falls asked for.
        shown: usize,
    },
    /// News: fetched (and cached) whole, whatever `q` and `limit` ask, so every search
    /// shares one fetch and one parse of each feed; the search and limit are applied
    /// to each request's copy ([`Shaping::news`]).
    News {
        /// The search asked.
        q: Option<String>,
        /// Items asked.
        limit: usize,
    },
    /// The coin list: fetched (and cached) whole, merged from every provider; each
    /// request takes its page.
    Coins {
        /// Coins skipped.
        offset: usize,
        /// Coins asked.
        limit: usize,
    },
    /// A coin search over the whole list (`/v1/search`).
    Search {
        /// The search.
        q: String,
        /// Coins asked.
        limit: usize,
    },
}

/// What a request takes from a list every request shares (news, coins).
#[derive(Debug, Clone, Copy)]
pub enum ListCut<'a> {
    /// News items matching `q`, at most `limit`.
    News(Option<&'a str>, usize),
    /// Coins from `offset`, at most `limit`.
    Page(usize, usize),
    /// Coins matching the search, best first, at most `limit`.
    Search(&'a str, usize),
}

impl Shaping {
    /// Checks the derived parameters of `req` and widens what is fetched: extra
    /// candles for the indicators' warm-up, the largest markets page for movers.
    pub fn prepare(derive: Option<Derive>, req: &mut OpRequest) -> Result<Self, ParamError> {
        let asked = req.limit.unwrap_or(1) as usize;
        match derive {
            None if req.op == Operation::News => {
                let limit = req.limit.map_or(usize::MAX, |l| l as usize);
                req.limit = limit_bounds(Operation::News, None).map(|(_, max)| max);
                Ok(Self::News { q: req.q.take(), limit })
            }
            None if req.op == Operation::Coins => {
                req.limit = None;
                Ok(Self::Coins { offset: req.offset.take().unwrap_or(0) as usize, limit: asked })
            }
            None => Ok(Self::AsIs),
            Some(Derive::Search) => {
                req.limit = None;
                Ok(Self::Search { q: req.q.take().unwrap_or_default(), limit: asked })
            }
            Some(Derive::Indicators) => {
                let spec = indicators::Spec::parse(req.indicators.as_deref())?;
                let wanted = asked.saturating_add(spec.warmup());
                let fetch = wanted.min(max_candles());
                req.limit = Some(fetch as u32);
                Ok(Self::Indicators { spec, shown: asked, short: fetch < wanted })
            }
            Some(Derive::Movers) => {
                req.limit = limit_bounds(Operation::Markets, None).map(|(_, max)| max);
                Ok(Self::Movers { shown: asked })
            }
        }
    }

    /// The route's part of the cache key: what is shown, not what is fetched.
    pub fn key(&self) -> String {
        match self {
            Self::AsIs | Self::News { .. } | Self::Coins { .. } | Self::Search { .. } => String::new(),
            Self::Indicators { spec, shown, .. } => format!("|indicators:{shown}:{}", spec.key()),
            Self::Movers { shown } => format!("|movers:{shown}"),
        }
    }

    /// What a news or coins request takes from the shared list.
    pub fn cut(&self) -> Option<ListCut<'_>> {
        match self {
            Self::News { q, limit } => Some(ListCut::News(q.as_deref(), *limit)),
            Self::Coins { offset, limit } => Some(ListCut::Page(*offset, *limit)),
            Self::Search { q, limit } => Some(ListCut::Search(q, *limit)),
            _ => None,
        }
    }

    /// Turns the fetched answer into the served one.
    pub fn apply(&self, answer: &mut Answer) {
        let payload = std::mem::replace(&mut answer.payload, Payload::Price(Vec::new()));
        answer.payload = match (self, payload) {
            (Self::Indicators { spec, shown, short }, Payload::Ohlcv(candles)) => {
                // Short by the ohlcv bound, or because the provider served fewer candles
                // than fetched (Coinbase gives 300, Kraken 720).
                if *short || candles.len() < shown + spec.warmup() {
                    let note = format!(
                        "{} candles fetched for {shown} shown; the warm-up needs {} more, so the first values may still carry their seed",
                        candles.len(),
                        spec.warmup()
                    );
                    let mut extra = answer.extra.as_deref().cloned().unwrap_or_default();
                    extra.insert("note".into(), note.into());
                    answer.extra = Some(std::sync::Arc::new(extra));
                }
                Payload::Indicators(spec.compute(&candles, *shown))
            }
            (Self::Movers { shown }, Payload::Markets(m)) => Payload::Movers(movers::movers(&m, *shown)),
            (_, other) => other,
        };
    }
}
