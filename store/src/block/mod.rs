//! Parquet blocks: immutable files of spans flushed from recent data, the store's long-term
//! form, readable by any Parquet tool (DuckDB, pandas, Spark) without Fluoro.
//!
//! Design constraints:
//! - One trace is contiguous, so a lookup by id decodes one row group: rows are sorted by
//!   (trace start minute, trace id, span start, span id), where the trace start is the earliest
//!   span start of that trace in the block.
//! - Time ranges prune: the minute bucket leads the sort, so `start_us` min/max statistics per
//!   row group are narrow; whole blocks are skipped from [`BlockMeta`] alone.
//! - Lookups by trace id skip blocks by a bloom filter kept in the footer's key-value metadata
//!   (see `filter.rs`) and row groups by the `trace_hi`/`trace_lo` statistics.
//! - Small on disk, quick to decode: zstd, dictionary encoding for strings and repeated ids
//!   (polars chooses it when a column has < 75 % distinct values), row groups of
//!   [`ROW_GROUP_ROWS`]; `start_us`, `end_us` and `sequence` delta-encoded without zstd,
//!   `document` plain in small pages so a lookup decompresses only its rows' pages (written
//!   from the spans by `document_pages.rs` when a flush writes a block), and a
//!   column chunk zstd barely shrinks (random ids) not compressed (`column_coding.rs`); the
//!   span lists' leaves `PLAIN`, their pages written by `list_pages.rs`, with a null count as
//!   their only statistic.
//! - Durable and atomic: written to `<id>.parquet.tmp`, fsynced, renamed to `<id>.parquet`, the
//!   directory fsynced. A crash leaves either no block or a complete one plus a `.tmp` that
//!   [`open_blocks`] deletes. Everything `open_blocks` needs is in the footer, so starting does
//!   not read data pages.
//! - Open format: plain Parquet types only; Fluoro's metadata is one JSON value under the
//!   key-value key `fluoro.block`, ignored by other readers.
//! - Scans need not deduplicate everything: within one block a span has one version, so two
//!   versions can only meet in a scan when their trace has spans in two sources. Each block
//!   lists its traces that a block existing when it was written may hold a version of a span
//!   of: by that block's bloom filter, among the blocks whose time range meets the trace's
//!   span starts (`shared_traces.rs`; `shared_traces`). A compacted block names the blocks it
//!   `replaces`, so a leftover input is recognised on open. Both fields are optional: blocks without `shared_traces` (written
//!   before it existed) make a scan deduplicate every trace.
//!
//! Format version 1 (`fluoro.block` → `{"version":1,…}`), one row per span:
//!
//! ```text
//! column                 parquet type (logical)        null when
//! trace_hi               INT64 (UINT_64)               never   first 8 bytes of the trace id, big-endian
//! trace_lo               INT64 (UINT_64)               never   last 8 bytes
//! id                     INT64 (UINT_64)               never
//! parent_id              INT64 (UINT_64)               root span
//! kind                   BYTE_ARRAY (STRING)           never   "segment" | "subsegment"
//! service                BYTE_ARRAY (STRING)           independent subsegment not yet attached
//! name                   BYTE_ARRAY (STRING)           never
//! origin, namespace      BYTE_ARRAY (STRING)           absent
//! start_us               INT64                         never   epoch microseconds
//! end_us                 INT64                         in progress
//! in_progress, error, fault, throttle, remote, traced   BOOLEAN   never
//! http_method, http_url  BYTE_ARRAY (STRING)           absent
//! http_status            INT32 (UINT_32)               absent
//! http_client_ip, http_user_agent   BYTE_ARRAY (STRING) absent
//! exceptions             LIST<STRUCT<name STRING, message STRING, remote BOOLEAN>>   never (empty)
//! annotations            LIST<STRUCT<key STRING, string STRING, number DOUBLE, bool BOOLEAN>>
//!                                                      never (empty); one of the values set
//!                        (both lists and their elements `required` since the fifteenth
//!                        session's blocks, `optional` before; readers take either)
//! user                   BYTE_ARRAY (STRING)           absent
//! aws_account_id, aws_operation, aws_region, aws_table, aws_queue, aws_resource,
//! aws_resource_arn, aws_instance_id, aws_availability_zone   BYTE_ARRAY (STRING)   absent
//! sql_url                BYTE_ARRAY (STRING)           absent
//! document               BYTE_ARRAY (STRING)           except on a top-level X-Ray entity's row
//! sequence               INT64 (UINT_64)               never   arrival order, for duplicates
//!
//! footer key-value "fluoro.block":
//! {"version":1,"rows":N,"min_start_us":…,"max_end_us":…,"services":[…],
//!  "filter":{"hashes":K,"bits":"<base64 of little-endian u64 words>"},
//!  "shared_traces":["<trace id as 32 lowercase hex digits>",…],   optional
//!  "replaces":[block id,…]}                                        optional, compacted blocks
//! ```

