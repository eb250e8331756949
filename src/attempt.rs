//! One entry of the attempts list: what was asked of which provider and host, and how
//! it ended. The vocabulary of `error.attempts`, `meta.tried` and the request log.

use serde::Serialize;

use crate::breaker::Outcome;

/// One entry of `error.attempts` and `meta.tried` (and of the request log).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptRecord {
    /// Provider name.
    pub provider: String,
    /// Host label, absent for skips.
    pub host: Option<String>,
    /// Outcome class.
    pub outcome: Outcome,
    /// Duration in ms.
    pub ms: u64,
    /// Detail such as `HTTP 503` or `data[0].price: must be > 0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The provider said it does not list what was asked ([`crate::upstream::classify::Failure::unlisted`]).
    #[serde(skip)]
    pub unlisted: bool,
}

// === impl AttemptRecord ===

impl AttemptRecord {
    /// A provider skipped without reaching any host (not counted).
    pub fn skipped(provider: &str, outcome: Outcome, detail: impl Into<String>) -> Self {
        Self { provider: provider.to_owned(), host: None, outcome, ms: 0, detail: Some(detail.into()), unlisted: false }
    }

    /// Whether the attempt reached a host.
    pub fn reached(&self) -> bool {
        self.host.is_some()
    }
}
