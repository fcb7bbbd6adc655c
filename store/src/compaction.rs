//! Compaction: small blocks (flushed often under light load) merged into fewer, larger ones, so
//! lookups open fewer files and compression sees more of each column.
//!
//! Crash safety comes from the order of the steps:
//! 1. read the inputs and resolve duplicate spans;
//! 2. write the merged block durably ([`write_block`]: tmp, fsync, rename, fsync dir);
//! 3. the store swaps the merged block in for the inputs, and deletes the inputs' files once
//!    no query can still be reading them (a grace period: scans are lazy and open files late).
//!    Once renamed, the merged block is swapped in even if the directory sync failed: left
//!    unregistered, a retry would write a second merged block with the same inputs and the
//!    next open would keep both. Deleting the inputs syncs the directory first instead.
//!
//! A crash before 2 completes leaves the inputs and a `.tmp` that [`open_blocks`] deletes. A
//! crash during 3 leaves the merged block beside some inputs: every span is then present
//! twice, which readers already resolve with [`preferred_version`] (the same rule that merges
//! a trace across blocks and recent data), and the next compaction merges them again. No order
//! of crashes loses a span.
//!
//! [`open_blocks`]: crate::block::open_blocks

use std::collections::HashMap;
use std::path::Path;

use fluoro_proto::{SegmentId, TraceId};

use crate::block::{read_block, write_block, BlockMeta, Neighbours, WrittenBlock};
use crate::error::Result;
use crate::record::StoredSpan;
use crate::replace_rule::preferred_version;

/// Groups of block ids to merge: runs of blocks adjacent in time, each under `min_rows`, closed
/// once a group reaches `min_rows`. A group has at least two blocks; big blocks are left alone.
pub(crate) fn plan_compaction(blocks: &[BlockMeta], min_rows: usize) -> Vec<Vec<u64>> {
    let mut by_time: Vec<&BlockMeta> = blocks.iter().collect();
    by_time.sort_by_key(|block| (block.min_start_us, block.id));
    let mut groups = Vec::new();
    let mut group: Vec<u64> = Vec::new();
    let mut group_rows = 0;
    for block in by_time {
        if block.rows >= min_rows {
            close_group(&mut groups, &mut group);
            group_rows = 0;
            continue;
        }
        group.push(block.id);
        group_rows += block.rows;
        if group_rows >= min_rows {
            close_group(&mut groups, &mut group);
            group_rows = 0;
        }
    }
    close_group(&mut groups, &mut group);
    groups
}

fn close_group(groups: &mut Vec<Vec<u64>>, group: &mut Vec<u64>) {
    let group = std::mem::take(group);
    if group.len() >= 2 {
        groups.push(group);
    }
}

/// Merges `inputs` into block `new_id` (steps 1 and 2); the caller swaps it in and deletes the
/// inputs. `others` are the store's other blocks, which the merged block lists its shared
/// traces against; the traces it shared only with its inputs are no longer shared.
pub(crate) fn merge_blocks(
    blocks_dir: &Path,
    inputs: &[&BlockMeta],
    others: &[&BlockMeta],
    new_id: u64,
) -> Result<WrittenBlock> {
    let mut spans = Vec::with_capacity(inputs.iter().map(|block| block.rows).sum());
    for block in inputs {
        spans.extend(read_block(block)?);
    }
    let replaces: Vec<u64> = inputs.iter().map(|block| block.id).collect();
    write_block(blocks_dir, new_id, resolve_duplicates(spans), Neighbours { others, replaces: &replaces })
}

