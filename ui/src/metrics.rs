//! `POST /api/metrics/names`, `/api/metrics/series` and `/api/services/resources` (Fluoro JSON
//! API, issue 13): the metrics services sent, one metric as a statistic per period, and a
//! service's CPU and memory beside its request rate, faults and latency. Conventions of
//! `/api/compare`: PascalCase fields, epoch-second or RFC 3339 times (a window of at most 24 h),
//! errors as `{"__type", "message"}` with status 400 for a bad request; documented in
//! `docs/api.md`.
//!
//! ```text
//! POST /api/metrics/names      {"StartTime", "EndTime", "Service"?}
//! → {"Metrics": [{"Service", "Name", "Unit", "Kind"}]}
//! POST /api/metrics/series     {"StartTime", "EndTime", "Service", "Name", "Statistic"? (avg),
//!                               "Period"? (seconds, a multiple of 60; absent or 0: raw points),
//!                               "Attributes"? {"key": "value"}}
//! → {"Service", "Name", "Unit", "Kind", "Statistic", "Period", "SeriesCount",
//!    "Values": [{"Timestamp", "Value", "Attributes"? (raw points)}]}
//! POST /api/services/resources {"StartTime", "EndTime", "Service", "Period"? (60)}
//! → {"Service", "Period", "CpuSource": {"Metric", "Unit"}?, "MemorySource"?,
//!    "Buckets": [{"Timestamp", "Cpu", "Memory", "Requests", "RequestRate", "FaultRate",
//!                 "LatencyAvg", "LatencyP99"}]}
//! ```

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{
    metric_series, service_resources, AnalyzerError, MetricSeries, MetricSeriesQuery, ResourcesQuery, ServiceResources,
    MIN_PERIOD_SECONDS,
};
use fluoro_store::MetricName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::QueryState;
use crate::error::{ApiError, Result};
use crate::request::{blocking, parse_body};
use crate::time::{micros, request_window_within};

pub(crate) fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/metrics/names", post(names))
        .route("/api/metrics/series", post(series))
        .route("/api/services/resources", post(resources))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct NamesRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    service: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SeriesRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    service: String,
    name: String,
    statistic: Option<String>,
    period: Option<u32>,
    attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ResourcesRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    service: String,
    period: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NamesAnswer {
    metrics: Vec<NameLine>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NameLine {
    service: String,
    name: String,
    unit: String,
    kind: &'static str,
}

impl From<MetricName> for NameLine {
    fn from(name: MetricName) -> Self {
        NameLine { service: name.service, name: name.name, unit: name.unit, kind: name.kind.name() }
    }
}

async fn names(State(state): State<QueryState>, body: Bytes) -> Result<Json<NamesAnswer>> {
    let request: NamesRequest = parse_body(&body, "a metric names request")?;
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), state.max_window_seconds)?;
    let service = request.service.filter(|service| !service.is_empty());
    let names = blocking("metric names", state.query_budget, move || {
        state.store.metric_names(service.as_deref(), micros(start), micros(end)).map_err(AnalyzerError::from)
    })
    .await?;
    Ok(Json(NamesAnswer { metrics: names.into_iter().map(NameLine::from).collect() }))
}

async fn series(State(state): State<QueryState>, body: Bytes) -> Result<Json<MetricSeries>> {
    let request: SeriesRequest = parse_body(&body, "a metric series request")?;
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), state.max_window_seconds)?;
    let query = MetricSeriesQuery {
        service: required(request.service, "Service")?,
        name: required(request.name, "Name")?,
        attributes: request.attributes.unwrap_or_default().into_iter().collect(),
        from_us: micros(start),
        to_us: micros(end),
        period_seconds: request.period.filter(|period| *period != 0),
        statistic: request.statistic.as_deref().unwrap_or("avg").parse()?,
    };
    let answer = blocking("metric series", state.query_budget, move || metric_series(&state.store, &query)).await?;
    Ok(Json(answer))
}

async fn resources(State(state): State<QueryState>, body: Bytes) -> Result<Json<ServiceResources>> {
    let request: ResourcesRequest = parse_body(&body, "a service resources request")?;
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), state.max_window_seconds)?;
    let query = ResourcesQuery {
        service: required(request.service, "Service")?,
        from_us: micros(start),
        to_us: micros(end),
        period_seconds: request.period.unwrap_or(MIN_PERIOD_SECONDS),
    };
    let answer =
        blocking("service resources", state.query_budget, move || service_resources(&state.store, &query)).await?;
    Ok(Json(answer))
}

fn required(text: String, field: &str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(ApiError::InvalidRequest(format!("{field} must not be empty")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use fluoro_analyzer::Statistic;

    use super::*;

    #[test]
    fn statistics_parse_case_insensitively_and_unknown_ones_are_client_errors() {
        assert_eq!("P99".parse::<Statistic>().unwrap(), Statistic::P99);
        let error: ApiError = "median".parse::<Statistic>().unwrap_err().into();
        assert!(matches!(error, ApiError::InvalidRequest(_)), "{error}");
    }
}
