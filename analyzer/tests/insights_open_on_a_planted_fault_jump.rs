//! Insights over a real store: X-Ray segment documents of frontend → search → catalog (and
//! frontend → cart on half the traces), an hour and more of steady faults, then ten minutes in
//! which catalog faults on 40 % of its requests. Evaluated minute by minute as `fluoro serve`
//! does: the Default group and a group with insights enabled each get one insight naming
//! catalog, opened on the jump's third minute and closed three calm minutes after it ends.

use fluoro_analyzer::{
    Groups, InsightQuery, InsightSettings, InsightState, Insights, InsightsUpdate, NewGroup, DEFAULT_GROUP_NAME,
};
use serde_json::{json, Value};

use crate::petstore::{open, put};

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const TRACES_PER_MINUTE: usize = 40;
const JUMP: std::ops::Range<i64> = 70..80;

/// Deterministic noise: trace `n` of the day faults in catalog for `percent` of the hash space.
fn faults(n: u64, salt: u64, percent: u64) -> bool {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ salt;
    for byte in n.to_be_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100 < percent
}

fn status(fault: bool) -> Value {
    if fault {
        json!({"fault": true, "http": {"response": {"status": 500}}})
    } else {
        json!({"http": {"response": {"status": 200}}})
    }
}

fn with(mut document: Value, extra: Value) -> Value {
    if let (Some(target), Value::Object(extra)) = (document.as_object_mut(), extra) {
        target.extend(extra);
    }
    document
}

fn trace_documents(minute: i64, index: usize) -> Vec<Value> {
    let n = (minute as u64) * 1000 + index as u64;
    let start = (T0 + minute * 60) as f64 + index as f64 * 1.4;
    let trace = format!("1-{:08x}-{:024x}", start as u64, n);
    let id = |role: u64| format!("{:016x}", (n + 1) << 8 | role);
    let catalog_percent = if JUMP.contains(&minute) { 40 } else { 1 };
    let catalog = faults(n, 1, catalog_percent);
    let search = catalog || faults(n, 2, 1);
    let with_cart = index % 2 == 0;
    let cart = with_cart && faults(n, 3, 2);
    let frontend = search || cart || faults(n, 4, 1);
    let call = |role: u64, name: &str, fault: bool| {
        with(
            json!({"id": id(role), "name": name, "namespace": "remote", "start_time": start + 0.01,
                   "end_time": start + 0.05, "http": {"request": {"url": format!("http://{name}/"), "traced": true}}}),
            status(fault),
        )
    };
    let mut calls = vec![call(2, "search", search)];
    if with_cart {
        calls.push(call(3, "cart", cart));
    }
    let mut documents = vec![
        with(
            json!({"name": "frontend", "id": id(1), "trace_id": trace, "start_time": start, "end_time": start + 0.1,
                   "origin": "AWS::EC2::Instance", "subsegments": calls}),
            status(frontend),
        ),
        with(
            json!({"name": "search", "id": id(10), "trace_id": trace, "parent_id": id(2), "start_time": start + 0.011,
                   "end_time": start + 0.049, "origin": "AWS::ECS::Container",
                   "subsegments": [call(11, "catalog", catalog)]}),
            status(search),
        ),
        with(
            json!({"name": "catalog", "id": id(20), "trace_id": trace, "parent_id": id(11),
                   "start_time": start + 0.02, "end_time": start + 0.04, "origin": "AWS::ECS::Container"}),
            status(catalog),
        ),
    ];
    if with_cart {
        documents.push(with(
            json!({"name": "cart", "id": id(30), "trace_id": trace, "parent_id": id(3), "start_time": start + 0.011,
                   "end_time": start + 0.03, "origin": "AWS::ECS::Container"}),
            status(cart),
        ));
    }
    documents
}

fn minute(m: i64) -> i64 {
    T0 + m * 60
}

