//! The upstream connection of one provider as a pure state machine: which streams are
//! wanted, which connection carries them, when to connect (host rotation, per-host
//! breakers, backoff, the connect-attempt budget), when to send SUBSCRIBE/UNSUBSCRIBE
//! (paced, batched), when to replace a connection before its lifetime ends (a
//! replacement that overlaps the old one), and when the stream counts as down long
//! enough to fall back to REST. `now` is passed in; the driver turns [`Action`]s into
//! socket work and reports back. Tested on the clock alone (`machine/tests.rs`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::protocol::Method;
use crate::breaker::{Admit, Breaker, BreakerPolicy, Effect};
pub use crate::config::model::stream::Limits;

/// A connection's id (unique per machine).
pub type ConnId = u64;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a connection to `hosts[host]` with `url_streams` already in the URL.
    Connect {
        /// The new connection.
        conn: ConnId,
        /// Index into the configured hosts.
        host: usize,
        /// Streams for the URL (never empty for Binance; empty for the protocols that
        /// subscribe after the handshake).
        streams: Vec<String>,
    },
    /// Send a text frame.
    Send {
        /// On this connection.
        conn: ConnId,
        /// The frame.
        text: String,
    },
    /// Close a connection (retired, or nothing is wanted).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Tell clients, logs and metrics.
    Notify(Notice),
}

/// Things clients or operators should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A connection is subscribed and carries the data (`rollover`: it replaced one).
    Connected {
        /// Host index.
        host: usize,
        /// It replaced a connection at the end of its lifetime.
        rollover: bool,
    },
    /// The connection carrying the data was lost: messages in between are missing.
    Lost {
        /// Host index.
        host: usize,
        /// Why.
        reason: String,
    },
    /// Down for `fallback_after`: serve from REST.
    Fallback,
    /// The stream carries the data again after `Lost` or `Fallback`.
    Resumed,
    /// The upstream refused these streams (they are not asked for again until wanted anew).
    Rejected {
        /// The streams.
        streams: Vec<String>,
        /// The upstream's words.
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Replacement,
    Retiring { until: Instant },
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    host: usize,
    admit: Admit,
    role: Role,
    open_since: Option<Instant>,
    subscribed: BTreeSet<String>,
    /// Control requests sent and not answered: method, streams, when sent.
    pending: HashMap<u64, (Method, Vec<String>, Instant)>,
    /// Every stream in `pending` (the planner asks "in flight?" once per wanted stream:
    /// a scan of `pending` for each made it quadratic).
    in_flight: std::collections::HashSet<String>,
    last_control: Option<Instant>,
    /// The upstream announced it will close this connection: its lifetime is over.
    doomed: bool,
    /// Open for [`PROVEN_AFTER`]: its host's breaker has counted the success and the
    /// backoff is reset. A bare handshake proves nothing (an upstream that accepts and
    /// then aborts would otherwise be redialed at the first backoff step for ever).
    proven: bool,
}

/// How long a connection must stay open before it counts as a success.
const PROVEN_AFTER: Duration = Duration::from_secs(10);

/// How long a SUBSCRIBE or UNSUBSCRIBE may go unanswered before its connection is given
/// up (and its streams asked for again on a new one).
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// A subscribed primary carries the data (or nothing is wanted).
    Up,
    /// No carrying connection since `since`; `Lost` was said when `announced`.
    Down { since: Instant, announced: bool },
    /// Serving from REST.
    Fallback,
}

/// The machine.
#[derive(Debug)]
pub struct Machine {
    limits: Limits,
    hosts: Vec<Breaker>,
    cursor: usize,
    want: BTreeSet<String>,
    rejected: BTreeSet<String>,
    conns: Vec<Conn>,
    attempts: VecDeque<Instant>,
    next_conn: ConnId,
    next_req: u64,
    failures: u32,
    retry_at: Option<Instant>,
    health: Health,
    out: Vec<Action>,
}

impl Machine {
    /// A machine over `hosts` hosts, each with its own breaker.
    pub fn new(limits: Limits, hosts: usize, breaker: BreakerPolicy) -> Self {
        Self {
            limits,
            hosts: (0..hosts).map(|_| Breaker::new(breaker)).collect(),
            cursor: 0,
            want: BTreeSet::new(),
            rejected: BTreeSet::new(),
            conns: Vec::new(),
            attempts: VecDeque::new(),
            next_conn: 1,
            next_req: 1,
            failures: 0,
            retry_at: None,
            health: Health::Up,
            out: Vec::new(),
        }
    }

