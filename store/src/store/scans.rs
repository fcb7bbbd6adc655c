//! A time range's spans for the analyzer: from recent data (a query node's collectors' too)
//! and the blocks that overlap it, as one lazy frame (`Store::scan`) or with text columns as
//! keys (`Store::scan_keyed`), and the traces that may hold two versions of a span.

use std::sync::Arc;

use polars::prelude::{Expr, IntoLazy};

use super::{roles, Shared};
use crate::block::{self, BlockMeta};
use crate::error::Result;
use crate::keyed_scan::{keyed_scan, KeyedScan, KeyedSources};
use crate::recent::RecentSpans;
use crate::record::StoredSpan;
use crate::scan::{self, ScanSources, SharedTraces, SpanScan};

impl Shared {
    /// What a scan of `[from_us, to_us)` reads: the recent spans in it, the blocks that may
    /// hold some, and the traces that may hold two versions of a span among them.
    fn scan_sources(
        &self,
        from_us: i64,
        to_us: i64,
        documents: bool,
    ) -> (Vec<StoredSpan>, Vec<Arc<BlockMeta>>, SharedTraces) {
        let elsewhere = self.collectors_spans_in(from_us, to_us, documents);
        let state = self.state.read();
        let generations: Vec<&RecentSpans> = state.recent().chain(&elsewhere).collect();
        let recent: Vec<StoredSpan> = generations.iter().flat_map(|recent| recent.spans_in(from_us, to_us)).collect();
        let blocks: Vec<Arc<BlockMeta>> =
            state.blocks.iter().filter(|block| block.overlaps(from_us, to_us)).cloned().collect();
        let scanned: Vec<&BlockMeta> = blocks.iter().map(|block| block.as_ref()).collect();
        let shared = match roles::several_writers(&scanned) {
            true => SharedTraces::Any,
            false => scan::shared_traces(&scanned, &generations, from_us, to_us),
        };
        (recent, blocks, shared)
    }

    pub(super) fn scan_keyed(&self, from_us: i64, to_us: i64, columns: &[&str], texts: &[&str]) -> Result<KeyedScan> {
        let (recent, blocks, shared) = self.scan_sources(from_us, to_us, false);
        let sources = KeyedSources { blocks: &blocks, recent: &recent, shared: &shared, footers: &self.footers };
        keyed_scan(sources, from_us, to_us, columns, texts)
    }

    pub(super) fn scan(&self, from_us: i64, to_us: i64, columns: &[&str], predicate: Option<Expr>) -> Result<SpanScan> {
        let documents = columns.is_empty() || columns.contains(&crate::columns::DOCUMENT);
        let (recent, blocks, shared_traces) = self.scan_sources(from_us, to_us, documents);
        let mut recent = block::spans_to_frame(&recent)?.lazy();
        if let Some(predicate) = &predicate {
            recent = recent.filter(predicate.clone());
        }
        let sources = ScanSources { blocks, recent, from_us, to_us, predicate };
        Ok(SpanScan { spans: sources.read(columns)?, sources, shared_traces })
    }
}
