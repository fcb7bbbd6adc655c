//! The one way analyses read spans: a time range of the store as a deduplicated lazy frame.
//!
//! - Until compaction a scan may hold two versions of one span (same trace and id, from
//!   different blocks or from a block and recent data). Every analysis wants exactly one, by the
//!   store's rule (`compaction::preferred_version`): a completed version beats an in-progress
//!   one, then the later arrival (`sequence`) wins.
//! - The trace id stays as its two `u64` halves (`trace_hi`, `trace_lo`): grouping and joining
//!   on two integer columns is cheap, and [`trace_id`] rebuilds the id for output.
//! - The raw `document` column is left out: it is the largest column and no analysis reads it.

use fluoro_proto::TraceId;
use fluoro_store::Store;
use polars::prelude::*;

use crate::error::Result;

/// First 8 bytes of the trace id, big-endian (X-Ray's epoch seconds lead).
pub const TRACE_HI: &str = "trace_hi";
/// Last 8 bytes of the trace id.
pub const TRACE_LO: &str = "trace_lo";

/// Every column of the block schema except `document`, in schema order.
pub const SPAN_COLUMNS: &[&str] = &[
    "trace_hi",
    "trace_lo",
    "id",
    "parent_id",
    "kind",
    "service",
    "name",
    "origin",
    "namespace",
    "start_us",
    "end_us",
    "in_progress",
    "error",
    "fault",
    "throttle",
    "remote",
    "traced",
    "http_method",
    "http_url",
    "http_status",
    "http_client_ip",
    "http_user_agent",
    "exceptions",
    "annotations",
    "user",
    "aws_account_id",
    "aws_operation",
    "aws_region",
    "aws_table",
    "aws_queue",
    "aws_resource",
    "aws_resource_arn",
    "aws_instance_id",
    "aws_availability_zone",
    "sql_url",
    "sequence",
];

/// Spans starting in `[from_us, to_us)`, one version per span (see the module doc), with
/// [`SPAN_COLUMNS`]. Lazy: callers add their own selections and aggregations before collecting.
pub fn load_spans(store: &Store, from_us: i64, to_us: i64) -> Result<LazyFrame> {
    let scanned = store.scan(from_us, to_us, SPAN_COLUMNS, None)?;
    deduplicate(scanned)
}

/// Keeps the preferred version of each (trace, id): the highest preference rank within the
/// group, where any completed version outranks every in-progress one.
pub fn deduplicate(spans: LazyFrame) -> Result<LazyFrame> {
    // Sequences are arrival counters, far below 2^62, so the completed bonus never overflows
    // and never lets an in-progress version win.
    let completed_bonus = when(col("in_progress")).then(lit(0u64)).otherwise(lit(1u64 << 62));
    let rank = col("sequence") + completed_bonus;
    let best = rank.clone().max().over([col(TRACE_HI), col(TRACE_LO), col("id")])?;
    Ok(spans.filter(rank.eq(best)))
}

/// The grouping key of a trace: `[trace_hi, trace_lo]`.
pub fn trace_key() -> [Expr; 2] {
    [col(TRACE_HI), col(TRACE_LO)]
}

/// The trace id from its two halves.
pub fn trace_id(hi: u64, lo: u64) -> TraceId {
    TraceId::from_bytes(((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes())
}

/// The two halves of a trace id, as stored.
pub fn trace_halves(id: TraceId) -> (u64, u64) {
    let value = id.as_u128();
    ((value >> 64) as u64, value as u64)
}
