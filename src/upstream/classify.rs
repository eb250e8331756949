//! The one table from what came back to an outcome class: an HTTP status (with the
//! provider's own rate-limit statuses), a transport error, or a client-side body fault.
//! Every failed attempt, whoever made it, is described by a [`Failure`].

use std::time::Duration;

use crate::bench::BLOCKED_STATUS;
use crate::body::ClientFault;
use crate::breaker::Outcome;
use crate::transport::client::SendError;

/// A failed attempt (or a skip), as every caller reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Outcome class.
    pub outcome: Outcome,
    /// What went wrong (never holds a secret).
    pub detail: String,
    /// How long to bench the provider (429/418), from `Retry-After` or the mapping.
    pub retry_after: Option<Duration>,
    /// HTTP status, when one arrived.
    pub status: Option<u16>,
    /// The body exceeded `max_upstream_body`.
    pub too_large: bool,
    /// The client's own request body failed the attempt (too large, stalled, broken).
    pub client_fault: Option<ClientFault>,
    /// The provider answered that it does not list the asked symbol or quote.
    pub unlisted: bool,
}

// === impl Failure ===

impl Failure {
    /// A failure with an outcome and a detail.
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            detail: detail.into(),
            retry_after: None,
            status: None,
            too_large: false,
            client_fault: None,
            unlisted: false,
        }
    }

    /// The provider said it does not list the asked symbol or quote: like
    /// [`Failure::not_for_this_provider`], and when every provider asked says so the
    /// client gets 400 `unknown_symbol` rather than 502.
    pub fn unlisted(detail: impl Into<String>) -> Self {
        Self { unlisted: true, ..Self::not_for_this_provider(detail) }
    }

    /// The request did not suit this provider (a symbol or quote it does not list): fail
    /// over without a breaker penalty. A client can ask for anything, so nothing it asks
    /// may count against a host.
    pub fn not_for_this_provider(detail: impl Into<String>) -> Self {
        Self::new(Outcome::Http4xx, detail)
    }
}

/// The outcome of a response status. `rate_limit` lists the statuses that bench the
/// provider (Binance adds 403, its WAF limit); 451 is a refused location whatever the
/// provider's list says.
pub fn status(status: u16, rate_limit: &[u16]) -> Outcome {
    match status {
        BLOCKED_STATUS => Outcome::Blocked,
        s if rate_limit.contains(&s) => Outcome::RateLimited,
        500..=599 => Outcome::Http5xx,
        400..=499 => Outcome::Http4xx,
        _ => Outcome::Ok,
    }
}

/// The outcome of a transport error.
pub fn send_error(e: &SendError) -> Outcome {
    match e {
        SendError::Timeout(_) => Outcome::Timeout,
        SendError::Connect(_) | SendError::Broken(_) => Outcome::ConnectError,
    }
}

/// The outcome when the client's body caused the failure: the attempt was abandoned by
/// the client, which says nothing about the host.
pub fn client_fault(_: ClientFault) -> Outcome {
    Outcome::Cancelled
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::DEFAULT_RATE_LIMIT_STATUSES;

    #[test]
    fn statuses_classify_with_the_providers_rate_limit_list() {
        let table = [
            (200, Outcome::Ok),
            (304, Outcome::Ok),
            (400, Outcome::Http4xx),
            (403, Outcome::Http4xx),
            (404, Outcome::Http4xx),
            (418, Outcome::RateLimited),
            (429, Outcome::RateLimited),
            (451, Outcome::Blocked),
            (500, Outcome::Http5xx),
            (503, Outcome::Http5xx),
        ];
        for (s, o) in table {
            assert_eq!(status(s, &DEFAULT_RATE_LIMIT_STATUSES), o, "{s}");
        }
        assert_eq!(status(403, &[403, 418, 429]), Outcome::RateLimited, "Binance's WAF limit");
        assert_eq!(status(451, &[451]), Outcome::Blocked, "a refused location is never a mere rate limit");
    }

    #[test]
    fn transport_errors_classify() {
        assert_eq!(send_error(&SendError::Timeout(Duration::from_secs(1))), Outcome::Timeout);
        assert_eq!(send_error(&SendError::Connect("refused".into())), Outcome::ConnectError);
        assert_eq!(send_error(&SendError::Broken("reset".into())), Outcome::ConnectError);
    }

    #[test]
    fn client_faults_never_count_against_a_host() {
        assert_eq!(client_fault(ClientFault::TooLarge).effect(), crate::breaker::Effect::Neutral);
        assert_eq!(Failure::not_for_this_provider("no GRAM/QQQ").outcome.effect(), crate::breaker::Effect::Neutral);
    }
}
