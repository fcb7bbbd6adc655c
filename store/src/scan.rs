//! Scans for the analyzer: the spans of a time range from recent data and blocks as one lazy
//! frame with one version per span, by the replace rule (`replace_rule.rs`).
//!
//! Applying the rule to every row would cost a hash-map entry per row of the window, so it is
//! applied only to the rows that can need it. Within one source (a block, a generation of
//! recent data) a span has one version: recent data applies the replace rule on insert, a
//! block is written from recent data, compaction resolves duplicates. So versions can only meet
//! in a scan when their trace has spans in two scanned sources, and only those traces need the
//! replace rule applied again:
//! - block and block: the later-written block lists, in its footer, the traces that a block
//!   existing then may hold a version of a span of (by its bloom filter and time range);
//! - recent data and a block: tested here, against the bloom filters of the scanned blocks
//!   whose time range meets the starts of the trace's spans (`block/shared_traces.rs`);
//! - the two generations of recent data (while one is being flushed): tested here.
//!
//! Only the rows of those traces go through the rule; the others pass unchanged. When the
//! store cannot tell (blocks written before they kept the list), the rows whose span key occurs
//! twice are found by sorting key hashes, and only those go through the rule.
//!
//! A scan reads the span's key (trace and id) with its columns, but not what chooses between
//! versions (`in_progress`, `sequence`): the sequence is an arrival counter, costly to decode
//! (a sixth of a trace frame's scan) and needed only when two versions of a span actually
//! meet. Those columns come from a second scan of the same sources ([`ScanSources::read`]),
//! built and run only then; row for row it matches the first, as both read the same sources alike.

use std::collections::HashSet;
use std::sync::Arc;

use fluoro_proto::TraceId;
use polars::prelude::*;
use polars_arrow::array::{Array, PrimitiveArray};

use crate::block::{self, BlockMeta, TraceProbe};
use crate::columns::{u64_column, ID, PREFERENCE_COLUMNS, SPAN_KEY_COLUMNS, TRACE_HI, TRACE_LO};
use crate::error::{polars_error, Result, StoreError};
use crate::recent::RecentSpans;
use crate::replace_rule::{preferred_rows, SpanKey};

/// A scan before the replace rule: every stored version, and which traces may have more than
/// one version of a span among them. `Store::scan` finishes it with [`one_version_per_span`];
/// `Store::scan_versions` shows it as it is, for tests of the invariant that relies on.
#[derive(Clone)]
pub struct SpanScan {
    /// Every stored version of the spans starting in the range, from every source.
    pub spans: LazyFrame,
    pub shared_traces: SharedTraces,
    /// What `spans` reads, to read the same rows' preferences when two versions meet.
    pub(crate) sources: ScanSources,
}

/// The sources of a [`SpanScan`], read alike for any columns: row for row, a read of other
/// columns matches the first. A read is built only when asked for: building a block's plan
/// checks the block's file, or takes its bytes from the bucket.
#[derive(Clone)]
pub(crate) struct ScanSources {
    pub blocks: Vec<Arc<BlockMeta>>,
    /// Recent data's rows in the range, the predicate applied.
    pub recent: LazyFrame,
    pub from_us: i64,
    pub to_us: i64,
    pub predicate: Option<Expr>,
}

impl ScanSources {
    /// These sources' rows as `columns` (every column when empty), blocks first.
    pub(crate) fn read(&self, columns: &[&str]) -> Result<LazyFrame> {
        let mut frames = Vec::with_capacity(self.blocks.len() + 1);
        for block in &self.blocks {
            let frame = crate::block::scan_block(block, self.from_us, self.to_us, columns, self.predicate.clone())?;
            frames.push(crate::deadline::checked(frame)?);
        }
        frames.push(match columns.is_empty() {
            true => self.recent.clone(),
            false => self.recent.clone().select(columns.iter().map(|name| col(*name)).collect::<Vec<_>>()),
        });
        concat(frames, UnionArgs::default()).map_err(polars_error)
    }
}

