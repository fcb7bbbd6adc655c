//! The X-Ray REST-JSON API subset that senders and trace readers use, so the X-Ray daemon
//! (`--endpoint`), boto3, the AWS CLI (`--endpoint-url`) and the SDKs talk to Fluoro unchanged
//! (spec `xray.md` §4).
//!
//! | endpoint | operation | answers |
//! |---|---|---|
//! | `POST /TraceSegments` | PutTraceSegments | `{"UnprocessedTraceSegments": [{"Id", "ErrorCode", "Message"}]}` |
//! | `POST /Traces` | BatchGetTraces | `{"Traces": [{"Id", "Duration", "LimitExceeded", "Segments": [{"Id", "Document"}]}], "UnprocessedTraceIds"}` |
//! | `POST /TelemetryRecords` | PutTelemetryRecords | `{}` |
//! | `GET /metrics` | | the collector's counters, Prometheus text format 0.0.4 |
//! | `GET /api/counters` | | the same counters as JSON (`CountersSnapshot`) |
//!
//! Requests are not authenticated: SigV4 signatures are ignored, so any credentials work.
//!
//! # Refused documents
//!
//! PutTraceSegments keeps the valid documents of a request and lists the others, each with
//! the document's `id` when one could be found (even in broken JSON, as the daemon matches
//! rejects by id) and a `Message` of the form `TraceSegmentDocuments[2]: segment
//! 70de5b6f19ff9a0a: trace_id "1-bad" is not a valid trace id (…)` naming the field at fault.
//!
//! | `ErrorCode` | when | counted as (`fluoro_rejected_total` reason) |
//! |---|---|---|
//! | `DocumentTooLarge` | the document is over 64 KiB | `too_large` |
//! | `MalformedJson` | the document is not JSON, or nests deeper than `limits.json_depth` | `bad_json` |
//! | `InvalidSegment` | JSON that breaks a document rule (id, time, name, type…) | `invalid` |
//! | `TraceTooLarge` | its spans would take their trace past `limits.spans_per_trace` | `trace_too_large` |
//!
//! # Request errors
//!
//! | status | `X-Amzn-ErrorType` / `__type` | when |
//! |---|---|---|
//! | 400 | `InvalidRequestException` | the body is not the operation's JSON, or over a count limit |
//! | 413 | `InvalidRequestException` | the body is over [`MAX_REQUEST_BODY_BYTES`]; the rest of it is read (up to 128 MiB) so the client gets the answer, not a reset (`body_limit.rs`) |
//! | 503 | `ServiceUnavailable` | the store refused the batch (its disk is full, recent data over its budget): nothing in the request was kept, resend it |
//!
//! # Limits
//!
//! - Request body: 8 MiB. The daemon sends at most 50 documents of at most 64 KiB, and each
//!   is a JSON string inside the request, where escaping can nearly double it: ~6.3 MiB in the
//!   worst case, so the daemon's largest batch always fits.
//! - 500 documents per PutTraceSegments: ten times the batch the daemon and the OpenTelemetry
//!   X-Ray exporter send, while bounding the work one request can cause.
//! - 100 trace ids per BatchGetTraces. The real service returns 5 traces per page and the CLI
//!   pages with `NextToken`; Fluoro answers every id in one page and never returns a
//!   `NextToken` (one sent is ignored).
//!
//! # How BatchGetTraces assembles a trace
//!
//! One `Segment` per top-level segment, its document as sent: explicit nulls, key order and
//! number forms are kept (`fluoro_proto::SentEntity`). Independent subsegments are
//! merged into their parent's `subsegments` at any depth, deduplicated by id (a complete
//! version replaces an in-progress one); those whose parent never arrived come back as their
//! own `Segment`s. Spans that came only over OTLP come back as documents built from their
//! rows, merged the same way. `Duration` is the latest end minus the earliest start over the
//! returned documents. `LimitExceeded` is always false: nothing is cut. Inferred segments
//! (`"inferred": true` documents for un-instrumented downstream services) are not produced yet.
//! Details in `xray_api/assemble.rs`.

