//! Idle upstream connections of the lean HTTP/1.1 path, kept per thread and per host.
//!
//! A connection here has no task of its own: it sits in the list until a request on
//! the same thread takes it, and the request's task drives it from then on. The most
//! recently used one is taken first (its peer is least likely to have closed it).
//! Whether the peer closed it meanwhile is known without a system call: the reactor
//! has marked it readable. Lists are swept of connections older than the idle timeout
//! at most once a second, when any connection is taken or given back.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use http::uri::Authority;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// One upstream connection and what it has read and not yet handed out.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub io: TcpStream,
    /// Bytes read past the last message handed out.
    pub buf: BytesMut,
}

/// The pool settings of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Idle connections kept per host.
    pub max_idle: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

/// Where a connection goes back when its response has been read.
#[derive(Debug, Clone)]
pub struct Home {
    /// The client it belongs to.
    pub client: usize,
    /// Its host.
    pub host: Authority,
    /// The client's pool settings.
    pub limits: Limits,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

struct Pool {
    client: usize,
    limits: Limits,
    hosts: HashMap<Authority, Vec<Idle>>,
    swept: Instant,
}

/// Pools kept per thread (the newest client configurations).
const POOLS_PER_THREAD: usize = 4;
/// Least time between two sweeps of a pool.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

thread_local! {
    static POOLS: RefCell<Vec<Pool>> = const { RefCell::new(Vec::new()) };
}

// === impl Conn ===

impl Conn {
    /// A fresh connection.
    pub fn new(io: TcpStream) -> Self {
        Self { io, buf: BytesMut::new() }
    }

    /// True when nothing has happened on the idle connection: no close, no reset, no
    /// stray bytes. Costs a system call only when the reactor saw an event.
    fn is_quiet(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                matches!(self.io.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

// === impl Pool ===

impl Pool {
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.swept) < SWEEP_EVERY {
            return;
        }
        self.swept = now;
        let keep = self.limits.idle_timeout;
        self.hosts.retain(|_, list| {
            list.retain(|i| now.duration_since(i.since) < keep);
            !list.is_empty()
        });
    }
}

fn with_pool<R>(client: usize, limits: Limits, f: impl FnOnce(&mut Pool) -> R) -> R {
    POOLS.with(|pools| {
        let mut pools = pools.borrow_mut();
        let at = match pools.iter().position(|p| p.client == client) {
            Some(at) => at,
            None => {
                if pools.len() >= POOLS_PER_THREAD {
                    pools.remove(0);
                }
                pools.push(Pool { client, limits, hosts: HashMap::new(), swept: Instant::now() });
                pools.len() - 1
            }
        };
        f(&mut pools[at])
    })
}

/// An idle connection to `home.host` that is still quiet, if this thread has one.
pub fn checkout(home: &Home) -> Option<Conn> {
    let now = Instant::now();
    with_pool(home.client, home.limits, |pool| {
        pool.sweep(now);
        let list = pool.hosts.get_mut(&home.host)?;
        while let Some(idle) = list.pop() {
            if now.duration_since(idle.since) < pool.limits.idle_timeout && idle.conn.is_quiet() {
                return Some(idle.conn);
            }
        }
        None
    })
}

/// Keeps `conn` for the next request to its host, unless the host has enough.
pub fn checkin(home: &Home, conn: Conn) {
    if home.limits.max_idle == 0 {
        return;
    }
    let now = Instant::now();
    with_pool(home.client, home.limits, |pool| {
        pool.sweep(now);
        let list = pool.hosts.entry(home.host.clone()).or_default();
        if list.len() < pool.limits.max_idle {
            list.push(Idle { conn, since: now });
        }
    });
}

/// Idle connections this thread keeps for `client` and `host`.
#[cfg(test)]
pub fn idle_count(client: usize, host: &Authority) -> usize {
    POOLS.with(|pools| {
        pools.borrow().iter().find(|p| p.client == client).and_then(|p| p.hosts.get(host)).map_or(0, Vec::len)
    })
}
