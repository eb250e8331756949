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
mod tests;
