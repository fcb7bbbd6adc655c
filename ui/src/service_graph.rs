//! `POST /ServiceGraph`, `POST /TraceGraph` and `POST /TimeSeriesServiceStatistics` — X-Ray's
//! GetServiceGraph, GetTraceGraph and GetTimeSeriesServiceStatistics (spec `xray.md` §4.3, §5,
//! Appendix A) over `fluoro_analyzer::{service_graph, trace_graph, time_series_statistics}`.
//!
//! - Times are epoch seconds (JSON numbers, what botocore sends; numeric and RFC 3339 strings
//!   too), the window at most [`MAX_WINDOW_SECONDS`](crate::time::MAX_WINDOW_SECONDS). Answers carry epoch-second numbers.
//! - Groups come later: `GroupName: "Default"` (or an ARN of the Default group) means all
//!   traces; any other group is refused as not existing.
//! - One page: `NextToken` is accepted and ignored, none is returned.
//! - `Period` is 60 (default) or 300 seconds; `EntitySelectorExpression` is `service(..)`,
//!   `id(..)` or `edge(..)`, parsed by the filter parser, its errors column-precise.
//!
//! The analysis reads Parquet and runs polars: it goes to `spawn_blocking`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{
    parse_entity_selector, service_graph, time_series_statistics, trace_graph, validate_period, ServiceNode,
    TimeSeriesPoint,
};
use fluoro_store::Store;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::time::request_window;

/// The group every trace belongs to, the only one until groups are implemented.
const DEFAULT_GROUP: &str = "Default";
/// Trace ids one GetTraceGraph call may name.
const MAX_TRACE_GRAPH_IDS: usize = 1000;
const DEFAULT_PERIOD_SECONDS: u32 = 60;
const MAX_SELECTOR_CHARS: usize = 500;

pub(crate) fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/ServiceGraph", post(get_service_graph))
        .route("/TraceGraph", post(get_trace_graph))
        .route("/TimeSeriesServiceStatistics", post(get_time_series))
        .with_state(store)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetServiceGraphRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetServiceGraphResponse {
    start_time: f64,
    end_time: f64,
    services: Vec<ServiceNode>,
    contains_old_group_versions: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetTraceGraphRequest {
    trace_ids: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetTraceGraphResponse {
    services: Vec<ServiceNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetTimeSeriesRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
    entity_selector_expression: Option<String>,
    period: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetTimeSeriesResponse {
    time_series_service_statistics: Vec<TimeSeriesPoint>,
    contains_old_group_versions: bool,
}

async fn get_service_graph(State(store): State<Arc<Store>>, body: Bytes) -> Result<Json<GetServiceGraphResponse>> {
    let request: GetServiceGraphRequest = parse_body(&body, "GetServiceGraph")?;
    let (start, end) = request_window(request.start_time.as_ref(), request.end_time.as_ref())?;
    check_group(request.group_name.as_deref(), request.group_arn.as_deref())?;
    let graph = blocking("service graph", move || service_graph(&store, micros(start), micros(end), None)).await?;
    Ok(Json(GetServiceGraphResponse {
        start_time: start,
        end_time: end,
        services: graph.services,
        contains_old_group_versions: false,
    }))
}

async fn get_trace_graph(State(store): State<Arc<Store>>, body: Bytes) -> Result<Json<GetTraceGraphResponse>> {
    let request: GetTraceGraphRequest = parse_body(&body, "GetTraceGraph")?;
    let texts = request.trace_ids.ok_or_else(|| invalid("TraceIds is required"))?;
    if texts.is_empty() || texts.len() > MAX_TRACE_GRAPH_IDS {
        return Err(invalid(format!("TraceIds must hold 1 to {MAX_TRACE_GRAPH_IDS} trace ids, got {}", texts.len())));
    }
    let mut ids = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let id = text.parse().map_err(|_| {
            invalid(format!("TraceIds[{index}] {text:?} is not a trace id; expected 1-<8 hex digits>-<24 hex digits>"))
        })?;
        ids.push(id);
    }
    let graph = blocking("trace graph", move || trace_graph(&store, &ids)).await?;
    Ok(Json(GetTraceGraphResponse { services: graph.services }))
}

async fn get_time_series(State(store): State<Arc<Store>>, body: Bytes) -> Result<Json<GetTimeSeriesResponse>> {
    let request: GetTimeSeriesRequest = parse_body(&body, "GetTimeSeriesServiceStatistics")?;
    let (start, end) = request_window(request.start_time.as_ref(), request.end_time.as_ref())?;
    check_group(request.group_name.as_deref(), request.group_arn.as_deref())?;
    let expression = request.entity_selector_expression.as_deref();
    if let Some(expression) = expression {
        let length = expression.chars().count();
        if length == 0 || length > MAX_SELECTOR_CHARS {
            return Err(invalid(format!(
                "EntitySelectorExpression must be 1 to {MAX_SELECTOR_CHARS} characters, got {length}"
            )));
        }
    }
    let selector = parse_entity_selector(expression)?;
    let period = request.period.unwrap_or(i64::from(DEFAULT_PERIOD_SECONDS));
    let period = u32::try_from(period)
        .map_err(|_| invalid(format!("Period {period} is not supported; expected 60 (1 minute) or 300 (5 minutes)")))?;
    let period = validate_period(period)?;
    let points = blocking("time series", move || {
        time_series_statistics(&store, micros(start), micros(end), &selector, period, None)
    })
    .await?;
    Ok(Json(GetTimeSeriesResponse { time_series_service_statistics: points, contains_old_group_versions: false }))
}

fn parse_body<T: DeserializeOwned>(body: &[u8], operation: &str) -> Result<T> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|error| invalid(format!("request body is not {operation} JSON: {error}")))
}

/// Only the Default group exists until groups are implemented.
fn check_group(name: Option<&str>, arn: Option<&str>) -> Result<()> {
    if let Some(name) = name.filter(|name| *name != DEFAULT_GROUP) {
        return Err(invalid(format!("group {name:?} does not exist; only {DEFAULT_GROUP:?} is defined")));
    }
    let default_arn = |arn: &str| {
        arn.ends_with(&format!(":group/{DEFAULT_GROUP}")) || arn.contains(&format!(":group/{DEFAULT_GROUP}/"))
    };
    if let Some(arn) = arn.filter(|arn| !default_arn(arn)) {
        return Err(invalid(format!("group ARN {arn:?} does not exist; only the {DEFAULT_GROUP:?} group is defined")));
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> fluoro_analyzer::Result<T> + Send + 'static,
) -> Result<T> {
    let answer = tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("{what} task failed: {error}")))?;
    Ok(answer?)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}

fn micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}
