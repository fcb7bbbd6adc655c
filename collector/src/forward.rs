//! Sidecar mode: receive locally exactly as the server does, then batch documents and forward
//! them to a central Fluoro with `PutTraceSegments`.
//!
//! - A batch leaves when it holds [`ForwardConfig::batch_documents`] documents (50, as the X-Ray
//!   daemon sends) or when its oldest document has waited [`ForwardConfig::batch_interval`] (1 s).
//! - Documents wait in one bounded buffer. While the central collector is unreachable or
//!   answers 5xx, the same batch is retried with exponential backoff and nothing is removed;
//!   when the buffer is full the OLDEST documents are dropped and counted
//!   (`dropped{source="forward",reason="buffer_full"}`), so a long outage keeps the latest data.
//! - Documents the central collector refuses (`UnprocessedTraceSegments`) are counted as
//!   rejected and not retried: they would be refused again.
//! - Sampling calls from the SDKs (`GetSamplingRules`, `SamplingTargets`) are proxied to the
//!   central collector, so one rule set steers every sidecar.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::counters::{Counters, DropReason, RejectReason, Source};
use crate::error::SinkError;
use crate::sink::{SpanBatch, SpanSink};

/// How a sidecar forwards.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// The central Fluoro's HTTP API, e.g. `http://fluoro.internal:2020`.
    pub central: String,
    pub batch_documents: usize,
    pub batch_interval: Duration,
    /// Documents held while the central collector is unreachable.
    pub buffer_documents: usize,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

