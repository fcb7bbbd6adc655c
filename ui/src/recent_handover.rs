//! A collector's recent data, handed to query nodes (`fluoro serve --role query`): the spans not
//! yet published in a block, in the write-ahead log's record format (`fluoro_store::encode_spans`).
//!
//! - `GET /internal/recent/spans?from_us=…&to_us=…&documents=false` — spans starting in the
//!   range (microseconds), without their X-Ray documents unless `documents=true`;
//! - `POST /internal/recent/traces` with a JSON array of X-Ray trace ids — every recent span of
//!   those traces, documents included.
//!
//! Both answer `application/octet-stream`; an answer over [`MAX_ANSWER_BYTES`] is refused with
//! 413 rather than sent in part, so a query node never takes a cut answer for the whole.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fluoro_proto::TraceId;
use fluoro_store::{encode_spans, Store, StoredSpan};
use serde::Deserialize;

use crate::error::{ApiError, Result};

/// The largest answer: 512 MiB (recent data is bounded by `recent_max_bytes`, 1 GiB by default,
/// documents included; answers to scans leave the documents out).
pub const MAX_ANSWER_BYTES: usize = 512 << 20;
/// Trace ids one request may ask for.
const MAX_TRACE_IDS: usize = 10_000;

#[derive(Debug, Deserialize)]
struct SpansQuery {
    from_us: i64,
    to_us: i64,
    #[serde(default)]
    documents: bool,
}

/// The handover routes over a collector's store.
pub fn recent_router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/internal/recent/spans", get(spans_in))
        .route("/internal/recent/traces", post(traces))
        .with_state(store)
}

async fn spans_in(State(store): State<Arc<Store>>, Query(query): Query<SpansQuery>) -> Result<Response> {
    answer(move || store.recent_spans_in(query.from_us, query.to_us, query.documents)).await
}

async fn traces(State(store): State<Arc<Store>>, body: Bytes) -> Result<Response> {
    let texts: Vec<String> = serde_json::from_slice(&body)
        .map_err(|error| ApiError::InvalidRequest(format!("the body must be a JSON array of trace ids: {error}")))?;
    if texts.len() > MAX_TRACE_IDS {
        return Err(ApiError::InvalidRequest(format!("at most {MAX_TRACE_IDS} trace ids per request")));
    }
    let ids = texts
        .iter()
        .map(|text| TraceId::parse_xray(text).map_err(|error| ApiError::InvalidRequest(format!("{text}: {error}"))))
        .collect::<Result<Vec<_>>>()?;
    answer(move || store.recent_traces(&ids)).await
}

/// Collects and encodes the spans off the async workers: copying recent data and encoding it
/// is CPU work proportional to it.
async fn answer(spans: impl FnOnce() -> Vec<StoredSpan> + Send + 'static) -> Result<Response> {
    let encoded = tokio::task::spawn_blocking(move || encode_spans(&spans()))
        .await
        .map_err(|error| ApiError::Internal(format!("recent spans task failed: {error}")))?
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    if encoded.len() > MAX_ANSWER_BYTES {
        let message =
            format!("{} bytes of recent spans, over the {MAX_ANSWER_BYTES} an answer may take", encoded.len());
        return Ok((StatusCode::PAYLOAD_TOO_LARGE, message).into_response());
    }
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], encoded).into_response())
}
