//! `POST /InsightSummaries`, `/Insight`, `/InsightEvents`, `/InsightImpactGraph` — X-Ray's
//! GetInsightSummaries, GetInsight, GetInsightEvents and GetInsightImpactGraph over
//! `fluoro_analyzer::Insights` (whose module doc holds the detection and the test).
//!
//! - GetInsightSummaries: `StartTime` and `EndTime` are required; an insight is listed when it
//!   was active at some time in `[StartTime, EndTime)`. `States` (`ACTIVE`, `CLOSED`),
//!   `GroupName` / `GroupARN` narrow it; neither group member means every group (X-Ray asks for
//!   one). Latest start first; `MaxResults` (default and most [`MAX_RESULTS`]) and `NextToken`
//!   (an offset) page it.
//! - Each insight also carries `ClientImpacts`, Fluoro's per-client split of
//!   `ClientRequestImpactStatistics` (SDKs ignore members they do not know).
//! - GetInsightEvents: the latest event first, paged the same way.
//! - GetInsightImpactGraph: the service graph of the insight's scope over `[StartTime,
//!   EndTime)`, kept to the nodes the insight names (root cause, anomalous services, clients)
//!   and the edges between them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{service_graph, Groups, Insight, InsightEvent, InsightQuery, InsightState, Insights};
use fluoro_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::groups::group_of_request;
use crate::request::{blocking, parse_body};
use crate::time::{epoch_seconds, micros, request_window};

/// The model's largest `MaxResults` for insight summaries and events.
const MAX_RESULTS: usize = 100;

#[derive(Debug, Clone)]
struct InsightsState {
    insights: Arc<Insights>,
    store: Arc<Store>,
    groups: Arc<Groups>,
}

