//! Whole traces by id: recent data (a query node's collectors' too) and the blocks whose bloom
//! filter may hold them, one version per span.

use std::collections::HashMap;

use fluoro_proto::{SegmentId, SentEntity, StoredTrace, TraceId};

use super::Shared;
use crate::block;
use crate::error::Result;
use crate::recent::fill_services;
use crate::record::StoredSpan;
use crate::replace_rule::preferred_version;

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
        for block in &blocks {
            let wanted: Vec<TraceId> = ids.iter().filter(|id| block.may_contain_trace(id)).copied().collect();
            if wanted.is_empty() {
                continue;
            }
            for span in block::read_trace_spans(block, &wanted)? {
                if let Some(at) = ids.iter().position(|id| *id == span.row.trace_id) {
                    found[at].push(span);
                }
            }
        }
        Ok(ids
            .iter()
            .zip(found)
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(id, spans)| assemble(*id, spans))
            .collect())
    }
}

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
