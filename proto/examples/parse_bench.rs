//! `parse_document` against plain `serde_json::from_slice::<Value>` of the same bytes, in one run:
//! the 37 Python SDK captures and the `udp_ingest` document (segment + 3 subsegments).
//! A ratio above 1 means parse + validate is cheaper than building a `Value`. Times are on-CPU
//! time of the thread (Linux only), each stage's best of 10 alternating rounds.
//!
//! The `udp_ingest` document runs first on purpose: run after the captures, the `Value` baseline
//! gets ~15% faster on it (the allocator is left with free blocks of the sizes it needs), which
//! moves its ratio from ~1.15 to ~1.0 without any change in the parser.
//!
//! `cargo run --release -p fluoro-proto --example parse_bench -- [seconds per stage]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

const CAPTURES: &str = include_str!("../tests/fixtures/xray-python-sdk/documents.jsonl");
const UDP_INGEST: &str = r#"{"name":"checkout-api","id":"70de5b6f19ff9a0a","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1465510000.125,"end_time":1465510000.305,"origin":"AWS::ECS::Container","http":{"request":{"method":"POST","url":"https://checkout.example.com/api/orders","client_ip":"10.0.12.34","user_agent":"okhttp/4.12.0"},"response":{"status":200,"content_length":1234}},"annotations":{"customer_tier":"gold","order_items":3},"aws":{"ecs":{"container":"checkout-7d9f"}},"subsegments":[{"id":"53995c3f42cd8ad8","name":"DynamoDB","namespace":"aws","start_time":1465510000.135,"end_time":1465510000.167,"aws":{"operation":"PutItem","table_name":"orders","region":"us-east-1","request_id":"UBQNSO5AEM8T4FDA4RQDEB94OVTDRVV4K4HIRGVJF66Q9ASUAAJG","retries":0},"http":{"response":{"status":200,"content_length":2}}},{"id":"6b55dcc497934f1a","name":"payments.example.com","namespace":"remote","start_time":1465510000.175,"end_time":1465510000.285,"http":{"request":{"method":"POST","url":"https://payments.example.com/charge"},"response":{"status":201,"content_length":87}}},{"id":"1c9b3d1e0f5a7c2b","name":"render-receipt","start_time":1465510000.287,"end_time":1465510000.3,"metadata":{"default":{"template":"receipt-v2"}}}]}"#;

fn main() {
    let seconds: f64 = std::env::args().nth(1).map_or(1.0, |s| s.parse().expect("seconds"));
    let captures: Vec<&[u8]> = CAPTURES.lines().filter(|l| !l.trim().is_empty()).map(str::as_bytes).collect();
    compare("udp_ingest document", &[UDP_INGEST.as_bytes()], seconds);
    compare("python sdk captures (37 documents)", &captures, seconds);
}

fn compare(label: &str, documents: &[&[u8]], seconds: f64) {
    for document in documents {
        fluoro_proto::parse_document(document).expect("a valid document");
    }
    // Alternate the stages so drift in machine load hits both alike, and keep each stage's best
    // round: other processes on a small VM only ever add time.
    let (mut value_us, mut parse_us) = (f64::MAX, f64::MAX);
    let rounds = 10;
    let round_seconds = seconds / f64::from(rounds);
    for _ in 0..rounds {
        let value = micros_per_document(documents, round_seconds, |bytes| {
            black_box(serde_json::from_slice::<serde_json::Value>(bytes).unwrap());
        });
        let parse = micros_per_document(documents, round_seconds, |bytes| {
            black_box(fluoro_proto::parse_document(bytes).unwrap());
        });
        value_us = value_us.min(value);
        parse_us = parse_us.min(parse);
    }
    println!(
        "{label}: Value {value_us:.2} µs/doc, parse + validate {parse_us:.2} µs/doc, ratio {:.2}",
        value_us / parse_us
    );
}

/// On-CPU µs per document: other processes on a small, busy VM would otherwise inflate wall
/// time for whichever stage they happen to overlap.
fn micros_per_document(documents: &[&[u8]], seconds: f64, mut stage: impl FnMut(&[u8])) -> f64 {
    // Read the clocks once per 64 documents or more: on a VM that can be a system call.
    let batch = 64usize.div_ceil(documents.len());
    let started = Instant::now();
    let cpu_started = thread_cpu_ns();
    let mut done = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..batch {
            for document in documents {
                stage(document);
            }
        }
        done += (batch * documents.len()) as u64;
    }
    (thread_cpu_ns() - cpu_started) as f64 / 1e3 / done as f64
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`, first field).
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux /proc");
    stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).expect("schedstat: on-CPU ns")
}
