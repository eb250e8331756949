//! The request head written and the response head read (framing against the first
//! version's, kept here as the reference), without sockets.

use super::*;
use bytes::Bytes;

fn to_bytes<B>(req: &Request<B>) -> Bytes {
    let mut out = BytesMut::new();
    encode_request(req, &mut out);
    out.freeze()
}

fn parse(wire: &str, method: Method) -> Result<Option<Head>, HeadError> {
    parse_response(&mut BytesMut::from(wire), &method)
}

fn framing(wire: &str) -> (Framing, bool) {
    let head = parse(wire, Method::GET).expect("valid").expect("complete");
    (head.framing, head.reusable)
}

#[test]
fn the_request_head_has_the_target_host_and_headers() {
    let req = Request::get("http://127.0.0.1:8080/api/v3/ticker/price?symbol=BTCUSDT")
        .header("user-agent", "marketgate")
        .body(())
        .expect("request");
    assert_eq!(
        to_bytes(&req),
        "GET /api/v3/ticker/price?symbol=BTCUSDT HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: marketgate\r\n\r\n"
    );
    let default_port = Request::get("http://[::1]:80/").body(()).expect("request");
    assert_eq!(to_bytes(&default_port), "GET / HTTP/1.1\r\nhost: [::1]\r\n\r\n");
    let given = Request::post("http://a/x").header("host", "b").body(()).expect("request");
    assert_eq!(to_bytes(&given), "POST /x HTTP/1.1\r\nhost: b\r\ncontent-length: 0\r\n\r\n");
}

#[test]
fn framing_follows_rfc_9112() {
    assert_eq!(framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"), (Framing::Length(5), true));
    assert_eq!(framing("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"), (Framing::Length(5), true));
    assert_eq!(framing("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"), (Framing::Chunked, true));
    assert_eq!(framing("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n"), (Framing::Close, false));
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n"),
        (Framing::Chunked, false)
    );
    assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n"), (Framing::Close, false));
    assert_eq!(framing("HTTP/1.1 204 No Content\r\ncontent-length: 7\r\n\r\n"), (Framing::Empty, true));
    assert_eq!(framing("HTTP/1.1 304 Not Modified\r\n\r\n"), (Framing::Empty, true));
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n"),
        (Framing::Length(1), false)
    );
    assert_eq!(framing("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n"), (Framing::Length(1), false));
    assert_eq!(
        framing("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 1\r\n\r\n"),
        (Framing::Length(1), true)
    );
    let head = parse("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", Method::HEAD).expect("valid").expect("head");
    assert_eq!(head.framing, Framing::Empty);
}

/// Framing as first written, read back from the finished header map; kept as the
/// reference for the framing noted while the map is built.
fn reference(
    status: u16,
    version: Version,
    headers: &HeaderMap,
    method: &Method,
) -> Result<(Framing, bool), HeadError> {
    let tokens = |name: HeaderName| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("?").split(',').map(|t| t.trim().to_owned()).collect::<Vec<_>>())
            .collect()
    };
    let has = |token: &str| tokens(CONNECTION).iter().any(|t| t.eq_ignore_ascii_case(token));
    let mut reusable = if version == Version::HTTP_10 { has("keep-alive") } else { !has("close") };
    let framing = if *method == Method::HEAD || status == 204 || status == 304 {
        Framing::Empty
    } else if headers.contains_key(TRANSFER_ENCODING) && version == Version::HTTP_10 {
        return Err(HeadError::Malformed("transfer-encoding in an HTTP/1.0 response".to_owned()));
    } else if headers.contains_key(TRANSFER_ENCODING) {
        reusable &= !headers.contains_key(CONTENT_LENGTH);
        let chunked = tokens(TRANSFER_ENCODING).last().is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
        if chunked { Framing::Chunked } else { Framing::Close }
    } else {
        let mut found: Option<u64> = None;
        for text in tokens(CONTENT_LENGTH) {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::BadLength);
            }
            let n: u64 = text.parse().map_err(|_| HeadError::BadLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(HeadError::BadLength);
            }
            found = Some(n);
        }
        found.map_or(Framing::Close, Framing::Length)
    };
    reusable &= framing != Framing::Close;
    Ok((framing, reusable))
}

