//! The per-trace pass under [`crate::trace_frame`]: one walk over the collected spans in Rust,
//! instead of polars' join, group-by, sort and second group-by.
//!
//! - Blocks keep a trace's rows together, so the rows come in runs of one trace. Each half of
//!   the rows is walked on a thread of its own, and each run folds into a [`Trace`] of its own
//!   as its rows pass: start, end, span count, in-range start, partial flag, root candidate.
//! - A trace with several runs (spans in two blocks, or a run the halves' boundary cuts) is
//!   then merged into its first run: each half's runs are sorted by trace on its thread, and
//!   the two orders merged, so a trace's runs meet side by side.
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
use crate::trace_runs::{merged_orders, sort_runs, trace_halves, trace_key, RunKey, TraceKey};
use crate::value_columns::{Flags, Numbers};

const SEGMENT: &str = "segment";

/// What one run of a trace's rows folds into; once runs are merged, a trace's first run holds
/// the whole trace. 80 bytes, where `Option`s took 128 (at 10M spans the traces are tens of
/// megabytes of fresh pages): an absent time is an extreme of `i64`, which no time the store
/// keeps comes near (ingest refuses X-Ray times past 1e10 s, and OTLP's `u64` nanoseconds
/// reach 1.8e16 µs at most).
#[derive(Debug, Clone)]
struct Trace {
    hi: u64,
    lo: u64,
    /// `i64::MAX` while no span has a start.
    start_us: i64,
    /// `i64::MIN` while no span has an end or a start.
    end_us: i64,
    /// The earliest start in the range, `i64::MAX` while none is.
    matched_us: i64,
    root: Root,
    spans: IdxSize,
    /// [`PARTIAL`], [`MERGED`].
    bits: u8,
    /// Which of the trace id's halves are present (`TraceKey`'s third value).
    present: u8,
}

/// A span of the trace is in progress.
const PARTIAL: u8 = 1;
/// A later run of a trace, merged into its first: not a trace of the frame.
const MERGED: u8 = 2;

/// A trace's root segment candidate: its row, its key and the values the trace frame shows,
/// which are present as [`Root::bits`] says.
#[derive(Debug, Clone, Copy, Default)]
struct Root {
    start_us: i64,
    id: u64,
    end_us: i64,
    row: IdxSize,
    /// [`ROOT_SEEN`], [`ROOT_PARENT`], which values are present, and for each of `error`,
    /// `fault`, `throttle` ([`ROOT_FLAGS`] up) a presence bit and a value bit.
    bits: u16,
}

const ROOT_SEEN: u16 = 1;
const ROOT_PARENT: u16 = 2;
const ROOT_START: u16 = 4;
const ROOT_ID: u16 = 8;
const ROOT_END: u16 = 16;
const ROOT_FLAGS: u32 = 5;

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
    let traces = fold_traces(spans, from_us, to_us)?;
    let selected = |trace: &Trace| match range {
        TimeRangeType::TraceId => trace.started_in(from_us, to_us),
        TimeRangeType::Event => trace.matched_us().is_some(),
    };
    // Each half's traces become a chunk of the frame, the halves on two threads.
    let frame_of = |traces: &TraceBlocks| {
        let mut columns = FrameColumns::with_capacity(traces.len(), !http.is_empty());
        for trace in traces.iter().filter(|trace| !trace.is_merged() && selected(trace)) {
            columns.push(trace);
        }
        columns.finish()
    };
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| frame_of(&traces.second));
        (frame_of(&traces.first), joined(second))
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

/// The durations of a window's traces, as the trace frame's `duration_us` and
/// `responsetime_us` hold them: a trace without both times has none of that measure.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TraceDurations {
    /// Traces the range selected, with a duration or not.
    pub(crate) traces: usize,
    pub(crate) durations_us: Vec<i64>,
    pub(crate) response_times_us: Vec<i64>,
}

/// The durations of the traces of `spans` that started in `[from_us, to_us)`: what a latency
/// report without a filter reads, taken straight from the fold, without the frame's thirteen
/// columns (at 10M spans their building and the duration expressions were a fifth of the
/// report's time after the scan).
pub(crate) fn trace_durations(spans: &DataFrame, from_us: i64, to_us: i64) -> Result<TraceDurations> {
    let traces = fold_traces(spans, from_us, to_us)?;
    let mut durations = TraceDurations::default();
    let first_runs = traces.first.iter().chain(traces.second.iter()).filter(|trace| !trace.is_merged());
    for trace in first_runs.filter(|trace| trace.started_in(from_us, to_us)) {
        durations.traces += 1;
        if let (Some(start), Some(end)) = (trace.start_us(), trace.end_us()) {
            durations.durations_us.push(end - start);
        }
        if let (Some(start), Some(end)) = (trace.root.start_us(), trace.root.end_us()) {
            durations.response_times_us.push(end - start);
        }
    }
    Ok(durations)
}

