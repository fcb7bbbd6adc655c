//! Log blocks: immutable zstd Parquet files of log records, in `<data_dir>/logs/blocks/`,
//! written and opened by the span blocks' code (`block/mod.rs`: tmp file, fsync, rename,
//! directory fsync; the same `fluoro.block` footer with time range, services and a bloom filter
//! of trace ids), with their own schema. Any Parquet reader (DuckDB, pandas) reads them as they
//! are; `trace_hi`/`trace_lo` join with the span blocks' columns of the same names.
//!
//! Rows are in time order (then arrival order), so a time range reads few row groups and a
//! trace's lines come out in the order they were written.
//!
//! ```text
//! column            parquet type (logical)   null when
//! time_us           INT64                    never   epoch microseconds of the event
//! observed_us       INT64                    never   when the SDK saw it
//! trace_hi          INT64 (UINT_64)          outside any span   first 8 bytes of the trace id, big-endian
//! trace_lo          INT64 (UINT_64)          outside any span   last 8 bytes
//! span_id           INT64 (UINT_64)          outside any span   the X-Ray segment or subsegment id
//! service           BYTE_ARRAY (STRING)      never
//! severity_number   INT32                    never   OTLP severity, 0 = unspecified, 1–24
//! severity_text     BYTE_ARRAY (STRING)      never   may be empty
//! body              BYTE_ARRAY (STRING)      never   at most 64 KiB
//! attributes        BYTE_ARRAY (STRING)      never   JSON array of [key, value] string pairs
//! sequence          INT64 (UINT_64)          never   arrival order
//!
//! footer key-value "fluoro.block": as span blocks (version 1); min_start_us / max_end_us are
//! the earliest and latest time_us; the filter holds the trace ids of records that have one.
//! ```

use std::path::Path;

use fluoro_proto::{LogRow, SegmentId, TraceId};
use polars::prelude::*;

use super::StoredLog;
use crate::block::{self, BlockMeta, FooterFacts, WrittenBlock};
use crate::error::{polars_error, Result, StoreError};

pub(super) const TIME_US: &str = "time_us";
const OBSERVED_US: &str = "observed_us";
pub(super) const TRACE_HI: &str = "trace_hi";
pub(super) const TRACE_LO: &str = "trace_lo";
const SPAN_ID: &str = "span_id";
pub(super) const SERVICE: &str = "service";
pub(super) const SEVERITY_NUMBER: &str = "severity_number";
const SEVERITY_TEXT: &str = "severity_text";
const BODY: &str = "body";
const ATTRIBUTES: &str = "attributes";
const SEQUENCE: &str = "sequence";

/// Sorts the records into block order and writes them as log block `id`.
pub(super) fn write_log_block(blocks_dir: &Path, id: u64, mut logs: Vec<StoredLog>) -> Result<WrittenBlock> {
    if logs.is_empty() {
        return Err(StoreError::Block(format!("refusing to write log block {id} without records")));
    }
    logs.sort_by_key(|log| (log.row.time_us, log.sequence));
    let mut services: Vec<String> = logs.iter().map(|log| log.row.service.clone()).collect();
    services.sort_unstable();
    services.dedup();
    let mut trace_ids: Vec<TraceId> = logs.iter().filter_map(|log| log.row.trace_id).collect();
    trace_ids.sort_unstable();
    trace_ids.dedup();
    let facts = FooterFacts {
        rows: logs.len(),
        min_us: logs.first().map_or(0, |log| log.row.time_us),
        max_us: logs.last().map_or(0, |log| log.row.time_us),
        services,
        trace_ids,
    };
    let mut frame = logs_to_frame(&logs)?;
    drop(logs);
    block::write_other_block(blocks_dir, id, &mut frame, facts)
}

/// The records of a block matching `predicate` (every record when `None`) and whose body
/// `body_matches`, in block order. The body test runs on the decoded column, before a record
/// is built: a text search then allocates only for the records it finds.
pub(super) fn read_logs(
    block: &BlockMeta,
    predicate: Option<Expr>,
    body_matches: impl Fn(&str) -> bool,
) -> Result<Vec<StoredLog>> {
    let scan = block::lazy_block(block)?;
    let scan = match predicate {
        Some(predicate) => scan.filter(predicate),
        None => scan,
    };
    frame_to_logs(&scan.collect().map_err(polars_error)?, body_matches)
}

/// Records of one trace (and optionally one span), pushed into the Parquet reader.
pub(super) fn trace_predicate(trace_id: TraceId, span_id: Option<SegmentId>) -> Expr {
    let (hi, lo) = trace_id.halves();
    let trace = col(TRACE_HI).eq(block::u64_lit(hi)).and(col(TRACE_LO).eq(block::u64_lit(lo)));
    match span_id {
        Some(span) => trace.and(col(SPAN_ID).eq(block::u64_lit(span.as_u64()))),
        None => trace,
    }
}