/// Keeps one version of each `(trace_id, id)`, chosen by [`preferred_version`].
pub(crate) fn resolve_duplicates(spans: Vec<StoredSpan>) -> Vec<StoredSpan> {
    let mut kept: HashMap<(TraceId, SegmentId), StoredSpan> = HashMap::with_capacity(spans.len());
    for span in spans {
        let key = (span.row.trace_id, span.row.id);
        match kept.get_mut(&key) {
            Some(existing) => {
                if preferred_version(&span, existing) {
                    *existing = span;
                }
            }
            None => {
                kept.insert(key, span);
            }
        }
    }
    kept.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{delete_blocks, open_blocks};

    /// Steps 1 to 3 at once, as the store does them when no query is running.
    fn compact(dir: &Path, inputs: &[BlockMeta], new_id: u64) -> Result<BlockMeta> {
        let inputs: Vec<&BlockMeta> = inputs.iter().collect();
        let merged = merge_blocks(dir, &inputs, &[], new_id)?.durable()?;
        delete_blocks(dir, &inputs)?;
        Ok(merged)
    }
    use crate::block::tests::{span, test_meta};

    #[test]
    fn plan_merges_runs_of_small_blocks_adjacent_in_time() {
        let blocks = [
            test_meta(1, 100, 0),
            test_meta(2, 100, 10),
            test_meta(3, 5000, 20),
            test_meta(4, 100, 30),
            test_meta(5, 600, 40),
            test_meta(6, 400, 50),
            test_meta(7, 100, 60),
        ];
        assert_eq!(plan_compaction(&blocks, 1000), vec![vec![1, 2], vec![4, 5, 6]]);
    }

    #[test]
    fn completed_span_survives_a_later_in_progress_duplicate() {
        let mut completed = span(1, 1, 1_000);
        completed.sequence = 5;
        let mut in_progress = completed.clone();
        in_progress.row.in_progress = true;
        in_progress.row.end_us = None;
        in_progress.sequence = 9;
        let mut newer = completed.clone();
        newer.row.name = "newer".into();
        newer.sequence = 7;
        let kept = resolve_duplicates(vec![completed, in_progress, newer.clone()]);
        assert_eq!(kept, vec![newer]);
    }

    #[test]
    fn compaction_merges_dedupes_and_deletes_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = vec![span(1, 1, 1_000), span(1, 2, 1_100)];
        first[1].sequence = 1;
        let mut second = vec![span(2, 1, 2_000), span(1, 2, 1_100)];
        second[1].row.name = "resent".into();
        second[1].sequence = 2;
        let a = write_block(dir.path(), 1, first, Neighbours::default()).unwrap().meta;
        let b = write_block(dir.path(), 2, second, Neighbours::default()).unwrap().meta;
        let merged = compact(dir.path(), &[a, b], 3).unwrap();
        assert_eq!(merged.rows, 3);
        let blocks = open_blocks(dir.path()).unwrap();
        assert_eq!(blocks.iter().map(|block| block.id).collect::<Vec<_>>(), vec![3]);
        let spans = read_block(&blocks[0]).unwrap();
        assert!(spans.iter().any(|span| span.row.name == "resent"));
    }

    #[test]
    fn crash_between_write_and_delete_keeps_every_span() {
        // The state a crash during step 3 leaves: the merged block beside one of its inputs.
        let dir = tempfile::tempdir().unwrap();
        let a = write_block(dir.path(), 1, vec![span(1, 1, 1_000)], Neighbours::default()).unwrap().meta;
        let b = write_block(dir.path(), 2, vec![span(2, 1, 2_000)], Neighbours::default()).unwrap().meta;
        let a_copy = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        std::fs::copy(&a.path, a_copy.path()).unwrap();
        compact(dir.path(), &[a.clone(), b], 3).unwrap();
        std::fs::rename(a_copy.path(), &a.path).unwrap();
        let blocks = open_blocks(dir.path()).unwrap();
        assert_eq!(blocks.iter().map(|block| block.id).collect::<Vec<_>>(), vec![1, 3]);
        let spans: Vec<StoredSpan> = blocks.iter().flat_map(|block| read_block(block).unwrap()).collect();
        assert_eq!(resolve_duplicates(spans).len(), 2);
        // And compacting again folds the leftover in.
        let merged = compact(dir.path(), &blocks, 4).unwrap();
        assert_eq!(merged.rows, 2);
    }
}
