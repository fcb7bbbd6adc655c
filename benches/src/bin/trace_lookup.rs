//! `BatchGetTraces`' store side alone (`Store::traces`), without HTTP, over a store another
//! benchmark left in `--dir` (e.g. `query_scaling --keep`): the time per request of `--ids`
//! random trace ids of the middle `--window-spans`, p50 and p99, for profiling with `perf`;
//! with `--graph-runs N` / `--histogram-runs N`, also the service graph / the latency
//! histogram of that window N times (its median).
//!
//! `cargo run --release -p fluoro-benches --bin trace_lookup -- --dir target/bench-scaling`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Parser;
use fluoro_analyzer::{filter_latency, LatencyQuery, NoGroups};
use fluoro_benches::median_ms;
use fluoro_proto::TraceId;
use fluoro_store::columns::{START_US, TRACE_HI, TRACE_LO};
use fluoro_store::{Store, StoreConfig};

/// Far enough that retention never deletes old benchmark data while this runs.
const KEEP_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

#[derive(Debug, Parser)]
#[command(about = "Store::traces latency over an existing store")]
struct Args {
    /// The store's data directory (left by another benchmark).
    #[arg(long, default_value = "target/bench-scaling")]
    dir: PathBuf,
    /// Requests timed.
    #[arg(long, default_value_t = 200)]
    lookups: usize,
    /// Trace ids per request.
    #[arg(long, default_value_t = 5)]
    ids: usize,
    /// The ids are drawn from this many spans in the middle of the data.
    #[arg(long, default_value_t = 1_000_000)]
    window_spans: usize,
    /// Also time the service graph of the window this many times.
    #[arg(long, default_value_t = 0)]
    graph_runs: usize,
    /// Also time the latency histogram of the window's traces (no filter) this many times.
    #[arg(long, default_value_t = 0)]
    histogram_runs: usize,
}

/// Queries run under the allocator `fluoro serve` uses.
#[global_allocator]
static ALLOCATOR: fluoro_store::allocator::ServerAllocator = fluoro_store::allocator::ServerAllocator {};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = StoreConfig::new(&args.dir);
    config.retention_max_age = KEEP_FOREVER;
    config.compaction_min_rows = 0;
    let store = Store::open(config)?;
    let window = middle_window(&store, args.window_spans)?;
    if args.graph_runs > 0 {
        let (ms, graph) =
            median_ms(args.graph_runs, || Ok(fluoro_analyzer::service_graph(&store, window.0, window.1, None)?))?;
        println!("service graph of the window: median {ms:.1} ms, {} nodes", graph.services.len());
    }
    if args.histogram_runs > 0 {
        let query = LatencyQuery { from_us: window.0, to_us: window.1, filter: None, group: None };
        let (ms, report) = median_ms(args.histogram_runs, || Ok(filter_latency(&store, &query, &NoGroups)?))?;
        println!("latency histogram of the window: median {ms:.1} ms, {} traces", report.traces);
    }
    let ids = window_trace_ids(&store, window)?;
    let mut next = 0x9e37_79b9_7f4a_7c15_u64;
    let mut times = Vec::with_capacity(args.lookups);
    for _ in 0..args.lookups {
        let asked: Vec<TraceId> = (0..args.ids)
            .map(|_| {
                next ^= next << 13;
                next ^= next >> 7;
                next ^= next << 17;
                ids[(next % ids.len() as u64) as usize]
            })
            .collect();
        let began = Instant::now();
        let found = store.traces(&asked)?;
        times.push(began.elapsed().as_secs_f64() * 1e3);
        ensure!(!found.is_empty(), "no trace found");
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{} requests of {} ids over {} traces: p50 {:.2} ms, p99 {:.2} ms",
        args.lookups,
        args.ids,
        ids.len(),
        at(0.5),
        at(0.99)
    );
    store.close()?;
    Ok(())
}

/// The time range of the middle `spans` of the data.
fn middle_window(store: &Store, spans: usize) -> anyhow::Result<(i64, i64)> {
    let frame = store.scan(i64::MIN, i64::MAX, &[START_US], None)?.collect()?;
    let mut starts: Vec<i64> = frame.column(START_US)?.i64()?.iter().flatten().collect();
    starts.sort_unstable();
    ensure!(!starts.is_empty(), "the store holds no spans");
    let size = spans.min(starts.len());
    let first = (starts.len() - size) / 2;
    Ok((starts[first], starts[first + size - 1] + 1))
}

/// The distinct trace ids of the spans in the window.
fn window_trace_ids(store: &Store, (from, to): (i64, i64)) -> anyhow::Result<Vec<TraceId>> {
    let frame = store.scan(from, to, &[TRACE_HI, TRACE_LO], None)?.unique(None, Default::default()).collect()?;
    let (his, los) = (frame.column(TRACE_HI)?.u64()?, frame.column(TRACE_LO)?.u64()?);
    Ok(his.iter().zip(los.iter()).filter_map(|(hi, lo)| Some(TraceId::from_halves(hi?, lo?))).collect())
}