#[doc(hidden)]
pub mod bench_api;
mod checksum;
mod column_coding;
mod dictionary_pages;
mod document_pages;
mod filter;
mod footer_cache;
mod key_pages;
mod list_pages;
mod read;
mod rle_hybrid;
mod row_groups;
mod schema;
mod shared_traces;

use std::borrow::Borrow;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluoro_proto::TraceId;
use polars::prelude::*;
use polars_parquet::write::KeyValue;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::bucket::RemoteBlocks;
use crate::error::{polars_error, Result, StoreError};
use crate::record::StoredSpan;
pub(crate) use checksum::Intact;
use checksum::Summed;
use column_coding::BlockWriter;

pub(crate) use filter::TraceFilter;
pub(crate) use footer_cache::FooterCache;
pub(crate) use read::{
    collect_block_rows, lazy_block, read_block, read_block_keys, read_trace_spans, scan_block, u64_lit,
};
pub(crate) use row_groups::TraceIndex;
#[allow(unused_imports)]
pub(crate) use schema::frame_to_spans;
pub(crate) use schema::spans_to_frame;
use schema::{spans_to_block_frame, SpanTexts};
pub(crate) use shared_traces::{held_by_blocks, TraceProbe};

/// The format version written now; blocks with a higher version are refused, not deleted.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The footer key-value key holding [`FooterMeta`].
const META_KEY: &str = "fluoro.block";
/// Rows per row group: small enough that a trace lookup decodes little besides its trace,
/// large enough for dictionary and zstd to work (see BENCHMARKS.md, "Parquet blocks").
pub(crate) const ROW_GROUP_ROWS: usize = 16 * 1024;
/// Traces are sorted by the minute they started, then by id.
const SORT_BUCKET_US: i64 = 60_000_000;
const BLOCK_EXTENSION: &str = "parquet";
const TMP_SUFFIX: &str = ".tmp";

/// What the store knows about one block without reading its data.
#[derive(Debug, Clone)]
pub(crate) struct BlockMeta {
    pub id: u64,
    pub path: PathBuf,
    pub rows: usize,
    /// Size of the file on disk.
    pub bytes: u64,
    pub min_start_us: i64,
    /// The latest end (or start, for in-progress spans) of any span.
    pub max_end_us: i64,
    /// Distinct services, sorted.
    pub services: Vec<String>,
    pub filter: TraceFilter,
    /// When the block was written (the file's modification time), in epoch microseconds:
    /// retention counts age from the later of this and `max_end_us`, so data imported with old
    /// timestamps is still kept for the whole retention period.
    pub written_us: i64,
    /// Traces of this block that may also have a version of one of their spans in a block
    /// written before it; `None` when unknown (a block from before Fluoro recorded it): then
    /// any trace may.
    pub shared_traces: Option<Arc<[TraceId]>>,
    /// The blocks a compaction merged into this one.
    pub replaces: Vec<u64>,
    /// Which row groups may hold a trace (`row_groups.rs`); `None` when the footer's
    /// statistics do not say, and a lookup filters the whole block.
    pub trace_index: Option<TraceIndex>,
    /// Set for a block read from the bucket instead of local disk (`bucket/cache.rs`): `path`
    /// names it but no file is there.
    pub remote: Option<Arc<RemoteBlocks>>,
    /// The CRC-32 of the file its footer states, if it states one.
    pub checksum: Option<u32>,
    /// Whether the file matches it, once checked.
    pub intact: Intact,
}

