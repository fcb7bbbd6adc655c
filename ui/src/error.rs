//! Errors of the query API in the REST-JSON shape botocore and the AWS SDKs read: the HTTP
//! status, header `X-Amzn-ErrorType: <Name>` and body `{"__type": "<Name>", "message": "..."}`
//! (spec `xray.md` §4.1), the same shape as the collector's ingest operations answer.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fluoro_analyzer::{AlarmError, AnalyzerError, FilterError, GroupError};
use fluoro_proto::{xray_error_body, XRAY_ERROR_TYPE_HEADER};
use thiserror::Error;

pub(crate) type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Why a query failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is wrong: bad JSON, a bad time range, an invalid filter expression (its
    /// message is the parser's, with the column).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The query ran past `limits.query_seconds`.
    #[error(
        "the query ran past its time budget of {seconds} s (limits.query_seconds); narrow the time window or \
         the filter expression"
    )]
    QueryTimeout { seconds: f64 },
}

impl ApiError {
    /// The error name clients see; `InvalidRequestException` is in the X-Ray model, so boto3
    /// raises `client.exceptions.InvalidRequestException`.
    fn name(&self) -> &'static str {
        match self {
            // A client error in the X-Ray model, so SDKs raise it rather than retry the same
            // expensive query (they retry 5xx).
            ApiError::InvalidRequest(_) | ApiError::QueryTimeout { .. } => "InvalidRequestException",
            ApiError::Internal(_) => "InternalFailure",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) | ApiError::QueryTimeout { .. } => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<AnalyzerError> for ApiError {
    fn from(error: AnalyzerError) -> Self {
        match error {
            AnalyzerError::Filter(_) | AnalyzerError::InvalidRequest(_) | AnalyzerError::Unsupported(_) => {
                ApiError::InvalidRequest(error.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A request's own filter expression that does not parse: the parser's message, with its column.
impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        ApiError::InvalidRequest(error.to_string())
    }
}

impl From<AlarmError> for ApiError {
    fn from(error: AlarmError) -> Self {
        match error {
            AlarmError::Read { .. } | AlarmError::InvalidFile { .. } | AlarmError::Write { .. } => {
                ApiError::Internal(error.to_string())
            }
            AlarmError::Invalid(_) | AlarmError::NotFound(_) | AlarmError::LimitExceeded(_) => {
                ApiError::InvalidRequest(error.to_string())
            }
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(error: GroupError) -> Self {
        match error {
            GroupError::Read { .. } | GroupError::InvalidFile { .. } | GroupError::Write { .. } => {
                ApiError::Internal(error.to_string())
            }
            // X-Ray answers every refused group operation, an unknown group included, with
            // InvalidRequestException: it is the only client error in the model for them.
            GroupError::Invalid(_)
            | GroupError::Filter(_)
            | GroupError::NotFound(_)
            | GroupError::LimitExceeded
            | GroupError::Cycle(_)
            | GroupError::TooDeep(_) => ApiError::InvalidRequest(error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let name = self.name();
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "query api request failed");
        }
        let header = (HeaderName::from_static(XRAY_ERROR_TYPE_HEADER), HeaderValue::from_static(name));
        let body = xray_error_body(name, &self.to_string());
        (self.status(), [header], Json(body)).into_response()
    }
}
