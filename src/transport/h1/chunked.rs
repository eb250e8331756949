//! The chunked transfer coding (RFC 9112 §7.1), decoded from a read buffer: a pure
//! state machine that takes what bytes have arrived and hands out the data they hold,
//! without copying it (each piece is split off the buffer).
//!
//! Bounded: a chunk size has at most 16 hex digits, a chunk extension or trailer line
//! is at most [`MAX_LINE`] bytes, and the trailer section at most [`MAX_TRAILERS`], so a
//! hostile upstream cannot make the buffer grow without a byte of data coming out.

use bytes::{Bytes, BytesMut};

/// Longest chunk-size line (size, extensions) or trailer line.
pub const MAX_LINE: usize = 4096;
/// Largest trailer section (trailers are read and dropped).
pub const MAX_TRAILERS: usize = 16 * 1024;
/// Most chunk-extension bytes in one body (hyper's limit): extensions carry nothing a
/// proxy reads, so a body that is mostly extensions is refused.
pub const MAX_EXTENSIONS: usize = 16 * 1024;

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data: this many bytes remain.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one (`seen` bytes so far).
    Trailers { seen: usize },
    /// The body ended.
    Done,
}

/// What the buffer gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A piece of the body.
    Data(Bytes),
    /// More bytes are needed.
    NeedMore,
    /// The body ended (its last CRLF consumed).
    End,
}

/// Why a chunked body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub struct ChunkedError(&'static str);

/// A chunked body being decoded.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    extensions: usize,
}

// === impl Decoder ===

impl Default for Decoder {
    fn default() -> Self {
        Self { state: State::Size, extensions: 0 }
    }
}

impl Decoder {
    /// True once the terminating chunk and trailers were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes from `buf` what it can: a piece of data, the end, or a request for more.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkedError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(end) = line_end(buf, MAX_LINE)? else {
                        return Ok(Step::NeedMore);
                    };
                    let (size, extension) = chunk_size(&buf[..end])?;
                    self.extensions += extension;
                    if self.extensions > MAX_EXTENSIONS {
                        return Err(ChunkedError("too many chunk-extension bytes"));
                    }
                    let _ = buf.split_to(end + 2);
                    self.state = if size == 0 { State::Trailers { seen: 0 } } else { State::Data(size) };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                    return Ok(Step::Data(data));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkedError("chunk data is not followed by CRLF"));
                    }
                    let _ = buf.split_to(2);
                    self.state = State::Size;
                }
                State::Trailers { seen } => {
                    let Some(end) = line_end(buf, MAX_LINE)? else {
                        return Ok(Step::NeedMore);
                    };
                    let _ = buf.split_to(end + 2);
                    if end == 0 {
                        self.state = State::Done;
                        return Ok(Step::End);
                    }
                    let seen = seen + end + 2;
                    if seen > MAX_TRAILERS {
                        return Err(ChunkedError("trailer section too large"));
                    }
                    self.state = State::Trailers { seen };
                }
                State::Done => return Ok(Step::End),
            }
        }
    }
}

/// The offset of the CRLF ending the first line of `buf`, if it has arrived.
fn line_end(buf: &[u8], max: usize) -> Result<Option<usize>, ChunkedError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) if i <= max => Ok(Some(i)),
        Some(_) => Err(ChunkedError("line too long")),
        None if buf.len() > max + 1 => Err(ChunkedError("line too long")),
        None => Ok(None),
    }
}

/// The size of a chunk-size line (`1a2b;ext=1`) and the length of what follows it
/// (extensions, ignored).
fn chunk_size(line: &[u8]) -> Result<(u64, usize), ChunkedError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkedError("chunk size is not hexadecimal"));
    }
    if digits > 16 {
        return Err(ChunkedError("chunk size too large"));
    }
    let rest = &line[digits..];
    let rest = rest.iter().position(|b| *b != b' ' && *b != b'\t').map_or(&[][..], |i| &rest[i..]);
    if !rest.is_empty() && rest[0] != b';' {
        return Err(ChunkedError("unexpected bytes after the chunk size"));
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| ChunkedError("chunk size is not hexadecimal"))?;
    let size = u64::from_str_radix(text, 16).map_err(|_| ChunkedError("chunk size too large"))?;
    Ok((size, line.len() - digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes; returns the body and whether it ended.
    fn run(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool, usize), ChunkedError> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match d.decode(&mut buf)? {
                    Step::Data(b) => out.extend_from_slice(&b),
                    Step::NeedMore => break,
                    Step::End => return Ok((out, true, buf.len())),
                }
            }
        }
        Ok((out, false, buf.len()))
    }

    const WIRE: &[u8] =
        b"4\r\nWiki\r\n6;name=value\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";

    #[test]
    fn a_body_split_at_every_byte_decodes_the_same() {
        for step in 1..=WIRE.len() {
            let (body, ended, left) = run(WIRE, step).expect("valid");
            assert_eq!(body, b"Wikipedia in \r\n\r\nchunks.", "step {step}");
            assert!(ended, "step {step}");
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn bytes_after_the_body_stay_in_the_buffer() {
        let mut wire = b"3\r\nabc\r\n0\r\n\r\n".to_vec();
        wire.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let (body, ended, left) = run(&wire, wire.len()).expect("valid");
        assert_eq!((body.as_slice(), ended, left), (&b"abc"[..], true, 17));
    }

    #[test]
    fn a_body_without_its_last_chunk_has_not_ended() {
        let (body, ended, _) = run(b"3\r\nabc\r\n", 64).expect("valid so far");
        assert_eq!((body.as_slice(), ended), (&b"abc"[..], false));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for wire in [&b"zz\r\nabc\r\n"[..], b"3\r\nabcX\r\n", b"3 x\r\nabc\r\n", b"11111111111111111\r\n", b"-1\r\n"] {
            assert!(run(wire, 64).is_err(), "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn endless_lines_and_trailers_are_refused_without_growing() {
        let long = vec![b'1'; 10];
        let mut line = long.clone();
        line.extend(std::iter::repeat_n(b';', MAX_LINE + 8));
        assert_eq!(run(&line, 512).expect_err("long size line"), ChunkedError("line too long"));
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..(MAX_TRAILERS / 10 + 2) {
            trailers.extend_from_slice(b"x-a: 1234\r\n");
        }
        assert_eq!(run(&trailers, 512).expect_err("trailers"), ChunkedError("trailer section too large"));
        // One data byte per 4 KiB of extensions: refused once they pass the body's cap.
        let ext = format!("1;{}\r\na\r\n", "e".repeat(MAX_LINE - 8));
        let wire = ext.repeat(MAX_EXTENSIONS / (MAX_LINE - 8) + 2);
        assert_eq!(run(wire.as_bytes(), 4096).expect_err("extensions"), ChunkedError("too many chunk-extension bytes"));
    }

    #[test]
    fn the_largest_size_is_read_without_overflow() {
        assert_eq!(chunk_size(b"ffffffffffffffff"), Ok((u64::MAX, 0)));
        assert_eq!(chunk_size(b"1A ; x=y"), Ok((26, 6)));
    }
}