impl BlockMeta {
    /// A block known by its time range and trace filter alone, with no file behind it: for
    /// tests and benchmarks (`bench_api`) of what reads only footers.
    pub(crate) fn footer_only(id: u64, rows: usize, filter: TraceFilter, min_start_us: i64, max_end_us: i64) -> Self {
        BlockMeta {
            id,
            path: PathBuf::from(format!("{id}.parquet")),
            rows,
            bytes: rows as u64 * 30,
            min_start_us,
            max_end_us,
            services: Vec::new(),
            filter,
            written_us: 0,
            shared_traces: Some(Arc::from(Vec::new())),
            replaces: Vec::new(),
            trace_index: None,
            remote: None,
            checksum: None,
            intact: Intact::default(),
        }
    }

    /// `Ok` unless the block's file no longer matches the checksum its footer states: checked
    /// before polars first reads its pages, once per process (`checksum.rs`). Blocks read
    /// from the bucket are not checked here.
    pub(crate) fn check_intact(&self) -> Result<()> {
        match &self.remote {
            Some(_) => Ok(()),
            None => self.intact.check(&self.path, self.checksum),
        }
    }

    /// `false` means the block certainly holds no span of this trace.
    pub(crate) fn may_contain_trace(&self, id: &TraceId) -> bool {
        self.filter.may_contain(id)
    }

    /// Whether any span of the block may start in `[from_us, to_us)` (the range
    /// [`scan_block`] filters on).
    pub(crate) fn overlaps(&self, from_us: i64, to_us: i64) -> bool {
        self.min_start_us < to_us && self.max_end_us >= from_us
    }

    /// Whether every span of the block starts in `[from_us, to_us)`: a span ends no earlier
    /// than it starts (ingest refuses one that does), so its start is within the block's
    /// `[min_start_us, max_end_us]`.
    pub(crate) fn within(&self, from_us: i64, to_us: i64) -> bool {
        self.min_start_us >= from_us && self.max_end_us < to_us
    }
}

/// Fluoro's metadata in the footer.
#[derive(Serialize, Deserialize)]
struct FooterMeta {
    version: u32,
    rows: usize,
    min_start_us: i64,
    max_end_us: i64,
    services: Vec<String>,
    filter: filter::StoredFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shared_traces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    replaces: Vec<u64>,
    /// `crc32:<8 hex digits>` of the whole file (`checksum.rs`), as read; absent in older
    /// blocks. Written by [`Sealed`], not from here.
    #[serde(default, skip_serializing)]
    checksum: Option<String>,
}

/// A footer as written: Fluoro's metadata and the placeholder of the file's checksum.
#[derive(Serialize)]
struct Sealed<'a> {
    #[serde(flatten)]
    footer: &'a FooterMeta,
    checksum: &'static str,
}

/// The blocks a new block is written beside: what its footer says about them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Neighbours<'a> {
    /// Every other block the store holds now (traces that may share a span with them are
    /// listed).
    pub others: &'a [&'a BlockMeta],
    /// The blocks this one replaces (compaction inputs).
    pub replaces: &'a [u64],
}

/// The path of block `id`.
pub(crate) fn block_path(blocks_dir: &Path, id: u64) -> PathBuf {
    blocks_dir.join(format!("{id:020}.{BLOCK_EXTENSION}"))
}

/// A block renamed into place. From the rename on the file is a block that the next open
/// reads, so the caller must register it whatever fails afterwards: a block on disk that the
/// store does not know is left out of the shared lists of later blocks, and its spans would be
/// double counted once a restart reads it beside their other copy.
#[derive(Debug)]
pub(crate) struct WrittenBlock {
    pub meta: BlockMeta,
    /// Why syncing the directory after the rename failed, if it did. Until a later sync of
    /// the directory succeeds a crash may undo the rename, so nothing the block stands in for
    /// (log segments, compaction inputs) may be deleted before then.
    pub unsynced: Option<StoreError>,
}

impl WrittenBlock {
    /// The block, if it is durable; for callers with nothing to keep until it is.
    pub(crate) fn durable(self) -> Result<BlockMeta> {
        match self.unsynced {
            None => Ok(self.meta),
            Some(error) => Err(error),
        }
    }
}

