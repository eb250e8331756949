//! Idle upstream connections of the lean HTTP/1.1 path, kept per thread and per host.
//!
//! A connection here has no task of its own: it sits in the list until a request on
//! the same thread takes it, and the request's task drives it from then on. The most
//! recently used one is taken first (its peer is least likely to have closed it).
//! Whether the peer closed it meanwhile is known without a system call: the reactor
//! has marked it readable (or, when it has, the socket is asked). Connections older than
//! the idle timeout, or closed by their upstream, are swept once a second on request
//! workers (`spawn_sweeper`), elsewhere when a connection is taken or given back.

use std::cell::RefCell;
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
    /// Per host (a client talks to a handful: a list beats hashing).
    hosts: Vec<(Authority, Vec<Idle>)>,
    swept: Instant,
}

/// Smallest free space read into.
const READ_CHUNK: usize = 8 * 1024;
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

    /// Reads more bytes into the buffer (at least a quarter of [`READ_CHUNK`] free):
    /// `Ok(false)` at end of stream. The one read of the lean path, for heads and bodies.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let Self { io, buf } = self;
        let read = std::pin::pin!(tokio::io::AsyncReadExt::read_buf(io, buf));
        std::future::Future::poll(read, cx).map_ok(|n| n > 0)
    }

    /// True when nothing has happened on the idle connection: no close, no reset, no
    /// stray bytes. Without a system call when the reactor has seen nothing; when it saw
    /// an event, or when this task's scheduling budget is spent (the readiness check then
    /// answers nothing), the socket is asked directly.
    fn is_quiet(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending if tokio::task::coop::has_budget_remaining() => true,
            Poll::Ready(Err(_)) => false,
            Poll::Pending | Poll::Ready(Ok(())) => {
                let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
                matches!(socket2::SockRef::from(&self.io).peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

// === impl Pool ===

impl Pool {
    /// Drops connections past the idle timeout (at most once a [`SWEEP_EVERY`]), and,
    /// when `closed` too, the ones their upstream closed or wrote to.
    fn sweep(&mut self, now: Instant, closed: bool) {
        if now.duration_since(self.swept) < SWEEP_EVERY {
            return;
        }
        self.swept = now;
        let keep = self.limits.idle_timeout;
        self.hosts.retain_mut(|(_, list)| {
            list.retain(|i| now.duration_since(i.since) < keep && (!closed || i.conn.is_quiet()));
            !list.is_empty()
        });
    }
}

/// On a request worker's runtime (one thread), a task sweeps this thread's pool of
/// `client` every [`SWEEP_EVERY`], so the connections of a host no request goes to any
/// more are closed after the idle timeout, or as soon as the upstream closes them,
/// rather than waiting for the next request. It ends when the pool is dropped. Other
/// runtimes sweep when a connection is taken or kept.
fn spawn_sweeper(client: usize) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
        return;
    }
    rt.spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let kept = POOLS.with(|pools| {
                let mut pools = pools.borrow_mut();
                let pool = pools.iter_mut().find(|p| p.client == client);
                pool.map(|p| p.sweep(Instant::now(), true)).is_some()
            });
            if !kept {
                break;
            }
        }
    });
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
                pools.push(Pool { client, limits, hosts: Vec::new(), swept: Instant::now() });
                spawn_sweeper(client);
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
        pool.sweep(now, false);
        let (_, list) = pool.hosts.iter_mut().find(|(h, _)| *h == home.host)?;
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
        pool.sweep(now, false);
        let idle = Idle { conn, since: now };
        match pool.hosts.iter_mut().find(|(h, _)| *h == home.host) {
            Some((_, list)) if list.len() < pool.limits.max_idle => list.push(idle),
            Some(_) => {}
            None => pool.hosts.push((home.host.clone(), vec![idle])),
        }
    });
}

/// Idle connections this thread keeps for `client` and `host`.
#[cfg(test)]
pub fn idle_count(client: usize, host: &Authority) -> usize {
    POOLS.with(|pools| {
        pools
            .borrow()
            .iter()
            .find(|p| p.client == client)
            .and_then(|p| p.hosts.iter().find(|(h, _)| h == host))
            .map_or(0, |(_, list)| list.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A connected pair: our side as a `Conn`, and the peer's socket.
    async fn pair(listener: &TcpListener) -> (Conn, TcpStream) {
        let addr = listener.local_addr().expect("addr");
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (Conn::new(ours.expect("connect")), theirs.expect("accept").0)
    }

    fn home(client: usize, max_idle: usize) -> Home {
        let limits = Limits { max_idle, idle_timeout: Duration::from_secs(90) };
        Home { client, host: Authority::from_static("127.0.0.1:1"), limits }
    }

    #[tokio::test]
    async fn a_quiet_connection_is_reused_and_one_the_peer_touched_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let home = home(usize::MAX - 1, 8);
        let (a, _keep_a) = pair(&listener).await;
        let (b, mut peer_b) = pair(&listener).await;
        let (c, peer_c) = pair(&listener).await;
        checkin(&home, a);
        checkin(&home, b);
        checkin(&home, c);
        assert_eq!(idle_count(home.client, &home.host), 3);
        // c's peer closes, b's peer sends bytes nobody asked for: neither is handed out.
        drop(peer_c);
        peer_b.write_all(b"HTTP/1.1 200 OK\r\n").await.expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let got = checkout(&home).expect("the quiet one");
        assert_eq!(idle_count(home.client, &home.host), 0, "the touched ones were dropped on the way");
        assert!(got.is_quiet());
        assert!(checkout(&home).is_none());
    }

    #[tokio::test]
    async fn a_connection_its_upstream_closes_is_closed_here_without_a_request() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let home = home(usize::MAX - 3, 8);
        let (conn, peer) = pair(&listener).await;
        checkin(&home, conn);
        drop(peer);
        let end = Instant::now() + SWEEP_EVERY * 3;
        while idle_count(home.client, &home.host) > 0 {
            assert!(Instant::now() < end, "the sweeper closed it within {:?}", SWEEP_EVERY * 3);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_host_keeps_at_most_max_idle_and_none_past_the_idle_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let home = home(usize::MAX - 2, 2);
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (conn, peer) = pair(&listener).await;
            peers.push(peer);
            checkin(&home, conn);
        }
        assert_eq!(idle_count(home.client, &home.host), 2);
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(91)).await;
        assert!(checkout(&home).is_none(), "older than pool_idle_timeout");
        assert_eq!(idle_count(home.client, &home.host), 0, "swept");
    }
}
