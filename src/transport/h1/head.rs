//! HTTP/1.1 message heads, pure: the request head written upstream, and the response
//! head parsed from the read buffer (httparse, hyper's own parser) with the body's
//! framing and whether the connection can be used again (RFC 9112 §6.3, §9.3).

use std::mem::MaybeUninit;

use bytes::{BufMut, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};

/// Most response header lines read (hyper's client reads 100).
pub const MAX_HEADERS: usize = 100;
/// Largest response head; a longer one is refused (hyper's client buffer limit).
pub const MAX_HEAD: usize = 8192 + 4096 * 100;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// Status, version and headers, with an empty body.
    pub response: Response<()>,
    /// How the body that follows is delimited.
    pub framing: Framing,
    /// The connection may carry another request after this body.
    pub reusable: bool,
}

/// Why a response head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// httparse refused the bytes.
    #[error("malformed response head: {0}")]
    Malformed(String),
    /// Over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] lines.
    #[error("response head too large")]
    TooLarge,
    /// `Content-Length` that is not one number.
    #[error("invalid content-length in the response")]
    BadLength,
    /// A 101 to a request that did not ask to upgrade.
    #[error("unexpected 101 Switching Protocols")]
    UnexpectedSwitch,
}

/// The request head for `req`: request line, `Host` (from the URI unless set), its
/// headers, and `content-length: 0` for a bodiless POST, PUT or PATCH (RFC 9110 §8.6: a
/// method that defines a meaning for content says it has none; hyper sends nothing).
pub fn encode_request<B>(req: &Request<B>, out: &mut BytesMut) {
    let uri = req.uri();
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.reserve(64 + target.len() + req.headers().len() * 32);
    out.put_slice(req.method().as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    if !req.headers().contains_key(HOST)
        && let Some(authority) = uri.authority()
    {
        // As hyper's client writes it: the default port left out.
        let host = if authority.port_u16() == Some(80) { authority.host() } else { authority.as_str() };
        out.put_slice(b"host: ");
        out.put_slice(host.as_bytes());
        out.put_slice(b"\r\n");
    }
    for (name, value) in req.headers() {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    let wants_length = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if wants_length && !req.headers().contains_key(CONTENT_LENGTH) {
        out.put_slice(b"content-length: 0\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Parses the response head at the start of `buf`, skipping interim 1xx responses.
/// `Ok(None)`: more bytes are needed. On success the head's bytes are taken out of
/// `buf`; what follows (the body) stays.
pub fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, HeadError> {
    loop {
        // Slots left uninitialized: httparse writes the ones it fills. Filling all 100
        // (3.2 KiB) took more instructions than the parse (bench/instructions.sh).
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let len =
            match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut parsed, buf, &mut slots) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
                Err(e) => return Err(HeadError::Malformed(e.to_string())),
            };
        if len > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let code = parsed.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|e| HeadError::Malformed(e.to_string()))?;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(HeadError::UnexpectedSwitch);
        }
        if status.is_informational() {
            let _ = buf.split_to(len);
            continue;
        }
        let version = if parsed.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
        // Header values are sliced out of the head's bytes, not copied; their places are
        // noted first (on the stack for the usual few), since the parse borrows the buffer.
        let base = buf.as_ptr() as usize;
        let count = parsed.headers.len();
        let (mut few, mut many) = ([Span::default(); FEW_HEADERS], Vec::new());
        let spans = if count <= FEW_HEADERS {
            &mut few[..count]
        } else {
            many.resize(count, Span::default());
            &mut many[..]
        };
        for (span, h) in spans.iter_mut().zip(parsed.headers.iter()) {
            let (name, value) = (h.name.as_ptr() as usize - base, h.value.as_ptr() as usize - base);
            *span = Span {
                name_at: name,
                name_end: name + h.name.len(),
                value_at: value,
                value_end: value + h.value.len(),
            };
        }
        let head = buf.split_to(len).freeze();
        let mut headers = HeaderMap::with_capacity(count);
        let mut said = Said::default();
        for &Span { name_at, name_end, value_at, value_end } in spans.iter() {
            let name = HeaderName::from_bytes(&head[name_at..name_end])
                .map_err(|_| HeadError::Malformed("invalid header name".to_owned()))?;
            let value = HeaderValue::from_maybe_shared(head.slice(value_at..value_end))
                .map_err(|_| HeadError::Malformed(format!("invalid value of header {name}")))?;
            said.note(&name, &value);
            headers.append(name, value);
        }
        return finish(status, version, headers, said, method).map(Some);
    }
}

/// What the headers that frame the body said, noted as the header map is built. Looking
/// them up in the map afterwards (hashing, `get_all`, splitting again) took 900 of a
/// proxied request's 35,300 instructions; noting them costs 370 (bench/instructions.sh).
struct Said {
    /// `Connection` lists `close`.
    close: bool,
    /// `Connection` lists `keep-alive`.
    keep_alive: bool,
    /// There is a `Transfer-Encoding`.
    coded: bool,
    /// Its last coding (of its last header) is `chunked`.
    chunked_last: bool,
    /// There is a `Content-Length`.
    has_length: bool,
    /// The one length the `Content-Length` headers give, or why they do not give one.
    length: Result<Option<u64>, HeadError>,
}

impl Default for Said {
    fn default() -> Self {
        Self { close: false, keep_alive: false, coded: false, chunked_last: false, has_length: false, length: Ok(None) }
    }
}

impl Said {
    /// Notes one header line (its value's comma-separated tokens; an unreadable value
    /// counts as the one token `?`).
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
        let tokens = || crate::split::pieces(value.to_str().unwrap_or("?"), b',').map(str::trim);
        if *name == CONNECTION {
            for t in tokens() {
                self.close |= t.eq_ignore_ascii_case("close");
                self.keep_alive |= t.eq_ignore_ascii_case("keep-alive");
            }
        } else if *name == TRANSFER_ENCODING {
            self.coded = true;
            if let Some(last) = tokens().last() {
                self.chunked_last = last.eq_ignore_ascii_case("chunked");
            }
        } else if *name == CONTENT_LENGTH {
            self.has_length = true;
            for t in tokens() {
                if let Ok(found) = self.length {
                    self.length = one_length(found, t);
                }
            }
        }
    }
}

