//! A narrow, unstable door to the block layer for `benches/` (not part of the store's API):
//! write blocks, look traces up across blocks, run the scan the benchmark times, and test a
//! new block's traces against many blocks as its footer's shared traces.

use std::path::{Path, PathBuf};

use fluoro_proto::TraceId;
use polars::prelude::*;

use super::{held_by_blocks, BlockMeta, FooterCache, TraceFilter, TraceProbe};
use crate::columns::{FAULT, SERVICE};
use crate::error::polars_error;
use crate::error::Result;
use crate::record::StoredSpan;

/// One block on disk.
#[derive(Debug, Clone)]
pub struct Block(BlockMeta);

impl Block {
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn bytes(&self) -> u64 {
        self.0.bytes
    }

    pub fn rows(&self) -> usize {
        self.0.rows
    }

    /// The earliest span start and the latest span end, in microseconds (from the footer).
    pub fn time_range(&self) -> (i64, i64) {
        (self.0.min_start_us, self.0.max_end_us)
    }

    /// `false` means the block certainly holds no span of this trace (its bloom filter).
    pub fn may_contain_trace(&self, id: &TraceId) -> bool {
        self.0.may_contain_trace(id)
    }

    /// A block known by its footer's time range and trace filter alone, without a file: to
    /// time what a flush tests against many blocks.
    pub fn footer_only(id: u64, trace_ids: &[TraceId], min_start_us: i64, max_end_us: i64) -> Block {
        let filter = TraceFilter::build(trace_ids.iter().copied());
        Block(BlockMeta::footer_only(id, trace_ids.len(), filter, min_start_us, max_end_us))
    }
}

/// Which traces, each given with the first and last start of its spans in a new block, the new
/// block's footer lists as shared with `blocks` (`shared_traces.rs`), in the order given.
pub fn shared_traces(traces: &[(TraceId, i64, i64)], blocks: &[Block]) -> Vec<TraceId> {
    let probes: Vec<TraceProbe> = traces.iter().map(|(id, first, last)| TraceProbe::new(*id, *first, *last)).collect();
    let blocks: Vec<&BlockMeta> = blocks.iter().map(|block| &block.0).collect();
    held_by_blocks(&probes, &blocks)
}

/// Writes block `id` beside the blocks already in `blocks_dir`, as a flush would.
pub fn write_block(blocks_dir: &Path, id: u64, spans: Vec<StoredSpan>) -> Result<Block> {
    let existing = super::open_blocks(blocks_dir)?;
    let others: Vec<&BlockMeta> = existing.iter().collect();
    super::write_block(blocks_dir, id, spans, super::Neighbours { others: &others, replaces: &[] })?
        .durable()
        .map(Block)
}

pub fn open_blocks(blocks_dir: &Path) -> Result<Vec<Block>> {
    Ok(super::open_blocks(blocks_dir)?.into_iter().map(Block).collect())
}

/// All spans of one trace across the blocks, as the store's lookup does: filter, then read.
pub fn trace(blocks: &[Block], id: TraceId) -> Result<Vec<StoredSpan>> {
    let mut spans = Vec::new();
    for block in blocks.iter().filter(|block| block.0.may_contain_trace(&id)) {
        spans.extend(super::read_trace_spans(&block.0, &[id], &FooterCache::default())?);
    }
    Ok(spans)
}

/// `(service, fault spans)` for spans starting in `[from_us, to_us)`, over the blocks that
/// overlap the range: projection (service, fault, start_us) and predicates pushed down.
pub fn fault_counts_by_service(blocks: &[Block], from_us: i64, to_us: i64) -> Result<Vec<(String, u64)>> {
    let scans = blocks
        .iter()
        .filter(|block| block.0.overlaps(from_us, to_us))
        .map(|block| super::scan_block(&block.0, from_us, to_us, &[SERVICE], Some(col(FAULT))))
        .collect::<Result<Vec<_>>>()?;
    if scans.is_empty() {
        return Ok(Vec::new());
    }
    let counts = concat(scans, UnionArgs::default())
        .and_then(|all| all.group_by([col(SERVICE)]).agg([len().alias("faults")]).collect())
        .map_err(polars_error)?;
    let services = counts.column(SERVICE).and_then(|c| c.str()).map_err(polars_error)?;
    let faults = counts.column("faults").and_then(|c| c.idx()).map_err(polars_error)?;
    let mut rows: Vec<(String, u64)> = services
        .iter()
        .zip(faults.iter())
        .map(|(service, count)| (service.unwrap_or_default().to_owned(), u64::from(count.unwrap_or_default())))
        .collect();
    rows.sort();
    Ok(rows)
}

/// The paths of the blocks, for handing to another reader.
pub fn paths(blocks: &[Block]) -> Vec<PathBuf> {
    blocks.iter().map(|block| block.0.path.clone()).collect()
}