/// Sorts the spans into block order and writes them as block `id`. An error means no block
/// file was left behind (at most a `.tmp`, which is not a block).
pub(crate) fn write_block<S: Borrow<StoredSpan>>(
    blocks_dir: &Path,
    id: u64,
    spans: Vec<S>,
    neighbours: Neighbours<'_>,
) -> Result<WrittenBlock> {
    if spans.is_empty() {
        return Err(StoreError::Block(format!("refusing to write block {id} without spans")));
    }
    let ordered = block_order(&spans);
    let footer = footer_meta(&ordered, neighbours);
    write_rows(blocks_dir, id, footer, |tmp_path, footer| write_span_parquet(tmp_path, &ordered, footer))
}

/// What the footer of a block of another kind (log records, `logs/block.rs`) says: the same
/// [`BlockMeta`] fields, so opening, retention and deletion are the span blocks' code.
#[derive(Debug)]
pub(crate) struct FooterFacts {
    pub rows: usize,
    pub min_us: i64,
    pub max_us: i64,
    /// Distinct, sorted.
    pub services: Vec<String>,
    pub trace_ids: Vec<TraceId>,
}

/// Writes a frame of another kind of row as block `id`, durably, with a footer from `facts`.
pub(crate) fn write_other_block(
    blocks_dir: &Path,
    id: u64,
    frame: &mut DataFrame,
    facts: FooterFacts,
) -> Result<WrittenBlock> {
    let footer = FooterMeta {
        version: FORMAT_VERSION,
        rows: facts.rows,
        min_start_us: facts.min_us,
        max_end_us: facts.max_us,
        services: facts.services,
        filter: TraceFilter::build(facts.trace_ids.into_iter()).to_stored(),
        // Nothing else is ever in the same scan, and nothing is compacted into it.
        shared_traces: Some(Vec::new()),
        replaces: Vec::new(),
        checksum: None,
    };
    write_rows(blocks_dir, id, footer, |tmp_path, footer| write_parquet(tmp_path, frame, footer))
}

/// Writes the rows to a tmp file (`write`), fsyncs, renames it into place as block `id`,
/// fsyncs the directory. An error means no block file was left behind.
fn write_rows(
    blocks_dir: &Path,
    id: u64,
    footer: FooterMeta,
    write: impl FnOnce(&Path, &FooterMeta) -> Result<()>,
) -> Result<WrittenBlock> {
    let path = block_path(blocks_dir, id);
    let tmp_path = path.with_extension(format!("{BLOCK_EXTENSION}{TMP_SUFFIX}"));
    let meta = write(&tmp_path, &footer)
        .and_then(|()| tmp_block_meta(id, &tmp_path, &path, footer))
        .and_then(|meta| rename_into_place(&tmp_path, &path).map(|()| meta))
        .inspect_err(|_| discard_tmp(&tmp_path))?;
    // Nothing after the rename may fail the write: see `WrittenBlock`.
    let unsynced = sync_dir_after_rename(blocks_dir).err();
    Ok(WrittenBlock { meta, unsynced })
}

/// The block's metadata, read while it is still the tmp file: the rename keeps its size and
/// modification time, and nothing that can fail is left for after the rename.
fn tmp_block_meta(id: u64, tmp_path: &Path, path: &Path, footer: FooterMeta) -> Result<BlockMeta> {
    let metadata = fs::metadata(tmp_path).map_err(|error| StoreError::io(tmp_path, error))?;
    let trace_index = written_trace_index(tmp_path);
    let meta = meta_from_footer(id, path.to_owned(), &metadata, footer, trace_index)?;
    Ok(BlockMeta { intact: Intact::written(), ..meta })
}

/// The trace index of a block just written, from its footer; `None` if that cannot be read
/// back, which costs lookups in this block their speed until the next open, nothing else.
fn written_trace_index(path: &Path) -> Option<TraceIndex> {
    let file = File::open(path).ok()?;
    let mut reader = ParquetReader::new(file);
    let metadata = reader.get_metadata().ok()?;
    TraceIndex::from_metadata(metadata)
}

fn rename_into_place(tmp_path: &Path, path: &Path) -> Result<()> {
    #[cfg(test)]
    fault::fail_if_armed(fault::Step::Rename, path)?;
    fs::rename(tmp_path, path).map_err(|error| StoreError::io(path, error))
}

fn sync_dir_after_rename(blocks_dir: &Path) -> Result<()> {
    #[cfg(test)]
    fault::fail_if_armed(fault::Step::SyncAfterRename, blocks_dir)?;
    sync_dir(blocks_dir)
}

