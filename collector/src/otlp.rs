//! OTLP trace, log and metric ingest over gRPC and HTTP: decode the transport, convert with
//! [`fluoro_proto::rows_from_otlp`] (spans), [`fluoro_proto::log_rows_from_otlp`] (log
//! records, `otlp/logs.rs`) or [`fluoro_proto::metric_points_from_otlp`] (data points,
//! `otlp/metrics.rs`), and store through [`Ingest::put_rows`], [`Ingest::put_logs`] or
//! [`Ingest::put_metrics`]. The signals share everything here but the conversion:
//! [`OtlpExport`] is what differs.
//!
//! # Endpoints
//!
//! - gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` ([`otlp_grpc_service`])
//!   `opentelemetry.proto.collector.logs.v1.LogsService/Export` (`otlp_logs_grpc_service`) and
//!   `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` (`otlp_metrics_grpc_service`),
//!   all served by [`serve_otlp_grpc`] (conventionally port 4317). Requests may be
//!   gzip-compressed; responses are sent uncompressed, as they are a few bytes.
//! - HTTP: `POST /v1/traces`, `POST /v1/logs` and `POST /v1/metrics` ([`otlp_http_router`]; conventionally port 4318) with
//!   `Content-Type: application/x-protobuf` (binary protobuf; `application/protobuf` is accepted
//!   too) or `application/json` (OTLP/JSON: lowerCamelCase keys, trace and span ids in hex,
//!   64-bit integers as strings or numbers), and optionally `Content-Encoding: gzip`. The response
//!   has the request's content type.
//!
//! OTLP/JSON enum fields (`kind`, `status.code`) must be integers, which is what the OTLP
//! specification requires senders to write; the protobuf JSON mapping's enum names
//! (`"SPAN_KIND_SERVER"`) are refused with a 400, because the `opentelemetry-proto` serde
//! impls only read integers.
//!
//! # Limits
//!
//! - A gRPC message may be at most [`MAX_OTLP_REQUEST_BYTES`] (16 MiB) after decompression,
//!   four times tonic's default: batching exporters send a few MiB at most, and a bound keeps one
//!   request from taking the collector's memory.
//! - An HTTP body may be at most [`MAX_OTLP_REQUEST_BYTES`] as sent, and again after gzip
//!   decompression, which stops reading at the bound so a small zip bomb cannot expand in
//!   memory. Both answer `413 Payload Too Large`.
//!
//! # Partial success
//!
//! Spans, log records and data points the conversion refuses (malformed ids or times, a log
//! body over the limit, a summary or exponential histogram; see `fluoro_proto::otlp`) are left
//! out; the rest of the request is stored. The response then carries `partial_success` with
//! `rejected_spans` (`rejected_log_records`, `rejected_data_points`) and an
//! `error_message` describing the first few; when every span was kept,
//! `partial_success` is absent, as the specification asks.
//!
//! # Status mapping
//!
//! | outcome | gRPC | HTTP |
//! |---|---|---|
//! | stored (maybe partially) | `OK` | `200`, `ExportTraceServiceResponse` |
//! | body not decodable (bad protobuf, JSON or gzip) | `INTERNAL` (from tonic) | `400` |
//! | too large | `OUT_OF_RANGE` (from tonic) | `413` |
//! | other content type or content encoding | `UNIMPLEMENTED` for another `grpc-encoding` (from tonic) | `415` |
//! | sink refused the batch | `UNAVAILABLE` | `503` |
//! | conversion panicked | `INTERNAL` | `500` |
//!
//! `UNAVAILABLE` and `503` are retryable for OTLP exporters, so spans a failing sink refused are
//! sent again; the client errors are not. HTTP error bodies are a `google.rpc.Status` in the
//! request's encoding (plain text for `415`, whose encoding is unknown), as OTLP/HTTP specifies.
//!
//! # Counting
//!
//! Spans are counted by [`Ingest::put_rows`], log records by [`Ingest::put_logs`] and data points
//! by [`Ingest::put_metrics`] (received, accepted, rejected as `invalid`, or `unsupported` for
//! metric types Fluoro does not keep), under their own sources (`otlp_grpc_logs`,
//! `otlp_http_logs`, `otlp_grpc_metrics`, `otlp_http_metrics`). An HTTP
//! request whose body cannot be decoded is counted as one `bad_json` rejection whatever its
//! encoding, and one that is too large as one `too_large` rejection: its spans were never seen,
//! so these two count requests, not spans. gRPC requests tonic cannot decode never reach Fluoro
//! and are not counted.

