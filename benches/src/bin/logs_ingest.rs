//! Logs ingest against span ingest, end to end in one process: OTLP/HTTP protobuf batches
//! posted over loopback to the real `otlp_http_router` in front of a real `Store` (write-ahead
//! log, recent data, Parquet blocks), the same number of records of each signal, the same
//! batch size and the same concurrent clients.
//!
//! The baseline is the span signal in the same run: a server span with the attributes an HTTP
//! service sets (method, URL, route, status, peer), against a log record an HTTP service writes
//! inside such a span (an INFO line of ~70 bytes with two attributes, its trace and span id).
//! Both carry one resource (`service.name` plus two attributes) per batch.
//!
//! Reported per signal: records/s (wall clock, from the first request to the last answer) and
//! the CPU µs per record of the whole process; protobuf bytes per record on the wire; and,
//! after `Store::flush`, bytes per record in the Parquet blocks. Ratios are logs / spans.
//!
//! Then log searches (`Store::search_logs`, what `POST /api/logs/search` runs): each query
//! timed on the records while they are recent (in memory, the baseline) and again once they
//! are in a Parquet block, as milliseconds per page and the ratio block / memory.
//!
//! `cargo run --release -p fluoro-benches --bin logs_ingest -- --records 200000`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use clap::Parser;
use fluoro_collector::{otlp_http_router, Counters, Ingest, Source};
use fluoro_proto::{LogSink, SpanSink};
use fluoro_store::{LogQuery, Store, StoreConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

#[derive(Debug, Parser)]
#[command(about = "OTLP/HTTP logs ingest into the store, against the same volume of spans")]
struct Args {
    /// Records of each signal.
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    /// Records per request (the Python SDK's batch processors send up to 512).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Spans,
    Logs,
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Signal::Spans => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    fn source(self) -> Source {
        match self {
            Signal::Spans => Source::OtlpHttp,
            Signal::Logs => Source::OtlpHttpLogs,
        }
    }
}

/// One signal's numbers.
#[derive(Debug)]
struct Outcome {
    records: usize,
    seconds: f64,
    cpu_seconds: f64,
    wire_bytes: usize,
    block_bytes: u64,
    blocks: usize,
    /// Per search: name, ms per page from memory, ms per page from the block, lines found.
    searches: Vec<(&'static str, f64, f64, usize)>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    fn cpu_micros(&self) -> f64 {
        1e6 * self.cpu_seconds / self.records as f64
    }

    fn wire_per_record(&self) -> f64 {
        self.wire_bytes as f64 / self.records as f64
    }

    fn disk_per_record(&self) -> f64 {
        self.block_bytes as f64 / self.records as f64
    }

    fn print(&self, name: &str) {
        println!(
            "  {name:<6} {:>9.0} records/s  {:>7.2} cpu µs/record  {:>6.1} wire bytes/record  \
             {:>6.1} block bytes/record ({} block(s), {} bytes)",
            self.rate(),
            self.cpu_micros(),
            self.wire_per_record(),
            self.disk_per_record(),
            self.blocks,
            self.block_bytes
        );
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let batch = args.batch.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "logs_ingest: {} records per signal, {batch} per OTLP/HTTP protobuf request, {} clients, \
         a Store with default settings, {cores} cores",
        args.records, args.clients
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let spans = runtime.block_on(run(Signal::Spans, &args))?;
    let logs = runtime.block_on(run(Signal::Logs, &args))?;
    spans.print("spans");
    logs.print("logs");
    println!("ratios logs / spans (spans = 1.00)");
    println!("  records/s              {:>6.2}", logs.rate() / spans.rate());
    println!("  cpu µs per record      {:>6.2}", logs.cpu_micros() / spans.cpu_micros());
    println!("  wire bytes per record  {:>6.2}", logs.wire_per_record() / spans.wire_per_record());
    println!("  block bytes per record {:>6.2}", logs.disk_per_record() / spans.disk_per_record());
    println!("log searches, ms per page: recent records in memory (baseline) / one Parquet block");
    for (name, memory, block, found) in &logs.searches {
        println!("  {name:<44} {memory:>8.2} / {block:>8.2} ms  ratio {:>6.2}  ({found} lines)", block / memory);
    }
    Ok(())
}

/// Serves a fresh store, posts every request of `signal`, flushes, measures the blocks.
async fn run(signal: Signal, args: &Args) -> anyhow::Result<Outcome> {
    let data_dir = scratch_dir(signal)?;
    let store = Arc::new(tokio::task::block_in_place(|| Store::open(StoreConfig::new(&data_dir)))?);
    let counters = Arc::new(Counters::new());
    let ingest = Ingest::new(store.clone() as Arc<dyn SpanSink>, counters.clone())
        .with_log_sink(store.clone() as Arc<dyn LogSink>);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, otlp_http_router(ingest)).await });

    let epoch_nanos = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos())?;
    let batch = args.batch.max(1);
    let bodies: Vec<Vec<u8>> = (0..args.records.div_ceil(batch))
        .map(|index| {
            let count = batch.min(args.records - index * batch);
            request_body(signal, (index * batch) as u64, count, args.records, epoch_nanos)
        })
        .collect();
    let wire_bytes = bodies.iter().map(Vec::len).sum();
    let bodies = Arc::new(bodies);
    let url = format!("http://{address}{}", signal.path());

    let cpu_before = process_cpu_seconds()?;
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients.max(1))
        .map(|client| {
            let (bodies, url, clients) = (bodies.clone(), url.clone(), args.clients.max(1));
            tokio::spawn(async move { post_every(client, clients, &bodies, &url).await })
        })
        .collect();
    for client in clients {
        client.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds()? - cpu_before;
    let accepted = counters.accepted(signal.source());
    ensure!(accepted == args.records as u64, "{accepted} of {} records accepted", args.records);

    server.abort();
    let queries = searches(epoch_nanos);
    let in_memory = match signal {
        Signal::Logs => tokio::task::block_in_place(|| time_searches(&store, &queries))?,
        Signal::Spans => Vec::new(),
    };
    tokio::task::block_in_place(|| store.flush())?;
    let in_block = match signal {
        Signal::Logs => tokio::task::block_in_place(|| time_searches(&store, &queries))?,
        Signal::Spans => Vec::new(),
    };
    let mut searches = Vec::new();
    for ((name, memory, found), (_, block, found_in_block)) in in_memory.into_iter().zip(in_block) {
        ensure!(found == found_in_block, "{name}: {found} lines from memory, {found_in_block} from the block");
        searches.push((name, memory, block, found));
    }
    let files = match signal {
        Signal::Spans => store.block_files(),
        Signal::Logs => store.log_block_files(),
    };
    let block_bytes = files.iter().map(|(_, path)| file_size(path)).sum::<anyhow::Result<u64>>()?;
    let outcome =
        Outcome { records: args.records, seconds, cpu_seconds, wire_bytes, block_bytes, blocks: files.len(), searches };
    tokio::task::block_in_place(|| store.close())?;
    std::fs::remove_dir_all(&data_dir).with_context(|| format!("cannot remove {}", data_dir.display()))?;
    Ok(outcome)
}

