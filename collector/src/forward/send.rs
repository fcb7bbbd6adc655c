//! The sender task: takes batches from the buffer, posts them as `PutTraceSegments`, and counts
//! the central collector's answer.
//!
//! - Up to [`ForwardConfig::concurrent_requests`](super::ForwardConfig) requests are in flight
//!   (the X-Ray daemon's `Concurrency`): one at a time, a round trip per 50 documents limited
//!   the relay to ~3,400 requests/s on a loaded 2-core machine (`BENCHMARKS.md`).
//! - A document stays in the buffer until its request is acknowledged, so the buffer bound and
//!   oldest-first dropping cover documents in flight too.
//! - When a request fails, nothing new is sent until the others finish; then everything still
//!   buffered is sent again from the oldest, one request at a time with backoff, until one
//!   succeeds. A batch is thus never sent twice at once, and none is skipped.
//! - The answer is classified by [`Answer::of_status`]: a 5xx, 429 or 408, or no answer at all,
//!   is transient and the batch is retried. Any other 4xx says this request will never be
//!   accepted (a body the central collector refuses, 413, 404 from a wrong URL path); retrying
//!   it would block every later batch while the buffer fills and drops, so its documents are
//!   counted as `dropped{source="forward",reason="refused"}`, logged once, and the next batch
//!   goes.
//! - With several collectors, a failure also marks this one unhealthy and hands what it holds
//!   to the collectors that take its traces now (`route.rs`); while it holds nothing, an empty
//!   request probes it after each backoff, and an answer marks it healthy again.
//! - With [`ForwardConfig::credentials`](super::ForwardConfig) set, each request is signed
//!   with SigV4 when it is sent (a retry gets a fresh date), for a central Fluoro that asks.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::route::Ring;
use super::Shared;
use crate::counters::{DropReason, RejectReason, Source};
use crate::sigv4::{sign_request, AwsCredentials};
use crate::xray_api::MAX_REQUEST_BODY_BYTES;

/// The largest request body a sidecar sends: half the central collector's limit, so a batch
/// always fits however its documents escape (a document alone is at most 64 KiB × 6).
pub const MAX_FORWARD_BODY_BYTES: usize = MAX_REQUEST_BODY_BYTES / 2;

const BODY_PREFIX: &[u8] = br#"{"TraceSegmentDocuments":["#;
const BODY_SUFFIX: &[u8] = b"]}";

/// What the sender keeps between wake-ups.
struct SendState {
    client: reqwest::Client,
    url: Arc<str>,
    requests: JoinSet<Outcome>,
    /// The lowest sequence number not sent yet: documents stay in the buffer until
    /// acknowledged, and those in flight lie below it.
    frontier: u64,
    /// Set when a request fails: nothing new is sent until the ones in flight are done, then
    /// everything still buffered is sent again from the oldest, one request at a time.
    failure: Option<String>,
    backoff: Duration,
    /// When the oldest unsent document was first seen, for the batch interval.
    unsent_since: Option<Instant>,
}

/// A finished request: the sequence numbers it carried and the central collector's answer.
struct Outcome {
    first_sequence: u64,
    last_sequence: u64,
    documents: usize,
    answer: Answer,
}

/// What the central collector made of one request.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Taken: why each refused document was refused (`UnprocessedTraceSegments`).
    Acknowledged(Vec<RejectReason>),
    /// A 4xx that sending again cannot change: the whole batch is given up.
    Refused { status: reqwest::StatusCode, body_start: String },
    /// No answer, or one that may differ next time: the batch is sent again.
    Failed(String),
}

/// How much of a refusal's body is logged: enough for an error message, not a whole page.
const LOGGED_BODY_CHARS: usize = 200;

impl Answer {
    /// The answer a non-2xx status stands for. 408 and 429 are the 4xx that ask the client to
    /// come back later; 5xx and anything else unexpected (a 3xx not followed) are treated as
    /// transient, as every failure was before refusals were told apart.
    fn of_status(status: reqwest::StatusCode, body: &str) -> Answer {
        let retry_later =
            status == reqwest::StatusCode::REQUEST_TIMEOUT || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        if status.is_client_error() && !retry_later {
            let body_start = body.chars().take(LOGGED_BODY_CHARS).collect();
            return Answer::Refused { status, body_start };
        }
        Answer::Failed(format!("central collector answered {status}"))
    }
}

