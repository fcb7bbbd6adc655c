//! Sidecar mode: a relay, like the X-Ray daemon. Documents received over UDP are not parsed
//! here: after the header check and the 64 KiB limit (`udp.rs`) and a UTF-8 check, their raw
//! bytes wait in a bounded buffer and leave in `PutTraceSegments` batches for a central Fluoro,
//! which validates them.
//!
//! - Why not parse: a sidecar runs beside every service, so its CPU is paid once per service.
//!   Parsing and building rows costs ~15 CPU µs per document, the relay 3.2–5.5 (`BENCHMARKS.md`:
//!   receiving, relaying and sending together, at 80k documents/s).
//! - Why UTF-8 is still checked: `PutTraceSegments` carries each document as a JSON string, so
//!   bytes that are not UTF-8 cannot be sent as they are; they are rejected here as `bad_json`
//!   (they are not JSON either). Everything else is escaped as a JSON string byte by byte
//!   (`send.rs`, `push_json_string`), so the central collector reads back exactly the bytes the
//!   SDK sent, whatever they are.
//! - A batch leaves when it holds [`ForwardConfig::batch_documents`] documents (50, as the X-Ray
//!   daemon sends) or when its oldest document has waited [`ForwardConfig::batch_interval`] (1 s).
//!   It is also cut at [`MAX_FORWARD_BODY_BYTES`], so that escaping (up to 6 bytes for one)
//!   never makes a request the central collector's body limit refuses.
//! - Documents wait in one bounded buffer. While the central collector is unreachable or
//!   answers with a transient error (5xx, 429, 408), the same batch is retried with exponential
//!   backoff and nothing is removed; when the buffer is full the OLDEST documents are dropped and
//!   counted (`dropped{source="forward",reason="buffer_full"}`), so a long outage keeps the
//!   latest data.
//! - Any other 4xx (400 for a body it refuses, 413, 404 from a wrong URL path) means that batch
//!   will never be accepted: retrying it would block every later batch while the buffer fills
//!   and drops. Its documents are counted as `dropped{source="forward",reason="refused"}`, the
//!   status and the start of the body are logged, and the next batch goes.
//! - Documents the central collector refuses (`UnprocessedTraceSegments`) are counted as
//!   rejected under `forward`, by the reason their `ErrorCode` names, and not retried: they would
//!   be refused again. A bad document is thus counted twice, by the central collector and here.
//!
//! - With several collectors (`route.rs`), each trace id goes to one of them by rendezvous
//!   hashing, so every document of a trace lands on the same collector. Each collector has
//!   its own buffer and sender; when one fails, its buffered documents move to the next
//!   collector in their trace's order, and its traces come back to it once a probe finds it
//!   answering again.
//!
//! Counting on a sidecar: `udp` counts datagrams (`accepted` = handed to the buffer); `forward`
//! counts documents (`received` = entered the buffer, `accepted` = acknowledged by the central
//! collector, `rejected` = refused by it, `dropped` = overflowed the buffer or in a request it
//! refused whole). Each document is counted once: one that overflow drops while its request is
//! in flight is not counted again when the central collector answers that request.

mod proxy;
mod route;
mod send;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::counters::{Counters, DropReason, RejectReason, Source};
use crate::sigv4::AwsCredentials;

pub use proxy::sampling_proxy_router;
pub use send::MAX_FORWARD_BODY_BYTES;

/// The X-Ray daemon allows 8; on a sidecar sharing its cores with the service, 4 kept up with
/// what one receive thread reads (`udp_ingest`, relay phase).
const DEFAULT_CONCURRENT_REQUESTS: usize = 4;

/// How a sidecar forwards.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// The collectors' HTTP APIs, e.g. `http://fluoro.internal:2020`, at least one. Each
    /// trace id goes to one of them (`route.rs`); sampling calls go to the first.
    pub collectors: Vec<String>,
    pub batch_documents: usize,
    pub batch_interval: Duration,
    /// Documents held while the central collector is unreachable (or in flight): at most
    /// 64 KiB each, so 6.4 GiB at worst with the default 100,000, the documents' own bytes
    /// in practice.
    pub buffer_documents: usize,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
    /// `PutTraceSegments` requests in flight at once, at least 1.
    pub concurrent_requests: usize,
    /// When set, every request to the collectors is signed with SigV4 (`sigv4/sign.rs`), for a
    /// central Fluoro started with `--sigv4-keys-file`.
    pub credentials: Option<AwsCredentials>,
}

