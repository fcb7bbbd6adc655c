//! Request bodies over a limit, answered with a 413 the client can read.
//!
//! - Stopping at the limit and answering leaves the rest of the body unread; closing such a
//!   connection makes the kernel reset it, and a client still sending (botocore, curl after
//!   `100 Continue`) sees a broken pipe instead of the answer. So the rest is read and
//!   dropped, up to [`DRAIN_LIMIT_BYTES`], before answering.
//! - A client that sent `Expect: 100-continue` with a `Content-Length` over the limit has not
//!   sent the body yet: it is answered at once and never sends it.
//! - Past the drain limit the connection is closed: reading without end would let one client
//!   occupy the server for as long as it likes.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// The most bytes read (and dropped) from a body over its limit before closing the
/// connection: eight times the X-Ray API's 8 MiB limit, so a client that sends 64 MiB still
/// reads its 413.
pub const DRAIN_LIMIT_BYTES: usize = 128 * 1024 * 1024;

/// Why a body was not handed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyProblem {
    TooLarge { limit: usize },
    Unreadable(String),
}

/// A route group's body limit and how its errors look to its clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit {
    pub(crate) max_bytes: usize,
    pub(crate) answer: fn(BodyProblem) -> Response,
}

/// Middleware (`axum::middleware::from_fn_with_state`): reads the whole body within the
/// limit and passes it on, or answers with the route group's error.
pub(crate) async fn enforce_body_limit(State(limit): State<BodyLimit>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match collect_within(&parts.headers, body, limit.max_bytes).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(problem) => (limit.answer)(problem),
    }
}

/// The whole body when it is at most `max_bytes`: a body declared over the limit is refused
/// unread when the client waits for `100 Continue` (or it is past the drain limit), one that
/// turns out over it is drained first ([`read_within`]).
pub(crate) async fn collect_within(headers: &HeaderMap, body: Body, max_bytes: usize) -> Result<Bytes, BodyProblem> {
    if let Some(declared) = content_length(headers).filter(|declared| *declared > max_bytes) {
        if expects_continue(headers) || declared > DRAIN_LIMIT_BYTES {
            return Err(BodyProblem::TooLarge { limit: max_bytes });
        }
    }
    read_within(body, max_bytes).await
}

/// The body when it is at most `limit` bytes; past that the rest is read and dropped up to
/// [`DRAIN_LIMIT_BYTES`], so the answer reaches a client that is still sending.
async fn read_within(mut body: Body, limit: usize) -> Result<Bytes, BodyProblem> {
    let mut collected = BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BodyProblem::Unreadable(error.to_string()))?;
        let Ok(data) = frame.into_data() else { continue };
        total = total.saturating_add(data.len());
        if total > DRAIN_LIMIT_BYTES {
            return Err(BodyProblem::TooLarge { limit });
        }
        if total <= limit {
            collected.extend_from_slice(&data);
        } else if !collected.is_empty() {
            collected = BytesMut::new();
        }
    }
    match total > limit {
        true => Err(BodyProblem::TooLarge { limit }),
        false => Ok(collected.freeze()),
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_within_the_limit_is_passed_whole() {
        let body = Body::from(vec![7u8; 1000]);
        assert_eq!(read_within(body, 1000).await.unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_with_the_limit() {
        let body = Body::from(vec![1u8; 10_000]);
        assert_eq!(read_within(body, 5000).await, Err(BodyProblem::TooLarge { limit: 5000 }));
    }
}
