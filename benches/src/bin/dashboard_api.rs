//! Dashboard benchmark: the API calls behind the service map (`POST /ServiceGraph`) and the
//! trace list (`POST /TraceSummaries`, first page; `POST /api/histogram`, its distribution)
//! over a 15-minute window of 1M spans, asked over loopback HTTP of the real router
//! (`fluoro_ui::api_router`), as the browser asks them. Target: each under 300 ms.
//!
//! Data: the block-format benchmark's PetAdoptions traces (`block_format/traces.rs`), ~100
//! traces/s at ~10.7 spans each, so 1M spans cover about 15 minutes; written as 1M-span blocks
//! into a store's `blocks/` and opened with `Store::open`, as `analyzer_vs_duckdb` does.
//!
//! `cargo run --release -p fluoro-benches --bin dashboard_api -- --spans 1000000`

#[path = "block_format/traces.rs"]
mod traces;
#[path = "block_format/written_blocks.rs"]
mod written_blocks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_analyzer::Groups;
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};

use written_blocks::{write_blocks, START_US};

/// The dashboard's default window.
const WINDOW_SECONDS: f64 = 15.0 * 60.0;
/// Far enough that retention never deletes the 2024 data while the benchmark runs.
const KEEP_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
const TARGET_MS: f64 = 300.0;

#[derive(Debug, Parser)]
#[command(about = "The dashboard's API calls over loopback HTTP on a 15-minute window")]
struct Args {
    /// Spans to generate.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Spans per block (the store's flush size).
    #[arg(long, default_value_t = 1_000_000)]
    block_spans: usize,
    /// Timed runs per call after one untimed warm-up; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The store's data directory (deleted first).
    #[arg(long, default_value = "target/bench-dashboard")]
    dir: PathBuf,
}

/// Queries run under the allocator `fluoro serve` uses.
#[global_allocator]
static ALLOCATOR: fluoro_store::allocator::ServerAllocator = fluoro_store::allocator::ServerAllocator {};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let began = Instant::now();
    let starts = write_blocks(&args.dir, args.spans, args.block_spans)?;
    let (spans, first_us, last_us) = (starts.len(), START_US, starts.last().copied().unwrap_or(START_US));
    let data_minutes = (last_us - first_us) as f64 / 60e6;
    println!("generated and wrote {spans} spans over {data_minutes:.1} min in {:.1} s", began.elapsed().as_secs_f64());
    let mut config = StoreConfig::new(&args.dir);
    config.retention_max_age = KEEP_FOREVER;
    config.compaction_min_rows = 0;
    let store = Arc::new(Store::open(config)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let end = last_us as f64 / 1e6;
    let window = json!({"StartTime": end - WINDOW_SECONDS, "EndTime": end});
    let rows = runtime.block_on(measure(store.clone(), window, args.runs))?;
    println!("\n| call (15-minute window, {spans} spans) | first call | median of {} | answer |", args.runs);
    println!("|---|---|---|---|");
    for row in &rows {
        println!("| {} | {:.1} ms | {:.1} ms | {} |", row.call, row.first_ms, row.median_ms, row.answer);
    }
    let slowest = rows.iter().map(|row| row.median_ms).fold(0.0, f64::max);
    println!(
        "\nslowest median {slowest:.1} ms; target {TARGET_MS} ms: {}",
        if slowest < TARGET_MS { "met" } else { "missed" }
    );
    drop(runtime);
    Arc::into_inner(store).context("the server still holds the store")?.close()?;
    Ok(())
}

struct Row {
    call: String,
    first_ms: f64,
    median_ms: f64,
    answer: String,
}

/// Serves the API router on a loopback port and times each call the map and trace list make.
async fn measure(store: Arc<Store>, window: Value, runs: usize) -> anyhow::Result<Vec<Row>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let router = fluoro_ui::api_router(store, Arc::new(Groups::in_memory()));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let with = |extra: Value| {
        let mut body = window.clone();
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let calls = [
        ("ServiceGraph (the map)", "/ServiceGraph", with(json!({}))),
        ("TraceSummaries, first page (the list)", "/TraceSummaries", with(json!({}))),
        (
            "TraceSummaries, first page, `responsetime > 1`",
            "/TraceSummaries",
            with(json!({"FilterExpression": "responsetime > 1"})),
        ),
        ("api/histogram (the list's distribution)", "/api/histogram", with(json!({}))),
    ];
    let mut rows = Vec::new();
    for (call, path, body) in calls {
        let url = format!("http://{address}{path}");
        let mut times = Vec::new();
        let mut answer = Value::Null;
        for _ in 0..=runs {
            let began = Instant::now();
            let response = client.post(&url).json(&body).send().await?;
            let status = response.status();
            answer = response.json().await?;
            times.push(began.elapsed().as_secs_f64() * 1e3);
            ensure!(status.is_success(), "{path} answered {status}: {answer}");
        }
        let first_ms = times[0];
        let mut warm = times[1..].to_vec();
        warm.sort_by(f64::total_cmp);
        let median_ms = warm.get(warm.len() / 2).copied().unwrap_or(first_ms);
        rows.push(Row { call: call.to_owned(), first_ms, median_ms, answer: describe(&answer) });
    }
    server.abort();
    Ok(rows)
}

/// What the answer held, so a fast empty answer cannot pass for a fast full one.
fn describe(answer: &Value) -> String {
    let count = |field: &str| answer[field].as_array().map_or(0, Vec::len);
    if answer.get("Services").is_some() {
        let edges: usize = answer["Services"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["Edges"].as_array().map_or(0, Vec::len))
            .sum();
        format!("{} nodes, {edges} edges", count("Services"))
    } else if answer.get("TraceSummaries").is_some() {
        format!("{} summaries of {} traces", count("TraceSummaries"), answer["TracesProcessedCount"])
    } else {
        format!(
            "{} traces, {} buckets",
            answer["Traces"],
            answer["ResponseTime"]["Distribution"].as_array().map_or(0, Vec::len)
        )
    }
}
