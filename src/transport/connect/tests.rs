use std::net::{Ipv4Addr, Ipv6Addr};

use tokio::net::{TcpListener, TcpSocket};

use super::*;

fn v4(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(192, 0, 2, last).into(), port)
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last).into(), port)
}

/// A listener on loopback whose accept queue is full: a further connect gets no answer
/// to its SYN and hangs, as one to a dead host does. The connections that filled it
/// are returned to be kept open.
async fn hanging() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind((Ipv4Addr::LOCALHOST, 0).into()).expect("bind");
    let addr = socket.local_addr().expect("addr");
    let listener = socket.listen(0).expect("listen");
    let mut filled = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(io)) => filled.push(io),
            Ok(Err(e)) => panic!("filling the queue: {e}"),
            Err(_) => return (addr, listener, filled),
        }
    }
    panic!("the accept queue never filled");
}

#[test]
fn families_alternate_starting_with_the_resolvers_first() {
    let mixed = vec![v6(1, 80), v6(2, 80), v4(1, 80), v4(2, 80), v4(3, 80)];
    assert_eq!(interleave(mixed), vec![v6(1, 80), v4(1, 80), v6(2, 80), v4(2, 80), v4(3, 80)]);
    let v4_first = vec![v4(1, 80), v6(1, 80), v6(2, 80)];
    assert_eq!(interleave(v4_first), vec![v4(1, 80), v6(1, 80), v6(2, 80)]);
    assert_eq!(interleave(vec![v4(1, 80), v4(2, 80)]), vec![v4(1, 80), v4(2, 80)]);
    assert_eq!(interleave(Vec::new()), Vec::<SocketAddr>::new());
}

#[tokio::test]
async fn an_address_that_hangs_costs_one_stagger_not_the_timeout() {
    let (dead, _keep, _filled) = hanging().await;
    let live = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
    let live_addr = live.local_addr().expect("addr");
    let started = Instant::now();
    let io = race(vec![dead, live_addr], Duration::from_millis(100), started + Duration::from_secs(10))
        .await
        .expect("the second address answers");
    assert_eq!(io.peer_addr().expect("peer"), live_addr);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100), "the live address waited its turn ({took:?})");
    assert!(took < Duration::from_secs(5), "the dead address did not hold the connect ({took:?})");
}

#[tokio::test]
async fn a_refused_address_hands_over_at_once_and_all_refused_names_the_first() {
    let live = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
    let live_addr = live.local_addr().expect("addr");
    let closed = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
        l.local_addr().expect("addr")
    };
    // A long stagger: the refusal, not the stagger, starts the second attempt.
    let started = Instant::now();
    let io = race(vec![closed, live_addr], Duration::from_secs(30), started + Duration::from_secs(60))
        .await
        .expect("the second address answers");
    assert_eq!(io.peer_addr().expect("peer"), live_addr);
    assert!(started.elapsed() < Duration::from_secs(10));

    let other_closed = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
        l.local_addr().expect("addr")
    };
    let e = race(vec![closed, other_closed], Duration::from_secs(30), Instant::now() + Duration::from_secs(60))
        .await
        .expect_err("nothing listens");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    assert!(e.to_string().contains(&format!("connect to {closed}")), "{e}");
}

#[tokio::test]
async fn addresses_that_all_hang_time_out_at_the_deadline() {
    let (dead, _keep, _filled) = hanging().await;
    let started = Instant::now();
    let e = race(vec![dead, dead], Duration::from_millis(50), started + Duration::from_millis(400))
        .await
        .expect_err("nothing answers");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn names_and_literals_resolve() {
    let live = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
    let port = live.local_addr().expect("addr").port();
    let io = connect("127.0.0.1", port, Duration::from_secs(5)).await.expect("literal");
    assert!(io.nodelay().expect("nodelay"), "Nagle is off");
    // From /etc/hosts (no DNS query): ::1 may come first and refuse, 127.0.0.1 answers.
    let io = connect("localhost", port, Duration::from_secs(5)).await.expect("a name in /etc/hosts");
    assert_eq!(io.peer_addr().expect("peer").port(), port);
}

#[tokio::test]
async fn no_address_at_all_is_not_found_at_once() {
    let e = race(Vec::new(), STAGGER, Instant::now() + Duration::from_secs(5)).await.expect_err("nothing to try");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}