mod assemble;
mod error;
mod telemetry;

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use fluoro_proto::{DocumentError, TraceId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use self::assemble::{assemble_trace, AssembledTrace};
use self::error::XrayApiError;
use self::telemetry::{PutTelemetryRecordsRequest, TelemetryStore};
use crate::body_limit::{enforce_body_limit, BodyLimit, BodyProblem};
use crate::counters::{Counters, Source};
use crate::ingest::{Ingest, RefusedDocument};
use fluoro_proto::{Durability, TraceSource};

/// The largest request body accepted, on every endpoint of this router.
pub const MAX_REQUEST_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The most documents one PutTraceSegments request may carry.
pub const MAX_DOCUMENTS_PER_REQUEST: usize = 500;
/// The most trace ids one BatchGetTraces request may ask for.
pub const MAX_TRACE_IDS_PER_REQUEST: usize = 100;

/// The X-Ray API's limits: `[limits]` in the config file. The defaults are the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XrayApiLimits {
    /// The largest request body, on every endpoint (413 above it).
    pub request_body_bytes: usize,
    /// The most documents in one PutTraceSegments (400 above it).
    pub documents_per_request: usize,
    /// The most trace ids in one BatchGetTraces (400 above it).
    pub trace_ids_per_request: usize,
}

impl Default for XrayApiLimits {
    fn default() -> Self {
        XrayApiLimits {
            request_body_bytes: MAX_REQUEST_BODY_BYTES,
            documents_per_request: MAX_DOCUMENTS_PER_REQUEST,
            trace_ids_per_request: MAX_TRACE_IDS_PER_REQUEST,
        }
    }
}

/// The X-Ray API routes with the default limits, to serve alone or merge into the collector's
/// HTTP server.
pub fn xray_api_router(ingest: Ingest, traces: Arc<dyn TraceSource>) -> Router {
    xray_api_router_with_limits(ingest, traces, XrayApiLimits::default())
}

/// The X-Ray API routes with configured limits.
pub fn xray_api_router_with_limits(ingest: Ingest, traces: Arc<dyn TraceSource>, limits: XrayApiLimits) -> Router {
    let state = ApiState { ingest, traces, telemetry: Arc::new(TelemetryStore::default()), limits };
    Router::new()
        .route("/TraceSegments", post(put_trace_segments))
        .route("/Traces", post(batch_get_traces))
        .route("/TelemetryRecords", post(put_telemetry_records))
        .route("/metrics", get(metrics))
        .route("/api/counters", get(counters))
        .layer(DefaultBodyLimit::max(limits.request_body_bytes))
        .layer(from_fn_with_state(
            BodyLimit { max_bytes: limits.request_body_bytes, answer: body_problem },
            enforce_body_limit,
        ))
        .with_state(state)
}

/// `/metrics` and `/api/counters` alone, for the sidecar daemon.
pub fn metrics_router(counters: Arc<Counters>) -> Router {
    let prometheus = |State(counters): State<Arc<Counters>>| async move {
        (StatusCode::OK, [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], counters.prometheus())
    };
    let snapshot = |State(counters): State<Arc<Counters>>| async move { Json(counters.snapshot()) };
    Router::new().route("/metrics", get(prometheus)).route("/api/counters", get(snapshot)).with_state(counters)
}

const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

