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
use polars_arrow::array::{Array, BooleanArray, PrimitiveArray, View};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::types::NativeType;

use crate::error::Result;
use crate::spans::column_chunks;
use crate::threads::joined;
use crate::trace_frame::TimeRangeType;
use crate::trace_runs::TraceRuns;
use crate::value_columns::{Flags, Numbers};

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
    let selected = |trace: &Trace| match range {
        TimeRangeType::TraceId => trace.start_us.is_some_and(|start| start >= from_us && start < to_us),
        TimeRangeType::Event => trace.matched_us.is_some(),
    };
    // Each half's traces become a chunk of the frame, the halves on two threads.
    let frame_of = |traces: &TraceBlocks, first_id: usize| {
        let mut columns = FrameColumns::with_capacity(traces.len(), !http.is_empty());
        for (id, trace) in (first_id..).zip(traces.iter()).filter(|(_, trace)| selected(trace)) {
            columns.push(runs.trace(id), trace);
        }
        columns.finish()
    };
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| frame_of(&traces.second, traces.first.len()));
        (frame_of(&traces.first, 0), joined(second))
    });
    let ((mut frame, mut root_rows), (second_frame, second_rows)) = (first?, second?);
    frame.vstack_mut_owned(second_frame)?;
    root_rows.append_owned(second_rows)?;
    // The `http` columns a filter reads are few and gathered by polars; most queries read none.
    if !http.is_empty() {
        let values = spans.select(http.iter().copied())?.take(&root_rows)?;
        for values in values.columns() {
            let name = format!("root_{}", values.name());
            frame.with_column(values.clone().with_name(name.into()))?;
        }
    }
    Ok(frame)
}

/// The trace frame's columns, filled a trace at a time: the traces (120 bytes each) are read
/// once, where a pass per column read them all thirteen times (22 ms at 250k traces).
struct FrameColumns {
    his: Numbers<UInt64Type>,
    los: Numbers<UInt64Type>,
    starts: Numbers<Int64Type>,
    ends: Numbers<Int64Type>,
    partial: Flags,
    matched: Numbers<Int64Type>,
    spans: Vec<IdxSize>,
    root_starts: Numbers<Int64Type>,
    root_ends: Numbers<Int64Type>,
    root_flags: [Flags; 3],
    root_ids: Numbers<UInt64Type>,
    /// The roots' rows in the spans, when a filter's `http` columns are gathered from them.
    root_rows: Option<Vec<Option<IdxSize>>>,
}

impl FrameColumns {
    fn with_capacity(traces: usize, root_rows: bool) -> Self {
        FrameColumns {
            his: Numbers::with_capacity(traces),
            los: Numbers::with_capacity(traces),
            starts: Numbers::with_capacity(traces),
            ends: Numbers::with_capacity(traces),
            partial: Flags::with_capacity(traces),
            matched: Numbers::with_capacity(traces),
            spans: Vec::with_capacity(traces),
            root_starts: Numbers::with_capacity(traces),
            root_ends: Numbers::with_capacity(traces),
            root_flags: std::array::from_fn(|_| Flags::with_capacity(traces)),
            root_ids: Numbers::with_capacity(traces),
            root_rows: root_rows.then(|| Vec::with_capacity(traces)),
        }
    }

    fn push(&mut self, (hi, lo): (Option<u64>, Option<u64>), trace: &Trace) {
        self.his.push(hi);
        self.los.push(lo);
        self.starts.push(trace.start_us);
        self.ends.push(trace.end_us);
        self.partial.push(Some(trace.partial));
        self.matched.push(trace.matched_us);
        self.spans.push(trace.spans);
        let root = trace.root.as_ref();
        self.root_starts.push(root.and_then(|root| root.key.1));
        self.root_ends.push(root.and_then(|root| root.end_us));
        for (flag, values) in self.root_flags.iter_mut().enumerate() {
            values.push(root.and_then(|root| root.flags[flag]));
        }
        self.root_ids.push(root.and_then(|root| root.key.2));
        if let Some(rows) = &mut self.root_rows {
            rows.push(root.map(|root| root.row));
        }
    }

    /// The frame, and the roots' rows when asked for.
    fn finish(self) -> Result<(DataFrame, IdxCa)> {
        let [errors, faults, throttles] = self.root_flags;
        let columns = vec![
            self.his.finish(TRACE_HI),
            self.los.finish(TRACE_LO),
            self.starts.finish(columns::START_US),
            self.ends.finish(columns::END_US),
            self.partial.finish("partial"),
            self.matched.finish("matched_us"),
            IdxCa::from_vec("spans".into(), self.spans).into_column(),
            self.root_starts.finish("root_start_us"),
            self.root_ends.finish("root_end_us"),
            errors.finish("root_error"),
            faults.finish("root_fault"),
            throttles.finish("root_throttle"),
            self.root_ids.finish("root_id"),
        ];
        let root_rows = self.root_rows.unwrap_or_default().into_iter().collect();
        Ok((DataFrame::new_infer_height(columns)?, root_rows))
    }
}

