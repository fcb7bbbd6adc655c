//! Which collector a document goes to: rendezvous (highest random weight) hashing of its trace
//! id over the collectors' URLs, so every sidecar sends a trace to the same collector without
//! talking to the others, and adding or removing a collector moves only its share of traces.
//!
//! - The trace id is read from the raw bytes (the first `"trace_id":"…"`), not by parsing: the
//!   relay does not parse (`forward.rs`). A document without one goes where the empty id goes.
//! - A trace goes to the first collector in its order that answers; when none does, to the
//!   first, whose buffer keeps it until it comes back.
//! - When a collector fails, the documents it holds move to the next collector in their
//!   trace's order ([`Ring::hand_over`]); when it answers again, new documents of its traces
//!   come back to it. A trace that spans the failure has documents on both collectors: the
//!   query side merges them by the store's replace rule.
//! - The hash is FNV-1a with a 64-bit finaliser, written out here so that every sidecar,
//!   whatever its Rust version, orders the collectors the same way.

use std::sync::Arc;

use bytes::Bytes;

use super::{push, Shared};
use crate::counters::Counters;

/// The collectors a sidecar forwards to, in the order they were given.
#[derive(Debug)]
pub(super) struct Ring {
    targets: Vec<Shared>,
    counters: Arc<Counters>,
    /// Each collector's URL hashed once: the seed of its score for a trace id.
    seeds: Vec<u64>,
}

impl Ring {
    pub(super) fn new(targets: Vec<Shared>, counters: Arc<Counters>) -> Ring {
        let seeds = targets.iter().map(|target| fnv1a(FNV_OFFSET, target.central.as_bytes())).collect();
        Ring { targets, counters, seeds }
    }

    pub(super) fn len(&self) -> usize {
        self.targets.len()
    }

    pub(super) fn targets(&self) -> &[Shared] {
        &self.targets
    }

    pub(super) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The documents grouped by the collector each goes to (none without collectors).
    pub(super) fn route(&self, documents: Vec<Bytes>) -> Vec<(usize, Vec<Bytes>)> {
        match self.targets.len() {
            0 => return Vec::new(),
            1 => return vec![(0, documents)], // one collector: no trace id to look for
            _ => {}
        }
        let mut groups: Vec<Vec<Bytes>> = vec![Vec::new(); self.targets.len()];
        for document in documents {
            groups[self.target_of(&document)].push(document);
        }
        groups.into_iter().enumerate().filter(|(_, group)| !group.is_empty()).collect()
    }

    /// The collector a document goes to now: the first in its trace's order that answers.
    pub(super) fn target_of(&self, document: &[u8]) -> usize {
        let order = self.order(trace_id(document));
        order.iter().copied().find(|&index| self.targets[index].is_healthy()).unwrap_or(order[0])
    }

    /// The collectors by descending score for `trace_id`.
    fn order(&self, trace_id: &[u8]) -> Vec<usize> {
        let mut scored: Vec<(u64, usize)> =
            self.seeds.iter().enumerate().map(|(index, &seed)| (mix(fnv1a(seed, trace_id)), index)).collect();
        scored.sort_unstable_by(|a, b| b.cmp(a));
        scored.into_iter().map(|(_, index)| index).collect()
    }

    /// Moves the documents collector `failed` holds to the collectors that take their traces
    /// now. Called by its sender with no request in flight, so none of them is being sent;
    /// those whose traces have nowhere better to go (every collector is down) stay.
    pub(super) fn hand_over(&self, failed: usize) -> usize {
        if self.targets.len() == 1 {
            return 0;
        }
        let mut moving: Vec<Vec<Bytes>> = vec![Vec::new(); self.targets.len()];
        {
            let mut buffer = self.targets[failed].buffer.lock();
            let held = std::mem::take(&mut buffer.documents);
            for (sequence, document) in held {
                let target = self.target_of(&document);
                if target == failed || !self.targets[target].is_healthy() {
                    buffer.documents.push_back((sequence, document));
                } else {
                    moving[target].push(document);
                }
            }
        }
        let mut moved = 0;
        for (target, documents) in moving.into_iter().enumerate() {
            moved += documents.len();
            push(&self.targets[target], documents);
        }
        moved
    }
}

/// The value of the first `"trace_id"` key, or nothing.
fn trace_id(document: &[u8]) -> &[u8] {
    const KEY: &[u8] = br#""trace_id""#;
    let Some(at) = document.windows(KEY.len()).position(|window| window == KEY) else {
        return &[];
    };
    let rest = skip_whitespace(&document[at + KEY.len()..]);
    let Some(rest) = rest.strip_prefix(b":") else { return &[] };
    let Some(value) = skip_whitespace(rest).strip_prefix(b"\"") else { return &[] };
    let end = value.iter().position(|&byte| byte == b'"').unwrap_or(value.len());
    &value[..end]
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|byte| !byte.is_ascii_whitespace()).unwrap_or(bytes.len());
    &bytes[start..]
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME))
}

