//! Data computed here from providers' normalized answers: technical indicators from
//! candles, top movers from markets, and a consensus price from several providers.
//! Pure: the pipeline fetches, these modules compute.

pub mod consensus;
pub mod indicators;
pub mod movers;

use crate::normalize::op::Derive;
use crate::normalize::params::{OpRequest, ParamError};
use crate::normalize::schema::Payload;

/// Most candles the ohlcv operation fetches (its `limit` maximum).
pub const MAX_CANDLES: u32 = 1000;

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
    },
    /// Movers from the fetched markets.
    Movers {
        /// Rises and falls asked for.
        shown: usize,
    },
}

impl Shaping {
    /// Checks the derived parameters of `req` and widens what is fetched: extra
    /// candles for the indicators' warm-up, the largest markets page for movers.
    pub fn prepare(derive: Option<Derive>, req: &mut OpRequest) -> Result<Self, ParamError> {
        match derive {
            None => Ok(Self::AsIs),
            Some(Derive::Indicators) => {
                let spec = indicators::Spec::parse(req.indicators.as_deref())?;
                let shown = req.limit.unwrap_or(100);
                let fetch = (shown as usize).saturating_add(spec.warmup()).min(MAX_CANDLES as usize);
                req.limit = Some(fetch as u32);
                Ok(Self::Indicators { spec, shown: shown as usize })
            }
            Some(Derive::Movers) => {
                let shown = req.limit.unwrap_or(10) as usize;
                req.limit = Some(movers::FETCH);
                Ok(Self::Movers { shown })
            }
        }
    }

    /// The served payload computed from the fetched one.
    pub fn apply(&self, payload: Payload) -> Payload {
        match (self, payload) {
            (Self::Indicators { spec, shown }, Payload::Ohlcv(candles)) => {
                Payload::Indicators(spec.compute(&candles, *shown))
            }
            (Self::Movers { shown }, Payload::Markets(m)) => Payload::Movers(movers::movers(&m, *shown)),
            (_, other) => other,
        }
    }
}