/// Every trace of `spans`, in order of first row. The columns are read where they lie, chunk
/// by chunk (a copy into one chunk each cost as much as the fold): the runs cover the rows in
/// order, and the root candidate's key is kept with its trace, so no row is read twice. The
/// two halves of the runs are folded on two threads: ids are numbered by first appearance, so
/// the second half's traces are new but for the few that also have runs in the first half.
fn fold_traces(spans: &DataFrame, from_us: i64, to_us: i64) -> Result<(FoldedTraces, TraceRuns)> {
    let runs = TraceRuns::of(spans.column(TRACE_HI)?.u64()?, spans.column(TRACE_LO)?.u64()?);
    let mut aligned = std::borrow::Cow::Borrowed(spans);
    if spans.should_rechunk() {
        aligned.to_mut().align_chunks_par();
    }
    let chunks = FoldChunk::of(&aligned)?;
    let (middle, range) = (runs.len() / 2, (from_us, to_us));
    let first_of_second = runs.traces_in_first(middle);
    let (mut first, (second, earlier)) = std::thread::scope(|scope| {
        let second_half = runs.iter_runs(middle..runs.len());
        let second = scope.spawn(|| fold_runs(&chunks, second_half, first_of_second, runs.traces(), range));
        let (first, _) = fold_runs(&chunks, runs.iter_runs(0..middle), 0, first_of_second, range);
        (first, joined(second))
    });
    for (id, trace) in earlier {
        first.get_mut(id as usize).merge(trace);
    }
    Ok((FoldedTraces { first, second }, runs))
}

/// Every trace of a fold, by id: each half's traces as that half folded them, the second's ids
/// following the first's (not appended to them, a copy of ~15 MB at 250k traces).
struct FoldedTraces {
    first: TraceBlocks,
    second: TraceBlocks,
}

/// Traces by index, in blocks of [`TRACES_PER_BLOCK`]: one vector of them is 50 MB a half at
/// 10M spans, past jemalloc's oversize threshold (32 MiB), above which memory is handed back
/// when freed and faulted in afresh by the next query; blocks of 7.5 MB are reused.
#[derive(Debug)]
struct TraceBlocks {
    blocks: Vec<Vec<Trace>>,
    len: usize,
    /// How many traces are expected: the last block is sized for them, not for a full block.
    expected: usize,
}

const TRACES_PER_BLOCK: usize = 1 << 16;

impl TraceBlocks {
    fn expecting(expected: usize) -> Self {
        TraceBlocks { blocks: Vec::new(), len: 0, expected }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, trace: Trace) {
        self.len += 1;
        match self.blocks.last_mut() {
            Some(block) if block.len() < TRACES_PER_BLOCK => block.push(trace),
            _ => {
                let before = self.len - 1;
                let mut block = Vec::with_capacity(self.expected.saturating_sub(before).clamp(1, TRACES_PER_BLOCK));
                block.push(trace);
                self.blocks.push(block);
            }
        }
    }

    fn get_mut(&mut self, index: usize) -> &mut Trace {
        &mut self.blocks[index / TRACES_PER_BLOCK][index % TRACES_PER_BLOCK]
    }

    fn iter(&self) -> impl Iterator<Item = &Trace> {
        self.blocks.iter().flatten()
    }
}

