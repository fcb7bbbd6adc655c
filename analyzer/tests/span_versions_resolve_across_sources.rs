//! A span stored in several versions across recent data and blocks is seen once, in its
//! preferred version, by summaries, filters and the service graph — whether the versions meet
//! in recent data and a block, in two blocks, or in one compacted block. The store tells the
//! analyzer which traces can hold such versions (`SpanScan::shared_traces`); these tests pin
//! down that the traces it leaves out really hold one version.

use fluoro_analyzer::{
    parse_filter, service_graph, trace_summaries, NoGroups, SummaryQuery, TimeRangeType, MAX_PAGE_SIZE,
};
use fluoro_store::{SharedTraces, Store, StoreConfig};
use serde_json::{json, Value};

use crate::petstore::{open, put};

const START: f64 = 1_700_000_000.0;
const FROM_US: i64 = 1_699_999_990_000_000;
const TO_US: i64 = 1_700_000_100_000_000;
const TRACE: &str = "1-6553f100-000000000000000000000001";
const OTHER: &str = "1-6553f100-000000000000000000000002";

/// A root segment `web` calling `api` through a subsegment; `end` of `None` is in progress.
fn web(trace: &str, end: Option<f64>) -> Value {
    let mut call = json!({"id": "0000000000000011", "name": "api", "start_time": START + 0.1,
                          "end_time": START + 0.2, "namespace": "remote"});
    let mut segment = json!({"trace_id": trace, "id": "0000000000000001", "name": "web",
                             "start_time": START, "subsegments": []});
    match end {
        Some(end) => {
            segment["end_time"] = json!(START + end);
            segment["http"] = json!({"response": {"status": 500}});
            segment["fault"] = json!(true);
        }
        None => {
            segment["in_progress"] = json!(true);
            call.as_object_mut().map(|call| call.remove("end_time"));
            call["in_progress"] = json!(true);
        }
    }
    segment["subsegments"] = json!([call]);
    segment
}

fn query(filter: Option<&str>) -> SummaryQuery {
    SummaryQuery {
        from_us: FROM_US,
        to_us: TO_US,
        range: TimeRangeType::TraceId,
        filter: filter.map(|text| parse_filter(text).unwrap()),
        sampling: None,
        offset: 0,
        page_size: MAX_PAGE_SIZE,
    }
}

/// What the analyzer answers about the completed version of `TRACE` (and the untouched
/// `OTHER`, still in progress).
fn assert_sees_only_the_completed_version(store: &Store) {
    let page = trace_summaries(store, &query(None), &NoGroups).unwrap();
    let summary = page.summaries.iter().find(|summary| summary.id == TRACE).unwrap();
    assert!(!summary.is_partial);
    assert_eq!(summary.response_time, Some(1.5));
    assert_eq!(summary.revision, 2, "two spans, one version each");
    let matched = trace_summaries(store, &query(Some("responsetime > 1 AND http.status = 500")), &NoGroups).unwrap();
    let ids: Vec<&str> = matched.summaries.iter().map(|summary| summary.id.as_str()).collect();
    assert_eq!(ids, vec![TRACE]);
    let graph = service_graph(store, FROM_US, TO_US, None).unwrap();
    let edge = graph.edge(("web", ""), ("api", "remote")).unwrap();
    assert_eq!(edge.summary_statistics.total_count, 2, "one call per trace");
    let client = graph.edge(("web", "client"), ("web", "")).unwrap();
    assert_eq!(client.summary_statistics.fault_statistics.total_count, 1);
}

fn shared_traces(store: &Store) -> SharedTraces {
    store.scan_versions(FROM_US, TO_US, &["trace_hi"], None).unwrap().shared_traces
}

#[test]
fn completion_in_recent_data_replaces_the_in_progress_version_in_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[web(TRACE, None), web(OTHER, None)]);
    store.flush().unwrap();
    put(&store, &[web(TRACE, Some(1.5))]);
    assert_sees_only_the_completed_version(&store);
    let SharedTraces::Only(shared) = shared_traces(&store) else { panic!("blocks list their shared traces") };
    assert_eq!(shared.len(), 1, "only the completed trace: {shared:?}");
}

#[test]
fn versions_in_two_blocks_and_after_compaction_resolve_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig { compaction_min_rows: 100, ..StoreConfig::new(dir.path()) }).unwrap();
    put(&store, &[web(TRACE, None), web(OTHER, None)]);
    store.flush().unwrap();
    put(&store, &[web(TRACE, Some(1.5))]);
    store.flush().unwrap();
    assert_eq!(store.block_files().len(), 2);
    assert_sees_only_the_completed_version(&store);
    // A late in-progress resend must not undo the completion, from recent data either.
    put(&store, &[web(TRACE, None)]);
    assert_sees_only_the_completed_version(&store);
    store.flush().unwrap();
    store.maintain().unwrap();
    assert_eq!(store.block_files().len(), 1, "compacted into one block");
    assert_sees_only_the_completed_version(&store);
    assert!(shared_traces(&store).is_none(), "one block holds one version of each span");
}

#[test]
fn traces_in_disjoint_sources_are_not_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put(&store, &[web(TRACE, Some(1.5))]);
    store.flush().unwrap();
    put(&store, &[web(OTHER, None)]);
    store.flush().unwrap();
    put(&store, &[web("1-6553f100-000000000000000000000003", Some(0.5))]);
    assert_eq!(store.block_files().len(), 2);
    assert!(shared_traces(&store).is_none(), "no trace has spans in two sources");
}
