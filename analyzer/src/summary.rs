//! Trace summaries: what X-Ray's `GetTraceSummaries` answers (spec 4.3, 5.4) for a time range
//! and a filter expression.
//!
//! Read path: [`load_spans`](crate::load_spans) over the range widened by [`TRACE_SLACK_US`](crate::TRACE_SLACK_US), of the columns the
//! filter reads → [`trace_frame`](crate::trace_frame) (one row per trace, columnar: start, duration, response time,
//! root flags and HTTP, partial) → `filter/compile.rs` keeps the matching rows → sampling and
//! the page → every column of the page's traces only, as Rust records → lists (annotations,
//! users, services…) and root causes, per trace.
//!
//! - Matching and summarizing are two reads: spans of a page's traces that arrive in between
//!   show in its summaries, as they would on the next request.
//!
//! - A trace is summarized from its spans that start within the widened range: a trace that
//!   runs longer than [`TRACE_SLACK_US`](crate::TRACE_SLACK_US) past the range is summarized from what is inside it.
//! - `TimeRangeType::TraceId` selects traces whose earliest span starts in the range;
//!   `TimeRangeType::Event` selects traces with any span starting in the range. X-Ray's
//!   `Service` range type is not supported.
//! - Summaries are ordered by trace start, then id. Pages are offsets into that order, so a
//!   trace arriving between two page requests can shift later pages by one.
//! - Sampling keeps a deterministic subset: the traces whose id hashes below the rate.
//!   `PartialScan` samples before filtering (fewer traces processed), `FixedRate` after.

use std::collections::{BTreeMap, BTreeSet};

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use fluoro_store::Store;
use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::filter::{compile_filter, CompiledFilter, FilterExpr, GroupResolver, MatchFrames};
use crate::root_cause::{root_causes, RootCause};
use crate::span_record::{inferred_identity, records_of, root_index, AnnotationValue, SpanRecord};
use crate::spans::{collect_spans, load_spans_matching, SPAN_COLUMNS};
use crate::trace_frame::{slack_window, window_traces, TimeRangeType, TRACE_FRAME_COLUMNS};

/// X-Ray's page of trace summaries, and Fluoro's default (`limits.summaries_per_page`).
pub const MAX_PAGE_SIZE: usize = 100;
/// The largest page any configuration may ask for; larger ones are cut to it. Each summary
/// takes every column of its trace, so a page's cost grows with it.
pub const MAX_CONFIGURABLE_PAGE_SIZE: usize = 1000;
/// The sampling rate when sampling is asked for without a strategy.
pub const DEFAULT_SAMPLING_RATE: f64 = 0.1;

/// X-Ray's `SamplingStrategy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Process only this fraction of the traces in the range.
    PartialScan(f64),
    /// Return only this fraction of the matching traces.
    FixedRate(f64),
}

/// One `GetTraceSummaries` call.
#[derive(Debug, Clone)]
pub struct SummaryQuery {
    pub from_us: i64,
    pub to_us: i64,
    pub range: TimeRangeType,
    pub filter: Option<FilterExpr>,
    pub sampling: Option<Sampling>,
    /// Matching traces to skip (the page token's offset).
    pub offset: usize,
    /// At most [`MAX_CONFIGURABLE_PAGE_SIZE`]; [`MAX_PAGE_SIZE`] by default.
    pub page_size: usize,
}

/// One page of summaries.
#[derive(Debug, Clone)]
pub struct SummaryPage {
    pub summaries: Vec<TraceSummary>,
    /// Traces in the range that were considered (after `PartialScan` sampling).
    pub processed: usize,
    /// Traces that matched (after sampling), over all pages.
    pub matched: usize,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<usize>,
}

