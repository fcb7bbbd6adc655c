//! The per-trace pass under [`crate::trace_frame`]: one walk over the collected spans in Rust,
//! instead of polars' join, group-by, sort and second group-by.
//!
//! - Each run of rows of one trace gets its trace's dense id (`trace_runs.rs`), and each
//!   trace's start, end, span count, in-range start and partial flag are folded in as the
//!   rows pass.
//! - The root segment is an arg-min per trace over the segments' keys (has a parent, start,
//!   id), kept on the first of equal keys: the same choice as a stable sort by those keys
//!   followed by the group's first row, without the sort.
//! - Only traces the range selects are output; their ids and root values are read from the
//!   span columns' chunks by row index (null for a trace without a segment), a filter's `http`
//!   columns gathered by polars.

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;
use polars_arrow::array::{Array, BooleanArray, PrimitiveArray, Utf8ViewArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::types::NativeType;

use crate::error::Result;
use crate::spans::column_chunks;
use crate::threads::joined;
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
    /// The root segment so far (row and key), none until a segment is seen.
    root: Option<(IdxSize, RootKey)>,
    start_us: Option<i64>,
    end_us: Option<i64>,
    matched_us: Option<i64>,
    spans: IdxSize,
    partial: bool,
}

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
    let first_rows: Vec<Option<IdxSize>> = selected.iter().map(|trace| Some(trace.first_row)).collect();
    let ids = |name: &str| -> Result<Column> {
        Ok(numbers_on::<UInt64Type>(spans, name, &first_rows)?.with_name(name.into()).into_column())
    };
    let mut frame = DataFrame::new_infer_height(vec![
        ids(TRACE_HI)?,
        ids(TRACE_LO)?,
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
    let root_rows: Vec<Option<IdxSize>> = selected.iter().map(|trace| trace.root.map(|(row, _)| row)).collect();
    // The root's start and id are in its key; the other values are read from its row.
    let root_keys = || selected.iter().map(|trace| trace.root.map(|(_, key)| key));
    // The `http` columns a filter reads are few and gathered by polars; most queries read none.
    let http_values = match http.is_empty() {
        true => DataFrame::empty(),
        false => spans.select(http.iter().copied())?.take(&root_rows.iter().copied().collect::<IdxCa>())?,
    };
    for name in ROOT_COLUMNS.iter().chain(http) {
        let values = match *name {
            columns::START_US => {
                root_keys().map(|key| key.and_then(|(_, start, _)| start)).collect::<Int64Chunked>().into_column()
            }
            columns::ID => {
                root_keys().map(|key| key.and_then(|(_, _, id)| id)).collect::<UInt64Chunked>().into_column()
            }
            columns::END_US => numbers_on::<Int64Type>(spans, name, &root_rows)?.into_column(),
            columns::ERROR | columns::FAULT | columns::THROTTLE => flags_on(spans, name, &root_rows)?.into_column(),
            name => http_values.column(name)?.clone(),
        };
        frame.with_column(values.with_name(format!("root_{name}").into()))?;
    }
    Ok(frame)
}

/// Every trace of `spans`, in order of first row. The columns are read where they lie, chunk
/// by chunk (a copy into one chunk each cost as much as the fold): the runs cover the rows in
/// order, and the root candidate's key is kept with its trace, so no row is read twice. The
/// two halves of the runs are folded on two threads: ids are numbered by first appearance, so
/// the second half's traces are new but for the few that also have runs in the first half.
fn fold_traces(spans: &DataFrame, from_us: i64, to_us: i64) -> Result<Vec<Trace>> {
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
    Ok(traces)
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
    let (mut traces, mut earlier): (Vec<Trace>, PlHashMap<u32, Trace>) = (Vec::new(), PlHashMap::new());
    for (rows, id) in runs {
        let trace = match (id as usize).checked_sub(first_id) {
            // Ids are numbered by first appearance: a new trace's first run has the next id.
            Some(index) if index == traces.len() => {
                traces.push(Trace::new(rows.start as IdxSize));
                &mut traces[index]
            }
            Some(index) => &mut traces[index],
            None => earlier.entry(id).or_insert_with(|| Trace::new(rows.start as IdxSize)),
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

/// A column's chunks, read by frame row: the rows a trace frame takes (each trace's first row,
/// its root's) are a few hundred thousand among millions, in ~200 chunks of a scan, and polars'
/// gather of them cost ~6 % of a latency histogram's instructions.
struct RowReader<'a, A> {
    chunks: Vec<&'a A>,
    /// Each chunk's first row in the frame.
    starts: Vec<usize>,
    last: std::cell::Cell<usize>,
}

impl<'a, A: Array> RowReader<'a, A> {
    fn of(chunks: Vec<&'a A>) -> Self {
        let starts = chunks.iter().scan(0, |next, chunk| Some(std::mem::replace(next, *next + chunk.len()))).collect();
        RowReader { chunks, starts, last: std::cell::Cell::new(0) }
    }

    /// The chunk holding frame row `row`, and the row within it. The rows come mostly in order
    /// (traces by first row), so the last chunk found is tried first.
    fn locate(&self, row: IdxSize) -> (&'a A, usize) {
        let row = row as usize;
        let mut chunk = self.last.get();
        if !(self.starts[chunk]..self.starts[chunk] + self.chunks[chunk].len()).contains(&row) {
            chunk = self.starts.partition_point(|start| *start <= row).saturating_sub(1);
            self.last.set(chunk);
        }
        (self.chunks[chunk], row - self.starts[chunk])
    }
}

/// A numeric column's values on `rows` (null where the row is none or the value null).
fn numbers_on<P: PolarsNumericType>(
    spans: &DataFrame,
    name: &str,
    rows: &[Option<IdxSize>],
) -> Result<ChunkedArray<P>> {
    let reader = RowReader::of(column_chunks::<P>(spans, name)?);
    let value = |row: IdxSize| {
        let (array, at) = reader.locate(row);
        array.is_valid(at).then(|| array.value(at))
    };
    Ok(rows.iter().map(|row| row.and_then(value)).collect())
}

/// A boolean column's values on `rows` (null where the row is none or the value null).
fn flags_on(spans: &DataFrame, name: &str, rows: &[Option<IdxSize>]) -> Result<BooleanChunked> {
    let reader = RowReader::of(column_chunks::<BooleanType>(spans, name)?);
    let value = |row: IdxSize| {
        let (array, at) = reader.locate(row);
        array.get(at)
    };
    Ok(rows.iter().map(|row| row.and_then(value)).collect())
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
        let in_progress = column_chunks::<BooleanType>(spans, columns::IN_PROGRESS)?;
        Ok((0..ids.len())
            .map(|chunk| FoldChunk {
                rows: ids[chunk].len(),
                ids: Nullable::of(ids[chunk]),
                parents: Nullable::of(parents[chunk]),
                starts: Nullable::of(starts[chunk]),
                ends: Nullable::of(ends[chunk]),
                kinds: kinds[chunk],
                in_progress: Some(in_progress[chunk]).filter(|flags| flags.values().set_bits() > 0),
            })
            .collect())
    }

    /// Folds `rows` of this chunk, which starts at `first_row` of the frame, into `trace`.
    fn fold(&self, trace: &mut Trace, rows: std::ops::Range<usize>, first_row: usize, (from_us, to_us): (i64, i64)) {
        for row in rows {
            trace.add(first_row + row, &self.span(row), from_us, to_us);
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
    fn new(first_row: IdxSize) -> Trace {
        Trace { first_row, root: None, start_us: None, end_us: None, matched_us: None, spans: 0, partial: false }
    }

    /// Folds in the span on `row`.
    fn add(&mut self, row: usize, span: &FoldSpan, from_us: i64, to_us: i64) {
        self.spans += 1;
        self.start_us = min_some(self.start_us, span.start_us);
        // An open span counts up to its start.
        self.end_us = max_some(self.end_us, span.end_us.or(span.start_us));
        self.partial |= span.in_progress;
        if let Some(start) = span.start_us.filter(|start| *start >= from_us && *start < to_us) {
            self.matched_us = min_some(self.matched_us, Some(start));
        }
        if span.segment {
            let key: RootKey = (span.parent.is_some(), span.start_us, span.id);
            if self.root.is_none_or(|(_, root_key)| key < root_key) {
                self.root = Some((row as IdxSize, key));
            }
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
        if let Some((row, key)) = later.root {
            if self.root.is_none_or(|(_, root_key)| key < root_key) {
                self.root = Some((row, key));
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
