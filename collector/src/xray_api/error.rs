//! Errors of the X-Ray API in the REST-JSON shape botocore and the AWS SDKs read: the HTTP
//! status, header `X-Amzn-ErrorType: <Name>` and body `{"__type": "<Name>", "message": "..."}`
//! (spec `xray.md` §4.1).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use thiserror::Error;

use fluoro_proto::{xray_error_body, SinkError, XRAY_ERROR_TYPE_HEADER};

/// Why a whole request failed. Per-document refusals are not errors: they go in
/// `UnprocessedTraceSegments` of a 200 response.
#[derive(Debug, Error)]
pub(crate) enum XrayApiError {
    /// The body is not the operation's JSON, or breaks a limit.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("request body is larger than {limit} bytes (limits.request_body_bytes); send fewer documents per request")]
    BodyTooLarge { limit: usize },
    /// Nothing in the request was kept: the sender should retry.
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl XrayApiError {
    /// The error name clients see. `InvalidRequestException` is in the X-Ray model, so boto3
    /// raises `client.exceptions.InvalidRequestException`; `InternalFailure` is the common AWS
    /// name for a server-side failure, `ServiceUnavailable` the common one for a refusal to
    /// retry later (a full disk, recent data over its budget).
    fn name(&self) -> &'static str {
        match self {
            XrayApiError::InvalidRequest(_) | XrayApiError::BodyTooLarge { .. } => "InvalidRequestException",
            XrayApiError::Sink(_) => "ServiceUnavailable",
            XrayApiError::Internal(_) => "InternalFailure",
        }
    }

    /// 5xx for our failures, so botocore's standard retry mode resends the request; 4xx for
    /// the sender's, which a resend would not fix.
    fn status(&self) -> StatusCode {
        match self {
            XrayApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            XrayApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // Nothing was kept: 503 says so, and botocore retries it like any 5xx.
            XrayApiError::Sink(_) => StatusCode::SERVICE_UNAVAILABLE,
            XrayApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for XrayApiError {
    fn into_response(self) -> Response {
        let name = self.name();
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "x-ray api request failed");
        }
        let header = (HeaderName::from_static(XRAY_ERROR_TYPE_HEADER), HeaderValue::from_static(name));
        let body = xray_error_body(name, &self.to_string());
        (self.status(), [header], Json(body)).into_response()
    }
}
