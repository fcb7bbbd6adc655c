//! The sender task: takes batches from the buffer, posts them as `PutTraceSegments`, and counts
//! the central collector's answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::watch;

use super::Shared;
use crate::counters::{RejectReason, Source};
use crate::xray_api::MAX_REQUEST_BODY_BYTES;

/// The largest request body a sidecar sends: half the central collector's limit, so a batch
/// always fits however its documents escape (a document alone is at most 64 KiB × 6).
pub const MAX_FORWARD_BODY_BYTES: usize = MAX_REQUEST_BODY_BYTES / 2;

const BODY_PREFIX: &[u8] = br#"{"TraceSegmentDocuments":["#;
const BODY_SUFFIX: &[u8] = b"]}";

pub(super) async fn send_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let client = reqwest::Client::builder().timeout(shared.config.request_timeout).build().unwrap_or_default();
    let url = format!("{}/TraceSegments", shared.config.central);
    let mut backoff = Duration::ZERO;
    loop {
        let stopping = *stopped.borrow();
        if !stopping {
            wait_for_batch(&shared, &mut stopped).await;
        }
        let Some(batch) = next_batch(&shared) else {
            if stopping || *stopped.borrow() {
                return;
            }
            continue;
        };
        match send_batch(&client, &url, batch.body).await {
            Ok(refused) => {
                backoff = Duration::ZERO;
                remove_sent(&shared, batch.last_sequence, batch.documents, &refused);
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

/// One request's worth of the oldest documents, still in the buffer until acknowledged.
#[derive(Debug)]
struct Batch {
    body: Vec<u8>,
    documents: usize,
    last_sequence: u64,
}

/// The oldest documents, up to one batch, as a request body. The lock is held only to clone
/// the handles; escaping happens outside it, so receivers are not kept waiting.
fn next_batch(shared: &Shared) -> Option<Batch> {
    let oldest: Vec<(u64, Bytes)> =
        shared.buffer.lock().documents.iter().take(shared.config.batch_documents).cloned().collect();
    let documents: Vec<&[u8]> = oldest.iter().map(|(_, document)| document.as_ref()).collect();
    let (body, included) = request_body(&documents, MAX_FORWARD_BODY_BYTES);
    let last_sequence = oldest.get(included.checked_sub(1)?)?.0;
    Some(Batch { body, documents: included, last_sequence })
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

/// Removes a delivered batch (everything up to its last sequence number that is still there)
/// and counts the central collector's answer.
fn remove_sent(shared: &Shared, last_sequence: u64, sent: usize, refused: &[RejectReason]) {
    let mut buffer = shared.buffer.lock();
    while buffer.documents.front().is_some_and(|(sequence, _)| *sequence <= last_sequence) {
        buffer.documents.pop_front();
    }
    drop(buffer);
    let counters = &shared.counters;
    counters.add_accepted(Source::Forward, sent.saturating_sub(refused.len()) as u64);
    for &reason in refused {
        counters.add_rejected(Source::Forward, reason, 1);
    }
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
        _ => RejectReason::Invalid,
    }
}

/// Sends one batch; returns why each refused document was refused.
async fn send_batch(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<Vec<RejectReason>, String> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("central collector answered {status}"));
    }
    let parsed: PutTraceSegmentsResponse = response.json().await.map_err(|error| error.to_string())?;
    Ok(parsed.unprocessed_trace_segments.iter().map(|refused| reject_reason(refused.error_code.as_deref())).collect())
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
    fn error_codes_map_to_reject_reasons() {
        assert_eq!(reject_reason(Some("MalformedJson")), RejectReason::BadJson);
        assert_eq!(reject_reason(Some("DocumentTooLarge")), RejectReason::TooLarge);
        assert_eq!(reject_reason(Some("InvalidSegment")), RejectReason::Invalid);
        assert_eq!(reject_reason(None), RejectReason::Invalid);
    }
}
