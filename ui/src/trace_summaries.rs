//! `POST /TraceSummaries` — X-Ray's `GetTraceSummaries` (spec `xray.md` §4.3, Appendix A) over
//! `fluoro_analyzer::trace_summaries`.
//!
//! - `StartTime`/`EndTime`: epoch seconds as JSON numbers (what botocore sends); numeric
//!   strings and RFC 3339 strings (`2026-01-02T03:04:05Z`, with fraction or offset) are
//!   accepted too. The window is at most [`MAX_WINDOW_SECONDS`](crate::time::MAX_WINDOW_SECONDS) (24 h; X-Ray allows 6 h — a
//!   local store can afford more, and the CLI's `--since 1d` is a common ask).
//! - `TimeRangeType`: `TraceId` (default: the trace's first span starts in the window) or
//!   `Event` (any span starts in it); `Service` is refused.
//! - `Sampling: true` keeps a deterministic subset: `SamplingStrategy {Name: PartialScan |
//!   FixedRate, Value: 0..1}`, default `FixedRate` at the analyzer's default rate.
//! - Pages of `limits.summaries_per_page` summaries (`MAX_PAGE_SIZE`, 100, by default). `NextToken` is opaque: hex of
//!   `v1:<offset>:<fingerprint of the query>`; a token from another query is refused.
//! - `group.name = "G"` and `group.arn = ".."` inline the group's filter (`groups.rs`).
//! - `ApproximateTime` is the start time of the page's first trace (the request's `EndTime`
//!   when the page is empty).
//!
//! The analysis reads Parquet and runs polars: it goes to `spawn_blocking`.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{
    parse_filter, trace_summaries, Sampling, SummaryQuery, TimeRangeType, TraceSummary, DEFAULT_SAMPLING_RATE,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::QueryState;
use crate::error::{ApiError, Result};
use crate::request::blocking;
use crate::time::{micros, request_window_within};

const TOKEN_VERSION: &str = "v1";

pub(crate) fn router(state: QueryState) -> Router {
    Router::new().route("/TraceSummaries", post(get_trace_summaries)).with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetTraceSummariesRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    time_range_type: Option<String>,
    sampling: Option<bool>,
    sampling_strategy: Option<SamplingStrategy>,
    filter_expression: Option<String>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SamplingStrategy {
    name: Option<String>,
    value: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetTraceSummariesResponse {
    trace_summaries: Vec<TraceSummary>,
    approximate_time: f64,
    traces_processed_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn get_trace_summaries(State(state): State<QueryState>, body: Bytes) -> Result<Json<GetTraceSummariesResponse>> {
    let request: GetTraceSummariesRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::InvalidRequest(format!("request body is not GetTraceSummaries JSON: {error}")))?;
    let (query, fingerprint, end_seconds) = query_of(&request, state.max_window_seconds, state.summaries_per_page)?;
    let answer =
        blocking("trace summaries", state.query_budget, move || trace_summaries(&state.store, &query, &*state.groups))
            .await?;
    let approximate_time = answer.summaries.first().map_or(end_seconds, |summary| summary.start_time);
    Ok(Json(GetTraceSummariesResponse {
        trace_summaries: answer.summaries,
        approximate_time,
        traces_processed_count: answer.processed as u64,
        next_token: answer.next_offset.map(|offset| encode_token(offset, fingerprint)),
    }))
}

/// The analyzer query, the query's fingerprint (for page tokens) and the end in seconds.
fn query_of(
    request: &GetTraceSummariesRequest,
    max_window_seconds: f64,
    page_size: usize,
) -> Result<(SummaryQuery, u64, f64)> {
    let (start, end) =
        request_window_within(request.start_time.as_ref(), request.end_time.as_ref(), max_window_seconds)?;
    let range = match request.time_range_type.as_deref() {
        None | Some("TraceId") => TimeRangeType::TraceId,
        Some("Event") => TimeRangeType::Event,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "TimeRangeType {other:?} is not supported; use TraceId or Event"
            )))
        }
    };
    let sampling = sampling_of(request)?;
    let expression = request.filter_expression.as_deref().filter(|text| !text.trim().is_empty());
    let filter = expression.map(parse_filter).transpose()?;
    let fingerprint = fingerprint(&[
        &start.to_bits().to_string(),
        &end.to_bits().to_string(),
        &format!("{range:?}"),
        &format!("{sampling:?}"),
        expression.unwrap_or_default(),
    ]);
    let offset = match &request.next_token {
        Some(token) => decode_token(token, fingerprint)?,
        None => 0,
    };
    let query = SummaryQuery { from_us: micros(start), to_us: micros(end), range, filter, sampling, offset, page_size };
    Ok((query, fingerprint, end))
}

fn sampling_of(request: &GetTraceSummariesRequest) -> Result<Option<Sampling>> {
    if request.sampling != Some(true) {
        return Ok(None);
    }
    let Some(strategy) = &request.sampling_strategy else {
        return Ok(Some(Sampling::FixedRate(DEFAULT_SAMPLING_RATE)));
    };
    let rate = strategy.value.unwrap_or(DEFAULT_SAMPLING_RATE);
    if !(0.0..=1.0).contains(&rate) {
        return Err(ApiError::InvalidRequest(format!("SamplingStrategy.Value must be within 0 and 1, got {rate}")));
    }
    match strategy.name.as_deref() {
        None | Some("FixedRate") => Ok(Some(Sampling::FixedRate(rate))),
        Some("PartialScan") => Ok(Some(Sampling::PartialScan(rate))),
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "SamplingStrategy.Name {other:?} is not supported; use PartialScan or FixedRate"
        ))),
    }
}

/// FNV-1a over the parts, separated so that ("ab", "c") and ("a", "bc") differ.
fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn encode_token(offset: usize, fingerprint: u64) -> String {
    format!("{TOKEN_VERSION}:{offset}:{fingerprint:016x}").bytes().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_token(token: &str, fingerprint: u64) -> Result<usize> {
    let invalid = || ApiError::InvalidRequest("NextToken is not a token this server issued".to_owned());
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|at| token.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    let text = String::from_utf8(bytes.ok_or_else(invalid)?).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    let (Some(TOKEN_VERSION), Some(offset), Some(issued_for), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if issued_for != format!("{fingerprint:016x}") {
        return Err(ApiError::InvalidRequest(
            "NextToken belongs to a different query; repeat the query that returned it".to_owned(),
        ));
    }
    offset.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_belong_to_their_query() {
        let token = encode_token(200, 42);
        assert_eq!(decode_token(&token, 42).unwrap(), 200);
        assert!(decode_token(&token, 43).unwrap_err().to_string().contains("different query"));
        assert!(decode_token("zz", 42).is_err());
        assert!(decode_token("", 42).is_err());
    }
}