/// Best effort: a `.tmp` left over is deleted by the next open anyway.
fn discard_tmp(tmp_path: &Path) {
    if let Err(error) = remove_file(tmp_path) {
        warn!(path = %tmp_path.display(), error = %error, "failed to delete an unfinished block");
    }
}

/// Lists complete blocks, sorted by id. Deletes `*.tmp` leftovers of interrupted writes, moves
/// blocks whose footer cannot be read to `quarantine/` beside `blocks/` (logging each: their
/// spans may still be recoverable by hand), and refuses blocks of a newer format.
pub(crate) fn open_blocks(blocks_dir: &Path) -> Result<Vec<BlockMeta>> {
    fs::create_dir_all(blocks_dir).map_err(|error| StoreError::io(blocks_dir, error))?;
    let entries = fs::read_dir(blocks_dir).map_err(|error| StoreError::io(blocks_dir, error))?;
    let mut blocks = Vec::new();
    let mut deleted = false;
    for entry in entries {
        let path = entry.map_err(|error| StoreError::io(blocks_dir, error))?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if name.ends_with(TMP_SUFFIX) {
            warn!(path = %path.display(), "deleting an interrupted block write");
            remove_file(&path)?;
            deleted = true;
            continue;
        }
        let Some(id) = block_id(name) else { continue };
        match open_block(id, &path) {
            Ok(meta) => blocks.push(meta),
            Err(error @ StoreError::BlockVersion { .. }) => return Err(error),
            Err(error) => {
                let kept = quarantine(blocks_dir, &path)?;
                warn!(path = %path.display(), quarantined = %kept.display(), error = %error,
                    "an unreadable block was moved aside; the other blocks are served");
                deleted = true;
            }
        }
    }
    if deleted {
        sync_dir(blocks_dir)?;
    }
    blocks.sort_by_key(|block| block.id);
    Ok(blocks)
}

/// The folder beside `blocks/` where unreadable blocks are kept for inspection.
pub(crate) const QUARANTINE_DIR: &str = "quarantine";

/// Moves an unreadable block to the quarantine folder, under its name and the time, so that a
/// later block of the same id quarantined again does not replace it. Returns where it went.
fn quarantine(blocks_dir: &Path, path: &Path) -> Result<PathBuf> {
    let dir = blocks_dir.parent().unwrap_or(blocks_dir).join(QUARANTINE_DIR);
    fluoro_proto::create_private_dir(&dir).map_err(|error| StoreError::io(&dir, error))?;
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("block");
    let kept = dir.join(format!("{name}.{seconds}"));
    fs::rename(path, &kept).map_err(|error| StoreError::io(path, error))?;
    sync_dir(&dir)?;
    Ok(kept)
}

/// Deletes blocks (after compaction or by retention) and makes the deletion durable.
pub(crate) fn delete_blocks(blocks_dir: &Path, blocks: &[&BlockMeta]) -> Result<()> {
    // A block whose directory sync failed after its rename (`WrittenBlock::unsynced`) must be
    // durable before the inputs it replaces disappear: sync first.
    sync_dir(blocks_dir)?;
    for block in blocks {
        remove_file(&block.path)?;
    }
    sync_dir(blocks_dir)
}

fn block_id(file_name: &str) -> Option<u64> {
    file_name.strip_suffix(&format!(".{BLOCK_EXTENSION}"))?.parse().ok()
}

/// Reads a block's footer only.
fn open_block(id: u64, path: &Path) -> Result<BlockMeta> {
    let file = File::open(path).map_err(|error| StoreError::io(path, error))?;
    let file_metadata = file.metadata().map_err(|error| StoreError::io(path, error))?;
    let (footer, trace_index) = read_footer(path, ParquetReader::new(file), file_metadata.len())?;
    meta_from_footer(id, path.to_owned(), &file_metadata, footer, trace_index)
}

/// The metadata of a block held in memory, read from the bucket: `path` names it, `written_us`
/// stands for the file's modification time.
pub(crate) fn open_remote_block(
    id: u64,
    path: PathBuf,
    bytes: &bytes::Bytes,
    written_us: i64,
    remote: Arc<RemoteBlocks>,
) -> Result<BlockMeta> {
    let len = bytes.len() as u64;
    let (footer, trace_index) = read_footer(&path, ParquetReader::new(std::io::Cursor::new(bytes.clone())), len)?;
    let mut meta = meta_from_parts(id, path, len, written_us, footer, trace_index)?;
    meta.remote = Some(remote);
    Ok(meta)
}