#[test]
fn insights_open_on_a_planted_fault_jump_name_the_deepest_service_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("store"));
    for m in 0..90 {
        let documents: Vec<Value> = (0..TRACES_PER_MINUTE).flat_map(|index| trace_documents(m, index)).collect();
        put(&store, &documents);
    }
    let groups = Groups::in_memory();
    let enabled = InsightsUpdate { insights_enabled: Some(true), notifications_enabled: Some(true) };
    groups
        .create(NewGroup {
            name: "search-traffic".to_owned(),
            filter_expression: Some(r#"service("search")"#.to_owned()),
            insights: enabled,
            tags: Vec::new(),
        })
        .unwrap();
    let path = dir.path().join("insights.json");
    let settings = InsightSettings { backfill_minutes: 120, ..InsightSettings::default() };
    let insights = Insights::open(&path, settings).unwrap();

    let opened = insights.evaluate(&store, &groups, minute(75)).unwrap();
    assert_eq!(insights.last_minute(), Some(minute(75)));
    assert_eq!(opened.len(), 2, "{opened:#?}");
    for notice in &opened {
        assert_eq!(notice.insight.state, InsightState::Active);
        assert_eq!(notice.insight.root_cause_service_id.name, "catalog");
        assert_eq!(notice.insight.start_time, minute(70));
        assert_eq!(notice.notifications_enabled, notice.insight.group_name == "search-traffic");
    }

    let closed = insights.evaluate(&store, &groups, minute(89)).unwrap();
    assert_eq!(closed.len(), 2, "{closed:#?}");
    assert!(closed.iter().all(|notice| notice.insight.state == InsightState::Closed));

    let everything = InsightQuery { start: minute(0), end: minute(200), ..InsightQuery::default() };
    let all = insights.summaries(&everything);
    assert_eq!(all.len(), 2, "one per scope and nothing else: {all:#?}");
    let default = InsightQuery { group_name: Some(DEFAULT_GROUP_NAME.to_owned()), ..everything.clone() };
    let [insight] = insights.summaries(&default).try_into().unwrap();
    assert_eq!(insight.root_cause_service_id.name, "catalog");
    assert_eq!(insight.root_cause_service_id.r#type.as_deref(), Some("AWS::ECS::Container"));
    assert_eq!(insight.categories, vec!["FAULT"]);
    assert_eq!(insight.state, InsightState::Closed);
    assert_eq!((insight.start_time, insight.end_time), (minute(70), Some(minute(80))));
    let requests = 10 * TRACES_PER_MINUTE as u64;
    assert_eq!(insight.root_cause_service_request_impact_statistics.total_count, requests);
    assert_eq!(insight.client_request_impact_statistics.total_count, requests);
    assert_eq!(insight.client_impacts.len(), 1);
    assert_eq!(insight.client_impacts[0].service_id.name, "frontend");
    let faults = insight.root_cause_service_request_impact_statistics.fault_count;
    assert!((100..=220).contains(&faults), "about 40 % of {requests}: {faults}");
    let anomalous: Vec<&str> = insight.top_anomalous_services.iter().map(|s| s.service_id.name.as_str()).collect();
    assert_eq!(anomalous, vec!["catalog", "frontend", "search"], "callers listed, cart not");
    assert!(insight.summary.starts_with("catalog fault rate rose to"), "{}", insight.summary);

    let events = insights.events(&insight.insight_id).unwrap();
    let times: Vec<(i64, &str)> =
        events.iter().map(|event| (event.event_time, event.summary.split(':').next().unwrap_or(""))).collect();
    assert_eq!(times, vec![(minute(83), "closed"), (minute(78), "impact updated"), (minute(73), "opened")]);
    assert_eq!(events[2].root_cause_service_request_impact_statistics.total_count, 3 * TRACES_PER_MINUTE as u64);

    let active = InsightQuery { states: vec![InsightState::Active], ..everything.clone() };
    assert!(insights.summaries(&active).is_empty());
    let before = InsightQuery { start: minute(0), end: minute(70), ..InsightQuery::default() };
    assert!(insights.summaries(&before).is_empty(), "it started at minute 70");
    assert_eq!(insights.get(&insight.insight_id), Some(insight.clone()));
    assert_eq!(insights.get("nope"), None);

    let reopened = Insights::open(&path, settings).unwrap();
    assert_eq!(reopened.summaries(&everything), all);
    assert_eq!(reopened.events(&insight.insight_id), Some(events));
    assert_eq!(reopened.last_minute(), Some(minute(89)));
    assert!(reopened.evaluate(&store, &groups, minute(89)).unwrap().is_empty(), "minutes are evaluated once");
}