pub(super) async fn send_loop(ring: Arc<Ring>, index: usize, mut stopped: watch::Receiver<bool>) {
    let shared = &ring.targets()[index];
    let mut state = SendState {
        client: reqwest::Client::builder().timeout(shared.config.request_timeout).build().unwrap_or_default(),
        url: format!("{}/TraceSegments", shared.central).into(),
        requests: JoinSet::new(),
        frontier: 0,
        failure: None,
        backoff: Duration::ZERO,
        unsent_since: None,
    };
    loop {
        let stopping = *stopped.borrow();
        if state.requests.is_empty() {
            if let Some(error) = state.failure.take() {
                if stopping {
                    tracing::warn!(buffered = shared.buffer.lock().len(), error = %error, "stopping with undelivered documents");
                    return;
                }
                shared.set_healthy(false);
                let moved = ring.hand_over(index);
                if moved > 0 {
                    tracing::warn!(central = %shared.central, documents = moved, "moved to the next collector");
                }
                back_off(shared, &mut state, &error, &mut stopped).await;
                continue;
            }
        }
        // After a failure, one request at a time until one succeeds.
        let limit = if state.backoff.is_zero() { shared.config.concurrent_requests.max(1) } else { 1 };
        let may_send = state.failure.is_none() && state.requests.len() < limit;
        if may_send {
            if let Some(batch) = ready_batch(shared, &mut state, stopping) {
                state.frontier = batch.last_sequence + 1;
                state.requests.spawn(send_batch(
                    state.client.clone(),
                    state.url.clone(),
                    shared.config.credentials.clone(),
                    batch,
                ));
                continue;
            }
            if !shared.is_healthy() && !stopping && state.requests.is_empty() {
                state.requests.spawn(send_batch(
                    state.client.clone(),
                    state.url.clone(),
                    shared.config.credentials.clone(),
                    Batch::probe(),
                ));
                continue;
            }
        }
        if stopping && state.requests.is_empty() {
            return;
        }
        let arrived = shared.arrived.notified();
        let interval_ends = state.unsent_since.map(|since| since + shared.config.batch_interval);
        tokio::select! {
            Some(done) = state.requests.join_next(), if !state.requests.is_empty() => finish(shared, &mut state, done),
            _ = arrived, if may_send => {}
            _ = sleep_until_some(interval_ends), if may_send && interval_ends.is_some() => {}
            changed = stopped.changed(), if !stopping => {
                if changed.is_err() {
                    return; // the Forwarder is gone without a shutdown: nobody waits for a flush
                }
            }
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Waits out the backoff after the requests in flight have finished, then starts again from
/// the oldest buffered document.
async fn back_off(shared: &Shared, state: &mut SendState, error: &str, stopped: &mut watch::Receiver<bool>) {
    state.frontier = 0;
    state.backoff = next_backoff(state.backoff, shared.config.max_backoff);
    tracing::warn!(central = %shared.central, error = %error, retry_in = ?state.backoff, "failed to forward");
    tokio::select! {
        _ = tokio::time::sleep(state.backoff) => {}
        _ = stopped.changed() => {}
    }
}

fn finish(shared: &Shared, state: &mut SendState, done: Result<Outcome, tokio::task::JoinError>) {
    let outcome = match done {
        Ok(outcome) => outcome,
        Err(error) => {
            state.failure = Some(error.to_string());
            return;
        }
    };
    let sequences = outcome.first_sequence..=outcome.last_sequence;
    if !matches!(outcome.answer, Answer::Failed(_)) {
        // The collector is there and answering: no reason to keep backing off.
        state.backoff = Duration::ZERO;
        shared.set_healthy(true);
    }
    match outcome.answer {
        Answer::Failed(error) => state.failure = Some(error),
        // A probe carried nothing to remove or count.
        _ if outcome.documents == 0 => {}
        Answer::Acknowledged(refused) => remove_sent(shared, sequences, &refused),
        Answer::Refused { status, body_start } => {
            tracing::warn!(
                central = %shared.central,
                status = %status,
                body = %body_start,
                documents = outcome.documents,
                "central collector refused a batch, dropping it"
            );
            remove_refused(shared, sequences);
        }
    }
}

/// One request's worth of the oldest unsent documents, if a batch is due: it is full, the
/// oldest has waited the interval, or the sender is stopping.
fn ready_batch(shared: &Shared, state: &mut SendState, stopping: bool) -> Option<Batch> {
    let unsent: Vec<(u64, Bytes)> = {
        let buffer = shared.buffer.lock();
        let first_unsent = buffer.documents.partition_point(|(sequence, _)| *sequence < state.frontier);
        let unsent = buffer.len() - first_unsent;
        if unsent == 0 {
            state.unsent_since = None;
            return None;
        }
        let since = *state.unsent_since.get_or_insert_with(Instant::now);
        let due =
            unsent >= shared.config.batch_documents || stopping || since.elapsed() >= shared.config.batch_interval;
        if !due {
            return None;
        }
        // Cloning the handles only: escaping happens outside the lock.
        buffer.documents.range(first_unsent..).take(shared.config.batch_documents).cloned().collect()
    };
    state.unsent_since = None;
    let documents: Vec<&[u8]> = unsent.iter().map(|(_, document)| document.as_ref()).collect();
    let (body, included) = request_body(&documents, MAX_FORWARD_BODY_BYTES);
    let first_sequence = unsent.first()?.0;
    let last_sequence = unsent.get(included.checked_sub(1)?)?.0;
    Some(Batch { body, documents: included, first_sequence, last_sequence })
}

/// One request's worth of the oldest unsent documents, still in the buffer until acknowledged.
#[derive(Debug)]
struct Batch {
    body: Vec<u8>,
    documents: usize,
    first_sequence: u64,
    last_sequence: u64,
}

impl Batch {
    /// An empty request, to learn whether a collector that failed answers again.
    fn probe() -> Batch {
        let (body, _) = request_body(&[], MAX_FORWARD_BODY_BYTES);
        Batch { body, documents: 0, first_sequence: 0, last_sequence: 0 }
    }
}

/// `{"TraceSegmentDocuments":[…]}` with each document as a JSON string, as many as fit in
/// `max_bytes` (at least one); returns the body and how many documents it holds.
fn request_body(documents: &[&[u8]], max_bytes: usize) -> (Vec<u8>, usize) {
    let mut body = Vec::with_capacity(documents.iter().map(|document| document.len() + 8).sum::<usize>() + 32);
    body.extend_from_slice(BODY_PREFIX);
    let mut included = 0;
    for document in documents {
        let before = body.len();
        if included > 0 {
            body.push(b',');
        }
        push_json_string(&mut body, document);
        if included > 0 && body.len() + BODY_SUFFIX.len() > max_bytes {
            body.truncate(before);
            break;
        }
        included += 1;
    }
    body.extend_from_slice(BODY_SUFFIX);
    (body, included)
}

/// Appends `text`, which is UTF-8 (checked on receipt), as a JSON string. Only `"`, `\` and
/// control characters need escaping, and no byte of a multi-byte UTF-8 character is one of
/// them, so everything else is copied as it is. Working on bytes spares checking the UTF-8
/// again to get a `&str` for `serde_json`, which cost as much as the escaping itself (`perf`).
fn push_json_string(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut copied = 0;
    for (at, &byte) in text.iter().enumerate() {
        if byte != b'"' && byte != b'\\' && byte >= 0x20 {
            continue;
        }
        out.extend_from_slice(&text[copied..at]);
        match byte {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
            control => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(control >> 4)],
                HEX[usize::from(control & 0xf)],
            ]),
        }
        copied = at + 1;
    }
    out.extend_from_slice(&text[copied..]);
    out.push(b'"');
}

