//! Query cost as data grows (issue 17): the filter query, the service graph and the latency
//! histogram over windows of 1M, 3M, 10M and 30M spans of one store, each beside DuckDB's SQL
//! on the same Parquet blocks in the same run (`benches/python/duckdb_analyzer.py`, answers
//! checked equal) and beside the bare scan of the columns it reads; `BatchGetTraces` latency
//! (p50, p99) and the dashboard's map call (`POST /ServiceGraph`) over loopback HTTP of the real
//! routers; and the smallest window again in a store holding only the blocks that window reads,
//! to show that the cost follows the window read, not the total stored.
//!
//! Data: the block-format benchmark's PetAdoptions traces (`block_format/traces.rs`), a trace
//! every 4.28 ms on average (~10M spans an hour), written once as 1M-span blocks; windows are
//! centred in it. `benches/python/query_scaling_report.py` runs this binary, draws the plot and
//! rewrites the section of `BENCHMARKS.md`.
//!
//! `cargo run --release -p fluoro-benches --bin query_scaling -- --json target/query-scaling.json`

#[path = "block_format/query_answers.rs"]
mod query_answers;
#[path = "block_format/traces.rs"]
mod traces;
#[path = "block_format/written_blocks.rs"]
mod written_blocks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_analyzer::{
    compile_filter, filter_latency, parse_filter, service_graph, slack_window, CompiledFilter, Groups, LatencyQuery,
    NoGroups, GRAPH_COLUMNS, TRACE_FRAME_COLUMNS,
};
use fluoro_benches::median_ms;
use fluoro_collector::{xray_api_router, Counters, Ingest};
use fluoro_proto::TraceId;
use fluoro_store::columns::{START_US, TRACE_HI, TRACE_LO};
use fluoro_store::{bench_api, Store, StoreConfig};
use serde_json::{json, Value};

use query_answers::{compare_graph, duckdb, matching_traces};
use traces::Rng;
use written_blocks::write_blocks_every;

/// Far enough that retention never deletes the 2024 data while the benchmark runs.
const KEEP_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
/// Trace ids per `BatchGetTraces` request (the SDK's and console's usual batch is small).
const IDS_PER_LOOKUP: usize = 5;

