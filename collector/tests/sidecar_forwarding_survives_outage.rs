//! `fluoro daemon` as a sidecar: documents received over UDP reach the central collector in
//! batches; while the central collector is down they wait in a bounded buffer and arrive when
//! it is back; what overflows the buffer is counted; a batch the central collector refuses
//! with a 4xx is dropped and counted instead of blocking the batches behind it; a central
//! collector that stalls costs the buffer's bound, not more, and is caught up with once it
//! answers again; sampling calls are proxied.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_collector::{
    sampling_router, start_daemon, xray_api_router, Counters, DaemonConfig, DropReason, ForwardConfig, HttpLimits,
    Ingest, MemorySink, RunningDaemon, SamplingRules, Source, UdpConfig,
};
use fluoro_proto::{TraceId, TraceSource};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The central collector: the X-Ray API and sampling rules over a sink that outlives restarts.
struct Central {
    sink: Arc<MemorySink>,
    counters: Arc<Counters>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Central {
    async fn start(address: SocketAddr, sink: Arc<MemorySink>, counters: Arc<Counters>) -> Central {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let ingest = Ingest::new(sink.clone(), counters.clone());
        let router = xray_api_router(ingest, sink.clone() as Arc<dyn TraceSource>)
            .merge(sampling_router(Arc::new(SamplingRules::in_memory())));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Central { sink, counters, address, stop: Some(stop), task: Some(task) }
    }

    async fn stop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }

    fn delivered(&self) -> u64 {
        self.counters.accepted(Source::PutTraceSegments)
    }
}

fn forward_config(central: SocketAddr, buffer: usize) -> ForwardConfig {
    let mut config = ForwardConfig::new(format!("http://{central}"));
    config.batch_interval = Duration::from_millis(200);
    config.buffer_documents = buffer;
    config.max_backoff = Duration::from_millis(300);
    config
}

async fn start_sidecar(forward: ForwardConfig, counters: Arc<Counters>) -> RunningDaemon {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = DaemonConfig {
        // One socket and one worker keep arrival order, so "oldest" is well defined.
        udp: UdpConfig { bind: local, receivers: 1, workers: 1, ..UdpConfig::default() },
        sampling_bind: local,
        http_bind: local,
        forward,
        http_limits: HttpLimits::default(),
    };
    start_daemon(config, counters).await.unwrap()
}

