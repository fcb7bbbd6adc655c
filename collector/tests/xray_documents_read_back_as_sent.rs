//! boto3 puts documents shaped as the Node and Python X-Ray SDKs write them and reads them back
//! with BatchGetTraces exactly as sent: explicit nulls (the Node SDK's `"line": null` for frames
//! inside the runtime), key order and number forms, also when an independent subsegment was
//! merged in. A PutTraceSegments body far over the limit is answered 413 with a message the
//! client can read, not a reset connection.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use fluoro_collector::{xray_api_router, Counters, Ingest, MemorySink};
use fluoro_proto::TraceSource;
use serde_json::{json, Value};

/// A Node SDK segment: its key order, an integer-valued `end_time`, numbers past `u64`, an
/// exponent, and explicit nulls (a runtime frame's line, a metadata value).
const NODE_SEGMENT: &str = r#"{"id":"2a4b5c6d7e8f9012","name":"pets-api","start_time":1733300000.123,"trace_id":"1-6750a0a0-0123456789abcdef01234567","aws":{"xray":{"sdk":"X-Ray for Node.js","sdk_version":"3.5.3","package":"aws-xray-sdk"}},"service":{"version":"1.0.0","runtime":"node","runtime_version":"v20.11.0","name":"unknown"},"origin":"AWS::EC2::Instance","http":{"request":{"method":"GET","user_agent":"curl/8.5.0","client_ip":"127.0.0.1","url":"http://localhost:3000/pets"},"response":{"status":500}},"fault":true,"cause":{"working_directory":"/app","exceptions":[{"message":"boom","type":"Error","stack":[{"path":"/app/index.js","line":12,"label":"handler"},{"path":"node:internal/process/task_queues","line":null,"label":"process.processTicksAndRejections"}],"id":"0f1e2d3c4b5a6978"}]},"annotations":{"count":3,"ratio":0.50},"metadata":{"default":{"nothing":null,"big":123456789012345678901234567890,"small":1e-7}},"end_time":1733300001,"subsegments":[{"id":"5d7e9f1a2b3c4d5e","name":"dynamodb","start_time":1733300000.2,"end_time":1733300000.9,"namespace":"aws","aws":{"operation":"GetItem","retries":0,"table_name":null}}]}"#;

/// A Python SDK segment (`json.dumps`: spaces after `,` and `:`) and an independent
/// subsegment of it, which BatchGetTraces merges in.
const PYTHON_SEGMENT: &str = r#"{"id": "3b5c7d9e1f203142", "name": "adoptions", "start_time": 1733300002.5, "trace_id": "1-6750a0a2-abcdefabcdefabcdefabcdef", "in_progress": false, "aws": {"xray": {"sdk": "X-Ray for Python", "sdk_version": "2.14.0"}}, "service": {"runtime": "CPython", "runtime_version": "3.11.6"}, "end_time": 1733300003.25}"#;
const PYTHON_INDEPENDENT: &str = r#"{"id": "4c6d8e0f2a314253", "name": "payments", "start_time": 1733300002.75, "parent_id": "3b5c7d9e1f203142", "type": "subsegment", "trace_id": "1-6750a0a2-abcdefabcdefabcdefabcdef", "namespace": "remote", "in_progress": false, "http": {"response": {"status": 200, "content_length": null}}, "end_time": 1733300003.0}"#;
/// The two merged: each value as sent, the subsegment without the members nesting implies.
const PYTHON_MERGED: &str = r#"{"id":"3b5c7d9e1f203142","name":"adoptions","start_time":1733300002.5,"trace_id":"1-6750a0a2-abcdefabcdefabcdefabcdef","in_progress":false,"aws":{"xray": {"sdk": "X-Ray for Python", "sdk_version": "2.14.0"}},"service":{"runtime": "CPython", "runtime_version": "3.11.6"},"end_time":1733300003.25,"subsegments":[{"id":"4c6d8e0f2a314253","name":"payments","start_time":1733300002.75,"namespace":"remote","in_progress":false,"http":{"response": {"status": 200, "content_length": null}},"end_time":1733300003.0}]}"#;

const OVERSIZED_BYTES: usize = 64 * 1024 * 1024;

async fn run_client(endpoint: String, input: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/xray_lossless.py");
    let input_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input_file.path(), input.to_string()).unwrap();
    let input_path = input_file.path().to_owned();
    let run =
        tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(endpoint).arg(input_path).output())
            .await
            .unwrap()
            .expect("python3 runs (see requirements-test.txt)");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "xray_lossless.py failed:\n{stderr}");
    serde_json::from_slice(&run.stdout).unwrap_or_else(|error| panic!("{error}; stderr:\n{stderr}"))
}

fn documents_of<'a>(get: &'a Value, trace_id: &str) -> Vec<&'a str> {
    let traces = get["Traces"].as_array().unwrap();
    let trace = traces.iter().find(|trace| trace["Id"] == trace_id).unwrap_or_else(|| panic!("{trace_id}: {get}"));
    trace["Segments"].as_array().unwrap().iter().map(|segment| segment["Document"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_documents_come_back_as_sent_and_an_oversized_body_gets_413() {
    let sink = Arc::new(MemorySink::new(100_000));
    let ingest = Ingest::new(sink.clone(), Arc::new(Counters::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = xray_api_router(ingest, sink as Arc<dyn TraceSource>);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let node_trace = "1-6750a0a0-0123456789abcdef01234567";
    let python_trace = "1-6750a0a2-abcdefabcdefabcdefabcdef";
    let input = json!({
        "documents": [NODE_SEGMENT, PYTHON_SEGMENT, PYTHON_INDEPENDENT],
        "trace_ids": [node_trace, python_trace],
        "oversized_bytes": OVERSIZED_BYTES,
    });
    let result = run_client(format!("http://{address}"), input).await;

    assert_eq!(result["put"], json!({"UnprocessedTraceSegments": []}));
    assert_eq!(documents_of(&result["get"], node_trace), [NODE_SEGMENT], "byte for byte, `\"line\":null` included");
    assert_eq!(documents_of(&result["get"], python_trace), [PYTHON_MERGED]);

    let oversized = &result["oversized"];
    assert_eq!(oversized["status"], 413, "{oversized}");
    assert_eq!(oversized["code"], "InvalidRequestException");
    let message = oversized["message"].as_str().unwrap();
    assert!(message.contains("8388608 bytes"), "the message names the limit: {message}");
}

/// curl sends `Expect: 100-continue` before a large body: one declared over the limit is
/// answered at once, and the body is never sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sink = Arc::new(MemorySink::new(100));
    let ingest = Ingest::new(sink.clone(), Arc::new(Counters::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = xray_api_router(ingest, sink as Arc<dyn TraceSource>);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /TraceSegments HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {OVERSIZED_BYTES}\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer[..read.expect("answered without the body").unwrap()]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("InvalidRequestException"), "{answer}");
}
