//! [`crate::Store::scan_keyed`]: a scan whose text columns come as keys ([`KeyedText`]), read
//! from the blocks' dictionary pages (`block/key_pages.rs`), beside the other columns as
//! polars reads them; one version per span, by the replace rule as `scan.rs` applies it.
//!
//! Row for row, `texts` matches `spans`: a block wholly in the range gives every row of both;
//! a block the range cuts gives polars' rows with their block row numbers, and the keys of
//! exactly those rows; recent data gives strings, keyed here; the rows the replace rule drops
//! are dropped from both.

use std::sync::Arc;

use polars::prelude::*;

use crate::block::{self, BlockMeta, FooterCache};
use crate::columns::PREFERENCE_COLUMNS;
use crate::error::{polars_error, Result};
use crate::record::StoredSpan;
use crate::scan::{kept_rows, ScanSources, SharedTraces};
use crate::text_keys::KeyedText;

/// Spans of a time range with their text columns as keys.
#[derive(Debug, Clone)]
pub struct KeyedScan {
    /// The other columns asked for, in order.
    pub spans: DataFrame,
    /// The text columns asked for as keys, in order, each a key per row of `spans`.
    pub texts: Vec<KeyedText>,
}

/// What one scan reads: its blocks, recent rows and the traces that may hold two versions.
pub(crate) struct KeyedSources<'a> {
    pub blocks: &'a [Arc<BlockMeta>],
    pub recent: &'a [StoredSpan],
    pub shared: &'a SharedTraces,
    pub footers: &'a FooterCache,
}

/// The spans starting in `[from_us, to_us)` of `sources`: `columns` (which hold the span key)
/// as polars reads them and `texts` as keys, one version per span.
pub(crate) fn keyed_scan(
    sources: KeyedSources<'_>,
    from_us: i64,
    to_us: i64,
    columns: &[&str],
    texts: &[&str],
) -> Result<KeyedScan> {
    let mut frames = Vec::with_capacity(sources.blocks.len() + 1);
    let mut rows = Vec::with_capacity(sources.blocks.len());
    for block in sources.blocks {
        let (frame, block_rows) = block::collect_block_rows(block, from_us, to_us, columns)?;
        frames.push(frame);
        rows.push(block_rows);
    }
    let mut keyed = block_keys(sources.blocks, &rows, sources.footers, texts)?;
    frames.push(recent_rows(sources.recent, columns, texts, &mut keyed)?);
    let mut spans = stacked(frames)?;
    let versions = || preference_rows(&sources, from_us, to_us);
    if let Some(keep) = kept_rows(&spans, sources.shared, versions)? {
        spans = spans.filter(&BooleanChunked::from_slice("keep".into(), &keep)).map_err(polars_error)?;
        keyed.iter_mut().for_each(|text| text.retain_rows(&keep));
    }
    Ok(KeyedScan { spans, texts: keyed })
}

/// The [`PREFERENCE_COLUMNS`] of the rows [`keyed_scan`] reads, in the same order: the
/// replace rule's second scan, when two versions of a span meet.
fn preference_rows(sources: &KeyedSources<'_>, from_us: i64, to_us: i64) -> Result<DataFrame> {
    let recent = block::spans_to_frame(sources.recent)?.lazy();
    let same_rows = ScanSources { blocks: sources.blocks.to_vec(), recent, from_us, to_us, predicate: None };
    same_rows.read(PREFERENCE_COLUMNS)?.collect().map_err(polars_error)
}

/// The frames' rows one after another.
fn stacked(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut frames = frames.into_iter();
    let mut stacked = frames.next().unwrap_or_default();
    for frame in frames {
        stacked.vstack_mut_owned(frame).map_err(polars_error)?;
    }
    Ok(stacked)
}

/// The keys of `texts` on the scanned rows of each block, in block order; the columns are
/// split between two threads (the machine has two cores), each column read by one.
fn block_keys(
    blocks: &[Arc<BlockMeta>],
    rows: &[Option<Vec<u32>>],
    footers: &FooterCache,
    texts: &[&str],
) -> Result<Vec<KeyedText>> {
    let scanned = blocks.iter().zip(rows).map(|(block, rows)| rows.as_ref().map_or(block.rows, Vec::len)).sum();
    let keyed_column = |_| KeyedText { keys: Vec::with_capacity(scanned), ..KeyedText::default() };
    let mut keyed: Vec<KeyedText> = texts.iter().map(keyed_column).collect();
    let read = |columns: &[&str], keyed: &mut [KeyedText]| -> Result<()> {
        for (block, rows) in blocks.iter().zip(rows) {
            block::read_block_keys(block, footers, columns, rows.as_deref(), keyed)?;
        }
        Ok(())
    };
    let middle = texts.len() / 2;
    let (first_columns, second_columns) = texts.split_at(middle);
    let (first_keyed, second_keyed) = keyed.split_at_mut(middle);
    std::thread::scope(|scope| -> Result<()> {
        let second = scope.spawn(|| read(second_columns, second_keyed));
        read(first_columns, first_keyed)?;
        second.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    Ok(keyed)
}

/// Recent rows in `[from_us, to_us)` (already chosen by the caller) as `columns`, their `texts`
/// appended to `keyed`.
fn recent_rows(recent: &[StoredSpan], columns: &[&str], texts: &[&str], keyed: &mut [KeyedText]) -> Result<DataFrame> {
    let frame = block::spans_to_frame(recent)?;
    for (name, text) in texts.iter().zip(keyed) {
        text.push_strings(frame.column(name).and_then(|column| column.str()).map_err(polars_error)?);
    }
    frame.select(columns.iter().copied()).map_err(polars_error)
}
