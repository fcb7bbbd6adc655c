//! `fluoro-load`: PetAdoptions-shaped traces into a real `fluoro serve` process, and what that
//! costs the whole server.
//!
//! It starts the given `fluoro` binary on free loopback ports (nothing leaves the machine), then
//! sends pet searches (PetSite → PetSearch → the pets table and the photo bucket) over one
//! protocol at a set rate or flat out, bounded by `--seconds` and `--count`:
//! - `udp`: two ~1.2 KB segment documents per trace in the X-Ray daemon protocol;
//! - `otlp-grpc` / `otlp-http`: six spans per trace, `--batch` spans per export, protobuf, from
//!   `--senders` concurrent exporters; an export the server sheds (its recent data at its bound)
//!   is retried after a backoff, as OTLP SDKs do, and counted.
//!
//! Reported: what was sent, what the server acknowledged (OTLP answers, partial success
//! subtracted) and what it counted (`GET /api/counters`: accepted, rejected, dropped), the
//! server's CPU time over what it accepted (`/proc/PID/stat` of the whole process, read once
//! its counters stop moving, so parsing, the store, the write-ahead log and background work
//! are all in), its peak RSS, and whether the first and last traces read back
//! (`BatchGetTraces`). While the load runs, probe traces measure the time from send to
//! queryable (`latency_probe.rs`: returned by `BatchGetTraces` and counted by
//! `GetServiceGraph`), p50 and p99. With `--recent-max-bytes` the server's recent data is
//! bounded, and its peak RSS is reported beside the bound. For UDP, two baselines in the same run: the raw `recvmmsg` sink's CPU
//! per datagram at the same rate, and a plain `serde_json::Value` parse of the same documents.
//!
//! `cargo build --release --bin fluoro && cargo run --release -p fluoro-benches --bin fluoro-load -- --rate 20000`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context as _};
use clap::{Parser, ValueEnum};
use fluoro_benches::latency_probe::{run_probes, ProbeResults};
use fluoro_benches::petadoptions::{petadoptions_documents, petadoptions_spans, SPANS_PER_TRACE};
use fluoro_benches::server_process::{source_counts, ServerProcess, SourceCounts};
use fluoro_benches::udp_load::{send_loop, RawSink, Template};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;

const SENDER_THREAD: &str = "load-send";
const RAW_RECEIVE_THREAD: &str = "raw-recv";
/// How long the server may take to count what is still queued once the senders stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
const GIB_IN_KIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Udp,
    OtlpGrpc,
    OtlpHttp,
}

impl Protocol {
    /// The server's counter source for it.
    fn source(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::OtlpGrpc => "otlp_grpc",
            Protocol::OtlpHttp => "otlp_http",
        }
    }

    fn unit(self) -> &'static str {
        if self == Protocol::Udp {
            "documents"
        } else {
            "spans"
        }
    }
}

#[derive(Debug, Parser)]
#[command(about = "PetAdoptions-shaped load into a real fluoro serve, with the server's CPU per accepted document")]
struct Args {
    /// The fluoro binary to start as `fluoro serve`.
    #[arg(long, default_value = "target/release/fluoro")]
    fluoro: PathBuf,
    /// Its data dir, emptied first.
    #[arg(long, default_value = "target/bench-load")]
    dir: PathBuf,
    #[arg(long, value_enum, default_value = "udp")]
    protocol: Protocol,
    /// Documents (UDP) or spans (OTLP) per second, all senders together; 0 sends flat out.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Sending stops after this many seconds…
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// …or after this many documents or spans (0: no count bound).
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Sender threads (UDP) or concurrent exporters (OTLP).
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Spans per OTLP export (a multiple of 6: whole traces).
    #[arg(long, default_value_t = 600)]
    batch: usize,
    /// Leave out the same-run baselines (raw recvmmsg sink, serde_json::Value).
    #[arg(long)]
    no_baselines: bool,
    /// A send → queryable probe trace this often while the load runs (0: no probes; their
    /// queries are in the server's CPU).
    #[arg(long, default_value_t = 500)]
    probe_interval_ms: u64,
    /// Passed to the server as `--recent-max-bytes` (its bound on recent data in memory).
    #[arg(long)]
    recent_max_bytes: Option<u64>,
}

