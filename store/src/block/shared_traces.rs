//! Which traces may hold a version of one of their spans in a block already written: what a new
//! block's footer lists as its shared traces, and what a scan tests recent data for
//! (`scan.rs`), so that the replace rule runs only on those traces' rows.
//!
//! - Versions of a span share its start: X-Ray SDKs resend a segment (in progress, then
//!   complete) with the start it was first sent with, and OpenTelemetry exports a span once.
//!   Every span of a block starts within the block's `[min_start_us, max_end_us]`. So a trace is
//!   tested only against the blocks whose range meets the starts of its spans.
//! - Testing every trace against every block's bloom filter grew with the store: an hour into a
//!   20k documents/s load a flush would test ~50k traces against ~1,400 filters, and at 0.1 %
//!   false positives a filter, three traces in four would be listed as shared. Live data meets
//!   the blocks of its last minutes only.
//! - The filters are tested block by block, each trace hashed once: a block's filter stays in
//!   cache while every remaining trace is tested against it.

use fluoro_proto::TraceId;

use super::filter::trace_hash;
use super::BlockMeta;

/// A trace to look for in blocks: its id, its filter hash and the first and last start of
/// its spans.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceProbe {
    trace_id: TraceId,
    hash: u64,
    first_start_us: i64,
    last_start_us: i64,
}

impl TraceProbe {
    pub(crate) fn new(trace_id: TraceId, first_start_us: i64, last_start_us: i64) -> Self {
        TraceProbe { trace_id, hash: trace_hash(trace_id), first_start_us, last_start_us }
    }

    pub(crate) fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// Whether a span of the block may start where one of this trace's spans starts.
    fn meets(&self, block: &BlockMeta) -> bool {
        self.first_start_us <= block.max_end_us && self.last_start_us >= block.min_start_us
    }
}

/// The traces of `probes`, in their order, of which one of `blocks` may hold a version of one
/// of their spans.
pub(crate) fn held_by_blocks(probes: &[TraceProbe], blocks: &[&BlockMeta]) -> Vec<TraceId> {
    let first = probes.iter().map(|probe| probe.first_start_us).min();
    let last = probes.iter().map(|probe| probe.last_start_us).max();
    let (Some(first), Some(last)) = (first, last) else { return Vec::new() };
    let mut held = vec![false; probes.len()];
    let mut pending: Vec<usize> = (0..probes.len()).collect();
    for block in blocks.iter().filter(|block| block.min_start_us <= last && block.max_end_us >= first) {
        pending.retain(|&at| {
            let probe = &probes[at];
            let hit = probe.meets(block) && block.filter.may_contain_hash(probe.hash);
            held[at] = hit;
            !hit
        });
        if pending.is_empty() {
            break;
        }
    }
    probes.iter().zip(held).filter(|(_, held)| *held).map(|(probe, _)| probe.trace_id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::trace;
    use crate::block::TraceFilter;

    /// A block of `traces` whose spans start in `[from_us, to_us]`.
    fn block(id: u64, traces: std::ops::Range<u64>, from_us: i64, to_us: i64) -> BlockMeta {
        let filter = TraceFilter::build(traces.map(trace).collect::<Vec<_>>().into_iter());
        BlockMeta::footer_only(id, 1, filter, from_us, to_us)
    }

    fn probes(traces: std::ops::Range<u64>, from_us: i64, to_us: i64) -> Vec<TraceProbe> {
        traces.map(|n| TraceProbe::new(trace(n), from_us, to_us)).collect()
    }

    fn ids(traces: std::ops::Range<u64>) -> Vec<TraceId> {
        traces.map(trace).collect()
    }

    #[test]
    fn a_trace_is_held_by_a_block_of_the_same_time_that_holds_it() {
        let blocks = [block(1, 0..100, 1_000, 2_000), block(2, 100..200, 2_000, 3_000)];
        let blocks: Vec<&BlockMeta> = blocks.iter().collect();
        let mut wanted = probes(50..60, 1_500, 1_500);
        wanted.extend(probes(150..160, 2_500, 2_600));
        wanted.extend(probes(1_000..1_010, 1_000, 3_000));
        let held = held_by_blocks(&wanted, &blocks);
        assert_eq!(held[..20], [ids(50..60), ids(150..160)].concat(), "{held:?}");
        let false_positives = held.len() - 20;
        assert!(false_positives <= 1, "{held:?}");
    }

    #[test]
    fn a_block_of_other_times_is_not_tested() {
        // Block 1 holds the traces, but none of its spans starts when theirs do here.
        let blocks = [block(1, 0..100, 1_000, 2_000)];
        let blocks: Vec<&BlockMeta> = blocks.iter().collect();
        assert!(held_by_blocks(&probes(0..100, 2_001, 5_000), &blocks).is_empty());
        assert!(held_by_blocks(&probes(0..100, 0, 999), &blocks).is_empty());
        // A trace whose spans start on both sides of the block's range meets it.
        assert_eq!(held_by_blocks(&probes(0..100, 0, 5_000), &blocks), ids(0..100));
        assert_eq!(held_by_blocks(&probes(0..100, 2_000, 2_000), &blocks), ids(0..100));
    }

    #[test]
    fn many_old_blocks_add_no_false_positives() {
        // 1,000 blocks of 1,000 traces each, all before the new traces' minute: testing each
        // filter would list ~63 % of the new traces (1 - 0.999^1000) as shared.
        let blocks: Vec<BlockMeta> = (0..1_000u64)
            .map(|n| block(n, n * 1_000..(n + 1) * 1_000, n as i64 * 60_000_000, (n as i64 + 1) * 60_000_000 - 1))
            .collect();
        let blocks: Vec<&BlockMeta> = blocks.iter().collect();
        let new_minute = 1_000 * 60_000_000;
        let held = held_by_blocks(&probes(2_000_000..2_010_000, new_minute, new_minute + 59_000_000), &blocks);
        assert!(held.is_empty(), "{} listed", held.len());
        // A late span of an old trace still meets its block.
        let late = [TraceProbe::new(trace(5_500), 5 * 60_000_000 + 10, new_minute)];
        assert_eq!(held_by_blocks(&late, &blocks), vec![trace(5_500)]);
    }
}
