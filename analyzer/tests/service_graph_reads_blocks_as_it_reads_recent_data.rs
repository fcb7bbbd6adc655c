//! A time range's graph reads its text columns as keys: from the blocks' dictionary pages, and
//! from recent data's strings. Wherever the spans are (recent data, a block read whole or cut
//! by the range, both at once), the graph is the one built from the spans' strings.

use fluoro_analyzer::{load_spans, service_graph, service_graph_of_spans, TraceIdSet, GRAPH_COLUMNS};
use fluoro_store::Store;
use serde_json::Value;

use crate::petstore::{at_us, parsed_trace_id, petstore, put, trace_documents, TRACES};

/// The graph as the API shows it, hidden fields aside.
fn keyed(store: &Store, from_us: i64, to_us: i64) -> Value {
    serde_json::to_value(service_graph(store, from_us, to_us, None).unwrap()).unwrap()
}

/// The same graph from the spans' strings as polars reads them.
fn from_strings(store: &Store, from_us: i64, to_us: i64) -> Value {
    let spans = load_spans(store, from_us, to_us, &GRAPH_COLUMNS).unwrap();
    serde_json::to_value(service_graph_of_spans(spans).unwrap()).unwrap()
}

#[test]
fn the_graph_of_blocks_is_the_graph_of_their_strings() {
    let dir = tempfile::tempdir().unwrap();
    let store = petstore(dir.path());
    let (all, cut) = ((at_us(-1.0), at_us(10_000.0)), (at_us(55.0), at_us(125.0)));
    let recent = keyed(&store, all.0, all.1);
    assert!(recent["Services"].as_array().unwrap().len() >= 6, "a graph with its downstreams: {recent}");
    assert_eq!(recent, from_strings(&store, all.0, all.1), "recent data");

    store.flush().unwrap();
    assert_eq!(keyed(&store, all.0, all.1), recent, "the same spans in a block");
    assert_eq!(keyed(&store, cut.0, cut.1), from_strings(&store, cut.0, cut.1), "a block cut by the range");

    let later: Vec<Value> = (TRACES..TRACES + 10).flat_map(trace_documents).collect();
    put(&store, &later);
    assert_eq!(keyed(&store, all.0, all.1), from_strings(&store, all.0, all.1), "a block and recent data");

    // A trace set keeps its traces' rows of the keyed scan, as the join keeps them.
    let some = TraceIdSet::from_ids(&[parsed_trace_id(0), parsed_trace_id(3), parsed_trace_id(TRACES + 1)]).unwrap();
    let restricted = serde_json::to_value(service_graph(&store, all.0, all.1, Some(&some)).unwrap()).unwrap();
    let spans = some.restrict(load_spans(&store, all.0, all.1, &GRAPH_COLUMNS).unwrap());
    let joined = serde_json::to_value(service_graph_of_spans(spans).unwrap()).unwrap();
    assert_eq!(restricted, joined, "a trace set");
    assert_ne!(restricted, keyed(&store, all.0, all.1), "the set keeps fewer traces");
}
