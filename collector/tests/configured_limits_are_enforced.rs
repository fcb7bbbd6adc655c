//! The X-Ray API's limits from `[limits]` (`XrayApiLimits`), each answered over real HTTP with
//! a clear error naming the limit: smaller than the defaults here, so each test would pass
//! unchanged if the configured value were ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use fluoro_collector::{otlp_http_router, xray_api_router_with_limits, Counters, Ingest, MemorySink, XrayApiLimits};
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

/// PutTraceSegments, OTLP/HTTP and /metrics on one ingest limited to 5 spans per trace.
async fn serve_spans_per_trace() -> (SocketAddr, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::new(1000));
    let ingest = Ingest::new(sink.clone(), Arc::new(Counters::new())).with_spans_per_trace(5);
    let router =
        xray_api_router_with_limits(ingest.clone(), sink.clone() as Arc<dyn TraceSource>, XrayApiLimits::default())
            .merge(otlp_http_router(ingest));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, sink)
}

/// A segment of `trace` with `subsegments` subsegments: 1 + `subsegments` spans.
fn segment_with(trace: &str, id: u32, subsegments: u32) -> String {
    let children: Vec<Value> = (1..=subsegments)
        .map(|n| json!({"id": format!("{:016x}", id * 100 + n), "name": "db", "start_time": 1733300000.1, "end_time": 1733300000.2}))
        .collect();
    json!({"trace_id": trace, "id": format!("{id:016x}"), "name": "pets", "start_time": 1733300000.0,
        "end_time": 1733300001.0, "subsegments": children})
    .to_string()
}

fn otlp_spans(trace_hex: &str, first_id: u32, count: u32) -> String {
    let spans: Vec<Value> = (0..count)
        .map(|n| {
            json!({"traceId": trace_hex, "spanId": format!("{:016x}", first_id + n), "name": "GET /", "kind": 2,
                "startTimeUnixNano": "1733300000000000000", "endTimeUnixNano": "1733300000250000000"})
        })
        .collect();
    json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "pets"}}]},
        "scopeSpans": [{"spans": spans}]}]})
    .to_string()
}

#[tokio::test]
async fn spans_past_the_configured_trace_size_are_refused_and_the_rest_kept() {
    let (address, sink) = serve_spans_per_trace().await;
    let (full, other) = ("1-6750a0a0-aaaaaaaaaaaaaaaaaaaaaaaa", "1-6750a0a0-bbbbbbbbbbbbbbbbbbbbbbbb");
    let documents = [
        segment_with(full, 1, 3),  // 4 spans of `full`
        segment_with(full, 2, 1),  // 2 more: 6 > 5, refused
        segment_with(other, 3, 0), // another trace: kept
        segment_with(full, 4, 0),  // the 5th span of `full`: kept
    ];
    let body = json!({"TraceSegmentDocuments": documents});
    let (status, body) = post(address, "/TraceSegments", body.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["UnprocessedTraceSegments"],
        json!([{"Id": format!("{:016x}", 2), "ErrorCode": "TraceTooLarge",
            "Message": "TraceSegmentDocuments[1]: its trace has reached the limit of 5 spans (limits.spans_per_trace); \
                        the rest of the trace is refused"}])
    );
    assert_eq!(sink.row_count(), 6, "4 + 1 spans of the full trace, 1 of the other");

    // Over OTLP the full trace takes no more spans; a new trace takes its 5 and no more.
    let export = |body: String| async move {
        let response = reqwest::Client::new()
            .post(format!("http://{address}/v1/traces"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let (status, answer) = export(otlp_spans("6750a0a0aaaaaaaaaaaaaaaaaaaaaaaa", 0x100, 2)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 2, "{answer}");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.ends_with("reached the limit of 5 spans (limits.spans_per_trace)"), "{message}");
    let (_, answer) = export(otlp_spans("6750a0a0cccccccccccccccccccccccc", 0x200, 7)).await;
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 2, "{answer}");
    assert_eq!(sink.row_count(), 11);

    let metrics = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
    for sample in [
        "fluoro_rejected_total{source=\"put_trace_segments\",reason=\"trace_too_large\"} 1\n",
        "fluoro_rejected_total{source=\"otlp_http\",reason=\"trace_too_large\"} 4\n",
    ] {
        assert!(metrics.contains(sample), "{sample} in\n{metrics}");
    }
}

#[tokio::test]
async fn documents_nested_deeper_than_configured_are_refused_naming_the_limit() {
    let address = serve_with_rules(Rules { max_json_depth: Some(8), ..Rules::default() }).await;
    let nested = |levels: usize| {
        let mut document: Value = serde_json::from_str(&segment(1)).unwrap();
        document["metadata"] = json!({"default": serde_json::from_str::<Value>(&format!("{}1{}", "[".repeat(levels), "]".repeat(levels))).unwrap()});
        document.to_string()
    };
    // The document and `metadata` take 2 levels: 6 arrays reach 8, 7 go past.
    let body = json!({"TraceSegmentDocuments": [nested(7), nested(6)]});
    let (status, body) = post(address, "/TraceSegments", body.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["UnprocessedTraceSegments"],
        json!([{"Id": format!("{:016x}", 1), "ErrorCode": "MalformedJson",
            "Message": "TraceSegmentDocuments[0]: document nests JSON more than 8 levels deep (limits.json_depth)"}])
    );
}

#[test]
fn without_a_configured_depth_serde_jsons_own_limit_is_named() {
    let deep = format!(r#"{{"metadata": {}1{}}}"#, "[".repeat(200), "]".repeat(200));
    let error = fluoro_proto::parse_document(deep.as_bytes()).unwrap_err();
    assert_eq!(error.to_string(), "document nests JSON more than 127 levels deep (limits.json_depth)");
}
