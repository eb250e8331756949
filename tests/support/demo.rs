//! The offline demo: `examples/mock_providers` (recorded bodies on the providers' paths)
//! and marketgate on `config/demo.toml` pointing at it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{Proxy, TestEnv};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `target/<profile>/examples/mock_providers`, built by `cargo test` with the examples.
fn mock_providers_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    profile_dir.join("examples").join("mock_providers")
}

/// The running mock providers (killed when dropped).
pub struct Mocks {
    child: Child,
    /// Their base URL.
    pub url: String,
}

impl Drop for Mocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the mock providers on a free port.
pub fn start_mocks() -> Mocks {
    let bin = mock_providers_bin();
    let mut child = Command::new(&bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo test builds the examples)", bin.display()));
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("first line");
    // Keep draining: the mocks log every mode change to stdout.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("listening address").to_owned();
    Mocks { child, url }
}

/// marketgate on the demo config, its providers at `mocks`.
pub async fn demo(mocks: &Mocks) -> Proxy {
    let text = std::fs::read_to_string(Path::new(ROOT).join("config/demo.toml")).expect("demo config");
    let env = TestEnv(std::collections::HashMap::from([("DEMO_MOCKS".to_owned(), mocks.url.clone())]));
    Proxy::start_with(&text, env, None, Default::default()).await
}