impl ForwardConfig {
    pub fn new(central: impl Into<String>) -> Self {
        ForwardConfig {
            central: central.into().trim_end_matches('/').to_owned(),
            batch_documents: 50,
            batch_interval: Duration::from_secs(1),
            buffer_documents: 100_000,
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// The sink side: keeps documents in the bounded buffer for the sender task.
#[derive(Debug, Clone)]
pub struct ForwardSink {
    shared: Arc<Shared>,
}

/// The sender task; [`Forwarder::shutdown`] flushes what it can and stops.
#[derive(Debug)]
pub struct Forwarder {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    config: ForwardConfig,
    counters: Arc<Counters>,
    buffer: Mutex<Buffer>,
    arrived: Notify,
}

/// Documents in arrival order, each with a sequence number, so that a delivered batch is
/// removed exactly even if overflow dropped some of it meanwhile.
#[derive(Debug, Default)]
struct Buffer {
    documents: VecDeque<(u64, String)>,
    next_sequence: u64,
}

impl Buffer {
    fn len(&self) -> usize {
        self.documents.len()
    }
}

impl Forwarder {
    /// Starts the sender task on the current tokio runtime.
    pub fn start(config: ForwardConfig, counters: Arc<Counters>) -> (ForwardSink, Forwarder) {
        let shared =
            Arc::new(Shared { config, counters, buffer: Mutex::new(Buffer::default()), arrived: Notify::new() });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(send_loop(shared.clone(), stopped));
        (ForwardSink { shared: shared.clone() }, Forwarder { shared, stop, task })
    }

    /// Documents waiting to be forwarded.
    pub fn buffered(&self) -> usize {
        self.shared.buffer.lock().len()
    }

    /// Stops after one last attempt to deliver what is buffered (bounded by `grace`).
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

impl SpanSink for ForwardSink {
    fn write(&self, batch: SpanBatch) -> Result<(), SinkError> {
        let documents: Vec<String> =
            batch.entities.iter().filter_map(|entity| serde_json::to_string(entity).ok()).collect();
        let count = documents.len() as u64;
        let overflow = {
            let mut buffer = self.shared.buffer.lock();
            for document in documents {
                let sequence = buffer.next_sequence;
                buffer.next_sequence += 1;
                buffer.documents.push_back((sequence, document));
            }
            let overflow = buffer.len().saturating_sub(self.shared.config.buffer_documents);
            buffer.documents.drain(..overflow);
            overflow
        };
        let counters = &self.shared.counters;
        counters.add_received(Source::Forward, count);
        if overflow > 0 {
            counters.add_dropped(Source::Forward, DropReason::BufferFull, overflow as u64);
        }
        self.shared.arrived.notify_one();
        Ok(())
    }
}

async fn send_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let client = reqwest::Client::builder().timeout(shared.config.request_timeout).build().unwrap_or_default();
    let url = format!("{}/TraceSegments", shared.config.central);
    let mut backoff = Duration::ZERO;
    loop {
        let stopping = *stopped.borrow();
        if !stopping {
            wait_for_batch(&shared, &mut stopped).await;
        }
        let (batch, last_sequence) = peek_batch(&shared);
        if batch.is_empty() {
            if stopping || *stopped.borrow() {
                return;
            }
            continue;
        }
        match send_batch(&client, &url, &batch).await {
            Ok(refused) => {
                backoff = Duration::ZERO;
                remove_sent(&shared, last_sequence, batch.len(), refused);
            }
            Err(error) => {
                if stopping {
                    tracing::warn!(buffered = shared.buffer.lock().len(), error = %error, "stopping with undelivered documents");
                    return;
                }
                backoff = next_backoff(backoff, shared.config.max_backoff);
                tracing::warn!(central = %shared.config.central, error = %error, retry_in = ?backoff, "failed to forward");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }
}

/// Waits until a full batch is buffered, or the oldest document has waited the interval.
async fn wait_for_batch(shared: &Shared, stopped: &mut watch::Receiver<bool>) {
    let deadline = tokio::time::Instant::now() + shared.config.batch_interval;
    loop {
        let buffered = shared.buffer.lock().len();
        if buffered >= shared.config.batch_documents {
            return;
        }
        let arrived = shared.arrived.notified();
        if buffered == 0 {
            // Nothing waits: the interval starts with the first document.
            tokio::select! {
                _ = arrived => {}
                _ = stopped.changed() => return,
            }
            continue;
        }
        tokio::select! {
            _ = arrived => {}
            _ = tokio::time::sleep_until(deadline) => return,
            _ = stopped.changed() => return,
        }
    }
}

/// The oldest documents, up to one batch, and the sequence number of the last one.
fn peek_batch(shared: &Shared) -> (Vec<String>, u64) {
    let buffer = shared.buffer.lock();
    let batch: Vec<_> = buffer.documents.iter().take(shared.config.batch_documents).collect();
    let last_sequence = batch.last().map(|(sequence, _)| *sequence).unwrap_or_default();
    (batch.into_iter().map(|(_, document)| document.clone()).collect(), last_sequence)
}

/// Removes a delivered batch: everything up to its last sequence number that is still there.
fn remove_sent(shared: &Shared, last_sequence: u64, sent: usize, refused: usize) {
    let mut buffer = shared.buffer.lock();
    while buffer.documents.front().is_some_and(|(sequence, _)| *sequence <= last_sequence) {
        buffer.documents.pop_front();
    }
    drop(buffer);
    let counters = &shared.counters;
    counters.add_accepted(Source::Forward, (sent - refused) as u64);
    counters.add_rejected(Source::Forward, RejectReason::Invalid, refused as u64);
}

fn next_backoff(current: Duration, max: Duration) -> Duration {
    (current * 2).max(Duration::from_millis(100)).min(max)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTraceSegmentsResponse {
    #[serde(default)]
    unprocessed_trace_segments: Vec<serde_json::Value>,
}

/// Sends one batch; returns how many documents the central collector refused.
async fn send_batch(client: &reqwest::Client, url: &str, batch: &[String]) -> Result<usize, String> {
    let body = serde_json::json!({ "TraceSegmentDocuments": batch });
    let response = client.post(url).json(&body).send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("central collector answered {status}"));
    }
    let parsed: PutTraceSegmentsResponse = response.json().await.map_err(|error| error.to_string())?;
    Ok(parsed.unprocessed_trace_segments.len())
}

/// Proxies every `POST` (the SDKs' sampling calls) to the central collector's API.
pub fn sampling_proxy_router(central: &str) -> axum::Router {
    let proxy = Arc::new(SamplingProxy {
        central: central.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
    });
    axum::Router::new().fallback(proxy_request).layer(DefaultBodyLimit::max(1024 * 1024)).with_state(proxy)
}

#[derive(Debug)]
struct SamplingProxy {
    central: String,
    client: reqwest::Client,
}

async fn proxy_request(State(proxy): State<Arc<SamplingProxy>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let url = format!("{}{}", proxy.central, uri.path());
    let mut request = proxy.client.post(url).body(body);
    if let Some(content_type) = headers.get(axum::http::header::CONTENT_TYPE) {
        request = request.header(axum::http::header::CONTENT_TYPE, content_type.as_bytes());
    }
    match request.send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
            let body = response.bytes().await.unwrap_or_default();
            let mut out = (status, body).into_response();
            if let Some(value) = content_type.and_then(|v| axum::http::HeaderValue::from_bytes(&v).ok()) {
                out.headers_mut().insert(axum::http::header::CONTENT_TYPE, value);
            }
            out
        }
        Err(error) => {
            let body = serde_json::json!({"__type": "ServiceUnavailableException", "message": format!("central collector unreachable: {error}")});
            (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
        }
    }
}
