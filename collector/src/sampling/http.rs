//! The sampling endpoints, in X-Ray's REST-JSON shapes (spec section 4, Appendix A): every
//! operation is a `POST` with a JSON body; errors carry `X-Amzn-ErrorType` and
//! `{"__type", "message"}`, which botocore reads either way.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use fluoro_proto::{xray_error_body, XRAY_ERROR_TYPE_HEADER};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{SamplingError, SamplingRule, SamplingRuleUpdate, SamplingRules, SamplingStatisticsDocument};

/// Requests are small (at most 25 statistics documents); anything bigger is not an SDK.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `POST /GetSamplingRules`, `/SamplingTargets`, `/CreateSamplingRule`, `/UpdateSamplingRule`,
/// `/DeleteSamplingRule` and `/SamplingStatisticSummaries`, for the daemon's TCP port and the
/// main API port alike.
pub fn sampling_router(rules: Arc<SamplingRules>) -> Router {
    Router::new()
        .route("/GetSamplingRules", post(get_sampling_rules))
        .route("/SamplingTargets", post(get_sampling_targets))
        .route("/CreateSamplingRule", post(create_sampling_rule))
        .route("/UpdateSamplingRule", post(update_sampling_rule))
        .route("/DeleteSamplingRule", post(delete_sampling_rule))
        .route("/SamplingStatisticSummaries", post(get_sampling_statistic_summaries))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(rules)
}

type Rules = State<Arc<SamplingRules>>;

// A single page holds every rule (at most 26), so `NextToken` is accepted and never returned.
#[derive(Deserialize)]
struct PageRequest {
    #[serde(rename = "NextToken")]
    _next_token: Option<String>,
}

#[derive(Deserialize)]
struct CreateRequest {
    #[serde(rename = "SamplingRule")]
    sampling_rule: SamplingRule,
    // `Tags` are accepted and ignored: Fluoro has no tagging API.
}

#[derive(Deserialize)]
struct UpdateRequest {
    #[serde(rename = "SamplingRuleUpdate")]
    sampling_rule_update: SamplingRuleUpdate,
}

#[derive(Deserialize)]
struct DeleteRequest {
    #[serde(rename = "RuleName")]
    rule_name: Option<String>,
    #[serde(rename = "RuleARN")]
    rule_arn: Option<String>,
}

#[derive(Deserialize)]
struct TargetsRequest {
    #[serde(rename = "SamplingStatisticsDocuments")]
    sampling_statistics_documents: Vec<SamplingStatisticsDocument>,
}

async fn get_sampling_rules(State(rules): Rules, body: Bytes) -> Result<Json<Value>, SamplingError> {
    let _: PageRequest = parse_body(&body)?;
    Ok(Json(json!({ "SamplingRuleRecords": rules.rules() })))
}

async fn get_sampling_targets(State(rules): Rules, body: Bytes) -> Result<Json<Value>, SamplingError> {
    let request: TargetsRequest = parse_body(&body)?;
    let targets = rules.targets(&request.sampling_statistics_documents)?;
    Ok(Json(json!(targets)))
}

async fn get_sampling_statistic_summaries(State(rules): Rules, body: Bytes) -> Result<Json<Value>, SamplingError> {
    let _: PageRequest = parse_body(&body)?;
    Ok(Json(json!({ "SamplingStatisticSummaries": rules.statistic_summaries() })))
}

// Rule changes rewrite and sync the rules file: blocking I/O, so off the async workers.
async fn create_sampling_rule(State(rules): Rules, body: Bytes) -> Result<Json<Value>, SamplingError> {
    let request: CreateRequest = parse_body(&body)?;
    let record = blocking(move || rules.create(request.sampling_rule)).await?;
    Ok(Json(json!({ "SamplingRuleRecord": record })))
}

async fn update_sampling_rule(State(rules): Rules, body: Bytes) -> Result<Json<Value>, SamplingError> {
    let request: UpdateRequest = parse_body(&body)?;
    let record = blocking(move || rules.update(request.sampling_rule_update)).await?;
    Ok(Json(json!({ "SamplingRuleRecord": record })))
}

async fn delete_sampling_rule(State(rules): Rules, body: Bytes) -> Result<Json<Value>, SamplingError> {
    let request: DeleteRequest = parse_body(&body)?;
    let record = blocking(move || rules.delete(request.rule_name.as_deref(), request.rule_arn.as_deref())).await?;
    Ok(Json(json!({ "SamplingRuleRecord": record })))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SamplingError> + Send + 'static,
) -> Result<T, SamplingError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| SamplingError::Write {
        path: "sampling rules".into(),
        source: std::io::Error::other(error.to_string()),
    })?
}

/// An empty body counts as `{}`: botocore sends nothing for operations without input.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, SamplingError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body)
        .map_err(|error| SamplingError::InvalidRequest(format!("request body is not a valid request: {error}")))
}

impl SamplingError {
    fn status_and_type(&self) -> (StatusCode, &'static str) {
        match self {
            SamplingError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "InvalidRequestException"),
            SamplingError::RuleNotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            SamplingError::RuleLimitExceeded => (StatusCode::BAD_REQUEST, "RuleLimitExceededException"),
            SamplingError::Read { .. } | SamplingError::InvalidFile { .. } | SamplingError::Write { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure")
            }
        }
    }
}

impl IntoResponse for SamplingError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.status_and_type();
        if status.is_server_error() {
            tracing::error!(error = %self, "sampling rules request failed");
        }
        let mut body = xray_error_body(error_type, &self.to_string());
        if let SamplingError::RuleNotFound(name) = &self {
            body["ResourceName"] = json!(name);
        }
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(XRAY_ERROR_TYPE_HEADER, HeaderValue::from_static(error_type));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_xray_type_in_header_and_body() {
        let response = SamplingError::RuleNotFound("gone".into()).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["X-Amzn-ErrorType"], "ResourceNotFoundException");
        let response = SamplingError::RuleLimitExceeded.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["X-Amzn-ErrorType"], "RuleLimitExceededException");
    }

    #[test]
    fn empty_body_is_an_empty_request() {
        let _: PageRequest = parse_body(b"").expect("empty body is {}");
        let error = parse_body::<CreateRequest>(b"{}").map(|_| ()).expect_err("SamplingRule is required");
        assert_eq!(
            error.to_string(),
            "request body is not a valid request: missing field `SamplingRule` at line 1 column 2"
        );
    }
}
