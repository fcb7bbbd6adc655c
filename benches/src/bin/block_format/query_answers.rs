//! What `analyzer_vs_duckdb` and `query_scaling` share (included with `#[path]`): the filter
//! query's Fluoro path, the DuckDB script's run (`benches/python/duckdb_analyzer.py`), and the
//! check that both give every edge and node the same counts per status class and total
//! response time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context};
use fluoro_analyzer::{
    load_spans, slack_window, trace_frame, CompiledFilter, MatchFrames, ServiceGraph, Statistics, TimeRangeType,
    TRACE_SLACK_US,
};
use fluoro_store::Store;
use polars::prelude::IntoLazy;
use serde_json::Value;

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

/// Checks the graph's edges and nodes against DuckDB's (`duck["edges"]`, `duck["nodes"]`);
/// returns how many of each were compared.
pub(crate) fn compare_graph(graph: &ServiceGraph, duck: &Value) -> anyhow::Result<(usize, usize)> {
    let (edges, nodes) = (edge_counts(graph), node_counts(graph));
    compare_edges(&edges, &duckdb_edges(duck)?)?;
    compare_nodes(&nodes, &duckdb_nodes(duck)?)?;
    Ok((edges.len(), nodes.len()))
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

/// The analyzer's GetTraceSummaries path up to the matched set: span scan, trace frame,
/// compiled filter (`trace_summaries` without sorting and summarizing a page).
pub(crate) fn matching_traces(store: &Store, plan: &CompiledFilter, window: (i64, i64)) -> anyhow::Result<usize> {
    let (from_us, to_us) = slack_window(window.0, window.1);
    // As `window_traces` reads them: not rechunked (`MatchFrames` does when a filter tests spans).
    let spans = load_spans(store, from_us, to_us, &plan.span_columns())?.collect()?;
    let candidates = trace_frame(spans.clone().lazy(), window.0, window.1, TimeRangeType::TraceId)?.collect()?;
    Ok(plan.apply(&MatchFrames::new(spans), candidates)?.height())
}

/// Runs the DuckDB script over the store's blocks for `window`, each query `runs` times.
pub(crate) fn duckdb(store: &Store, window: (i64, i64), runs: usize) -> anyhow::Result<Value> {
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
