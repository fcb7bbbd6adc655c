//! Reading blocks: traces by id, lazy scans for the analyzer, whole blocks for compaction.

use std::collections::HashSet;
use std::fs::File;
use std::io::Cursor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluoro_proto::TraceId;
use polars::io::parquet::metadata::FileMetadataRef;
use polars::prelude::*;

use super::footer_cache::FooterCache;
use super::schema::frame_to_spans;
use super::BlockMeta;
use crate::columns::{u64_column, START_US, TRACE_HI, TRACE_LO};
use crate::error::{polars_error, Result, StoreError};
use crate::record::StoredSpan;
use crate::text_keys::KeyedText;

/// Above this many ids a lookup filters on `is_in` per half and checks pairs afterwards; below,
/// one equality pair per id, which the row-group statistics prune best.
const MAX_EQUALITY_IDS: usize = 16;

/// The spans of these traces in this block, every column, in block order. Ids the block's
/// filter rules out cost nothing; the rest read only the row groups whose `trace_hi`/`trace_lo`
/// statistics admit them: with the block's [`super::TraceIndex`], the id columns of those row
/// groups and then every column of just the matching rows, with the footer from `footers`.
pub(crate) fn read_trace_spans(block: &BlockMeta, ids: &[TraceId], footers: &FooterCache) -> Result<Vec<StoredSpan>> {
    let wanted: Vec<TraceId> = ids.iter().copied().filter(|id| block.may_contain_trace(id)).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(index) = &block.trace_index {
        return read_indexed(block, index, &wanted, footers);
    }
    let frame = lazy_block(block)?.filter(trace_predicate(&wanted)).collect().map_err(polars_error)?;
    let spans = frame_to_spans(&frame)?;
    if wanted.len() <= MAX_EQUALITY_IDS {
        return Ok(spans);
    }
    // `is_in` per half admits cross pairs (hi of one id, lo of another); drop them.
    let wanted: HashSet<TraceId> = wanted.into_iter().collect();
    Ok(spans.into_iter().filter(|span| wanted.contains(&span.row.trace_id)).collect())
}

/// [`read_trace_spans`] through the trace index: the trace's rows are found from the id
/// columns of the row groups that may hold it, then only those rows are decoded (the reader
/// skips the pages outside them), so a lookup costs a few pages, not a row group of documents.
fn read_indexed(
    block: &BlockMeta,
    index: &super::TraceIndex,
    wanted: &[TraceId],
    footers: &FooterCache,
) -> Result<Vec<StoredSpan>> {
    let groups: Vec<Range<usize>> = index.row_groups_for(wanted).map(|group| group.rows.clone()).collect();
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let source = BlockSource::open(block, footers)?;
    // Sorted for a binary search per row: a SipHash of every row of each row group read was
    // 7.5 % of a lookup's samples.
    let mut wanted: Vec<(u64, u64)> = wanted.iter().map(|id| id.halves()).collect();
    wanted.sort_unstable();
    let mut runs: Vec<Range<usize>> = Vec::new();
    for group in groups {
        let ids = source.read(Some(&[TRACE_HI, TRACE_LO]), group.clone())?;
        let (his, los) = (u64_column(&ids, TRACE_HI)?, u64_column(&ids, TRACE_LO)?);
        // Block ids are never null: their values are read without a validity check per row.
        for (row, key) in (group.start..).zip(his.into_no_null_iter().zip(los.into_no_null_iter())) {
            if wanted.binary_search(&key).is_err() {
                continue;
            }
            match runs.last_mut() {
                Some(run) if run.end == row => run.end += 1,
                _ => runs.push(row..row + 1),
            }
        }
    }
    let mut spans = Vec::new();
    for run in runs {
        spans.extend(frame_to_spans(&source.read(None, run)?)?);
    }
    Ok(spans)
}

/// A block's bytes and footer, opened once for the several reads of one lookup.
struct BlockSource {
    bytes: BlockBytes,
    metadata: FileMetadataRef,
}

enum BlockBytes {
    Local(PathBuf),
    Remote(bytes::Bytes),
}

