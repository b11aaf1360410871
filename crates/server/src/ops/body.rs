//! Request bodies are read by the handler that wants them, after its
//! credentials were checked from the headers, never buffered before
//! routing: a client without a credential costs us its headers, not its body.
//!
//! A handler that answers without reading the body (a refused token, a
//! lifecycle POST that takes none) gives it back here. A small remainder is
//! read and dropped, so a pooling client can send its next request on the
//! same connection; a large or slow one is not worth waiting for, and the
//! answer says `Connection: close` instead.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::api::ApiError;
use crate::api::body::declared_length;

/// The most of an unread body drained to keep its connection.
pub const DRAIN_LIMIT: u64 = 64 * 1024;

/// How long an unread body's remainder is waited for.
pub const DRAIN_WINDOW: Duration = Duration::from_secs(1);

/// Middleware: refuses a declared length over `max_body` (413) before
/// routing, and drains or closes after a handler that left the body
/// unread. A body without a declared length is limited by the handler
/// that reads it (each has its own limit, and answers 413 past it).
pub(crate) async fn bounded(
    State(max_body): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    if declared_length(&parts.headers).is_some_and(|len| len > max_body as u64) {
        return close(ApiError::too_large(max_body).into_response());
    }
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let (give_back, mut returned) = oneshot::channel();
    let watched = Watched {
        inner: Some(body),
        give_back: Some(give_back),
    };
    let response = next
        .run(Request::from_parts(parts, Body::new(watched)))
        .await;
    // The handler has finished, so its request (and body) is gone, unless
    // it handed the body to a task of its own: then no guess is made.
    let kept = match returned.try_recv() {
        Err(oneshot::error::TryRecvError::Closed) => true,
        Ok(unread) => drain(unread).await,
        Err(oneshot::error::TryRecvError::Empty) => false,
    };
    if kept { response } else { close(response) }
}

/// The body as a handler sees it: on drop, what it left unread goes back
/// to [`bounded`].
struct Watched {
    inner: Option<Body>,
    give_back: Option<oneshot::Sender<Body>>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let unread = self.inner.take().filter(|b| !b.is_end_stream());
        if let (Some(unread), Some(give_back)) = (unread, self.give_back.take()) {
            let _ = give_back.send(unread);
        }
    }
}

/// Reads and drops what is left of `body`, if it is small and arrives
/// soon: true when it was read to its end.
async fn drain(mut body: Body) -> bool {
    if body.size_hint().lower() > DRAIN_LIMIT {
        return false;
    }
    let to_end = async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len() as u64);
                if seen > DRAIN_LIMIT {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_WINDOW, to_end)
        .await
        .unwrap_or(false)
}

/// `response`, with the connection closed after it.
fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;

    #[tokio::test]
    async fn a_small_unread_body_is_drained_and_a_large_one_is_not() {
        let small = Body::from(vec![0u8; 1000]);
        assert!(drain(small).await);
        let large = Body::from(vec![0u8; DRAIN_LIMIT as usize + 1]);
        assert!(!drain(large).await);
    }

    #[tokio::test]
    async fn a_dropped_body_is_given_back_unless_read_to_its_end() {
        let (tx, rx) = oneshot::channel();
        let watched = Watched {
            inner: Some(Body::from("abc")),
            give_back: Some(tx),
        };
        drop(watched);
        assert!(rx.await.is_ok());

        let (tx, rx) = oneshot::channel();
        let watched = Watched {
            inner: Some(Body::from("abc")),
            give_back: Some(tx),
        };
        let read = Body::new(watched).collect().await.unwrap().to_bytes();
        assert_eq!(&read[..], b"abc");
        assert!(rx.await.is_err());
    }
}
