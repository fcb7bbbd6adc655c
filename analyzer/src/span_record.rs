//! Spans of a few traces as Rust values, for the per-trace work that is a walk rather than a
//! column operation: building a TraceSummary's lists and finding root causes (spec 5.4).
//! Only the traces of one page (or those a `rootcause.*` filter needs) come through here.

use std::collections::{BTreeMap, BTreeSet};

use fluoro_store::columns::{self, TRACE_LO};
use polars::prelude::*;

use crate::error::Result;
use crate::service_graph::{inferred_node, DownstreamCall};

/// An annotation value, as X-Ray's `AnnotationValue` holds exactly one of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnnotationValue {
    String(String),
    Number(f64),
    Bool(bool),
}

/// One stored span read back from a scan's columns, the fields summaries and root causes read.
/// Not a `SpanRow`: it keeps the trace id as the scan's two halves (the grouping key) and only
/// what summaries need of exceptions and annotations, as the columns hold them.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanRecord {
    pub trace: (u64, u64),
    pub id: u64,
    pub parent_id: Option<u64>,
    pub segment: bool,
    pub service: Option<String>,
    pub name: String,
    pub origin: Option<String>,
    pub namespace: Option<String>,
    pub start_us: i64,
    pub end_us: Option<i64>,
    pub in_progress: bool,
    pub error: bool,
    pub fault: bool,
    pub throttle: bool,
    pub remote: bool,
    pub traced: bool,
    pub http_method: Option<String>,
    pub http_url: Option<String>,
    pub http_status: Option<u32>,
    pub http_client_ip: Option<String>,
    pub http_user_agent: Option<String>,
    /// (type, message), outermost first.
    pub exceptions: Vec<(String, String)>,
    pub annotations: Vec<(String, AnnotationValue)>,
    pub user: Option<String>,
    pub account_id: Option<String>,
    pub resource_arn: Option<String>,
    pub instance_id: Option<String>,
    pub availability_zone: Option<String>,
    pub aws_table: Option<String>,
    pub aws_queue: Option<String>,
    pub aws_resource: Option<String>,
    pub sql_url: Option<String>,
}

impl SpanRecord {
    /// A call to an AWS service or a remote endpoint (spec 5.1): it becomes an inferred node
    /// unless the callee reports its own segment.
    pub(crate) fn is_downstream_call(&self) -> bool {
        !self.segment && matches!(self.namespace.as_deref(), Some("aws" | "remote")) && !self.traced
    }

    /// Seconds between start and end; `None` while in progress.
    pub(crate) fn seconds(&self) -> Option<f64> {
        self.end_us.map(|end| (end - self.start_us) as f64 / 1e6)
    }
}

/// The (Name, Type) of the node X-Ray infers for this downstream call: one naming rule for
/// summaries, filters, root causes and the service graph.
pub(crate) fn inferred_identity(record: &SpanRecord) -> (String, String) {
    inferred_node(&DownstreamCall {
        name: &record.name,
        namespace: record.namespace.as_deref().unwrap_or_default(),
        has_table: record.aws_table.is_some(),
        has_queue: record.aws_queue.is_some(),
        has_resource: record.aws_resource.is_some(),
        has_sql: record.sql_url.is_some(),
    })
}

/// The records of a span frame (the columns of [`crate::SPAN_COLUMNS`]), grouped by trace.
pub(crate) fn records_by_trace(frame: &DataFrame) -> Result<BTreeMap<(u64, u64), Vec<SpanRecord>>> {
    let mut traces: BTreeMap<(u64, u64), Vec<SpanRecord>> = BTreeMap::new();
    for record in records(frame)? {
        traces.entry(record.trace).or_default().push(record);
    }
    Ok(traces)
}