impl BlockSource {
    fn open(block: &BlockMeta, footers: &FooterCache) -> Result<BlockSource> {
        block.check_intact()?;
        let bytes = match &block.remote {
            Some(remote) => BlockBytes::Remote(remote.block_bytes(&block.path)?),
            None => BlockBytes::Local(block.path.clone()),
        };
        let metadata = footers.get_or_parse(block, || match &bytes {
            BlockBytes::Local(path) => {
                ParquetReader::new(open_file(path)?).get_metadata().cloned().map_err(polars_error)
            }
            BlockBytes::Remote(bytes) => {
                ParquetReader::new(Cursor::new(bytes.clone())).get_metadata().cloned().map_err(polars_error)
            }
        })?;
        Ok(BlockSource { bytes, metadata })
    }

    /// `rows` of the block, with only `columns` (all when `None`).
    fn read(&self, columns: Option<&[&str]>, rows: Range<usize>) -> Result<DataFrame> {
        let columns = columns.map(|names| names.iter().map(|name| (*name).to_owned()).collect());
        let slice = Some((rows.start, rows.len()));
        match &self.bytes {
            BlockBytes::Local(path) => self.finish(ParquetReader::new(open_file(path)?), columns, slice),
            BlockBytes::Remote(bytes) => self.finish(ParquetReader::new(Cursor::new(bytes.clone())), columns, slice),
        }
    }

    fn finish<R: polars::io::mmap::MmapBytesReader>(
        &self,
        mut reader: ParquetReader<R>,
        columns: Option<Vec<String>>,
        slice: Option<(usize, usize)>,
    ) -> Result<DataFrame> {
        reader.set_metadata(self.metadata.clone());
        reader.with_columns(columns).with_slice(slice).finish().map_err(polars_error)
    }
}

/// Appends to `texts[i]` the keys of `columns[i]` on `rows` of the block (sorted block row
/// numbers; every row when `None`), read from the text columns' pages (`key_pages.rs`).
pub(crate) fn read_block_keys(
    block: &BlockMeta,
    footers: &FooterCache,
    columns: &[&str],
    rows: Option<&[u32]>,
    texts: &mut [KeyedText],
) -> Result<()> {
    let source = BlockSource::open(block, footers)?;
    let chunks = match &source.bytes {
        BlockBytes::Local(path) => {
            let file = open_file(path)?;
            let length = file.metadata().map_err(|error| StoreError::io(path, error))?.len();
            ChunkReader::File(path, file, length)
        }
        BlockBytes::Remote(bytes) => ChunkReader::Bytes(polars_buffer::Buffer::from_owner(bytes.clone())),
    };
    let mut chunk_bytes = |range: Range<u64>| chunks.read(range);
    for (column, text) in columns.iter().zip(texts) {
        super::key_pages::read_keys(&source.metadata, column, rows, &mut chunk_bytes, text)
            .map_err(|error| StoreError::Block(format!("{}: {error}", block.path.display())))?;
    }
    Ok(())
}

/// Where a block's column chunks are read from: its file, or its bytes from the bucket.
enum ChunkReader<'a> {
    /// The file and its length.
    File(&'a Path, File, u64),
    Bytes(polars_buffer::Buffer<u8>),
}

impl ChunkReader<'_> {
    /// The bytes of one column chunk, by its byte range in the file.
    fn read(&self, range: Range<u64>) -> Result<polars_buffer::Buffer<u8>> {
        match self {
            ChunkReader::File(path, file, length) => {
                if range.start > range.end || range.end > *length {
                    return Err(StoreError::Block("a column chunk past the end of the block".to_owned()));
                }
                let mut bytes = vec![0; (range.end - range.start) as usize];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut bytes, range.start)
                    .map_err(|error| StoreError::io(*path, error))?;
                Ok(polars_buffer::Buffer::from(bytes))
            }
            ChunkReader::Bytes(whole) => {
                let (start, end) = (range.start as usize, range.end as usize);
                match start <= end && end <= whole.len() {
                    true => Ok(whole.clone().sliced(start..end)),
                    false => Err(StoreError::Block("a column chunk past the end of the block".to_owned())),
                }
            }
        }
    }
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|error| StoreError::io(path, error))
}

/// A lazy scan of the spans that start in `[from_us, to_us)`, with only `columns` (all when
/// empty) and an optional extra predicate, both pushed down into the Parquet reader. A block
/// wholly in the range is read without the range test: a predicate makes the reader decode
/// `start_us` first, into a vector that grows page by page, and every other column through a
/// row mask.
pub(crate) fn scan_block(
    block: &BlockMeta,
    from_us: i64,
    to_us: i64,
    columns: &[&str],
    predicate: Option<Expr>,
) -> Result<LazyFrame> {
    let in_range = (!block.within(from_us, to_us)).then(|| starts_in(from_us, to_us));
    let scan = match [in_range, predicate].into_iter().flatten().reduce(Expr::and) {
        Some(filter) => lazy_block(block)?.filter(filter),
        None => lazy_block(block)?,
    };
    if columns.is_empty() {
        return Ok(scan);
    }
    Ok(scan.select(columns.iter().map(|name| col(*name)).collect::<Vec<_>>()))
}