impl ForwardConfig {
    pub fn new(central: impl Into<String>) -> Self {
        Self::to_collectors(vec![central.into()])
    }

    /// Forwarding to several collectors, each trace id to one of them.
    pub fn to_collectors(collectors: Vec<String>) -> Self {
        ForwardConfig {
            collectors: collectors.into_iter().map(|url| url.trim_end_matches('/').to_owned()).collect(),
            batch_documents: 50,
            batch_interval: Duration::from_secs(1),
            buffer_documents: 100_000,
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            concurrent_requests: DEFAULT_CONCURRENT_REQUESTS,
            credentials: None,
        }
    }
}

/// The receiving side: puts raw documents into the bounded buffer of their trace's
/// collector for its sender task.
#[derive(Debug, Clone)]
pub struct ForwardSink {
    ring: Arc<route::Ring>,
}

/// The sender tasks, one per collector; [`Forwarder::shutdown`] flushes what it can and stops.
#[derive(Debug)]
pub struct Forwarder {
    ring: Arc<route::Ring>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// One collector's side of the sidecar: its buffer and whether it answers.
#[derive(Debug)]
struct Shared {
    /// This collector's HTTP API.
    central: String,
    config: ForwardConfig,
    counters: Arc<Counters>,
    buffer: Mutex<Buffer>,
    arrived: Notify,
    /// False from a failed request until a request (or a probe) is answered again: its
    /// traces go to the next collector meanwhile.
    healthy: AtomicBool,
}

impl Shared {
    fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

/// Documents in arrival order, each with a sequence number, so that a delivered batch is
/// removed exactly even if overflow dropped some of it meanwhile. Each document owns its bytes
/// (see [`ForwardSink::relay`]), so the buffer holds at most `buffer_documents` × 64 KiB, and
/// in practice the documents' own sizes.
#[derive(Debug, Default)]
struct Buffer {
    documents: VecDeque<(u64, Bytes)>,
    next_sequence: u64,
}

impl Buffer {
    fn len(&self) -> usize {
        self.documents.len()
    }
}

impl Forwarder {
    /// Starts one sender task per collector on the current tokio runtime.
    pub fn start(config: ForwardConfig, counters: Arc<Counters>) -> (ForwardSink, Forwarder) {
        let targets = config
            .collectors
            .iter()
            .map(|central| Shared {
                central: central.clone(),
                config: config.clone(),
                counters: counters.clone(),
                buffer: Mutex::new(Buffer::default()),
                arrived: Notify::new(),
                healthy: AtomicBool::new(true),
            })
            .collect();
        let ring = Arc::new(route::Ring::new(targets, counters));
        let (stop, stopped) = watch::channel(false);
        let tasks =
            (0..ring.len()).map(|index| tokio::spawn(send::send_loop(ring.clone(), index, stopped.clone()))).collect();
        (ForwardSink { ring: ring.clone() }, Forwarder { ring, stop, tasks })
    }

    /// Documents waiting to be forwarded, to every collector.
    pub fn buffered(&self) -> usize {
        self.ring.targets().iter().map(|target| target.buffer.lock().len()).sum()
    }

    /// Stops after one last attempt to deliver what is buffered (bounded by `grace`).
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let all_stopped = async {
            for task in self.tasks {
                let _ = task.await;
            }
        };
        let _ = tokio::time::timeout(grace, all_stopped).await;
    }
}

/// Whether growing the buffer from `before` to `after` documents concerns the sender: the
/// first document starts the batch interval, and each full batch may be sent. Waking it for
/// every receive in between cost the sender ~0.5 CPU µs per document at 80k documents/s
/// (`udp_ingest`, relay phase). The sender checks the buffer before it waits, and a
/// notification sent while it is busy is kept for its next wait.
fn sender_must_wake(before: usize, after: usize, batch_documents: usize) -> bool {
    // Documents in flight stay in the buffer, so every further batch's worth counts, not only
    // the first one.
    let batch_documents = batch_documents.max(1);
    before == 0 || before / batch_documents != after / batch_documents
}

/// A copy of `document` that owns just its bytes. A document received over UDP is a slice of
/// its whole receive batch (up to 64 documents × 64 KiB); buffered as it is, one small document
/// would keep that whole allocation alive for as long as the central collector is away. One
/// copy of a ~1 KB document is small beside the relay's 3–6 CPU µs per document.
fn own_bytes(document: &Bytes) -> Bytes {
    Bytes::copy_from_slice(document)
}

impl ForwardSink {
    pub fn counters(&self) -> &Arc<Counters> {
        self.ring.counters()
    }

