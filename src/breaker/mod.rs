//! The per-host circuit breaker: a pure state machine, with `now` passed in.
//!
//! * `Closed` — traffic flows; consecutive failures are counted.
//! * `Open { until }` — no traffic until `until`; entered after `consecutive_failures`
//!   failures in a row, or when a half-open trial fails. Each re-open doubles the open
//!   period, up to `max_open_for`.
//! * `HalfOpen` — exactly one trial request is let through; its success closes the
//!   breaker, its failure re-opens it. A trial that never reports (cancelled) frees the
//!   slot after `open_for`, so the breaker cannot get stuck.
//!
//! No clock, lock or channel lives here; callers hold the breaker in a mutex.

pub mod outcome;

use std::time::Duration;

use tokio::time::Instant;

pub use outcome::{Effect, Outcome};

/// Breaker thresholds (from `[defaults.breaker]` or a provider override).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open a closed breaker.
    pub consecutive_failures: u32,
    /// First open period.
    pub open_for: Duration,
    /// Longest open period.
    pub max_open_for: Duration,
}

/// Breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Traffic flows; `failures` in a row so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// No traffic until `until`.
    Open {
        /// When a trial may be let through.
        until: Instant,
    },
    /// One trial may run; `trial_since` is set while it is in flight.
    HalfOpen {
        /// Start of the trial in flight, if any.
        trial_since: Option<Instant>,
    },
}

/// What `allow` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead (closed).
    Yes,
    /// Go ahead as the single half-open trial; its outcome decides.
    Trial,
    /// Refused until about `retry_at`.
    No {
        /// Earliest time a request may be admitted again.
        retry_at: Instant,
    },
}

/// A change of state, returned so the caller can log and count it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed or half-open -> open.
    Opened {
        /// The open period chosen.
        open_for: Duration,
    },
    /// Open -> half-open (a trial is going through).
    HalfOpened,
    /// Half-open -> closed.
    Closed,
}

/// One host's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    /// Re-opens since the breaker was last closed (drives the doubling).
    reopens: u32,
    /// When the breaker last opened.
    opened_at: Option<Instant>,
}

// === impl BreakerPolicy ===

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { consecutive_failures: 3, open_for: Duration::from_secs(30), max_open_for: Duration::from_secs(300) }
    }
}

// === impl Breaker ===

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self { policy, state: BreakerState::Closed { failures: 0 }, reopens: 0, opened_at: None }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The policy in force.
    pub fn policy(&self) -> BreakerPolicy {
        self.policy
    }

    /// When the breaker last opened, if it is not closed.
    pub fn opened_at(&self) -> Option<Instant> {
        match self.state {
            BreakerState::Closed { .. } => None,
            _ => self.opened_at,
        }
    }

    /// Consecutive failures counted while closed.
    pub fn failures(&self) -> u32 {
        match self.state {
            BreakerState::Closed { failures } => failures,
            _ => self.policy.consecutive_failures,
        }
    }

    /// Replaces the policy (config reload) while keeping the state.
    pub fn set_policy(&mut self, policy: BreakerPolicy) {
        self.policy = policy;
    }

    /// Whether a request would be admitted now, without taking the half-open slot.
    pub fn would_admit(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } => now >= until,
            BreakerState::HalfOpen { trial_since } => self.trial_slot_free(trial_since, now),
        }
    }

    /// Asks to send a request now.
    pub fn allow(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        match self.state {
            BreakerState::Closed { .. } => (Admit::Yes, None),
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen { trial_since: Some(now) };
                (Admit::Trial, Some(Transition::HalfOpened))
            }
            BreakerState::Open { until } => (Admit::No { retry_at: until }, None),
            BreakerState::HalfOpen { trial_since } if self.trial_slot_free(trial_since, now) => {
                self.state = BreakerState::HalfOpen { trial_since: Some(now) };
                (Admit::Trial, None)
            }
            BreakerState::HalfOpen { trial_since } => {
                let retry_at = trial_since.map_or(now, |t| t + self.policy.open_for);
                (Admit::No { retry_at }, None)
            }
        }
    }

    /// Records the outcome of an admitted request.
    pub fn record(&mut self, effect: Effect, now: Instant) -> Option<Transition> {
        match (self.state, effect) {
            (_, Effect::Neutral) => {
                if let BreakerState::HalfOpen { .. } = self.state {
                    self.state = BreakerState::HalfOpen { trial_since: None };
                }
                None
            }
            (BreakerState::Closed { .. }, Effect::Success) => {
                self.state = BreakerState::Closed { failures: 0 };
                None
            }
            (BreakerState::Closed { failures }, Effect::Failure) => {
                let failures = failures + 1;
                if failures >= self.policy.consecutive_failures {
                    Some(self.open(now))
                } else {
                    self.state = BreakerState::Closed { failures };
                    None
                }
            }
            (BreakerState::HalfOpen { .. }, Effect::Success) => {
                self.state = BreakerState::Closed { failures: 0 };
                self.reopens = 0;
                self.opened_at = None;
                Some(Transition::Closed)
            }
            (BreakerState::HalfOpen { .. }, Effect::Failure) => {
                self.reopens = self.reopens.saturating_add(1);
                Some(self.open(now))
            }
            // A late report from a request admitted before the breaker opened.
            (BreakerState::Open { .. }, _) => None,
        }
    }

    /// Records the outcome of a request admitted with `admit`. While half-open, only the
    /// trial's outcome counts: a request admitted before the breaker opened, finishing
    /// late, must neither close it, re-open it nor free the trial slot.
    pub fn record_admitted(&mut self, admit: Admit, effect: Effect, now: Instant) -> Option<Transition> {
        if matches!(self.state, BreakerState::HalfOpen { .. }) && admit != Admit::Trial {
            return None;
        }
        self.record(effect, now)
    }

    /// Closes the breaker at once (an active health probe succeeded).
    pub fn force_close(&mut self) -> Option<Transition> {
        let was_closed = matches!(self.state, BreakerState::Closed { .. });
        self.state = BreakerState::Closed { failures: 0 };
        self.reopens = 0;
        self.opened_at = None;
        (!was_closed).then_some(Transition::Closed)
    }

    /// Opens the breaker at once (an active health probe failed).
    pub fn force_open(&mut self, now: Instant) -> Option<Transition> {
        match self.state {
            BreakerState::Open { .. } => None,
            _ => Some(self.open(now)),
        }
    }

    fn open(&mut self, now: Instant) -> Transition {
        let factor = 2u32.saturating_pow(self.reopens.min(16));
        let open_for = self.policy.open_for.saturating_mul(factor).min(self.policy.max_open_for);
        self.state = BreakerState::Open { until: now + open_for };
        self.opened_at = Some(now);
        Transition::Opened { open_for }
    }

    fn trial_slot_free(&self, trial_since: Option<Instant>, now: Instant) -> bool {
        trial_since.is_none_or(|t| now >= t + self.policy.open_for)
    }
}

#[cfg(test)]
mod tests;