impl std::fmt::Debug for SpanScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanScan").field("shared_traces", &self.shared_traces).finish_non_exhaustive()
    }
}

/// The traces of a scan that may hold two versions of one span. Other traces hold exactly one
/// version of each of their spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedTraces {
    /// Only these (often none). May name traces that have one version after all.
    Only(HashSet<TraceId>),
    /// Any trace: a scanned block was written before blocks recorded their shared traces.
    Any,
}

impl SharedTraces {
    /// Whether every span of the scan has exactly one version.
    pub fn is_none(&self) -> bool {
        matches!(self, SharedTraces::Only(traces) if traces.is_empty())
    }
}

/// The shared traces of a scan of these blocks and generations of recent data over
/// `[from_us, to_us)`.
pub(crate) fn shared_traces(blocks: &[&BlockMeta], recent: &[&RecentSpans], from_us: i64, to_us: i64) -> SharedTraces {
    let mut shared = HashSet::new();
    for block in blocks {
        match &block.shared_traces {
            Some(traces) => shared.extend(traces.iter().copied()),
            None => return SharedTraces::Any,
        }
    }
    let mut in_recent = HashSet::new();
    let mut probes = Vec::new();
    for generation in recent {
        for (trace, first_start_us, last_start_us) in generation.traces_in(from_us, to_us) {
            if !in_recent.insert(*trace) {
                shared.insert(*trace); // in two generations
            }
            probes.push(TraceProbe::new(*trace, first_start_us, last_start_us));
        }
    }
    shared.extend(block::held_by_blocks(&probes, blocks));
    SharedTraces::Only(shared)
}

/// `scan`'s spans with one version each and exactly `columns`, in that order (every column
/// when empty). The scan must hold `columns` and the span key ([`with_key_columns`]).
pub(crate) fn one_version_per_span(scan: SpanScan, columns: &[&str]) -> Result<LazyFrame> {
    let spans = match &scan.shared_traces {
        SharedTraces::Only(traces) if traces.is_empty() => scan.spans,
        shared => {
            let spans = scan.spans.collect().map_err(polars_error)?;
            let versions = || scan.sources.read(PREFERENCE_COLUMNS)?.collect().map_err(polars_error);
            one_version_of_each(spans, shared, versions)?.lazy()
        }
    };
    if columns.is_empty() {
        return Ok(spans);
    }
    Ok(spans.select(columns.iter().map(|name| col(*name)).collect::<Vec<_>>()))
}

/// `columns` plus the span key columns it lacks; empty (every column) stays empty.
pub(crate) fn with_key_columns<'a>(columns: &[&'a str]) -> Vec<&'a str> {
    let mut scanned = columns.to_vec();
    if !columns.is_empty() {
        scanned.extend(SPAN_KEY_COLUMNS.iter().filter(|name| !columns.contains(name)));
    }
    scanned
}

/// `spans` without the versions the replace rule drops. Often it drops none (a bloom filter's
/// false positive, a trace whose spans are split between blocks): the frame is then returned
/// as it is, where filtering it would copy every column of the window.
fn one_version_of_each(
    spans: DataFrame,
    shared: &SharedTraces,
    versions: impl FnOnce() -> Result<DataFrame>,
) -> Result<DataFrame> {
    match kept_rows(&spans, shared, versions)? {
        None => Ok(spans),
        Some(keep) => spans.filter(&BooleanChunked::from_slice("keep".into(), &keep)).map_err(polars_error),
    }
}

