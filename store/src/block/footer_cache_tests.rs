//! Lookups through the footer cache answer as lookups that parse every footer, the cache stays
//! within its bound by dropping the least recently read footer, and a block file replaced under
//! the same name is not read with the old file's footer.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use fluoro_proto::TraceId;

use super::*;
use crate::block::tests::{full_span, span, trace};
use crate::block::{read_trace_spans, write_block, Neighbours};
use crate::record::StoredSpan;

/// `traces` traces of a segment with a document and 20 subsegments.
fn traces_spans(traces: std::ops::Range<u64>) -> Vec<StoredSpan> {
    let mut spans = Vec::new();
    for n in traces {
        let start = (1_700_000_000 + (n / 1000) as i64) * 1_000_000 + n as i64 * 10;
        spans.push(full_span(n, n * 100, start));
        spans.extend((1..21).map(|k| span(n, n * 100 + k, start + k as i64)));
    }
    spans
}

fn write(dir: &Path, id: u64, traces: std::ops::Range<u64>) -> BlockMeta {
    write_block(dir, id, traces_spans(traces), Neighbours::default()).unwrap().durable().unwrap()
}

fn read(block: &BlockMeta, id: TraceId, footers: &FooterCache) -> Vec<StoredSpan> {
    let mut spans = read_trace_spans(block, &[id], footers).unwrap();
    spans.sort_by_key(|span| span.row.id);
    spans
}

#[test]
fn a_cached_footer_reads_what_a_fresh_parse_reads() {
    let dir = tempfile::tempdir().unwrap();
    let block = write(dir.path(), 1, 0..1_500);
    let footers = FooterCache::default();
    for n in [0, 700, 1_499] {
        let uncached = read(&block, trace(n), &FooterCache::with_capacity(0));
        assert_eq!(uncached.len(), 21);
        assert_eq!(read(&block, trace(n), &footers), uncached, "first read of trace {n}");
        assert_eq!(read(&block, trace(n), &footers), uncached, "cached read of trace {n}");
    }
    let (held, bytes) = footers.held();
    assert_eq!(held, 1, "one footer per block");
    assert!(bytes > 0);
    assert_eq!(footers.held(), (held, bytes), "reading again adds nothing");
}

#[test]
fn the_cache_drops_the_least_recently_read_footer_at_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<BlockMeta> = (0..3).map(|n| write(dir.path(), n + 1, n * 100..n * 100 + 100)).collect();
    let probe = FooterCache::default();
    read(&blocks[0], trace(0), &probe);
    let one_footer = probe.held().1;
    // Room for two footers of this size, not three.
    let footers = FooterCache::with_capacity(one_footer * 5 / 2);
    read(&blocks[0], trace(0), &footers);
    read(&blocks[1], trace(100), &footers);
    read(&blocks[0], trace(1), &footers);
    let expected = read(&blocks[2], trace(200), &FooterCache::with_capacity(0));
    assert_eq!(read(&blocks[2], trace(200), &footers), expected);
    let (held, bytes) = footers.held();
    assert_eq!(held, 2);
    assert!(bytes <= one_footer * 5 / 2, "{bytes} bytes held over a bound of {}", one_footer * 5 / 2);
    let entries = footers.entries.lock();
    let kept: Vec<&PathBuf> = entries.by_block.keys().map(|(path, _, _)| path).collect();
    assert!(kept.contains(&&blocks[0].path), "block 1 was read more recently than block 2");
    assert!(!kept.contains(&&blocks[1].path), "block 2 was the least recently read");
}

#[test]
fn a_block_replaced_under_its_name_is_read_with_its_own_footer() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), 1, 0..100);
    let footers = FooterCache::default();
    assert_eq!(read(&old, trace(5), &footers).len(), 21);
    let other = tempfile::tempdir().unwrap();
    let replacement = write(other.path(), 1, 5..3_000);
    std::fs::rename(&replacement.path, &old.path).unwrap();
    let new = BlockMeta { path: old.path.clone(), ..replacement };
    assert_ne!((new.bytes, new.written_us), (old.bytes, old.written_us), "a different file");
    assert_eq!(read(&new, trace(2_500), &footers), read(&new, trace(2_500), &FooterCache::with_capacity(0)));
    assert_eq!(read(&new, trace(2_500), &footers).len(), 21);
}