fn read_footer<R: polars::io::mmap::MmapBytesReader>(
    path: &Path,
    mut reader: ParquetReader<R>,
    len: u64,
) -> Result<(FooterMeta, Option<TraceIndex>)> {
    // polars' footer (thrift) reader panics on some damaged footers instead of returning an
    // error (found by `store/tests/corrupted_files_never_panic.rs`); a damaged block must be
    // an unreadable block, not a crash at startup.
    let metadata = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.get_metadata().cloned()))
        .map_err(|_| StoreError::Block(format!("{}: the Parquet footer is damaged", path.display())))?
        .map_err(polars_error)?;
    let metadata = &metadata;
    check_byte_ranges(path, metadata, len)?;
    let text = metadata
        .key_value_metadata()
        .iter()
        .flatten()
        .find(|pair| pair.key == META_KEY)
        .and_then(|pair| pair.value.clone())
        .ok_or_else(|| StoreError::Block(format!("{}: no {META_KEY} metadata", path.display())))?;
    let footer: FooterMeta = serde_json::from_str(&text)
        .map_err(|error| StoreError::Block(format!("{}: bad {META_KEY} metadata: {error}", path.display())))?;
    if footer.checksum.as_deref().is_some_and(|text| checksum::parse(text).is_none()) {
        return Err(StoreError::Block(format!("{}: damaged: an unreadable checksum", path.display())));
    }
    if footer.version > FORMAT_VERSION {
        return Err(StoreError::BlockVersion { path: path.to_owned(), version: footer.version });
    }
    Ok((footer, TraceIndex::from_metadata(metadata)))
}

/// Every row group and column chunk the footer names lies inside the file. A damaged footer
/// can point past the end, and polars' streaming reader slices the file by these ranges
/// without checking them (an abort, found by `store/tests/corrupted_files_never_panic.rs`).
fn check_byte_ranges(path: &Path, metadata: &polars::io::parquet::read::FileMetadata, file_len: u64) -> Result<()> {
    for row_group in &metadata.row_groups {
        let ranges = std::iter::once(row_group.full_byte_range()).chain(row_group.byte_ranges_iter());
        for range in ranges {
            if range.start > range.end || range.end > file_len {
                return Err(StoreError::Block(format!(
                    "{}: a column chunk at bytes {}..{} lies outside the file of {file_len} bytes",
                    path.display(),
                    range.start,
                    range.end
                )));
            }
        }
    }
    Ok(())
}

fn meta_from_footer(
    id: u64,
    path: PathBuf,
    file: &fs::Metadata,
    footer: FooterMeta,
    trace_index: Option<TraceIndex>,
) -> Result<BlockMeta> {
    let written = file.modified().ok().and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok());
    let written_us = written.map_or(0, |since_epoch| i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX));
    meta_from_parts(id, path, file.len(), written_us, footer, trace_index)
}

fn meta_from_parts(
    id: u64,
    path: PathBuf,
    bytes: u64,
    written_us: i64,
    footer: FooterMeta,
    trace_index: Option<TraceIndex>,
) -> Result<BlockMeta> {
    let path_for_log = path.clone();
    Ok(BlockMeta {
        id,
        path,
        rows: footer.rows,
        bytes,
        written_us,
        min_start_us: footer.min_start_us,
        max_end_us: footer.max_end_us,
        services: footer.services,
        filter: TraceFilter::from_stored(&footer.filter)?,
        shared_traces: footer.shared_traces.and_then(|ids| parse_trace_ids(&path_for_log, &ids)),
        replaces: footer.replaces,
        trace_index,
        remote: None,
        checksum: footer.checksum.as_deref().and_then(checksum::parse),
        intact: Intact::default(),
    })
}

fn trace_id_hex(id: TraceId) -> String {
    format!("{:032x}", id.as_u128())
}