/// Client `client` of `clients` posts every `clients`-th body, one at a time, and checks each
/// answer is a whole success (an empty protobuf: no partial success).
async fn post_every(client: usize, clients: usize, bodies: &[Vec<u8>], url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for body in bodies.iter().skip(client).step_by(clients) {
        let response =
            http.post(url).header("content-type", "application/x-protobuf").body(body.clone()).send().await?;
        let status = response.status();
        let answer = response.bytes().await?;
        ensure!(status.is_success() && answer.is_empty(), "{url} answered {status} with {} bytes", answer.len());
    }
    Ok(())
}

/// The searches a user of the Logs page makes: the newest page, a service and severity that
/// match nothing (every record is INFO), a rare text, and the page of a narrow time range.
fn searches(epoch_nanos: u64) -> Vec<(&'static str, LogQuery)> {
    let now_us = (epoch_nanos / 1000) as i64;
    let window =
        LogQuery { from_us: now_us - 900_000_000, to_us: now_us + 60_000_000, limit: 100, ..Default::default() };
    vec![
        ("newest 100 of 15 minutes", window.clone()),
        (
            "service + ERROR and above (no match)",
            LogQuery { service: Some("checkout-api".to_owned()), min_severity: 17, ..window.clone() },
        ),
        (
            "text \"card ending 4242\" (20 matches)",
            LogQuery { text: Some("card ending 4242".to_owned()), ..window.clone() },
        ),
        (
            "newest 100 of one minute, 5 minutes ago",
            LogQuery { from_us: now_us - 360_000_000, to_us: now_us - 300_000_000, ..window },
        ),
    ]
}