/// Removes a delivered batch and counts the central collector's answer for the documents
/// still buffered: those that overflow dropped while the request was in flight are already
/// counted as `dropped{reason="buffer_full"}`, and a document is counted once.
fn remove_sent(shared: &Shared, sequences: RangeInclusive<u64>, refused: &[RejectReason]) {
    let present = remove_batch(shared, sequences);
    // `UnprocessedTraceSegments` names documents by id, not position, so which of the dropped
    // ones it refused is unknown; refusals are counted first, as they are the rarer, more
    // telling answer.
    let rejected = &refused[..refused.len().min(present)];
    let counters = &shared.counters;
    counters.add_accepted(Source::Forward, (present - rejected.len()) as u64);
    for &reason in rejected {
        counters.add_rejected(Source::Forward, reason, 1);
    }
}

/// Removes a batch the central collector will never accept and counts those of its documents
/// still buffered as dropped (overflow counted the others already).
fn remove_refused(shared: &Shared, sequences: RangeInclusive<u64>) {
    let present = remove_batch(shared, sequences);
    shared.counters.add_dropped(Source::Forward, DropReason::Refused, present as u64);
}

/// Removes those of a finished batch's documents still there, and returns how many that was:
/// overflow may have dropped some meanwhile.
fn remove_batch(shared: &Shared, sequences: RangeInclusive<u64>) -> usize {
    let mut buffer = shared.buffer.lock();
    let from = buffer.documents.partition_point(|(sequence, _)| sequence < sequences.start());
    let to = buffer.documents.partition_point(|(sequence, _)| sequence <= sequences.end());
    buffer.documents.drain(from..to);
    to - from
}