#[derive(Debug, Parser)]
#[command(about = "Query cost over windows of 1M to 30M spans, against DuckDB and the bare scan")]
struct Args {
    /// Spans stored (generated once).
    #[arg(long, default_value_t = 30_000_000)]
    total_spans: usize,
    /// Window sizes in spans, centred in the data.
    #[arg(long, value_delimiter = ',', default_value = "1000000,3000000,10000000,30000000")]
    windows: Vec<usize>,
    /// Mean time between traces: 4280 µs gives ~10M spans an hour.
    #[arg(long, default_value_t = 4_280)]
    trace_interval_us: u64,
    /// Spans per block.
    #[arg(long, default_value_t = 1_000_000)]
    block_spans: usize,
    /// Timed runs per query; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// `BatchGetTraces` requests per window.
    #[arg(long, default_value_t = 200)]
    lookups: usize,
    /// The filter query.
    #[arg(long, default_value = "responsetime > 1 AND http.status = 500")]
    filter: String,
    /// The store's data directory.
    #[arg(long, default_value = "target/bench-scaling")]
    dir: PathBuf,
    /// Use the data already in `--dir` when it holds `--total-spans` spans.
    #[arg(long)]
    reuse: bool,
    /// Leave the generated data in `--dir` (by default it is deleted at the end).
    #[arg(long)]
    keep: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Queries run under the allocator `fluoro serve` uses.
#[global_allocator]
static ALLOCATOR: fluoro_store::allocator::ServerAllocator = fluoro_store::allocator::ServerAllocator {};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = open_data(&args)?;
    let starts = span_starts(&store)?;
    let minutes = (starts[starts.len() - 1] - starts[0]) as f64 / 60e6;
    println!("store: {} spans over {minutes:.1} min in {} blocks", starts.len(), store.block_files().len());
    let plan = compile_filter(&parse_filter(&args.filter)?, &NoGroups)?;
    let server = Server::start(store.clone())?;
    let mut windows = Vec::new();
    for &size in &args.windows {
        let window = centred_window(&starts, size);
        let result = measure_window(&store, &server, &plan, window, &args)?;
        println!("{}", result.line());
        windows.push(result);
    }
    let narrow = centred_window(&starts, args.windows.iter().copied().min().unwrap_or(1_000_000));
    let alone = window_alone(&plan, narrow, &args)?;
    println!("{}", alone.line());
    let dashboard = server.dashboard_map(starts[starts.len() - 1], args.runs)?;
    println!("dashboard map call, last 15 minutes of {} spans: median {dashboard:.1} ms", starts.len());
    print_tables(&windows, &alone, dashboard, starts.len(), &args.filter);
    if let Some(path) = &args.json {
        let report = json!({
            "total_spans": starts.len(), "data_minutes": minutes, "runs": args.runs,
            "filter": args.filter, "lookups": args.lookups, "ids_per_lookup": IDS_PER_LOOKUP,
            "windows": windows.iter().map(WindowResult::to_json).collect::<Vec<_>>(),
            "window_alone": alone.to_json(), "dashboard_map_ms": dashboard,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    drop(server);
    Arc::into_inner(store).context("the server still holds the store")?.close()?;
    if !args.keep {
        std::fs::remove_dir_all(&args.dir)?;
    }
    Ok(())
}

/// Opens the store in `--dir`, generating its blocks first unless `--reuse` finds them.
fn open_data(args: &Args) -> anyhow::Result<Arc<Store>> {
    if !(args.reuse && args.dir.join("blocks").is_dir()) {
        let began = Instant::now();
        let starts = write_blocks_every(&args.dir, args.total_spans, args.block_spans, args.trace_interval_us)?;
        println!("generated and wrote {} spans in {:.1} s", starts.len(), began.elapsed().as_secs_f64());
    }
    Ok(Arc::new(open_store(&args.dir)?))
}

fn open_store(dir: &Path) -> anyhow::Result<Store> {
    let mut config = StoreConfig::new(dir);
    config.retention_max_age = KEEP_FOREVER;
    config.compaction_min_rows = 0;
    Ok(Store::open(config)?)
}

/// Every stored span's start, sorted.
fn span_starts(store: &Store) -> anyhow::Result<Vec<i64>> {
    let frame = store.scan(i64::MIN, i64::MAX, &[START_US], None)?.collect()?;
    let mut starts: Vec<i64> = frame.column(START_US)?.i64()?.iter().flatten().collect();
    starts.sort_unstable();
    ensure!(!starts.is_empty(), "the store holds no spans");
    Ok(starts)
}

/// The window holding `size` span starts around the middle of the data (all of it when `size`
/// is the total or more).
fn centred_window(starts: &[i64], size: usize) -> (i64, i64) {
    let size = size.min(starts.len());
    let first = (starts.len() - size) / 2;
    let last = first + size - 1;
    (starts[first], starts[last] + 1)
}

/// Everything measured over one window.
struct WindowResult {
    label: String,
    spans: usize,
    minutes: f64,
    traces: u64,
    matched: usize,
    /// (Fluoro, bare scan, DuckDB) medians in ms, and the rows the scan read.
    filter: Timing,
    graph: Timing,
    histogram: Timing,
    map_ms: Option<f64>,
    lookup_p50_ms: Option<f64>,
    lookup_p99_ms: Option<f64>,
}

#[derive(Clone, Copy)]
struct Timing {
    fluoro_ms: f64,
    scan_ms: f64,
    scan_rows: usize,
    duckdb_ms: Option<f64>,
}

impl Timing {
    fn to_json(self) -> Value {
        json!({"fluoro_ms": self.fluoro_ms, "scan_ms": self.scan_ms, "scan_rows": self.scan_rows,
               "duckdb_ms": self.duckdb_ms})
    }
}

impl WindowResult {
    fn to_json(&self) -> Value {
        json!({
            "label": self.label, "spans": self.spans, "minutes": self.minutes, "traces": self.traces,
            "matched": self.matched, "filter": self.filter.to_json(), "graph": self.graph.to_json(),
            "histogram": self.histogram.to_json(), "map_ms": self.map_ms,
            "lookup_p50_ms": self.lookup_p50_ms, "lookup_p99_ms": self.lookup_p99_ms,
        })
    }

    fn line(&self) -> String {
        let ratio = |t: &Timing| t.duckdb_ms.map_or("-".to_owned(), |d| format!("{:.2}", t.fluoro_ms / d));
        format!(
            "{}: {} spans, {:.1} min: filter {:.1} ms (scan {:.1}, ×duckdb {}), graph {:.1} ms (scan {:.1}, ×duckdb {}), \
             histogram {:.1} ms (scan {:.1}, ×duckdb {})",
            self.label,
            self.spans,
            self.minutes,
            self.filter.fluoro_ms,
            self.filter.scan_ms,
            ratio(&self.filter),
            self.graph.fluoro_ms,
            self.graph.scan_ms,
            ratio(&self.graph),
            self.histogram.fluoro_ms,
            self.histogram.scan_ms,
            ratio(&self.histogram),
        )
    }
}

/// The three queries over `window`, each with its bare scan, DuckDB's time and the HTTP calls.
fn measure_window(
    store: &Store,
    server: &Server,
    plan: &CompiledFilter,
    window: (i64, i64),
    args: &Args,
) -> anyhow::Result<WindowResult> {
    let mut result = fluoro_queries(store, plan, window, args.runs)?;
    // Before DuckDB's run, which can push the blocks out of the page cache: lookups are
    // measured on the warm cache the window's queries leave, as a server's recent traces are.
    let (p50, p99) = server.lookups(store, window, args.lookups)?;
    (result.lookup_p50_ms, result.lookup_p99_ms) = (Some(p50), Some(p99));
    let duck = duckdb(store, window, args.runs)?;
    let number = |key: &str| duck[key].as_f64().with_context(|| format!("duckdb gave no {key}"));
    ensure!(
        number("filter_count")? as usize == result.matched,
        "duckdb matched {}, fluoro {}",
        duck["filter_count"],
        result.matched
    );
    ensure!(
        number("histogram_traces")? as u64 == result.traces,
        "duckdb's histogram has {} traces, fluoro's {}",
        duck["histogram_traces"],
        result.traces
    );
    let graph = service_graph(store, window.0, window.1, None)?;
    compare_graph(&graph, &duck)?;
    result.filter.duckdb_ms = Some(number("filter_ms")?);
    result.graph.duckdb_ms = Some(number("graph_ms")?);
    result.histogram.duckdb_ms = Some(number("histogram_ms")?);
    result.map_ms = Some(server.map_call(window, args.runs)?);
    Ok(result)
}

/// Fluoro's three queries over `window` and the bare scan of the columns each reads.
fn fluoro_queries(
    store: &Store,
    plan: &CompiledFilter,
    window: (i64, i64),
    runs: usize,
) -> anyhow::Result<WindowResult> {
    let (from_us, to_us) = window;
    let (filter_ms, matched) = median_ms(runs, || matching_traces(store, plan, window))?;
    let (graph_ms, _) = median_ms(runs, || Ok(service_graph(store, from_us, to_us, None)?))?;
    let query = LatencyQuery { from_us, to_us, filter: None, group: None };
    let (histogram_ms, report) = median_ms(runs, || Ok(filter_latency(store, &query, &NoGroups)?))?;
    let slack = slack_window(from_us, to_us);
    let scan = |range: (i64, i64), columns: &[&str]| {
        median_ms(runs, || Ok(store.scan_versions(range.0, range.1, columns, None)?.spans.collect()?.height()))
    };
    let (filter_scan_ms, filter_rows) = scan(slack, &plan.span_columns())?;
    let (graph_scan_ms, graph_rows) = scan(window, &GRAPH_COLUMNS)?;
    let (histogram_scan_ms, histogram_rows) = scan(slack, TRACE_FRAME_COLUMNS)?;
    let timing = |fluoro_ms, scan_ms, scan_rows| Timing { fluoro_ms, scan_ms, scan_rows, duckdb_ms: None };
    Ok(WindowResult {
        label: format!("window of {}", millions(graph_rows)),
        spans: graph_rows,
        minutes: (to_us - from_us) as f64 / 60e6,
        traces: report.traces,
        matched,
        filter: timing(filter_ms, filter_scan_ms, filter_rows),
        graph: timing(graph_ms, graph_scan_ms, graph_rows),
        histogram: timing(histogram_ms, histogram_scan_ms, histogram_rows),
        map_ms: None,
        lookup_p50_ms: None,
        lookup_p99_ms: None,
    })
}

/// The `window`'s queries in a store holding only the blocks its slack-widened range
/// overlaps (hard links in `<dir>-alone`), for comparison with the same window in the whole store.
fn window_alone(plan: &CompiledFilter, window: (i64, i64), args: &Args) -> anyhow::Result<WindowResult> {
    let dir = PathBuf::from(format!("{}-alone", args.dir.display()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(dir.join("blocks"))?;
    let (from_us, to_us) = slack_window(window.0, window.1);
    for block in bench_api::open_blocks(&args.dir.join("blocks"))? {
        let (first_start, last_end) = block.time_range();
        if first_start < to_us && last_end >= from_us {
            let name = block.path().file_name().context("block without a file name")?;
            std::fs::hard_link(block.path(), dir.join("blocks").join(name))?;
        }
    }
    let alone = open_store(&dir)?;
    let mut result = fluoro_queries(&alone, plan, window, args.runs)?;
    let stored = span_starts(&alone)?.len();
    result.label = format!("window of {} alone ({} stored)", millions(result.spans), millions(stored));
    alone.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(result)
}

fn millions(spans: usize) -> String {
    format!("{:.2}M", spans as f64 / 1e6)
}

/// The API routers (`fluoro_ui::api_router` and the collector's X-Ray API) on a loopback port.
struct Server {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
    client: reqwest::Client,
}

impl Server {
    fn start(store: Arc<Store>) -> anyhow::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let address = listener.local_addr()?;
        let ingest = Ingest::new(store.clone(), Arc::new(Counters::default()));
        let router =
            fluoro_ui::api_router(store.clone(), Arc::new(Groups::in_memory())).merge(xray_api_router(ingest, store));
        runtime.spawn(async move { axum::serve(listener, router).await });
        Ok(Server { runtime, address, client: reqwest::Client::new() })
    }

    /// One POST, its answer decoded; fails on an error status.
    fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.address);
        self.runtime.block_on(async {
            let response = self.client.post(&url).json(body).send().await?;
            let status = response.status();
            let answer: Value = response.json().await?;
            ensure!(status.is_success(), "{path} answered {status}: {answer}");
            Ok(answer)
        })
    }

    /// `POST /ServiceGraph` over `window`: one untimed call, then the median of `runs`.
    fn map_call(&self, window: (i64, i64), runs: usize) -> anyhow::Result<f64> {
        let body = json!({"StartTime": window.0 as f64 / 1e6, "EndTime": window.1 as f64 / 1e6});
        let answer = self.post("/ServiceGraph", &body)?;
        ensure!(answer["Services"].as_array().is_some_and(|s| !s.is_empty()), "an empty service map");
        Ok(median_ms(runs, || self.post("/ServiceGraph", &body))?.0)
    }

    /// The dashboard's map call: its default window, the last 15 minutes of the data.
    fn dashboard_map(&self, last_start_us: i64, runs: usize) -> anyhow::Result<f64> {
        self.map_call((last_start_us - 15 * 60 * 1_000_000, last_start_us + 1), runs)
    }

    /// `POST /Traces` (BatchGetTraces) of [`IDS_PER_LOOKUP`] traces of the window at a time,
    /// `count` requests; each answer must hold every trace asked. Returns p50 and p99 in ms.
    fn lookups(&self, store: &Store, window: (i64, i64), count: usize) -> anyhow::Result<(f64, f64)> {
        let frame =
            store.scan(window.0, window.1, &[TRACE_HI, TRACE_LO], None)?.unique(None, Default::default()).collect()?;
        let (his, los) = (frame.column(TRACE_HI)?.u64()?, frame.column(TRACE_LO)?.u64()?);
        let ids: Vec<TraceId> =
            his.iter().zip(los.iter()).filter_map(|(hi, lo)| Some(TraceId::from_halves(hi?, lo?))).collect();
        ensure!(!ids.is_empty(), "no traces in the window");
        let mut rng = Rng::new(7);
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let asked: Vec<String> =
                (0..IDS_PER_LOOKUP).map(|_| ids[rng.below(ids.len() as u64) as usize].to_string()).collect();
            let began = Instant::now();
            let answer = self.post("/Traces", &json!({"TraceIds": asked}))?;
            times.push(began.elapsed().as_secs_f64() * 1e3);
            let found = answer["Traces"].as_array().map_or(0, Vec::len);
            let distinct = asked.iter().collect::<std::collections::BTreeSet<_>>().len();
            ensure!(found == distinct, "BatchGetTraces found {found} of {distinct} traces");
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        Ok((at(0.5), at(0.99)))
    }
}

fn print_tables(windows: &[WindowResult], alone: &WindowResult, dashboard_ms: f64, total: usize, filter: &str) {
    let cell = |t: &Timing| match t.duckdb_ms {
        Some(duck) => format!(
            "{:.0} ms | {:.0} ms | {:.2} | {:.0} ms | {:.1}",
            t.fluoro_ms,
            duck,
            t.fluoro_ms / duck,
            t.scan_ms,
            t.fluoro_ms / t.scan_ms
        ),
        None => format!("{:.0} ms | - | - | {:.0} ms | {:.1}", t.fluoro_ms, t.scan_ms, t.fluoro_ms / t.scan_ms),
    };
    println!("\n| window | query | Fluoro | DuckDB | ×DuckDB | bare scan | ×scan |");
    println!("|---|---|---|---|---|---|---|");
    for w in windows.iter().chain([alone]) {
        let name = format!("{} ({:.0} min)", w.label, w.minutes);
        println!("| {name} | filter `{filter}` | {} |", cell(&w.filter));
        println!("| {name} | service graph | {} |", cell(&w.graph));
        println!("| {name} | histogram | {} |", cell(&w.histogram));
    }
    println!("\n| window | map call (`POST /ServiceGraph`) | BatchGetTraces p50 | p99 |");
    println!("|---|---|---|---|");
    for w in windows {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        println!("| {} | {} | {} | {} |", w.label, ms(w.map_ms), ms(w.lookup_p50_ms), ms(w.lookup_p99_ms));
    }
    println!("\ndashboard map call (last 15 minutes of {}): {dashboard_ms:.1} ms", millions(total));
}
