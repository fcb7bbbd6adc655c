//! The one way analyses read spans: a time range of the store as a deduplicated lazy frame.
//!
//! - Until compaction a scan may hold two versions of one span (same trace and id, from
//!   different blocks or from a block and recent data). Every analysis wants exactly one, by the
//!   store's rule (`compaction::preferred_version`): a completed version beats an in-progress
//!   one, then the later arrival (`sequence`) wins.
//! - Applying that rule is a window over every row, which costs as much as the rest of a query.
//!   The store says which traces of a scan may have two versions of a span (its
//!   `shared_traces`: those with spans in two sources, usually few); only their rows go
//!   through the window, the others pass through unchanged. When the store cannot tell (blocks
//!   from before it kept the list), the rows whose span occurs twice are found by counting
//!   keys, and only those go through the window.
//! - The trace id stays as its two `u64` halves (`trace_hi`, `trace_lo`): grouping and joining
//!   on two integer columns is cheap, and [`trace_id`] rebuilds the id for output.
//! - The raw `document` column is left out: it is the largest column and no analysis reads it.

use std::collections::HashSet;

use fluoro_proto::TraceId;
use fluoro_store::{SharedTraces, Store};
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

/// The columns [`deduplicate`] reads: the span's key and what the replace rule compares.
const VERSION_COLUMNS: &[&str] = &[TRACE_HI, TRACE_LO, "id", "in_progress", "sequence"];

/// Spans starting in `[from_us, to_us)`, one version per span (see the module doc), with
/// exactly `columns` (from [`SPAN_COLUMNS`]), in that order. Only those are read from the
/// blocks (plus what deduplication needs), so each analysis names the few it uses: reading
/// every column costs more than the rest of a typical query. Lazy: callers add their own
/// selections and aggregations before collecting.
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
    let scan = store.scan(from_us, to_us, &with_version_columns(columns), predicate)?;
    let spans = match &scan.shared_traces {
        SharedTraces::Any => deduplicate_repeated(scan.spans.collect()?)?.lazy(),
        SharedTraces::Only(traces) if traces.is_empty() => scan.spans,
        SharedTraces::Only(traces) => deduplicate_traces(scan.spans.collect()?, traces)?.lazy(),
    };
    Ok(spans.select(columns.iter().map(|name| col(*name)).collect::<Vec<_>>()))
}

/// Collects spans into one chunk per column: a scan of several blocks (and the deduplicated
/// rows appended after the others) comes back in many small chunks, and the trace-keyed
/// group-bys that follow run about twice as long over those as over one chunk.
pub fn collect_spans(spans: LazyFrame) -> Result<DataFrame> {
    let mut frame = spans.collect()?;
    frame.rechunk_mut_par();
    Ok(frame)
}

/// [`deduplicate`] applied to the rows of `traces` only; every other row is kept as it is.
fn deduplicate_traces(spans: DataFrame, traces: &HashSet<TraceId>) -> Result<DataFrame> {
    let (his, los): (Vec<u64>, Vec<u64>) = traces.iter().map(|id| trace_halves(*id)).unzip();
    // Each half tested alone admits cross pairs (one trace's hi, another's lo); those rows
    // just go through the window too, where they are kept.
    let shared = col(TRACE_HI)
        .is_in(lit(Series::new("his".into(), his)).implode(false), false)
        .and(col(TRACE_LO).is_in(lit(Series::new("los".into(), los)).implode(false), false));
    let mask = spans.clone().lazy().select([shared.alias("__shared")]).collect()?;
    split_deduplicate(spans, mask.column("__shared")?.bool()?)
}

/// [`deduplicate`] applied to the rows whose span may occur more than once, for scans where
/// the store cannot tell which traces those are: finding repeated keys by sorting their hashes
/// is several times cheaper than the window over every row, and few rows are left for it.
fn deduplicate_repeated(spans: DataFrame) -> Result<DataFrame> {
    let repeated = repeated_spans(&spans)?;
    if !repeated.any() {
        return Ok(spans);
    }
    split_deduplicate(spans, &repeated)
}