/// The trace frame's columns, filled a trace at a time: the traces are read once, where a
/// pass per column read them all thirteen times (22 ms at 250k traces).
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

    fn push(&mut self, trace: &Trace) {
        let (hi, lo) = trace_halves((trace.hi, trace.lo, trace.present));
        self.his.push(hi);
        self.los.push(lo);
        self.starts.push(trace.start_us());
        self.ends.push(trace.end_us());
        self.partial.push(Some(trace.bits & PARTIAL != 0));
        self.matched.push(trace.matched_us());
        self.spans.push(trace.spans);
        let root = &trace.root;
        self.root_starts.push(root.start_us());
        self.root_ends.push(root.end_us());
        for (flag, values) in self.root_flags.iter_mut().enumerate() {
            values.push(root.flag(flag));
        }
        self.root_ids.push(root.value(ROOT_ID, root.id));
        if let Some(rows) = &mut self.root_rows {
            rows.push(root.value(ROOT_SEEN, root.row));
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
/// by chunk (a copy into one chunk each cost as much as the fold), each row once. The two
/// halves of the rows are folded on two threads; then the later runs of a trace are merged
/// into its first.
fn fold_traces(spans: &DataFrame, from_us: i64, to_us: i64) -> Result<FoldedTraces> {
    let mut aligned = std::borrow::Cow::Borrowed(spans);
    if spans.should_rechunk() {
        aligned.to_mut().align_chunks_par();
    }
    let chunks = FoldChunk::of(&aligned)?;
    let (rows, range) = (aligned.height(), (from_us, to_us));
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| fold_runs(&chunks, rows / 2..rows, range));
        (fold_runs(&chunks, 0..rows / 2, range), joined(second))
    });
    let mut traces = FoldedTraces { first: first.traces, second: second.traces };
    traces.merge_runs_of_one_trace(&first.order, &second.order);
    Ok(traces)
}

/// One half's runs, each folded into a trace of its own, and their keys sorted by trace.
struct FoldedRuns {
    traces: TraceBlocks,
    order: Vec<RunKey>,
}