use std::future::Future;
use std::io::Read as _;
use std::time::Duration;

use crate::grpc_listener::bounded_incoming;
use crate::http_listener::HttpLimits;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use fluoro_proto::rows_from_otlp;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use thiserror::Error;
use tonic::codec::CompressionEncoding;

mod logs;
mod metrics;

pub(crate) use logs::otlp_logs_grpc_service;
pub(crate) use metrics::otlp_metrics_grpc_service;

use crate::counters::{RejectReason, Source};
use crate::error::CollectorError;
use crate::ingest::Ingest;
use fluoro_proto::Durability;
use fluoro_proto::SinkError;

/// The largest OTLP request accepted, in bytes, compressed and decompressed alike.
pub const MAX_OTLP_REQUEST_BYTES: usize = 16 * 1024 * 1024;

const TRACES_PATH: &str = "/v1/traces";
const LOGS_PATH: &str = "/v1/logs";
const METRICS_PATH: &str = "/v1/metrics";
const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
const JSON_CONTENT_TYPE: &str = "application/json";
/// `google.rpc.Code` values for HTTP error bodies.
const RPC_INVALID_ARGUMENT: i32 = 3;
const RPC_RESOURCE_EXHAUSTED: i32 = 8;
const RPC_INTERNAL: i32 = 13;
const RPC_UNAVAILABLE: i32 = 14;

/// The OTLP gRPC trace service.
#[derive(Debug, Clone)]
pub struct OtlpTraceService {
    ingest: Ingest,
}

