//! The client listener's sockets. Each worker thread accepts on a socket of its own,
//! all bound to the same address with `SO_REUSEPORT`: the kernel spreads new
//! connections over them, so a connection is accepted, served and proxied on one
//! thread, and no worker is woken for a connection another one takes (with one
//! shared socket, every worker's epoll hears of each connection and all but one find
//! nothing to accept).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections a socket queues.
const BACKLOG: i32 = 1024;

/// A listening socket on `addr` that further sockets of this process may share
/// ([`another`]). It is bound before it allows sharing, so an address another process
/// listens on is refused ("address in use") as with a plain bind, not shared.
pub fn bind_shared(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.set_reuse_port(true)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Another listening socket on `first`'s address (which must have been made by
/// [`bind_shared`]).
pub fn another(first: &std::net::TcpListener) -> io::Result<std::net::TcpListener> {
    let addr = first.local_addr()?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_share_one_port_and_each_accepts() {
        let first = bind_shared("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let second = another(&first).expect("a second socket on the same port");
        assert_eq!(first.local_addr().ok(), second.local_addr().ok());
        let lone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        assert!(another(&lone).is_err(), "a socket made without SO_REUSEPORT cannot be shared");
        let taken = lone.local_addr().expect("addr");
        assert!(bind_shared(taken).is_err(), "an address in use is refused, not shared");
        assert!(bind_shared(first.local_addr().expect("addr")).is_err(), "nor is one this process shares");
        // Connections reach one of the two.
        let addr = first.local_addr().expect("addr");
        let mut accepted = 0;
        for _ in 0..8 {
            let _c = std::net::TcpStream::connect(addr).expect("connect");
            std::thread::sleep(std::time::Duration::from_millis(5));
            accepted += usize::from(first.accept().is_ok()) + usize::from(second.accept().is_ok());
        }
        assert_eq!(accepted, 8);
    }
}
