//! The machine's private steps: when a connection may be attempted and where, which
//! control message a connection needs next, promotion of a subscribed replacement, and
//! retirement after the overlap.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::{Action, Conn, ConnId, Health, Machine, Notice, Role};
use crate::breaker::Admit;
use crate::stream::protocol::Method;

impl Machine {
    /// The earliest time a connection attempt could be made: after the backoff, inside
    /// the attempt budget, and when some host's breaker lets one through. `None`: no
    /// constraint (now).
    pub(super) fn next_connect(&self) -> Option<Instant> {
        let mut t = self.retry_at;
        if self.attempts.len() >= self.limits.connects
            && let Some(first) = self.attempts.front()
        {
            let free = *first + self.limits.connect_window;
            t = Some(t.map_or(free, |r| r.max(free)));
        }
        let open_until: Vec<Instant> = self
            .hosts
            .iter()
            .map(|b| match b.state() {
                crate::breaker::BreakerState::Open { until } => Some(until),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        if let Some(first_open) = open_until.into_iter().min() {
            t = Some(t.map_or(first_open, |r| r.max(first_open)));
        }
        t
    }

    pub(super) fn index(&self, conn: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == conn)
    }

    /// The connection that carries every wanted stream (a subscribed primary).
    pub(super) fn carrier(&self) -> Option<&Conn> {
        self.conns.iter().find(|c| c.role == Role::Primary && c.open_since.is_some() && self.covers(c))
    }

    pub(super) fn covers(&self, c: &Conn) -> bool {
        c.pending.is_empty() && self.want.iter().all(|s| c.subscribed.contains(s) || self.rejected.contains(s))
    }

    pub(super) fn backoff(&self) -> Duration {
        let step = Duration::from_millis(250).saturating_mul(1 << self.failures.min(10).saturating_sub(1));
        step.min(self.limits.max_backoff)
    }

    pub(super) fn connect(&mut self, role: Role, now: Instant) {
        if self.retry_at.is_some_and(|t| now < t)
            || self.attempts.len() >= self.limits.connects
            || self.hosts.is_empty()
        {
            return;
        }
        let n = self.hosts.len();
        let Some((host, admit)) =
            (0..n).map(|k| (self.cursor + k) % n).find_map(|h| match self.hosts[h].allow(now).0 {
                Admit::No { .. } => None,
                admit => Some((h, admit)),
            })
        else {
            return;
        };
        self.attempts.push_back(now);
        let id = self.next_conn;
        self.next_conn += 1;
        let streams: Vec<String> =
            self.want.iter().filter(|s| !self.rejected.contains(*s)).take(self.limits.url_streams).cloned().collect();
        // Binance refuses a combined connection that names no stream.
        let streams = if streams.is_empty() && self.limits.protocol.streams_in_url() {
            self.want.iter().take(1).cloned().collect()
        } else {
            streams
        };
        self.out.push(Action::Connect { conn: id, host, streams: streams.clone() });
        self.conns.push(Conn {
            id,
            host,
            admit,
            role,
            open_since: None,
            subscribed: streams.into_iter().collect(),
            pending: HashMap::new(),
            in_flight: std::collections::HashSet::new(),
            last_control: None,
            doomed: false,
            proven: false,
        });
    }

    /// The next control message `c` needs, ignoring pacing: streams wanted but neither
    /// subscribed, refused nor in flight (SUBSCRIBE first, for waiting clients), else
    /// streams subscribed but no longer wanted. A retiring connection needs none.
    pub(super) fn next_control(&self, c: &Conn) -> Option<(Method, Vec<String>)> {
        if c.open_since.is_none() || matches!(c.role, Role::Retiring { .. }) {
            return None;
        }
        let in_flight = |s: &String| c.in_flight.contains(s);
        let batch = |it: &mut dyn Iterator<Item = &String>| -> Vec<String> {
            it.filter(|s| !in_flight(s)).take(self.limits.batch).cloned().collect()
        };
        let adds = batch(&mut self.want.iter().filter(|s| !c.subscribed.contains(*s) && !self.rejected.contains(*s)));
        if !adds.is_empty() {
            return Some((Method::Subscribe, adds));
        }
        let drops = batch(&mut c.subscribed.iter().filter(|s| !self.want.contains(*s)));
        (!drops.is_empty()).then_some((Method::Unsubscribe, drops))
    }

    /// One paced control message on connection `i`, when it has work.
    pub(super) fn control(&mut self, i: usize, now: Instant) {
        let c = &self.conns[i];
        if c.last_control.is_some_and(|t| now < t + self.limits.control_interval) {
            return;
        }
        let Some((method, streams)) = self.next_control(c) else { return };
        let id = self.next_req;
        self.next_req += 1;
        let frames = self.limits.protocol.control(method, &streams, id);
        let c = &mut self.conns[i];
        c.in_flight.extend(streams.iter().cloned());
        c.pending.insert(id, (method, streams, now));
        c.last_control = Some(now);
        let conn = c.id;
        self.out.extend(frames.into_iter().map(|text| Action::Send { conn, text }));
    }

    /// A subscribed replacement takes over (the old primary retires after the
    /// overlap); a primary that becomes subscribed ends a `Down` period.
    pub(super) fn promote(&mut self, now: Instant) {
        let ready = |m: &Self, c: &Conn| c.open_since.is_some() && m.covers(c);
        if let Some(r) = self.conns.iter().position(|c| c.role == Role::Replacement && ready(self, c)) {
            for c in &mut self.conns {
                if c.role == Role::Primary {
                    c.role = Role::Retiring { until: now + self.limits.overlap };
                }
            }
            self.conns[r].role = Role::Primary;
            let host = self.conns[r].host;
            self.out.push(Action::Notify(Notice::Connected { host, rollover: true }));
            return;
        }
        if self.health == Health::Up {
            return;
        }
        if let Some(host) = self.carrier().map(|c| c.host) {
            let said = matches!(self.health, Health::Fallback | Health::Down { announced: true, .. });
            self.health = Health::Up;
            self.out.push(Action::Notify(Notice::Connected { host, rollover: false }));
            if said {
                self.out.push(Action::Notify(Notice::Resumed));
            }
        }
    }

    /// A connection whose upstream has not answered a control request within
    /// [`super::CONTROL_TIMEOUT`] is closed as failed: its host counts the failure, the
    /// streams are asked for again on a new connection, and its clients hear of a gap
    /// if it carried them (an upstream that ignores SUBSCRIBE must not leave clients
    /// waiting for ever, nor a planner re-sending into the void).
    pub(super) fn give_up_unanswered(&mut self, now: Instant) {
        let stuck: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| {
                c.pending.values().any(|(_, _, sent)| now.saturating_duration_since(*sent) >= super::CONTROL_TIMEOUT)
            })
            .map(|c| c.id)
            .collect();
        for id in stuck {
            self.out.push(Action::Close { conn: id });
            let why = format!("no answer to a control request within {} s", super::CONTROL_TIMEOUT.as_secs());
            self.closed(id, &why, now);
        }
    }

    pub(super) fn retire(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.conns.len() {
            if matches!(self.conns[i].role, Role::Retiring { until } if until <= now) {
                let c = self.conns.remove(i);
                self.out.push(Action::Close { conn: c.id });
            } else {
                i += 1;
            }
        }
    }
}