/// The gRPC service, accepting gzip and messages up to [`MAX_OTLP_REQUEST_BYTES`].
pub fn otlp_grpc_service(ingest: Ingest) -> TraceServiceServer<OtlpTraceService> {
    TraceServiceServer::new(OtlpTraceService { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_OTLP_REQUEST_BYTES)
}

/// Slow clients on gRPC: an export that has not finished in this time fails with
/// `DEADLINE_EXCEEDED` (a stalled message body no longer holds its stream for ever).
const GRPC_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// HTTP/2 pings find peers that vanished without closing; one unanswered this long closes the
/// connection.
const GRPC_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const GRPC_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams (requests in flight) per connection: one client cannot take every worker.
const GRPC_STREAMS_PER_CONNECTION: u32 = 64;

/// Serves the OTLP gRPC service on `listener` until `shutdown` completes.
/// Connections are bounded by `limits` as the HTTP listeners' are (`grpc_listener.rs`).
pub async fn serve_otlp_grpc(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CollectorError> {
    tonic::transport::Server::builder()
        .timeout(GRPC_REQUEST_TIMEOUT)
        .http2_keepalive_interval(Some(GRPC_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(GRPC_KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(GRPC_STREAMS_PER_CONNECTION)
        .concurrency_limit_per_connection(GRPC_STREAMS_PER_CONNECTION as usize)
        .add_service(otlp_grpc_service(ingest.clone()))
        .add_service(otlp_logs_grpc_service(ingest.clone()))
        .add_service(otlp_metrics_grpc_service(ingest))
        .serve_with_incoming_shutdown(bounded_incoming(listener, limits), shutdown)
        .await
        // CollectorError has no transport variant; tonic's error is an I/O failure of the server.
        .map_err(|error| CollectorError::Io(std::io::Error::other(error)))
}

#[tonic::async_trait]
impl TraceService for OtlpTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        export_off_the_executor(&self.ingest, request.into_inner(), Source::OtlpGrpc, "span").await
    }
}

/// Converts and stores a gRPC export on a blocking thread: converting a large batch takes
/// milliseconds and an acknowledged write may wait for the disk, neither of which belongs on
/// the executor. `item` names what failed to convert if the conversion panicked.
pub(crate) async fn export_off_the_executor<E: OtlpExport>(
    ingest: &Ingest,
    request: E,
    source: Source,
    item: &str,
) -> Result<tonic::Response<E::Response>, tonic::Status> {
    let ingest = ingest.clone();
    let stored = tokio::task::spawn_blocking(move || request.store(&ingest, source)).await;
    match stored {
        Ok(Ok(response)) => Ok(tonic::Response::new(response)),
        Ok(Err(error)) => Err(tonic::Status::unavailable(error.to_string())),
        Err(panicked) => Err(tonic::Status::internal(format!("{item} conversion failed: {panicked}"))),
    }
}

/// What differs between the OTLP signals: the request and response messages, the conversion,
/// and where they are counted. Everything else (transports, limits, errors) is shared.
pub(crate) trait OtlpExport: prost::Message + serde::de::DeserializeOwned + Default + Send + 'static {
    type Response: prost::Message + serde::Serialize + Send + 'static;
    /// The message name, for error messages (`ExportTraceServiceRequest`).
    const MESSAGE: &'static str;
    /// The counters an OTLP/HTTP request of this signal goes to.
    const HTTP_SOURCE: Source;
    /// Converts and stores the request, acknowledged; the response reports rejected items.
    fn store(&self, ingest: &Ingest, source: Source) -> Result<Self::Response, SinkError>;
    fn has_partial_success(response: &Self::Response) -> bool;
}

impl OtlpExport for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const MESSAGE: &'static str = "ExportTraceServiceRequest";
    const HTTP_SOURCE: Source = Source::OtlpHttp;

    fn store(&self, ingest: &Ingest, source: Source) -> Result<ExportTraceServiceResponse, SinkError> {
        let conversion = rows_from_otlp(&self.resource_spans);
        let rejected = conversion.rejected_count();
        let message = conversion.rejection_message();
        let too_large = ingest.put_rows(source, conversion.rows, rejected, Durability::Acknowledged)?;
        let message = match (message, too_large) {
            (message, 0) => message,
            (message, too_large) => {
                let limit = ingest.spans_per_trace();
                let over = format!(
                    "{too_large} spans refused: their trace reached the limit of {limit} spans (limits.spans_per_trace)"
                );
                Some(message.map_or(over.clone(), |message| format!("{message}; {over}")))
            }
        };
        let partial_success = message.map(|error_message| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected + too_large).unwrap_or(i64::MAX),
            error_message,
        });
        Ok(ExportTraceServiceResponse { partial_success })
    }

    fn has_partial_success(response: &ExportTraceServiceResponse) -> bool {
        response.partial_success.is_some()
    }
}

/// `POST /v1/traces`, `POST /v1/logs` and `POST /v1/metrics`, accepting bodies up to [`MAX_OTLP_REQUEST_BYTES`].
pub fn otlp_http_router(ingest: Ingest) -> Router {
    Router::new()
        .route(TRACES_PATH, post(post_export::<ExportTraceServiceRequest>))
        .route(LOGS_PATH, post(post_export::<logs::ExportLogsServiceRequest>))
        .route(METRICS_PATH, post(post_export::<metrics::ExportMetricsServiceRequest>))
        .layer(DefaultBodyLimit::max(MAX_OTLP_REQUEST_BYTES))
        .with_state(ingest)
}

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OtlpEncoding {
    Protobuf,
    Json,
}

