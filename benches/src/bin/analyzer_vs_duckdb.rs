//! Analyzer benchmark: a filter query and a service-graph aggregation through
//! `fluoro-analyzer`, each compared in the same run with DuckDB SQL over the same Parquet
//! blocks (`benches/python/duckdb_analyzer.py`), answers checked equal: the matched traces, and
//! every edge's and node's counts per status class and total response time.
//!
//! Traces are the block-format benchmark's PetAdoptions shapes (`block_format/traces.rs`),
//! written as 1M-span blocks into a store's `blocks/` directory, as its flush would, and read
//! back through `Store::open`.
//!
//! `cargo run --release -p fluoro-benches --bin analyzer_vs_duckdb -- --spans 1000000`

#[path = "block_format/query_answers.rs"]
mod query_answers;
#[path = "block_format/traces.rs"]
mod traces;
#[path = "block_format/written_blocks.rs"]
mod written_blocks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_analyzer::{
    compile_filter, load_spans, parse_filter, service_graph, slack_window, trace_summaries, CompiledFilter, NoGroups,
    SummaryQuery, TimeRangeType, GRAPH_COLUMNS,
};
use fluoro_benches::median_ms;
use fluoro_store::{Store, StoreConfig};

use query_answers::{compare_graph, duckdb, matching_traces};
use written_blocks::write_blocks;

/// Far enough that retention never deletes the 2024 data while the benchmark runs.
const KEEP_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

#[derive(Debug, Parser)]
#[command(about = "Analyzer filter and service graph against DuckDB SQL on the same Parquet blocks")]
struct Args {
    /// Spans to generate.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Spans per block (the store's flush size).
    #[arg(long, default_value_t = 1_000_000)]
    block_spans: usize,
    /// Timed runs per query; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The trace filter timed against its SQL translation (the script holds the translation).
    #[arg(long, default_value = "responsetime > 1 AND http.status = 500")]
    filter: String,
    /// Query window in minutes, centred in the data.
    #[arg(long, default_value_t = 10)]
    window_minutes: i64,
    /// The store's data directory (deleted first).
    #[arg(long, default_value = "target/bench-analyzer")]
    dir: PathBuf,
}

/// Queries run under the allocator `fluoro serve` uses.
#[global_allocator]
static ALLOCATOR: fluoro_store::allocator::ServerAllocator = fluoro_store::allocator::ServerAllocator {};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let began = Instant::now();
    let starts = write_blocks(&args.dir, args.spans, args.block_spans)?;
    let (spans, middle) = (starts.len(), starts[starts.len() / 2]);
    println!("generated and wrote {spans} spans in {:.1} s", began.elapsed().as_secs_f64());
    let mut config = StoreConfig::new(&args.dir);
    config.retention_max_age = KEEP_FOREVER;
    config.compaction_min_rows = 0;
    let store = Store::open(config)?;
    let half = args.window_minutes * 60 * 1_000_000 / 2;
    let window = (middle - half, middle + half);

    let plan = compile_filter(&parse_filter(&args.filter)?, &NoGroups)?;
    let (filter_ms, matched) = median_ms(args.runs, || matching_traces(&store, &plan, window))?;
    let summaries = trace_summaries(&store, &summary_query(&args.filter, window)?, &NoGroups)?;
    ensure!(
        summaries.matched == matched,
        "trace_summaries matched {} traces, the filter path {matched}",
        summaries.matched
    );
    println!("fluoro filter `{}`: {matched} of {} traces, median {filter_ms:.1} ms", args.filter, summaries.processed);

    let (graph_ms, graph) = median_ms(args.runs, || Ok(service_graph(&store, window.0, window.1, None)?))?;
    println!("fluoro service graph: {} nodes, median {graph_ms:.1} ms", graph.services.len());

    print_breakdown(&store, &plan, window, args.runs)?;

    let duck = duckdb(&store, window, args.runs)?;
    let duck_matched = duck["filter_count"].as_u64().context("filter_count")?;
    ensure!(duck_matched as usize == matched, "duckdb matched {duck_matched} traces, fluoro {matched}");
    let (edges, nodes) = compare_graph(&graph, &duck)?;
    let duck_filter_ms = duck["filter_ms"].as_f64().context("filter_ms")?;
    let duck_graph_ms = duck["graph_ms"].as_f64().context("graph_ms")?;
    println!(
        "answers agree: {matched} traces; {} edges and {} nodes with equal counts and response times",
        edges, nodes
    );

    println!("\n| query | Fluoro (median of {}) | DuckDB | Fluoro / DuckDB |", args.runs);
    println!("|---|---|---|---|");
    println!(
        "| filter `{}` | {filter_ms:.1} ms | {duck_filter_ms:.1} ms | {:.2} |",
        args.filter,
        filter_ms / duck_filter_ms
    );
    println!("| service graph | {graph_ms:.1} ms | {duck_graph_ms:.1} ms | {:.2} |", graph_ms / duck_graph_ms);
    store.close()?;
    Ok(())
}

/// Where the analyzer's time goes: the Parquet scan alone, then with deduplication (the start
/// of both queries), over the filter's slack-widened window and over the graph's window, each
/// with the columns its query reads.
fn print_breakdown(store: &Store, plan: &CompiledFilter, window: (i64, i64), runs: usize) -> anyhow::Result<()> {
    let (from_us, to_us) = slack_window(window.0, window.1);
    let columns = plan.span_columns();
    let (scan_ms, rows) =
        median_ms(runs, || Ok(store.scan_versions(from_us, to_us, &columns, None)?.spans.collect()?.height()))?;
    let (dedup_ms, _) = median_ms(runs, || Ok(load_spans(store, from_us, to_us, &columns)?.collect()?.height()))?;
    println!(
        "fluoro filter breakdown: scan of {rows} spans ({} columns) {scan_ms:.1} ms, scan + deduplication {dedup_ms:.1} ms",
        columns.len()
    );
    let (graph_ms, rows) =
        median_ms(runs, || Ok(load_spans(store, window.0, window.1, &GRAPH_COLUMNS)?.collect()?.height()))?;
    println!(
        "fluoro graph breakdown: scan + deduplication of {rows} spans ({} columns) {graph_ms:.1} ms",
        GRAPH_COLUMNS.len()
    );
    Ok(())
}

fn summary_query(filter: &str, window: (i64, i64)) -> anyhow::Result<SummaryQuery> {
    Ok(SummaryQuery {
        from_us: window.0,
        to_us: window.1,
        range: TimeRangeType::TraceId,
        filter: Some(parse_filter(filter)?),
        sampling: None,
        offset: 0,
        page_size: 1,
    })
}
