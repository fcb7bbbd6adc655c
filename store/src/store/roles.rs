//! How a store shares a bucket with other processes ([`StoreRole`]), as Tempo's ingesters and
//! queriers do (`docs/scale-out.md`):
//! - a **collector** writes its blocks under its own writer number (claimed once in the bucket,
//!   kept in `writer-id` in its data dir), in the high bits of its block ids, so several
//!   collectors share one bucket; it restores, compacts and expires only its own blocks, so
//!   each block is maintained in exactly one place. It hands its recent data to query nodes
//!   ([`Store::recent_spans_in`], [`Store::recent_traces`]);
//! - a **query** node writes no spans: it reads every writer's published blocks through the
//!   block cache and the collectors' recent data through a [`RecentSource`]. Each read asks the
//!   collectors first and lists the bucket after, and a collector publishes a block before it
//!   drops the recent data the block holds, so a span is always in one of the two (or both:
//!   the replace rule keeps one).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fluoro_proto::TraceId;

use super::{Shared, Store, StoreConfig};
use crate::block::BlockMeta;
use crate::bucket::{block_id, Bucket};
use crate::error::{Result, StoreError};
use crate::recent::RecentSpans;
use crate::record::StoredSpan;
use crate::remote::RecentSource;

/// Block ids are `writer << WRITER_SHIFT | sequence`: 2^20 writers of 2^44 blocks each.
const WRITER_SHIFT: u32 = 44;
/// In the store's data dir: the collector's writer number, claimed once.
const WRITER_ID_FILE: &str = "writer-id";
/// A query node's block cache when `blocks_cache_bytes` is not set: 512 MiB.
pub(super) const DEFAULT_QUERY_CACHE_BYTES: u64 = 512 << 20;

/// What a store does with the spans and blocks it shares a bucket with.
#[derive(Debug, Clone, Default)]
pub enum StoreRole {
    /// Ingests, flushes and maintains every block; with a bucket, publishes its blocks and
    /// restores every published one. The default.
    #[default]
    AllInOne,
    /// Ingests and publishes its blocks to the bucket (required) under its own writer number;
    /// restores and maintains only those.
    Collector,
    /// Stores no spans; reads every writer's published blocks (the bucket is required) and the
    /// collectors' recent data.
    Query { collectors: Arc<dyn RecentSource> },
}

