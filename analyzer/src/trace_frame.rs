//! The trace frame: one row per trace, built from a window's spans in one Rust pass
//! (`trace_aggregates.rs`) and finished with polars expressions, that filters,
//! groups, comparisons and latency reports all stand on. Columns: start, end, duration and
//! response time (seconds and microseconds), the root segment's flags and HTTP values, partial.
//!
//! - A trace in `[from, to)` is read from its spans in the [`slack_window`] around it, so a
//!   trace that started just before the window or runs past it is still whole (up to
//!   [`TRACE_SLACK_US`]).
//! - The root segment is the segment without a parent (the earliest if several; the earliest
//!   segment if none lacks a parent): the same choice `span_record::root_index` makes on
//!   records.

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use fluoro_store::Store;
use polars::prelude::*;

use crate::error::Result;
use crate::spans::load_spans;
use crate::trace_aggregates::trace_aggregates;

/// The span columns [`trace_frame`] reads; it also carries the root segment's `http_*` values
/// of the spans that have those columns ([`ROOT_HTTP_COLUMNS`]).
pub const TRACE_FRAME_COLUMNS: &[&str] = &[
    TRACE_HI,
    TRACE_LO,
    columns::ID,
    columns::PARENT_ID,
    columns::KIND,
    columns::START_US,
    columns::END_US,
    columns::IN_PROGRESS,
    columns::ERROR,
    columns::FAULT,
    columns::THROTTLE,
];
/// Root-segment values in the trace frame when the spans have them: strings are costly to
/// read and carry through the root selection, so only filters that test them load them.
pub const ROOT_HTTP_COLUMNS: &[&str] =
    &[columns::HTTP_METHOD, columns::HTTP_URL, columns::HTTP_USER_AGENT, columns::HTTP_CLIENT_IP, columns::HTTP_STATUS];
/// How far before and after the range spans of its traces are read.
pub const TRACE_SLACK_US: i64 = 10 * 60 * 1_000_000;

/// The span range read for traces in `[from_us, to_us)`: widened by [`TRACE_SLACK_US`] either
/// side, saturating so that a window at the edge of time cannot overflow.
pub fn slack_window(from_us: i64, to_us: i64) -> (i64, i64) {
    (from_us.saturating_sub(TRACE_SLACK_US), to_us.saturating_add(TRACE_SLACK_US))
}
/// Which time a trace is selected by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TimeRangeType {
    /// The trace started (its earliest span) in the range.
    #[default]
    TraceId,
    /// Any span of the trace started in the range.
    Event,
}

/// The spans of the traces in `[from_us, to_us)` (their `columns`, read over the
/// [`slack_window`]) and the [`trace_frame`] of those spans.
pub(crate) fn window_traces(
    store: &Store,
    from_us: i64,
    to_us: i64,
    columns: &[&str],
    range: TimeRangeType,
) -> Result<(DataFrame, DataFrame)> {
    let spans = window_spans(store, from_us, to_us, columns)?;
    let traces = trace_frame_of(&spans, from_us, to_us, range)?.collect()?;
    Ok((spans, traces))
}

/// The `columns` of the spans of the traces in `[from_us, to_us)`, read over the
/// [`slack_window`]. Not rechunked: the trace frame reads the chunks as they lie, and a
/// filter's `MatchFrames` rechunks only when it tests spans.
pub(crate) fn window_spans(store: &Store, from_us: i64, to_us: i64, columns: &[&str]) -> Result<DataFrame> {
    let (read_from_us, read_to_us) = slack_window(from_us, to_us);
    Ok(load_spans(store, read_from_us, read_to_us, columns)?.collect()?)
}

/// One row per trace of `spans` selected by the range: `trace_hi`, `trace_lo`, `start_us`,
/// `end_us`, `matched_us`, `spans`, `duration` and `responsetime` (seconds, and `_us` in
/// microseconds), the root segment's
/// `error`, `fault`, `throttle` and those `http_*` the spans have ([`ROOT_HTTP_COLUMNS`]), and
/// `partial`. The root segment is the segment without a parent (the earliest if several; the
/// earliest segment if none lacks a parent). `spans` needs [`TRACE_FRAME_COLUMNS`].
pub fn trace_frame(spans: LazyFrame, from_us: i64, to_us: i64, range: TimeRangeType) -> Result<LazyFrame> {
    trace_frame_of(&spans.collect()?, from_us, to_us, range)
}

/// [`trace_frame`] of spans already collected.
pub(crate) fn trace_frame_of(spans: &DataFrame, from_us: i64, to_us: i64, range: TimeRangeType) -> Result<LazyFrame> {
    let http: Vec<&str> = ROOT_HTTP_COLUMNS.iter().copied().filter(|name| spans.schema().contains(name)).collect();
    let traces = trace_aggregates(spans, from_us, to_us, range, &http)?;
    let seconds = |from: Expr, to: Expr| (to - from).cast(DataType::Float64) / lit(1e6);
    let mut columns = vec![
        seconds(col(columns::START_US), col(columns::END_US)).alias("duration"),
        seconds(col("root_start_us"), col("root_end_us")).alias("responsetime"),
        (col(columns::END_US) - col(columns::START_US)).alias("duration_us"),
        (col("root_end_us") - col("root_start_us")).alias("responsetime_us"),
        col("root_error").fill_null(lit(false)).alias(columns::ERROR),
        col("root_fault").fill_null(lit(false)).alias(columns::FAULT),
        col("root_throttle").fill_null(lit(false)).alias(columns::THROTTLE),
    ];
    columns.extend(http.iter().map(|name| root_http_value(name)));
    Ok(traces.lazy().with_columns(columns))
}

/// The root segment's value of an `http_*` column under the column's own name; the status as
/// a float, as filters compare numbers.
fn root_http_value(name: &str) -> Expr {
    let value = col(format!("root_{name}"));
    let value = if name == "http_status" { value.cast(DataType::Float64) } else { value };
    value.alias(name)
}
