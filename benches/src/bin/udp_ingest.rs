//! UDP ingest throughput: Fluoro's `UdpReceiver` against a raw receive-and-discard baseline.
//!
//! Every phase gets the same sender threads blasting ~1 KB segment documents (a segment with 3
//! subsegments, each datagram a new trace) over loopback for the same time. The baseline is the
//! most a receiver can do on this machine: `SO_REUSEPORT` sockets, `recvmmsg`, one thread per
//! socket, counting datagrams and nothing else. Fluoro's server path does the same and then
//! queues, checks the header, parses, validates and writes into a bounded `MemorySink`.
//!
//! The third phase is the sidecar (`fluoro daemon`) as a relay: the same `UdpReceiver` hands the
//! raw documents to the forward buffer, and a real `Forwarder` posts them as `PutTraceSegments`
//! over HTTP to a stub central collector in this process, which reads and discards the body,
//! counts its documents and answers `{"UnprocessedTraceSegments":[]}`. A datagram counts as
//! handled once the stub has acknowledged it. The stub runs on its own threads (`central-stub`),
//! so its CPU is reported apart from the sidecar's (`fluoro-udp-*`, `fluoro-forward`).
//!
//! Besides rates, each phase reports the CPU its threads used during the measured window (from
//! `/proc/self/task/*/stat`, by thread name), per datagram handled: on a small machine the
//! senders, the receive threads and the workers share the cores, so CPU per datagram says more
//! than a rate alone. Kernel drops are datagrams sent but never read; Fluoro counts its own as
//! `dropped(overload)` (`SO_RXQ_OVFL`), so its uncounted remainder should be ~0.
//!
//! `cargo run --release -p fluoro-benches --bin udp_ingest -- --seconds 3`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use bytes::Bytes;
use clap::Parser;
use fluoro_benches::udp_load::{send_loop, set_trace, RawSink, Template};
use fluoro_collector::{
    Counters, DropReason, ForwardConfig, Forwarder, Ingest, MemorySink, RejectReason, Source, UdpConfig, UdpHandoff,
    UdpReceiver, MAX_REQUEST_BODY_BYTES,
};
use fluoro_proto::Durability;

const SINK_MAX_ROWS: usize = 200_000;
/// Thread names (as `/proc` shows them, at most 15 bytes) by role.
const RAW_RECEIVE_THREAD: &str = "raw-recv";
const SENDER_THREAD: &str = "udp-send";
const FLUORO_RECEIVE_THREAD: &str = "fluoro-udp-recv";
const FLUORO_PARSE_THREAD: &str = "fluoro-udp-pars";
const FORWARD_THREAD: &str = "fluoro-forward";
const CENTRAL_STUB_THREAD: &str = "central-stub";