impl StoreRole {
    pub(super) fn validate(&self, config: &StoreConfig) -> Result<()> {
        match self {
            StoreRole::AllInOne => Ok(()),
            _ if config.bucket.is_none() => {
                Err(StoreError::Config("a collector or query node needs a blocks bucket".into()))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn is_query(&self) -> bool {
        matches!(self, StoreRole::Query { .. })
    }
}

/// The writer number this store's blocks carry: a collector's own (read from its data dir, or
/// claimed in the bucket and saved there), 0 otherwise.
pub(super) fn writer_number(config: &StoreConfig, bucket: Option<&Bucket>) -> Result<u32> {
    let (StoreRole::Collector, Some(bucket)) = (&config.role, bucket) else { return Ok(0) };
    let path = config.data_dir.join(WRITER_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| StoreError::Config(format!("{} does not hold a writer number", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let writer = bucket.claim_writer()?;
            fluoro_proto::replace_durably(&path, writer.to_string().as_bytes())
                .map_err(|error| StoreError::io(&path, error))?;
            tracing::info!(writer, "claimed a writer number in the bucket");
            Ok(writer)
        }
        Err(error) => Err(StoreError::io(&path, error)),
    }
}

/// The first block id of a writer; its blocks count up from there.
pub(super) fn first_block_id(writer: u32) -> u64 {
    (u64::from(writer) << WRITER_SHIFT) + 1
}

/// The writer number a block id carries.
pub(super) fn writer_of(block_id: u64) -> u32 {
    u32::try_from(block_id >> WRITER_SHIFT).unwrap_or(u32::MAX)
}

/// Whether a published block (by name) is this store's to restore: a collector's own, or any.
pub(super) fn restores(role: &StoreRole, writer: u32) -> impl Fn(&str) -> bool {
    let only_own = matches!(role, StoreRole::Collector);
    move |name| !only_own || block_id(name).is_some_and(|id| id >> WRITER_SHIFT == u64::from(writer))
}

/// Whether blocks of more than one writer are among these: their footers do not list the
/// traces they share with each other's blocks.
pub(super) fn several_writers(blocks: &[&BlockMeta]) -> bool {
    blocks.windows(2).any(|pair| pair[0].id >> WRITER_SHIFT != pair[1].id >> WRITER_SHIFT)
}

impl Store {
    /// Recent spans (not yet published in a block) starting in `[from_us, to_us)`, for a query
    /// node; documents only if asked.
    pub fn recent_spans_in(&self, from_us: i64, to_us: i64, documents: bool) -> Vec<StoredSpan> {
        let state = self.shared.state.read();
        let spans = state.recent().flat_map(|recent| recent.spans_in(from_us, to_us));
        spans.map(|span| if documents { span } else { StoredSpan { document: None, ..span } }).collect()
    }

    /// Every recent span of these traces, for a query node.
    pub fn recent_traces(&self, ids: &[TraceId]) -> Vec<StoredSpan> {
        let state = self.shared.state.read();
        ids.iter().flat_map(|id| state.recent().flat_map(|recent| recent.trace(id)).cloned()).collect::<Vec<_>>()
    }
}

impl Shared {
    pub(super) fn collectors(&self) -> Option<&Arc<dyn RecentSource>> {
        match &self.config.role {
            StoreRole::Query { collectors } => Some(collectors),
            _ => None,
        }
    }

    /// A query node's view of the collectors' recent data in a range, one generation each;
    /// then the bucket listed again, so what they flushed meanwhile is read from there.
    pub(super) fn collectors_spans_in(&self, from_us: i64, to_us: i64, documents: bool) -> Vec<RecentSpans> {
        let Some(collectors) = self.collectors() else { return Vec::new() };
        let generations = collectors.spans_in(from_us, to_us, documents).into_iter().map(generation).collect();
        self.refresh_published();
        generations
    }

    /// [`Shared::collectors_spans_in`] for whole traces.
    pub(super) fn collectors_traces(&self, ids: &[TraceId]) -> Vec<StoredSpan> {
        let Some(collectors) = self.collectors() else { return Vec::new() };
        let spans = collectors.traces(ids).into_iter().flatten().collect();
        self.refresh_published();
        spans
    }

    /// Makes the blocks readers see the bucket's published ones: new ones opened, those
    /// unpublished (compacted or expired by their writer) dropped, and those a listed
    /// compaction replaced left out. A failure keeps the blocks known so far (and is logged).
    fn refresh_published(&self) {
        if let Err(error) = self.try_refresh_published() {
            tracing::warn!(error = %error, "failed to list the bucket's blocks; answering from those known");
        }
    }

    fn try_refresh_published(&self) -> Result<()> {
        let Some(remote) = &self.remote else { return Ok(()) };
        let _one_at_a_time = self.flushing.lock();
        let listed: HashSet<String> = remote.published()?.into_iter().collect();
        let known: HashMap<String, Arc<BlockMeta>> =
            self.state.read().blocks.iter().map(|block| (block_file_name(block), block.clone())).collect();
        let replaced: HashSet<u64> = known.values().flat_map(|block| block.replaces.iter().copied()).collect();
        let mut opened = Vec::new();
        for name in listed.iter().filter(|name| !known.contains_key(*name)) {
            if block_id(name).is_some_and(|id| !replaced.contains(&id)) {
                opened.push(Arc::new(remote.open_block(&self.blocks_dir, name)?));
            }
        }
        // Only this pass changes a query node's blocks (under `flushing`), so `known` is them.
        let (still_listed, unlisted): (Vec<_>, Vec<_>) = known.into_iter().partition(|(name, _)| listed.contains(name));
        let candidates: Vec<Arc<BlockMeta>> = still_listed.into_iter().map(|(_, block)| block).chain(opened).collect();
        let replaced: HashSet<u64> = candidates.iter().flat_map(|block| block.replaces.iter().copied()).collect();
        let (replaced_blocks, mut blocks): (Vec<_>, Vec<_>) =
            candidates.into_iter().partition(|block| replaced.contains(&block.id));
        blocks.sort_by_key(|block| block.id);
        self.state.write().blocks = blocks;
        for block in unlisted.iter().map(|(_, block)| block).chain(&replaced_blocks) {
            remote.forget(&block.path);
        }
        Ok(())
    }
}

/// One collector's recent spans as a generation: the replace rule keeps one version of each.
fn generation(spans: Vec<StoredSpan>) -> RecentSpans {
    let mut generation = RecentSpans::default();
    generation.insert(spans);
    generation
}

fn block_file_name(block: &BlockMeta) -> String {
    block.path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string()
}
