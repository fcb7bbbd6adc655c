//! Fuzzing on stable Rust: every request body of the HTTP API, the X-Ray operations the
//! collector serves (PutTraceSegments, BatchGetTraces, PutTelemetryRecords, sampling) and the
//! query, group, alarm, insight, log, metric and demo routes, answered by the whole router in
//! process (`tower::ServiceExt::oneshot`) over a store holding a trace. Bodies are random bytes,
//! valid requests with bytes changed, cut or spliced, and valid requests with one JSON value
//! swapped for a hostile one (huge, negative, wrong type, deeply nested). None may panic, none
//! may be answered 5xx, and every refusal carries a message.
//!
//! The case budget is `FLUORO_FUZZ_CASES` per strategy (default 256, what CI runs); the long
//! run is in docs/operations.md ("Fuzzing the parsers").

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use fluoro_analyzer::{Alarms, Groups, InsightSettings, Insights};
use fluoro_collector::{sampling_router, xray_api_router, Counters, Ingest, SamplingRules};
use fluoro_proto::{SpanSink, TraceSource};
use fluoro_store::{Store, StoreConfig};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{json, Value};
use tower::ServiceExt;

const TRACE_ID: &str = "1-6750a0a0-0123456789abcdef01234567";

fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("FLUORO_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() }
}

/// The whole API as `fluoro serve` assembles it, over a store in `dir`.
struct Api {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _dir: tempfile::TempDir,
}

