//! `POST /api/compare` — Fluoro's trace-set comparison (analyzer issue, spec `petadoptions.md`
//! 5(c)) over `fluoro_analyzer::compare_trace_sets`. A Fluoro JSON API, not an X-Ray operation;
//! it keeps the X-Ray conventions of the other routes (PascalCase fields, epoch-second or
//! RFC 3339 times, errors as `{"__type", "message"}`) so one client handles both.
//!
//! ```text
//! POST /api/compare
//! {"StartTime": 1700000000, "EndTime": 1700003600, "Selection": "responsetime > 3", "Baseline": null,
//!  "GroupName": "web"}
//! → {"Selection": {"Expression", "Traces", "Percentiles": {"P50", "P90", "P95", "P99"}, "Distribution"},
//!    "Baseline": {...}, "Ranking": [{"Attribute", "Value", "SelectionTraces", "BaselineTraces",
//!    "SelectionShare", "BaselineShare", "Difference", "LogOddsRatio", "StandardError", "Z", "Score",
//!    "Description"}], "Attributes": [{"Attribute", "Values": [...]}]}
//! ```
//!
//! - `Baseline` null or absent: the traces of the window not matching `Selection`.
//! - `GroupName` or `GroupARN` (both: the same group) keep only the group's traces in both
//!   sets, the default baseline included (the group's traces not matching `Selection`), as
//!   they scope `/api/histogram`; neither means every trace. An unknown group is a 400.
//! - An invalid expression is a 400 `InvalidRequestException` with the parser's column-precise
//!   message (prefixed `Baseline: ` when it is the baseline's); the window is at most [`MAX_WINDOW_SECONDS`](crate::time::MAX_WINDOW_SECONDS), like GetTraceSummaries.
//! - `group.name = "G"` in either expression inlines the group's filter (`groups.rs`).
//! - The comparison reads Parquet, runs polars and walks root causes: `spawn_blocking`.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{compare_trace_sets, ComparisonQuery, TraceSetComparison, TraceSetFilter};
use serde::Deserialize;
use serde_json::Value;

use crate::api::QueryState;
use crate::error::{ApiError, Result};
use crate::groups::group_scope;
use crate::request::blocking;
use crate::time::{micros, request_window_within};

pub(crate) fn router(state: QueryState) -> Router {
    Router::new().route("/api/compare", post(compare)).with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CompareRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    selection: Option<String>,
    baseline: Option<String>,
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
}

/// A validated request: window in microseconds, the two expressions parsed, and the group by
/// name (resolved against the registry by the handler).
#[derive(Debug, PartialEq)]
struct CompareQuery {
    from_us: i64,
    to_us: i64,
    selection: TraceSetFilter,
    baseline: Option<TraceSetFilter>,
    group_name: Option<String>,
    group_arn: Option<String>,
}

async fn compare(State(state): State<QueryState>, body: Bytes) -> Result<Json<TraceSetComparison>> {
    let request: CompareRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::InvalidRequest(format!("request body is not a comparison request: {error}")))?;
    let query = query_of(request, state.max_window_seconds)?;
    let group = group_scope(&state.groups, query.group_name.as_deref(), query.group_arn.as_deref())?;
    let query = ComparisonQuery {
        from_us: query.from_us,
        to_us: query.to_us,
        selection: query.selection,
        baseline: query.baseline,
        group,
    };
    let comparison =
        blocking("comparison", state.query_budget, move || compare_trace_sets(&state.store, &query, &*state.groups))
            .await?;
    Ok(Json(comparison))
}

fn query_of(request: CompareRequest, max_window_seconds: f64) -> Result<CompareQuery> {
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), max_window_seconds)?;
    let selection = request.selection.filter(|text| !text.trim().is_empty()).ok_or_else(|| {
        ApiError::InvalidRequest("Selection is required: a filter expression such as responsetime > 3".to_owned())
    })?;
    // Parsed here, once, so a bad expression is refused before any data is read. The
    // baseline's errors say so, so a client knows which expression the column is in.
    let selection = TraceSetFilter::parse(&selection)?;
    let baseline = request
        .baseline
        .as_deref()
        .map(TraceSetFilter::parse)
        .transpose()
        .map_err(|error| ApiError::InvalidRequest(format!("Baseline: {error}")))?;
    Ok(CompareQuery {
        from_us: micros(start),
        to_us: micros(end),
        selection,
        baseline,
        group_name: request.group_name,
        group_arn: request.group_arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MAX_WINDOW_SECONDS;
    use serde_json::json;

    fn request(body: Value) -> CompareRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn requests_become_queries() {
        let query = query_of(
            request(json!({"StartTime": 1_700_000_000, "EndTime": "2023-11-14T23:13:20Z",
                                            "Selection": "responsetime > 3", "Baseline": null})),
            MAX_WINDOW_SECONDS,
        )
        .unwrap();
        assert_eq!(
            query,
            CompareQuery {
                from_us: 1_700_000_000_000_000,
                to_us: 1_700_003_600_000_000,
                selection: TraceSetFilter::parse("responsetime > 3").unwrap(),
                baseline: None,
                group_name: None,
                group_arn: None
            }
        );
    }

    #[test]
    fn invalid_expressions_and_windows_are_refused_with_the_reason() {
        let refused = |body: Value| query_of(request(body), MAX_WINDOW_SECONDS).unwrap_err().to_string();
        let window = json!({"StartTime": 1_700_000_000, "EndTime": 1_700_000_060});
        let with = |fields: Value| {
            let mut body = window.clone();
            body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
            body
        };
        assert_eq!(
            refused(with(json!({"Selection": "fault", "Baseline": "responsetime > \"x\""}))),
            "Baseline: expected a number after > at column 16"
        );
        assert_eq!(
            refused(with(json!({"Selection": "responsetime > \"x\""}))),
            "expected a number after > at column 16"
        );
        assert!(refused(with(json!({"Selection": " "}))).starts_with("Selection is required"));
        assert!(refused(json!({"StartTime": 5, "EndTime": 1, "Selection": "fault"})).contains("must be after"));
        assert!(refused(json!({"StartTime": 0, "EndTime": 200_000, "Selection": "fault"})).contains("at most"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_route_answers_comparisons_and_400s() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(fluoro_store::Store::open(fluoro_store::StoreConfig::new(dir.path())).unwrap());
        let groups = std::sync::Arc::new(fluoro_analyzer::Groups::in_memory());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, crate::api_router(store, groups)).await });
        let client = reqwest::Client::new();
        let url = format!("http://{address}/api/compare");
        let body = json!({"StartTime": 1_700_000_000, "EndTime": 1_700_000_060, "Selection": "responsetime > 3"});
        let answer = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["Selection"]["Traces"], json!(0));
        assert_eq!(answer["Ranking"], json!([]));
        let bad = json!({"StartTime": 1_700_000_000, "EndTime": 1_700_000_060, "Selection": "responsetime > \"x\""});
        let refused = client.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 400);
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["__type"], "InvalidRequestException");
        assert_eq!(refused["message"], "expected a number after > at column 16");
        let unknown_group = json!({"StartTime": 1_700_000_000, "EndTime": 1_700_000_060,
                                   "Selection": "fault", "Baseline": "group.name = \"nope\""});
        let refused = client.post(&url).json(&unknown_group).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 400, "groups are resolved through the registry");
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["message"], "group \"nope\" does not exist");
        let default_group = json!({"StartTime": 1_700_000_000, "EndTime": 1_700_000_060,
                                   "Selection": "group.name = \"Default\""});
        assert_eq!(client.post(&url).json(&default_group).send().await.unwrap().status().as_u16(), 200);
    }
}
