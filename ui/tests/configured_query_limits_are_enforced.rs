//! `[limits]` of the query routes beside the window (`QueryLimits`), over real HTTP: the page of
//! trace summaries, the trace ids of GetTraceGraph and the query time budget. Each is set below
//! its default, so each test would fail if the configured value were ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluoro_analyzer::Groups;
use fluoro_proto::{parse_document, Durability, SpanBatch};
use fluoro_store::{Store, StoreConfig};
use fluoro_ui::QueryLimits;
use serde_json::{json, Value};

use crate::api_server::post;

const START: f64 = 1_733_300_000.0;

async fn serve(store: Arc<Store>, limits: QueryLimits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = fluoro_ui::api_router_with_limits(store, Arc::new(Groups::in_memory()), limits);
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// `blocks` blocks of `traces_per_block` traces, each a segment with four subsegments.
fn store_of(dir: &std::path::Path, blocks: usize, traces_per_block: usize) -> Arc<Store> {
    let store = Store::open(StoreConfig {
        flush_rows: 10_000_000,
        flush_age: Duration::from_secs(3600),
        ..StoreConfig::new(dir.join("store"))
    })
    .unwrap();
    for block in 0..blocks {
        let mut batch = SpanBatch::new(Durability::BestEffort);
        for trace in 0..traces_per_block {
            let n = block * traces_per_block + trace;
            let start = START + n as f64 * 0.001;
            let subsegments: Vec<Value> = (1..=4)
                .map(|s| json!({"id": format!("{:016x}", n * 10 + s), "name": "db", "start_time": start, "end_time": start + 0.01}))
                .collect();
            let segment = json!({"trace_id": format!("1-6750a0a0-{n:024x}"), "id": format!("{:016x}", n * 10),
                "name": "pets", "start_time": start, "end_time": start + 0.05, "http": {"response": {"status": 200}},
                "subsegments": subsegments});
            batch.push_document(parse_document(segment.to_string().as_bytes()).unwrap(), None);
        }
        store.write(batch).unwrap();
        store.flush().unwrap();
    }
    Arc::new(store)
}

fn window() -> Value {
    json!({"StartTime": START - 60.0, "EndTime": START + 3000.0})
}

#[tokio::test(flavor = "multi_thread")]
async fn summaries_come_in_pages_of_the_configured_size() {
    let dir = tempfile::tempdir().unwrap();
    let address =
        serve(store_of(dir.path(), 1, 5), QueryLimits { summaries_per_page: 2, ..QueryLimits::default() }).await;
    let mut sizes = Vec::new();
    let mut body = window();
    loop {
        let (status, _, answer) = post(address, "/TraceSummaries", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        sizes.push(answer["TraceSummaries"].as_array().unwrap().len());
        match answer.get("NextToken") {
            Some(token) => body["NextToken"] = token.clone(),
            None => break,
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn more_trace_graph_ids_than_configured_get_400_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let address = serve(store_of(dir.path(), 1, 1), QueryLimits { trace_graph_ids: 3, ..QueryLimits::default() }).await;
    let ids = |count: usize| (0..count).map(|n| format!("1-6750a0a0-{n:024x}")).collect::<Vec<_>>();
    let (status, error_type, answer) = post(address, "/TraceGraph", json!({"TraceIds": ids(4)})).await;
    assert_eq!((status, error_type.as_deref()), (400, Some("InvalidRequestException")));
    assert_eq!(answer["message"], "TraceIds must hold 1 to 3 trace ids (limits.trace_graph_ids), got 4");
    assert_eq!(post(address, "/TraceGraph", json!({"TraceIds": ids(3)})).await.0, 200);
}

/// Over a store of many blocks, a query given a budget far below what it takes is answered 400
/// naming `limits.query_seconds` at the budget, not when the work would have ended; the same
/// query without a tight budget is answered in full. (That the work itself stops is the store's
/// `a_scan_past_its_deadline_stops_between_blocks`.)
#[tokio::test(flavor = "multi_thread")]
async fn a_query_past_the_configured_time_budget_gets_400_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path(), 16, 2_000);
    let budget = Duration::from_millis(20);
    let tight = serve(store.clone(), QueryLimits { query_budget: budget, ..QueryLimits::default() }).await;
    let roomy = serve(store, QueryLimits::default()).await;
    let queries = [
        ("/TraceSummaries", json!({"FilterExpression": "service(\"pets\") { fault = false }"})),
        ("/ServiceGraph", json!({})),
        ("/api/histogram", json!({})),
    ];
    for (path, fields) in queries {
        let mut body = window();
        body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let started = Instant::now();
        let (status, _, answer) = post(roomy, path, body.clone()).await;
        let full = started.elapsed();
        assert_eq!(status, 200, "{path}: {answer}");
        assert!(full > 4 * budget, "{path} takes {full:?}: the store is too small to test a {budget:?} budget");

        let started = Instant::now();
        let (status, error_type, answer) = post(tight, path, body).await;
        let refused_after = started.elapsed();
        assert_eq!((status, error_type.as_deref()), (400, Some("InvalidRequestException")), "{path}: {answer}");
        assert_eq!(
            answer["message"],
            "the query ran past its time budget of 0.02 s (limits.query_seconds); narrow the time window or the \
             filter expression",
            "{path}"
        );
        assert!(refused_after < full / 2, "{path}: refused after {refused_after:?}, the full query takes {full:?}");
    }
}