#[derive(Debug, Parser)]
#[command(about = "UDP ingest throughput: Fluoro's UdpReceiver (server and sidecar relay) against raw recvmmsg")]
struct Args {
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Seconds of load before measuring, per phase.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Sender threads.
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// Datagrams per second all senders together aim at; 0 sends as fast as they can.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Receive sockets and threads, in both phases (default: Fluoro's, the core count, at least 2).
    #[arg(long)]
    receivers: Option<usize>,
    /// Fluoro parse workers (default: Fluoro's).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let defaults = UdpConfig::default();
    let receivers = args.receivers.unwrap_or(defaults.receivers);
    let workers = args.workers.unwrap_or(defaults.workers);
    let template = checkout_template()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "udp_ingest: {}s per phase after {}s warmup, {} sender threads at {}, {receivers} receive threads, \
         {workers} fluoro workers, {}-byte datagrams (segment + 3 subsegments), {cores} cores",
        args.seconds,
        args.warmup,
        args.senders,
        if args.rate == 0 { "full speed".to_string() } else { format!("{} datagrams/s", args.rate) },
        template.datagrams[0].0.len(),
    );

    let raw = run_raw(&args, receivers, &template)?;
    let raw_rss = peak_rss_kib()?;
    raw.print("raw recvmmsg sink", "received");
    println!(
        "  kernel drops       {:>10} ({:.1}% of sent)",
        raw.uncounted_drops(),
        raw.percent_of_sent(raw.uncounted_drops())
    );
    println!("  peak RSS so far    {:>10} KiB", raw_rss);

    let fluoro = run_fluoro(&args, UdpConfig { receivers, workers, ..defaults }, &template)?;
    let fluoro_rss = peak_rss_kib()?;
    fluoro.print("fluoro UdpReceiver", "accepted");
    println!(
        "  overload drops     {:>10} ({:.1}% of sent; counted, in the socket or the queue)",
        fluoro.overload_drops,
        fluoro.percent_of_sent(fluoro.overload_drops)
    );
    println!("  uncounted drops    {:>10} (sent, never counted)", fluoro.uncounted_drops());
    println!("  rejected           {:>10} (expected 0)", fluoro.rejected);
    println!("  peak RSS so far    {:>10} KiB", fluoro_rss);

    let ratio = fluoro.rate() / raw.rate();
    println!("ratio fluoro/raw     {ratio:>10.2} (target >= 0.50)");

    let rss_before_relay = rss_kib("VmRSS:")?;
    let relay = run_relay(&args, UdpConfig { receivers, workers, ..defaults }, &template)?;
    relay.phase.print("fluoro daemon relay (forwarded over HTTP and acknowledged)", "accepted");
    println!(
        "  overload drops     {:>10} ({:.1}% of sent; counted, in the socket or the queue)",
        relay.phase.overload_drops,
        relay.phase.percent_of_sent(relay.phase.overload_drops)
    );
    println!("  buffer_full drops  {:>10} (counted, the forward buffer overflowed)", relay.buffer_full);
    println!("  uncounted drops    {:>10} (sent, never counted)", relay.phase.uncounted_drops());
    println!("  rejected           {:>10} (expected 0)", relay.phase.rejected);
    println!(
        "  stub received      {:>10} documents in {} requests, {} acknowledged as forwarded",
        relay.stub_documents, relay.stub_requests, relay.acknowledged
    );
    println!("  RSS                {:>10} KiB before the phase, {} KiB after", rss_before_relay, relay.rss_kib);
    let relay_ratio = relay.phase.rate() / raw.rate();
    println!("ratios to raw recvmmsg (same senders, same seconds; target >= 0.50)");
    println!("  raw recvmmsg sink                          1.00");
    println!("  fluoro serve: parse, validate, rows   {ratio:>8.2}");
    println!("  fluoro daemon relay: forwarded, acked {relay_ratio:>8.2}");
    let ingest_rate = ingest_ceiling(&template, args.seconds.min(1.0))?;
    println!(
        "Ingest::put_documents alone, 1 thread, batches of 32: {ingest_rate:.0} documents/s, peak RSS {} KiB",
        peak_rss_kib()?
    );
    Ok(())
}

/// One phase's numbers.
#[derive(Debug, Default)]
struct Phase {
    seconds: f64,
    sent: u64,
    /// Datagrams fully handled during the measured window.
    handled: u64,
    sent_total: u64,
    /// Datagrams the phase accounted for: read, or for Fluoro also counted as dropped.
    counted_total: u64,
    overload_drops: u64,
    rejected: u64,
    /// CPU seconds per thread role during the measured window.
    cpu: HashMap<&'static str, f64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.handled as f64 / self.seconds
    }

    /// Datagrams sent but never accounted for: the raw sink's socket overflows, or for Fluoro
    /// drops its `SO_RXQ_OVFL` count has not seen (ideally 0).
    fn uncounted_drops(&self) -> u64 {
        self.sent_total.saturating_sub(self.counted_total)
    }

    fn percent_of_sent(&self, count: u64) -> f64 {
        100.0 * count as f64 / self.sent_total.max(1) as f64
    }

    fn print(&self, name: &str, handled: &str) {
        println!("{name}");
        println!("  {handled:<18} {:>10.0} datagrams/s", self.rate());
        println!("  sent               {:>10.0} datagrams/s", self.sent as f64 / self.seconds);
        let mut roles: Vec<_> = self.cpu.iter().collect();
        roles.sort_by_key(|(role, _)| **role);
        for (role, seconds) in roles {
            println!(
                "  cpu {role:<14} {:>10.2} cores, {:>6.2} µs per datagram {handled}",
                seconds / self.seconds,
                1e6 * seconds / self.handled.max(1) as f64
            );
        }
    }
}

/// CPU seconds (user + system) of this process's threads, summed by thread name.
/// CPU seconds between two snapshots, by role (threads whose name starts with the role's).
fn cpu_by_role(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    roles: &[&'static str],
) -> HashMap<&'static str, f64> {
    let mut by_role = HashMap::new();
    for (name, seconds) in after {
        let Some(role) = roles.iter().find(|role| name.starts_with(**role)) else { continue };
        *by_role.entry(*role).or_insert(0.0) += seconds - before.get(name).copied().unwrap_or(0.0);
    }
    by_role
}

fn run_raw(args: &Args, receivers: usize, template: &Template) -> anyhow::Result<Phase> {
    let sink = RawSink::start(receivers, RAW_RECEIVE_THREAD)?;
    let roles = [RAW_RECEIVE_THREAD, SENDER_THREAD];
    let received = sink.received.clone();
    let phase = measure(args, sink.address, template, &roles, || received.load(Ordering::Relaxed))?;
    Ok(Phase { counted_total: sink.stop()?, ..phase })
}