proptest::proptest! {
    #[test]
    fn framing_agrees_with_the_reference(
        lines in proptest::collection::vec((0usize..5, 0usize..14), 0..5),
        old in proptest::bool::ANY,
        status in proptest::sample::select(vec![200u16, 204, 304, 404]),
        head in proptest::bool::ANY,
    ) {
        const NAMES: [&str; 5] = ["connection", "Connection", "transfer-encoding", "content-length", "x-other"];
        const VALUES: [&[u8]; 14] = [
            b"close", b"keep-alive", b"Keep-Alive, upgrade", b"chunked", b"gzip, chunked", b"chunked, gzip",
            b"chunked,", b"", b"5", b"5, 5", b"6", b"-1", b" 7 ", b"close \xff",
        ];
        let version = if old { Version::HTTP_10 } else { Version::HTTP_11 };
        let method = if head { Method::HEAD } else { Method::GET };
        let mut wire = format!("HTTP/1.{} {status} X\r\n", u8::from(!old)).into_bytes();
        let mut map = HeaderMap::new();
        for &(n, v) in &lines {
            wire.extend_from_slice(format!("{}: ", NAMES[n]).as_bytes());
            wire.extend_from_slice(VALUES[v]);
            wire.extend_from_slice(b"\r\n");
            let name = HeaderName::from_bytes(NAMES[n].as_bytes()).expect("name");
            map.append(name, HeaderValue::from_bytes(VALUES[v].trim_ascii()).expect("value"));
        }
        wire.extend_from_slice(b"\r\n");
        let got = parse_response(&mut BytesMut::from(&wire[..]), &method)
            .map(|h| h.map(|h| (h.framing, h.reusable)).expect("complete"));
        proptest::prop_assert_eq!(got, reference(status, version, &map, &method), "{}", String::from_utf8_lossy(&wire));
    }
}

#[test]
fn bad_lengths_and_switches_are_refused() {
    for wire in [
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 1e3\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
    ] {
        assert_eq!(parse(wire, Method::GET).expect_err(wire), HeadError::BadLength, "{wire}");
    }
    let old_chunked =
        parse("HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n", Method::GET);
    assert!(matches!(old_chunked, Err(HeadError::Malformed(_))), "{old_chunked:?}");
    let switch = parse("HTTP/1.1 101 Switching Protocols\r\n\r\n", Method::GET);
    assert_eq!(switch.expect_err("101"), HeadError::UnexpectedSwitch);
    assert!(matches!(parse("HTTP/1.1 2x0 OK\r\n\r\n", Method::GET), Err(HeadError::Malformed(_))));
}

#[test]
fn interim_responses_are_skipped_and_the_body_stays_in_the_buffer() {
    let mut buf = BytesMut::from(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 2\r\n\r\n{}",
    );
    let head = parse_response(&mut buf, &Method::GET).expect("valid").expect("complete");
    assert_eq!(head.response.status(), StatusCode::NOT_FOUND);
    let values: Vec<_> = head.response.headers().get_all("x-a").iter().map(|v| v.to_str().expect("ascii")).collect();
    assert_eq!(values, ["1", "2"]);
    assert_eq!(&buf[..], b"{}");
}

#[test]
fn every_header_of_a_long_head_is_kept_with_its_value() {
    // More than the 16 whose places are noted on the stack.
    for count in [FEW_HEADERS, FEW_HEADERS + 1, MAX_HEADERS - 1] {
        let lines: String = (0..count).map(|i| format!("x-h{i}: value {i}\r\n")).collect();
        let wire = format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n{lines}\r\n{{}}");
        let mut buf = BytesMut::from(wire.as_str());
        let head = parse_response(&mut buf, &Method::GET).expect("valid").expect("complete");
        let headers = head.response.headers();
        assert_eq!(headers.len(), count + 1, "{count}");
        for i in 0..count {
            assert_eq!(headers.get(format!("x-h{i}")).expect("kept"), format!("value {i}").as_str());
        }
        assert_eq!(head.framing, Framing::Length(2));
        assert_eq!(&buf[..], b"{}");
    }
}

#[test]
fn a_partial_head_waits_and_an_endless_one_is_refused() {
    assert!(parse("HTTP/1.1 200 OK\r\ncontent-le", Method::GET).expect("partial").is_none());
    let endless = format!("HTTP/1.1 200 OK\r\nx-a: {}", "a".repeat(MAX_HEAD + 1));
    assert_eq!(parse(&endless, Method::GET).expect_err("too large"), HeadError::TooLarge);
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
    let wire = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert_eq!(parse(&wire, Method::GET).expect_err("too many"), HeadError::TooLarge);
}