/// Sends `count` segments of new traces to the sidecar; returns their trace ids.
fn send_segments(to: SocketAddr, count: usize) -> Vec<TraceId> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    (0..count)
        .map(|_| {
            let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let trace = format!("1-{now:08x}-{n:024x}");
            let document = format!(
                r#"{{"name":"petsite","id":"{n:016x}","trace_id":"{trace}","start_time":{now}.5,"end_time":{now}.75}}"#
            );
            socket.send_to(format!("{{\"format\":\"json\",\"version\":1}}\n{document}").as_bytes(), to).unwrap();
            if n % 50 == 0 {
                // Loopback drops bursts beyond the socket buffer; pace lightly.
                std::thread::sleep(Duration::from_millis(2));
            }
            trace.parse().unwrap()
        })
        .collect()
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_wait_out_an_outage_and_arrive_when_central_is_back() {
    let (sink, central_counters) = (Arc::new(MemorySink::new(100_000)), Arc::new(Counters::new()));
    let mut central = Central::start("127.0.0.1:0".parse().unwrap(), sink.clone(), central_counters.clone()).await;
    let sidecar_counters = Arc::new(Counters::new());
    let sidecar = start_sidecar(forward_config(central.address, 1_000), sidecar_counters.clone()).await;

    let before = send_segments(sidecar.udp, 120);
    wait_until("the first 120 documents at the central collector", || central.delivered() == 120).await;

    central.stop().await;
    let during = send_segments(sidecar.udp, 200);
    wait_until("200 more documents buffered by the sidecar", || sidecar_counters.accepted(Source::Udp) == 320).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // several failed attempts
    assert_eq!(central.delivered(), 120, "nothing arrives while the central collector is down");
    assert_eq!(sidecar.buffered(), 200);

    let central = Central::start(central.address, sink.clone(), central_counters.clone()).await;
    wait_until("the buffered documents after the outage", || central.delivered() == 320).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(central.delivered(), 320, "requests in flight at once never send a document twice");
    assert_eq!(sidecar.buffered(), 0);
    let all: Vec<TraceId> = before.into_iter().chain(during).collect();
    assert_eq!(central.sink.traces(&all).len(), 320, "every document within the buffer bound arrived");
    assert_eq!(sidecar_counters.dropped(Source::Forward, DropReason::BufferFull), 0);
    assert_eq!(sidecar_counters.accepted(Source::Forward), 320);
    sidecar.shutdown(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn what_exceeds_the_buffer_is_counted_and_the_newest_documents_are_kept() {
    let (sink, central_counters) = (Arc::new(MemorySink::new(100_000)), Arc::new(Counters::new()));
    let mut central = Central::start("127.0.0.1:0".parse().unwrap(), sink.clone(), central_counters.clone()).await;
    let address = central.address;
    central.stop().await;

    let sidecar_counters = Arc::new(Counters::new());
    let sidecar = start_sidecar(forward_config(address, 50), sidecar_counters.clone()).await;
    let sent = send_segments(sidecar.udp, 80);
    wait_until("80 documents received by the sidecar", || sidecar_counters.accepted(Source::Udp) == 80).await;
    assert_eq!(sidecar_counters.dropped(Source::Forward, DropReason::BufferFull), 30);

    let central = Central::start(address, sink.clone(), central_counters).await;
    wait_until("the 50 buffered documents", || central.delivered() == 50).await;
    assert_eq!(central.sink.traces(&sent[30..]).len(), 50, "the newest 50 were kept");
    assert!(central.sink.traces(&sent[..30]).is_empty(), "the oldest 30 were the ones dropped");
    sidecar.shutdown(Duration::from_secs(2)).await.unwrap();
}

/// A central endpoint that keeps the trace ids of the documents it takes. With `refuse_first`
/// it answers the first `PutTraceSegments` with 400; while `stalled` it answers nothing for
/// seconds (then 503, taking nothing).
#[derive(Clone, Default)]
struct ScriptedCentral {
    refuse_first: bool,
    stalled: Arc<std::sync::atomic::AtomicBool>,
    requests: Arc<AtomicU64>,
    taken: Arc<Mutex<Vec<String>>>,
}

impl ScriptedCentral {
    async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router =
            axum::Router::new().route("/TraceSegments", axum::routing::post(Self::answer)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        address
    }

    async fn answer(
        axum::extract::State(central): axum::extract::State<ScriptedCentral>,
        axum::Json(request): axum::Json<serde_json::Value>,
    ) -> (axum::http::StatusCode, String) {
        if central.stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(5)).await;
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "stalled".into());
        }
        if central.requests.fetch_add(1, Ordering::SeqCst) == 0 && central.refuse_first {
            return (axum::http::StatusCode::BAD_REQUEST, "this central collector refuses the body".into());
        }
        let documents = request["TraceSegmentDocuments"].as_array().unwrap();
        let trace_ids = documents.iter().map(|document| {
            let document: serde_json::Value = serde_json::from_str(document.as_str().unwrap()).unwrap();
            document["trace_id"].as_str().unwrap().to_owned()
        });
        central.taken.lock().unwrap().extend(trace_ids);
        (axum::http::StatusCode::OK, r#"{"UnprocessedTraceSegments":[]}"#.into())
    }

    fn taken(&self) -> Vec<String> {
        self.taken.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_refused_with_400_is_dropped_and_the_next_documents_still_arrive() {
    let central = ScriptedCentral { refuse_first: true, ..ScriptedCentral::default() };
    let mut forward = forward_config(central.start().await, 1_000);
    forward.batch_documents = 5; // a full batch leaves at once, so the first five travel together
    let sidecar_counters = Arc::new(Counters::new());
    let sidecar = start_sidecar(forward, sidecar_counters.clone()).await;

    let refused = send_segments(sidecar.udp, 5);
    wait_until("the refused batch counted as dropped", || {
        sidecar_counters.dropped(Source::Forward, DropReason::Refused) == 5
    })
    .await;
    let after = send_segments(sidecar.udp, 5);
    wait_until("the documents after the refusal", || central.taken().len() == 5).await;
    // Central records what it took before it answers; the sidecar counts once the answer is back.
    wait_until("the answer counted", || sidecar_counters.accepted(Source::Forward) == 5).await;

    let expected: Vec<String> = after.iter().map(ToString::to_string).collect();
    assert_eq!(central.taken(), expected, "only the documents after the refused batch arrived");
    assert!(refused.iter().all(|id| !central.taken().contains(&id.to_string())), "a refused batch is not retried");
    assert_eq!(sidecar_counters.accepted(Source::Forward), 5);
    assert_eq!(sidecar_counters.dropped(Source::Forward, DropReason::Refused), 5);
    assert_eq!(sidecar_counters.dropped(Source::Forward, DropReason::BufferFull), 0);
    assert_eq!(sidecar.buffered(), 0);
    assert_eq!(central.requests.load(Ordering::SeqCst), 2, "one refused request, one accepted, no retry");
    sidecar.shutdown(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sampling_calls_are_proxied_to_the_central_rules() {
    let counters = Arc::new(Counters::new());
    let central = Central::start("127.0.0.1:0".parse().unwrap(), Arc::new(MemorySink::new(10)), counters).await;
    let sidecar = start_sidecar(forward_config(central.address, 10), Arc::new(Counters::new())).await;
    let url = format!("http://{}/GetSamplingRules", sidecar.sampling);
    let response = reqwest::Client::new().post(url).json(&serde_json::json!({})).send().await.unwrap();
    assert!(response.status().is_success());
    let rules: serde_json::Value = response.json().await.unwrap();
    assert_eq!(rules["SamplingRuleRecords"][0]["SamplingRule"]["RuleName"], "Default");
    sidecar.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sampling_calls_go_to_the_next_collector_while_the_first_is_down() {
    let counters = Arc::new(Counters::new());
    let central = Central::start("127.0.0.1:0".parse().unwrap(), Arc::new(MemorySink::new(10)), counters).await;
    // Nothing listens on the first collector's port.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut forward = forward_config(central.address, 10);
    forward.collectors = vec![format!("http://{down}"), format!("http://{}", central.address)];
    let sidecar = start_sidecar(forward, Arc::new(Counters::new())).await;
    let url = format!("http://{}/GetSamplingRules", sidecar.sampling);
    let response = reqwest::Client::new().post(url).json(&serde_json::json!({})).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let rules: serde_json::Value = response.json().await.unwrap();
    assert_eq!(rules["SamplingRuleRecords"][0]["SamplingRule"]["RuleName"], "Default");
    sidecar.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_central_collector_costs_the_buffer_bound_and_then_catches_up() {
    let central = ScriptedCentral::default();
    central.stalled.store(true, Ordering::SeqCst);
    let mut forward = forward_config(central.start().await, 50);
    forward.request_timeout = Duration::from_millis(300);
    let counters = Arc::new(Counters::new());
    let sidecar = start_sidecar(forward, counters.clone()).await;

    let started = Instant::now();
    let sent = send_segments(sidecar.udp, 80);
    assert!(started.elapsed() < Duration::from_secs(2), "the application's sends never wait for central");
    wait_until("80 documents received by the sidecar", || counters.accepted(Source::Udp) == 80).await;
    wait_until("what does not fit counted", || counters.dropped(Source::Forward, DropReason::BufferFull) >= 30).await;
    // Requests time out and are retried; the buffer holds at most its bound meanwhile.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(sidecar.buffered() <= 50, "{} buffered", sidecar.buffered());
    assert!(central.taken().is_empty(), "a stalled central took nothing");

    central.stalled.store(false, Ordering::SeqCst);
    let dropped = counters.dropped(Source::Forward, DropReason::BufferFull);
    wait_until("the buffered documents delivered", || central.taken().len() as u64 + dropped == 80).await;
    let taken = central.taken();
    let unique: std::collections::HashSet<&String> = taken.iter().collect();
    assert_eq!(unique.len(), taken.len(), "no document delivered twice");
    let sent: std::collections::HashSet<String> = sent.iter().map(ToString::to_string).collect();
    assert!(taken.iter().all(|trace| sent.contains(trace)));
    sidecar.shutdown(Duration::from_secs(2)).await.unwrap();
}