/// Each query's best of 5 runs in ms, and the lines its first run found.
fn time_searches(
    store: &Store,
    queries: &[(&'static str, LogQuery)],
) -> anyhow::Result<Vec<(&'static str, f64, usize)>> {
    let mut timed = Vec::new();
    for (name, query) in queries {
        let mut best = f64::INFINITY;
        let mut found = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let page = store.search_logs(query)?;
            best = best.min(started.elapsed().as_secs_f64() * 1e3);
            found = page.logs.len();
        }
        timed.push((*name, best, found));
    }
    Ok(timed)
}

fn scratch_dir(signal: Signal) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fluoro-logs-ingest-{}-{signal:?}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn file_size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?.len())
}

/// CPU seconds (user + system) of the whole process: server, store threads and clients.
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let (_, seconds) = fluoro_benches::thread_name_and_cpu(&stat).context("unreadable /proc/self/stat")?;
    Ok(seconds)
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            string("service.name", "checkout-api"),
            string("deployment.environment", "production"),
            string("host.name", "ip-10-0-12-34"),
        ],
        ..Default::default()
    }
}

/// Record `serial`'s ids: random-looking (as real ids are, so Parquet cannot delta-encode
/// them), a trace per record, so neither signal gains from shared trace ids.
fn ids(serial: u64) -> (Vec<u8>, Vec<u8>) {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&mix(serial).to_be_bytes());
    trace_id[8..].copy_from_slice(&mix(serial ^ 0x5b8e_fff7_9803_8103).to_be_bytes());
    (trace_id.to_vec(), (mix(!serial) | 1).to_be_bytes().to_vec())
}

/// splitmix64's finalizer: a bijection of u64 that scatters consecutive inputs.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One OTLP/HTTP protobuf request of records `first..first + count` of `total`, spread evenly
/// over the ten minutes before `epoch_nanos`.
fn request_body(signal: Signal, first: u64, count: usize, total: usize, epoch_nanos: u64) -> Vec<u8> {
    let serials = first..first + count as u64;
    let step = 600_000_000_000 / total.max(1) as u64;
    let time = |serial: u64| epoch_nanos - 600_000_000_000 + serial * step;
    match signal {
        Signal::Spans => ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource()),
                scope_spans: vec![ScopeSpans {
                    spans: serials.map(|serial| span(serial, time(serial))).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource()),
                scope_logs: vec![ScopeLogs {
                    log_records: serials.map(|serial| log_record(serial, time(serial))).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
    }
}

fn span(serial: u64, start: u64) -> Span {
    let (trace_id, span_id) = ids(serial);
    Span {
        trace_id,
        span_id,
        name: "POST /api/orders".to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 180_000_000,
        attributes: vec![
            string("http.request.method", "POST"),
            string("url.full", format!("https://checkout.example.com/api/orders?cart={}", serial % 10_000)),
            string("http.route", "/api/orders"),
            int("http.response.status_code", 200),
            string("client.address", "10.0.12.34"),
        ],
        status: Some(Status::default()),
        ..Default::default()
    }
}

fn log_record(serial: u64, time: u64) -> LogRecord {
    let (trace_id, span_id) = ids(serial);
    LogRecord {
        time_unix_nano: time + 90_000_000,
        observed_time_unix_nano: time + 90_000_000,
        severity_number: 9,
        severity_text: "INFO".to_owned(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!(
                "order {} charged {}.{:02} EUR to card ending {:04}",
                100_000 + serial,
                serial % 500,
                serial % 100,
                serial % 10_000
            ))),
        }),
        attributes: vec![string("order.id", (100_000 + serial).to_string()), string("customer.tier", "gold")],
        trace_id,
        span_id,
        flags: 1,
        ..Default::default()
    }
}