fn next_backoff(current: Duration, max: Duration) -> Duration {
    (current * 2).max(Duration::from_millis(100)).min(max)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTraceSegmentsResponse {
    #[serde(default)]
    unprocessed_trace_segments: Vec<UnprocessedTraceSegment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UnprocessedTraceSegment {
    #[serde(default)]
    error_code: Option<String>,
}

/// The reject reason an `ErrorCode` stands for (`xray_api.rs` maps them the other way); an
/// unknown or missing code is counted as `invalid`, the central collector's catch-all.
fn reject_reason(error_code: Option<&str>) -> RejectReason {
    match error_code {
        Some("MalformedJson") => RejectReason::BadJson,
        Some("DocumentTooLarge") => RejectReason::TooLarge,
        Some("TraceTooLarge") => RejectReason::TraceTooLarge,
        _ => RejectReason::Invalid,
    }
}

/// Sends one batch and reads the answer.
async fn send_batch(
    client: reqwest::Client,
    url: Arc<str>,
    credentials: Option<AwsCredentials>,
    batch: Batch,
) -> Outcome {
    let answer = post_documents(&client, &url, credentials.as_ref(), batch.body).await;
    Outcome {
        first_sequence: batch.first_sequence,
        last_sequence: batch.last_sequence,
        documents: batch.documents,
        answer,
    }
}

/// Posts one request body and classifies the answer.
async fn post_documents(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<&AwsCredentials>,
    body: Vec<u8>,
) -> Answer {
    let request = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
    let sent = sign_request(request, url, &body, credentials).body(body).send().await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => return Answer::Failed(error.to_string()),
    };
    let status = response.status();
    if !status.is_success() {
        // The body only explains the status; failing to read it changes nothing.
        let body = response.text().await.unwrap_or_default();
        return Answer::of_status(status, &body);
    }
    match response.json::<PutTraceSegmentsResponse>().await {
        Ok(parsed) => Answer::Acknowledged(
            parsed
                .unprocessed_trace_segments
                .iter()
                .map(|refused| reject_reason(refused.error_code.as_deref()))
                .collect(),
        ),
        Err(error) => Answer::Failed(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_travel_as_json_strings_that_read_back_byte_for_byte() {
        let documents: [&[u8]; 4] =
            [br#"{"id":"a"}"#, b"not json \"\\\x01\x1f\n", "\u{e9}\u{2028}\u{1f600}".as_bytes(), b""];
        let (body, included) = request_body(&documents, MAX_FORWARD_BODY_BYTES);
        assert_eq!(included, 4);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let strings: Vec<&str> =
            parsed["TraceSegmentDocuments"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert_eq!(strings.iter().map(|s| s.as_bytes()).collect::<Vec<_>>(), documents);
    }

    #[test]
    fn a_batch_is_cut_where_the_escaped_body_would_pass_the_limit() {
        let quotes = [b'"'; 100]; // escapes to 200 bytes
        let documents = [&quotes[..], &quotes[..], &quotes[..]];
        let (body, included) = request_body(&documents, 450);
        assert_eq!(included, 2);
        assert!(body.len() <= 450);
        let (_, included) = request_body(&documents[..1], 10);
        assert_eq!(included, 1, "one document always goes, or nothing would ever leave");
    }

    #[test]
    fn only_the_4xx_that_ask_to_come_back_later_are_retried() {
        use reqwest::StatusCode;
        for retried in [500, 502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(retried).unwrap();
            assert!(matches!(Answer::of_status(status, ""), Answer::Failed(_)), "{status} is retried");
        }
        for refused in [400, 401, 403, 404, 413, 422] {
            let status = StatusCode::from_u16(refused).unwrap();
            assert!(matches!(Answer::of_status(status, ""), Answer::Refused { .. }), "{status} is given up");
        }
    }

    #[test]
    fn a_refusal_keeps_only_the_start_of_its_body() {
        let body = "é".repeat(LOGGED_BODY_CHARS * 2);
        let Answer::Refused { body_start, .. } = Answer::of_status(reqwest::StatusCode::BAD_REQUEST, &body) else {
            panic!("400 is a refusal");
        };
        assert_eq!(body_start.chars().count(), LOGGED_BODY_CHARS);
    }

    #[test]
    fn error_codes_map_to_reject_reasons() {
        assert_eq!(reject_reason(Some("MalformedJson")), RejectReason::BadJson);
        assert_eq!(reject_reason(Some("DocumentTooLarge")), RejectReason::TooLarge);
        assert_eq!(reject_reason(Some("InvalidSegment")), RejectReason::Invalid);
        assert_eq!(reject_reason(None), RejectReason::Invalid);
    }
}
