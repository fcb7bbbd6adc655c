//! Query time over span blocks in an S3-compatible bucket vs the same blocks on local disk
//! (issue 18): the service graph, the filter query and `BatchGetTraces` lookups, over one store's
//! data read (1) from its own disk, (2) from the bucket through the block cache at its default
//! bound, warm, and (3) from the bucket with a cache bound of 0, so every query reads its
//! blocks from the bucket again (cold), and (4) from a copy downloaded on open. Also the cost of
//! opening each way, and the bucket GETs and bytes each query costs (counted at the
//! object-store layer). The four stores are open at once and each query runs on each in turn,
//! so that the load of a shared machine falls on all four alike; medians per store.
//!
//! Data: the PetAdoptions traces of `block_format/traces.rs` (as `query_scaling`), written as
//! blocks, published to the bucket by a store opened on them with `--blocks`.
//! `benches/bucket-blocks.sh` starts moto (`moto[server]`, PyPI) on loopback, creates the
//! bucket and runs this binary against it; moto keeps objects in its own memory, so the bucket
//! round trip is loopback HTTP plus moto's Python, a lower bound for a real S3's latency.
//!
//! `bash benches/bucket-blocks.sh --spans 300000`

#[allow(dead_code)] // only the filter query's path is used here, not DuckDB's
#[path = "block_format/query_answers.rs"]
mod query_answers;
#[path = "block_format/traces.rs"]
mod traces;
#[path = "block_format/written_blocks.rs"]
mod written_blocks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Parser;
use fluoro_analyzer::{compile_filter, parse_filter, service_graph, CompiledFilter, NoGroups};
use fluoro_benches::median_ms;
use fluoro_proto::TraceId;
use fluoro_store::columns::{TRACE_HI, TRACE_LO};
use fluoro_store::{BlocksCacheStats, BucketConfig, Store, StoreConfig};

use query_answers::matching_traces;
use traces::Rng;
use written_blocks::write_blocks_every;

const KEEP_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
const IDS_PER_LOOKUP: usize = 5;

#[derive(Debug, Parser)]
#[command(about = "Queries over blocks in a bucket vs on local disk, with and without the block cache")]
struct Args {
    /// The S3-compatible endpoint (moto, started by benches/bucket-blocks.sh).
    #[arg(long)]
    endpoint: String,
    /// `s3://bucket/prefix` on that endpoint.
    #[arg(long, default_value = "s3://fluoro-bench/blocks")]
    bucket: String,
    /// Spans stored.
    #[arg(long, default_value_t = 300_000)]
    spans: usize,
    /// Spans per block (a flush's worth).
    #[arg(long, default_value_t = 50_000)]
    block_spans: usize,
    /// Mean time between traces: 4280 µs gives ~10M spans an hour.
    #[arg(long, default_value_t = 4_280)]
    trace_interval_us: u64,
    /// The block cache's default bound.
    #[arg(long, default_value_t = 256 << 20)]
    cache_bytes: u64,
    /// Timed runs per query; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// `BatchGetTraces` lookups (of 5 ids) per store.
    #[arg(long, default_value_t = 50)]
    lookups: usize,
    #[arg(long, default_value = "responsetime > 1 AND http.status = 500")]
    filter: String,
    #[arg(long, default_value = "target/bench-bucket")]
    dir: PathBuf,
}

/// One way of reading the blocks and what its queries cost.
struct Row {
    label: &'static str,
    open_ms: f64,
    graph_ms: f64,
    filter_ms: f64,
    lookup_ms: f64,
    /// Bucket GETs and MiB per graph query (after opening), when reading from the bucket.
    per_query: Option<(f64, f64)>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)?;
    }
    let writer = args.dir.join("writer");
    let began = Instant::now();
    let starts = write_blocks_every(&writer, args.spans, args.block_spans, args.trace_interval_us)?;
    let window = (starts[0], starts[starts.len() - 1] + 1);
    println!("wrote {} spans in {:.1} s", starts.len(), began.elapsed().as_secs_f64());
    publish(&writer, &args)?;
    let plan = compile_filter(&parse_filter(&args.filter)?, &NoGroups)?;

    let bucket = bucket(&args);
    let ways: [(&'static str, PathBuf, Option<BucketConfig>, Option<u64>); 4] = [
        ("local disk", writer.clone(), None, None),
        ("bucket, cache default, warm", args.dir.join("cached"), Some(bucket.clone()), Some(args.cache_bytes)),
        ("bucket, cache 0 (cold every query)", args.dir.join("uncached"), Some(bucket.clone()), Some(0)),
        ("bucket, downloaded on open", args.dir.join("downloaded"), Some(bucket), None),
    ];
    let mut stores = Vec::new();
    for (label, dir, bucket, cache_bytes) in ways {
        let began = Instant::now();
        let store = open(&dir, bucket, cache_bytes)?;
        stores.push((label, began.elapsed().as_secs_f64() * 1e3, store));
    }
    let rows = measure_interleaved(&stores, &args, window, &plan)?;
    for (_, _, store) in &stores {
        store.close()?;
    }
    print_table(&rows, &args, starts.len());
    std::fs::remove_dir_all(&args.dir)?;
    Ok(())
}

fn bucket(args: &Args) -> BucketConfig {
    BucketConfig {
        endpoint: Some(args.endpoint.clone()),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        ..BucketConfig::new(args.bucket.clone())
    }
}

fn open(dir: &Path, bucket: Option<BucketConfig>, cache_bytes: Option<u64>) -> anyhow::Result<Store> {
    let mut config = StoreConfig::new(dir);
    config.retention_max_age = KEEP_FOREVER;
    config.compaction_min_rows = 0;
    config.bucket = bucket;
    config.blocks_cache_bytes = cache_bytes;
    Ok(Store::open(config)?)
}