#[derive(Clone)]
struct ApiState {
    ingest: Ingest,
    traces: Arc<dyn TraceSource>,
    telemetry: Arc<TelemetryStore>,
    limits: XrayApiLimits,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTraceSegmentsRequest {
    trace_segment_documents: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutTraceSegmentsResponse {
    unprocessed_trace_segments: Vec<UnprocessedTraceSegment>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct UnprocessedTraceSegment {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    error_code: &'static str,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetTracesRequest {
    /// `NextToken` is not read: Fluoro answers every id in one page and never issues one.
    trace_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetTracesResponse {
    traces: Vec<TraceResponse>,
    unprocessed_trace_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TraceResponse {
    id: String,
    duration: f64,
    limit_exceeded: bool,
    segments: Vec<SegmentResponse>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SegmentResponse {
    id: String,
    /// The segment document as a JSON string.
    document: String,
}

async fn put_trace_segments(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PutTraceSegmentsResponse>, XrayApiError> {
    let body = request_body(body, state.limits)?;
    // Parsing and validating up to 8 MiB of documents, and an acknowledged (durable) write,
    // take too long for an async worker.
    run_blocking(move || store_trace_segments(&state.ingest, &body, state.limits.documents_per_request)).await.map(Json)
}

fn store_trace_segments(
    ingest: &Ingest,
    body: &[u8],
    max_documents: usize,
) -> Result<PutTraceSegmentsResponse, XrayApiError> {
    let request: PutTraceSegmentsRequest = parse_request("PutTraceSegments", body)?;
    let count = request.trace_segment_documents.len();
    if count > max_documents {
        return Err(XrayApiError::InvalidRequest(format!(
            "TraceSegmentDocuments has {count} documents; at most {max_documents} are accepted per request \
             (limits.documents_per_request)"
        )));
    }
    let documents = request.trace_segment_documents.into_iter().map(Bytes::from);
    let refused = ingest.put_documents(Source::PutTraceSegments, documents, Durability::Acknowledged)?;
    let unprocessed_trace_segments = refused.into_iter().map(unprocessed_trace_segment).collect();
    Ok(PutTraceSegmentsResponse { unprocessed_trace_segments })
}

fn unprocessed_trace_segment(refused: RefusedDocument) -> UnprocessedTraceSegment {
    UnprocessedTraceSegment {
        id: refused.id,
        error_code: error_code(&refused.error),
        message: format!("TraceSegmentDocuments[{}]: {}", refused.index, refused.error),
    }
}

/// The stable `ErrorCode` of a refused document (table in the module doc).
fn error_code(error: &DocumentError) -> &'static str {
    match error {
        DocumentError::TooLarge { .. } => "DocumentTooLarge",
        DocumentError::Json(_) => "MalformedJson",
        DocumentError::Invalid(_) => "InvalidSegment",
        DocumentError::TraceTooLarge { .. } => "TraceTooLarge",
        DocumentError::TooDeep { .. } => "MalformedJson",
    }
}

async fn batch_get_traces(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchGetTracesResponse>, XrayApiError> {
    let body = request_body(body, state.limits)?;
    // The store read and the assembly of up to 100 traces are blocking work.
    run_blocking(move || read_traces(state.traces.as_ref(), &body, state.limits.trace_ids_per_request)).await.map(Json)
}

fn read_traces(source: &dyn TraceSource, body: &[u8], max_ids: usize) -> Result<BatchGetTracesResponse, XrayApiError> {
    let request: BatchGetTracesRequest = parse_request("BatchGetTraces", body)?;
    let count = request.trace_ids.len();
    if count > max_ids {
        return Err(XrayApiError::InvalidRequest(format!(
            "TraceIds has {count} ids; at most {max_ids} are accepted per request (limits.trace_ids_per_request)"
        )));
    }
    let mut wanted: Vec<TraceId> = Vec::new();
    let mut unprocessed_trace_ids = Vec::new();
    for text in request.trace_ids {
        match text.parse::<TraceId>() {
            Ok(id) if !wanted.contains(&id) => wanted.push(id),
            Ok(_) => {}
            Err(_) => unprocessed_trace_ids.push(text),
        }
    }
    let found = source.traces(&wanted);
    for id in &wanted {
        if !found.iter().any(|trace| trace.id == *id) {
            unprocessed_trace_ids.push(id.to_string());
        }
    }
    let traces = found.iter().map(|trace| trace_response(assemble_trace(trace))).collect::<Result<_, _>>()?;
    Ok(BatchGetTracesResponse { traces, unprocessed_trace_ids })
}

fn trace_response(trace: AssembledTrace) -> Result<TraceResponse, XrayApiError> {
    let segments = trace
        .documents
        .iter()
        .map(|entity| SegmentResponse { id: entity.id().to_string(), document: entity.to_json() })
        .collect();
    Ok(TraceResponse { id: trace.id.to_string(), duration: trace.duration_seconds, limit_exceeded: false, segments })
}

async fn put_telemetry_records(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, XrayApiError> {
    let body = request_body(body, state.limits)?;
    let request: PutTelemetryRecordsRequest = parse_request("PutTelemetryRecords", &body)?;
    state.telemetry.put(request)?;
    Ok(Json(serde_json::json!({})))
}

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let mut text = state.ingest.counters().prometheus();
    text.push_str(&state.telemetry.prometheus());
    text.push_str(&state.ingest.extra_prometheus());
    (StatusCode::OK, [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text)
}

async fn counters(State(state): State<ApiState>) -> Json<crate::counters::CountersSnapshot> {
    Json(state.ingest.counters().snapshot())
}

fn request_body(body: Result<Bytes, BytesRejection>, limits: XrayApiLimits) -> Result<Bytes, XrayApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => XrayApiError::BodyTooLarge { limit: limits.request_body_bytes },
        _ => XrayApiError::InvalidRequest(format!("cannot read the request body: {}", rejection.body_text())),
    })
}

/// A body the limit refused, in the X-Ray error shape.
pub(crate) fn body_problem(problem: BodyProblem) -> Response {
    match problem {
        BodyProblem::TooLarge { limit } => XrayApiError::BodyTooLarge { limit },
        BodyProblem::Unreadable(error) => {
            XrayApiError::InvalidRequest(format!("cannot read the request body: {error}"))
        }
    }
    .into_response()
}

fn parse_request<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T, XrayApiError> {
    serde_json::from_slice(body)
        .map_err(|error| XrayApiError::InvalidRequest(format!("the body is not a valid {operation} request: {error}")))
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, XrayApiError> + Send + 'static,
) -> Result<T, XrayApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| XrayApiError::Internal(format!("request handler failed: {error}")))?
}
