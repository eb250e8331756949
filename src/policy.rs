//! The failover policy: one set of rules for every request path that tries upstreams
//! one after another (the normalized loop and its hedges, each provider of a gathered
//! or consensus request, the raw passthrough), so they cannot drift apart:
//!
//! * **When an attempt may start** ([`Policy::admit`]): never after the deadline; a
//!   retry (any attempt after the request's first) only when the retry budget grants
//!   it, else the request stops and says so.
//! * **How long it may take** ([`Policy::timeout`]): its provider's `attempt_timeout`,
//!   cut to the time left divided by the tiers left, so a hanging tier leaves the later
//!   tiers their turn.
//! * **Where to go next** ([`Policy::advance`]): a host fault (refused, reset, timeout,
//!   5xx, never a fault of the client's own body) tries the provider's next host;
//!   anything else the next provider.
//! * **What the client is told when nothing answered** ([`Policy::give_up`]): 504
//!   when the deadline passed, 400 `unknown_symbol` when every provider of the pool
//!   said it does not list the pair, 503 when nothing could be tried, 502 otherwise.
//!
//! Pure apart from the retry budget (a shared counter) and one metric; the clock is
//! passed in, so it is tested on the paused clock without sockets.

use std::time::Duration;

use tokio::time::Instant;

use crate::attempt::AttemptRecord;
use crate::breaker::Outcome;
use crate::budget::{BudgetPolicy, RetryBudget};
use crate::candidates::Advance;
use crate::error::{ErrorKind, ProxyError};
use crate::metrics::Metrics;
use crate::upstream::classify::Failure;

/// The rules in force for one request.
pub struct Policy<'a> {
    budget: &'a RetryBudget,
    budget_policy: &'a BudgetPolicy,
    metrics: &'a Metrics,
    /// Metric label of the route (`raw` for the passthrough).
    route_label: &'a str,
    deadline: Instant,
    launched: usize,
    too_large: usize,
    deadline_hit: bool,
    exhausted: bool,
}

/// Why no further attempt may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The request's deadline passed.
    Deadline,
    /// The retry budget is spent (recorded as a skip in the attempt list).
    Budget,
}

/// What the request asked, for the final error's wording.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// Canonical symbols (empty for operations without).
    pub symbols: &'a [String],
    /// The quote.
    pub vs: &'a str,
    /// The whole pool was walked (consensus asks only a pick of it: never a 400).
    pub whole_pool: bool,
}

// === impl Policy ===

impl<'a> Policy<'a> {
    /// The rules for a request that must answer by `deadline`; counts it in the retry
    /// budget (first attempts make room for retries).
    pub fn new(
        budget: &'a RetryBudget,
        budget_policy: &'a BudgetPolicy,
        metrics: &'a Metrics,
        route_label: &'a str,
        deadline: Instant,
    ) -> Self {
        budget.record_request(Instant::now(), budget_policy);
        Self {
            budget,
            budget_policy,
            metrics,
            route_label,
            deadline,
            launched: 0,
            too_large: 0,
            deadline_hit: false,
            exhausted: false,
        }
    }

    /// The request's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether an attempt on `provider` may start at `now`. A retry (every attempt after
    /// the first, hedges included) must be granted by the retry budget; when it is not,
    /// the skip is appended to `attempts` and the request stops trying.
    pub fn admit(&mut self, provider: &str, now: Instant, attempts: &mut Vec<AttemptRecord>) -> Result<(), Stop> {
        if self.exhausted {
            return Err(Stop::Budget);
        }
        if now >= self.deadline {
            self.deadline_hit = true;
            return Err(Stop::Deadline);
        }
        if self.launched > 0 && !self.budget.try_retry(now, self.budget_policy) {
            self.metrics.retry_budget_exhausted.with_label_values(&[self.route_label]).inc();
            let detail = "retry budget exhausted: no further attempts";
            attempts.push(AttemptRecord::skipped(provider, Outcome::Unavailable, detail));
            self.exhausted = true;
            return Err(Stop::Budget);
        }
        self.launched += 1;
        Ok(())
    }

    /// The timeout of an attempt admitted at `now`: the provider's own, cut to the time
    /// left shared among the `tiers_left` (the current one included).
    pub fn timeout(&self, provider_timeout: Duration, tiers_left: usize, now: Instant) -> Duration {
        let remaining = self.deadline.saturating_duration_since(now);
        let share = remaining / tiers_left.max(1) as u32;
        provider_timeout.min(share).min(remaining)
    }

    /// Attempts started so far.
    pub fn launched(&self) -> usize {
        self.launched
    }

    /// Whether the retry budget stopped the request.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Where to go after a failed attempt: the same provider's next host after a host
    /// fault, else the next provider.
    pub fn advance(&mut self, failure: &Failure) -> Advance {
        self.too_large += usize::from(failure.too_large);
        if failure.client_fault.is_none()
            && matches!(failure.outcome, Outcome::ConnectError | Outcome::Timeout | Outcome::Http5xx)
        {
            Advance::NextHost
        } else {
            Advance::NextProvider
        }
    }

    /// Notes that the deadline passed while attempts were in flight.
    pub fn deadline_passed(&mut self) {
        self.deadline_hit = true;
    }

    /// The error when no attempt answered.
    pub fn give_up(&self, asked: Asked<'_>, attempts: Vec<AttemptRecord>) -> ProxyError {
        give_up(asked, attempts, self.too_large, self.deadline_hit)
    }
}

/// The error when no attempt answered (see the module doc), from the attempts made.
pub fn give_up(asked: Asked<'_>, attempts: Vec<AttemptRecord>, too_large: usize, deadline_hit: bool) -> ProxyError {
    let reached = attempts.iter().filter(|a| a.reached()).count();
    if deadline_hit {
        let msg = format!("deadline passed after {reached} attempt(s)");
        return ProxyError::with_attempts(ErrorKind::DeadlineExceeded, msg, attempts);
    }
    if asked.whole_pool && nobody_lists_it(&attempts) {
        let pair = if asked.symbols.is_empty() {
            format!("quote {}", asked.vs)
        } else {
            format!("{}/{}", asked.symbols.join(","), asked.vs)
        };
        let msg = format!("unknown pair: no provider of this route lists {pair} (each one asked said so)");
        return ProxyError::with_attempts(ErrorKind::UnknownSymbol, msg, attempts);
    }
    if reached == 0 {
        let mut e = ProxyError::with_attempts(
            ErrorKind::NoProviderAvailable,
            "no provider could be tried: breakers open, rate-limited, over quota, disabled or unsupported",
            attempts,
        );
        e.retry_after = Some(1);
        return e;
    }
    if too_large == reached {
        return ProxyError::with_attempts(
            ErrorKind::UpstreamBodyTooLarge,
            "every upstream body exceeded max_upstream_body",
            attempts,
        );
    }
    ProxyError::with_attempts(
        ErrorKind::AllProvidersFailed,
        format!("all {reached} upstream attempts failed"),
        attempts,
    )
}

/// At least one provider answered that it does not list the pair, and every other
/// candidate either said the same or was skipped for having no id or mapping for it, or
/// for being disabled here. A host that failed, timed out, or was not tried (breaker,
/// bench, quota) might list it.
fn nobody_lists_it(attempts: &[AttemptRecord]) -> bool {
    let silent = |a: &AttemptRecord| !a.reached() && matches!(a.outcome, Outcome::Unsupported | Outcome::Disabled);
    attempts.iter().any(|a| a.unlisted) && attempts.iter().all(|a| a.unlisted || silent(a))
}

#[cfg(test)]
mod tests;
