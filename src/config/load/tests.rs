use std::collections::HashMap;

use super::*;

fn env() -> HashMap<String, String> {
    HashMap::new()
}

fn refuse(text: &str) -> String {
    match parse(text, "bad.toml", &env()) {
        Ok(_) => panic!("config should be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const PROVIDER: &str = "[providers.p]\nhosts = [\"http://127.0.0.1:9\"]\n";

#[test]
fn toml_syntax_errors_give_file_line_and_column() {
    let msg = refuse("[server]\nlisten = \"127.0.0.1:8080\n");
    assert!(msg.starts_with("bad.toml:2:"), "{msg}");
}

#[test]
fn unknown_keys_are_named_with_their_path_and_line() {
    let msg = refuse("[server]\nlisten_adress = \"127.0.0.1:8080\"\n");
    assert!(msg.starts_with("bad.toml:2:1:"), "{msg}");
    assert!(msg.contains("listen_adress"), "{msg}");
    assert!(msg.contains("server"), "{msg}");
    let deep = format!("{PROVIDER}[providers.p.ops.price]\nreqest = {{ path = \"/x\" }}\nresponse = '.'\n");
    let msg = refuse(&deep);
    assert!(msg.contains("providers.p.ops.price") && msg.contains("reqest"), "{msg}");
    assert!(msg.starts_with("bad.toml:4:"), "{msg}");
}

#[test]
fn a_route_naming_an_unknown_provider_is_refused() {
    let text = format!("{PROVIDER}[routes]\n\"/raw/x/{{*path}}\" = {{ passthrough = \"nosuch\" }}\n");
    let msg = refuse(&text);
    assert!(msg.contains("no provider named \"nosuch\""), "{msg}");
    assert!(msg.contains("bad.toml:4:"), "{msg}");
    let pool = format!("{PROVIDER}[pools]\nprice = [[\"p\"], [\"ghost\"]]\n");
    let msg = refuse(&pool);
    assert!(msg.contains("pools.price") && msg.contains("ghost") && msg.contains("bad.toml:4:"), "{msg}");
}

#[test]
fn bad_durations_and_sizes_say_what_is_expected() {
    let msg = refuse("[server]\ndeadline = \"5 seconds\"\n");
    assert!(
        msg.contains("server.deadline") && msg.contains("ms, s, m, h or d") && msg.starts_with("bad.toml:2:"),
        "{msg}"
    );
    let msg = refuse("[server]\nmax_upstream_body = \"8 megs\"\n");
    assert!(msg.contains("max_upstream_body") && msg.contains("MiB"), "{msg}");
}

#[test]
fn an_empty_host_list_is_refused() {
    let msg = refuse("[providers.p]\nhosts = []\n");
    assert!(
        msg.contains("providers.p.hosts") && msg.contains("hosts is empty") && msg.starts_with("bad.toml:2:"),
        "{msg}"
    );
}

#[test]
fn an_unset_variable_without_default_is_refused() {
    let msg = refuse("[providers.p]\nhosts = [\"${NOT_SET_ANYWHERE}\"]\n");
    assert!(msg.contains("providers.p.hosts[0]") && msg.contains("${NOT_SET_ANYWHERE}"), "{msg}");
}

#[test]
fn jq_errors_name_provider_operation_and_line() {
    let text = format!(
        "{PROVIDER}[providers.p.ops.price]\nrequest = {{ path = \"/x\" }}\nresponse = '''\nmap(\n  .price | nosuchfn\n)'''\n"
    );
    let msg = refuse(&text);
    assert!(msg.contains("providers.p.ops.price.response") && msg.contains("nosuchfn"), "{msg}");
    assert!(msg.starts_with("bad.toml:7:"), "the error points at the jq line: {msg}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = "[providers.a]\nhosts = []\n[providers.b]\nhosts = [\"ftp://x\"]\n";
    let e = parse(text, "bad.toml", &env()).expect_err("refused");
    assert_eq!(e.errors.len(), 2, "{e}");
}

#[test]
fn the_embedded_default_config_is_valid_without_any_environment() {
    let cfg = parse(DEFAULT_CONFIG, EMBEDDED_NAME, &env()).expect("default config is valid");
    assert!(!cfg.providers.is_empty());
}

#[test]
fn empty_variable_hosts_disable_the_provider_with_the_reason() {
    let cfg = parse("[providers.fallback]\nkind = \"marketgate\"\nhosts = [\"${FALLBACK_URL:-}\"]\n", "t.toml", &env())
        .expect("valid");
    let reason = cfg.providers[0].disabled.as_deref().expect("disabled");
    assert!(reason.contains("FALLBACK_URL"), "{reason}");
    let set = HashMap::from([("FALLBACK_URL".to_owned(), "http://10.0.0.1:8080".to_owned())]);
    let cfg = parse("[providers.fallback]\nkind = \"marketgate\"\nhosts = [\"${FALLBACK_URL:-}\"]\n", "t.toml", &set)
        .expect("valid");
    assert!(cfg.providers[0].disabled.is_none());
}

#[test]
fn a_required_key_that_is_unset_disables_the_provider_visibly() {
    let text = "[providers.cc]\nhosts = [\"https://min-api.cryptocompare.com\"]\nauth = { env = \"CC_KEY\", required = true, query = \"api_key\" }\n";
    let cfg = parse(text, "t.toml", &env()).expect("valid");
    assert!(cfg.providers[0].disabled.as_deref().is_some_and(|r| r.contains("CC_KEY")));
    let set = HashMap::from([("CC_KEY".to_owned(), "k1, k2".to_owned())]);
    let cfg = parse(text, "t.toml", &set).expect("valid");
    assert_eq!(cfg.providers[0].auth.as_ref().map(|a| a.keys.len()), Some(2));
}

#[test]
fn extends_default_merges_tables_and_keeps_every_provider() {
    let text = "extends = \"default\"\n[server]\nlisten = \"127.0.0.1:7000\"\n[routes]\n\"/api/exchanges\" = { op = \"exchanges\", pool = \"exchanges\" }\n";
    let cfg = parse(text, "mine.toml", &env()).expect("valid");
    assert_eq!(cfg.server.listen.port(), 7000);
    assert_eq!(cfg.server.admin_listen.port(), 9901, "unset keys keep the default");
    assert!(cfg.provider("binance").is_some());
    let routes: Vec<&str> = cfg.routes.iter().map(|r| r.pattern.template()).collect();
    assert!(routes.contains(&"/api/exchanges") && routes.contains(&"/v1/price"), "{routes:?}");
}

#[test]
fn extends_still_names_bad_keys() {
    let msg = refuse("extends = \"default\"\n[server]\nlisten_adress = \"x\"\n");
    assert!(msg.starts_with("bad.toml:3:1:") && msg.contains("listen_adress"), "{msg}");
    let msg = refuse("extends = \"default\"\n[routes]\n\"/x/{*path}\" = { passthrough = \"ghost\" }\n");
    assert!(msg.contains("ghost") && msg.contains("routes"), "{msg}");
    let msg = refuse("extends = \"other.toml\"\n");
    assert!(msg.contains("only base is \"default\""), "{msg}");
}

#[test]
fn aliases_feeds_credits_and_merge_are_checked_with_their_key_and_line() {
    let alias = "[assets]\nGRAM = { name = \"Gram\", aliases = [\"TON\"] }\nPOL = { aliases = [\"TON\"] }\n";
    let msg = refuse(alias);
    assert!(msg.contains("assets.POL.aliases") && msg.contains("TON is already an alias of GRAM"), "{msg}");
    assert!(msg.contains("bad.toml:3:"), "{msg}");
    let own = refuse("[assets]\nBTC = { aliases = [\"ETH\"] }\nETH = {}\n");
    assert!(own.contains("ETH is an asset of its own"), "{own}");
    let feed = refuse("[providers.f]\nkind = \"feed\"\nhosts = [\"http://127.0.0.1:9\"]\n");
    assert!(feed.contains("providers.f") && feed.contains("needs feed = {"), "{feed}");
    let stray = format!("{PROVIDER}feed = {{ path = \"/rss\" }}\n");
    assert!(refuse(&stray).contains("only kind = \"feed\" providers take a feed"));
    let credits = format!("{PROVIDER}credits = {{ limit = \"lots\", per = \"month\" }}\n");
    let msg = refuse(&credits);
    assert!(msg.contains("providers.p.credits.limit") && msg.contains("\"lots\" is not a whole number"), "{msg}");
    let per = format!("{PROVIDER}credits = {{ limit = 5, per = \"fortnight\" }}\n");
    assert!(refuse(&per).contains("providers.p.credits.per"), "{}", refuse(&per));
    let merge = "[providers.f]\nkind = \"feed\"\nhosts = [\"http://127.0.0.1:9\"]\nfeed = { path = \"/rss\" }\n\
                 [routes]\n\"/p\" = { op = \"price\", pool = [[\"f\"]], merge = true }\n";
    let msg = refuse(merge);
    assert!(msg.contains("merge = true suits news"), "{msg}");
    assert!(msg.contains("is a news feed and serves news only"), "{msg}");
    let ok = "[providers.f]\nkind = \"feed\"\nhosts = [\"http://127.0.0.1:9\"]\nfeed = { path = \"/rss\" }\n\
              [routes]\n\"/n\" = { op = \"news\", pool = [[\"f\"]], merge = true }\n";
    let cfg = parse(ok, "ok.toml", &env()).expect("a feed route");
    assert_eq!(cfg.provider("f").and_then(|p| p.feed.clone()).map(|f| f.path), Some("/rss".to_owned()));
}

#[test]
fn credits_come_from_the_environment_and_only_count_with_a_key() {
    let text = format!(
        "{PROVIDER}auth = {{ env = \"K\", header = \"x-key\" }}\ncredits = {{ limit = \"${{CREDITS:-100}}\", per = \"1d\" }}\n"
    );
    let keyless = parse(&text, "c.toml", &env()).expect("config");
    assert_eq!(keyless.provider("p").and_then(|p| p.credits), None, "an unset optional key spends no credits");
    let keyed_env: HashMap<String, String> =
        [("K".to_owned(), "k".to_owned()), ("CREDITS".to_owned(), "7".to_owned())].into();
    let keyed = parse(&text, "c.toml", &keyed_env).expect("config");
    let c = keyed.provider("p").and_then(|p| p.credits).expect("credits");
    assert_eq!((c.limit, c.per), (7, crate::config::model::Period::Every(std::time::Duration::from_secs(86_400))));
    let zero: HashMap<String, String> =
        [("K".to_owned(), "k".to_owned()), ("CREDITS".to_owned(), "0".to_owned())].into();
    assert_eq!(parse(&text, "c.toml", &zero).expect("config").provider("p").and_then(|p| p.credits), None);
}

#[test]
fn route_defaults_and_derive_are_checked_at_load() {
    let base = "[assets]\nBTC = {}\n[providers.p]\nhosts = [\"http://127.0.0.1:9\"]\n\
                [providers.p.ops.ohlcv]\nrequest = { path = \"/k\" }\nresponse = '[]'\n[routes]\n";
    let bad_default = format!(
        "{base}\"/i\" = {{ op = \"ohlcv\", derive = \"indicators\", pool = [[\"p\"]], defaults = {{ indicators = \"stoch:14\" }} }}\n"
    );
    let msg = refuse(&bad_default);
    assert!(msg.contains("routes.\"/i\".defaults.indicators") && msg.contains("unknown indicator"), "{msg}");
    let bad_limit =
        format!("{base}\"/o\" = {{ op = \"ohlcv\", pool = [[\"p\"]], defaults = {{ limit = \"5000\" }} }}\n");
    assert!(refuse(&bad_limit).contains("routes.\"/o\".defaults.limit"), "{}", refuse(&bad_limit));
    let wrong_op = format!("{base}\"/m\" = {{ op = \"ohlcv\", derive = \"movers\", pool = [[\"p\"]] }}\n");
    assert!(
        refuse(&wrong_op).contains("derive = \"movers\" is computed from op = \"markets\""),
        "{}",
        refuse(&wrong_op)
    );
    let ok = format!(
        "{base}\"/i\" = {{ op = \"ohlcv\", derive = \"indicators\", pool = [[\"p\"]], defaults = {{ indicators = \"rsi:14\", limit = \"50\" }} }}\n"
    );
    assert!(parse(&ok, "ok.toml", &env()).is_ok());
}

#[test]
fn a_cluster_namespace_that_cannot_prefix_keys_is_refused_with_its_line() {
    for bad in ["a:b", "{mg}", "", "x".repeat(33).as_str()] {
        let msg = refuse(&format!("[cluster]\nredis = \"redis://127.0.0.1:6379\"\nnamespace = \"{bad}\"\n"));
        assert!(msg.starts_with("bad.toml:3:") && msg.contains("cluster.namespace"), "{bad:?}: {msg}");
    }
    let ok = parse("[cluster]\nredis = \"redis://127.0.0.1:6379\"\nnamespace = \"prod-eu.1\"\n", "ok.toml", &env());
    assert_eq!(ok.expect("config").cluster.map(|c| c.namespace).as_deref(), Some("prod-eu.1"));
    let default = parse("[cluster]\nredis = \"redis://127.0.0.1:6379\"\n", "ok.toml", &env());
    assert_eq!(default.expect("config").cluster.map(|c| c.namespace).as_deref(), Some("mg"));
}

#[test]
fn redis_tls_settings_are_read_at_load_and_refused_by_key() {
    let dir = std::env::temp_dir().join(format!("mg-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").expect("write");
    let not_pem = dir.join("ca.der");
    std::fs::write(&not_pem, [0x30u8, 0x82, 0x01]).expect("write");
    let cluster = |url: &str, extra: &str| format!("[cluster]\nredis = \"{url}\"\n{extra}\n");
    let ok =
        parse(&cluster("rediss://r:6380", &format!("ca_file = {:?}", pem.display().to_string())), "ok.toml", &env());
    let tls = ok.expect("config").cluster.and_then(|c| c.tls).expect("tls");
    assert!(tls.ca.is_some() && tls.client.is_none());
    for (extra, url, key, words) in [
        (format!("ca_file = {:?}", pem.display().to_string()), "redis://r:6379", "cluster.ca_file", "rediss://"),
        (format!("ca_file = {:?}", not_pem.display().to_string()), "rediss://r", "cluster.ca_file", "not PEM"),
        ("ca_file = \"/nonexistent/ca.pem\"".to_owned(), "rediss://r", "cluster.ca_file", "/nonexistent/ca.pem"),
        (format!("cert_file = {:?}", pem.display().to_string()), "rediss://r", "cluster.cert_file", "both"),
        (String::new(), "redis-sentinel://s:26379/mymaster", "cluster.redis", "cluster.sentinels"),
        ("sentinels = [\"s1:26379\"]".to_owned(), "redis://m:6379", "cluster.master", "required"),
        ("sentinels = [\"s1\"]\nmaster = \"m\"".to_owned(), "redis://m:6379", "cluster.sentinels", "host:port"),
        ("master = \"m\"".to_owned(), "redis://m:6379", "cluster.master", "cluster.sentinels"),
    ] {
        let msg = refuse(&cluster(url, &extra));
        assert!(msg.contains(key) && msg.contains(words), "{extra} {url}: {msg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