/// The footer's shared traces; `None` (any trace may be shared) if one does not parse, so a
/// damaged list costs a slower scan, never a wrong answer or the block.
fn parse_trace_ids(path: &Path, ids: &[String]) -> Option<Arc<[TraceId]>> {
    let parsed: Option<Vec<TraceId>> = ids
        .iter()
        .map(|id| u128::from_str_radix(id, 16).ok().map(|value| TraceId::from_bytes(value.to_be_bytes())))
        .collect();
    if parsed.is_none() {
        warn!(path = %path.display(), "ignoring an unreadable list of shared traces");
    }
    parsed.map(Arc::from)
}

/// The spans in block order: (trace start minute, trace id, start, id, sequence). Sorting by
/// the trace's own start rather than each span's keeps a trace contiguous even when it spans a
/// minute boundary. References are sorted, each beside its key, rather than the spans
/// themselves: a span is hundreds of bytes, and moving them was most of a flush's `memmove`.
/// Two sorts instead of a table of trace starts: spans by (trace, start, id, sequence), which
/// puts each trace's start first in its run, then the runs by (minute, trace).
fn block_order<S: Borrow<StoredSpan>>(spans: &[S]) -> Vec<&StoredSpan> {
    let mut by_trace: Vec<(SpanKey, &StoredSpan)> = spans
        .iter()
        .map(|span| {
            let span = span.borrow();
            ((span.row.trace_id.as_u128(), span.row.start_us, span.row.id.as_u64(), span.sequence), span)
        })
        .collect();
    // The key is unique per version (`sequence`), so an unstable sort gives one order.
    by_trace.sort_unstable_by_key(|(key, _)| *key);
    let mut runs: Vec<(i64, u128, std::ops::Range<usize>)> = Vec::new();
    for (at, (key, _)) in by_trace.iter().enumerate() {
        match runs.last_mut() {
            Some((_, trace_id, range)) if *trace_id == key.0 => range.end = at + 1,
            _ => runs.push((key.1.div_euclid(SORT_BUCKET_US), key.0, at..at + 1)),
        }
    }
    runs.sort_unstable_by_key(|(bucket, trace_id, _)| (*bucket, *trace_id));
    runs.into_iter().flat_map(|(_, _, range)| by_trace[range].iter().map(|(_, span)| *span)).collect()
}

/// (trace id, start, id, sequence), the ids as numbers in the order of their bytes: a byte array
/// is compared byte by byte.
type SpanKey = (u128, i64, u64, u64);

fn footer_meta<S: Borrow<StoredSpan>>(spans: &[S], neighbours: Neighbours<'_>) -> FooterMeta {
    let spans: Vec<&StoredSpan> = spans.iter().map(Borrow::borrow).collect();
    let services = distinct_services(&spans);
    let probes = trace_probes(&spans);
    let shared_traces = held_by_blocks(&probes, neighbours.others).into_iter().map(trace_id_hex).collect();
    FooterMeta {
        shared_traces: Some(shared_traces),
        replaces: neighbours.replaces.to_vec(),
        version: FORMAT_VERSION,
        rows: spans.len(),
        min_start_us: spans.iter().map(|span| span.row.start_us).min().unwrap_or_default(),
        max_end_us: spans.iter().map(|span| span.row.end_us.unwrap_or(span.row.start_us)).max().unwrap_or_default(),
        services,
        filter: TraceFilter::build(probes.iter().map(TraceProbe::trace_id)).to_stored(),
        checksum: None,
    }
}

/// Each trace of spans in block order once, in order, as [`shared_traces`] tests it. A trace's
/// spans lie together, by start.
fn trace_probes(spans: &[&StoredSpan]) -> Vec<TraceProbe> {
    spans
        .chunk_by(|a, b| a.row.trace_id == b.row.trace_id)
        .map(|run| TraceProbe::new(run[0].row.trace_id, run[0].row.start_us, run[run.len() - 1].row.start_us))
        .collect()
}

/// The spans' services, sorted, each once. Distinct names are few: each is copied once, and
/// only the distinct ones are sorted (collecting every span's name into a `BTreeSet` sorted them
/// all, ~2 % of a flush's samples). Spans of one trace mostly share a service: the last name
/// seen is checked before the set.
fn distinct_services(spans: &[&StoredSpan]) -> Vec<String> {
    let mut names: PlHashSet<&str> = PlHashSet::default();
    let mut last = None;
    for name in spans.iter().filter_map(|span| span.row.service.as_deref()) {
        if last != Some(name) {
            names.insert(name);
            last = Some(name);
        }
    }
    let mut services: Vec<String> = names.into_iter().map(str::to_owned).collect();
    services.sort_unstable();
    services
}