/// Whether each row's `(trace_hi, trace_lo, id)` may occur on another row too: its hash does.
/// A hash collision only sends a few more rows through the window, which keeps them.
fn repeated_spans(spans: &DataFrame) -> Result<BooleanChunked> {
    let column = |name: &str| -> Result<&UInt64Chunked> { Ok(spans.column(name)?.u64()?) };
    let (his, los, ids) = (column(TRACE_HI)?, column(TRACE_LO)?, column("id")?);
    let hashes: Vec<u64> =
        his.iter().zip(los.iter()).zip(ids.iter()).map(|((hi, lo), id)| span_hash(hi, lo, id)).collect();
    let mut sorted = hashes.clone();
    sorted.sort_unstable();
    let repeated: PlHashSet<u64> = sorted.windows(2).filter(|pair| pair[0] == pair[1]).map(|pair| pair[0]).collect();
    Ok(hashes.iter().map(|hash| Some(repeated.contains(hash))).collect())
}

/// A 64-bit mix of a span's key (splitmix64's finaliser over the three words).
fn span_hash(hi: Option<u64>, lo: Option<u64>, id: Option<u64>) -> u64 {
    let mut x =
        hi.unwrap_or_default() ^ lo.unwrap_or_default().rotate_left(21) ^ id.unwrap_or_default().rotate_left(42);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The rows under `mask` deduplicated, appended to the others unchanged.
fn split_deduplicate(spans: DataFrame, mask: &BooleanChunked) -> Result<DataFrame> {
    let single = spans.filter(&!mask)?;
    let versions = deduplicate(spans.filter(mask)?.lazy())?.collect()?;
    Ok(single.vstack(&versions)?)
}

/// `columns` plus the [`VERSION_COLUMNS`] it lacks.
fn with_version_columns<'a>(columns: &[&'a str]) -> Vec<&'a str> {
    let mut scanned = columns.to_vec();
    scanned.extend(VERSION_COLUMNS.iter().filter(|name| !columns.contains(name)));
    scanned
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions of span (1, 1, 7): in progress (3), completed (5), a later in-progress resend
    /// (9); of (1, 2, 7): two completed, the later (8) wins; (2, 1, 7) and (1, 1, 8) are alone.
    fn spans() -> DataFrame {
        df!(
            TRACE_HI => [1u64, 1, 2, 1, 1, 1, 1],
            TRACE_LO => [1u64, 1, 1, 1, 2, 2, 1],
            "id" => [7u64, 7, 7, 8, 7, 7, 7],
            "in_progress" => [true, false, false, false, false, false, true],
            "sequence" => [3u64, 5, 1, 2, 4, 8, 9],
        )
        .unwrap()
    }

    fn sequences(frame: DataFrame) -> Vec<u64> {
        let mut kept: Vec<u64> = frame.column("sequence").unwrap().u64().unwrap().into_no_null_iter().collect();
        kept.sort_unstable();
        kept
    }

    #[test]
    fn repeated_key_deduplication_keeps_what_the_full_window_keeps() {
        let full = deduplicate(spans().lazy()).unwrap().collect().unwrap();
        assert_eq!(sequences(full), vec![1, 2, 5, 8]);
        assert_eq!(sequences(deduplicate_repeated(spans()).unwrap()), vec![1, 2, 5, 8]);
    }

    #[test]
    fn only_the_shared_traces_are_deduplicated() {
        let shared: HashSet<TraceId> = [trace_id(1, 1)].into_iter().collect();
        // Trace (1, 2) is not named, so both its versions pass through.
        assert_eq!(sequences(deduplicate_traces(spans(), &shared).unwrap()), vec![1, 2, 4, 5, 8]);
    }
}
