use serde_json::{Value, json};

use super::*;

fn globals() -> Globals {
    Globals { now: 1_700_000_000_000, vs: "USD".into(), ..Globals::default() }
}

#[test]
fn maps_a_body_with_globals() {
    let p = JqProgram::compile(r#"{price: (.price | tonumber), vs: $vs, ts: $now, s: $symbol}"#).expect("compiles");
    let g = Globals { symbols: vec!["BTC".into()], ..globals() };
    let out = p.run(br#"{"price":"42.5"}"#, &g).expect("runs");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v, json!({"price": 42.5, "vs": "USD", "ts": 1_700_000_000_000_i64, "s": "BTC"}));
}

#[test]
fn every_global_is_bound_in_order() {
    let g = Globals {
        now: 5,
        symbols: vec!["BTC".into(), "ETH".into()],
        ids: vec!["bitcoin".into(), "ethereum".into()],
        symbol_of: BTreeMap::from([("bitcoin".into(), "BTC".into())]),
        vs: "USD".into(),
        quote: "USDT".into(),
        interval: Some("1h"),
        interval_ms: Some(3_600_000),
        limit: Some(10),
        depth: Some(20),
        q: Some("etf".into()),
    };
    let code =
        "[$now, $symbols, $ids, $symbol_of, $symbol, $id, $vs, $quote, $interval, $interval_ms, $limit, $depth, $q]";
    let out = JqProgram::compile(code).expect("compiles").run(b"null", &g).expect("runs");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v,
        json!([5, ["BTC", "ETH"], ["bitcoin", "ethereum"], {"bitcoin": "BTC"}, "BTC", "bitcoin", "USD", "USDT",
               "1h", 3_600_000, 10, 20, "etf"])
    );
}

#[test]
fn halt_is_an_error_not_an_exit() {
    for code in ["halt", "halt_error", "halt_error(3)", "\"x\" | halt_error(1)"] {
        let p = JqProgram::compile(code).expect(code);
        assert!(matches!(p.run(b"{}", &globals()), Err(JqRunError::Halted(_))), "{code}");
    }
}

#[test]
fn env_is_not_available() {
    for code in ["env", "env.HOME", "$ENV"] {
        let err = JqProgram::compile(code).expect_err(code);
        assert!(err.message.contains("undefined"), "{code}: {}", err.message);
    }
}

#[test]
fn syntax_errors_point_into_the_program() {
    let err = JqProgram::compile(".data | map(").expect_err("syntax");
    assert!(err.message.contains("syntax"), "{}", err.message);
    let err = JqProgram::compile(".a | nosuchfn(1)").expect_err("undefined");
    assert_eq!(err.offset, Some(5), "{}", err.message);
    assert!(err.message.contains("nosuchfn"));
}

#[test]
fn raised_errors_keep_their_value() {
    let p = JqProgram::compile(r#"if .Response == "Error" then error(.Message) else . end"#).expect("compiles");
    let err = p.run(br#"{"Response":"Error","Message":"over limit"}"#, &globals()).expect_err("raised");
    assert_eq!(err, JqRunError::Raised(json!("over limit")));
    let p = JqProgram::compile(r#"error({outcome: "rate_limited", retry_after: 60})"#).expect("compiles");
    let err = p.run(b"{}", &globals()).expect_err("raised");
    assert_eq!(err, JqRunError::Raised(json!({"outcome": "rate_limited", "retry_after": 60})));
    assert!(matches!(p.run(b"<html>", &globals()), Err(JqRunError::NotJson(_))));
    let many = JqProgram::compile(".[]").expect("compiles");
    assert_eq!(many.run(b"[1,2]", &globals()), Err(JqRunError::OutputCount(2)));
    let endless = JqProgram::compile("range(1000000000)").expect("compiles");
    assert!(matches!(endless.run(b"null", &globals()), Err(JqRunError::OutputCount(_))));
}

/// The bodies that once aborted the process: deep nesting, also hidden behind jaq's
/// `#` comments, and the same inside a string handed to `fromjson`/`tonumber`. Each
/// runs on a thread with a small stack, so a recursion without a bound would crash the
/// test rather than pass by luck of a large main-thread stack.
#[test]
fn no_body_can_overflow_the_stack() {
    let deep = "[".repeat(70_000);
    let hidden = format!("#\"\n{deep}");
    let in_string = serde_json::to_string(&json!({ "s": deep })).expect("json");
    let id = JqProgram::compile(".").expect("compiles");
    let fromjson = JqProgram::compile(".s | fromjson").expect("compiles");
    let tonumber = JqProgram::compile(".s | tonumber").expect("compiles");
    let outcome = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let a = id.run(deep.as_bytes(), &globals());
            let b = id.run(hidden.as_bytes(), &globals());
            let via_fromjson = fromjson.run(in_string.as_bytes(), &globals());
            let via_tonumber = tonumber.run(in_string.as_bytes(), &globals());
            [a, b, via_fromjson, via_tonumber].map(|r| r.is_err())
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(outcome, [true; 4], "every deep body is refused as an error");
}

#[test]
fn tonumber_and_fromjson_still_work() {
    let p = JqProgram::compile(r#"[(.a | tonumber), (.b | fromjson), (.c | tonumber)]"#).expect("compiles");
    let out = p.run(br#"{"a":"60685.22","b":"{\"x\":[1,2]}","c":" 7 "}"#, &globals()).expect("runs");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v, json!([60685.22, {"x": [1, 2]}, 7]));
}

#[test]
fn serde_values_convert_to_jq_values() {
    let v = json!({"a": [1, -2, 1.5, "x", null, true, 18446744073709551615u64], "b": {}});
    let val = from_json(v.clone());
    let back: Value = serde_json::from_str(&val.to_string()).expect("json");
    assert_eq!(back["a"][0], 1);
    assert_eq!(back["a"][2], 1.5);
    assert_eq!(back["b"], json!({}));
}