fn run_fluoro(args: &Args, config: UdpConfig, template: &Template) -> anyhow::Result<Phase> {
    let sink = Arc::new(MemorySink::new(SINK_MAX_ROWS));
    let counters = Arc::new(Counters::new());
    let ingest = Ingest::new(sink, counters.clone());
    let receiver = UdpReceiver::start(UdpConfig { bind: "127.0.0.1:0".parse()?, ..config }, ingest)?;
    let roles = [FLUORO_RECEIVE_THREAD, FLUORO_PARSE_THREAD, SENDER_THREAD];
    let phase = measure(args, receiver.local_addr(), template, &roles, || counters.accepted(Source::Udp))?;
    // The queue takes a while to drain after the senders stop; the socket buffer behind it is
    // read only then, and the last drops are counted once the receiver is idle.
    wait_until_still(|| counters.received(Source::Udp));
    receiver.shutdown();
    let rejected = [RejectReason::BadHeader, RejectReason::BadJson, RejectReason::Invalid, RejectReason::TooLarge]
        .iter()
        .map(|&reason| counters.rejected(Source::Udp, reason))
        .sum();
    Ok(Phase {
        counted_total: counters.received(Source::Udp),
        overload_drops: counters.dropped(Source::Udp, DropReason::Overload),
        rejected,
        ..phase
    })
}

/// The relay phase's numbers beyond the common ones.
#[derive(Debug)]
struct RelayPhase {
    phase: Phase,
    buffer_full: u64,
    acknowledged: u64,
    stub_documents: u64,
    stub_requests: u64,
    rss_kib: u64,
}

fn run_relay(args: &Args, config: UdpConfig, template: &Template) -> anyhow::Result<RelayPhase> {
    let stub = CentralStub::start()?;
    // The daemon's runtime: the forwarder's task and its HTTP client.
    let runtime = tokio::runtime::Builder::new_multi_thread().thread_name(FORWARD_THREAD).enable_all().build()?;
    let counters = Arc::new(Counters::new());
    let (sink, forwarder) = {
        let _context = runtime.enter();
        Forwarder::start(ForwardConfig::new(format!("http://{}", stub.address)), counters.clone())
    };
    let config = UdpConfig { bind: "127.0.0.1:0".parse()?, ..config };
    let receiver = UdpReceiver::start(config, UdpHandoff::Relay(sink))?;
    let roles = [FLUORO_RECEIVE_THREAD, FLUORO_PARSE_THREAD, FORWARD_THREAD, CENTRAL_STUB_THREAD, SENDER_THREAD];
    let phase = measure(args, receiver.local_addr(), template, &roles, || counters.accepted(Source::Forward))?;
    let rss_kib = rss_kib("VmRSS:")?;
    wait_until_still(|| counters.received(Source::Udp) + counters.accepted(Source::Forward));
    receiver.shutdown();
    runtime.block_on(forwarder.shutdown(Duration::from_secs(5)));
    let rejected = [RejectReason::BadHeader, RejectReason::BadJson, RejectReason::Invalid, RejectReason::TooLarge]
        .iter()
        .map(|&reason| counters.rejected(Source::Udp, reason) + counters.rejected(Source::Forward, reason))
        .sum();
    Ok(RelayPhase {
        phase: Phase {
            counted_total: counters.received(Source::Udp),
            overload_drops: counters.dropped(Source::Udp, DropReason::Overload),
            rejected,
            ..phase
        },
        buffer_full: counters.dropped(Source::Forward, DropReason::BufferFull),
        acknowledged: counters.accepted(Source::Forward),
        stub_documents: stub.documents.load(Ordering::Relaxed),
        stub_requests: stub.requests.load(Ordering::Relaxed),
        rss_kib,
    })
}

/// The least a central collector can do: read each `PutTraceSegments` body, count its
/// documents without keeping them, and accept them all. Served by its own runtime, one thread.
struct CentralStub {
    address: SocketAddr,
    documents: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(serde::Deserialize)]
struct PutTraceSegmentsRequest {
    #[serde(rename = "TraceSegmentDocuments")]
    documents: Vec<serde::de::IgnoredAny>,
}

impl CentralStub {
    fn start() -> anyhow::Result<CentralStub> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(CENTRAL_STUB_THREAD)
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (documents, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let counts = (documents.clone(), requests.clone());
        let router = axum::Router::new()
            .route("/TraceSegments", axum::routing::post(put_trace_segments))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
            .with_state(counts);
        runtime.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    let _ = axum::serve(listener, router).await;
                }
                Err(error) => eprintln!("central stub cannot listen: {error}"),
            }
        });
        Ok(CentralStub { address, documents, requests, _runtime: runtime })
    }
}

