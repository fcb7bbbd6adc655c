//! `block_format --shared-traces 100,500,1400`: what a flush's footer costs as the store grows.
//!
//! A new block lists the traces that may share a span with a block already written
//! (`store/src/block/shared_traces.rs`). The baseline is how that was tested before: every
//! trace against the bloom filter of every block, trace by trace. Fluoro tests only the blocks
//! whose time range meets the trace's span starts, block by block. Blocks are known by their
//! footers alone (no files): each holds `--shared-traces-per-block` traces over 2.5 s, the
//! ~200k spans a flush writes at 20k documents/s.
//!
//! Two stores: live data, each block after the one before, where the new block's traces start
//! in the last 2.5 s and 2 % of them continue a trace of the block before; and one where every
//! block's range meets every trace (a backfill of old data), where both must list the same.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::ensure;
use fluoro_proto::TraceId;
use fluoro_store::bench_api::{self, Block};

use crate::traces::Rng;

const BLOCK_US: i64 = 2_500_000;
/// Each run is timed this many times, baseline and Fluoro interleaved; the best of each counts.
const ROUNDS: usize = 3;

pub(crate) fn run(block_counts: &[usize], traces_per_block: usize) -> anyhow::Result<()> {
    println!("\n== footer shared traces: {traces_per_block} traces a block ==");
    for &count in block_counts {
        for live in [true, false] {
            let store = Store::new(count, traces_per_block, live);
            let (mut baseline_s, mut fluoro_s) = (f64::MAX, f64::MAX);
            let (mut baseline, mut fluoro) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                baseline = timed(&mut baseline_s, || store.every_filter());
                fluoro = timed(&mut fluoro_s, || bench_api::shared_traces(&store.new_traces, &store.blocks));
            }
            let (listed, listed_before) = (fluoro.len(), baseline.len());
            let continuing = store.continuing;
            let before: HashSet<&TraceId> = baseline.iter().collect();
            ensure!(fluoro.iter().all(|id| before.contains(id)), "Fluoro listed a trace the baseline did not");
            // Both lists keep the order of `new_traces`, whose continuing traces come first.
            let continuing_ids = store.new_traces[..continuing].iter().map(|(id, _, _)| id);
            ensure!(continuing_ids.eq(fluoro.iter().take(continuing)), "a continuing trace was not listed");
            if !live {
                ensure!(fluoro == baseline, "with every range meeting, both must list the same traces");
            }
            println!(
                "{count} blocks, {}: {:.1} ms → {:.1} ms per flush (×{:.1} faster); listed {listed_before} → {listed} of {} ({continuing} continue a trace)",
                if live { "live data" } else { "every range meets" },
                baseline_s * 1e3,
                fluoro_s * 1e3,
                baseline_s / fluoro_s,
                store.new_traces.len(),
            );
        }
    }
    Ok(())
}

struct Store {
    blocks: Vec<Block>,
    /// `(trace, first start, last start)` of the new block's traces; the continuing ones first.
    new_traces: Vec<(TraceId, i64, i64)>,
    continuing: usize,
}

impl Store {
    fn new(count: usize, traces_per_block: usize, live: bool) -> Store {
        let mut rng = Rng::new(count as u64);
        let mut last_block_traces = Vec::new();
        let mut blocks = Vec::with_capacity(count);
        for n in 0..count {
            let ids: Vec<TraceId> = (0..traces_per_block).map(|_| random_trace(&mut rng)).collect();
            let (from, to) = match live {
                true => (n as i64 * BLOCK_US, (n as i64 + 1) * BLOCK_US - 1),
                false => (0, (count as i64 + 1) * BLOCK_US),
            };
            blocks.push(Block::footer_only(n as u64, &ids, from, to));
            last_block_traces = ids;
        }
        let now = count as i64 * BLOCK_US;
        let continuing = traces_per_block / 50;
        let mut new_traces: Vec<(TraceId, i64, i64)> =
            last_block_traces.iter().take(continuing).map(|id| (*id, now - BLOCK_US / 2, now + BLOCK_US / 2)).collect();
        while new_traces.len() < traces_per_block {
            let start = now + rng.below(BLOCK_US as u64) as i64;
            new_traces.push((random_trace(&mut rng), start, start + 1_000));
        }
        Store { blocks, new_traces, continuing }
    }

    /// The baseline: each trace against every block's filter until one may hold it.
    fn every_filter(&self) -> Vec<TraceId> {
        let held = |id: &TraceId| self.blocks.iter().any(|block| block.may_contain_trace(id));
        self.new_traces.iter().map(|(id, _, _)| *id).filter(held).collect()
    }
}

fn random_trace(rng: &mut Rng) -> TraceId {
    TraceId::from_halves(rng.next(), rng.next())
}

/// Runs `run`, keeping the shortest time in `best`.
fn timed(best: &mut f64, run: impl FnOnce() -> Vec<TraceId>) -> Vec<TraceId> {
    let began = Instant::now();
    let result = run();
    *best = best.min(began.elapsed().as_secs_f64());
    result
}