/// Writes a whole frame as one block file, fsynced, in row groups of [`ROW_GROUP_ROWS`].
fn write_parquet(path: &Path, frame: &mut DataFrame, footer: &FooterMeta) -> Result<()> {
    write_parquet_with(path, footer, frame.schema(), |writer| {
        for offset in (0..frame.height()).step_by(ROW_GROUP_ROWS) {
            writer.write_row_group(&frame.slice(offset as i64, ROW_GROUP_ROWS))?;
        }
        Ok(())
    })
}

/// Writes spans already in block order as one block file, fsynced: one frame per row group,
/// encoded and dropped before the next is built, so a flush holds one row group's columns on
/// top of recent data rather than a copy of all of it.
fn write_span_parquet(path: &Path, spans: &[&StoredSpan], footer: &FooterMeta) -> Result<()> {
    let mut chunks = spans.chunks(ROW_GROUP_ROWS);
    let first_chunk = chunks.next().unwrap_or_default();
    let first = spans_to_block_frame(first_chunk)?;
    write_parquet_with(path, footer, &first.schema().clone(), |writer| {
        writer.write_row_group_of_spans(&first, SpanTexts::new(first_chunk))?;
        drop(first);
        for chunk in chunks {
            writer.write_row_group_of_spans(&spans_to_block_frame(chunk)?, SpanTexts::new(chunk))?;
        }
        Ok(())
    })
}

/// Buffered between polars' writer and the file: the writer emits page headers a field at a
/// time, and unbuffered that was ~16,000 `write` calls a second, most of one byte, on the flush
/// thread of a server taking 20k documents/s.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

fn write_parquet_with(
    path: &Path,
    footer: &FooterMeta,
    schema: &Schema,
    write: impl FnOnce(&mut BlockWriter<&mut Summed<BufWriter<&File>>>) -> Result<()>,
) -> Result<()> {
    // Written stating `checksum::UNSEALED`, which `seal` overwrites once the file is whole.
    let sealed = Sealed { footer, checksum: checksum::UNSEALED };
    let footer_json = serde_json::to_string(&sealed).map_err(|error| StoreError::Encode(error.to_string()))?;
    // Readable too: `seal` reads the footer back to find the checksum's place.
    let file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path);
    let file = file.map_err(|error| StoreError::io(path, error))?;
    let mut summed = Summed::new(BufWriter::with_capacity(WRITE_BUFFER_BYTES, &file));
    let mut writer = BlockWriter::new(&mut summed, schema)?;
    write(&mut writer)?;
    writer.finish(KeyValue::new(META_KEY.to_owned(), footer_json))?;
    summed.flush().map_err(|error| StoreError::io(path, error))?;
    checksum::seal(&file, path, summed.crc())?;
    file.sync_all().map_err(|error| StoreError::io(path, error))
}

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(path, error)),
        _ => Ok(()),
    }
}

/// Makes renames and deletions in the directory durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|dir_file| dir_file.sync_all()).map_err(|error| StoreError::io(dir, error))
}

#[cfg(test)]
pub(crate) mod tests;

/// Test-only failures of the steps around a block's rename, armed per thread, so a test can
/// make exactly one block write fail where a full disk or a dying device would.
#[cfg(test)]
pub(crate) mod fault {
    use std::cell::Cell;
    use std::path::Path;

    use crate::error::{Result, StoreError};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Step {
        Rename,
        SyncAfterRename,
    }

    thread_local! {
        static ARMED: Cell<Option<Step>> = const { Cell::new(None) };
    }

    /// The next `step` on this thread fails, once.
    pub(crate) fn arm(step: Step) {
        ARMED.with(|armed| armed.set(Some(step)));
    }

    pub(super) fn fail_if_armed(step: Step, path: &Path) -> Result<()> {
        if ARMED.with(|armed| armed.get()) != Some(step) {
            return Ok(());
        }
        ARMED.with(|armed| armed.set(None));
        Err(StoreError::io(path, std::io::Error::other(format!("injected failure at {step:?}"))))
    }
}
