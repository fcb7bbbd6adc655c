//! The PetAdoptions traces of `traces.rs` written as store blocks, for the benchmarks that query
//! a store (`analyzer_vs_duckdb`, `dashboard_api`; included with `#[path]`).

use std::path::Path;

use anyhow::Context;
use fluoro_store::bench_api;

use crate::traces::{self, Rng};

/// 2024-01-01T00:00:00Z: where generated time starts (as in `block_format`).
pub(crate) const START_US: i64 = 1_704_067_200_000_000;
const TRACE_INTERVAL_US: u64 = 10_000;

/// Clears `dir` and writes `spans` spans (rounded up to whole traces) into `dir/blocks`, at most
/// `block_spans` a block; returns every span's start, sorted.
pub(crate) fn write_blocks(dir: &Path, spans: usize, block_spans: usize) -> anyhow::Result<Vec<i64>> {
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
            start += (TRACE_INTERVAL_US / 2 + rng.below(TRACE_INTERVAL_US)) as i64;
        }
        written += batch.len();
        starts.extend(batch.iter().map(|span| span.row.start_us));
        block_id += 1;
        bench_api::write_block(&blocks_dir, block_id, batch)?;
    }
    starts.sort_unstable();
    Ok(starts)
}