/// The insight operations; merge beside [`api_router`](crate::api_router).
pub fn insights_router(insights: Arc<Insights>, store: Arc<Store>, groups: Arc<Groups>) -> Router {
    Router::new()
        .route("/InsightSummaries", post(get_insight_summaries))
        .route("/Insight", post(get_insight))
        .route("/InsightEvents", post(get_insight_events))
        .route("/InsightImpactGraph", post(get_insight_impact_graph))
        .with_state(InsightsState { insights, store, groups })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SummariesRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    #[serde(default)]
    states: Vec<InsightState>,
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SummariesResponse {
    insight_summaries: Vec<Insight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InsightRequest {
    insight_id: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
    start_time: Option<Value>,
    end_time: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct InsightResponse {
    insight: Insight,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventsResponse {
    insight_events: Vec<InsightEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// X-Ray's `InsightImpactGraphService`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImpactGraphService {
    reference_id: u32,
    r#type: String,
    name: String,
    names: Vec<String>,
    edges: Vec<ImpactGraphEdge>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImpactGraphEdge {
    reference_id: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImpactGraphResponse {
    insight_id: String,
    start_time: f64,
    end_time: f64,
    service_graph_start_time: f64,
    service_graph_end_time: f64,
    services: Vec<ImpactGraphService>,
}

async fn get_insight_summaries(State(state): State<InsightsState>, body: Bytes) -> Result<Json<SummariesResponse>> {
    let request: SummariesRequest = parse_body(&body, "GetInsightSummaries")?;
    let (start, end) = required_range(request.start_time.as_ref(), request.end_time.as_ref())?;
    let query = InsightQuery {
        start,
        end,
        states: request.states,
        group_name: request.group_name,
        group_arn: request.group_arn,
    };
    let (insight_summaries, next_token) =
        page(state.insights.summaries(&query), request.max_results, request.next_token.as_deref())?;
    Ok(Json(SummariesResponse { insight_summaries, next_token }))
}

async fn get_insight(State(state): State<InsightsState>, body: Bytes) -> Result<Json<InsightResponse>> {
    let request: InsightRequest = parse_body(&body, "GetInsight")?;
    let id = insight_id(&request)?;
    let insight = state.insights.get(id).ok_or_else(|| unknown(id))?;
    Ok(Json(InsightResponse { insight }))
}

async fn get_insight_events(State(state): State<InsightsState>, body: Bytes) -> Result<Json<EventsResponse>> {
    let request: InsightRequest = parse_body(&body, "GetInsightEvents")?;
    let id = insight_id(&request)?;
    let events = state.insights.events(id).ok_or_else(|| unknown(id))?;
    let (insight_events, next_token) = page(events, request.max_results, request.next_token.as_deref())?;
    Ok(Json(EventsResponse { insight_events, next_token }))
}

async fn get_insight_impact_graph(
    State(state): State<InsightsState>,
    body: Bytes,
) -> Result<Json<ImpactGraphResponse>> {
    let request: InsightRequest = parse_body(&body, "GetInsightImpactGraph")?;
    let id = insight_id(&request)?.to_owned();
    let insight = state.insights.get(&id).ok_or_else(|| unknown(&id))?;
    let (start, end) = request_window(request.start_time.as_ref(), request.end_time.as_ref())?;
    let group = group_of_request(&state.groups, Some(&insight.group_name), None)?;
    let (store, groups) = (state.store.clone(), state.groups.clone());
    let graph = blocking("impact graph", None, move || {
        let traces = groups.traces(&store, &group, micros(start), micros(end))?;
        service_graph(&store, micros(start), micros(end), traces.as_ref())
    })
    .await?;
    let named = |name: &str, node_type: &str| {
        let is = |service: &fluoro_analyzer::InsightServiceId| {
            service.name == name && service.r#type.as_deref().is_none_or(|known| known == node_type)
        };
        is(&insight.root_cause_service_id)
            || insight.top_anomalous_services.iter().any(|service| is(&service.service_id))
            || insight.client_impacts.iter().any(|client| is(&client.service_id))
    };
    let kept: Vec<_> = graph.services.iter().filter(|node| named(&node.name, &node.node_type)).collect();
    let services = kept
        .iter()
        .map(|node| ImpactGraphService {
            reference_id: node.reference_id,
            r#type: node.node_type.clone(),
            name: node.name.clone(),
            names: node.names.clone(),
            edges: node
                .edges
                .iter()
                .filter(|edge| kept.iter().any(|other| other.reference_id == edge.reference_id))
                .map(|edge| ImpactGraphEdge { reference_id: edge.reference_id })
                .collect(),
        })
        .collect();
    Ok(Json(ImpactGraphResponse {
        insight_id: id,
        start_time: start,
        end_time: end,
        service_graph_start_time: start,
        service_graph_end_time: end,
        services,
    }))
}

fn required_range(start: Option<&Value>, end: Option<&Value>) -> Result<(i64, i64)> {
    let time = |value: Option<&Value>, field: &str| {
        let value = value.ok_or_else(|| ApiError::InvalidRequest(format!("{field} is required")))?;
        epoch_seconds(value).map(|seconds| seconds.floor() as i64).ok_or_else(|| {
            ApiError::InvalidRequest(format!("{field} must be epoch seconds or an RFC 3339 time, got {value}"))
        })
    };
    let (start, end) = (time(start, "StartTime")?, time(end, "EndTime")?);
    if end <= start {
        return Err(ApiError::InvalidRequest(format!("EndTime ({end}) must be after StartTime ({start})")));
    }
    Ok((start, end))
}

fn insight_id(request: &InsightRequest) -> Result<&str> {
    request
        .insight_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest("InsightId is required".to_owned()))
}

fn unknown(id: &str) -> ApiError {
    ApiError::InvalidRequest(format!("insight {id:?} does not exist"))
}

/// One page of `items`: `NextToken` is the offset of the next page, in decimal.
fn page<T>(items: Vec<T>, max_results: Option<usize>, token: Option<&str>) -> Result<(Vec<T>, Option<String>)> {
    let size = max_results.unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS);
    let offset = match token {
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidRequest("NextToken is not a token this server issued".to_owned()))?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let next = offset + page.len();
    Ok((page, (next < total).then(|| next.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_their_tokens_and_bad_input_is_refused() {
        let (first, next) = page((0..250).collect::<Vec<u32>>(), None, None).unwrap();
        assert_eq!((first.len(), next.as_deref()), (100, Some("100")));
        let (last, next) = page((0..250).collect::<Vec<u32>>(), Some(100), Some("200")).unwrap();
        assert_eq!((last, next), ((200..250).collect::<Vec<u32>>(), None));
        assert!(page(vec![1], None, Some("x")).is_err());
        let (start, end) = (serde_json::json!(100), serde_json::json!("1970-01-01T00:03:20Z"));
        assert_eq!(required_range(Some(&start), Some(&end)).unwrap(), (100, 200));
        assert!(required_range(Some(&end), Some(&start)).unwrap_err().to_string().contains("must be after"));
        assert!(required_range(None, Some(&end)).unwrap_err().to_string().contains("StartTime is required"));
    }
}