/// Why an OTLP/HTTP request was not (fully) handled; [`OtlpHttpError::status`] is the one place
/// that decides the HTTP status.
#[derive(Debug, Error)]
enum OtlpHttpError {
    #[error("unsupported content type {0:?}: expected application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    #[error("unsupported content encoding {0:?}: expected gzip or none")]
    UnsupportedContentEncoding(String),
    #[error("request body is larger than {MAX_OTLP_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("request body is larger than {MAX_OTLP_REQUEST_BYTES} bytes after gzip decompression")]
    TooLargeDecompressed,
    #[error("request body is not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("request body is not a protobuf {0}: {1}")]
    Protobuf(&'static str, prost::DecodeError),
    #[error("request body is not an OTLP/JSON {0}: {1}")]
    Json(&'static str, serde_json::Error),
    #[error(transparent)]
    Sink(SinkError),
    #[error("conversion failed: {0}")]
    Internal(String),
}

impl OtlpHttpError {
    fn status(&self) -> StatusCode {
        match self {
            OtlpHttpError::UnsupportedContentType(_) | OtlpHttpError::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            OtlpHttpError::TooLarge | OtlpHttpError::TooLargeDecompressed => StatusCode::PAYLOAD_TOO_LARGE,
            OtlpHttpError::Gzip(_) | OtlpHttpError::Protobuf(..) | OtlpHttpError::Json(..) => StatusCode::BAD_REQUEST,
            OtlpHttpError::Sink(_) => StatusCode::SERVICE_UNAVAILABLE,
            OtlpHttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The counter a refused request goes to (one per request); `None` when spans were counted
    /// by `put_rows` already or nothing was received.
    fn reject_reason(&self) -> Option<RejectReason> {
        match self {
            OtlpHttpError::UnsupportedContentType(_)
            | OtlpHttpError::UnsupportedContentEncoding(_)
            | OtlpHttpError::Gzip(_)
            | OtlpHttpError::Protobuf(..)
            | OtlpHttpError::Json(..) => Some(RejectReason::BadJson),
            OtlpHttpError::TooLarge | OtlpHttpError::TooLargeDecompressed => Some(RejectReason::TooLarge),
            OtlpHttpError::Sink(_) | OtlpHttpError::Internal(_) => None,
        }
    }

    fn rpc_code(&self) -> i32 {
        match self.status() {
            StatusCode::PAYLOAD_TOO_LARGE => RPC_RESOURCE_EXHAUSTED,
            StatusCode::SERVICE_UNAVAILABLE => RPC_UNAVAILABLE,
            StatusCode::INTERNAL_SERVER_ERROR => RPC_INTERNAL,
            _ => RPC_INVALID_ARGUMENT,
        }
    }

    /// A `google.rpc.Status` body in the request's encoding, or plain text when it is unknown.
    fn into_response(self, encoding: Option<OtlpEncoding>) -> Response {
        let status = self.status();
        let rpc_status = RpcStatus { code: self.rpc_code(), message: self.to_string() };
        match encoding {
            Some(OtlpEncoding::Protobuf) => {
                encoded_response(status, OtlpEncoding::Protobuf, rpc_status.encode_to_vec())
            }
            Some(OtlpEncoding::Json) => {
                let body = serde_json::json!({ "code": rpc_status.code, "message": rpc_status.message });
                encoded_response(status, OtlpEncoding::Json, body.to_string().into_bytes())
            }
            None => (status, rpc_status.message).into_response(),
        }
    }
}

/// `google.rpc.Status` without `details`, the error body OTLP/HTTP asks for.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn post_export<E: OtlpExport>(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let source = E::HTTP_SOURCE;
    let encoding = match request_encoding(&headers) {
        Ok(encoding) => encoding,
        Err(error) => return refuse(&ingest, source, error, None),
    };
    let gzip = match request_is_gzip(&headers) {
        Ok(gzip) => gzip,
        Err(error) => return refuse(&ingest, source, error, Some(encoding)),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(&ingest, source, OtlpHttpError::TooLarge, Some(encoding));
        }
        // The connection failed while reading the body: there is nobody to answer or count for.
        Err(rejection) => return rejection.into_response(),
    };
    let blocking_ingest = ingest.clone();
    // Decompression, decoding and conversion of a 16 MiB body take long enough to stall the
    // executor, and an acknowledged write may wait for the disk.
    let handled = tokio::task::spawn_blocking(move || receive::<E>(&blocking_ingest, encoding, gzip, &body)).await;
    match handled {
        Ok(Ok(response)) => encoded_response(StatusCode::OK, encoding, encode_response::<E>(encoding, &response)),
        Ok(Err(error)) => refuse(&ingest, source, error, Some(encoding)),
        Err(panicked) => refuse(&ingest, source, OtlpHttpError::Internal(panicked.to_string()), Some(encoding)),
    }
}

fn receive<E: OtlpExport>(
    ingest: &Ingest,
    encoding: OtlpEncoding,
    gzip: bool,
    body: &[u8],
) -> Result<E::Response, OtlpHttpError> {
    let decompressed;
    let body = if gzip {
        decompressed = gunzip_bounded(body, MAX_OTLP_REQUEST_BYTES)?;
        decompressed.as_slice()
    } else {
        body
    };
    let request = decode_request::<E>(encoding, body)?;
    request.store(ingest, E::HTTP_SOURCE).map_err(OtlpHttpError::Sink)
}

fn refuse(ingest: &Ingest, source: Source, error: OtlpHttpError, encoding: Option<OtlpEncoding>) -> Response {
    if let Some(reason) = error.reject_reason() {
        ingest.counters().add_rejected(source, reason, 1);
        tracing::debug!(error = %error, "refused otlp/http request");
    }
    error.into_response(encoding)
}

/// The encoding named by `Content-Type`, ignoring parameters such as `charset`.
fn request_encoding(headers: &HeaderMap) -> Result<OtlpEncoding, OtlpHttpError> {
    let content_type = header_text(headers.get(header::CONTENT_TYPE));
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF_CONTENT_TYPE | "application/protobuf" => Ok(OtlpEncoding::Protobuf),
        JSON_CONTENT_TYPE => Ok(OtlpEncoding::Json),
        _ => Err(OtlpHttpError::UnsupportedContentType(content_type)),
    }
}

fn request_is_gzip(headers: &HeaderMap) -> Result<bool, OtlpHttpError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(false) };
    let encoding = header_text(Some(value));
    match encoding.trim().to_ascii_lowercase().as_str() {
        "gzip" => Ok(true),
        "" | "identity" => Ok(false),
        _ => Err(OtlpHttpError::UnsupportedContentEncoding(encoding)),
    }
}

