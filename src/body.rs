//! Body helpers: full bodies, boxing upstream bodies, capped reads, and the request
//! body that can be handed to a second host when the first never read it (and that
//! tells, when an attempt fails, whether the client's body was the cause).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

use crate::sync::lock;

/// Boxed error of bodies flowing through marketgate.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body type of every request and response marketgate builds.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A failure caused by the client's request body rather than by the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFault {
    /// More bytes than `max_request_body`.
    TooLarge,
    /// The client stopped sending its body while the upstream waited for it.
    Stalled,
    /// The client's connection broke while its body was streamed.
    Broken,
}

// === impl ClientFault ===

impl ClientFault {
    /// What happened, for the attempt list.
    pub fn describe(self) -> &'static str {
        match self {
            Self::TooLarge => "the client's request body is larger than max_request_body",
            Self::Stalled => "the client stopped sending its request body",
            Self::Broken => "the client's connection broke while its request body was sent",
        }
    }
}

/// A complete body.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Boxes a client's streamed body, ending it with an error past `limit` bytes.
pub fn limited(body: Incoming, limit: usize) -> Body {
    Limited::new(body, limit).boxed()
}

/// Why a capped read stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// More than `limit` bytes.
    #[error("body is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The stream failed.
    #[error("body read failed")]
    Broken(#[source] BoxError),
}

/// Reads a whole body, refusing more than `limit` bytes (memory stays bounded).
pub async fn read_capped<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Broken(e.into()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ReadError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A client request body shared between attempts: the first attempt whose connection
/// polls it takes it. If an attempt fails before polling (connect error), the body is
/// still in the slot and the next host can send it. Nothing is buffered.
#[derive(Clone)]
pub struct SharedBody {
    slot: Arc<Mutex<Option<Limited<Incoming>>>>,
    polled: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    fault: Arc<Mutex<Option<ClientFault>>>,
    hint: SizeHint,
}

/// One attempt's view of a [`SharedBody`].
pub struct AttemptBody {
    shared: SharedBody,
    taken: Option<Limited<Incoming>>,
}

// === impl SharedBody ===

impl SharedBody {
    /// Wraps the client's body; more than `limit` bytes end the stream with an error.
    pub fn new(body: Incoming, limit: usize) -> Self {
        let hint = body.size_hint();
        Self {
            slot: Arc::new(Mutex::new(Some(Limited::new(body, limit)))),
            polled: Arc::new(AtomicBool::new(false)),
            finished: Arc::new(AtomicBool::new(false)),
            fault: Arc::new(Mutex::new(None)),
            hint,
        }
    }

    /// Whether the client's body caused an attempt to fail: it broke or ran past the
    /// limit, or (after a timeout) the upstream was still waiting for it.
    pub fn fault(&self, timed_out: bool) -> Option<ClientFault> {
        if let Some(f) = *lock(&self.fault) {
            return Some(f);
        }
        let streaming = self.was_polled() && !self.finished.load(Ordering::Acquire);
        (timed_out && streaming).then_some(ClientFault::Stalled)
    }

    /// Whether any attempt has started reading the body (then it cannot be resent).
    pub fn was_polled(&self) -> bool {
        self.polled.load(Ordering::Acquire)
    }

    /// A body for the next attempt.
    pub fn for_attempt(&self) -> Body {
        AttemptBody { shared: self.clone(), taken: None }.boxed()
    }
}

// === impl AttemptBody ===

impl HttpBody for AttemptBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.taken.is_none() {
            let taken = lock(&self.shared.slot).take();
            match taken {
                Some(b) => {
                    self.shared.polled.store(true, Ordering::Release);
                    self.taken = Some(b);
                }
                None => {
                    return Poll::Ready(Some(Err("request body was already consumed by another attempt".into())));
                }
            }
        }
        let Some(b) = self.taken.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(b).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.shared.finished.store(true, Ordering::Release),
            Poll::Ready(Some(Err(e))) => {
                let fault = if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    ClientFault::TooLarge
                } else {
                    ClientFault::Broken
                };
                *lock(&self.shared.fault) = Some(fault);
            }
            _ => {}
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        self.shared.hint
    }
}