    /// Replaces the limits and, when the host count changed, the hosts (a reload).
    pub fn reconfigure(&mut self, limits: Limits, hosts: usize, breaker: BreakerPolicy) {
        self.limits = limits;
        if hosts != self.hosts.len() {
            self.hosts = (0..hosts).map(|_| Breaker::new(breaker)).collect();
            self.cursor = 0;
        }
    }

    /// The streams clients want now (at most `max_streams` are kept).
    pub fn set_wanted(&mut self, want: BTreeSet<String>, now: Instant) {
        self.rejected.retain(|s| want.contains(s));
        self.want = want.into_iter().take(self.limits.max_streams).collect();
        if self.want.is_empty() {
            self.health = Health::Up;
        } else if self.health == Health::Up
            && !self.conns.iter().any(|c| c.role == Role::Primary && c.open_since.is_some())
        {
            self.health = Health::Down { since: now, announced: false };
        }
    }

    /// Whether clients are being served from REST.
    pub fn in_fallback(&self) -> bool {
        self.health == Health::Fallback
    }

    /// Open connections (for the gauge).
    pub fn open_connections(&self) -> usize {
        self.conns.iter().filter(|c| c.open_since.is_some()).count()
    }

    /// The host index of the connection carrying the data, if any.
    pub fn carrier_host(&self) -> Option<usize> {
        self.carrier().map(|c| c.host)
    }

    /// The host of the open primary connection (it carries data, though it may still
    /// be subscribing to streams a client has just asked for).
    pub fn live_host(&self) -> Option<usize> {
        self.conns.iter().find(|c| c.role == Role::Primary && c.open_since.is_some()).map(|c| c.host)
    }

    /// `conn` finished its handshake.
    pub fn opened(&mut self, conn: ConnId, now: Instant) {
        let Some(i) = self.index(conn) else { return };
        let c = &mut self.conns[i];
        c.open_since = Some(now);
        self.retry_at = None;
    }

    /// Connections open for [`PROVEN_AFTER`] count as a success: their host's breaker
    /// records it and the backoff starts over.
    fn prove(&mut self, now: Instant) {
        for c in self.conns.iter_mut().filter(|c| !c.proven) {
            if c.open_since.is_some_and(|t| now.saturating_duration_since(t) >= PROVEN_AFTER) {
                c.proven = true;
                self.hosts[c.host].record_admitted(c.admit, Effect::Success, now);
                self.failures = 0;
            }
        }
    }

    /// `conn` failed to connect, or was closed or broke after opening.
    pub fn closed(&mut self, conn: ConnId, reason: &str, now: Instant) {
        let Some(i) = self.index(conn) else { return };
        let c = self.conns.remove(i);
        if matches!(c.role, Role::Retiring { .. }) {
            return;
        }
        // A connection that never opened, or broke before it proved itself, counts
        // against its host and lengthens the backoff.
        let short = !c.proven && c.open_since.is_none_or(|t| now.saturating_duration_since(t) < PROVEN_AFTER);
        let effect = match (c.proven, short) {
            (true, _) => Effect::Neutral,
            (false, true) => Effect::Failure,
            (false, false) => Effect::Success,
        };
        self.hosts[c.host].record_admitted(c.admit, effect, now);
        self.cursor = (c.host + 1) % self.hosts.len().max(1);
        if short {
            self.failures = self.failures.saturating_add(1);
            self.retry_at = Some(now + self.backoff());
        } else {
            self.failures = 0;
        }
        if c.role == Role::Primary {
            if let Some(r) = self.conns.iter_mut().find(|r| r.role == Role::Replacement) {
                // The replacement takes over as soon as it is subscribed.
                r.role = Role::Primary;
            }
            let carried = c.open_since.is_some();
            if carried && self.health == Health::Up && !self.want.is_empty() {
                self.out.push(Action::Notify(Notice::Lost { host: c.host, reason: reason.to_owned() }));
                self.health = Health::Down { since: now, announced: true };
            }
        }
    }

