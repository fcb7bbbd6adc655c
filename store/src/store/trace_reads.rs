//! Whole traces by id: recent data (a query node's collectors' too) and the blocks whose bloom
//! filter may hold them, one version per span.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use fluoro_proto::{SegmentId, SentEntity, StoredTrace, TraceId};

use super::Shared;
use crate::block::{self, BlockMeta};
use crate::error::Result;
use crate::recent::fill_services;
use crate::record::StoredSpan;
use crate::replace_rule::preferred_version;

/// Reader threads of one lookup; more would only queue on this machine's cores.
const MAX_READ_THREADS: usize = 4;

impl Shared {
    pub(super) fn traces(&self, ids: &[TraceId]) -> Result<Vec<StoredTrace>> {
        let elsewhere = self.collectors_traces(ids);
        let (mut found, blocks) = {
            let state = self.state.read();
            let found: Vec<Vec<StoredSpan>> =
                ids.iter().map(|id| state.recent().flat_map(|recent| recent.trace(id)).cloned().collect()).collect();
            (found, state.blocks.clone())
        };
        for span in elsewhere {
            if let Some(at) = ids.iter().position(|id| *id == span.row.trace_id) {
                found[at].push(span);
            }
        }
        let reads: Vec<BlockRead> = blocks
            .iter()
            .map(|block| (block.as_ref(), ids.iter().filter(|id| block.may_contain_trace(id)).copied().collect()))
            .filter(|(_, wanted): &BlockRead| !wanted.is_empty())
            .collect();
        for span in self.read_blocks(&reads)? {
            if let Some(at) = ids.iter().position(|id| *id == span.row.trace_id) {
                found[at].push(span);
            }
        }
        Ok(ids
            .iter()
            .zip(found)
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(id, spans)| assemble(*id, spans))
            .collect())
    }

    /// The wanted traces' spans of each block, read by up to one thread per core, each taking
    /// the next unread block: a lookup's ids mostly sit in different blocks, and each block's
    /// read (a few milliseconds of page decoding) runs on one core.
    fn read_blocks(&self, reads: &[BlockRead]) -> Result<Vec<StoredSpan>> {
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_READ_THREADS).min(reads.len());
        let next = AtomicUsize::new(0);
        let read_next_blocks = || -> Result<Vec<StoredSpan>> {
            let mut spans = Vec::new();
            while let Some((block, wanted)) = reads.get(next.fetch_add(1, Ordering::Relaxed)) {
                spans.extend(block::read_trace_spans(block, wanted, &self.footers)?);
            }
            Ok(spans)
        };
        if threads <= 1 {
            return read_next_blocks();
        }
        let shares: Vec<Result<Vec<StoredSpan>>> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(read_next_blocks)).collect();
            let mut shares = vec![read_next_blocks()];
            shares.extend(
                helpers
                    .into_iter()
                    .map(|helper| helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))),
            );
            shares
        });
        let mut spans = Vec::new();
        for share in shares {
            spans.extend(share?);
        }
        Ok(spans)
    }
}

/// A block and the asked ids its filter may hold.
type BlockRead<'a> = (&'a BlockMeta, Vec<TraceId>);

/// One version per span under the replace rule, services filled in, documents parsed.
fn assemble(id: TraceId, spans: Vec<StoredSpan>) -> StoredTrace {
    let mut winners: HashMap<SegmentId, StoredSpan> = HashMap::new();
    for span in spans {
        match winners.get(&span.row.id) {
            Some(current) if !preferred_version(&span, current) => {}
            _ => {
                winners.insert(span.row.id, span);
            }
        }
    }
    let mut spans: Vec<StoredSpan> = winners.into_values().collect();
    spans.sort_by_key(|span| span.row.id);
    fill_services(&mut spans);
    let entities = spans.iter().filter_map(|span| span.document.as_deref()).flat_map(parsed_entities).collect();
    StoredTrace { id, entities, rows: spans.into_iter().map(|span| span.row).collect() }
}

fn parsed_entities(document: &str) -> Vec<SentEntity> {
    match SentEntity::parse_document(document) {
        Ok(entities) => entities,
        Err(error) => {
            // Documents were validated when accepted; this is damage, not input.
            tracing::warn!(error = %error, "skipping a stored document that no longer parses");
            Vec::new()
        }
    }
}
