//! What a collector hands to query nodes (`fluoro serve --role query`, `docs/scale-out.md`).
//!
//! Its recent spans (not yet published in a block), in the write-ahead log's record format
//! (`fluoro_store::encode_spans`), `application/octet-stream`:
//! - `GET /internal/recent/spans?from_us=…&to_us=…&documents=false` — spans starting in the
//!   range (microseconds), without their X-Ray documents unless `documents=true`;
//! - `POST /internal/recent/traces` with a JSON array of X-Ray trace ids — every recent span of
//!   those traces, documents included.
//!
//! An answer over [`MAX_ANSWER_BYTES`] is refused with 413 rather than sent in part, so a query
//! node never takes a cut answer for the whole.
//!
//! Its log records and metric points (which stay on the collector), as the store's own types
//! in JSON, each a `POST` of the store call's arguments:
//! `/internal/logs/trace` `{trace_id, span_id}`, `/internal/logs/search` (a `LogQuery`; the page
//! carries each record's cursor), `/internal/metrics/points` (a `MetricQuery`),
//! `/internal/metrics/names` `{service, from_us, to_us}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluoro_proto::{SegmentId, TraceId};
use fluoro_store::{encode_spans, LogQuery, MetricQuery, Store, StoredSpan};
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Deserialize)]
struct TraceLogsRequest {
    trace_id: TraceId,
    span_id: Option<SegmentId>,
}

#[derive(Debug, Deserialize)]
struct MetricNamesRequest {
    service: Option<String>,
    from_us: i64,
    to_us: i64,
}

/// The handover routes over a collector's store.
pub fn handover_router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/internal/recent/spans", get(spans_in))
        .route("/internal/recent/traces", post(traces))
        .route("/internal/logs/trace", post(trace_logs))
        .route("/internal/logs/search", post(search_logs))
        .route("/internal/metrics/points", post(metric_points))
        .route("/internal/metrics/names", post(metric_names))
        .with_state(store)
}

async fn trace_logs(State(store): State<Arc<Store>>, Json(request): Json<TraceLogsRequest>) -> Result<Response> {
    answer_json(move || store.trace_logs(request.trace_id, request.span_id)).await
}

async fn search_logs(State(store): State<Arc<Store>>, Json(query): Json<LogQuery>) -> Result<Response> {
    answer_json(move || store.search_logs(&query)).await
}

async fn metric_points(State(store): State<Arc<Store>>, Json(query): Json<MetricQuery>) -> Result<Response> {
    answer_json(move || store.metric_points(&query)).await
}

async fn metric_names(State(store): State<Arc<Store>>, Json(request): Json<MetricNamesRequest>) -> Result<Response> {
    answer_json(move || store.metric_names(request.service.as_deref(), request.from_us, request.to_us)).await
}

/// A store read off the async workers (it may read blocks), as JSON.
async fn answer_json<T: Serialize + Send + 'static>(
    read: impl FnOnce() -> fluoro_store::Result<T> + Send + 'static,
) -> Result<Response> {
    let read = tokio::task::spawn_blocking(read)
        .await
        .map_err(|error| ApiError::Internal(format!("collector read task failed: {error}")))?;
    Ok(Json(read.map_err(|error| ApiError::Internal(error.to_string()))?).into_response())
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
