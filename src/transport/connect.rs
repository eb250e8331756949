//! Opening a TCP connection to a host by name: its addresses raced, a new attempt
//! started every [`STAGGER`] while the earlier ones are still pending, IPv6 and IPv4
//! in turn (RFC 8305, "Happy Eyeballs" v2, §4 and §5). The first connection made wins
//! and the others are dropped. An address that hangs (a dead replica behind a DNS
//! name, an IPv6 route that goes nowhere) costs [`STAGGER`], not the whole timeout.
//!
//! The lean HTTP/1.1 path (`h1`) and the upstream WebSocket of a live stream open
//! their connections here; hyper's connector (`client.rs`, for `https://`) has its own
//! (the preferred family first, the other after 300 ms).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long an attempt has alone before the next address is tried alongside it
/// (RFC 8305 §5 recommends 250 ms).
pub const STAGGER: Duration = Duration::from_millis(250);

/// Connects to `host:port` (an IP literal, bracketed or not, or a name the resolver
/// answers) within `timeout`, Nagle off.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match name.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::time::timeout_at(deadline, tokio::net::lookup_host((name, port))).await {
            Ok(found) => found.map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {name}: {e}")))?.collect(),
            Err(_) => return Err(timed_out(format!("resolving {name} took over {} ms", timeout.as_millis()))),
        },
    };
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{name} has no address")));
    }
    let io = race(interleave(addrs), STAGGER, deadline).await?;
    io.set_nodelay(true)?;
    Ok(io)
}

/// Connects to the first of `addrs` that answers: attempt `i` starts when attempt
/// `i - 1` has failed or [`STAGGER`] after it started, whichever comes first. Fails
/// with the first attempt's error when all fail (`NotFound` when there is none), and
/// with `TimedOut` at `deadline`.
pub async fn race(addrs: Vec<SocketAddr>, stagger: Duration, deadline: Instant) -> io::Result<TcpStream> {
    let mut waiting = addrs.into_iter();
    // Dropped on return: the attempts still pending are cancelled.
    let mut running: JoinSet<(SocketAddr, io::Result<TcpStream>)> = JoinSet::new();
    let mut first_error: Option<io::Error> = None;
    let mut next_start = Instant::now();
    loop {
        if running.is_empty() || Instant::now() >= next_start {
            match waiting.next() {
                Some(addr) => {
                    running.spawn(async move { (addr, TcpStream::connect(addr).await) });
                    next_start = Instant::now() + stagger;
                }
                None if running.is_empty() => {
                    return Err(first_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")));
                }
                None => next_start = deadline,
            }
        }
        tokio::select! {
            Some(done) = running.join_next() => match done {
                Ok((_, Ok(io))) => return Ok(io),
                Ok((addr, Err(e))) => {
                    first_error.get_or_insert_with(|| io::Error::new(e.kind(), format!("connect to {addr}: {e}")));
                    next_start = Instant::now();
                }
                // A connect task cannot panic; were it lost, the next address starts.
                Err(_) => next_start = Instant::now(),
            },
            () = tokio::time::sleep_until(next_start.min(deadline)) => {
                if Instant::now() >= deadline {
                    let first = first_error.map_or_else(String::new, |e| format!(" (first failure: {e})"));
                    return Err(timed_out(format!("no connection within the timeout{first}")));
                }
            }
        }
    }
}

/// The addresses with IPv6 and IPv4 alternating, each family in the resolver's order,
/// starting with the family of the first (RFC 8305 §4).
pub fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let (first_v6, len) = (first.is_ipv6(), addrs.len());
    let (mut lead, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(len);
    lead.reverse();
    other.reverse();
    while !lead.is_empty() || !other.is_empty() {
        out.extend(lead.pop());
        out.extend(other.pop());
    }
    out
}

fn timed_out(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, why)
}

#[cfg(test)]
mod tests;
