//! The body of an upstream response, whichever path carried it: hyper's client
//! (HTTPS, HTTP/2, request bodies, upgrades) or the lean HTTP/1.1 path.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::h1::body::LeanBody;
use crate::body::BoxError;

/// An upstream response's body.
pub enum UpstreamBody {
    /// Read by hyper's connection task.
    Hyper(Incoming),
    /// Read from its connection by whoever polls it.
    Lean(LeanBody),
}

/// An upstream response.
pub type UpstreamResponse = http::Response<UpstreamBody>;

// === impl UpstreamBody ===

impl UpstreamBody {
    /// Boxed for the client's response (the inner body itself, so a frame costs one
    /// dynamic call).
    pub fn boxed(self) -> crate::body::Body {
        use http_body_util::BodyExt;
        match self {
            Self::Hyper(b) => b.map_err(|e| Box::new(e) as BoxError).boxed(),
            Self::Lean(b) => b.map_err(|e| Box::new(e) as BoxError).boxed(),
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hyper(_) => "UpstreamBody::Hyper",
            Self::Lean(_) => "UpstreamBody::Lean",
        })
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Self::Lean(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Hyper(b) => b.is_end_stream(),
            Self::Lean(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Hyper(b) => b.size_hint(),
            Self::Lean(b) => b.size_hint(),
        }
    }
}