/// SplitMix64's finaliser: FNV alone leaves scores of similar ids too close together.
fn mix(mut hash: u64) -> u64 {
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Source;
    use crate::forward::{ForwardConfig, Forwarder};
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// A collector stub that records the documents it acknowledges, or answers 503 while
    /// `failing`.
    #[derive(Clone)]
    struct Stub {
        url: String,
        received: Arc<parking_lot::Mutex<Vec<serde_json::Value>>>,
        failing: Arc<AtomicBool>,
    }

    async fn stub() -> Stub {
        let received = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (store, fail) = (received.clone(), failing.clone());
        let handler = move |body: String| {
            let (store, fail) = (store.clone(), fail.clone());
            async move {
                if fail.load(Ordering::SeqCst) {
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new());
                }
                let request: serde_json::Value = serde_json::from_str(&body).unwrap();
                for document in request["TraceSegmentDocuments"].as_array().unwrap() {
                    store.lock().push(serde_json::from_str(document.as_str().unwrap()).unwrap());
                }
                (axum::http::StatusCode::OK, r#"{"UnprocessedTraceSegments":[]}"#.to_string())
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/TraceSegments", axum::routing::post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { url, received, failing }
    }

    /// Three documents for each of `traces` trace ids, numbered from `first`.
    fn traces(first: usize, traces: usize) -> Vec<Bytes> {
        (first..first + traces)
            .flat_map(|trace| {
                (0..3).map(move |part| {
                    Bytes::from(format!(r#"{{"id":"{trace:08x}{part:08x}","trace_id":"1-00000000-{trace:024x}"}}"#))
                })
            })
            .collect()
    }

    async fn wait_for_accepted(counters: &Counters, expected: u64) {
        for _ in 0..400 {
            if counters.accepted(Source::Forward) >= expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("only {} of {expected} documents acknowledged", counters.accepted(Source::Forward));
    }

    /// Trace id → the stubs that received any of its documents, over documents with ids in `ids`.
    fn holders(stubs: &[&Stub], ids: &HashSet<String>) -> HashMap<String, HashSet<usize>> {
        let mut holders: HashMap<String, HashSet<usize>> = HashMap::new();
        for (index, stub) in stubs.iter().enumerate() {
            for document in stub.received.lock().iter().filter(|d| ids.contains(d["id"].as_str().unwrap())) {
                holders.entry(document["trace_id"].as_str().unwrap().to_string()).or_default().insert(index);
            }
        }
        holders
    }

    fn ids(documents: &[Bytes]) -> HashSet<String> {
        documents
            .iter()
            .map(|d| serde_json::from_slice::<serde_json::Value>(d).unwrap()["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn each_trace_goes_to_one_collector_moves_when_it_fails_and_comes_back() {
        let (a, b) = (stub().await, stub().await);
        let config = ForwardConfig {
            batch_interval: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..ForwardConfig::to_collectors(vec![a.url.clone(), b.url.clone()])
        };
        let counters = Arc::new(Counters::new());
        let (sink, forwarder) = Forwarder::start(config, counters.clone());

        let before = traces(0, 40);
        sink.relay(Source::Udp, before.clone());
        wait_for_accepted(&counters, 120).await;
        let split = holders(&[&a, &b], &ids(&before));
        assert_eq!(split.len(), 40);
        assert!(split.values().all(|held| held.len() == 1), "a trace was split: {split:?}");
        let on_a = split.values().filter(|held| held.contains(&0)).count();
        assert!((5..=35).contains(&on_a), "{on_a} of 40 traces on the first collector");

        a.failing.store(true, Ordering::SeqCst);
        let during = traces(100, 40);
        sink.relay(Source::Udp, during.clone());
        wait_for_accepted(&counters, 240).await;
        let during_split = holders(&[&a, &b], &ids(&during));
        assert_eq!(during_split.len(), 40, "every trace sent during the failure arrived");
        assert!(during_split.values().all(|held| held == &HashSet::from([1])), "{during_split:?}");

        a.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(600)).await; // a probe finds it answering
        let after = traces(0, 40); // the first round's trace ids again, new documents
        let after: Vec<Bytes> = after
            .iter()
            .map(|d| Bytes::from(String::from_utf8_lossy(d).replace(r#"{"id":""#, r#"{"id":"f"#)))
            .collect();
        sink.relay(Source::Udp, after.clone());
        wait_for_accepted(&counters, 360).await;
        let after_split = holders(&[&a, &b], &ids(&after));
        assert_eq!(after_split, split, "back on the collector each trace had before the failure");

        let total = a.received.lock().len() + b.received.lock().len();
        assert_eq!(total, 360, "nothing lost or sent twice");
        forwarder.shutdown(Duration::from_secs(5)).await;
    }

    #[test]
    fn the_trace_id_is_read_from_the_raw_document() {
        assert_eq!(trace_id(br#"{"id":"a","trace_id" : "1-5f-ab","x":1}"#), b"1-5f-ab");
        assert_eq!(trace_id(br#"{"id":"a"}"#), b"");
        assert_eq!(trace_id(br#"{"trace_id":12}"#), b"");
        assert_eq!(trace_id(br#"{"trace_id":"unterminated"#), b"unterminated");
    }

    #[test]
    fn the_score_is_stable_across_builds() {
        // Sidecars of different versions must agree: these values are FNV-1a + SplitMix64.
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(mix(1), 0x5692_161d_100b_05e5);
    }
}
