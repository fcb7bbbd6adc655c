//! Scans for the analyzer: the spans of a time range from recent data and blocks as one lazy
//! frame, and which of its traces may hold two versions of one span.
//!
//! Within one source (a block, a generation of recent data) a span has one version: recent
//! data applies the replace rule on insert, a block is written from recent data, compaction
//! resolves duplicates. So versions can only meet in a scan when their trace has spans in two
//! scanned sources, and only those traces need the replace rule applied again:
//! - block and block: the later-written block lists, in its footer, the traces that a block
//!   existing then may hold (by its bloom filter);
//! - recent data and a block: tested here, against the bloom filters of the scanned blocks;
//! - the two generations of recent data (while one is being flushed): tested here.

use std::collections::HashSet;

use fluoro_proto::TraceId;
use polars::prelude::LazyFrame;

use crate::block::BlockMeta;
use crate::recent::RecentSpans;

/// A scan: the spans, and which traces may have more than one version of a span among them.
#[derive(Clone)]
pub struct SpanScan {
    /// Every stored version of the spans starting in the range, from every source.
    pub spans: LazyFrame,
    pub shared_traces: SharedTraces,
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
    for generation in recent {
        for trace in generation.traces_in(from_us, to_us) {
            let in_two_generations = !in_recent.insert(*trace);
            if in_two_generations || blocks.iter().any(|block| block.may_contain_trace(trace)) {
                shared.insert(*trace);
            }
        }
    }
    SharedTraces::Only(shared)
}
