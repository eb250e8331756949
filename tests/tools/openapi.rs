//! The OpenAPI document checked by Python tools (`scripts/test.sh` installs them with
//! pip): openapi-spec-validator accepts the shipped config's document; schemathesis run
//! against the offline demo finds no undocumented status, no response that breaks its
//! schema, no invalid input accepted and no server error; the committed typed client is
//! what openapi-python-client makes of the document.

use std::path::Path;
use std::process::Command;

use crate::support::demo::{demo, start_mocks};
use crate::support::{Proxy, TestEnv, defaults, get};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A tool installed by scripts/test.sh (pip puts it next to python3's scripts).
fn tool(name: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
        .expect("python3");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let path = Path::new(&dir).join(name);
    if path.exists() { path.display().to_string() } else { name.to_owned() }
}

/// The shipped config's document (an alias route with a path parameter added) passes
/// openapi-spec-validator.
#[tokio::test]
#[ignore = "needs openapi-spec-validator (pip): scripts/test.sh installs it and runs this"]
async fn the_document_passes_openapi_spec_validator() {
    let mut cfg = defaults::with_hosts(&[], &crate::support::refused_addr().await);
    cfg.push_str("\"/api/news/{q}\" = { op = \"news\", pool = \"news\", merge = true }\n");
    let proxy = Proxy::start_with(&cfg, TestEnv::default(), None, Default::default()).await;
    let r = get(proxy.url("/openapi.json")).await;
    assert_eq!(r.status, 200);
    let dir = std::env::temp_dir().join(format!("marketgate-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("openapi.json");
    std::fs::write(&file, r.text()).expect("write");
    let out = Command::new(tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .expect("openapi-spec-validator (pip install openapi-spec-validator; scripts/test.sh does)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "openapi-spec-validator:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    proxy.stop().await;
}

/// schemathesis against the offline demo (mock providers replaying recorded bodies):
/// examples, every coverage case and a bounded fuzzing run of every normalized and
/// derived operation. Checks: no undocumented status (so no 500: a panic is one), every
/// response matches its schema and content type, every input the schema calls invalid
/// is refused, unsupported methods answer 405 with `Allow`. Left out:
/// `not_a_server_error`, which flags every 5xx, including the documented 502/503/504 a
/// proxy gives when providers fail (the fuzzing spends a provider's quota, or asks for
/// a quote currency no provider lists); `positive_data_acceptance` (a well-formed
/// ticker the providers do not list is a documented 400 `unknown_symbol`); the raw
/// passthrough (it answers with the provider's own statuses); and `/v1/stream`, whose
/// answer is a stream that does not end (tests/it/streams.rs checks it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis (pip) and the mock_providers example: scripts/test.sh installs it and runs this"]
async fn schemathesis_finds_nothing_against_the_offline_demo() {
    let mocks = start_mocks();
    let proxy = demo(&mocks).await;
    let url = format!("http://{}/openapi.json", proxy.addr);
    let report = Path::new(ROOT).join("target/schemathesis");
    let st = tool("schemathesis");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args(["--config-file", &format!("{ROOT}/tests/schemathesis.toml"), "run", &url])
            .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance,not_a_server_error"])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--max-time", "60"])
            .args(["--request-timeout", "10", "--seed", "1", "--exclude-path-regex", "^/(raw/|v1/stream)"])
            .args(["--report", "junit", "--report-dir"])
            .arg(report)
            .env("NO_COLOR", "1")
            .output()
    })
    .await
    .expect("join")
    .expect("schemathesis (pip install schemathesis; scripts/test.sh does)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("passed"), "{stdout}");
    proxy.stop().await;
}

/// The typed Python client in examples/python/marketgate_client is what
/// openapi-python-client makes of the current document: regenerating it changes nothing.
#[test]
#[ignore = "needs openapi-python-client and ruff (pip): scripts/test.sh installs them and runs this"]
fn the_committed_python_client_matches_the_current_document() {
    let out_dir = std::env::temp_dir().join(format!("marketgate-pyclient-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(Path::new(ROOT).join("scripts/gen-python-client.sh"))
        .arg(&out_dir)
        .env("MARKETGATE_BIN", env!("CARGO_BIN_EXE_marketgate"))
        .output()
        .expect("scripts/gen-python-client.sh");
    assert!(out.status.success(), "generation failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let committed = Path::new(ROOT).join("examples/python/marketgate_client");
    let (a, b) = (files(&committed), files(&out_dir));
    let _ = std::fs::remove_dir_all(&out_dir);
    let names = |m: &std::collections::BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "run scripts/gen-python-client.sh and commit the result");
    for (name, text) in &a {
        assert!(b.get(name) == Some(text), "{name} differs: run scripts/gen-python-client.sh and commit the result");
    }
}

/// Every `.py` file under `dir`, by relative path.
fn files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "py") {
                let rel = path.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_default();
                out.insert(rel, std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    out
}
