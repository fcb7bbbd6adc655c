//! `POST /ServiceGraph`, `POST /TraceGraph` and `POST /TimeSeriesServiceStatistics` — X-Ray's
//! GetServiceGraph, GetTraceGraph and GetTimeSeriesServiceStatistics (spec `xray.md` §4.3, §5,
//! Appendix A) over `fluoro_analyzer::{service_graph, trace_graph, time_series_statistics}`.
//!
//! - Times are epoch seconds (JSON numbers, what botocore sends; numeric and RFC 3339 strings
//!   too), the window at most [`MAX_WINDOW_SECONDS`](crate::time::MAX_WINDOW_SECONDS). Answers carry epoch-second numbers.
//! - `GroupName` or `GroupARN` scope the graph and the series to the traces matching the group's
//!   filter (`groups.rs`), judged on whole traces; neither means `Default`, every trace. An
//!   unknown group is an `InvalidRequestException`, as in X-Ray. Filters are evaluated when
//!   asked, so `ContainsOldGroupVersions` is always false.
//! - One page: `NextToken` is accepted and ignored, none is returned.
//! - `Period` is 60 (default) or 300 seconds; `EntitySelectorExpression` is `service(..)`,
//!   `id(..)` or `edge(..)`, parsed by the filter parser, its errors column-precise.
//!
//! The analysis reads Parquet and runs polars: it goes to `spawn_blocking`.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{
    parse_entity_selector, service_graph, time_series_statistics, trace_graph, validate_period, ServiceNode,
    TimeSeriesPoint,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::QueryState;
use crate::error::{ApiError, Result};
use crate::groups::group_of_request;
use crate::request::{blocking, parse_body};
use crate::time::{micros, request_window_within};

/// Trace ids one GetTraceGraph call may name, by default (`limits.trace_graph_ids`).
pub(crate) const MAX_TRACE_GRAPH_IDS: usize = 1000;
const DEFAULT_PERIOD_SECONDS: u32 = 60;
const MAX_SELECTOR_CHARS: usize = 500;

pub(crate) fn router(state: QueryState) -> Router {
    Router::new()
        .route("/ServiceGraph", post(get_service_graph))
        .route("/TraceGraph", post(get_trace_graph))
        .route("/TimeSeriesServiceStatistics", post(get_time_series))
        .with_state(state)
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

async fn get_service_graph(State(state): State<QueryState>, body: Bytes) -> Result<Json<GetServiceGraphResponse>> {
    let request: GetServiceGraphRequest = parse_body(&body, "GetServiceGraph")?;
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), state.max_window_seconds)?;
    let group = group_of_request(&state.groups, request.group_name.as_deref(), request.group_arn.as_deref())?;
    let graph = blocking("service graph", state.query_budget, move || {
        let (from_us, to_us) = (micros(start), micros(end));
        let traces = state.groups.traces(&state.store, &group, from_us, to_us)?;
        service_graph(&state.store, from_us, to_us, traces.as_ref())
    })
    .await?;
    Ok(Json(GetServiceGraphResponse {
        start_time: start,
        end_time: end,
        services: graph.services,
        contains_old_group_versions: false,
    }))
}

async fn get_trace_graph(State(state): State<QueryState>, body: Bytes) -> Result<Json<GetTraceGraphResponse>> {
    let request: GetTraceGraphRequest = parse_body(&body, "GetTraceGraph")?;
    let texts = request.trace_ids.ok_or_else(|| invalid("TraceIds is required"))?;
    let most = state.trace_graph_ids;
    if texts.is_empty() || texts.len() > most {
        return Err(invalid(format!(
            "TraceIds must hold 1 to {most} trace ids (limits.trace_graph_ids), got {}",
            texts.len()
        )));
    }
    let mut ids = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let id = text.parse().map_err(|_| {
            invalid(format!("TraceIds[{index}] {text:?} is not a trace id; expected 1-<8 hex digits>-<24 hex digits>"))
        })?;
        ids.push(id);
    }
    let graph = blocking("trace graph", state.query_budget, move || trace_graph(&state.store, &ids)).await?;
    Ok(Json(GetTraceGraphResponse { services: graph.services }))
}

async fn get_time_series(State(state): State<QueryState>, body: Bytes) -> Result<Json<GetTimeSeriesResponse>> {
    let request: GetTimeSeriesRequest = parse_body(&body, "GetTimeSeriesServiceStatistics")?;
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), state.max_window_seconds)?;
    let group = group_of_request(&state.groups, request.group_name.as_deref(), request.group_arn.as_deref())?;
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
    let points = blocking("time series", state.query_budget, move || {
        let (from_us, to_us) = (micros(start), micros(end));
        let traces = state.groups.traces(&state.store, &group, from_us, to_us)?;
        time_series_statistics(&state.store, from_us, to_us, &selector, period, traces.as_ref())
    })
    .await?;
    Ok(Json(GetTimeSeriesResponse { time_series_service_statistics: points, contains_old_group_versions: false }))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}