/// X-Ray's `TraceSummary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceSummary {
    pub id: String,
    /// Epoch seconds.
    pub start_time: f64,
    pub duration: Option<f64>,
    pub response_time: Option<f64>,
    pub has_fault: bool,
    pub has_error: bool,
    pub has_throttle: bool,
    pub is_partial: bool,
    pub http: Http,
    pub annotations: BTreeMap<String, Vec<ValueWithServiceIds>>,
    pub users: Vec<TraceUser>,
    pub service_ids: Vec<ServiceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<ServiceId>,
    #[serde(rename = "ResourceARNs")]
    pub resource_arns: Vec<ResourceArn>,
    pub instance_ids: Vec<InstanceId>,
    pub availability_zones: Vec<AvailabilityZone>,
    pub fault_root_causes: Vec<RootCause>,
    pub error_root_causes: Vec<RootCause>,
    pub response_time_root_causes: Vec<RootCause>,
    /// Spans stored for the trace: grows as the trace gets more spans.
    pub revision: u32,
    /// Epoch seconds: the trace start, or for `Event` ranges the first span start in range.
    pub matched_event_time: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Http {
    #[serde(rename = "HttpURL", skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "HttpStatus", skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    #[serde(rename = "HttpMethod", skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(rename = "UserAgent", skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(rename = "ClientIp", skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceId {
    pub name: String,
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValueWithServiceIds {
    pub annotation_value: AnnotationValueJson,
    pub service_ids: Vec<ServiceId>,
}

/// `AnnotationValue`: exactly one member set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AnnotationValueJson {
    NumberValue(f64),
    BooleanValue(bool),
    StringValue(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceUser {
    pub user_name: String,
    pub service_ids: Vec<ServiceId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceArn {
    #[serde(rename = "ARN")]
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceId {
    #[serde(rename = "Id")]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailabilityZone {
    #[serde(rename = "Name")]
    pub name: String,
}

/// Answers one `GetTraceSummaries` page.
pub fn trace_summaries(store: &Store, query: &SummaryQuery, groups: &dyn GroupResolver) -> Result<SummaryPage> {
    let plan = query.filter.as_ref().map(|filter| compile_filter(filter, groups)).transpose()?;
    // Two phases: match on the few columns the filter reads, then read every column of the
    // page's traces only.
    let columns = plan.as_ref().map_or_else(|| TRACE_FRAME_COLUMNS.to_vec(), CompiledFilter::span_columns);
    let (spans, mut candidates) = window_traces(store, query.from_us, query.to_us, &columns, query.range)?;
    if let Some(Sampling::PartialScan(rate)) = query.sampling {
        candidates = sample(&candidates, rate)?;
    }
    let processed = candidates.height();
    let mut matched = match &plan {
        Some(plan) => plan.apply(&MatchFrames::new(spans.clone()), candidates)?,
        None => candidates,
    };
    if let Some(Sampling::FixedRate(rate)) = query.sampling {
        matched = sample(&matched, rate)?;
    }
    let matched = matched
        .lazy()
        .sort_by_exprs(
            [col(columns::START_US), col(TRACE_HI), col(TRACE_LO)],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()?;
    let page_size = query.page_size.clamp(1, MAX_CONFIGURABLE_PAGE_SIZE);
    let page = matched.slice(query.offset.min(matched.height()) as i64, page_size);
    let next = query.offset + page.height();
    let page_spans = page_spans(store, slack_window(query.from_us, query.to_us), spans, &page)?;
    let summaries = summarize(&page_spans, &page)?;
    Ok(SummaryPage {
        summaries,
        processed,
        matched: matched.height(),
        next_offset: (next < matched.height()).then_some(next),
    })
}

/// Every column of the spans of the page's traces: `spans` itself when it has them all (a
/// filter on root causes reads everything), otherwise a second scan restricted to those traces.
fn page_spans(store: &Store, range: (i64, i64), spans: DataFrame, page: &DataFrame) -> Result<DataFrame> {
    let has_every_column = SPAN_COLUMNS.iter().all(|name| spans.get_column_index(name).is_some());
    if page.height() == 0 || has_every_column {
        return Ok(spans);
    }
    let his = page.column(TRACE_HI)?.as_materialized_series().clone();
    let predicate = col(TRACE_HI).is_in(lit(his).implode(false), false);
    collect_spans(load_spans_matching(store, range.0, range.1, SPAN_COLUMNS, Some(predicate))?)
}

/// The rows whose trace id hashes below `rate` (deterministic: the same traces every call).
fn sample(frame: &DataFrame, rate: f64) -> Result<DataFrame> {
    let his = frame.column(TRACE_HI)?.u64()?.clone();
    let los = frame.column(TRACE_LO)?.u64()?.clone();
    let keep: BooleanChunked = his
        .iter()
        .zip(los.iter())
        .map(|(hi, lo)| Some(sampled(hi.unwrap_or_default(), lo.unwrap_or_default(), rate)))
        .collect();
    Ok(frame.filter(&keep)?)
}

/// FNV-1a over the id's bytes, mapped to [0, 1).
pub(crate) fn sampled(hi: u64, lo: u64, rate: f64) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in hi.to_be_bytes().into_iter().chain(lo.to_be_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    ((hash >> 11) as f64 / (1u64 << 53) as f64) < rate
}

/// Full summaries of the page's traces, in the page's order.
fn summarize(spans: &DataFrame, page: &DataFrame) -> Result<Vec<TraceSummary>> {
    if page.height() == 0 {
        return Ok(Vec::new());
    }
    let page_keys: Vec<(u64, u64)> = page
        .column(TRACE_HI)?
        .u64()?
        .iter()
        .zip(page.column(TRACE_LO)?.u64()?.iter())
        .map(|(hi, lo)| (hi.unwrap_or_default(), lo.unwrap_or_default()))
        .collect();
    let traces = records_of(spans, &page_keys)?;
    let matched: Vec<Option<i64>> = page.column("matched_us")?.i64()?.iter().collect();
    let mut summaries = Vec::with_capacity(page_keys.len());
    for (key, matched_us) in page_keys.iter().zip(matched) {
        if let Some(records) = traces.get(key) {
            summaries.push(summarize_trace(*key, records, matched_us));
        }
    }
    Ok(summaries)
}

fn summarize_trace(key: (u64, u64), records: &[SpanRecord], matched_us: Option<i64>) -> TraceSummary {
    let start_us = records.iter().map(|r| r.start_us).min().unwrap_or_default();
    let end_us = records.iter().map(|r| r.end_us.unwrap_or(r.start_us)).max().unwrap_or_default();
    let root = root_index(records).map(|index| (index, &records[index]));
    let causes = root.map(|(index, _)| root_causes(records, index)).unwrap_or_default();
    let nodes = NodeIndex::new(records);
    let mut summary = TraceSummary {
        id: fluoro_proto::TraceId::from_halves(key.0, key.1).to_string(),
        start_time: start_us as f64 / 1e6,
        duration: Some((end_us - start_us) as f64 / 1e6),
        response_time: root.and_then(|(_, root)| root.seconds()),
        has_fault: root.is_some_and(|(_, root)| root.fault),
        has_error: root.is_some_and(|(_, root)| root.error),
        has_throttle: root.is_some_and(|(_, root)| root.throttle),
        is_partial: records.iter().any(|r| r.in_progress),
        http: root.map(|(_, root)| http(root)).unwrap_or_default(),
        annotations: BTreeMap::new(),
        users: Vec::new(),
        service_ids: nodes.all(),
        entry_point: root.map(|(index, _)| nodes.of(index)),
        resource_arns: distinct(records, |r| r.resource_arn.as_deref()).map(|arn| ResourceArn { arn }).collect(),
        instance_ids: distinct(records, |r| r.instance_id.as_deref()).map(|id| InstanceId { id }).collect(),
        availability_zones: distinct(records, |r| r.availability_zone.as_deref())
            .map(|name| AvailabilityZone { name })
            .collect(),
        fault_root_causes: causes.fault,
        error_root_causes: causes.error,
        response_time_root_causes: causes.response_time,
        revision: records.len() as u32,
        matched_event_time: matched_us.unwrap_or(start_us) as f64 / 1e6,
    };
    summary.annotations = annotations(records, &nodes);
    summary.users = users(records, &nodes);
    summary
}

fn http(root: &SpanRecord) -> Http {
    Http {
        url: root.http_url.clone(),
        status: root.http_status,
        method: root.http_method.clone(),
        user_agent: root.http_user_agent.clone(),
        client_ip: root.http_client_ip.clone(),
    }
}

fn distinct(records: &[SpanRecord], field: fn(&SpanRecord) -> Option<&str>) -> impl Iterator<Item = String> {
    let values: BTreeSet<String> = records.iter().filter_map(field).map(str::to_owned).collect();
    values.into_iter()
}

/// The node (ServiceId) each span belongs to: its segment's service, or its inferred node for
/// downstream calls whose callee sent no segment.
struct NodeIndex {
    per_span: Vec<ServiceId>,
}

impl NodeIndex {
    fn new(records: &[SpanRecord]) -> NodeIndex {
        let called: BTreeSet<u64> = records.iter().filter(|r| r.segment).filter_map(|r| r.parent_id).collect();
        let origins: BTreeMap<&str, (Option<&str>, Option<&str>)> = records
            .iter()
            .filter(|r| r.segment)
            .map(|r| (r.name.as_str(), (r.origin.as_deref(), r.account_id.as_deref())))
            .collect();
        let per_span = records
            .iter()
            .map(|record| {
                if record.is_downstream_call() && !called.contains(&record.id) {
                    let (name, node_type) = inferred_identity(record);
                    return service_id(&name, Some(node_type), None);
                }
                let name = if record.segment { record.name.as_str() } else { record.service.as_deref().unwrap_or("") };
                let (origin, account) = origins.get(name).copied().unwrap_or((record.origin.as_deref(), None));
                service_id(name, origin.map(str::to_owned), account.map(str::to_owned))
            })
            .collect();
        NodeIndex { per_span }
    }

    fn of(&self, index: usize) -> ServiceId {
        self.per_span[index].clone()
    }

    fn all(&self) -> Vec<ServiceId> {
        self.per_span.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect()
    }
}

fn service_id(name: &str, node_type: Option<String>, account_id: Option<String>) -> ServiceId {
    ServiceId { name: name.to_owned(), names: vec![name.to_owned()], account_id, r#type: node_type }
}

fn annotations(records: &[SpanRecord], nodes: &NodeIndex) -> BTreeMap<String, Vec<ValueWithServiceIds>> {
    let mut out: BTreeMap<String, Vec<ValueWithServiceIds>> = BTreeMap::new();
    for (index, record) in records.iter().enumerate() {
        for (key, value) in &record.annotations {
            let value = match value {
                AnnotationValue::String(text) => AnnotationValueJson::StringValue(text.clone()),
                AnnotationValue::Number(number) => AnnotationValueJson::NumberValue(*number),
                AnnotationValue::Bool(boolean) => AnnotationValueJson::BooleanValue(*boolean),
            };
            let values = out.entry(key.clone()).or_default();
            let node = nodes.of(index);
            match values.iter_mut().find(|existing| existing.annotation_value == value) {
                Some(existing) if !existing.service_ids.contains(&node) => existing.service_ids.push(node),
                Some(_) => {}
                None => values.push(ValueWithServiceIds { annotation_value: value, service_ids: vec![node] }),
            }
        }
    }
    out
}

fn users(records: &[SpanRecord], nodes: &NodeIndex) -> Vec<TraceUser> {
    let mut out: BTreeMap<&str, BTreeSet<ServiceId>> = BTreeMap::new();
    for (index, record) in records.iter().enumerate() {
        if let Some(user) = record.user.as_deref() {
            out.entry(user).or_default().insert(nodes.of(index));
        }
    }
    out.into_iter()
        .map(|(user, services)| TraceUser { user_name: user.to_owned(), service_ids: services.into_iter().collect() })
        .collect()
}