/// The length so far and one more `Content-Length` token: the same number again, or
/// refused.
fn one_length(found: Option<u64>, text: &str) -> Result<Option<u64>, HeadError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadLength);
    }
    let n: u64 = text.parse().map_err(|_| HeadError::BadLength)?;
    if found.is_some_and(|f| f != n) {
        return Err(HeadError::BadLength);
    }
    Ok(Some(n))
}

/// Response headers whose places are noted on the stack; a head with more notes them
/// in a `Vec`.
const FEW_HEADERS: usize = 16;

/// Where one header's name and value lie in the head's bytes.
#[derive(Clone, Copy, Default)]
struct Span {
    name_at: usize,
    name_end: usize,
    value_at: usize,
    value_end: usize,
}

/// The framing and reuse of a response (RFC 9112 §6.3).
fn finish(
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    said: Said,
    method: &Method,
) -> Result<Head, HeadError> {
    // HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    let mut reusable = if version == Version::HTTP_10 { said.keep_alive } else { !said.close };
    let framing = if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Empty
    } else if said.coded && version == Version::HTTP_10 {
        // RFC 9112 §6.1: badly framed; hyper's client refuses it too.
        return Err(HeadError::Malformed("transfer-encoding in an HTTP/1.0 response".to_owned()));
    } else if said.coded {
        // Transfer-Encoding wins over Content-Length; a message with both is suspect,
        // so its connection is not used again.
        reusable &= !said.has_length;
        if said.chunked_last { Framing::Chunked } else { Framing::Close }
    } else if let Some(n) = said.length? {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    reusable &= framing != Framing::Close;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(Head { response, framing, reusable })
}

#[cfg(test)]
mod tests {
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
        let values: Vec<_> =
            head.response.headers().get_all("x-a").iter().map(|v| v.to_str().expect("ascii")).collect();
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
}
