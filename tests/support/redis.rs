//! A real `redis-server` (Debian's package; `scripts/test.sh` installs it) on a free
//! loopback port, without persistence, stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Redis.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    password: Option<String>,
    child: Option<Child>,
    /// TLS: its port, and the server's certificate, key and CA files, and whether it
    /// requires client certificates.
    tls: Option<(u16, [std::path::PathBuf; 3], bool)>,
    /// Replicates this master (`--replicaof 127.0.0.1 <port>`).
    replica_of: Option<u16>,
}

impl RedisServer {
    /// Starts Redis on a free port.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts Redis on a free port, requiring `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut r = Self { port, password, child: None, tls: None, replica_of: None };
        r.restart();
        r
    }

    /// Starts Redis with a TLS port beside the plain one (the harness's own commands
    /// use the plain one), presenting `pki`'s leaf and, with `clients`, requiring a
    /// client certificate signed by `pki`'s CA.
    pub fn start_tls(pki: &super::tls::TestPki, clients: bool) -> Self {
        let free =
            || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
        let (port, tls_port) = (free(), free());
        let files = [pki.cert_path(), pki.key_path(), pki.ca_path()];
        let mut r = Self { port, password: None, child: None, tls: Some((tls_port, files, clients)), replica_of: None };
        r.restart();
        r
    }

    /// A handle on a Redis started elsewhere (for commands only; dropping it stops
    /// nothing).
    pub fn attach(port: u16) -> Self {
        Self { port, password: None, child: None, tls: None, replica_of: None }
    }

    /// Starts a replica of the Redis on `master` (127.0.0.1).
    pub fn start_replica_of(master: u16) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut r = Self { port, password: None, child: None, tls: None, replica_of: Some(master) };
        r.restart();
        r
    }

    /// `rediss://127.0.0.1:<tls port>` (the leaf names localhost and 127.0.0.1).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls.as_ref().map_or(0, |t| t.0))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills Redis at once (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts Redis again on the same port (empty: nothing was persisted).
    pub fn restart(&mut self) {
        self.kill();
        let mut args = vec!["--port".to_owned(), self.port.to_string()];
        args.extend(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].map(String::from));
        // DEBUG SLEEP stands for a stalled Redis in the fault tests.
        args.extend(["--enable-debug-command", "yes"].map(String::from));
        if let Some(p) = &self.password {
            args.extend(["--requirepass".to_owned(), p.clone()]);
        }
        if let Some(master) = self.replica_of {
            args.extend(["--replicaof".to_owned(), "127.0.0.1".to_owned(), master.to_string()]);
        }
        if let Some((tls_port, [cert, key, ca], clients)) = &self.tls {
            args.extend(["--tls-port".to_owned(), tls_port.to_string()]);
            for (flag, path) in [("--tls-cert-file", cert), ("--tls-key-file", key), ("--tls-ca-cert-file", ca)] {
                args.extend([flag.to_owned(), path.display().to_string()]);
            }
            args.extend(["--tls-auth-clients".to_owned(), if *clients { "yes" } else { "no" }.to_owned()]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed; scripts/test.sh installs it");
        self.child = Some(child);
        for _ in 0..200 {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not answer PING on port {}", self.port);
    }

    /// Whether Redis answers PING.
    pub fn ping(&self) -> bool {
        let reply = self.command(&["PING"]);
        reply.is_some_and(|r| r.starts_with("+PONG") || (self.password.is_some() && r.starts_with("-NOAUTH")))
    }

    /// Sends one command (RESP) and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Sentinel (`redis-server <conf> --sentinel`) watching the master on
/// 127.0.0.1:`master` as `mymaster`, down after 1 s.
pub struct Sentinel {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: std::path::PathBuf,
}

impl Sentinel {
    /// Starts it (agreeing on a failure with `quorum` sentinels) and waits until it
    /// knows the master.
    pub fn start(master: u16, quorum: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("marketgate-sentinel-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master} {quorum}\n\
                 sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n",
                dir.display()
            ),
        )
        .expect("sentinel conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed; scripts/test.sh installs it");
        let s = Self { port, child, dir };
        for _ in 0..300 {
            if s.master_port().is_some() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the sentinel on port {port} did not come up");
    }

    /// The master's port the sentinel names now.
    pub fn master_port(&self) -> Option<u16> {
        let probe = RedisServer { port: self.port, password: None, child: None, tls: None, replica_of: None };
        let reply = probe.command(&["SENTINEL", "get-master-addr-by-name", "mymaster"])?;
        reply.split("\r\n").filter(|l| !l.is_empty() && !l.starts_with(['*', '$'])).nth(1)?.parse().ok()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
