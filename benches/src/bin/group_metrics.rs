//! Group-metrics benchmark: the CPU one closed minute of group metrics costs
//! (`fluoro_analyzer::group_metrics_of_minute`, what `fluoro serve` runs once a minute),
//! against the service-graph query over the same minute and over the dashboard's 15-minute
//! window, in the same run on the same store. Answers are checked: the Default group's node
//! `TotalCount`s add up to the one-minute graph's.
//!
//! Data: the block-format benchmark's PetAdoptions traces (`block_format/traces.rs`), ~100
//! traces/s at ~10.7 spans each (1M spans ≈ 14 minutes), as `dashboard_api` uses them; the
//! minute measured is in the middle, so the ±10-minute slack read around it is full.
//!
//! `cargo run --release -p fluoro-benches --bin group_metrics -- --spans 1000000`

#[path = "block_format/traces.rs"]
mod traces;
#[path = "block_format/written_blocks.rs"]
mod written_blocks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_analyzer::{group_metrics_of_minute, service_graph, Groups, NewGroup};
use fluoro_store::{Store, StoreConfig};

use written_blocks::{write_blocks, START_US};

const KEEP_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

#[derive(Debug, Parser)]
#[command(about = "One minute of group metrics against the service-graph query")]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Timed runs per measurement after one untimed warm-up; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value = "target/bench-group-metrics")]
    dir: PathBuf,
}

struct Measured {
    what: String,
    median_ms: f64,
    cpu_ms: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let starts = write_blocks(&args.dir, args.spans, args.spans)?;
    let last_us = starts.last().copied().unwrap_or(START_US);
    let mut config = StoreConfig::new(&args.dir);
    config.retention_max_age = KEEP_FOREVER;
    config.compaction_min_rows = 0;
    let store = Store::open(config)?;
    let middle_s = (START_US + (last_us - START_US) / 2) / 1_000_000;
    let minute = middle_s - middle_s.rem_euclid(60);
    let (from_us, to_us) = (minute * 1_000_000, (minute + 60) * 1_000_000);
    let spans_in_minute = starts.iter().filter(|start| (from_us..to_us).contains(*start)).count();
    println!(
        "{} spans over {:.1} min; minute {minute}: {spans_in_minute} spans",
        starts.len(),
        (last_us - START_US) as f64 / 60e6
    );

    let default_only = Groups::in_memory();
    let four_groups = Groups::in_memory();
    for (name, filter) in [("faults", "fault"), ("slow", "responsetime > 1"), ("search", "service(\"PetSearch\")")] {
        let group =
            NewGroup { name: name.to_owned(), filter_expression: Some(filter.to_owned()), ..NewGroup::default() };
        four_groups.create(group)?;
    }
    let window_from = last_us - 15 * 60 * 1_000_000;
    let mut rows = Vec::new();
    rows.push(measure("service_graph, the minute (baseline)", args.runs, || {
        service_graph(&store, from_us, to_us, None).map(|_| ())
    })?);
    rows.push(measure("service_graph, 15 minutes (the map)", args.runs, || {
        service_graph(&store, window_from, last_us, None).map(|_| ())
    })?);
    rows.push(measure("group metrics of the minute, Default", args.runs, || {
        group_metrics_of_minute(&store, &default_only, minute).map(|_| ())
    })?);
    rows.push(measure("group metrics of the minute, Default + 3 groups", args.runs, || {
        group_metrics_of_minute(&store, &four_groups, minute).map(|_| ())
    })?);
    check_answer(&store, &four_groups, minute)?;

    let baseline = rows[0].cpu_ms.max(1e-9);
    println!("\n| computation | median wall | CPU per call | CPU ÷ one-minute graph |");
    println!("|---|---|---|---|");
    for row in &rows {
        println!("| {} | {:.1} ms | {:.1} ms | {:.2} |", row.what, row.median_ms, row.cpu_ms, row.cpu_ms / baseline);
    }
    let per_minute = rows[3].cpu_ms / 60_000.0;
    println!("\nDefault + 3 groups: {:.2} % of one core, computed once a minute", 100.0 * per_minute);
    store.close()?;
    Ok(())
}

fn measure(what: &str, runs: usize, mut run: impl FnMut() -> fluoro_analyzer::Result<()>) -> anyhow::Result<Measured> {
    run()?;
    let mut wall = Vec::with_capacity(runs);
    let cpu_before = process_cpu_seconds()?;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        run()?;
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu_ms = (process_cpu_seconds()? - cpu_before) * 1000.0 / runs.max(1) as f64;
    wall.sort_by(f64::total_cmp);
    Ok(Measured { what: what.to_owned(), median_ms: wall[wall.len() / 2], cpu_ms })
}

/// The Default group's node totals are the one-minute graph's.
fn check_answer(store: &Store, groups: &Groups, minute: i64) -> anyhow::Result<()> {
    let points = group_metrics_of_minute(store, groups, minute)?;
    let graph = service_graph(store, minute * 1_000_000, (minute + 60) * 1_000_000, None)?;
    let graph_total: u64 =
        graph.services.iter().filter_map(|node| node.summary_statistics).map(|s| s.total_count).sum();
    let node_total: f64 = points
        .iter()
        .filter(|p| {
            p.name == "TotalCount"
                && p.attributes.contains("\"GroupName\":\"Default\"")
                && !p.attributes.contains("Destination")
        })
        .filter_map(|p| p.value)
        .sum();
    ensure!(node_total == graph_total as f64, "Default node totals {node_total} ≠ the graph's {graph_total}");
    let traces = points
        .iter()
        .find(|p| p.name == "ApproximateTraceCount" && p.attributes == "{\"GroupName\":\"Default\"}")
        .and_then(|p| p.value)
        .context("no Default ApproximateTraceCount")?;
    println!(
        "answers checked: {traces} traces started in the minute; {graph_total} node requests; {} points",
        points.len()
    );
    Ok(())
}

fn process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let (_, seconds) = fluoro_benches::thread_name_and_cpu(&stat).context("unreadable /proc/self/stat")?;
    Ok(seconds)
}
