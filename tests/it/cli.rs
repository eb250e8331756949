//! The command line: `check`, `print-default-config`, exit codes, and that a config
//! error names file, line and key.

use std::process::Command;

fn marketgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_marketgate"))
        .args(args)
        .env_remove("COINCAP_API_KEY")
        .env_remove("CRYPTOCOMPARE_API_KEY")
        .output()
        .expect("run marketgate")
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("marketgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn check_accepts_the_embedded_default_and_shows_disabled_providers() {
    let out = marketgate(&["check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("config OK"), "{text}");
    assert!(text.contains("DISABLED: API key not set: environment variable COINCAP_API_KEY"), "{text}");
    assert!(text.contains("DISABLED: no hosts: MARKETGATE_FALLBACK_URL"), "{text}");
}

#[test]
fn check_refuses_a_typo_with_file_line_and_key_and_exit_2() {
    let path = temp_file("typo.toml", "[server]\nlisten_adress = \"127.0.0.1:8080\"\n");
    let out = marketgate(&["check", "--config", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:1", path.display())), "{err}");
    assert!(err.contains("listen_adress"), "{err}");
}

#[test]
fn running_with_a_bad_config_exits_2_before_binding() {
    let path = temp_file("route.toml", "[routes]\n\"/raw/x/{*path}\" = { passthrough = \"ghost\" }\n");
    let out = marketgate(&[
        "--config",
        path.to_str().expect("utf8"),
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no provider named \"ghost\""));
}

#[test]
fn a_missing_file_is_reported() {
    let out = marketgate(&["check", "--config", "/nonexistent/marketgate.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the config file"));
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(marketgate(&["--listen", "not-an-address"]).status.code(), Some(2));
    assert_eq!(marketgate(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn print_default_config_round_trips_through_check() {
    let out = marketgate(&["print-default-config"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("https://api1.binance.com") && text.contains("https://api4.binance.com"));
    let path = temp_file("default.toml", &text);
    assert!(marketgate(&["check", "--config", path.to_str().expect("utf8")]).status.success());
}

/// The shipped default, logging JSON (what `Process` reads), with no upstream reachable.
fn quiet_default() -> String {
    crate::support::shipped::config(&[]).replacen("format = \"text\"", "format = \"json\"", 1)
}

#[test]
fn a_server_started_without_the_allocator_setting_runs_with_memory_given_back_at_once() {
    let mut mg = crate::support::process::Process::start("purge", &quiet_default(), &[]);
    assert!(
        mg.environ().iter().any(|v| v == "MIMALLOC_PURGE_DELAY=0"),
        "restarted with the setting: {:?}",
        mg.environ().iter().filter(|v| v.starts_with("MIMALLOC")).collect::<Vec<_>>()
    );
    mg.stop(std::time::Duration::from_secs(10));
    // A setting the operator chose is kept.
    let mut mg =
        crate::support::process::Process::start("purge-set", &quiet_default(), &[("MIMALLOC_PURGE_DELAY", "250")]);
    assert!(mg.environ().iter().any(|v| v == "MIMALLOC_PURGE_DELAY=250"));
    mg.stop(std::time::Duration::from_secs(10));
}
