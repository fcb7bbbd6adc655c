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

#[path = "block_format/traces.rs"]
mod traces;
#[path = "block_format/written_blocks.rs"]
mod written_blocks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_analyzer::{
    collect_spans, compile_filter, load_spans, parse_filter, service_graph, slack_window, trace_frame, trace_summaries,
    CompiledFilter, MatchFrames, NoGroups, ServiceGraph, Statistics, SummaryQuery, TimeRangeType, GRAPH_COLUMNS,
    TRACE_SLACK_US,
};
use fluoro_benches::median_ms;
use fluoro_store::{Store, StoreConfig};
use polars::prelude::IntoLazy;
use serde_json::Value;

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

/// Edge key (source name, source type, destination name, destination type) → counts.
type EdgeCounts = BTreeMap<(String, String, String, String), EdgeTotals>;

/// Node key (name, type) → counts.
type NodeCounts = BTreeMap<(String, String), NodeTotals>;

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct NodeTotals {
    requests: EdgeTotals,
    /// Values in the response-time histogram: the completed requests.
    completed: u64,
    /// Values in the duration histogram: the traces through the node.
    traces: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct EdgeTotals {
    total: u64,
    ok: u64,
    error: u64,
    throttle: u64,
    fault: u64,
    response_seconds: f64,
}

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
    let edges = edge_counts(&graph);
    println!("fluoro service graph: {} nodes, {} edges, median {graph_ms:.1} ms", graph.services.len(), edges.len());

    print_breakdown(&store, &plan, window, args.runs)?;

    let duck = duckdb(&store, window, args.runs)?;
    let duck_matched = duck["filter_count"].as_u64().context("filter_count")?;
    ensure!(duck_matched as usize == matched, "duckdb matched {duck_matched} traces, fluoro {matched}");
    let duck_edges = duckdb_edges(&duck)?;
    compare_edges(&edges, &duck_edges)?;
    let nodes = node_counts(&graph);
    compare_nodes(&nodes, &duckdb_nodes(&duck)?)?;
    let duck_filter_ms = duck["filter_ms"].as_f64().context("filter_ms")?;
    let duck_graph_ms = duck["graph_ms"].as_f64().context("graph_ms")?;
    println!(
        "answers agree: {matched} traces; {} edges and {} nodes with equal counts and response times",
        edges.len(),
        nodes.len()
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

/// The analyzer's GetTraceSummaries path up to the matched set: span scan, trace frame,
/// compiled filter (`trace_summaries` without sorting and summarizing a page).
fn matching_traces(store: &Store, plan: &CompiledFilter, window: (i64, i64)) -> anyhow::Result<usize> {
    let (from_us, to_us) = slack_window(window.0, window.1);
    let spans = collect_spans(load_spans(store, from_us, to_us, &plan.span_columns())?)?;
    let candidates = trace_frame(spans.clone().lazy(), window.0, window.1, TimeRangeType::TraceId)?.collect()?;
    Ok(plan.apply(&MatchFrames::new(spans), candidates)?.height())
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

/// Edge statistics keyed by node names and types; nodes differing only by account are summed,
/// as the SQL side does not key on accounts.
fn edge_counts(graph: &ServiceGraph) -> EdgeCounts {
    let mut edges = EdgeCounts::new();
    for node in &graph.services {
        for edge in &node.edges {
            let Some(target) = graph.node_by_reference(edge.reference_id) else { continue };
            let key = (node.name.clone(), node.node_type.clone(), target.name.clone(), target.node_type.clone());
            add_statistics(edges.entry(key).or_default(), &edge.summary_statistics);
        }
    }
    edges
}

fn duckdb(store: &Store, window: (i64, i64), runs: usize) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/duckdb_analyzer.py");
    let output = Command::new("python3")
        .arg(script)
        .args([window.0, window.1, TRACE_SLACK_US, runs as i64].map(|n| n.to_string()))
        .args(store.block_files().into_iter().map(|(_, path)| path))
        .output()
        .context("running python3 (pip install duckdb)")?;
    ensure!(output.status.success(), "duckdb script failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn duckdb_edges(duck: &Value) -> anyhow::Result<EdgeCounts> {
    let mut edges = EdgeCounts::new();
    for row in duck["edges"].as_array().context("edges")? {
        let text = |i: usize| row[i].as_str().unwrap_or_default().to_owned();
        let count = |i: usize| row[i].as_u64().unwrap_or_default();
        let totals = EdgeTotals {
            total: count(4),
            ok: count(4).saturating_sub(count(5) + count(6) + count(7)),
            error: count(7),
            throttle: count(6),
            fault: count(5),
            response_seconds: row[8].as_f64().unwrap_or_default() / 1e6,
        };
        edges.insert((text(0), text(1), text(2), text(3)), totals);
    }
    Ok(edges)
}

fn compare_edges(fluoro: &EdgeCounts, duck: &EdgeCounts) -> anyhow::Result<()> {
    for (key, ours) in fluoro {
        let theirs = duck.get(key).with_context(|| format!("duckdb has no edge {key:?}"))?;
        ensure!(same_statistics(ours, theirs), "edge {key:?}: fluoro {ours:?}, duckdb {theirs:?}");
    }
    ensure!(fluoro.len() == duck.len(), "fluoro has {} edges, duckdb {}", fluoro.len(), duck.len());
    Ok(())
}

/// Node statistics keyed by name and type, summed over accounts as for edges; client nodes,
/// which handle no requests, are left out as the SQL side has none.
fn node_counts(graph: &ServiceGraph) -> NodeCounts {
    let mut nodes = NodeCounts::new();
    for node in &graph.services {
        let Some(statistics) = &node.summary_statistics else { continue };
        let totals = nodes.entry((node.name.clone(), node.node_type.clone())).or_default();
        add_statistics(&mut totals.requests, statistics);
        totals.completed += node.response_time.count();
        totals.traces += node.duration.count();
    }
    nodes
}

fn add_statistics(totals: &mut EdgeTotals, statistics: &Statistics) {
    totals.total += statistics.total_count;
    totals.ok += statistics.ok_count;
    totals.error += statistics.error_statistics.other_count;
    totals.throttle += statistics.error_statistics.throttle_count;
    totals.fault += statistics.fault_statistics.total_count;
    totals.response_seconds += statistics.total_response_time;
}

fn duckdb_nodes(duck: &Value) -> anyhow::Result<NodeCounts> {
    let mut nodes = NodeCounts::new();
    for row in duck["nodes"].as_array().context("nodes")? {
        let text = |i: usize| row[i].as_str().unwrap_or_default().to_owned();
        let count = |i: usize| row[i].as_u64().unwrap_or_default();
        let requests = EdgeTotals {
            total: count(2),
            ok: count(2).saturating_sub(count(3) + count(4) + count(5)),
            error: count(5),
            throttle: count(4),
            fault: count(3),
            response_seconds: row[6].as_f64().unwrap_or_default() / 1e6,
        };
        nodes.insert((text(0), text(1)), NodeTotals { requests, completed: count(7), traces: count(8) });
    }
    Ok(nodes)
}

fn compare_nodes(fluoro: &NodeCounts, duck: &NodeCounts) -> anyhow::Result<()> {
    for (key, ours) in fluoro {
        let theirs = duck.get(key).with_context(|| format!("duckdb has no node {key:?}"))?;
        let same_counts = (ours.completed, ours.traces) == (theirs.completed, theirs.traces)
            && same_statistics(&ours.requests, &theirs.requests);
        ensure!(same_counts, "node {key:?}: fluoro {ours:?}, duckdb {theirs:?}");
    }
    ensure!(fluoro.len() == duck.len(), "fluoro has {} nodes, duckdb {}", fluoro.len(), duck.len());
    Ok(())
}

fn same_statistics(ours: &EdgeTotals, theirs: &EdgeTotals) -> bool {
    let same_counts = (ours.total, ours.ok, ours.error, ours.throttle, ours.fault)
        == (theirs.total, theirs.ok, theirs.error, theirs.throttle, theirs.fault);
    same_counts && (ours.response_seconds - theirs.response_seconds).abs() <= 1e-6 * ours.response_seconds.max(1.0)
}