/// One run against the server.
#[derive(Debug, Default)]
struct Run {
    seconds: f64,
    sent: u64,
    acknowledged: u64,
    counted: SourceCounts,
    cpu_seconds: f64,
    /// This process's CPU while sending (the load generator shares the server's cores).
    sender_cpu_seconds: f64,
    peak_rss_kib: u64,
    read_back: usize,
    probes: ProbeResults,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.batch >= SPANS_PER_TRACE && args.batch % SPANS_PER_TRACE == 0, "--batch must be a multiple of 6");
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let rate = if args.rate == 0 { "flat out".to_owned() } else { format!("{} {}/s", args.rate, args.protocol.unit()) };
    println!(
        "fluoro-load: {:?} at {rate} for {} s{}, {} senders, {} cores",
        args.protocol,
        args.seconds,
        if args.count > 0 { format!(" or {} {}", args.count, args.protocol.unit()) } else { String::new() },
        args.senders,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let server_flags: Vec<String> =
        args.recent_max_bytes.iter().flat_map(|bytes| ["--recent-max-bytes".to_owned(), bytes.to_string()]).collect();
    let server = ServerProcess::start_with(&args.fluoro, &args.dir, &server_flags)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let http = server.listener("http")?;
    // Start-up work (opening the store) is not the load's.
    std::thread::sleep(Duration::from_secs(1));
    let client = reqwest::Client::new();
    let before = runtime.block_on(source_counts(&client, http, args.protocol.source()))?;
    let cpu_before = server.cpu_seconds()?;
    let sender_cpu_before = this_process_cpu_seconds()?;
    let started = Instant::now();
    let stop_probes = Arc::new(AtomicBool::new(false));
    let udp = server.listener("udp")?;
    let probing = (args.probe_interval_ms > 0).then(|| {
        let interval = Duration::from_millis(args.probe_interval_ms);
        runtime.spawn(run_probes(udp, http, interval, stop_probes.clone()))
    });
    let (sent, acknowledged, read_back_ids) = match args.protocol {
        Protocol::Udp => {
            let template = Template::new(&petadoptions_documents(epoch))?;
            let sent = send_udp(&args, server.listener("udp")?, &template)?;
            let last = (sent / args.senders.max(1) as u64 / 2).saturating_sub(64).max(1);
            (sent, sent, vec![xray_trace_id(epoch as u32, 0, 1), xray_trace_id(epoch as u32, 0, last)])
        }
        Protocol::OtlpGrpc | Protocol::OtlpHttp => {
            let target =
                server.listener(if args.protocol == Protocol::OtlpGrpc { "otlp-grpc" } else { "otlp-http" })?;
            let (sent, acknowledged, last) = runtime.block_on(send_otlp(&args, target, epoch as u32))?;
            (sent, acknowledged, vec![otlp_trace_id(epoch as u32, 0), otlp_trace_id(epoch as u32, last)])
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let sender_cpu_seconds = this_process_cpu_seconds()? - sender_cpu_before;
    stop_probes.store(true, Ordering::Relaxed);
    let probes = match probing {
        Some(task) => runtime.block_on(task)??,
        None => ProbeResults::default(),
    };
    let counted = runtime.block_on(drain(&client, http, args.protocol.source(), &before, sent))?;
    let run = Run {
        seconds,
        sent,
        acknowledged,
        cpu_seconds: server.cpu_seconds()? - cpu_before,
        sender_cpu_seconds,
        peak_rss_kib: server.peak_rss_kib()?,
        read_back: runtime.block_on(read_back(&client, http, &read_back_ids))?,
        counted,
        probes,
    };
    report(&args, &run);
    drop(server);
    if args.protocol == Protocol::Udp && !args.no_baselines {
        udp_baselines(&args, &Template::new(&petadoptions_documents(epoch))?, &run)?;
    }
    Ok(())
}

/// Paced sender threads until the time or count bound; what the kernel took.
fn send_udp(args: &Args, address: SocketAddr, template: &Template) -> anyhow::Result<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let senders = args.senders.max(1) as u64;
    let threads = (0..senders)
        .map(|index| {
            let (stop, sent, template) = (stop.clone(), sent.clone(), template.clone());
            let (rate, limit) = (args.rate / senders, args.count / senders);
            std::thread::Builder::new()
                .name(format!("{SENDER_THREAD}-{index}"))
                .spawn(move || send_loop(address, index, &template, rate, limit, &stop, &sent))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    while Instant::now() < deadline && !threads.iter().all(|thread| thread.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("a sender panicked"))?;
    }
    Ok(sent.load(Ordering::Relaxed))
}

/// Concurrent exporters, each paced to its share of the rate; sent and acknowledged spans, and
/// the serial of the last trace sent.
async fn send_otlp(args: &Args, target: SocketAddr, epoch: u32) -> anyhow::Result<(u64, u64, u64)> {
    let traces_per_export = (args.batch / SPANS_PER_TRACE) as u64;
    let next_trace = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let exporters = args.senders.max(1) as u64;
    let refusals = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..exporters {
        let (next_trace, refusals) = (next_trace.clone(), refusals.clone());
        let (protocol, rate, count) = (args.protocol, args.rate / exporters, args.count);
        tasks.push(tokio::spawn(async move {
            let mut exporter = Exporter::connect(protocol, target).await?;
            let (mut sent, mut acknowledged) = (0u64, 0u64);
            let started = Instant::now();
            while Instant::now() < deadline {
                let first = next_trace.fetch_add(traces_per_export, Ordering::Relaxed);
                if count > 0 && first * SPANS_PER_TRACE as u64 >= count {
                    break;
                }
                if rate > 0 {
                    let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                    if let Some(early) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(early).await;
                    }
                }
                let spans = traces_per_export * SPANS_PER_TRACE as u64;
                let Some(response) =
                    export_until_taken(&mut exporter, epoch, first, traces_per_export, deadline, &refusals).await?
                else {
                    break;
                };
                sent += spans;
                let rejected = response.partial_success.map_or(0, |partial| partial.rejected_spans.max(0) as u64);
                acknowledged += spans.saturating_sub(rejected);
            }
            anyhow::Ok((sent, acknowledged))
        }));
    }
    let (mut sent, mut acknowledged) = (0, 0);
    for task in tasks {
        let (task_sent, task_acknowledged) = task.await??;
        sent += task_sent;
        acknowledged += task_acknowledged;
    }
    println!(
        "refused, retried           {} exports (backpressure: gRPC UNAVAILABLE, HTTP 503)",
        refusals.load(Ordering::Relaxed)
    );
    let last = (next_trace.load(Ordering::Relaxed).saturating_sub(1)).min(sent / SPANS_PER_TRACE as u64);
    Ok((sent, acknowledged, last.saturating_sub(traces_per_export)))
}

/// Sends one export, and again after a backoff while the server sheds load (its recent data at
/// its memory bound), as OTLP exporters do; `None` if the run ends first.
async fn export_until_taken(
    exporter: &mut Exporter,
    epoch: u32,
    first: u64,
    traces: u64,
    deadline: Instant,
    refusals: &AtomicU64,
) -> anyhow::Result<Option<ExportTraceServiceResponse>> {
    let mut backoff = Duration::from_millis(50);
    loop {
        if let Some(response) = exporter.export(petadoptions_spans(epoch, first, traces as usize)).await? {
            return Ok(Some(response));
        }
        refusals.fetch_add(1, Ordering::Relaxed);
        if Instant::now() + backoff > deadline {
            return Ok(None);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// One OTLP client, gRPC or HTTP protobuf.
enum Exporter {
    Grpc(TraceServiceClient<tonic::transport::Channel>),
    Http(reqwest::Client, String),
}

impl Exporter {
    async fn connect(protocol: Protocol, target: SocketAddr) -> anyhow::Result<Exporter> {
        Ok(match protocol {
            Protocol::OtlpGrpc => Exporter::Grpc(TraceServiceClient::connect(format!("http://{target}")).await?),
            _ => Exporter::Http(reqwest::Client::new(), format!("http://{target}/v1/traces")),
        })
    }

    /// The server's answer, or `None` when it sheds load and the export should be retried.
    async fn export(
        &mut self,
        request: ExportTraceServiceRequest,
    ) -> anyhow::Result<Option<ExportTraceServiceResponse>> {
        match self {
            Exporter::Grpc(client) => match client.export(request).await {
                Ok(answer) => Ok(Some(answer.into_inner())),
                Err(status) if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::ResourceExhausted) => {
                    Ok(None)
                }
                Err(status) => Err(status.into()),
            },
            Exporter::Http(client, url) => {
                let answer = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(request.encode_to_vec())
                    .send()
                    .await?;
                if matches!(answer.status().as_u16(), 429 | 503) {
                    return Ok(None);
                }
                Ok(Some(ExportTraceServiceResponse::decode(answer.error_for_status()?.bytes().await?)?))
            }
        }
    }
}

/// The counts once everything sent is counted, or once they stop moving (what the kernel
/// dropped before the server read it is never counted).
async fn drain(
    client: &reqwest::Client,
    http: SocketAddr,
    source: &str,
    before: &SourceCounts,
    sent: u64,
) -> anyhow::Result<SourceCounts> {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut last = None;
    loop {
        let now = source_counts(client, http, source).await?;
        let counted = now.accepted + now.rejected_total() + now.dropped_total();
        let before_counted = before.accepted + before.rejected_total() + before.dropped_total();
        let settled = counted - before_counted >= sent || last == Some(counted) || Instant::now() > deadline;
        if settled {
            return Ok(SourceCounts {
                received: now.received - before.received,
                accepted: now.accepted - before.accepted,
                rejected: vec![("all".to_owned(), now.rejected_total() - before.rejected_total())],
                dropped: vec![("all".to_owned(), now.dropped_total() - before.dropped_total())],
                ..now
            });
        }
        last = Some(counted);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many of `trace_ids` `BatchGetTraces` returns.
async fn read_back(client: &reqwest::Client, http: SocketAddr, trace_ids: &[String]) -> anyhow::Result<usize> {
    let answer: serde_json::Value = client
        .post(format!("http://{http}/Traces"))
        .json(&serde_json::json!({ "TraceIds": trace_ids }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["Traces"].as_array().map_or(0, Vec::len))
}

/// The X-Ray id of the UDP sender's trace: `udp_load::set_trace`'s digits.
fn xray_trace_id(epoch: u32, sender: u64, serial: u64) -> String {
    format!("1-{epoch:08x}-{:024x}", (u128::from(sender) << 64) | u128::from(serial))
}

/// The X-Ray id of `petadoptions_spans`' trace `serial`.
fn otlp_trace_id(epoch: u32, serial: u64) -> String {
    format!("1-{epoch:08x}-feedbeef{serial:016x}")
}

fn report(args: &Args, run: &Run) {
    let unit = args.protocol.unit();
    let counted = &run.counted;
    println!(
        "sent                 {:>10} {unit} in {:.2} s ({:.0}/s)",
        run.sent,
        run.seconds,
        run.sent as f64 / run.seconds
    );
    if args.protocol != Protocol::Udp {
        println!(
            "acknowledged         {:>10} {unit} ({:.0}/s)",
            run.acknowledged,
            run.acknowledged as f64 / run.seconds
        );
    }
    println!(
        "server counted       {:>10} accepted, {} rejected, {} dropped, {} never counted",
        counted.accepted,
        counted.rejected_total(),
        counted.dropped_total(),
        run.sent.saturating_sub(counted.accepted + counted.rejected_total() + counted.dropped_total())
    );
    println!(
        "server CPU           {:>10.2} s, {:.2} CPU µs per accepted {}",
        run.cpu_seconds,
        per_item_us(run.cpu_seconds, counted.accepted),
        unit.trim_end_matches('s')
    );
    println!(
        "sender CPU           {:>10.2} s, {:.2} CPU µs per sent {} (fluoro-load itself, on the same cores)",
        run.sender_cpu_seconds,
        per_item_us(run.sender_cpu_seconds, run.sent),
        unit.trim_end_matches('s')
    );
    match args.recent_max_bytes {
        Some(bound) => println!(
            "server peak RSS      {:>10} KiB ({:.2} GiB; recent data bounded to {:.2} GiB)",
            run.peak_rss_kib,
            run.peak_rss_kib as f64 / GIB_IN_KIB,
            bound as f64 / (GIB_IN_KIB * 1024.0)
        ),
        None => println!(
            "server peak RSS      {:>10} KiB ({:.2} GiB)",
            run.peak_rss_kib,
            run.peak_rss_kib as f64 / GIB_IN_KIB
        ),
    }
    println!("read back            {:>10} of 2 traces (first, last) by BatchGetTraces", run.read_back);
    if args.probe_interval_ms > 0 {
        let ms = |quantile| run.probes.quantile(quantile).map_or(f64::NAN, |latency| latency.as_secs_f64() * 1e3);
        println!(
            "send → queryable     {:>10.1} ms p50, {:.1} ms p99 over {} probes ({} not readable within 10 s)",
            ms(0.5),
            ms(0.99),
            run.probes.latencies.len(),
            run.probes.lost
        );
    }
}

/// CPU seconds of this whole process (every thread) so far.
fn this_process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    fluoro_benches::thread_name_and_cpu(&stat).map(|(_, seconds)| seconds).context("unreadable /proc/self/stat")
}

fn per_item_us(cpu_seconds: f64, items: u64) -> f64 {
    cpu_seconds * 1e6 / items.max(1) as f64
}

/// The raw `recvmmsg` sink at the same rate and time, and `serde_json::Value` over the same
/// documents, each as CPU µs per document beside the server's.
fn udp_baselines(args: &Args, template: &Template, run: &Run) -> anyhow::Result<()> {
    let sink = RawSink::start(1, RAW_RECEIVE_THREAD)?;
    let raw_cpu = || -> anyhow::Result<f64> {
        let threads = fluoro_benches::cpu_by_thread_name()?;
        Ok(threads.iter().filter(|(name, _)| name.starts_with(RAW_RECEIVE_THREAD)).map(|(_, seconds)| seconds).sum())
    };
    let cpu_before = raw_cpu()?;
    send_udp(args, sink.address, template)?;
    std::thread::sleep(Duration::from_millis(300));
    let raw_seconds = raw_cpu()? - cpu_before;
    let received = sink.stop()?;
    let value_us = value_parse_us(template, 200_000.min(run.counted.accepted.max(20_000)))?;
    let server_us = per_item_us(run.cpu_seconds, run.counted.accepted);
    println!("baselines, same run (CPU µs per document; ratio = server / baseline)");
    println!("  fluoro serve, whole process     {server_us:>8.2}");
    let raw_us = per_item_us(raw_seconds, received);
    println!("  raw recvmmsg sink               {raw_us:>8.2}   ({:.1}×; {received} received)", server_us / raw_us);
    println!("  serde_json::Value of the body   {value_us:>8.2}   ({:.1}×)", server_us / value_us);
    Ok(())
}

/// This thread's CPU µs per document to build a `serde_json::Value` of each template body.
fn value_parse_us(template: &Template, documents: u64) -> anyhow::Result<f64> {
    let bodies: Vec<&[u8]> = template.datagrams.iter().map(|(datagram, _)| Template::body(datagram)).collect();
    let started = fluoro_benches::this_thread_cpu_seconds();
    let mut fields = 0usize;
    for index in 0..documents {
        let value: serde_json::Value = serde_json::from_slice(bodies[index as usize % bodies.len()])?;
        fields += value.as_object().map_or(0, |object| object.len());
    }
    let seconds = fluoro_benches::this_thread_cpu_seconds() - started;
    ensure!(fields > 0, "the documents are not objects");
    Ok(per_item_us(seconds, documents))
}