fn header_text(value: Option<&HeaderValue>) -> String {
    value.map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()).unwrap_or_default()
}

/// Decompresses at most `limit` bytes; a body that expands further is refused, having cost
/// no more than `limit` bytes of memory.
fn gunzip_bounded(compressed: &[u8], limit: usize) -> Result<Vec<u8>, OtlpHttpError> {
    let mut decompressed = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(compressed)
        .take(read_limit)
        .read_to_end(&mut decompressed)
        .map_err(OtlpHttpError::Gzip)?;
    if decompressed.len() > limit {
        return Err(OtlpHttpError::TooLargeDecompressed);
    }
    Ok(decompressed)
}

fn decode_request<E: OtlpExport>(encoding: OtlpEncoding, body: &[u8]) -> Result<E, OtlpHttpError> {
    match encoding {
        OtlpEncoding::Protobuf => E::decode(body).map_err(|error| OtlpHttpError::Protobuf(E::MESSAGE, error)),
        OtlpEncoding::Json => serde_json::from_slice(body).map_err(|error| OtlpHttpError::Json(E::MESSAGE, error)),
    }
}

fn encode_response<E: OtlpExport>(encoding: OtlpEncoding, response: &E::Response) -> Vec<u8> {
    match encoding {
        OtlpEncoding::Protobuf => response.encode_to_vec(),
        // serde writes an absent `partial_success` as `null`; OTLP/JSON leaves unset fields
        // out, and serialising two plain fields cannot fail.
        OtlpEncoding::Json if !E::has_partial_success(response) => b"{}".to_vec(),
        OtlpEncoding::Json => serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

fn encoded_response(status: StatusCode, encoding: OtlpEncoding, body: Vec<u8>) -> Response {
    let content_type = match encoding {
        OtlpEncoding::Protobuf => PROTOBUF_CONTENT_TYPE,
        OtlpEncoding::Json => JSON_CONTENT_TYPE,
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gunzip_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 1024 * 1024]);
        assert!(bomb.len() < 10 * 1024);
        assert!(matches!(gunzip_bounded(&bomb, 1000), Err(OtlpHttpError::TooLargeDecompressed)));
        assert_eq!(gunzip_bounded(&bomb, 1024 * 1024).unwrap().len(), 1024 * 1024);
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("Application/JSON; charset=utf-8"));
        assert_eq!(request_encoding(&headers).unwrap(), OtlpEncoding::Json);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(matches!(request_encoding(&headers), Err(OtlpHttpError::UnsupportedContentType(_))));
    }
}
