//! The response body of the lean HTTP/1.1 path: read from the connection by whoever
//! polls the body (the client connection's task), handed out as slices of the read
//! buffer, and the connection given back to its pool the moment the last byte is out.
//!
//! A body dropped before its end closes its connection (what is left of the message
//! would be read as the next response otherwise).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::chunked::{ChunkedError, Decoder, Step};
use super::head::Framing;
use super::pool::{self, Conn, Home};

/// Why a response body broke off.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The upstream closed the connection before the body's end.
    #[error("the upstream closed the connection before the end of the body")]
    Closed,
    /// A malformed chunked body.
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
    /// The socket failed.
    #[error("reading the response body failed")]
    Io(#[source] io::Error),
}

#[derive(Debug)]
enum Left {
    Length(u64),
    Chunked(Decoder),
    Close,
    Done,
}

/// A response body read straight from its connection.
#[derive(Debug)]
pub struct LeanBody {
    conn: Option<Conn>,
    left: Left,
    reusable: bool,
    home: Home,
}

// === impl LeanBody ===

impl LeanBody {
    /// The body that follows a head with `framing`; an empty one gives its connection
    /// back at once.
    pub fn new(conn: Conn, framing: Framing, reusable: bool, home: Home) -> Self {
        let left = match framing {
            Framing::Empty | Framing::Length(0) => Left::Done,
            Framing::Length(n) => Left::Length(n),
            Framing::Chunked => Left::Chunked(Decoder::default()),
            Framing::Close => Left::Close,
        };
        let mut body = Self { conn: Some(conn), left, reusable, home };
        if matches!(body.left, Left::Done) {
            body.finish();
        }
        body
    }

    /// The body ended: its connection goes back to the pool when nothing follows it.
    fn finish(&mut self) {
        self.left = Left::Done;
        if let Some(conn) = self.conn.take()
            && self.reusable
            && conn.buf.is_empty()
        {
            pool::checkin(&self.home, conn);
        }
    }

    /// What the buffer already holds, if anything.
    fn take_buffered(&mut self) -> Result<Option<Bytes>, BodyError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let (data, ended) = match &mut self.left {
            Left::Done => return Ok(None),
            Left::Length(_) | Left::Close if conn.buf.is_empty() => return Ok(None),
            Left::Length(n) => {
                let take = usize::try_from(*n).unwrap_or(usize::MAX).min(conn.buf.len());
                *n -= take as u64;
                (Some(conn.buf.split_to(take).freeze()), *n == 0)
            }
            Left::Close => (Some(conn.buf.split().freeze()), false),
            Left::Chunked(d) => match d.decode(&mut conn.buf)? {
                Step::Data(data) => (Some(data), false),
                Step::NeedMore => return Ok(None),
                Step::End => (None, true),
            },
        };
        if ended {
            self.finish();
        }
        Ok(data)
    }
}

impl Body for LeanBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            match this.take_buffered() {
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) => {}
                Err(e) => {
                    this.conn = None;
                    this.left = Left::Done;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            if matches!(this.left, Left::Done) {
                return Poll::Ready(None);
            }
            match conn.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => {
                    let closed_ok = matches!(this.left, Left::Close);
                    this.conn = None;
                    this.left = Left::Done;
                    return Poll::Ready(if closed_ok { None } else { Some(Err(BodyError::Closed)) });
                }
                Poll::Ready(Err(e)) => {
                    this.conn = None;
                    this.left = Left::Done;
                    return Poll::Ready(Some(Err(BodyError::Io(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.left, Left::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Left::Done => SizeHint::with_exact(0),
            Left::Length(n) => SizeHint::with_exact(n),
            Left::Chunked(_) | Left::Close => SizeHint::default(),
        }
    }
}