/// The rows whose span starts in `[from_us, to_us)`.
fn starts_in(from_us: i64, to_us: i64) -> Expr {
    col(START_US).gt_eq(lit(from_us)).and(col(START_US).lt(lit(to_us)))
}

/// The column of a block's row numbers in [`collect_block_rows`].
const ROW_NUMBER: &str = "__fluoro_row";

/// [`scan_block`] collected, without a predicate, and the block row numbers of the rows it
/// kept when the block is not wholly in the range (`None`: every row, in order), for reading
/// the same rows' text columns as keys ([`read_block_keys`]).
pub(crate) fn collect_block_rows(
    block: &BlockMeta,
    from_us: i64,
    to_us: i64,
    columns: &[&str],
) -> Result<(DataFrame, Option<Vec<u32>>)> {
    if block.within(from_us, to_us) {
        let frame = crate::deadline::checked(scan_block(block, from_us, to_us, columns, None)?)?;
        return Ok((frame.collect().map_err(polars_error)?, None));
    }
    let selected: Vec<Expr> = columns.iter().chain([&ROW_NUMBER]).map(|name| col(*name)).collect();
    let scan = lazy_block(block)?.with_row_index(ROW_NUMBER, None).filter(starts_in(from_us, to_us)).select(selected);
    let mut frame = crate::deadline::checked(scan)?.collect().map_err(polars_error)?;
    let numbers = frame.drop_in_place(ROW_NUMBER).map_err(polars_error)?;
    let rows = numbers.idx().map_err(polars_error)?.into_no_null_iter().collect();
    Ok((frame, Some(rows)))
}

/// Every span of a block, in block order.
pub(crate) fn read_block(block: &BlockMeta) -> Result<Vec<StoredSpan>> {
    let frame = lazy_block(block)?.collect().map_err(polars_error)?;
    frame_to_spans(&frame)
}

pub(crate) fn lazy_block(block: &BlockMeta) -> Result<LazyFrame> {
    block.check_intact()?;
    // Block files are small and read often: no cache, no row-count pre-pass.
    let args = ScanArgsParquet { cache: false, rechunk: false, ..ScanArgsParquet::default() };
    if let Some(remote) = &block.remote {
        // Read from the bucket (or the cache of what was read): the scan holds the bytes.
        let bytes = remote.block_bytes(&block.path)?;
        let sources = ScanSources::Buffers(Arc::from([polars_buffer::Buffer::from_owner(bytes)]));
        // A buffer has no path to read hive partitions from.
        let hive_options = HiveOptions::new_disabled();
        return LazyFrame::scan_parquet_sources(sources, ScanArgsParquet { hive_options, ..args })
            .map_err(polars_error);
    }
    let path = PlRefPath::new(block.path.to_string_lossy().as_ref());
    LazyFrame::scan_parquet(path, args).map_err(polars_error)
}

fn trace_predicate(ids: &[TraceId]) -> Expr {
    let halves: Vec<(u64, u64)> = ids.iter().map(|id| id.halves()).collect();
    if halves.len() <= MAX_EQUALITY_IDS {
        let pair = |(hi, lo): (u64, u64)| col(TRACE_HI).eq(u64_lit(hi)).and(col(TRACE_LO).eq(u64_lit(lo)));
        return halves.iter().copied().map(pair).reduce(Expr::or).unwrap_or_else(|| lit(false));
    }
    let his = Series::new("his".into(), halves.iter().map(|(hi, _)| *hi).collect::<Vec<u64>>());
    let los = Series::new("los".into(), halves.iter().map(|(_, lo)| *lo).collect::<Vec<u64>>());
    col(TRACE_HI).is_in(lit(his).implode(false), false).and(col(TRACE_LO).is_in(lit(los).implode(false), false))
}

/// A typed `u64` literal: `lit(u64)` is a dynamic integer that polars materialises through
/// `i64` (or `i128`, a feature we leave off), which fails for ids above `i64::MAX`.
pub(crate) fn u64_lit(value: u64) -> Expr {
    lit(Scalar::from(value))
}