fn records(frame: &DataFrame) -> Result<Vec<SpanRecord>> {
    let height = frame.height();
    let mut out = vec![SpanRecord::default(); height];
    let u64s = |name: &str| -> Result<Vec<Option<u64>>> { Ok(frame.column(name)?.u64()?.iter().collect()) };
    let i64s = |name: &str| -> Result<Vec<Option<i64>>> { Ok(frame.column(name)?.i64()?.iter().collect()) };
    let bools = |name: &str| -> Result<Vec<bool>> {
        Ok(frame.column(name)?.bool()?.iter().map(|v| v.unwrap_or(false)).collect())
    };
    let strings = |name: &str| -> Result<Vec<Option<String>>> {
        let column = frame.column(name)?.cast(&DataType::String)?;
        Ok(column.str()?.iter().map(|v| v.map(str::to_owned)).collect())
    };
    for (row, value) in u64s(columns::TRACE_HI)?.into_iter().enumerate() {
        out[row].trace.0 = value.unwrap_or_default();
    }
    for (row, value) in u64s(columns::TRACE_LO)?.into_iter().enumerate() {
        out[row].trace.1 = value.unwrap_or_default();
    }
    for (row, value) in u64s(columns::ID)?.into_iter().enumerate() {
        out[row].id = value.unwrap_or_default();
    }
    for (row, value) in u64s(columns::PARENT_ID)?.into_iter().enumerate() {
        out[row].parent_id = value;
    }
    for (row, value) in strings(columns::KIND)?.into_iter().enumerate() {
        out[row].segment = value.as_deref() == Some("segment");
    }
    for (row, value) in i64s(columns::START_US)?.into_iter().enumerate() {
        out[row].start_us = value.unwrap_or_default();
    }
    for (row, value) in i64s(columns::END_US)?.into_iter().enumerate() {
        out[row].end_us = value;
    }
    let statuses = frame.column(columns::HTTP_STATUS)?.cast(&DataType::UInt32)?;
    for (row, value) in statuses.u32()?.iter().enumerate() {
        out[row].http_status = value;
    }
    set_bools(&mut out, bools(columns::IN_PROGRESS)?, |r, v| r.in_progress = v);
    set_bools(&mut out, bools(columns::ERROR)?, |r, v| r.error = v);
    set_bools(&mut out, bools(columns::FAULT)?, |r, v| r.fault = v);
    set_bools(&mut out, bools(columns::THROTTLE)?, |r, v| r.throttle = v);
    set_bools(&mut out, bools(columns::REMOTE)?, |r, v| r.remote = v);
    set_bools(&mut out, bools(columns::TRACED)?, |r, v| r.traced = v);
    type Setter = fn(&mut SpanRecord, Option<String>);
    let string_fields: [(&str, Setter); 18] = [
        (columns::SERVICE, |r, v| r.service = v),
        (columns::NAME, |r, v| r.name = v.unwrap_or_default()),
        (columns::ORIGIN, |r, v| r.origin = v),
        (columns::NAMESPACE, |r, v| r.namespace = v),
        (columns::HTTP_METHOD, |r, v| r.http_method = v),
        (columns::HTTP_URL, |r, v| r.http_url = v),
        (columns::HTTP_CLIENT_IP, |r, v| r.http_client_ip = v),
        (columns::HTTP_USER_AGENT, |r, v| r.http_user_agent = v),
        (columns::USER, |r, v| r.user = v),
        (columns::AWS_ACCOUNT_ID, |r, v| r.account_id = v),
        (columns::AWS_RESOURCE_ARN, |r, v| r.resource_arn = v),
        (columns::AWS_INSTANCE_ID, |r, v| r.instance_id = v),
        (columns::AWS_AVAILABILITY_ZONE, |r, v| r.availability_zone = v),
        (columns::AWS_TABLE, |r, v| r.aws_table = v),
        (columns::AWS_QUEUE, |r, v| r.aws_queue = v),
        (columns::AWS_RESOURCE, |r, v| r.aws_resource = v),
        (columns::SQL_URL, |r, v| r.sql_url = v),
        (columns::KIND, |_, _| {}),
    ];
    for (name, set) in string_fields {
        for (row, value) in strings(name)?.into_iter().enumerate() {
            set(&mut out[row], value);
        }
    }
    let exceptions = frame.column(columns::EXCEPTIONS)?.list()?.clone();
    for (row, record) in out.iter_mut().enumerate() {
        let Some(list) = exceptions.get_as_series(row) else { continue };
        let entries = list.struct_()?;
        let names = entries.field_by_name("name")?.cast(&DataType::String)?;
        let messages = entries.field_by_name("message")?.cast(&DataType::String)?;
        record.exceptions = names
            .str()?
            .iter()
            .zip(messages.str()?.iter())
            .map(|(name, message)| (name.unwrap_or_default().to_owned(), message.unwrap_or_default().to_owned()))
            .collect();
    }
    let annotations = frame.column(columns::ANNOTATIONS)?.list()?.clone();
    for (row, record) in out.iter_mut().enumerate() {
        let Some(list) = annotations.get_as_series(row) else { continue };
        record.annotations = annotation_entries(&list)?;
    }
    Ok(out)
}

fn set_bools(out: &mut [SpanRecord], values: Vec<bool>, set: fn(&mut SpanRecord, bool)) {
    for (record, value) in out.iter_mut().zip(values) {
        set(record, value);
    }
}

fn annotation_entries(list: &Series) -> Result<Vec<(String, AnnotationValue)>> {
    let entries = list.struct_()?;
    let keys = entries.field_by_name("key")?.cast(&DataType::String)?;
    let strings = entries.field_by_name("string")?.cast(&DataType::String)?;
    let numbers = entries.field_by_name("number")?.cast(&DataType::Float64)?;
    let bools = entries.field_by_name("bool")?.cast(&DataType::Boolean)?;
    let mut out = Vec::with_capacity(keys.len());
    let values = strings.str()?.iter().zip(numbers.f64()?.iter()).zip(bools.bool()?.iter());
    for (key, ((string, number), boolean)) in keys.str()?.iter().zip(values) {
        let value = match (string, number, boolean) {
            (Some(string), _, _) => AnnotationValue::String(string.to_owned()),
            (_, Some(number), _) => AnnotationValue::Number(number),
            (_, _, Some(boolean)) => AnnotationValue::Bool(boolean),
            _ => continue,
        };
        out.push((key.unwrap_or_default().to_owned(), value));
    }
    Ok(out)
}

/// The spans of the given traces as records, by trace.
pub(crate) fn records_of(spans: &DataFrame, keys: &[(u64, u64)]) -> Result<BTreeMap<(u64, u64), Vec<SpanRecord>>> {
    let los = Series::new(TRACE_LO.into(), keys.iter().map(|key| key.1).collect::<Vec<u64>>());
    let wanted: BTreeSet<(u64, u64)> = keys.iter().copied().collect();
    let frame = spans.clone().lazy().filter(col(TRACE_LO).is_in(lit(los).implode(false), false)).collect()?;
    let mut traces = records_by_trace(&frame)?;
    traces.retain(|key, _| wanted.contains(key));
    Ok(traces)
}

/// The index of the root segment (see [`trace_frame`](crate::trace_frame)), if the trace has a segment.
pub(crate) fn root_index(records: &[SpanRecord]) -> Option<usize> {
    records
        .iter()
        .enumerate()
        .filter(|(_, record)| record.segment)
        .min_by_key(|(_, record)| (record.parent_id.is_some(), record.start_us, record.id))
        .map(|(index, _)| index)
}