    /// Relays the documents of datagrams whose header passed, counted under `source`: those
    /// that are UTF-8 go to the buffer, the others are rejected as `bad_json`.
    pub fn relay(&self, source: Source, documents: Vec<Bytes>) {
        let received = documents.len() as u64;
        let relayable: Vec<Bytes> = documents
            .into_iter()
            .filter(|document| std::str::from_utf8(document).is_ok())
            .map(|document| own_bytes(&document))
            .collect();
        let counters = self.ring.counters();
        counters.add_received(source, received);
        counters.add_rejected(source, RejectReason::BadJson, received - relayable.len() as u64);
        counters.add_accepted(source, relayable.len() as u64);
        counters.add_received(Source::Forward, relayable.len() as u64);
        if self.ring.len() == 0 {
            // No collector configured: nowhere to send, counted rather than kept.
            counters.add_dropped(Source::Forward, DropReason::Refused, relayable.len() as u64);
            return;
        }
        for (target, documents) in self.ring.route(relayable) {
            push(&self.ring.targets()[target], documents);
        }
    }
}

/// Appends to a collector's buffer, dropping (and counting) the oldest documents beyond its
/// bound. The documents were counted as received when they entered the sidecar.
fn push(shared: &Shared, documents: Vec<Bytes>) {
    if documents.is_empty() {
        return;
    }
    let pushed = documents.len();
    let (before, overflow) = {
        let mut buffer = shared.buffer.lock();
        let before = buffer.len();
        for document in documents {
            let sequence = buffer.next_sequence;
            buffer.next_sequence += 1;
            buffer.documents.push_back((sequence, document));
        }
        let overflow = buffer.len().saturating_sub(shared.config.buffer_documents);
        buffer.documents.drain(..overflow);
        (before, overflow)
    };
    if overflow > 0 {
        shared.counters.add_dropped(Source::Forward, DropReason::BufferFull, overflow as u64);
    }
    if sender_must_wake(before, before + pushed, shared.config.batch_documents) {
        shared.arrived.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{DropReason, RejectReason};
    use axum::http::StatusCode;
    use tokio::sync::mpsc;

    /// A central collector that holds its first request until the test releases it, then
    /// answers it with `first_answer`; later requests are acknowledged at once.
    struct HeldCentral {
        url: String,
        first_arrived: mpsc::UnboundedReceiver<()>,
        release_first: Arc<Notify>,
    }

    async fn held_central(first_answer: (StatusCode, &'static str)) -> HeldCentral {
        let (arrived, first_arrived) = mpsc::unbounded_channel();
        let release_first = Arc::new(Notify::new());
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let release = release_first.clone();
        let handler = move || {
            let (arrived, release, requests) = (arrived.clone(), release.clone(), requests.clone());
            async move {
                if requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    return (StatusCode::OK, r#"{"UnprocessedTraceSegments":[]}"#);
                }
                let _ = arrived.send(());
                release.notified().await;
                first_answer
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/TraceSegments", axum::routing::post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await });
        HeldCentral { url, first_arrived, release_first }
    }

    fn documents(count: usize) -> Vec<Bytes> {
        (0..count).map(|index| Bytes::from(format!(r#"{{"id":"{index}"}}"#))).collect()
    }

    /// received == accepted + rejected + dropped for the forward source, every reason summed.
    fn assert_each_document_counted_once(counters: &Counters) {
        let source = Source::Forward;
        let rejected: u64 = [
            RejectReason::BadHeader,
            RejectReason::BadJson,
            RejectReason::Invalid,
            RejectReason::TooLarge,
            RejectReason::TraceTooLarge,
        ]
        .into_iter()
        .map(|reason| counters.rejected(source, reason))
        .sum();
        let dropped: u64 = [DropReason::Overload, DropReason::SinkError, DropReason::BufferFull, DropReason::Refused]
            .into_iter()
            .map(|reason| counters.dropped(source, reason))
            .sum();
        assert_eq!(
            counters.received(source),
            counters.accepted(source) + rejected + dropped,
            "accepted {} rejected {rejected} dropped {dropped}",
            counters.accepted(source)
        );
    }

    /// Overflows a 3-document buffer while the first 2-document batch is held in flight, so
    /// both of its documents are dropped before its answer arrives.
    async fn overflow_while_the_first_batch_is_in_flight(first_answer: (StatusCode, &'static str)) -> Arc<Counters> {
        let mut central = held_central(first_answer).await;
        let config = ForwardConfig {
            batch_documents: 2,
            batch_interval: Duration::from_secs(3600),
            buffer_documents: 3,
            concurrent_requests: 1,
            ..ForwardConfig::new(central.url.clone())
        };
        let counters = Arc::new(Counters::new());
        let (sink, forwarder) = Forwarder::start(config, counters.clone());
        sink.relay(Source::Udp, documents(2));
        central.first_arrived.recv().await.unwrap();
        sink.relay(Source::Udp, documents(3));
        assert_eq!(counters.dropped(Source::Forward, DropReason::BufferFull), 2, "the in-flight batch overflowed");
        central.release_first.notify_one();
        forwarder.shutdown(Duration::from_secs(30)).await;
        assert_eq!(counters.received(Source::Forward), 5);
        assert_eq!(counters.accepted(Source::Forward), 3, "the three newest were delivered after the first");
        counters
    }

    #[tokio::test]
    async fn a_buffered_document_holds_its_own_bytes_not_its_receive_batch() {
        // The batch interval never passes, so the sender holds no copy of the document's handle.
        let config =
            ForwardConfig { batch_interval: Duration::from_secs(3600), ..ForwardConfig::new("http://127.0.0.1:9") };
        let (sink, forwarder) = Forwarder::start(config, Arc::new(Counters::new()));
        let batch = Bytes::from(vec![b'x'; 64 * 1024]);
        let batch_range = batch.as_ptr_range();
        sink.relay(Source::Udp, vec![batch.slice(10..20)]);
        let (_, buffered) = forwarder.ring.targets()[0].buffer.lock().documents.pop_front().unwrap();
        assert_eq!(&buffered[..], &batch[10..20]);
        assert!(!batch_range.contains(&buffered.as_ptr()), "the document still points into its batch");
        drop(batch);
        let owned = buffered.try_into_mut().expect("nothing else shares the document's bytes");
        assert!(owned.capacity() < 64, "the document's allocation is its own size, not its batch's");
    }

    #[tokio::test]
    async fn an_acknowledged_batch_that_overflow_dropped_is_not_counted_again() {
        let answer = r#"{"UnprocessedTraceSegments":[{"Id":"0","ErrorCode":"InvalidSegment"}]}"#;
        let counters = overflow_while_the_first_batch_is_in_flight((StatusCode::OK, answer)).await;
        assert_eq!(counters.rejected(Source::Forward, RejectReason::Invalid), 0);
        assert_each_document_counted_once(&counters);
    }

    #[tokio::test]
    async fn a_refused_batch_that_overflow_dropped_is_not_counted_again() {
        let counters = overflow_while_the_first_batch_is_in_flight((StatusCode::BAD_REQUEST, "refused")).await;
        assert_eq!(counters.dropped(Source::Forward, DropReason::Refused), 0);
        assert_each_document_counted_once(&counters);
    }

    #[tokio::test]
    async fn without_collectors_documents_are_counted_as_dropped_not_kept() {
        let counters = Arc::new(Counters::new());
        let (sink, forwarder) = Forwarder::start(ForwardConfig::to_collectors(Vec::new()), counters.clone());
        sink.relay(Source::Udp, documents(3));
        assert_eq!(counters.dropped(Source::Forward, DropReason::Refused), 3);
        assert_eq!(forwarder.buffered(), 0);
        assert_each_document_counted_once(&counters);
        forwarder.shutdown(Duration::from_secs(1)).await;
    }

    #[test]
    fn the_sender_is_woken_for_the_first_document_and_for_each_full_batch_only() {
        assert!(sender_must_wake(0, 1, 50), "the interval starts");
        assert!(!sender_must_wake(1, 30, 50));
        assert!(sender_must_wake(30, 50, 50), "a full batch");
        assert!(sender_must_wake(49, 80, 50));
        assert!(!sender_must_wake(50, 80, 50), "already woken for this batch's worth");
        assert!(sender_must_wake(80, 100, 50), "another full batch, while the first may be in flight");
    }
}
