//! The X-Ray API's limits from `[limits]` (`XrayApiLimits`), each answered over real HTTP with
//! a clear error naming the limit: smaller than the defaults here, so each test would pass
//! unchanged if the configured value were ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use fluoro_collector::{xray_api_router_with_limits, Counters, Ingest, MemorySink, XrayApiLimits};
use fluoro_proto::{Rules, TraceSource};
use serde_json::{json, Value};

const LIMITS: XrayApiLimits =
    XrayApiLimits { request_body_bytes: 64 * 1024, documents_per_request: 3, trace_ids_per_request: 3 };

async fn serve() -> SocketAddr {
    serve_with_rules(Rules::default()).await
}

async fn serve_with_rules(rules: Rules) -> SocketAddr {
    let sink = Arc::new(MemorySink::new(1000));
    let ingest = Ingest::new(sink.clone(), Arc::new(Counters::new())).with_rules(rules);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = xray_api_router_with_limits(ingest, sink as Arc<dyn TraceSource>, LIMITS);
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

async fn post(address: SocketAddr, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new().post(format!("http://{address}{path}")).body(body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn segment(id: u32) -> String {
    json!({"trace_id": "1-6750a0a0-0123456789abcdef01234567", "id": format!("{id:016x}"), "name": "pets",
        "start_time": 1733300000.0, "end_time": 1733300001.0})
    .to_string()
}

#[tokio::test]
async fn a_body_over_the_configured_size_gets_413_naming_the_limit() {
    let address = serve().await;
    let padded = format!("{{\"TraceSegmentDocuments\": [{}]{}}}", json!(segment(1)), " ".repeat(64 * 1024));
    let (status, body) = post(address, "/TraceSegments", padded.into_bytes()).await;
    assert_eq!(status, 413, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("request body is larger than 65536 bytes (limits.request_body_bytes)"), "{message}");

    let (status, body) =
        post(address, "/TraceSegments", json!({"TraceSegmentDocuments": [segment(1)]}).to_string().into_bytes()).await;
    assert_eq!((status, body), (200, json!({"UnprocessedTraceSegments": []})));
}

#[tokio::test]
async fn more_documents_than_configured_get_400_naming_the_limit() {
    let address = serve().await;
    let four = json!({"TraceSegmentDocuments": [segment(1), segment(2), segment(3), segment(4)]});
    let (status, body) = post(address, "/TraceSegments", four.to_string().into_bytes()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "TraceSegmentDocuments has 4 documents; at most 3 are accepted per request (limits.documents_per_request)"
    );
    let three = json!({"TraceSegmentDocuments": [segment(1), segment(2), segment(3)]});
    assert_eq!(post(address, "/TraceSegments", three.to_string().into_bytes()).await.0, 200);
}

#[tokio::test]
async fn more_trace_ids_than_configured_get_400_naming_the_limit() {
    let address = serve().await;
    let ids = |count: u32| (0..count).map(|n| format!("1-6750a0a0-{n:024x}")).collect::<Vec<_>>();
    let (status, body) = post(address, "/Traces", json!({"TraceIds": ids(4)}).to_string().into_bytes()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "TraceIds has 4 ids; at most 3 are accepted per request (limits.trace_ids_per_request)"
    );
    assert_eq!(post(address, "/Traces", json!({"TraceIds": ids(3)}).to_string().into_bytes()).await.0, 200);
}

#[tokio::test]
async fn documents_over_the_configured_sizes_are_refused_naming_the_limit() {
    let rules = Rules { max_document_bytes: Some(1024), max_annotations_metadata_bytes: Some(64), ..Rules::default() };
    let address = serve_with_rules(rules).await;
    let with = |key: &str, value: Value| {
        let mut document: Value = serde_json::from_str(&segment(1)).unwrap();
        document[key] = value;
        document.to_string()
    };
    let large = with("metadata", json!({"default": {"pad": "x".repeat(1024)}}));
    let annotated = with("annotations", json!({"note": "y".repeat(64)}));
    let body = json!({"TraceSegmentDocuments": [large.clone(), annotated, segment(2)]});
    let (status, body) = post(address, "/TraceSegments", body.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    let refused = body["UnprocessedTraceSegments"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "the third document is kept: {body}");
    assert_eq!(refused[0]["ErrorCode"], "DocumentTooLarge");
    let too_large =
        format!("TraceSegmentDocuments[0]: document is {} bytes; at most 1024 bytes are accepted", large.len());
    assert_eq!(refused[0]["Message"], too_large);
    assert_eq!(refused[1]["ErrorCode"], "InvalidSegment");
    let message = refused[1]["Message"].as_str().unwrap();
    assert!(message.ends_with("(limits.annotations_metadata_bytes)"), "{message}");
}
