//! `GET /openapi.json`: the document describes what the running config serves (every
//! route, aliases with path parameters included, the bounds the server enforces).
//! openapi-spec-validator, schemathesis and the typed Python client are checked in
//! tests/tools/openapi.rs.

use crate::support::{Proxy, TestEnv, defaults, get};
use serde_json::Value;

fn params(op: &Value) -> Vec<&Value> {
    op["parameters"].as_array().map(|p| p.iter().collect()).unwrap_or_default()
}

fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    params(op).into_iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no parameter {name} in {op}"))
}

/// The shipped config's document lists every route it serves, with the bounds the
/// server enforces; an alias with a path parameter shows it as one.
#[tokio::test]
async fn the_document_describes_every_route_of_the_running_config() {
    let mut cfg = defaults::with_hosts(&[], &crate::support::refused_addr().await);
    cfg.push_str("\"/api/news/{q}\" = { op = \"news\", pool = \"news\", merge = true }\n");
    let proxy = Proxy::start_with(&cfg, TestEnv::default(), None, Default::default()).await;
    let r = get(proxy.url("/openapi.json")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let config = get(proxy.admin_url("/api/system/config")).await.json();
    assert_eq!(doc["info"]["x-marketgate-config"], config["sha256"]);
    let paths = doc["paths"].as_object().expect("paths");
    for route in config["routes"].as_array().expect("routes") {
        let template = route["route"].as_str().expect("template").replace("{*", "{");
        assert!(paths.contains_key(&template), "{template} is not in the document");
    }
    for p in ["/v1/price", "/v1/indicators", "/v1/movers", "/raw/{provider}/{path}", "/api/news/{q}"] {
        assert!(paths.contains_key(p), "{p}");
    }
    let ohlcv = &doc["paths"]["/v1/ohlcv"]["get"];
    assert_eq!(param(ohlcv, "interval")["schema"]["enum"], serde_json::json!(["1m", "5m", "15m", "1h", "4h", "1d"]));
    assert_eq!(param(ohlcv, "limit")["schema"]["maximum"], 1000);
    assert_eq!(param(&doc["paths"]["/v1/movers"]["get"], "limit")["schema"]["maximum"], 100);
    assert_eq!(param(&doc["paths"]["/v1/price"]["get"], "consensus")["schema"]["minimum"], 2);
    let alias = &doc["paths"]["/api/news/{q}"]["get"];
    assert_eq!(param(alias, "q")["in"], "path");
    assert!(params(alias).iter().all(|p| p["name"] != "q" || p["in"] == "path"), "q only in the path");
    for status in ["200", "400", "405", "414", "502", "503", "504"] {
        assert!(ohlcv["responses"][status].is_object(), "{status} documented");
    }
    let codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"].to_string();
    for code in ["bad_request", "unknown_symbol", "no_provider_available", "deadline_exceeded", "uri_too_long"] {
        assert!(codes.contains(code), "{code}");
    }
    assert_eq!(paths.len(), config["routes"].as_array().map_or(0, Vec::len));
}
