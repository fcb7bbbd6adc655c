//! Parquet block benchmark: bytes per span, trace-by-id latency and filtered scan rate of
//! Fluoro's blocks, each compared in the same run with DuckDB reading the same files.
//!
//! Traces are PetAdoptions-shaped (`traces.rs`): ~100 traces/s of the four page flows, written
//! as blocks of `--block-spans` spans, as the store's flush would.
//!
//! `cargo run --release -p fluoro-benches --bin block_format -- --spans 1000000,10000000`

mod shared_traces;
mod traces;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use clap::Parser;
use fluoro_proto::TraceId;
use fluoro_store::bench_api::{self, Block};
use fluoro_store::StoredSpan;
use serde_json::Value;

use traces::Rng;

/// 2024-01-01T00:00:00Z: where generated time starts.
const START_US: i64 = 1_704_067_200_000_000;
const TRACE_INTERVAL_US: u64 = 10_000;
const WINDOW_US: i64 = 10 * 60 * 1_000_000;

#[derive(Debug, Parser)]
#[command(about = "Parquet blocks: size, trace lookup and scan, against DuckDB on the same files")]
struct Args {
    /// Data set sizes in spans, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    spans: Vec<usize>,
    /// Spans per block (the store's flush size).
    #[arg(long, default_value_t = 1_000_000)]
    block_spans: usize,
    /// Trace lookups timed per data set.
    #[arg(long, default_value_t = 500)]
    lookups: usize,
    /// Where blocks go (deleted first).
    #[arg(long, default_value = "target/bench-blocks")]
    dir: PathBuf,
    /// Put the X-Ray document JSON on segment rows (as the store does for X-Ray input).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    documents: bool,
    /// Instead: time a flush's shared-trace test beside this many blocks (comma separated),
    /// against testing every block's filter (`shared_traces.rs`).
    #[arg(long, value_delimiter = ',')]
    shared_traces: Vec<usize>,
    /// Traces in each block for `--shared-traces`.
    #[arg(long, default_value_t = 50_000)]
    shared_traces_per_block: usize,
}

