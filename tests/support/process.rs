//! marketgate as users run it: the binary, a config file, its own process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running marketgate process (killed when dropped).
pub struct Process {
    /// `http://127.0.0.1:<port>` of the client listener.
    pub client: String,
    /// `http://127.0.0.1:<port>` of the admin listener.
    pub admin: String,
    /// Everything it logged so far.
    pub log: Arc<Mutex<String>>,
    child: Child,
    _dir: TempDir,
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory named for `tag`.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("marketgate-{tag}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Process {
    /// Starts the binary on `config` (written to a file) with `env`, on free ports, and
    /// waits until it is ready. The config must log in JSON (`[log] format = "json"`).
    pub fn start(name: &str, config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_bin(std::path::Path::new(env!("CARGO_BIN_EXE_marketgate")), name, config, env)
    }

    /// [`Process::start`] with another build of marketgate (`bin`).
    pub fn start_bin(bin: &std::path::Path, name: &str, config: &str, env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new(name);
        let path = dir.path().join("marketgate.toml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = Command::new(bin);
        cmd.args([
            "--config",
            path.to_str().expect("utf8"),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .env_remove("MIMALLOC_PURGE_DELAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn marketgate");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("marketgate ready") {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    let field =
                        |k: &str| v[k].as_str().or_else(|| v["fields"][k].as_str()).unwrap_or_default().to_owned();
                    let _ = tx.send((field("listen"), field("admin")));
                }
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let (client, admin) = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!("marketgate {name} did not become ready:\n{}", log.lock().map(|l| l.clone()).unwrap_or_default())
        });
        Self { client: format!("http://{client}"), admin: format!("http://{admin}"), log, child, _dir: dir }
    }

    /// Client URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.client)
    }

    /// Admin URL of `path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin)
    }

    /// The environment the process runs with (`/proc/<pid>/environ`).
    pub fn environ(&self) -> Vec<String> {
        let raw = std::fs::read(format!("/proc/{}/environ", self.child.id())).unwrap_or_default();
        raw.split(|b| *b == 0).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
    }

    /// The most resident memory the process has had (`VmHWM`), MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
        kib.and_then(|k| k.parse::<f64>().ok()).map_or(f64::NAN, |k| k / 1024.0)
    }
}

impl Process {
    /// Stops it as an orchestrator would (SIGTERM), waiting at most `within`.
    pub fn stop(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        terminate(&mut self.child, within)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    h.finish()
}

/// Sends `signal` to the child process (no `kill` program needed).
pub fn signal(child: &std::process::Child, signal: nix::sys::signal::Signal) -> bool {
    let Ok(pid) = i32::try_from(child.id()) else { return false };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok()
}

/// SIGTERM, then up to `within` for the process to exit (a clean stop); killed after
/// that. The exit status when it stopped on its own.
pub fn terminate(child: &mut std::process::Child, within: Duration) -> Option<std::process::ExitStatus> {
    signal(child, nix::sys::signal::Signal::SIGTERM);
    const STEP: Duration = Duration::from_millis(20);
    for _ in 0..=within.as_millis() / STEP.as_millis() {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(STEP);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