fn logs_to_frame(logs: &[StoredLog]) -> Result<DataFrame> {
    let rows: Vec<&LogRow> = logs.iter().map(|log| &log.row).collect();
    let optional_u64 = |name: &str, values: Vec<Option<u64>>| {
        values.into_iter().collect::<UInt64Chunked>().with_name(name.into()).into_column()
    };
    let text = |name: &str, values: Vec<&str>| Column::new(name.into(), values);
    let attributes: Vec<String> =
        rows.iter().map(|row| serde_json::to_string(&row.attributes).unwrap_or_else(|_| "[]".to_owned())).collect();
    let columns = vec![
        Column::new(TIME_US.into(), rows.iter().map(|row| row.time_us).collect::<Vec<i64>>()),
        Column::new(OBSERVED_US.into(), rows.iter().map(|row| row.observed_us).collect::<Vec<i64>>()),
        optional_u64(TRACE_HI, rows.iter().map(|row| row.trace_id.map(|id| id.halves().0)).collect()),
        optional_u64(TRACE_LO, rows.iter().map(|row| row.trace_id.map(|id| id.halves().1)).collect()),
        optional_u64(SPAN_ID, rows.iter().map(|row| row.span_id.map(SegmentId::as_u64)).collect()),
        text(SERVICE, rows.iter().map(|row| row.service.as_str()).collect()),
        Column::new(SEVERITY_NUMBER.into(), rows.iter().map(|row| row.severity_number).collect::<Vec<i32>>()),
        text(SEVERITY_TEXT, rows.iter().map(|row| row.severity_text.as_str()).collect()),
        text(BODY, rows.iter().map(|row| row.body.as_str()).collect()),
        text(ATTRIBUTES, attributes.iter().map(String::as_str).collect()),
        Column::new(SEQUENCE.into(), logs.iter().map(|log| log.sequence).collect::<Vec<u64>>()),
    ];
    DataFrame::new(logs.len(), columns).map_err(polars_error)
}

fn frame_to_logs(frame: &DataFrame, body_matches: impl Fn(&str) -> bool) -> Result<Vec<StoredLog>> {
    let i64s = |name: &str| frame.column(name).and_then(|c| c.i64()).map_err(polars_error);
    let u64s = |name: &str| frame.column(name).and_then(|c| c.u64()).map_err(polars_error);
    let strs = |name: &str| frame.column(name).and_then(|c| c.str()).map_err(polars_error);
    let (time, observed) = (i64s(TIME_US)?, i64s(OBSERVED_US)?);
    let (trace_hi, trace_lo, span_id, sequence) = (u64s(TRACE_HI)?, u64s(TRACE_LO)?, u64s(SPAN_ID)?, u64s(SEQUENCE)?);
    let severity = frame.column(SEVERITY_NUMBER).and_then(|c| c.i32()).map_err(polars_error)?;
    let (service, severity_text, body, attributes) =
        (strs(SERVICE)?, strs(SEVERITY_TEXT)?, strs(BODY)?, strs(ATTRIBUTES)?);
    let missing = |index: usize, column: &str| StoreError::Block(format!("log row {index}: column {column} is null"));
    (0..frame.height())
        .filter(|&index| body.get(index).is_some_and(&body_matches))
        .map(|index| {
            let text = |column: &StringChunked, name: &str| {
                column.get(index).map(str::to_owned).ok_or_else(|| missing(index, name))
            };
            let trace_id = match (trace_hi.get(index), trace_lo.get(index)) {
                (Some(hi), Some(lo)) => Some(TraceId::from_halves(hi, lo)),
                _ => None,
            };
            let row = LogRow {
                time_us: time.get(index).ok_or_else(|| missing(index, TIME_US))?,
                observed_us: observed.get(index).ok_or_else(|| missing(index, OBSERVED_US))?,
                trace_id,
                span_id: span_id.get(index).map(SegmentId::new),
                service: text(service, SERVICE)?,
                severity_number: severity.get(index).ok_or_else(|| missing(index, SEVERITY_NUMBER))?,
                severity_text: text(severity_text, SEVERITY_TEXT)?,
                body: text(body, BODY)?,
                attributes: serde_json::from_str(&text(attributes, ATTRIBUTES)?)
                    .map_err(|error| StoreError::Block(format!("log row {index}: attributes: {error}")))?,
            };
            Ok(StoredLog { row, sequence: sequence.get(index).ok_or_else(|| missing(index, SEQUENCE))? })
        })
        .collect()
}
