//! The per-trace pass under [`crate::trace_frame`]: one walk over the collected spans in Rust,
//! instead of polars' join, group-by, sort and second group-by.
//!
//! - Each run of rows of one trace gets its trace's dense id (`trace_runs.rs`), and each
//!   trace's start, end, span count, in-range start and partial flag are folded in as the
//!   rows pass.
//! - The root segment is an arg-min per trace over the segments' keys (has a parent, start,
//!   id), kept on the first of equal keys: the same choice as a stable sort by those keys
//!   followed by the group's first row, without the sort.
//! - Only traces the range selects are output; their root values are gathered from the span
//!   columns by row index (null for a trace without a segment).

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;

use crate::error::Result;
use crate::trace_frame::TimeRangeType;
use crate::trace_runs::TraceRuns;

const SEGMENT: &str = "segment";

/// The root-segment columns gathered into `root_<name>`, before the `http_*` ones present.
const ROOT_COLUMNS: &[&str] =
    &[columns::START_US, columns::END_US, columns::ERROR, columns::FAULT, columns::THROTTLE, columns::ID];

/// What one trace's rows fold into; its id and root values are gathered from its rows.
#[derive(Debug, Clone)]
struct Trace {
    first_row: IdxSize,
    /// The root segment so far, [`NO_ROW`] until a segment is seen.
    root_row: IdxSize,
    start_us: Option<i64>,
    end_us: Option<i64>,
    matched_us: Option<i64>,
    spans: IdxSize,
    partial: bool,
}

const NO_ROW: IdxSize = IdxSize::MAX;

/// Ordering of root candidates: a segment without a parent first, then the earliest, then the
/// smallest id (nulls first, as polars sorts them).
type RootKey = (bool, Option<i64>, Option<u64>);

/// One row per trace of `spans` selected by the range, with `trace_hi`, `trace_lo`,
/// `start_us`, `end_us`, `partial`, `matched_us`, `spans` and `root_<name>` for the root
/// segment's [`ROOT_COLUMNS`] and `http` columns.
pub(crate) fn trace_aggregates(
    spans: &DataFrame,
    from_us: i64,
    to_us: i64,
    range: TimeRangeType,
    http: &[&str],
) -> Result<DataFrame> {
    let traces = fold_traces(spans, from_us, to_us)?;
    let selected: Vec<&Trace> = traces
        .iter()
        .filter(|trace| match range {
            TimeRangeType::TraceId => trace.start_us.is_some_and(|start| start >= from_us && start < to_us),
            TimeRangeType::Event => trace.matched_us.is_some(),
        })
        .collect();
    let end_us: Int64Chunked = selected.iter().map(|trace| trace.end_us).collect();
    let first_rows = IdxCa::from_vec("first_row".into(), selected.iter().map(|trace| trace.first_row).collect());
    let key = |name: &str| -> Result<Column> {
        Ok(spans.column(name)?.as_materialized_series().take(&first_rows)?.into_column())
    };
    let mut frame = DataFrame::new_infer_height(vec![
        key(TRACE_HI)?,
        key(TRACE_LO)?,
        selected
            .iter()
            .map(|trace| trace.start_us)
            .collect::<Int64Chunked>()
            .with_name(columns::START_US.into())
            .into_column(),
        end_us.with_name(columns::END_US.into()).into_column(),
        selected
            .iter()
            .map(|trace| Some(trace.partial))
            .collect::<BooleanChunked>()
            .with_name("partial".into())
            .into_column(),
        selected
            .iter()
            .map(|trace| trace.matched_us)
            .collect::<Int64Chunked>()
            .with_name("matched_us".into())
            .into_column(),
        IdxCa::from_vec("spans".into(), selected.iter().map(|trace| trace.spans).collect()).into_column(),
    ])?;
    let roots: IdxCa = selected.iter().map(|trace| Some(trace.root_row).filter(|row| *row != NO_ROW)).collect();
    for name in ROOT_COLUMNS.iter().chain(http) {
        let values = spans.column(name)?.as_materialized_series().take(&roots)?;
        frame.with_column(values.with_name(format!("root_{name}").into()).into_column())?;
    }
    Ok(frame)
}

/// Every trace of `spans`, in order of first row.
fn fold_traces(spans: &DataFrame, from_us: i64, to_us: i64) -> Result<Vec<Trace>> {
    let runs = TraceRuns::of(spans.column(TRACE_HI)?.u64()?, spans.column(TRACE_LO)?.u64()?);
    let (ids, parents) =
        (spans.column(columns::ID)?.u64()?.rechunk(), spans.column(columns::PARENT_ID)?.u64()?.rechunk());
    let (starts, ends) =
        (spans.column(columns::START_US)?.i64()?.rechunk(), spans.column(columns::END_US)?.i64()?.rechunk());
    let (ids, parents, starts, ends) = (Values::of(&ids), Values::of(&parents), Values::of(&starts), Values::of(&ends));
    let kinds = spans.column(columns::KIND)?.str()?;
    let in_progress = spans.column(columns::IN_PROGRESS)?.bool()?;
    // Runs cover the rows in order, so one pass of these iterators follows them.
    let mut flags = kinds.iter().zip(in_progress.iter());
    let mut traces: Vec<Trace> = Vec::with_capacity(runs.traces());
    let root_key = |row: usize| -> RootKey { (parents.get(row).is_some(), starts.get(row), ids.get(row)) };
    for (rows, id) in runs.iter() {
        // Ids are numbered by first appearance: a new trace's first run has the next id.
        if id as usize == traces.len() {
            traces.push(Trace::new(rows.start as IdxSize));
        }
        let trace = &mut traces[id as usize];
        for (row, (kind, progress)) in rows.zip(&mut flags) {
            let start = starts.get(row);
            trace.spans += 1;
            trace.start_us = min_some(trace.start_us, start);
            // An open span counts up to its start.
            trace.end_us = max_some(trace.end_us, ends.get(row).or(start));
            trace.partial |= progress.unwrap_or(false);
            if let Some(start) = start.filter(|start| *start >= from_us && *start < to_us) {
                trace.matched_us = min_some(trace.matched_us, Some(start));
            }
            if kind == Some(SEGMENT) && (trace.root_row == NO_ROW || root_key(row) < root_key(trace.root_row as usize))
            {
                trace.root_row = row as IdxSize;
            }
        }
    }
    Ok(traces)
}

/// A numeric column of one chunk, read in place (no copy of the values).
struct Values<'a, T: PolarsNumericType> {
    values: &'a [T::Native],
    validity: Option<&'a polars_arrow::bitmap::Bitmap>,
}

impl<'a, T: PolarsNumericType> Values<'a, T> {
    /// `column` must be one chunk (rechunked); an empty column has none.
    fn of(column: &'a ChunkedArray<T>) -> Self {
        match column.downcast_iter().next() {
            Some(array) => Values { values: array.values().as_slice(), validity: array.validity() },
            None => Values { values: &[], validity: None },
        }
    }

    fn get(&self, row: usize) -> Option<T::Native> {
        let valid = self.validity.is_none_or(|validity| validity.get_bit(row));
        valid.then(|| self.values[row])
    }
}

impl Trace {
    fn new(first_row: IdxSize) -> Trace {
        Trace { first_row, root_row: NO_ROW, start_us: None, end_us: None, matched_us: None, spans: 0, partial: false }
    }
}

/// The smaller of two values, ignoring nulls (polars' `min`).
fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The larger of two values, ignoring nulls (polars' `max`).
fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[path = "trace_aggregates_tests.rs"]
mod tests;