/// Which rows of `spans` the replace rule keeps: every row of a trace not in `shared`, and
/// one version of each span of the others. `None` when it keeps every row. `spans` needs the
/// span key; `versions` gives the [`PREFERENCE_COLUMNS`] of the same rows, and is called only
/// when a span has two versions and `spans` lacks them.
pub(crate) fn kept_rows(
    spans: &DataFrame,
    shared: &SharedTraces,
    versions: impl FnOnce() -> Result<DataFrame>,
) -> Result<Option<Vec<bool>>> {
    let candidates = match shared {
        SharedTraces::Only(traces) if traces.is_empty() => return Ok(None),
        SharedTraces::Only(traces) => rows_of_traces(spans, traces)?,
        SharedTraces::Any => repeated_spans(spans)?,
    };
    let repeated = repeated_keys(spans, candidates)?;
    if repeated.is_empty() {
        return Ok(None);
    }
    let has_preferences = PREFERENCE_COLUMNS.iter().all(|name| spans.schema().contains(name));
    let preferences = match has_preferences {
        true => spans.select(PREFERENCE_COLUMNS.iter().copied()).map_err(polars_error)?,
        false => versions()?,
    };
    superseded_mask(spans, &preferences, repeated)
}

/// The rows of `traces`, in order. A trace's rows lie together in each source, so a row
/// repeating the previous row's trace repeats its answer: one lookup per run of rows rather
/// than polars' two `is_in` tests per row, over the columns' values as they lie. A lookup first
/// tests a bit of [`TraceBits`], which rules out most runs without hashing.
fn rows_of_traces(spans: &DataFrame, traces: &HashSet<TraceId>) -> Result<Vec<IdxSize>> {
    let (his, los) = (u64_column(spans, TRACE_HI)?, u64_column(spans, TRACE_LO)?);
    // A frame's columns are chunked alike; two that are not are read as one chunk each.
    let aligned = his.chunk_lengths().eq(los.chunk_lengths());
    let (his, los) = match aligned {
        true => (std::borrow::Cow::Borrowed(his), std::borrow::Cow::Borrowed(los)),
        false => (his.rechunk(), los.rechunk()),
    };
    let bits = TraceBits::of(traces);
    // Hashed as halves with polars' fast hasher.
    let traces: PlHashSet<(u64, u64)> = traces.iter().map(|trace| trace.halves()).collect();
    let listed = |trace: (u64, u64)| bits.may_hold(trace) && traces.contains(&trace);
    // Each chunk with its first row; the chunks are walked in two halves, one per core.
    let chunks: Vec<_> = his
        .downcast_iter()
        .zip(los.downcast_iter())
        .scan(0 as IdxSize, |first_row, (his, los)| {
            let chunk = (*first_row, his, los);
            *first_row += his.len() as IdxSize;
            Some(chunk)
        })
        .collect();
    let walk = |chunks: &[(IdxSize, &PrimitiveArray<u64>, &PrimitiveArray<u64>)]| {
        let mut rows = Vec::new();
        for (first_row, his, los) in chunks {
            rows_of_listed_traces(his, los, *first_row, &listed, &mut rows);
        }
        rows
    };
    let (first, second) = chunks.split_at(chunks.len() / 2);
    let (mut rows, later) = std::thread::scope(|scope| {
        let later = scope.spawn(|| walk(second));
        (walk(first), later.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    rows.extend(later);
    Ok(rows)
}

/// Appends the rows of one chunk (starting at frame row `first_row`) whose trace is `listed`.
fn rows_of_listed_traces(
    his: &PrimitiveArray<u64>,
    los: &PrimitiveArray<u64>,
    first_row: IdxSize,
    listed: &impl Fn((u64, u64)) -> bool,
    rows: &mut Vec<IdxSize>,
) {
    let (hi_values, lo_values) = (his.values().as_slice(), los.values().as_slice());
    if his.null_count() + los.null_count() > 0 {
        // A null half (never written in practice) names no trace.
        for row in 0..hi_values.len() {
            if his.is_valid(row) && los.is_valid(row) && listed((hi_values[row], lo_values[row])) {
                rows.push(first_row + row as IdxSize);
            }
        }
        return;
    }
    let (mut last, mut under) = (None, false);
    for (row, trace) in (first_row..).zip(hi_values.iter().copied().zip(lo_values.iter().copied())) {
        if last != Some(trace) {
            (last, under) = (Some(trace), listed(trace));
        }
        if under {
            rows.push(row);
        }
    }
}

/// One bit per trace of a set, at a place its id's halves pick: a trace whose bit is clear is
/// not in the set. There are 64 bits per trace (a few hundred traces at 3M spans, thousands at
/// 10M), so about one bit in 64 is set.
struct TraceBits {
    words: Vec<u64>,
    /// The number of bits minus one (a power of two minus one).
    mask: usize,
}

impl TraceBits {
    fn of(traces: &HashSet<TraceId>) -> Self {
        let bits = (traces.len() * 64).next_power_of_two().max(64);
        let mut set = TraceBits { words: vec![0; bits / 64], mask: bits - 1 };
        for trace in traces {
            let bit = set.bit(trace.halves());
            set.words[bit / 64] |= 1 << (bit % 64);
        }
        set
    }

    #[inline]
    fn bit(&self, (hi, lo): (u64, u64)) -> usize {
        // Trace ids are random but for the time in `hi`'s top bits; `lo` is random throughout.
        (lo ^ hi) as usize & self.mask
    }

    #[inline]
    fn may_hold(&self, trace: (u64, u64)) -> bool {
        let bit = self.bit(trace);
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }
}

/// The rows whose `(trace_hi, trace_lo, id)` may occur on another row too: its hash does
/// (when any trace may hold two versions of a span, only these rows go through the rule).
/// A hash collision only sends a few more rows through the rule, which keeps them.
fn repeated_spans(spans: &DataFrame) -> Result<Vec<IdxSize>> {
    let (his, los, ids) = (u64_column(spans, TRACE_HI)?, u64_column(spans, TRACE_LO)?, u64_column(spans, ID)?);
    let hashes: Vec<u64> =
        his.iter().zip(los.iter()).zip(ids.iter()).map(|((hi, lo), id)| span_hash(hi, lo, id)).collect();
    let mut sorted = hashes.clone();
    sorted.sort_unstable();
    let repeated: PlHashSet<u64> = sorted.windows(2).filter(|pair| pair[0] == pair[1]).map(|pair| pair[0]).collect();
    Ok((0..).zip(&hashes).filter(|(_, hash)| repeated.contains(*hash)).map(|(row, _)| row).collect())
}

/// A 64-bit mix of a span's key (splitmix64's finaliser over the three words).
fn span_hash(hi: Option<u64>, lo: Option<u64>, id: Option<u64>) -> u64 {
    let mut x =
        hi.unwrap_or_default() ^ lo.unwrap_or_default().rotate_left(21) ^ id.unwrap_or_default().rotate_left(42);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Those of `rows` (in order) whose span key is on another of them too: the only rows the
/// replace rule can drop.
fn repeated_keys(spans: &DataFrame, rows: Vec<IdxSize>) -> Result<Vec<IdxSize>> {
    if rows.len() < 2 {
        return Ok(Vec::new());
    }
    let on_rows = |name: &str| Ok::<_, StoreError>(values_on_rows(u64_column(spans, name)?, &rows));
    let (his, los, ids) = (on_rows(TRACE_HI)?, on_rows(TRACE_LO)?, on_rows(ID)?);
    let mut counts: PlHashMap<SpanKey, u32> = PlHashMap::with_capacity(rows.len());
    let span_keys: Vec<SpanKey> = his.into_iter().zip(los).zip(ids).map(|((hi, lo), id)| (hi, lo, id)).collect();
    for key in &span_keys {
        *counts.entry(*key).or_default() += 1;
    }
    Ok(rows.into_iter().zip(&span_keys).filter(|(_, key)| counts[*key] > 1).map(|(row, _)| row).collect())
}

/// A column's values on `rows` (ascending), read chunk by chunk as the rows pass: polars' gather
/// looked each row's chunk up among the scan's hundreds.
fn values_on_rows(column: &UInt64Chunked, rows: &[IdxSize]) -> Vec<Option<u64>> {
    let mut values = Vec::with_capacity(rows.len());
    let (mut rows, mut first_row) = (rows.iter().peekable(), 0usize);
    for chunk in column.downcast_iter() {
        let end = first_row + chunk.len();
        while let Some(row) = rows.next_if(|row| (**row as usize) < end) {
            let at = *row as usize - first_row;
            values.push(chunk.is_valid(at).then(|| chunk.value(at)));
        }
        first_row = end;
    }
    values
}

/// Which rows to keep when the replace rule drops some of `rows` (in order, each a version of
/// a span with another among them; `preferences` holds every row's); `None` when it drops none.
fn superseded_mask(spans: &DataFrame, preferences: &DataFrame, rows: Vec<IdxSize>) -> Result<Option<Vec<bool>>> {
    let superseded = superseded_rows(spans, preferences, rows)?;
    if superseded.is_empty() {
        return Ok(None);
    }
    let mut keep = vec![true; spans.height()];
    for row in superseded {
        keep[row as usize] = false;
    }
    Ok(Some(keep))
}

/// Those of `rows` holding a version the replace rule drops: only the version columns of those
/// rows are read.
fn superseded_rows(spans: &DataFrame, preferences: &DataFrame, rows: Vec<IdxSize>) -> Result<Vec<IdxSize>> {
    let taken = IdxCa::from_slice("rows".into(), &rows);
    let take = |frame: &DataFrame, columns: &[&str]| {
        frame.select(columns.iter().copied()).and_then(|frame| frame.take(&taken)).map_err(polars_error)
    };
    let mut candidates = take(spans, SPAN_KEY_COLUMNS)?;
    candidates.hstack_mut(take(preferences, PREFERENCE_COLUMNS)?.columns()).map_err(polars_error)?;
    let kept = preferred_rows(&candidates)?;
    Ok(rows.into_iter().zip(kept).filter(|(_, kept)| !kept).map(|(row, _)| row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{IN_PROGRESS, SEQUENCE};

    /// Versions of span (1, 1, 7): in progress (3), completed (5), a later in-progress resend
    /// (9); of (1, 2, 7): two completed, the later (8) wins; (2, 1, 7) and (1, 1, 8) are alone.
    fn spans() -> DataFrame {
        df!(
            TRACE_HI => [1u64, 1, 2, 1, 1, 1, 1],
            TRACE_LO => [1u64, 1, 1, 1, 2, 2, 1],
            ID => [7u64, 7, 7, 8, 7, 7, 7],
            IN_PROGRESS => [true, false, false, false, false, false, true],
            SEQUENCE => [3u64, 5, 1, 2, 4, 8, 9],
        )
        .unwrap()
    }

    /// The spans hold their preference columns, so no second scan is asked for.
    fn no_second_scan() -> Result<DataFrame> {
        panic!("the spans' own preference columns are read")
    }

    fn sequences(frame: DataFrame) -> Vec<u64> {
        let mut kept: Vec<u64> = frame.column(SEQUENCE).unwrap().u64().unwrap().into_no_null_iter().collect();
        kept.sort_unstable();
        kept
    }

    #[test]
    fn repeated_key_deduplication_keeps_what_the_rule_over_every_row_keeps() {
        let kept = preferred_rows(&spans()).unwrap();
        let full = spans().filter(&BooleanChunked::from_slice("kept".into(), &kept)).unwrap();
        assert_eq!(sequences(full), vec![1, 2, 5, 8]);
        assert_eq!(
            sequences(one_version_of_each(spans(), &SharedTraces::Any, no_second_scan).unwrap()),
            vec![1, 2, 5, 8]
        );
    }

    #[test]
    fn superseded_versions_are_dropped_in_place() {
        let shared: HashSet<TraceId> = [TraceId::from_halves(1, 1)].into_iter().collect();
        let kept = one_version_of_each(spans(), &SharedTraces::Only(shared.clone()), no_second_scan).unwrap();
        let in_order: Vec<u64> = kept.column(SEQUENCE).unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!(in_order, vec![5, 1, 2, 4, 8]);
    }

    #[test]
    fn shared_traces_without_repeated_spans_keep_every_row() {
        // Trace (2, 1) has one version of its only span.
        let shared: HashSet<TraceId> = [TraceId::from_halves(2, 1)].into_iter().collect();
        let kept = one_version_of_each(spans(), &SharedTraces::Only(shared.clone()), no_second_scan).unwrap();
        assert!(kept.equals(&spans()));
    }

    #[test]
    fn preferences_come_from_the_second_scan_only_when_versions_meet() {
        let keys_only = spans().select(SPAN_KEY_COLUMNS.iter().copied()).unwrap();
        let second_scan = || Ok(spans().select(PREFERENCE_COLUMNS.iter().copied()).unwrap());
        let shared: HashSet<TraceId> = [TraceId::from_halves(1, 1)].into_iter().collect();
        let kept = one_version_of_each(keys_only.clone(), &SharedTraces::Only(shared), second_scan).unwrap();
        let ids: Vec<u64> = kept.column(ID).unwrap().u64().unwrap().into_no_null_iter().collect();
        // Of (1, 1, 7) only the completed version (row 1) stays; (1, 1, 8) is alone.
        assert_eq!(ids, vec![7, 7, 8, 7, 7]);
        assert!(kept.equals(
            &keys_only
                .filter(&BooleanChunked::from_slice("".into(), &[false, true, true, true, true, true, false]))
                .unwrap()
        ));
        // Trace (2, 1) has one version of its only span: the preferences are never read.
        let alone: HashSet<TraceId> = [TraceId::from_halves(2, 1)].into_iter().collect();
        let kept = one_version_of_each(keys_only.clone(), &SharedTraces::Only(alone), no_second_scan).unwrap();
        assert!(kept.equals(&keys_only));
    }

    #[test]
    fn rows_of_traces_in_many_chunks_are_those_a_plain_test_finds() {
        // Three chunks (walked on two threads), runs of one to three rows, 300 listed traces
        // of 1000 (the bit filter sized for them).
        let trace_of_row = |row: u64| (row / 3 * 7919 % 1000, (row / 3).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let chunk = |rows: std::ops::Range<u64>| {
            let (his, los): (Vec<u64>, Vec<u64>) = rows.map(trace_of_row).unzip();
            df!(TRACE_HI => his, TRACE_LO => los).unwrap()
        };
        let mut spans = chunk(0..1000);
        spans.vstack_mut_owned(chunk(1000..1001)).unwrap();
        spans.vstack_mut_owned(chunk(1001..3000)).unwrap();
        assert_eq!(spans.first_col_n_chunks(), 3);
        let listed: HashSet<TraceId> =
            (0..3000).step_by(10).map(trace_of_row).map(|(hi, lo)| TraceId::from_halves(hi, lo)).collect();
        let expected: Vec<IdxSize> = (0..3000u64)
            .filter(|row| {
                listed.contains(&{
                    let (hi, lo) = trace_of_row(*row);
                    TraceId::from_halves(hi, lo)
                })
            })
            .map(|row| row as IdxSize)
            .collect();
        assert!(expected.len() > 300);
        assert_eq!(rows_of_traces(&spans, &listed).unwrap(), expected);
    }

    #[test]
    fn only_the_shared_traces_are_deduplicated() {
        let shared: HashSet<TraceId> = [TraceId::from_halves(1, 1)].into_iter().collect();
        // Trace (1, 2) is not named, so both its versions pass through.
        assert_eq!(
            sequences(one_version_of_each(spans(), &SharedTraces::Only(shared.clone()), no_second_scan).unwrap()),
            vec![1, 2, 4, 5, 8]
        );
    }
}
