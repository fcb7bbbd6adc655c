//! Documents captured from the Python `aws-xray-sdk` (see `fixtures/xray-python-sdk/`) parse,
//! serialize back without loss, and flatten into the span rows the store keeps.

use std::collections::HashMap;

use fluoro_proto::{parse_document, rows_from_document, AnnotationScalar, Cause, Document, SpanKind, SpanRow};
use serde_json::Value;

const CAPTURES: &str = include_str!("fixtures/xray-python-sdk/documents.jsonl");

fn captured_documents() -> Vec<(&'static str, Document)> {
    CAPTURES
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| (line, parse_document(line.as_bytes()).unwrap_or_else(|e| panic!("{e}\nin {line}"))))
        .collect()
}

fn all_rows() -> Vec<SpanRow> {
    captured_documents().iter().flat_map(|(_, document)| rows_from_document(document)).collect()
}

#[test]
fn every_captured_document_round_trips_to_the_same_json() {
    let documents = captured_documents();
    assert_eq!(documents.len(), 37, "the capture holds 37 documents");
    for (text, document) in documents {
        let original: Value = serde_json::from_str(text).unwrap();
        let written: Value = serde_json::from_str(&document.to_json()).unwrap();
        assert_eq!(written, original, "document changed in the round trip");
    }
}

#[test]
fn segments_and_streamed_subsegments_are_told_apart() {
    let documents = captured_documents();
    let segments = documents.iter().filter(|(_, d)| matches!(d, Document::Segment(_))).count();
    let subsegments = documents.iter().filter(|(_, d)| matches!(d, Document::Subsegment(_))).count();
    assert_eq!((segments, subsegments), (9, 28));
}

#[test]
fn unknown_fields_are_kept_where_they_were_found() {
    let documents = captured_documents();
    let dynamodb_get = documents
        .iter()
        .flat_map(|(_, d)| d.entities().iter().flat_map(|e| e.subsegments().iter()))
        .find(|s| s.aws.as_ref().and_then(|a| a.operation.as_deref()) == Some("GetItem"))
        .expect("a GetItem subsegment");
    let aws = dynamodb_get.aws.as_ref().unwrap();
    assert_eq!(aws.table_name.as_deref(), Some("pets"));
    assert_eq!(aws.other.get("consistent_read"), Some(&Value::Bool(true)));
    let service = documents[0].1.entities()[0].service.as_ref().expect("service object");
    assert_eq!(service.get("runtime"), Some(&Value::String("CPython".into())));
}

#[test]
fn rows_carry_service_parent_and_downstream_facts() {
    let rows = all_rows();
    let segment_rows: Vec<_> = rows.iter().filter(|r| r.kind == SpanKind::Segment).collect();
    assert_eq!(segment_rows.len(), 9);
    assert!(segment_rows.iter().all(|r| r.service.as_deref() == Some(r.name.as_str())));

    let get_item = rows.iter().find(|r| r.aws.operation.as_deref() == Some("GetItem")).unwrap();
    assert_eq!(get_item.service.as_deref(), Some("petsite"));
    assert_eq!(get_item.namespace.as_deref(), Some("aws"));
    assert!(get_item.remote);
    assert_eq!(get_item.aws.table.as_deref(), Some("pets"));
    assert_eq!(get_item.aws.region.as_deref(), Some("us-east-1"));
    let parent = rows.iter().find(|r| Some(r.id) == get_item.parent_id).unwrap();
    assert_eq!(parent.kind, SpanKind::Segment);
    assert!(get_item.start_us >= parent.start_us && get_item.end_us <= parent.end_us);

    let send_message = rows.iter().find(|r| r.aws.operation.as_deref() == Some("SendMessage")).unwrap();
    assert!(send_message.aws.queue.as_deref().unwrap_or_default().contains("adoptions"));

    let http_call =
        rows.iter().find(|r| r.namespace.as_deref() == Some("remote") && r.http.status == Some(200)).unwrap();
    assert_eq!(http_call.http.method.as_deref(), Some("get"));
    assert!(http_call.http.url.as_deref().unwrap().starts_with("http://127.0.0.1:"));
}

