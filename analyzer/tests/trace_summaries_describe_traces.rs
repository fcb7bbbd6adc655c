//! Trace summaries of corpus traces (tests/corpus.rs) field by field: durations, root HTTP,
//! users, services, root causes along a known fault chain; pages, sampling, time-range types,
//! and one summary per span when a span was stored twice.

use fluoro_analyzer::{
    trace_summaries, NoGroups, Sampling, SummaryPage, SummaryQuery, TimeRangeType, TraceSummary, MAX_PAGE_SIZE,
};
use serde_json::{json, Value};

use crate::corpus::{corpus, trace_id, write, Corpus, FROM_US, T0, TO_US};

fn query() -> SummaryQuery {
    SummaryQuery {
        from_us: FROM_US,
        to_us: TO_US,
        range: TimeRangeType::TraceId,
        filter: None,
        sampling: None,
        offset: 0,
        page_size: MAX_PAGE_SIZE,
    }
}

fn page(corpus: &Corpus, query: &SummaryQuery) -> SummaryPage {
    trace_summaries(&corpus.store, query, &NoGroups).unwrap()
}

fn summary(corpus: &Corpus, number: u32) -> TraceSummary {
    let id = trace_id(number);
    page(corpus, &query()).summaries.into_iter().find(|summary| summary.id == id).unwrap()
}

fn names(corpus: &Corpus, page: &SummaryPage) -> Vec<String> {
    page.summaries.iter().map(|summary| corpus.names[&summary.id].clone()).collect()
}

#[test]
fn fault_chain_summary_has_root_http_and_the_deepest_fault_as_root_cause() {
    let corpus = corpus();
    let summary = serde_json::to_value(summary(&corpus, 2)).unwrap();
    assert_eq!(summary["Id"], json!(trace_id(2)));
    assert_eq!(summary["StartTime"], json!(T0 + 20.0));
    assert_eq!(summary["Duration"], json!(2.5));
    assert_eq!(summary["ResponseTime"], json!(2.5));
    assert_eq!((summary["HasFault"].clone(), summary["HasError"].clone()), (json!(true), json!(false)));
    assert_eq!(summary["IsPartial"], json!(false));
    assert_eq!(
        summary["Http"],
        json!({"HttpURL": "https://shop.example.com/api/checkout", "HttpStatus": 500, "HttpMethod": "POST",
               "UserAgent": "Mozilla/5.0", "ClientIp": "10.0.0.2"})
    );
    let web = json!({"Name": "web", "Names": ["web"], "Type": "AWS::EC2::Instance"});
    assert_eq!(summary["EntryPoint"], web);
    assert_eq!(summary["Users"], json!([{"UserName": "bob", "ServiceIds": [web]}]));
    assert_eq!(
        summary["ServiceIds"],
        json!([
            {"Name": "card.example.net", "Names": ["card.example.net"], "Type": "remote"},
            {"Name": "payments", "Names": ["payments"], "Type": "AWS::Lambda::Function"},
            web,
        ])
    );
    assert_eq!(summary["ResourceARNs"], json!([{"ARN": "arn:aws:lambda:us-east-1:123456789012:function:payments"}]));
    assert_eq!(
        summary["Annotations"],
        json!({"build": [{"AnnotationValue": {"NumberValue": 13.0}, "ServiceIds": [web]}],
               "env": [{"AnnotationValue": {"StringValue": "prod"}, "ServiceIds": [web]}]})
    );
    assert_eq!(
        summary["FaultRootCauses"],
        json!([{"ClientImpacting": true, "Services": [
            {"Name": "web", "Names": ["web"], "Type": "AWS::EC2::Instance", "Inferred": false, "EntityPath": [
                {"Name": "web", "Exceptions": [], "Remote": false},
                {"Name": "payments", "Exceptions": [], "Remote": true}]},
            {"Name": "payments", "Names": ["payments"], "Type": "AWS::Lambda::Function", "Inferred": false,
             "EntityPath": [{"Name": "payments", "Remote": false,
                             "Exceptions": [{"Name": "TimeoutError", "Message": "card processor timed out"}]}]},
            {"Name": "card.example.net", "Names": ["card.example.net"], "Type": "remote", "Inferred": true,
             "EntityPath": [{"Name": "card.example.net", "Remote": true,
                             "Exceptions": [{"Name": "HttpError", "Message": "502 Bad Gateway"}]}]},
        ]}])
    );
    assert_eq!(summary["ErrorRootCauses"], json!([]));
    let response_time = &summary["ResponseTimeRootCauses"][0]["Services"];
    let coverage: Vec<(Value, f64)> = response_time
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|service| service["EntityPath"].as_array().unwrap().clone())
        .map(|entity| (entity["Name"].clone(), (entity["Coverage"].as_f64().unwrap() * 100.0).round() / 100.0))
        .collect();
    assert_eq!(
        coverage,
        vec![
            (json!("web"), 1.0),
            (json!("payments"), 0.92),
            (json!("payments"), 0.84),
            (json!("card.example.net"), 0.76)
        ]
    );
}