    /// The upstream announced it will close `conn` soon (Binance's `serverShutdown`):
    /// its lifetime ends now, so a replacement connects at once, overlaps it and takes
    /// over before the close (trades deduplicated across the two, no gap).
    pub fn shutdown_announced(&mut self, conn: ConnId) {
        if let Some(i) = self.index(conn) {
            self.conns[i].doomed = true;
        }
    }

    /// The upstream answered control request `id` on `conn` (`None`: its oldest
    /// unanswered one, for venues that answer in order without ids).
    pub fn replied(&mut self, conn: ConnId, id: Option<u64>, error: Option<String>) {
        let Some(i) = self.index(conn) else { return };
        let c = &mut self.conns[i];
        let Some(id) = id.or_else(|| c.pending.keys().min().copied()) else { return };
        let Some((method, streams, _)) = c.pending.remove(&id) else { return };
        for s in &streams {
            c.in_flight.remove(s);
        }
        match (method, error) {
            (Method::Subscribe, None) => c.subscribed.extend(streams),
            (Method::Unsubscribe, None) => {
                for s in &streams {
                    c.subscribed.remove(s);
                }
            }
            (Method::Subscribe, Some(reason)) => {
                self.rejected.extend(streams.iter().cloned());
                self.out.push(Action::Notify(Notice::Rejected { streams, reason }));
            }
            (Method::Unsubscribe, Some(_)) => {}
        }
    }

    /// Advances to `now`: returns what to do.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        while self.attempts.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.limits.connect_window) {
            self.attempts.pop_front();
        }
        self.retire(now);
        self.prove(now);
        self.give_up_unanswered(now);
        if self.want.is_empty() {
            for c in self.conns.drain(..) {
                self.out.push(Action::Close { conn: c.id });
            }
            return std::mem::take(&mut self.out);
        }
        if !self.conns.iter().any(|c| c.role == Role::Primary) {
            self.connect(Role::Primary, now);
        }
        let expired = self.conns.iter().any(|c| {
            c.role == Role::Primary
                && c.open_since.is_some_and(|t| c.doomed || now.saturating_duration_since(t) >= self.limits.lifetime)
        });
        if expired && !self.conns.iter().any(|c| c.role == Role::Replacement) {
            self.connect(Role::Replacement, now);
        }
        for i in 0..self.conns.len() {
            self.control(i, now);
        }
        self.promote(now);
        if let Health::Down { since, .. } = self.health
            && now.saturating_duration_since(since) >= self.limits.fallback_after
        {
            self.health = Health::Fallback;
            self.out.push(Action::Notify(Notice::Fallback));
        }
        std::mem::take(&mut self.out)
    }

    /// When [`poll`](Self::poll) next has something to do, absent new input (never a
    /// time at which `poll` would find nothing to do, so a driver cannot spin).
    pub fn deadline(&self) -> Option<Instant> {
        let mut at: Vec<Instant> = Vec::new();
        let has_replacement = self.conns.iter().any(|c| c.role == Role::Replacement);
        for c in &self.conns {
            if let Role::Retiring { until } = c.role {
                at.push(until);
            }
            if c.role == Role::Primary
                && !has_replacement
                && let Some(t) = c.open_since
            {
                let expiry = if c.doomed { t } else { t + self.limits.lifetime };
                at.push(self.next_connect().map_or(expiry, |n| n.max(expiry)));
            }
            if let Some(t) = c.open_since.filter(|_| !c.proven) {
                at.push(t + PROVEN_AFTER);
            }
            if let Some(sent) = c.pending.values().map(|(_, _, t)| *t).min() {
                at.push(sent + CONTROL_TIMEOUT);
            }
            if let Some(last) = c.last_control.filter(|_| self.next_control(c).is_some()) {
                at.push(last + self.limits.control_interval);
            }
        }
        if !self.want.is_empty() && !self.conns.iter().any(|c| c.role == Role::Primary) {
            at.extend(self.next_connect());
        }
        if let Health::Down { since, .. } = self.health {
            at.push(since + self.limits.fallback_after);
        }
        at.into_iter().min()
    }
}

mod plan;

#[cfg(test)]
mod tests;