async fn put_trace_segments(
    axum::extract::State((documents, requests)): axum::extract::State<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    body: axum::body::Bytes,
) -> impl axum::response::IntoResponse {
    if let Ok(request) = serde_json::from_slice::<PutTraceSegmentsRequest>(&body) {
        documents.fetch_add(request.documents.len() as u64, Ordering::Relaxed);
    }
    requests.fetch_add(1, Ordering::Relaxed);
    ([(axum::http::header::CONTENT_TYPE, "application/json")], r#"{"UnprocessedTraceSegments":[]}"#)
}

/// Waits until `count` has not moved for half a second, at most 10 s.
fn wait_until_still(count: impl Fn() -> u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = count();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = count();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Runs the senders through the warmup and the measured window; `handled` reads the phase's
/// counter of handled datagrams.
fn measure(
    args: &Args,
    address: SocketAddr,
    template: &Template,
    roles: &[&'static str],
    handled: impl Fn() -> u64,
) -> anyhow::Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let rate = args.rate;
    let senders: Vec<JoinHandle<()>> = (0..args.senders)
        .map(|index| {
            let (stop, sent, template) = (stop.clone(), sent.clone(), template.clone());
            let per_sender = rate / args.senders.max(1) as u64;
            std::thread::Builder::new()
                .name(format!("{SENDER_THREAD}-{index}"))
                .spawn(move || send_loop(address, index as u64, &template, per_sender, 0, &stop, &sent))
        })
        .collect::<Result<_, _>>()?;
    std::thread::sleep(Duration::from_secs_f64(args.warmup));
    let cpu_before = fluoro_benches::cpu_by_thread_name()?;
    let (sent_before, handled_before, started) = (sent.load(Ordering::Relaxed), handled(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    let (sent_after, handled_after, seconds) = (sent.load(Ordering::Relaxed), handled(), started.elapsed());
    let cpu = cpu_by_role(&cpu_before, &fluoro_benches::cpu_by_thread_name()?, roles);
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        let _ = sender.join();
    }
    // Let the receivers read what is still in the socket buffers.
    std::thread::sleep(Duration::from_millis(300));
    Ok(Phase {
        seconds: seconds.as_secs_f64(),
        sent: sent_after - sent_before,
        handled: handled_after - handled_before,
        sent_total: sent.load(Ordering::Relaxed),
        cpu,
        ..Phase::default()
    })
}

/// The checkout document (a segment with 3 subsegments), one datagram per trace.
fn checkout_template() -> anyhow::Result<Template> {
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let template = Template::new(&[fluoro_benches::checkout_segment_document(epoch)])?;
    let (datagram, _) = &template.datagrams[0];
    let parsed = fluoro_proto::parse_document(Template::body(datagram))
        .map_err(|error| anyhow::anyhow!("bad template: {error}"))?;
    ensure!(parsed.entities()[0].subsegments().len() == 3, "the template must have 3 subsegments");
    Ok(template)
}

/// Documents per second one thread gets through `Ingest` into a `MemorySink`, without UDP:
/// the most the parse workers can do per core.
fn ingest_ceiling(template: &Template, seconds: f64) -> anyhow::Result<f64> {
    let ingest = Ingest::new(Arc::new(MemorySink::new(SINK_MAX_ROWS)), Arc::new(Counters::new()));
    let (template, at) = &template.datagrams[0];
    let mut datagrams = vec![template.clone(); 32];
    let (started, mut serial) = (Instant::now(), 0);
    while started.elapsed().as_secs_f64() < seconds {
        for datagram in &mut datagrams {
            serial += 1;
            set_trace(datagram, *at, 0, serial);
        }
        // Copied out as the receive threads copy each batch out of their buffers.
        let bodies = datagrams.iter().map(|d| Bytes::copy_from_slice(Template::body(d)));
        let refused = ingest.put_documents(Source::Udp, bodies, Durability::BestEffort)?;
        ensure!(refused.is_empty(), "the template was refused: {refused:?}");
    }
    Ok(serial as f64 / started.elapsed().as_secs_f64())
}

/// Peak resident set size of this process, from `/proc/self/status`.
fn peak_rss_kib() -> anyhow::Result<u64> {
    rss_kib("VmHWM:")
}

/// One KiB line of `/proc/self/status`, such as `VmRSS:` (now) or `VmHWM:` (peak).
fn rss_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|line| line.starts_with(field)).context("no such field in /proc/self/status")?;
    Ok(line.split_whitespace().nth(1).context("empty field")?.parse()?)
}
