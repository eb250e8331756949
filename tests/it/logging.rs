//! The access log never makes a request wait: with stderr a pipe nobody reads, requests
//! are served at full speed, and the lines that do not fit the buffer are dropped and
//! counted. Runs the real binary (the access log's writer is set up by `main`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::support::{Mock, get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_pipe_drops_lines_and_never_blocks_a_request() {
    let upstream = Mock::fixed(200, r#"{"ok":true}"#).await;
    let dir = std::env::temp_dir().join(format!("marketgate-logging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("marketgate.toml");
    let config = format!(
        "[log]\nlevel = \"info\"\nbuffer_lines = 64\n[providers.up]\nhosts = [\"{}\"]\n[routes]\n\"/raw/{{provider}}/{{*path}}\" = {{ passthrough = \"*\" }}\n",
        upstream.url()
    );
    std::fs::write(&path, config).expect("config");
    // stdout carries nothing; stderr is a pipe read only until the ready line, then
    // left full.
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketgate"))
        .args(["--config", path.to_str().expect("utf8"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (mut client, mut admin) = (String::new(), String::new());
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read") > 0 {
        if let (Some(l), Some(a)) = (field(&line, "listen="), field(&line, "admin=")) {
            (client, admin) = (l, a);
            break;
        }
        line.clear();
    }
    assert!(!client.is_empty(), "marketgate became ready");
    let started = Instant::now();
    let mut ok = 0;
    for _ in 0..40 {
        let batch = (0..50).map(|_| get(format!("http://{client}/raw/up/x")));
        ok += futures_util::future::join_all(batch).await.iter().filter(|r| r.status == 200).count();
    }
    let took = started.elapsed();
    assert_eq!(ok, 2000, "every request was served");
    assert!(took < Duration::from_secs(60), "nothing waited for the log: {took:?}");
    let metrics = get(format!("http://{admin}/metrics")).await.text();
    let dropped: u64 = metrics
        .lines()
        .find(|l| l.starts_with("marketgate_log_lines_dropped_total "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "lines that did not fit were dropped and counted: {dropped}");
    drop(stderr);
    crate::support::process::terminate(&mut child, Duration::from_secs(15));
}

/// `key=value` (the value up to the next space) from a text log line.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    Some(line[start..].split_whitespace().next()?.trim_matches('"').to_owned())
}
