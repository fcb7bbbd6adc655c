//! The trace index on blocks of several row groups: a trace in the first, a middle and the last
//! row group and one across a row-group boundary read exactly as the whole-block filter reads
//! them, as does a trace spread over two blocks; a block without id statistics has no index
//! and still reads.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use polars::prelude::*;

use super::*;
use crate::block::tests::{full_span, rewritten_by_polars, span, trace};
use crate::block::{
    open_blocks, read_block, read_trace_spans, write_block, BlockMeta, FooterCache, Neighbours, ROW_GROUP_ROWS,
};
use crate::record::StoredSpan;

const SPANS_PER_TRACE: u64 = 21;

/// `traces` traces of [`SPANS_PER_TRACE`] spans (a segment with a document, then subsegments);
/// 21 rows per trace rarely divide a row group, so some traces cross a boundary.
fn traces_spans(traces: std::ops::Range<u64>) -> Vec<StoredSpan> {
    let mut spans = Vec::new();
    for n in traces {
        let start = (1_700_000_000 + (n / 1000) as i64) * 1_000_000 + n as i64 * 10;
        spans.push(full_span(n, n * 100, start));
        spans.extend((1..SPANS_PER_TRACE).map(|k| span(n, n * 100 + k, start + k as i64)));
    }
    spans
}

fn write(dir: &Path, id: u64, spans: Vec<StoredSpan>) -> BlockMeta {
    write_block(dir, id, spans, Neighbours::default()).unwrap().durable().unwrap()
}

/// The spans as the whole-block filter (the path without an index) reads them.
fn unindexed(block: &BlockMeta, ids: &[TraceId]) -> Vec<StoredSpan> {
    let mut plain = block.clone();
    plain.trace_index = None;
    read_trace_spans(&plain, ids, &FooterCache::default()).unwrap()
}

fn keys(spans: &[StoredSpan]) -> BTreeSet<(TraceId, u64)> {
    spans.iter().map(|span| (span.row.trace_id, span.row.id.as_u64())).collect()
}

#[test]
fn lookups_through_the_index_read_exactly_the_traces_rows() {
    let dir = tempfile::tempdir().unwrap();
    let block = write(dir.path(), 1, traces_spans(0..2_500));
    let index = block.trace_index.clone().expect("a block with id statistics has an index");
    let groups = index.groups();
    assert!(groups.len() >= 3, "{} row groups", groups.len());
    assert_eq!(groups[0].rows.start, 0);
    assert!(groups.windows(2).all(|pair| pair[0].rows.end == pair[1].rows.start));
    assert_eq!(groups.last().unwrap().rows.end, block.rows);
    let reopened = open_blocks(dir.path()).unwrap();
    assert_eq!(reopened[0].trace_index.as_ref().unwrap().groups(), groups, "the same index on open");

    let rows = read_block(&block).unwrap();
    let trace_at = |row: usize| rows[row].row.trace_id;
    let middle = groups[groups.len() / 2].rows.start + 100;
    let across = (1..groups.len())
        .map(|at| groups[at].rows.start)
        .find(|&start| trace_at(start - 1) == trace_at(start))
        .expect("some trace crosses a row-group boundary");
    for (name, id) in [
        ("first", trace_at(0)),
        ("middle", trace_at(middle)),
        ("last", trace_at(block.rows - 1)),
        ("across", trace_at(across)),
    ] {
        let found = read_trace_spans(&block, &[id], &FooterCache::default()).unwrap();
        assert_eq!(found.len() as u64, SPANS_PER_TRACE, "{name}");
        assert!(found.iter().all(|span| span.row.trace_id == id), "{name}");
        assert_eq!(found, unindexed(&block, &[id]), "{name}: every column as without the index");
    }
    let several = [trace_at(0), trace_at(across), trace_at(block.rows - 1), trace(99_999)];
    let found = read_trace_spans(&block, &several, &FooterCache::default()).unwrap();
    assert_eq!(found.len() as u64, 3 * SPANS_PER_TRACE);
    assert_eq!(keys(&found), keys(&unindexed(&block, &several)));
    assert!(
        read_trace_spans(&block, &[trace(99_999)], &FooterCache::default()).unwrap().is_empty(),
        "a trace the block lacks"
    );
}

#[test]
fn a_trace_spread_over_two_blocks_is_found_in_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut spans = traces_spans(0..1_000);
    let moved: Vec<StoredSpan> =
        spans.extract_if(.., |span| span.row.trace_id == trace(500) && span.row.id.as_u64() % 2 == 0).collect();
    let first = write(dir.path(), 1, spans);
    let second = write(dir.path(), 2, [moved.clone(), traces_spans(1_000..1_200)].concat());
    let in_first = read_trace_spans(&first, &[trace(500)], &FooterCache::default()).unwrap();
    let in_second = read_trace_spans(&second, &[trace(500)], &FooterCache::default()).unwrap();
    assert_eq!(in_first.len() + in_second.len(), SPANS_PER_TRACE as usize);
    assert_eq!(keys(&in_second), keys(&moved));
    assert_eq!(keys(&in_first), keys(&unindexed(&first, &[trace(500)])));
}

#[test]
fn a_block_without_id_statistics_has_no_index_and_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let block = write(dir.path(), 1, traces_spans(0..1_000));
    let path = dir.path().join("other").join(block.path.file_name().unwrap());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    rewritten_by_polars(&block, &path, |writer| {
        writer.with_statistics(StatisticsOptions::empty()).with_row_group_size(Some(ROW_GROUP_ROWS))
    });
    let plain = open_blocks(path.parent().unwrap()).unwrap().remove(0);
    assert!(plain.trace_index.is_none());
    let found = read_trace_spans(&plain, &[trace(321)], &FooterCache::default()).unwrap();
    assert_eq!(found.len() as u64, SPANS_PER_TRACE);
    assert_eq!(found, read_trace_spans(&block, &[trace(321)], &FooterCache::default()).unwrap());
}
