//! `POST /api/histogram` — the latency of a filter (analyzer issue, "Latency histograms"):
//! exact response-time and duration percentiles and a plottable distribution of the traces a
//! filter expression matches, over `fluoro_analyzer::filter_latency`. A Fluoro JSON API in the
//! conventions of `/api/compare` (PascalCase fields, epoch-second or RFC 3339 times, errors as
//! `{"__type", "message"}`).
//!
//! ```text
//! POST /api/histogram
//! {"StartTime": 1700000000, "EndTime": 1700003600, "FilterExpression": "http.status >= 500", "GroupName": "web"}
//! → {"Traces": 42,
//!    "ResponseTime": {"Count": 42, "Summary": {"Min", "Max", "Mean", "P50", "P90", "P95", "P99"} | null,
//!                     "Distribution": [{"Value": 0.12, "Count": 3}, ...]},
//!    "Duration": {...}}
//! ```
//!
//! - `FilterExpression` absent or blank: every trace of the window. At most
//!   [`MAX_GROUP_FILTER_CHARS`] characters, a group's limit. An invalid expression is a 400
//!   `InvalidRequestException` with the parser's column-precise message.
//! - `GroupName` or `GroupARN` (both: the same group) keep only the group's traces, as they
//!   scope `/ServiceGraph`; neither means every trace. An unknown group is a 400.
//! - `Traces` counts the matched traces; each measure's `Count` those with a value for it (a
//!   root segment still in progress has no response time). `Summary` is null when `Count` is 0.
//! - Traces are those that started in the window, at most
//!   [`MAX_WINDOW_SECONDS`](crate::time::MAX_WINDOW_SECONDS) long; seconds throughout. A
//!   distribution entry's `Value` is its bucket's lower bound at 2 significant digits.
//! - The analysis reads Parquet and runs polars: `spawn_blocking`.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{filter_latency, parse_filter, LatencyQuery, LatencyReport, MAX_GROUP_FILTER_CHARS};
use serde::Deserialize;
use serde_json::Value;

use crate::api::QueryState;
use crate::error::{ApiError, Result};
use crate::groups::group_scope;
use crate::request::blocking;
use crate::time::{micros, request_window_within};

pub(crate) fn router(state: QueryState) -> Router {
    Router::new().route("/api/histogram", post(histogram)).with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct HistogramRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    filter_expression: Option<String>,
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
}

async fn histogram(State(state): State<QueryState>, body: Bytes) -> Result<Json<LatencyReport>> {
    let request: HistogramRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::InvalidRequest(format!("request body is not a histogram request: {error}")))?;
    let query = query_of(&request, &state)?;
    let report =
        blocking("histogram", state.query_budget, move || filter_latency(&state.store, &query, &*state.groups)).await?;
    Ok(Json(report))
}

/// The analyzer query; the expression is parsed and the group looked up here, so a bad request
/// is refused before any data is read.
fn query_of(request: &HistogramRequest, state: &QueryState) -> Result<LatencyQuery> {
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), state.max_window_seconds)?;
    let expression = request.filter_expression.as_deref().filter(|text| !text.trim().is_empty());
    let length = expression.map_or(0, |text| text.chars().count());
    if length > MAX_GROUP_FILTER_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "FilterExpression is {length} characters; at most {MAX_GROUP_FILTER_CHARS}"
        )));
    }
    Ok(LatencyQuery {
        from_us: micros(start),
        to_us: micros(end),
        filter: expression.map(parse_filter).transpose()?,
        group: group_scope(&state.groups, request.group_name.as_deref(), request.group_arn.as_deref())?,
    })
}
