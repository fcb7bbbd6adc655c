//! The PetAdoptions traces of `traces.rs` written as store blocks, for the benchmarks that query
//! a store (`analyzer_vs_duckdb`, `dashboard_api`; included with `#[path]`).

use std::path::Path;

use anyhow::Context;
use fluoro_store::bench_api;

use crate::traces::{self, Rng};

/// 2024-01-01T00:00:00Z: where generated time starts (as in `block_format`).
pub(crate) const START_US: i64 = 1_704_067_200_000_000;
/// A trace every 10 ms on average: ~100 traces/s, 1M spans in ~14 minutes.
pub(crate) const TRACE_INTERVAL_US: u64 = 10_000;

/// Clears `dir` and writes `spans` spans (rounded up to whole traces) into `dir/blocks`, at most
/// `block_spans` a block, a trace every [`TRACE_INTERVAL_US`] on average; returns every span's
/// start, sorted.
#[allow(dead_code)] // Each binary including this file uses one of the two writers.
pub(crate) fn write_blocks(dir: &Path, spans: usize, block_spans: usize) -> anyhow::Result<Vec<i64>> {
    write_blocks_every(dir, spans, block_spans, TRACE_INTERVAL_US)
}

/// [`write_blocks`] with a trace every `trace_interval_us` on average (uniform in
/// `[interval / 2, 3 × interval / 2)`), for denser or sparser data.
#[allow(dead_code)] // Each binary including this file uses one of the two writers.
pub(crate) fn write_blocks_every(
    dir: &Path,
    spans: usize,
    block_spans: usize,
    trace_interval_us: u64,
) -> anyhow::Result<Vec<i64>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let blocks_dir = dir.join("blocks");
    std::fs::create_dir_all(&blocks_dir)?;
    let (mut rng, mut sequence, mut start) = (Rng::new(42), 0, START_US);
    let (mut written, mut block_id) = (0, 0);
    let mut starts = Vec::with_capacity(spans);
    while written < spans {
        let mut batch = Vec::with_capacity(block_spans + 64);
        while batch.len() < block_spans.min(spans - written) {
            batch.extend(traces::trace(&mut rng, &mut sequence, start, true));
            start += (trace_interval_us / 2 + rng.below(trace_interval_us.max(1))) as i64;
        }
        written += batch.len();
        starts.extend(batch.iter().map(|span| span.row.start_us));
        block_id += 1;
        bench_api::write_block(&blocks_dir, block_id, batch)?;
    }
    starts.sort_unstable();
    Ok(starts)
}
