//! `POST /api/logs/trace` and `POST /api/logs/search` (Fluoro JSON API, issue 13): the log
//! lines of a trace or of one segment in time order, and a paginated log search, over the
//! store's `trace_logs` and `search_logs`. Conventions of `/api/compare`: PascalCase fields,
//! epoch-second or RFC 3339 times, errors as `{"__type", "message"}`; documented in
//! `docs/api.md`.
//!
//! ```text
//! POST /api/logs/trace   {"TraceId": "1-5759e988-bd862e3fe1be46a994272793" | "<32 hex>", "SegmentId": "<16 hex>"?}
//! POST /api/logs/search  {"StartTime", "EndTime", "Service"?, "Severity"? (1–24 or TRACE/DEBUG/INFO/WARN/ERROR/FATAL),
//!                         "Text"?, "Limit"? (1–1000, default 100), "NextToken"?}
//! → {"Logs": [{"Time", "ObservedTime", "TraceId"?, "SegmentId"?, "Service", "SeverityNumber",
//!              "SeverityText", "Body", "Attributes": {"key": "value"}}], "NextToken"?}
//! ```
//!
//! Search pages run newest first; a trace's lines oldest first. Reads touch Parquet:
//! `spawn_blocking`.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_proto::{LogRow, SegmentId, TraceId};
use fluoro_store::{LogCursor, LogQuery, MAX_LOG_PAGE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::QueryState;
use crate::error::{ApiError, Result};
use crate::request::parse_body;
use crate::time::{micros, request_window_within};

const DEFAULT_LIMIT: usize = 100;
/// Severity names and the lowest severity number of each (OTLP's ranges of four).
const SEVERITY_NAMES: [(&str, i32); 6] =
    [("TRACE", 1), ("DEBUG", 5), ("INFO", 9), ("WARN", 13), ("ERROR", 17), ("FATAL", 21)];

pub(crate) fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/logs/trace", post(trace_logs))
        .route("/api/logs/search", post(search_logs))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TraceLogsRequest {
    trace_id: String,
    segment_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SearchRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    service: Option<String>,
    severity: Option<Value>,
    text: Option<String>,
    limit: Option<usize>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LogsAnswer {
    logs: Vec<LogLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LogLine {
    /// Epoch seconds.
    time: f64,
    observed_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segment_id: Option<String>,
    service: String,
    severity_number: i32,
    severity_text: String,
    body: String,
    attributes: Map<String, Value>,
}

impl From<LogRow> for LogLine {
    fn from(row: LogRow) -> Self {
        let mut attributes = Map::new();
        for (key, value) in row.attributes {
            // The first of duplicate keys wins, as attribute lookups do everywhere else.
            attributes.entry(key).or_insert(Value::String(value));
        }
        LogLine {
            time: row.time_us as f64 / 1e6,
            observed_time: row.observed_us as f64 / 1e6,
            trace_id: row.trace_id.map(|id| id.to_string()),
            segment_id: row.span_id.map(|id| id.to_string()),
            service: row.service,
            severity_number: row.severity_number,
            severity_text: row.severity_text,
            body: row.body,
            attributes,
        }
    }
}

async fn trace_logs(State(state): State<QueryState>, body: Bytes) -> Result<Json<LogsAnswer>> {
    let request: TraceLogsRequest = parse_body(&body, "a trace logs request")?;
    let trace_id = parse_trace_id(&request.trace_id)?;
    let segment_id = request
        .segment_id
        .as_deref()
        .map(|text| {
            SegmentId::parse(text)
                .map_err(|_| ApiError::InvalidRequest(format!("SegmentId {text:?} is not 16 hexadecimal digits")))
        })
        .transpose()?;
    let rows = read(move || state.store.trace_logs(trace_id, segment_id)).await?;
    Ok(Json(LogsAnswer { logs: rows.into_iter().map(LogLine::from).collect(), next_token: None }))
}

async fn search_logs(State(state): State<QueryState>, body: Bytes) -> Result<Json<LogsAnswer>> {
    let request: SearchRequest = parse_body(&body, "a log search request")?;
    let query = query_of(request, state.max_window_seconds)?;
    let page = read(move || state.store.search_logs(&query)).await?;
    Ok(Json(LogsAnswer {
        logs: page.logs.into_iter().map(LogLine::from).collect(),
        next_token: page.next.map(|cursor| format!("{}-{}", cursor.time_us, cursor.sequence)),
    }))
}

fn query_of(request: SearchRequest, max_window_seconds: f64) -> Result<LogQuery> {
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), max_window_seconds)?;
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LOG_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("Limit is {limit}; 1 to {MAX_LOG_PAGE} expected")));
    }
    Ok(LogQuery {
        service: request.service.filter(|service| !service.is_empty()),
        min_severity: request.severity.as_ref().map(min_severity).transpose()?.unwrap_or(0),
        text: request.text.filter(|text| !text.is_empty()),
        from_us: micros(start),
        to_us: micros(end),
        limit,
        before: request.next_token.as_deref().map(parse_token).transpose()?,
    })
}

/// The X-Ray form (`1-…-…`) or the W3C form (32 hex digits).
fn parse_trace_id(text: &str) -> Result<TraceId> {
    TraceId::from_str(text).or_else(|_| TraceId::parse_w3c(text)).map_err(|_| {
        ApiError::InvalidRequest(format!("TraceId {text:?} is neither 1-XXXXXXXX-<24 hex> nor 32 hexadecimal digits"))
    })
}

fn min_severity(value: &Value) -> Result<i32> {
    let by_name = |name: &str| {
        let upper = name.trim().to_ascii_uppercase();
        let upper = if upper == "WARNING" { "WARN".to_owned() } else { upper };
        SEVERITY_NAMES.iter().find(|(known, _)| *known == upper).map(|(_, number)| *number)
    };
    let number = match value {
        Value::Number(number) => number.as_i64().and_then(|n| i32::try_from(n).ok()).filter(|n| (0..=24).contains(n)),
        Value::String(name) => by_name(name).or_else(|| name.trim().parse().ok().filter(|n| (0..=24).contains(n))),
        _ => None,
    };
    number.ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "Severity {value} is not a severity: 0 to 24, or TRACE, DEBUG, INFO, WARN, ERROR or FATAL"
        ))
    })
}

fn parse_token(token: &str) -> Result<LogCursor> {
    let parsed = token
        .split_once('-')
        .and_then(|(time, sequence)| Some(LogCursor { time_us: time.parse().ok()?, sequence: sequence.parse().ok()? }));
    parsed.ok_or_else(|| ApiError::InvalidRequest(format!("NextToken {token:?} is not a token this API returned")))
}

async fn read<T: Send + 'static>(work: impl FnOnce() -> fluoro_store::Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("log read task failed: {error}")))?
        .map_err(|error| ApiError::Internal(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_numbers_or_names() {
        assert_eq!(min_severity(&Value::from(17)).unwrap(), 17);
        assert_eq!(min_severity(&Value::from("warning")).unwrap(), 13);
        assert_eq!(min_severity(&Value::from("ERROR")).unwrap(), 17);
        assert!(min_severity(&Value::from(25)).is_err());
        assert!(min_severity(&Value::from("loud")).is_err());
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(
            parse_token("1700000000000000-42").unwrap(),
            LogCursor { time_us: 1_700_000_000_000_000, sequence: 42 }
        );
        assert!(parse_token("yesterday").is_err());
    }
}