/// Folds these runs: the traces with ids from `first_id` to `end_id` (excluded), by id, and
/// those with smaller ids (seen in earlier runs too) apart. A run is folded a chunk at a time, in a loop over that
/// chunk's rows.
fn fold_runs(
    chunks: &[FoldChunk<'_>],
    runs: impl Iterator<Item = (std::ops::Range<usize>, u32)>,
    first_id: usize,
    end_id: usize,
    range: (i64, i64),
) -> (TraceBlocks, PlHashMap<u32, Trace>) {
    let (mut chunk, mut chunk_start) = (0, 0usize);
    let mut traces = TraceBlocks::expecting(end_id - first_id);
    let mut earlier: PlHashMap<u32, Trace> = PlHashMap::new();
    for (rows, id) in runs {
        let trace = match (id as usize).checked_sub(first_id) {
            // Ids are numbered by first appearance: a new trace's first run has the next id.
            Some(index) if index == traces.len() => {
                traces.push(Trace::new());
                traces.get_mut(index)
            }
            Some(index) => traces.get_mut(index),
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
    kinds: &'a [View],
    /// The kinds' validity, when some are null.
    kinds_valid: Option<Bits<'a>>,
    in_progress: Option<&'a BooleanArray>,
    /// `error`, `fault`, `throttle`: read on a root candidate's row only.
    flags: [&'a BooleanArray; 3],
}

/// A numeric chunk's values, and its validity when it has nulls.
struct Nullable<'a, T> {
    values: &'a [T],
    validity: Option<Bits<'a>>,
}

/// A validity bitmap's bytes, read per row straight from the slice: through `Bitmap::get_bit`
/// each row reloaded the bitmap's storage pointers, a fifth of the fold's time.
#[derive(Clone, Copy)]
struct Bits<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Bits<'a> {
    /// `bitmap`'s bits, none when every bit is set (nothing to test).
    fn unless_all_set(bitmap: Option<&'a Bitmap>) -> Option<Self> {
        let bitmap = bitmap.filter(|bits| bits.unset_bits() > 0)?;
        let (bytes, offset, _) = bitmap.as_slice();
        Some(Bits { bytes, offset })
    }

    #[inline]
    fn get(self, row: usize) -> bool {
        let bit = row + self.offset;
        self.bytes[bit / 8] & (1 << (bit % 8)) != 0
    }
}

impl<'a, T: NativeType> Nullable<'a, T> {
    fn of(array: &'a PrimitiveArray<T>) -> Self {
        Nullable { values: array.values().as_slice(), validity: Bits::unless_all_set(array.validity()) }
    }

    #[inline]
    fn get(&self, row: usize) -> Option<T> {
        match self.validity {
            Some(validity) if !validity.get(row) => None,
            _ => Some(self.values[row]),
        }
    }
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
                kinds: kinds[chunk].views().as_slice(),
                kinds_valid: Bits::unless_all_set(kinds[chunk].validity()),
                in_progress: Some(in_progress[chunk]).filter(|flags| flags.values().set_bits() > 0),
                flags: [errors[chunk], faults[chunk], throttles[chunk]],
            })
            .collect())
    }

    /// Folds `rows` of this chunk, which starts at `first_row` of the frame, into `trace`. A
    /// row's id and parent are read only when it is a segment, a root candidate.
    fn fold(&self, trace: &mut Trace, rows: std::ops::Range<usize>, first_row: usize, (from_us, to_us): (i64, i64)) {
        trace.spans += rows.len() as IdxSize;
        let all_valid = self.starts.validity.is_none() && self.ends.validity.is_none();
        if all_valid && self.in_progress.is_none() {
            self.fold_times(trace, rows.clone(), (from_us, to_us));
        } else {
            for row in rows.clone() {
                trace.add_times(self.starts.get(row), self.ends.get(row), from_us, to_us);
                trace.partial |= self.in_progress.is_some_and(|flags| flags.get(row) == Some(true));
            }
        }
        for row in rows {
            if self.is_segment(row) {
                let start_us = self.starts.get(row);
                let key: RootKey = (self.parents.get(row).is_some(), start_us, self.ids.get(row));
                if trace.root.is_none_or(|root| key < root.key) {
                    let row_in_frame = (first_row + row) as IdxSize;
                    let flags = self.flags.map(|flags| flags.get(row));
                    trace.root = Some(Root { row: row_in_frame, key, end_us: self.ends.get(row), flags });
                }
            }
        }
    }

    /// [`Trace::add_times`] over rows whose times are all present, as slices: no branch per row.
    fn fold_times(&self, trace: &mut Trace, rows: std::ops::Range<usize>, (from_us, to_us): (i64, i64)) {
        let (starts, ends) = (&self.starts.values[rows.clone()], &self.ends.values[rows]);
        let (mut first, mut last, mut matched) = (i64::MAX, i64::MIN, i64::MAX);
        for (start, end) in starts.iter().zip(ends) {
            first = first.min(*start);
            last = last.max(*end);
            let in_range = *start >= from_us && *start < to_us;
            matched = matched.min(if in_range { *start } else { i64::MAX });
        }
        if !starts.is_empty() {
            trace.start_us = min_some(trace.start_us, Some(first));
            trace.end_us = max_some(trace.end_us, Some(last));
        }
        // A start in the range is below `to_us`, so never `i64::MAX`.
        if matched != i64::MAX {
            trace.matched_us = min_some(trace.matched_us, Some(matched));
        }
    }

    /// A view holds its string's length, so only a row of `SEGMENT`'s length is compared; a
    /// string that short is inline in its view.
    #[inline]
    fn is_segment(&self, row: usize) -> bool {
        let view = &self.kinds[row];
        view.length as usize == SEGMENT.len()
            && self.kinds_valid.is_none_or(|valid| valid.get(row))
            && view.get_inlined_slice() == Some(SEGMENT.as_bytes())
    }
}

impl Trace {
    fn new() -> Trace {
        Trace { root: None, start_us: None, end_us: None, matched_us: None, spans: 0, partial: false }
    }

    /// Folds in a span's times.
    #[inline]
    fn add_times(&mut self, start_us: Option<i64>, end_us: Option<i64>, from_us: i64, to_us: i64) {
        self.start_us = min_some(self.start_us, start_us);
        // An open span counts up to its start.
        self.end_us = max_some(self.end_us, end_us.or(start_us));
        if let Some(start) = start_us.filter(|start| *start >= from_us && *start < to_us) {
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
