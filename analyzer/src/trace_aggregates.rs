//! The per-trace pass under [`crate::trace_frame`]: one walk over the collected spans in Rust,
//! instead of polars' join, group-by, sort and second group-by.
//!
//! - Each run of rows of one trace gets its trace's dense id (`trace_runs.rs`), and each
//!   trace's start, end, span count, in-range start and partial flag are folded in as the
//!   rows pass.
//! - The root segment is an arg-min per trace over the segments' keys (has a parent, start,
//!   id), kept on the first of equal keys: the same choice as a stable sort by those keys
//!   followed by the group's first row, without the sort.
//! - The root candidate's values are taken as the fold passes its row, so only traces the
//!   range selects are output, straight from the fold (root values null for a trace without a
//!   segment); a filter's `http` columns are gathered by polars from the roots' rows.

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;
use polars_arrow::array::{BooleanArray, PrimitiveArray, Utf8ViewArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::types::NativeType;

use crate::error::Result;
use crate::spans::column_chunks;
use crate::threads::joined;
use crate::trace_frame::TimeRangeType;
use crate::trace_runs::TraceRuns;

const SEGMENT: &str = "segment";

/// What one trace's rows fold into.
#[derive(Debug, Clone)]
struct Trace {
    /// The root segment so far, none until a segment is seen.
    root: Option<Root>,
    start_us: Option<i64>,
    end_us: Option<i64>,
    matched_us: Option<i64>,
    spans: IdxSize,
    partial: bool,
}

/// A trace's root segment candidate: its row, its key and the values the trace frame shows.
#[derive(Debug, Clone, Copy)]
struct Root {
    row: IdxSize,
    key: RootKey,
    end_us: Option<i64>,
    /// `error`, `fault`, `throttle`.
    flags: [Option<bool>; 3],
}

/// Ordering of root candidates: a segment without a parent first, then the earliest, then the
/// smallest id (nulls first, as polars sorts them).
type RootKey = (bool, Option<i64>, Option<u64>);

/// One row per trace of `spans` selected by the range, with `trace_hi`, `trace_lo`,
/// `start_us`, `end_us`, `partial`, `matched_us`, `spans` and `root_<name>` for the root
/// segment's `start_us`, `end_us`, `error`, `fault`, `throttle`, `id` and `http` columns.
pub(crate) fn trace_aggregates(
    spans: &DataFrame,
    from_us: i64,
    to_us: i64,
    range: TimeRangeType,
    http: &[&str],
) -> Result<DataFrame> {
    let (traces, runs) = fold_traces(spans, from_us, to_us)?;
    let selected: Vec<(usize, &Trace)> = traces
        .iter()
        .enumerate()
        .filter(|(_, trace)| match range {
            TimeRangeType::TraceId => trace.start_us.is_some_and(|start| start >= from_us && start < to_us),
            TimeRangeType::Event => trace.matched_us.is_some(),
        })
        .collect();
    let ids = selected.iter().map(|(id, _)| runs.trace(*id));
    let numbers =
        |value: fn(&Trace) -> Option<i64>| selected.iter().map(|(_, trace)| value(trace)).collect::<Int64Chunked>();
    let roots = || selected.iter().map(|(_, trace)| trace.root);
    let root_flag =
        |flag: usize| roots().map(|root| root.and_then(|root| root.flags[flag])).collect::<BooleanChunked>();
    let columns: Vec<(&str, Column)> = vec![
        (TRACE_HI, ids.clone().map(|(hi, _)| hi).collect::<UInt64Chunked>().into_column()),
        (TRACE_LO, ids.map(|(_, lo)| lo).collect::<UInt64Chunked>().into_column()),
        (columns::START_US, numbers(|trace| trace.start_us).into_column()),
        (columns::END_US, numbers(|trace| trace.end_us).into_column()),
        ("partial", selected.iter().map(|(_, trace)| Some(trace.partial)).collect::<BooleanChunked>().into_column()),
        ("matched_us", numbers(|trace| trace.matched_us).into_column()),
        ("spans", IdxCa::from_vec("".into(), selected.iter().map(|(_, trace)| trace.spans).collect()).into_column()),
        ("root_start_us", roots().map(|root| root.and_then(|root| root.key.1)).collect::<Int64Chunked>().into_column()),
        ("root_end_us", roots().map(|root| root.and_then(|root| root.end_us)).collect::<Int64Chunked>().into_column()),
        ("root_error", root_flag(0).into_column()),
        ("root_fault", root_flag(1).into_column()),
        ("root_throttle", root_flag(2).into_column()),
        ("root_id", roots().map(|root| root.and_then(|root| root.key.2)).collect::<UInt64Chunked>().into_column()),
    ];
    let mut frame =
        DataFrame::new_infer_height(columns.into_iter().map(|(name, values)| values.with_name(name.into())).collect())?;
    // The `http` columns a filter reads are few and gathered by polars; most queries read none.
    if !http.is_empty() {
        let root_rows: IdxCa = roots().map(|root| root.map(|root| root.row)).collect();
        let values = spans.select(http.iter().copied())?.take(&root_rows)?;
        for values in values.columns() {
            let name = format!("root_{}", values.name());
            frame.with_column(values.clone().with_name(name.into()))?;
        }
    }
    Ok(frame)
}

/// Every trace of `spans`, in order of first row. The columns are read where they lie, chunk
/// by chunk (a copy into one chunk each cost as much as the fold): the runs cover the rows in
/// order, and the root candidate's key is kept with its trace, so no row is read twice. The
/// two halves of the runs are folded on two threads: ids are numbered by first appearance, so
/// the second half's traces are new but for the few that also have runs in the first half.
fn fold_traces(spans: &DataFrame, from_us: i64, to_us: i64) -> Result<(Vec<Trace>, TraceRuns)> {
    let runs = TraceRuns::of(spans.column(TRACE_HI)?.u64()?, spans.column(TRACE_LO)?.u64()?);
    let mut aligned = std::borrow::Cow::Borrowed(spans);
    if spans.should_rechunk() {
        aligned.to_mut().align_chunks_par();
    }
    let chunks = FoldChunk::of(&aligned)?;
    let (middle, range) = (runs.len() / 2, (from_us, to_us));
    let first_of_second = runs.traces_in_first(middle);
    let (mut traces, (later, earlier)) = std::thread::scope(|scope| {
        let second = scope.spawn(|| fold_runs(&chunks, runs.iter_runs(middle..runs.len()), first_of_second, range));
        let (first, _) = fold_runs(&chunks, runs.iter_runs(0..middle), 0, range);
        (first, joined(second))
    });
    for (id, trace) in earlier {
        traces[id as usize].merge(trace);
    }
    traces.extend(later);
    Ok((traces, runs))
}

/// Folds these runs: the traces with ids from `first_id` on, by id, and those with smaller ids
/// (seen in earlier runs too) apart. A run is folded a chunk at a time, in a loop over that
/// chunk's rows.
fn fold_runs(
    chunks: &[FoldChunk<'_>],
    runs: impl Iterator<Item = (std::ops::Range<usize>, u32)>,
    first_id: usize,
    range: (i64, i64),
) -> (Vec<Trace>, PlHashMap<u32, Trace>) {
    let (mut chunk, mut chunk_start) = (0, 0usize);
    // Sized for a trace per run, the usual case: growing it copied every trace folded so far.
    let mut traces: Vec<Trace> = Vec::with_capacity(runs.size_hint().0);
    let mut earlier: PlHashMap<u32, Trace> = PlHashMap::new();
    for (rows, id) in runs {
        let trace = match (id as usize).checked_sub(first_id) {
            // Ids are numbered by first appearance: a new trace's first run has the next id.
            Some(index) if index == traces.len() => {
                traces.push(Trace::new());
                &mut traces[index]
            }
            Some(index) => &mut traces[index],
            None => earlier.entry(id).or_insert_with(Trace::new),
        };
        let mut row = rows.start;
        while row < rows.end {
            // Past the last chunk the runs have ended: the rows are the frame's.
            let Some(columns) = chunks.get(chunk) else { break };
            if row >= chunk_start + columns.rows {
                (chunk_start, chunk) = (chunk_start + columns.rows, chunk + 1);
                continue;
            }
            let end = rows.end.min(chunk_start + columns.rows);
            columns.fold(trace, row - chunk_start..end - chunk_start, chunk_start, range);
            row = end;
        }
    }
    (traces, earlier)
}

/// One chunk of the columns [`fold_traces`] reads (the frame's chunks aligned), as slices: a
/// column without nulls in the chunk, as ids, times and kinds are written, is read without a
/// validity test per row, and `in_progress` not at all when no span of the chunk is.
struct FoldChunk<'a> {
    rows: usize,
    ids: Nullable<'a, u64>,
    parents: Nullable<'a, u64>,
    starts: Nullable<'a, i64>,
    ends: Nullable<'a, i64>,
    kinds: &'a Utf8ViewArray,
    in_progress: Option<&'a BooleanArray>,
    /// `error`, `fault`, `throttle`: read on a root candidate's row only.
    flags: [&'a BooleanArray; 3],
}

/// A numeric chunk's values, and its validity when it has nulls.
struct Nullable<'a, T> {
    values: &'a [T],
    validity: Option<&'a Bitmap>,
}

impl<'a, T: NativeType> Nullable<'a, T> {
    fn of(array: &'a PrimitiveArray<T>) -> Self {
        Nullable { values: array.values().as_slice(), validity: array.validity().filter(|bits| bits.unset_bits() > 0) }
    }

    #[inline]
    fn get(&self, row: usize) -> Option<T> {
        match self.validity {
            Some(validity) if !validity.get_bit(row) => None,
            _ => Some(self.values[row]),
        }
    }
}

/// What [`fold_traces`] reads of one span.
struct FoldSpan {
    id: Option<u64>,
    parent: Option<u64>,
    start_us: Option<i64>,
    end_us: Option<i64>,
    segment: bool,
    in_progress: bool,
}

impl<'a> FoldChunk<'a> {
    fn of(spans: &'a DataFrame) -> Result<Vec<Self>> {
        let ids = |name: &str| column_chunks::<UInt64Type>(spans, name);
        let times = |name: &str| column_chunks::<Int64Type>(spans, name);
        let (ids, parents, starts, ends) =
            (ids(columns::ID)?, ids(columns::PARENT_ID)?, times(columns::START_US)?, times(columns::END_US)?);
        let kinds = column_chunks::<StringType>(spans, columns::KIND)?;
        let flags = |name: &str| column_chunks::<BooleanType>(spans, name);
        let (in_progress, errors, faults, throttles) =
            (flags(columns::IN_PROGRESS)?, flags(columns::ERROR)?, flags(columns::FAULT)?, flags(columns::THROTTLE)?);
        Ok((0..ids.len())
            .map(|chunk| FoldChunk {
                rows: ids[chunk].len(),
                ids: Nullable::of(ids[chunk]),
                parents: Nullable::of(parents[chunk]),
                starts: Nullable::of(starts[chunk]),
                ends: Nullable::of(ends[chunk]),
                kinds: kinds[chunk],
                in_progress: Some(in_progress[chunk]).filter(|flags| flags.values().set_bits() > 0),
                flags: [errors[chunk], faults[chunk], throttles[chunk]],
            })
            .collect())
    }

    /// Folds `rows` of this chunk, which starts at `first_row` of the frame, into `trace`.
    fn fold(&self, trace: &mut Trace, rows: std::ops::Range<usize>, first_row: usize, (from_us, to_us): (i64, i64)) {
        for row in rows {
            let span = self.span(row);
            trace.add(&span, from_us, to_us);
            if span.segment {
                let key: RootKey = (span.parent.is_some(), span.start_us, span.id);
                if trace.root.is_none_or(|root| key < root.key) {
                    let row_in_frame = (first_row + row) as IdxSize;
                    let flags = self.flags.map(|flags| flags.get(row));
                    trace.root = Some(Root { row: row_in_frame, key, end_us: span.end_us, flags });
                }
            }
        }
    }

    #[inline]
    fn span(&self, row: usize) -> FoldSpan {
        FoldSpan {
            id: self.ids.get(row),
            parent: self.parents.get(row),
            start_us: self.starts.get(row),
            end_us: self.ends.get(row),
            segment: self.is_segment(row),
            in_progress: self.in_progress.is_some_and(|flags| flags.get(row) == Some(true)),
        }
    }

    /// A view holds its string's length, so only a row of `SEGMENT`'s length is compared.
    #[inline]
    fn is_segment(&self, row: usize) -> bool {
        self.kinds.views()[row].length as usize == SEGMENT.len() && self.kinds.get(row) == Some(SEGMENT)
    }
}

impl Trace {
    fn new() -> Trace {
        Trace { root: None, start_us: None, end_us: None, matched_us: None, spans: 0, partial: false }
    }

    /// Folds in a span, but for the root choice, which needs its row's other values.
    fn add(&mut self, span: &FoldSpan, from_us: i64, to_us: i64) {
        self.spans += 1;
        self.start_us = min_some(self.start_us, span.start_us);
        // An open span counts up to its start.
        self.end_us = max_some(self.end_us, span.end_us.or(span.start_us));
        self.partial |= span.in_progress;
        if let Some(start) = span.start_us.filter(|start| *start >= from_us && *start < to_us) {
            self.matched_us = min_some(self.matched_us, Some(start));
        }
    }

    /// Folds in the same trace's rows that come after this fold's.
    fn merge(&mut self, later: Trace) {
        self.spans += later.spans;
        self.start_us = min_some(self.start_us, later.start_us);
        self.end_us = max_some(self.end_us, later.end_us);
        self.partial |= later.partial;
        self.matched_us = min_some(self.matched_us, later.matched_us);
        // On equal keys the earlier row stays, as in one fold.
        if let Some(root) = later.root {
            if self.root.is_none_or(|current| root.key < current.key) {
                self.root = Some(root);
            }
        }
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
