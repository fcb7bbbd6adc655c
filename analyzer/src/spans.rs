//! The one way analyses read spans: a time range of the store as a lazy frame with one version
//! per span (the store applies its replace rule in `Store::scan`).
//!
//! - The trace id stays as its two `u64` halves (`trace_hi`, `trace_lo`): grouping and joining
//!   on two integer columns is cheap, and `TraceId::from_halves` rebuilds the id for output.
//! - Column names are the store's (`fluoro_store::columns`); the raw `document` column is left
//!   out of [`SPAN_COLUMNS`]: it is the largest column and no analysis reads it.

use fluoro_store::columns::{TRACE_HI, TRACE_LO};
use fluoro_store::Store;
use polars::prelude::*;
use polars_arrow::array::{Array, PrimitiveArray};
use polars_arrow::types::NativeType;

use crate::error::Result;

pub use fluoro_store::columns::SPAN_COLUMNS;

/// Spans starting in `[from_us, to_us)`, one version per span, with exactly `columns` (from
/// [`SPAN_COLUMNS`]), in that order. Only those are read from the blocks, so each analysis
/// names the few it uses: reading every column costs more than the rest of a typical query.
/// Lazy: callers add their own selections and aggregations before collecting.
pub fn load_spans(store: &Store, from_us: i64, to_us: i64, columns: &[&str]) -> Result<LazyFrame> {
    load_spans_matching(store, from_us, to_us, columns, None)
}

/// [`load_spans`] of the rows matching `predicate` (pushed into the scan). The predicate must
/// hold for all versions of a span or for none, e.g. a test on the trace id.
pub(crate) fn load_spans_matching(
    store: &Store,
    from_us: i64,
    to_us: i64,
    columns: &[&str],
    predicate: Option<Expr>,
) -> Result<LazyFrame> {
    Ok(store.scan(from_us, to_us, columns, predicate)?)
}

/// Collects spans into one chunk per column: a scan of several blocks (and the deduplicated
/// rows appended after the others) comes back in many small chunks, and the trace-keyed
/// group-bys that follow run about twice as long over those as over one chunk.
pub fn collect_spans(spans: LazyFrame) -> Result<DataFrame> {
    let mut frame = spans.collect()?;
    frame.rechunk_mut_par();
    Ok(frame)
}

/// The chunks of a collected frame's column of type `T`, as they lie: the passes over a scan's
/// rows read them chunk by chunk (an iterator over all chunks is stepped row by row).
pub(crate) fn column_chunks<'a, T: PolarsPhysicalType>(frame: &'a DataFrame, name: &str) -> Result<Vec<&'a T::Array>> {
    Ok(frame.column(name)?.as_materialized_series().unpack::<T>()?.downcast_iter().collect())
}

/// A numeric array's value on `row`, none when null (boolean and string arrays have `get`).
pub(crate) fn value_at<T: NativeType>(array: &PrimitiveArray<T>, row: usize) -> Option<T> {
    array.is_valid(row).then(|| array.value(row))
}

/// The grouping key of a trace: `[trace_hi, trace_lo]`.
pub fn trace_key() -> [Expr; 2] {
    [col(TRACE_HI), col(TRACE_LO)]
}
