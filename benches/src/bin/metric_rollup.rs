//! Metric rollup benchmark: per-minute series over a day computed at query time from raw
//! points (`fluoro_analyzer::metric_series`), compared in the same run with DuckDB SQL over the
//! same Parquet metric blocks (`benches/python/duckdb_metrics.py`), answers checked equal. It
//! backs `docs/storage.md`'s choice of rollups at query time over stored rollups.
//!
//! Data: `--services` services, each exporting every `--interval-seconds` for 24 h a cumulative
//! `process.cpu.time` (states user and system), a `process.memory.usage` gauge and a cumulative
//! `http.server.duration` histogram of 16 buckets, written through `Store::write_metrics` and
//! flushed to blocks as the store's flush would.
//!
//! `cargo run --release -p fluoro-benches --bin metric_rollup -- --services 20`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_analyzer::{metric_series, MetricSeriesQuery, Statistic};
use fluoro_benches::median_ms;
use fluoro_proto::{Durability, HistogramValue, MetricBatch, MetricKind, MetricPoint};
use fluoro_store::{MetricQuery, Store, StoreConfig};
use serde_json::Value;

/// 2024-01-01T00:00:00Z: a minute boundary, far from now (retention is off).
const DAY_START_US: i64 = 1_704_067_200_000_000;
const DAY_US: i64 = 24 * 3600 * 1_000_000;
const BOUNDS: [f64; 15] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0];

#[derive(Debug, Parser)]
#[command(about = "Per-minute metric series at query time against DuckDB SQL on the same Parquet blocks")]
struct Args {
    #[arg(long, default_value_t = 20)]
    services: usize,
    /// Seconds between a service's exports.
    #[arg(long, default_value_t = 10)]
    interval_seconds: i64,
    /// Timed runs per query; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The store's data directory (deleted first).
    #[arg(long, default_value = "target/bench-metrics")]
    dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = std::fs::remove_dir_all(&args.dir);
    let config = StoreConfig {
        retention_max_age: std::time::Duration::from_secs(100 * 365 * 24 * 3600),
        flush_rows: usize::MAX / 2,
        ..StoreConfig::new(&args.dir)
    };
    let store = Store::open(config)?;
    let written = Instant::now();
    let mut points = 0;
    for service in 0..args.services {
        let batch = day_of_points(&format!("service-{service:02}"), args.interval_seconds);
        points += batch.len();
        store.write_metrics(MetricBatch { points: batch, durability: Durability::BestEffort })?;
    }
    store.flush()?;
    let bytes: u64 =
        store.metric_block_files().iter().map(|(_, path)| std::fs::metadata(path).map_or(0, |m| m.len())).sum();
    println!(
        "{points} points ({} services, every {} s for 24 h) written and flushed in {:.1} s; {} block(s), {:.1} bytes/point",
        args.services,
        args.interval_seconds,
        written.elapsed().as_secs_f64(),
        store.metric_block_files().len(),
        bytes as f64 / points as f64
    );

    let query = |name: &str, statistic| MetricSeriesQuery {
        service: "service-07".to_owned(),
        name: name.to_owned(),
        attributes: Vec::new(),
        from_us: DAY_START_US + 3600 * 1_000_000,
        to_us: DAY_START_US + DAY_US,
        period_seconds: Some(60),
        statistic,
    };
    let cpu_query = query("process.cpu.time", Statistic::Avg);
    let memory_query = query("process.memory.usage", Statistic::Avg);
    let p99_query = query("http.server.duration", Statistic::P99);
    let (raw_ms, raw) = median_ms(args.runs, || {
        Ok(store.metric_points(&MetricQuery {
            service: cpu_query.service.clone(),
            name: cpu_query.name.clone(),
            from_us: cpu_query.from_us,
            to_us: cpu_query.to_us,
        })?)
    })?;
    let (cpu_ms, cpu) = median_ms(args.runs, || Ok(metric_series(&store, &cpu_query)?))?;
    let (memory_ms, memory) = median_ms(args.runs, || Ok(metric_series(&store, &memory_query)?))?;
    let (p99_ms, p99) = median_ms(args.runs, || Ok(metric_series(&store, &p99_query)?))?;
    ensure!(p99.values.iter().all(|v| v.value.is_some()), "every minute has a p99");