/// Folds these rows of the chunks, a run at a time. A run that goes on into the next chunk
/// stays one run.
fn fold_runs(chunks: &[FoldChunk<'_>], rows: std::ops::Range<usize>, range: (i64, i64)) -> FoldedRuns {
    let (mut traces, mut order) = (TraceBlocks::default(), Vec::new());
    let mut current = None;
    let mut chunk_start = 0;
    for columns in chunks {
        let (from, to) = (rows.start.max(chunk_start), rows.end.min(chunk_start + columns.rows));
        let mut row = from.saturating_sub(chunk_start);
        while row + chunk_start < to {
            let key = columns.trace_key(row);
            let end = columns.run_end(row, key, to - chunk_start);
            if current != Some(key) {
                current = Some(key);
                order.push(RunKey::new(key, traces.len() as u32));
                traces.push(Trace::new(key));
            }
            columns.fold(traces.get_mut(traces.len() - 1), row..end, chunk_start, range);
            row = end;
        }
        chunk_start += columns.rows;
    }
    sort_runs(&mut order);
    FoldedRuns { traces, order }
}

/// Every run of a fold, by index: each half's as that half folded them, the second's indices
/// following the first's (not appended to them, a copy of tens of megabytes at 10M spans).
struct FoldedTraces {
    first: TraceBlocks,
    second: TraceBlocks,
}

impl FoldedTraces {
    /// Merges each trace's later runs into its first and marks them [`MERGED`]: the halves'
    /// orders are merged as they are walked, so a trace's runs come together, in row order.
    fn merge_runs_of_one_trace(&mut self, first: &[RunKey], second: &[RunKey]) {
        let mut leader: Option<RunKey> = None;
        for key in merged_orders(first, second, self.first.len() as u32) {
            match leader {
                Some(lead) if lead.trace() == key.trace() => {
                    let run = self.get_mut(key.run);
                    run.bits |= MERGED;
                    let run = run.clone();
                    self.get_mut(lead.run).merge(&run);
                }
                _ => leader = Some(key),
            }
        }
    }

    fn get_mut(&mut self, run: u32) -> &mut Trace {
        let first = self.first.len();
        match (run as usize).checked_sub(first) {
            Some(later) => self.second.get_mut(later),
            None => self.first.get_mut(run as usize),
        }
    }
}

/// Traces by index, in blocks of [`TRACES_PER_BLOCK`]: one vector of them is tens of MB a
/// half at 10M spans, past jemalloc's oversize threshold (32 MiB), above which memory is
/// handed back when freed and faulted in afresh by the next query; blocks of 5 MB are reused.
#[derive(Debug, Default)]
struct TraceBlocks {
    /// Every block full but the last.
    blocks: Vec<Vec<Trace>>,
}

const TRACES_PER_BLOCK: usize = 1 << 16;

impl TraceBlocks {
    fn len(&self) -> usize {
        self.blocks.last().map_or(0, |last| (self.blocks.len() - 1) * TRACES_PER_BLOCK + last.len())
    }

    /// The first block grows as a vector does, so a small query takes little; later ones are
    /// taken whole.
    fn push(&mut self, trace: Trace) {
        match self.blocks.last_mut() {
            Some(block) if block.len() < TRACES_PER_BLOCK => block.push(trace),
            Some(_) => {
                let mut block = Vec::with_capacity(TRACES_PER_BLOCK);
                block.push(trace);
                self.blocks.push(block);
            }
            None => self.blocks.push(vec![trace]),
        }
    }

    fn get_mut(&mut self, index: usize) -> &mut Trace {
        &mut self.blocks[index / TRACES_PER_BLOCK][index % TRACES_PER_BLOCK]
    }

    fn iter(&self) -> impl Iterator<Item = &Trace> {
        self.blocks.iter().flatten()
    }
}

/// One chunk of the columns [`fold_traces`] reads (the frame's chunks aligned), as slices: a
/// column without nulls in the chunk, as ids, times and kinds are written, is read without a
/// validity test per row, and `in_progress` not at all when no span of the chunk is.
struct FoldChunk<'a> {
    rows: usize,
    his: Nullable<'a, u64>,
    los: Nullable<'a, u64>,
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
        let (his, los) = (ids(TRACE_HI)?, ids(TRACE_LO)?);
        let (ids, parents, starts, ends) =
            (ids(columns::ID)?, ids(columns::PARENT_ID)?, times(columns::START_US)?, times(columns::END_US)?);
        let kinds = column_chunks::<StringType>(spans, columns::KIND)?;
        let flags = |name: &str| column_chunks::<BooleanType>(spans, name);
        let (in_progress, errors, faults, throttles) =
            (flags(columns::IN_PROGRESS)?, flags(columns::ERROR)?, flags(columns::FAULT)?, flags(columns::THROTTLE)?);
        Ok((0..ids.len())
            .map(|chunk| FoldChunk {
                rows: ids[chunk].len(),
                his: Nullable::of(his[chunk]),
                los: Nullable::of(los[chunk]),
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

    #[inline]
    fn trace_key(&self, row: usize) -> TraceKey {
        trace_key(self.his.get(row), self.los.get(row))
    }

    /// Where the run of `key` that starts at `row` ends, at `end` at the latest.
    fn run_end(&self, row: usize, key: TraceKey, end: usize) -> usize {
        if self.his.validity.is_some() || self.los.validity.is_some() {
            return (row + 1..end).find(|row| self.trace_key(*row) != key).unwrap_or(end);
        }
        let (his, los) = (&self.his.values[row..end], &self.los.values[row..end]);
        row + his.iter().zip(los).position(|(hi, lo)| (*hi, *lo) != (key.0, key.1)).unwrap_or(his.len())
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
                if self.in_progress.is_some_and(|flags| flags.get(row) == Some(true)) {
                    trace.bits |= PARTIAL;
                }
            }
        }
        for row in rows {
            if self.is_segment(row) {
                let start_us = self.starts.get(row);
                let key: RootKey = (self.parents.get(row).is_some(), start_us, self.ids.get(row));
                if trace.root.key().is_none_or(|root| key < root) {
                    let flags = self.flags.map(|flags| flags.get(row));
                    trace.root = Root::of(key, self.ends.get(row), flags, (first_row + row) as IdxSize);
                }
            }
        }
    }

    /// [`Trace::add_times`] over rows whose times are all present, as slices: no branch per row.
    fn fold_times(&self, trace: &mut Trace, rows: std::ops::Range<usize>, (from_us, to_us): (i64, i64)) {
        let (starts, ends) = (&self.starts.values[rows.clone()], &self.ends.values[rows]);
        let (mut first, mut last, mut matched) = (trace.start_us, trace.end_us, trace.matched_us);
        for (start, end) in starts.iter().zip(ends) {
            first = first.min(*start);
            last = last.max(*end);
            let in_range = *start >= from_us && *start < to_us;
            matched = matched.min(if in_range { *start } else { i64::MAX });
        }
        (trace.start_us, trace.end_us, trace.matched_us) = (first, last, matched);
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
    fn new((hi, lo, present): TraceKey) -> Trace {
        Trace {
            hi,
            lo,
            start_us: i64::MAX,
            end_us: i64::MIN,
            matched_us: i64::MAX,
            root: Root::default(),
            spans: 0,
            bits: 0,
            present,
        }
    }

    fn start_us(&self) -> Option<i64> {
        (self.start_us != i64::MAX).then_some(self.start_us)
    }

    fn end_us(&self) -> Option<i64> {
        (self.end_us != i64::MIN).then_some(self.end_us)
    }

    fn matched_us(&self) -> Option<i64> {
        (self.matched_us != i64::MAX).then_some(self.matched_us)
    }

    /// The trace's earliest span started in `[from_us, to_us)`: what a trace-id range selects.
    fn started_in(&self, from_us: i64, to_us: i64) -> bool {
        self.start_us().is_some_and(|start| start >= from_us && start < to_us)
    }

    /// A later run of a trace, merged into its first.
    fn is_merged(&self) -> bool {
        self.bits & MERGED != 0
    }

    /// Folds in a span's times.
    #[inline]
    fn add_times(&mut self, start_us: Option<i64>, end_us: Option<i64>, from_us: i64, to_us: i64) {
        if let Some(start) = start_us {
            self.start_us = self.start_us.min(start);
            if start >= from_us && start < to_us {
                self.matched_us = self.matched_us.min(start);
            }
        }
        // An open span counts up to its start.
        if let Some(end) = end_us.or(start_us) {
            self.end_us = self.end_us.max(end);
        }
    }

    /// Folds in a later run of the same trace.
    fn merge(&mut self, later: &Trace) {
        self.spans += later.spans;
        self.start_us = self.start_us.min(later.start_us);
        self.end_us = self.end_us.max(later.end_us);
        self.matched_us = self.matched_us.min(later.matched_us);
        self.bits |= later.bits & PARTIAL;
        // On equal keys the earlier row stays, as in one fold.
        if let Some(key) = later.root.key() {
            if self.root.key().is_none_or(|current| key < current) {
                self.root = later.root;
            }
        }
    }
}

impl Root {
    fn of((parent, start_us, id): RootKey, end_us: Option<i64>, flags: [Option<bool>; 3], row: IdxSize) -> Root {
        let mut bits = ROOT_SEEN;
        let mut present = |value: bool, bit: u16| bits |= u16::from(value) * bit;
        present(parent, ROOT_PARENT);
        present(start_us.is_some(), ROOT_START);
        present(id.is_some(), ROOT_ID);
        present(end_us.is_some(), ROOT_END);
        for (flag, value) in flags.iter().enumerate() {
            let (is_set, set) = (1 << (ROOT_FLAGS + 2 * flag as u32), 2 << (ROOT_FLAGS + 2 * flag as u32));
            present(value.is_some(), is_set);
            present(*value == Some(true), set);
        }
        Root {
            start_us: start_us.unwrap_or_default(),
            id: id.unwrap_or_default(),
            end_us: end_us.unwrap_or_default(),
            row,
            bits,
        }
    }

    /// The candidate's key, none before a segment is seen.
    #[inline]
    fn key(&self) -> Option<RootKey> {
        (self.bits & ROOT_SEEN != 0)
            .then(|| (self.bits & ROOT_PARENT != 0, self.start_us(), self.value(ROOT_ID, self.id)))
    }

    fn start_us(&self) -> Option<i64> {
        self.value(ROOT_START, self.start_us)
    }

    fn end_us(&self) -> Option<i64> {
        self.value(ROOT_END, self.end_us)
    }

    /// `value` when the bit `present` is set.
    #[inline]
    fn value<T>(&self, present: u16, value: T) -> Option<T> {
        (self.bits & present != 0).then_some(value)
    }

    /// `error`, `fault` or `throttle` (0, 1, 2).
    fn flag(&self, flag: usize) -> Option<bool> {
        let shift = ROOT_FLAGS + 2 * flag as u32;
        (self.bits >> shift & 1 != 0).then_some(self.bits >> shift & 2 != 0)
    }
}

#[cfg(test)]
#[path = "trace_aggregates_tests.rs"]
mod tests;