#[test]
fn error_fault_and_throttle_follow_the_sdk_flags() {
    let rows = all_rows();
    let status_of = |path: &str| {
        rows.iter()
            .find(|r| {
                r.kind == SpanKind::Segment
                    && r.http.url.as_deref().is_some_and(|u| u.split('?').next().is_some_and(|p| p.ends_with(path)))
            })
            .unwrap_or_else(|| panic!("no segment for {path}"))
    };
    let not_found = status_of("/api/pets/7/history");
    assert_eq!(
        (not_found.http.status, not_found.error, not_found.fault, not_found.throttle),
        (Some(404), true, false, false)
    );
    let checkout = status_of("/api/checkout");
    assert_eq!((checkout.http.status, checkout.fault), (Some(500), true));
    let search = status_of("/api/search");
    assert_eq!((search.http.status, search.error, search.throttle), (Some(429), true, true));
    let ok = status_of("/api/pets/42");
    assert!(!ok.error && !ok.fault && !ok.throttle);
}

#[test]
fn exceptions_are_summarised_and_cause_ids_kept() {
    let rows = all_rows();
    let remote_failure = rows.iter().find(|r| r.aws.operation.is_some() && !r.exceptions.is_empty()).unwrap();
    assert!(remote_failure
        .exceptions
        .iter()
        .any(|e| e.remote && e.message.as_deref().is_some_and(|m| m.contains("Requested resource not found"))));
    let value_error = rows.iter().flat_map(|r| &r.exceptions).find(|e| e.name.as_deref() == Some("ValueError"));
    assert!(value_error.is_some(), "the ValueError raised in checkout is summarised");

    let documents = captured_documents();
    let checkout = documents
        .iter()
        .map(|(_, d)| &d.entities()[0])
        .find(|e| {
            e.http
                .as_ref()
                .and_then(|h| h.request.as_ref())
                .and_then(|r| r.url.as_deref())
                .is_some_and(|u| u.ends_with("/api/checkout"))
        })
        .unwrap();
    assert!(matches!(checkout.cause, Some(Cause::ExceptionId(_))), "the segment refers to the exception by id");
}

#[test]
fn annotations_keep_their_types_and_user_is_indexed() {
    let rows = all_rows();
    let adoption = rows.iter().find(|r| r.user.is_some()).expect("the adoption segment sets a user");
    let annotations: HashMap<_, _> = adoption.annotations.iter().cloned().collect();
    let kinds: Vec<&str> = annotations
        .values()
        .map(|v| match v {
            AnnotationScalar::String(_) => "string",
            AnnotationScalar::Number(_) => "number",
            AnnotationScalar::Bool(_) => "bool",
        })
        .collect();
    for kind in ["string", "number", "bool"] {
        assert!(kinds.contains(&kind), "a {kind} annotation in {annotations:?}");
    }
}

#[test]
fn streamed_subsegments_await_their_service_and_point_at_their_parent() {
    let rows = all_rows();
    let streamed: Vec<_> = rows.iter().filter(|r| r.kind == SpanKind::Subsegment && r.service.is_none()).collect();
    assert!(streamed.len() >= 28, "streamed subsegments and their children: {}", streamed.len());
    assert!(streamed.iter().all(|r| r.parent_id.is_some()));
    // Every streamed subsegment's parent is somewhere in the trace, sent before or after it.
    for row in streamed {
        assert!(rows.iter().any(|r| Some(r.id) == row.parent_id && r.trace_id == row.trace_id), "orphan {row:?}");
    }
}

#[test]
fn a_segment_continued_from_a_trace_header_links_to_the_callers_subsegment() {
    let rows = all_rows();
    let callee =
        rows.iter().find(|r| r.service.as_deref() == Some("petsite-adoptions") && r.kind == SpanKind::Segment).unwrap();
    let caller = rows.iter().find(|r| Some(r.id) == callee.parent_id).expect("the caller's subsegment");
    assert_eq!(caller.service.as_deref(), Some("petsite"));
    assert_eq!(caller.trace_id, callee.trace_id);
}