    let duck = duckdb(&store, &cpu_query, args.runs)?;
    check_equal("cpu", &cpu.values.iter().map(|v| v.value).collect::<Vec<_>>(), &duck["cpu"])?;
    check_equal("memory", &memory.values.iter().map(|v| v.value).collect::<Vec<_>>(), &duck["memory"])?;
    let (duck_cpu_ms, duck_memory_ms) = (number(&duck["cpu_ms"])?, number(&duck["memory_ms"])?);
    println!("23 h of one service by the minute ({} buckets), median of {} runs:", cpu.values.len(), args.runs);
    println!("  raw points of process.cpu.time (2 series, {} points): {raw_ms:.1} ms", raw.len());
    println!(
        "  cpu avg (increases per series, resets): fluoro {cpu_ms:.1} ms, duckdb {duck_cpu_ms:.1} ms, ratio {:.2}",
        cpu_ms / duck_cpu_ms
    );
    println!(
        "  memory avg (gauge): fluoro {memory_ms:.1} ms, duckdb {duck_memory_ms:.1} ms, ratio {:.2}",
        memory_ms / duck_memory_ms
    );
    println!("  latency p99 (16-bucket histogram): fluoro {p99_ms:.1} ms ({:.2} of the cpu query)", p99_ms / cpu_ms);
    store.close()?;
    Ok(())
}

/// One service's day: cpu time by state, memory, latency histogram, every `interval` seconds.
fn day_of_points(service: &str, interval_seconds: i64) -> Vec<MetricPoint> {
    let step = interval_seconds * 1_000_000;
    let start_us = DAY_START_US - 3600 * 1_000_000;
    let point = |time_us: i64, name: &str, kind: MetricKind, attributes: &str, value: Option<f64>| MetricPoint {
        time_us,
        start_us: if kind == MetricKind::Gauge { 0 } else { start_us },
        service: service.to_owned(),
        name: name.to_owned(),
        unit: String::new(),
        kind,
        attributes: attributes.to_owned(),
        value,
        histogram: None,
    };
    let mut points = Vec::new();
    let (mut user, mut system) = (0.0, 0.0);
    let mut counts = vec![0u64; BOUNDS.len() + 1];
    for (tick, time_us) in (DAY_START_US..DAY_START_US + DAY_US).step_by(step as usize).enumerate() {
        // Deterministic variation: a load that rises and falls over the day.
        let load = 1.0 + ((tick % 360) as f64 / 360.0);
        user += 0.4 * load * interval_seconds as f64;
        system += 0.05 * load * interval_seconds as f64;
        points.push(point(time_us, "process.cpu.time", MetricKind::CumulativeSum, r#"{"state":"user"}"#, Some(user)));
        points.push(point(
            time_us,
            "process.cpu.time",
            MetricKind::CumulativeSum,
            r#"{"state":"system"}"#,
            Some(system),
        ));
        points.push(point(time_us, "process.memory.usage", MetricKind::Gauge, "{}", Some(1e8 * load)));
        for (bucket, count) in counts.iter_mut().enumerate() {
            *count += ((tick + bucket) % 7) as u64;
        }
        let total = counts.iter().sum();
        let mut latency = point(time_us, "http.server.duration", MetricKind::CumulativeHistogram, "{}", None);
        latency.histogram = Some(HistogramValue {
            count: total,
            sum: Some(total as f64 * 0.3),
            min: Some(0.001),
            max: Some(40.0),
            bounds: BOUNDS.to_vec(),
            counts: counts.clone(),
        });
        points.push(latency);
    }
    points
}

fn duckdb(store: &Store, query: &MetricSeriesQuery, runs: usize) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/duckdb_metrics.py");
    let output = Command::new("python3")
        .arg(script)
        .args([query.service.clone(), query.from_us.to_string(), query.to_us.to_string(), runs.to_string()])
        .args(store.metric_block_files().into_iter().map(|(_, path)| path))
        .output()
        .context("running python3 (pip install duckdb)")?;
    ensure!(output.status.success(), "duckdb script failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn number(value: &Value) -> anyhow::Result<f64> {
    value.as_f64().with_context(|| format!("{value} is not a number"))
}

fn check_equal(what: &str, fluoro: &[Option<f64>], duck: &Value) -> anyhow::Result<()> {
    let duck: Vec<Option<f64>> = duck.as_array().context("a list")?.iter().map(Value::as_f64).collect();
    ensure!(fluoro.len() == duck.len(), "{what}: fluoro has {} buckets, duckdb {}", fluoro.len(), duck.len());
    for (index, (ours, theirs)) in fluoro.iter().zip(&duck).enumerate() {
        let same = match (ours, theirs) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            (a, b) => a == b,
        };
        ensure!(same, "{what}, bucket {index}: fluoro {ours:?}, duckdb {theirs:?}");
    }
    Ok(())
}
