//! Outcome classes of one upstream attempt, and which of them count against a breaker.

use std::fmt;

/// What happened to one upstream attempt (DESIGN §1). One enum serves breakers,
/// metrics labels and the error body's attempt list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A usable answer.
    Ok,
    /// Refused, reset, TLS or DNS failure before a response.
    ConnectError,
    /// No response (or no complete body) within the attempt timeout.
    Timeout,
    /// 5xx from the upstream.
    Http5xx,
    /// 429, or Binance's 418 ban; benches the whole provider.
    RateLimited,
    /// 451: the provider refuses this client's location (Binance from the US and other
    /// restricted regions). Benches the whole provider for a long time; never a host
    /// fault.
    Blocked,
    /// Another 4xx: the request was bad for this provider.
    Http4xx,
    /// 2xx whose body does not parse or normalize.
    BadBody,
    /// The provider has no id for a symbol, no mapping for the operation, or no interval.
    Unsupported,
    /// Skipped locally: the provider's budget is spent.
    OverQuota,
    /// Skipped locally: every host's breaker is open or the provider is benched.
    Unavailable,
    /// The provider is disabled (for example its API key is unset).
    Disabled,
    /// The request was abandoned (client gone, hedge lost).
    Cancelled,
}

/// How an outcome moves a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Resets the failure count, closes a half-open breaker.
    Success,
    /// Counts toward opening.
    Failure,
    /// Leaves the count alone (and frees a half-open trial slot).
    Neutral,
}

// === impl Outcome ===

impl Outcome {
    /// Every outcome, for pre-registering metric series.
    pub const ALL: [Outcome; 13] = [
        Self::Ok,
        Self::ConnectError,
        Self::Timeout,
        Self::Http5xx,
        Self::RateLimited,
        Self::Blocked,
        Self::Http4xx,
        Self::BadBody,
        Self::Unsupported,
        Self::OverQuota,
        Self::Unavailable,
        Self::Disabled,
        Self::Cancelled,
    ];

    /// The label used in metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ConnectError => "connect_error",
            Self::Timeout => "timeout",
            Self::Http5xx => "http_5xx",
            Self::RateLimited => "rate_limited",
            Self::Blocked => "blocked",
            Self::Http4xx => "http_4xx",
            Self::BadBody => "bad_body",
            Self::Unsupported => "unsupported",
            Self::OverQuota => "over_quota",
            Self::Unavailable => "unavailable",
            Self::Disabled => "disabled",
            Self::Cancelled => "cancelled",
        }
    }

    /// Upstream-sourced failures count against the host; local skips and the
    /// client's own bad requests do not. A 429 benches the provider instead.
    pub fn effect(self) -> Effect {
        match self {
            Self::Ok => Effect::Success,
            Self::ConnectError | Self::Timeout | Self::Http5xx | Self::BadBody => Effect::Failure,
            Self::RateLimited
            | Self::Blocked
            | Self::Http4xx
            | Self::Unsupported
            | Self::OverQuota
            | Self::Unavailable
            | Self::Disabled
            | Self::Cancelled => Effect::Neutral,
        }
    }

    /// Whether the attempt reached an upstream (and so counts as a request to it).
    pub fn reached_upstream(self) -> bool {
        !matches!(self, Self::Unsupported | Self::OverQuota | Self::Unavailable | Self::Disabled)
    }

    /// A small code for storing an outcome in an atomic (its index in [`Outcome::ALL`]).
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|o| *o == self).map_or(0, |i| i as u8)
    }

    /// The outcome of a [`Outcome::code`].
    pub fn from_code(code: u8) -> Self {
        Self::ALL.get(usize::from(code)).copied().unwrap_or(Self::Cancelled)
    }
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upstream_faults_count_against_a_host() {
        let table = [
            (Outcome::Ok, Effect::Success),
            (Outcome::ConnectError, Effect::Failure),
            (Outcome::Timeout, Effect::Failure),
            (Outcome::Http5xx, Effect::Failure),
            (Outcome::BadBody, Effect::Failure),
            (Outcome::RateLimited, Effect::Neutral),
            (Outcome::Blocked, Effect::Neutral),
            (Outcome::Http4xx, Effect::Neutral),
            (Outcome::Unsupported, Effect::Neutral),
            (Outcome::OverQuota, Effect::Neutral),
            (Outcome::Unavailable, Effect::Neutral),
            (Outcome::Disabled, Effect::Neutral),
            (Outcome::Cancelled, Effect::Neutral),
        ];
        assert_eq!(table.len(), Outcome::ALL.len());
        for (outcome, effect) in table {
            assert_eq!(outcome.effect(), effect, "{outcome}");
        }
    }

    #[test]
    fn codes_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_code(o.code()), o);
        }
    }

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Outcome::ALL.len());
    }
}