/// Publishes the written blocks: a store opened on them with the bucket publishes what the
/// bucket lacks on its maintenance pass.
fn publish(writer: &Path, args: &Args) -> anyhow::Result<()> {
    let began = Instant::now();
    let store = open(writer, Some(bucket(args)), None)?;
    store.maintain()?;
    store.close()?;
    println!("published {} blocks in {:.1} s", block_count(writer)?, began.elapsed().as_secs_f64());
    Ok(())
}

fn block_count(dir: &Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(dir.join("blocks"))?
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet")))
        .count())
}

/// Each query run once per store in turn, `runs` times over (interleaved, so that the load of
/// a shared machine falls on every way alike), then the median per store.
fn measure_interleaved(
    stores: &[(&'static str, f64, Store)],
    args: &Args,
    window: (i64, i64),
    plan: &CompiledFilter,
) -> anyhow::Result<Vec<Row>> {
    let count = stores.len();
    let (mut graph, mut filter, mut lookup) =
        (vec![Vec::new(); count], vec![Vec::new(); count], vec![Vec::new(); count]);
    let before: Vec<_> = stores.iter().map(|(_, _, store)| store.blocks_cache_stats()).collect();
    for _ in 0..args.runs.max(1) {
        for (index, (label, _, store)) in stores.iter().enumerate() {
            let (ms, answer) = median_ms(1, || Ok(service_graph(store, window.0, window.1, None)?))?;
            ensure!(!answer.services.is_empty(), "{label}: an empty service graph");
            graph[index].push(ms);
        }
    }
    let after_graph: Vec<_> = stores.iter().map(|(_, _, store)| store.blocks_cache_stats()).collect();
    let mut matched = vec![0; count];
    for _ in 0..args.runs.max(1) {
        for (index, (_, _, store)) in stores.iter().enumerate() {
            let (ms, found) = median_ms(1, || matching_traces(store, plan, window))?;
            filter[index].push(ms);
            matched[index] = found;
        }
    }
    ensure!(matched.iter().all(|&found| found == matched[0]), "the ways disagree on the filter: {matched:?}");
    let ids = trace_ids(&stores[0].2, window)?;
    let mut rng = Rng::new(7);
    for _ in 0..args.lookups.max(1) {
        let asked: Vec<TraceId> = (0..IDS_PER_LOOKUP).map(|_| ids[rng.below(ids.len() as u64) as usize]).collect();
        for (index, (label, _, store)) in stores.iter().enumerate() {
            let began = Instant::now();
            let found = store.traces(&asked)?;
            lookup[index].push(began.elapsed().as_secs_f64() * 1e3);
            ensure!(!found.is_empty(), "{label}: a lookup found nothing");
        }
    }
    let rows = stores
        .iter()
        .enumerate()
        .map(|(index, (label, open_ms, _))| Row {
            label,
            open_ms: *open_ms,
            graph_ms: median(&mut graph[index]),
            filter_ms: median(&mut filter[index]),
            lookup_ms: median(&mut lookup[index]),
            per_query: per_query(before[index], after_graph[index], args.runs),
        })
        .collect();
    Ok(rows)
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

/// GETs and MiB per query between two readings of the counters, over `runs` queries.
fn per_query(before: Option<BlocksCacheStats>, after: Option<BlocksCacheStats>, runs: usize) -> Option<(f64, f64)> {
    let (before, after) = (before?, after?);
    let runs = runs.max(1) as f64;
    let gets = (after.bucket_gets - before.bucket_gets) as f64 / runs;
    let mib = (after.bucket_get_bytes - before.bucket_get_bytes) as f64 / runs / (1 << 20) as f64;
    Some((gets, mib))
}

/// The distinct trace ids of the window.
fn trace_ids(store: &Store, window: (i64, i64)) -> anyhow::Result<Vec<TraceId>> {
    let frame =
        store.scan(window.0, window.1, &[TRACE_HI, TRACE_LO], None)?.unique(None, Default::default()).collect()?;
    let (his, los) = (frame.column(TRACE_HI)?.u64()?, frame.column(TRACE_LO)?.u64()?);
    let ids: Vec<TraceId> =
        his.iter().zip(los.iter()).filter_map(|(hi, lo)| Some(TraceId::from_halves(hi?, lo?))).collect();
    ensure!(!ids.is_empty(), "no traces");
    Ok(ids)
}

fn print_table(rows: &[Row], args: &Args, spans: usize) {
    let local = &rows[0];
    println!();
    println!(
        "{spans} spans in blocks of {} spans; cache default {} MiB; median of {} runs ({} lookups of {IDS_PER_LOOKUP} ids)",
        args.block_spans,
        args.cache_bytes >> 20,
        args.runs,
        args.lookups
    );
    println!();
    println!("| blocks read from | open | GetServiceGraph | filter query | BatchGetTraces (5 ids) | bucket GETs / MiB per graph query |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let ratio = |ms: f64, base: f64| if base > 0.0 { ms / base } else { f64::NAN };
        let per_query = row.per_query.map_or("–".to_string(), |(gets, mib)| format!("{gets:.1} / {mib:.1}"));
        println!(
            "| {} | {:.0} ms | {:.1} ms ({:.2}×) | {:.1} ms ({:.2}×) | {:.2} ms ({:.2}×) | {per_query} |",
            row.label,
            row.open_ms,
            row.graph_ms,
            ratio(row.graph_ms, local.graph_ms),
            row.filter_ms,
            ratio(row.filter_ms, local.filter_ms),
            row.lookup_ms,
            ratio(row.lookup_ms, local.lookup_ms),
        );
    }
}