struct DataSet {
    blocks: Vec<Block>,
    spans: usize,
    sample: Vec<TraceId>,
    window: (i64, i64),
    window_rows: usize,
    write_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.shared_traces.is_empty() {
        return shared_traces::run(&args.shared_traces, args.shared_traces_per_block);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/duckdb_blocks.py");
    for &spans in &args.spans {
        println!("\n== {spans} spans, blocks of {} ==", args.block_spans);
        let dir = args.dir.join(format!("{spans}"));
        let data = generate(&dir, spans, &args, args.documents)?;
        let bytes: u64 = data.blocks.iter().map(Block::bytes).sum();
        println!(
            "written: {} blocks, {} spans, {:.1} MB, {:.1} B/span, {:.0} spans/s",
            data.blocks.len(),
            data.spans,
            bytes as f64 / 1e6,
            bytes as f64 / data.spans as f64,
            data.spans as f64 / data.write_seconds
        );
        if spans == args.spans[0] {
            let plain = generate(&args.dir.join("no-documents"), spans, &args, false)?;
            let plain_bytes: u64 = plain.blocks.iter().map(Block::bytes).sum();
            println!("without documents: {:.1} B/span", plain_bytes as f64 / plain.spans as f64);
        }
        let (p50, p99, found) = fluoro_lookups(&data)?;
        println!("fluoro trace lookup: p50 {p50:.2} ms, p99 {p99:.2} ms ({found} spans found)");
        let (scan_seconds, faults) = fluoro_scan(&data)?;
        println!(
            "fluoro scan (faults per service, 10 min window, {} spans): {:.1} ms, {:.1} M rows/s, {faults:?}",
            data.window_rows,
            scan_seconds * 1e3,
            data.window_rows as f64 / scan_seconds / 1e6
        );
        let duck = duckdb(&script, &data)?;
        let duck_faults = duck["faults"].as_object().context("faults")?;
        for (service, count) in &faults {
            ensure!(duck_faults.get(service).and_then(Value::as_u64) == Some(*count), "duckdb disagrees on {service}");
        }
        let duck_scan = duck["scan_seconds"].as_f64().context("scan_seconds")?;
        let (duck_p50, duck_p99) =
            (duck["lookup_p50_ms"].as_f64().unwrap_or(0.0), duck["lookup_p99_ms"].as_f64().unwrap_or(0.0));
        println!("duckdb trace lookup: p50 {duck_p50:.2} ms, p99 {duck_p99:.2} ms (rows {})", duck["lookup_rows"]);
        println!(
            "duckdb scan: {:.1} ms, {:.1} M rows/s (same counts)",
            duck_scan * 1e3,
            data.window_rows as f64 / duck_scan / 1e6
        );
        println!(
            "ratio fluoro/duckdb: lookup p50 {:.2}, p99 {:.2}, scan time {:.2}",
            p50 / duck_p50,
            p99 / duck_p99,
            scan_seconds / duck_scan
        );
        println!("column sizes (compressed, top 8): {}", duck["columns"]);
    }
    Ok(())
}

fn generate(dir: &Path, total: usize, args: &Args, documents: bool) -> anyhow::Result<DataSet> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(42);
    let mut sequence = 0;
    let mut start = START_US;
    let mut written = 0;
    let mut sample = Vec::new();
    let mut all_starts: Vec<i64> = Vec::with_capacity(total);
    let mut blocks = Vec::new();
    let mut write_seconds = 0.0;
    while written < total {
        let mut batch: Vec<StoredSpan> = Vec::with_capacity(args.block_spans + 64);
        while batch.len() < args.block_spans.min(total - written) {
            let spans = traces::trace(&mut rng, &mut sequence, start, documents);
            if rng.below(200) == 0 {
                sample.push(spans[0].row.trace_id);
            }
            batch.extend(spans);
            start += (TRACE_INTERVAL_US / 2 + rng.below(TRACE_INTERVAL_US)) as i64;
        }
        written += batch.len();
        all_starts.extend(batch.iter().map(|span| span.row.start_us));
        let began = Instant::now();
        blocks.push(bench_api::write_block(dir, blocks.len() as u64 + 1, batch)?);
        write_seconds += began.elapsed().as_secs_f64();
    }
    // The window sits in the middle of the data, so it crosses a block boundary at most sizes.
    let middle = all_starts[all_starts.len() / 2];
    let window = (middle - WINDOW_US / 2, middle + WINDOW_US / 2);
    let window_rows = all_starts.iter().filter(|s| **s >= window.0 && **s < window.1).count();
    let mut shuffled = Rng::new(7);
    let mut picked = Vec::new();
    while picked.len() < args.lookups.min(sample.len()) {
        picked.push(sample[shuffled.below(sample.len() as u64) as usize]);
    }
    Ok(DataSet { blocks, spans: written, sample: picked, window, window_rows, write_seconds })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn fluoro_lookups(data: &DataSet) -> anyhow::Result<(f64, f64, usize)> {
    let mut times = Vec::with_capacity(data.sample.len());
    let mut found = 0;
    for id in &data.sample {
        let began = Instant::now();
        let spans = bench_api::trace(&data.blocks, *id)?;
        times.push(began.elapsed().as_secs_f64() * 1e3);
        if spans.is_empty() {
            bail!("trace {} not found", id.to_w3c());
        }
        found += spans.len();
    }
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 0.5), percentile(&times, 0.99), found))
}

fn fluoro_scan(data: &DataSet) -> anyhow::Result<(f64, Vec<(String, u64)>)> {
    let mut best = f64::MAX;
    let mut result = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        result = bench_api::fault_counts_by_service(&data.blocks, data.window.0, data.window.1)?;
        best = best.min(began.elapsed().as_secs_f64());
    }
    Ok((best, result))
}

fn duckdb(script: &Path, data: &DataSet) -> anyhow::Result<Value> {
    let ids: Vec<String> = data
        .sample
        .iter()
        .map(|id| {
            let value = id.as_u128();
            format!("{}:{}", (value >> 64) as u64, value as u64)
        })
        .collect();
    let ids_file = data.blocks[0].path().with_file_name("lookup-ids.txt");
    std::fs::write(&ids_file, ids.join("\n"))?;
    let output = Command::new("python3")
        .arg(script)
        .arg(&ids_file)
        .arg(data.window.0.to_string())
        .arg(data.window.1.to_string())
        .args(bench_api::paths(&data.blocks))
        .output()
        .context("running python3 (pip install duckdb)")?;
    ensure!(output.status.success(), "duckdb script failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}
