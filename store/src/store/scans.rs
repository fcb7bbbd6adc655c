//! A time range's spans for the analyzer: from recent data (a query node's collectors' too)
//! and the blocks that overlap it, as one lazy frame (`Store::scan`) or with text columns as
//! keys (`Store::scan_keyed`), and the traces that may hold two versions of a span.

use std::sync::Arc;

use polars::prelude::{col, concat, Expr, IntoLazy, LazyFrame, UnionArgs};

use super::{roles, Shared};
use crate::block::{self, BlockMeta};
use crate::columns::PREFERENCE_COLUMNS;
use crate::error::{polars_error, Result};
use crate::keyed_scan::{keyed_scan, KeyedScan, KeyedSources};
use crate::recent::RecentSpans;
use crate::record::StoredSpan;
use crate::scan::{self, SharedTraces, SpanScan};

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
        let mut recent_frame = block::spans_to_frame(&recent)?.lazy();
        if let Some(predicate) = &predicate {
            recent_frame = recent_frame.filter(predicate.clone());
        }
        // The same sources read alike twice: row for row, `versions` matches `spans`.
        let read = |columns: &[&str]| -> Result<LazyFrame> {
            let mut frames = Vec::with_capacity(blocks.len() + 1);
            for block in &blocks {
                let frame = block::scan_block(block, from_us, to_us, columns, predicate.clone())?;
                frames.push(crate::deadline::checked(frame)?);
            }
            frames.push(match columns.is_empty() {
                true => recent_frame.clone(),
                false => recent_frame.clone().select(columns.iter().map(|name| col(*name)).collect::<Vec<_>>()),
            });
            concat(frames, UnionArgs::default()).map_err(polars_error)
        };
        Ok(SpanScan { spans: read(columns)?, versions: read(PREFERENCE_COLUMNS)?, shared_traces })
    }
}