#[test]
fn duration_spans_async_work_while_response_time_is_the_root_segment() {
    let corpus = corpus();
    let summary = summary(&corpus, 7);
    assert_eq!((summary.duration, summary.response_time), (Some(3.0), Some(0.3)));
    assert!(!summary.has_error, "the worker's error is not the root's");
    let errors = serde_json::to_value(&summary.error_root_causes).unwrap();
    assert_eq!(errors[0]["ClientImpacting"], json!(false));
    assert_eq!(errors[0]["Services"][1]["EntityPath"][0]["Exceptions"][0]["Name"], json!("ValidationError"));
}

#[test]
fn in_progress_root_makes_a_partial_trace_without_response_time() {
    let corpus = corpus();
    let summary = summary(&corpus, 6);
    assert!(summary.is_partial);
    assert_eq!(summary.response_time, None);
    assert!(summary.response_time_root_causes.is_empty());
}

#[test]
fn pages_cover_every_trace_once_in_start_order() {
    let corpus = corpus();
    let mut query = query();
    query.page_size = 10;
    let mut seen = Vec::new();
    let mut offsets = Vec::new();
    loop {
        let page = page(&corpus, &query);
        assert_eq!((page.processed, page.matched), (24, 24));
        seen.extend(names(&corpus, &page));
        offsets.push(page.next_offset);
        match page.next_offset {
            Some(next) => query.offset = next,
            None => break,
        }
    }
    assert_eq!(offsets, vec![Some(10), Some(20), None]);
    let expected: Vec<String> = (1..=24).map(|number| format!("t{number:02}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn sampling_keeps_the_same_subset_every_time() {
    let corpus = corpus();
    let mut query = query();
    query.sampling = Some(Sampling::FixedRate(0.5));
    let first = page(&corpus, &query);
    let again = page(&corpus, &query);
    assert_eq!(names(&corpus, &first), names(&corpus, &again));
    assert!(first.matched > 0 && first.matched < 24, "about half of 24, got {}", first.matched);
    assert_eq!(first.processed, 24, "fixed rate samples after the scan");
    query.sampling = Some(Sampling::PartialScan(0.5));
    let partial = page(&corpus, &query);
    assert_eq!(partial.processed, partial.matched);
    assert_eq!(names(&corpus, &partial), names(&corpus, &first), "the same hash decides both");
}

#[test]
fn event_ranges_select_traces_by_any_span_and_trace_id_ranges_by_their_start() {
    let corpus = corpus();
    let mut query = query();
    // t07 starts at +70 s; its worker segment starts at +70.5 s.
    query.from_us = FROM_US + 70_400_000;
    query.to_us = FROM_US + 71_000_000;
    assert!(page(&corpus, &query).summaries.is_empty());
    query.range = TimeRangeType::Event;
    let event = page(&corpus, &query);
    assert_eq!(names(&corpus, &event), vec!["t07"]);
    assert_eq!(event.summaries[0].matched_event_time, T0 + 70.5);
}

#[test]
fn a_span_stored_twice_counts_once_and_completed_beats_in_progress() {
    let corpus = corpus();
    let id = trace_id(6);
    let complete = json!({"trace_id": id, "id": "0600000000000001", "name": "web", "origin": "AWS::EC2::Instance",
                          "start_time": T0 + 60.0, "end_time": T0 + 60.7,
                          "http": {"request": {"method": "GET", "url": "https://shop.example.com/api/upload"},
                                   "response": {"status": 200}}});
    write(&corpus.store, std::slice::from_ref(&complete));
    corpus.store.flush().unwrap();
    // A resent in-progress version arriving later must not undo the completion.
    let mut resent = complete;
    resent.as_object_mut().unwrap().remove("end_time");
    resent["in_progress"] = json!(true);
    write(&corpus.store, &[resent]);
    let summary = summary(&corpus, 6);
    assert!(!summary.is_partial);
    assert_eq!(summary.response_time, Some(0.7));
    assert_eq!(summary.revision, 1, "one span, not three versions");
}

#[test]
fn a_fault_below_a_healthy_subsegment_is_the_only_root_cause() {
    // t14: the faulting AWS::Lambda segment calls the faulting function through a healthy
    // Invocation subsegment; the function, not the service segment, is the root cause.
    let corpus = corpus();
    let causes = serde_json::to_value(summary(&corpus, 14).fault_root_causes).unwrap();
    let services: Vec<(Value, Value)> = causes[0]["Services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|service| {
            (
                service["Type"].clone(),
                service["EntityPath"].as_array().unwrap().iter().map(|e| e["Name"].clone()).collect(),
            )
        })
        .collect();
    assert_eq!(causes.as_array().unwrap().len(), 1, "{causes}");
    assert_eq!(
        services,
        vec![
            (json!("AWS::Lambda"), json!(["checkout", "Invocation"])),
            (json!("AWS::Lambda::Function"), json!(["checkout"])),
        ]
    );
}