impl Api {
    fn start() -> Api {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(StoreConfig::new(dir.path().join("store"))).unwrap());
        let groups = Arc::new(Groups::in_memory());
        let ingest = Ingest::new(store.clone() as Arc<dyn SpanSink>, Arc::new(Counters::new()));
        let router = {
            let _entered = runtime.enter();
            xray_api_router(ingest, store.clone() as Arc<dyn TraceSource>)
                .merge(sampling_router(Arc::new(SamplingRules::in_memory())))
                .merge(fluoro_ui::api_router(store.clone(), groups.clone()))
                .merge(fluoro_ui::alarms_router(Arc::new(Alarms::in_memory())))
                .merge(fluoro_ui::insights_router(
                    Arc::new(Insights::in_memory(InsightSettings::default())),
                    store.clone(),
                    groups,
                ))
                .merge(fluoro_ui::demo_scenario_router(None))
                .merge(fluoro_ui::handover_router(store.clone()))
        };
        let api = Api { runtime, router, _dir: dir };
        let (status, answer) = api.post("/TraceSegments", put_trace_segments_body().as_bytes());
        assert_eq!((status, answer.as_str()), (200, r#"{"UnprocessedTraceSegments":[]}"#));
        api
    }

    /// Posts `body` as JSON; the status and the answer's text.
    fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_vec()))
            .unwrap();
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        })
    }

    /// The property: an answer below 500, and a refusal that says why.
    fn check(&self, path: &str, body: &[u8]) -> Result<(), TestCaseError> {
        let (status, answer) = self.post(path, body);
        prop_assert!(status < 500, "{path} answered {status} to {:?}: {answer}", String::from_utf8_lossy(body));
        if status >= 400 {
            prop_assert!(!answer.trim().is_empty(), "{path} refused with {status} and no message");
        }
        Ok(())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn segment(start: i64) -> String {
    json!({
        "trace_id": TRACE_ID, "id": "2a4b5c6d7e8f9012", "name": "pets-api",
        "start_time": start as f64 + 0.125, "end_time": start as f64 + 0.5,
        "http": {"request": {"method": "GET", "url": "http://pets/api"}, "response": {"status": 500}},
        "fault": true, "annotations": {"tier": "gold"}, "metadata": {"default": {"n": 1}},
        "subsegments": [{"id": "5d7e9f1a2b3c4d5e", "name": "db", "start_time": start as f64 + 0.2,
                          "end_time": start as f64 + 0.3, "namespace": "remote"}]
    })
    .to_string()
}

fn put_trace_segments_body() -> String {
    json!({"TraceSegmentDocuments": [segment(now() - 60)]}).to_string()
}

/// One valid request per route, the seeds of the mutations.
fn valid_requests() -> Vec<(&'static str, Value)> {
    let (start, end) = (now() - 3600, now());
    let window = json!({"StartTime": start, "EndTime": end});
    let with = |fields: Value| {
        let mut request = window.clone();
        request.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        request
    };
    let rule = json!({"RuleName": "pets", "Priority": 10, "FixedRate": 0.1, "ReservoirSize": 5,
        "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "/api/*",
        "ResourceARN": "*", "Version": 1});
    vec![
        ("/TraceSegments", serde_json::from_str(&put_trace_segments_body()).unwrap()),
        ("/Traces", json!({"TraceIds": [TRACE_ID, "1-00000000-000000000000000000000000"]})),
        (
            "/TelemetryRecords",
            json!({"TelemetryRecords": [{"Timestamp": end, "SegmentsReceivedCount": 3,
            "SegmentsSentCount": 3, "BackendConnectionErrors": {"TimeoutCount": 1}}], "EC2InstanceId": "i-1",
            "Hostname": "pets", "ResourceARN": "arn:aws:ec2:x"}),
        ),
        ("/GetSamplingRules", json!({"NextToken": null})),
        (
            "/SamplingTargets",
            json!({"SamplingStatisticsDocuments": [{"RuleName": "Default", "ClientID":
            "0123456789abcdef01234567", "Timestamp": end, "RequestCount": 10, "SampledCount": 1, "BorrowCount": 0}]}),
        ),
        ("/CreateSamplingRule", json!({"SamplingRule": rule})),
        ("/UpdateSamplingRule", json!({"SamplingRuleUpdate": {"RuleName": "pets", "FixedRate": 0.5}})),
        ("/DeleteSamplingRule", json!({"RuleName": "pets"})),
        ("/SamplingStatisticSummaries", json!({})),
        (
            "/TraceSummaries",
            with(json!({"FilterExpression": "service(\"pets-api\") AND fault AND responsetime > 0.1",
            "Sampling": false, "TimeRangeType": "TraceId", "NextToken": null})),
        ),
        ("/ServiceGraph", with(json!({"GroupName": "Default"}))),
        ("/TraceGraph", json!({"TraceIds": [TRACE_ID]})),
        (
            "/TimeSeriesServiceStatistics",
            with(json!({"EntitySelectorExpression": "service(\"pets-api\")",
            "Period": 60, "ForecastStatistics": false})),
        ),
        ("/api/histogram", with(json!({"FilterExpression": "http.status = 500"}))),
        ("/api/compare", with(json!({"Selection": "fault", "Baseline": "!fault"}))),
        ("/api/metrics/names", with(json!({"Service": "pets-api"}))),
        (
            "/api/metrics/series",
            with(json!({"Service": "pets-api", "Name": "http.server.duration",
            "Statistic": "p99", "Period": 60, "Attributes": {"route": "/api"}})),
        ),
        ("/api/services/resources", with(json!({"Service": "pets-api", "Period": 60}))),
        ("/api/logs/trace", json!({"TraceId": TRACE_ID, "SegmentId": "2a4b5c6d7e8f9012"})),
        ("/api/logs/search", with(json!({"Service": "pets-api", "Severity": "ERROR", "Text": "boom", "Limit": 10}))),
        (
            "/CreateGroup",
            json!({"GroupName": "slow", "FilterExpression": "responsetime > 1",
            "InsightsConfiguration": {"InsightsEnabled": true, "NotificationsEnabled": false}}),
        ),
        ("/GetGroup", json!({"GroupName": "slow"})),
        ("/Groups", json!({"NextToken": null})),
        ("/UpdateGroup", json!({"GroupName": "slow", "FilterExpression": "fault"})),
        ("/DeleteGroup", json!({"GroupName": "slow"})),
        (
            "/PutMetricAlarm",
            json!({"AlarmName": "slow", "Namespace": "AWS/X-Ray", "MetricName":
            "ApproximateTraceCount", "Dimensions": {"GroupName": "Default"}, "Statistic":
            "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0, "DatapointsToAlarm": 1, "ComparisonOperator":
            "GreaterThanThreshold"}),
        ),
        ("/DescribeAlarms", json!({"AlarmNames": ["slow"]})),
        ("/DescribeAlarmHistory", json!({"AlarmName": "slow"})),
        ("/DeleteAlarms", json!({"AlarmNames": ["slow"]})),
        ("/InsightSummaries", with(json!({"States": ["ACTIVE"], "GroupName": "Default", "MaxResults": 10}))),
        ("/Insight", json!({"InsightId": "0123456789abcdef0123456789abcdef"})),
        ("/InsightEvents", json!({"InsightId": "0123456789abcdef0123456789abcdef", "MaxResults": 5})),
        ("/InsightImpactGraph", with(json!({"InsightId": "0123456789abcdef0123456789abcdef"}))),
        ("/api/demo/scenario", json!({"scenario": "slow-db"})),
        ("/internal/recent/traces", json!([TRACE_ID])),
        ("/internal/logs/trace", json!({"trace_id": TRACE_ID, "span_id": "2a4b5c6d7e8f9012"})),
        (
            "/internal/logs/search",
            json!({"service": "pets-api", "min_severity": 17, "text": "boom", "from_us": start * 1_000_000,
            "to_us": end * 1_000_000, "limit": 10, "before": {"time_us": end * 1_000_000, "sequence": 7}}),
        ),
        (
            "/internal/metrics/points",
            json!({"service": "pets-api", "name": "http.server.duration", "from_us": start * 1_000_000, "to_us": end * 1_000_000}),
        ),
        ("/internal/metrics/names", json!({"service": null, "from_us": start * 1_000_000, "to_us": end * 1_000_000})),
    ]
}

/// Values that break assumptions: out of range, wrong type, empty, huge or deeply nested.
fn hostile_value() -> impl Strategy<Value = Value> {
    let deep = (1..400usize).prop_map(|depth| {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    });
    prop_oneof![
        Just(Value::Null),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(0.5)),
        Just(json!("")),
        Just(json!([])),
        Just(json!({})),
        Just(json!(true)),
        Just(json!("1-zzzzzzzz-zzzzzzzzzzzzzzzzzzzzzzzz")),
        Just(json!("service(\"a\") AND (((((((")),
        Just(json!("\u{0}\u{ffff}é𝄞")),
        (0..100_000usize).prop_map(|length| json!("x".repeat(length))),
        any::<i64>().prop_map(|number| json!(number)),
        any::<f64>().prop_map(|number| json!(number)),
        deep,
    ]
}

/// A valid request with the value at one place (a field, an array element, the whole body)
/// replaced, or a field added.
fn swapped_value_request() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (proptest::sample::select(valid_requests()), any::<prop::sample::Index>(), hostile_value(), any::<bool>()).prop_map(
        |((path, mut request), at, value, add)| {
            let mut places = Vec::new();
            collect_places(&request, String::new(), &mut places);
            let place = &places[at.index(places.len())];
            match request.pointer_mut(place) {
                Some(Value::Object(object)) if add => drop(object.insert("Unexpected".to_owned(), value)),
                Some(slot) => *slot = value,
                None => {}
            }
            (path, request.to_string().into_bytes())
        },
    )
}

fn collect_places(value: &Value, pointer: String, places: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                collect_places(child, format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")), places);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_places(child, format!("{pointer}/{index}"), places);
            }
        }
        _ => {}
    }
    places.push(pointer);
}

/// A valid request's text with a byte changed, a range cut out or JSON syntax spliced in.
fn mutated_request() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    const FRAGMENTS: &[&str] =
        &["null", "{", "}", "[", "]", "\"", ",", ":", "1e999", "-0", "\"\\u0000\"", "[[[[[[[[", "\"\\ud800\""];
    let requests: Vec<(&'static str, String)> =
        valid_requests().into_iter().map(|(path, request)| (path, request.to_string())).collect();
    (
        proptest::sample::select(requests),
        any::<prop::sample::Index>(),
        0..64usize,
        0..3usize,
        any::<u8>(),
        proptest::sample::select(FRAGMENTS),
    )
        .prop_map(|((path, text), at, length, how, byte, fragment)| {
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len());
            match how {
                0 => bytes[at] = byte,
                1 => drop(bytes.drain(at..(at + length).min(bytes.len()))),
                _ => drop(bytes.splice(at..at, fragment.bytes())),
            }
            (path, bytes)
        })
}

fn random_request() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    let paths: Vec<&'static str> = valid_requests().into_iter().map(|(path, _)| path).collect();
    (proptest::sample::select(paths), proptest::collection::vec(any::<u8>(), 0..512))
}

fn run(strategy: impl Strategy<Value = (&'static str, Vec<u8>)>) {
    let api = Api::start();
    let mut runner = TestRunner::new(fuzz_config());
    runner.run(&strategy, |(path, body)| api.check(path, &body)).unwrap();
}

#[test]
fn every_seed_request_is_valid() {
    let api = Api::start();
    let mut wrong = Vec::new();
    for (path, request) in valid_requests() {
        let (status, answer) = api.post(path, request.to_string().as_bytes());
        // No demo runs beside this server, and no insight has opened.
        let expected = match path {
            "/api/demo/scenario" => 404,
            "/Insight" | "/InsightEvents" | "/InsightImpactGraph" => 400,
            _ => 200,
        };
        if status != expected {
            wrong.push(format!("{path} answered {status}: {answer}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn random_bodies() {
    run(random_request());
}

#[test]
fn mutated_bodies() {
    run(mutated_request());
}

#[test]
fn valid_bodies_with_a_hostile_value() {
    run(swapped_value_request());
}
