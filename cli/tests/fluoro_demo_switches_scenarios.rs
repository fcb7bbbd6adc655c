//! The scenarios, switched on a running `fluoro demo` with `fluoro demo scenario …`, as the
//! API shows them: traffic ×5 makes the pets table throttle PetSearch's scans, and on-demand
//! billing ends it — an alarm on the group of throttled scans goes to ALARM and back to OK, and
//! its webhook gets both notifications once; errormode1 makes bunny payments fail with "Illegal memory allocation"
//! after 1 s until payforadoption reaches its memory cap, aborts and is restarted; the fault
//! traces carry the exception and payforadoption's log lines, and its resident memory
//! (`process.memory.usage`, exported every 250 ms here) climbs after the switch, before the crash.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::demo::Demo;
use crate::webhook_receiver::{delivered_messages, webhook_receiver};

const THROTTLING: &str = "ProvisionedThroughputExceededException";

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn now_seconds_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// payforadoption's `process.memory.usage` points since `since` (raw, every process it ran as),
/// in time order.
fn memory_points(demo: &Demo, since: f64) -> Vec<(f64, f64)> {
    let answer = demo.post(
        "/api/metrics/series",
        json!({"StartTime": since, "EndTime": now_seconds_f64() + 5.0, "Service": "payforadoption",
               "Name": "process.memory.usage", "Statistic": "max"}),
    );
    let mut points: Vec<(f64, f64)> = answer["Values"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .filter_map(|v| Some((v["Timestamp"].as_f64()?, v["Value"].as_f64()?)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

fn trace_ids(demo: &Demo, filter: &str, since: u64) -> Vec<String> {
    let request = json!({"StartTime": since, "EndTime": now_seconds() + 60, "FilterExpression": filter});
    let summaries = demo.post("/TraceSummaries", request);
    summaries["TraceSummaries"].as_array().unwrap().iter().map(|s| s["Id"].as_str().unwrap().to_owned()).collect()
}

fn documents(demo: &Demo, trace_id: &str) -> Vec<Value> {
    let traces = demo.post("/Traces", json!({"TraceIds": [trace_id]}));
    traces["Traces"][0]["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| serde_json::from_str(segment["Document"].as_str().unwrap()).unwrap())
        .collect()
}

/// Every entity of a document, depth first.
fn entities(entity: &Value, all: &mut Vec<Value>) {
    all.push(entity.clone());
    for subsegment in entity["subsegments"].as_array().into_iter().flatten() {
        entities(subsegment, all);
    }
}

fn exception_types(entity: &Value) -> Vec<String> {
    let exceptions = entity["cause"]["exceptions"].as_array().into_iter().flatten();
    exceptions.filter_map(|e| e["type"].as_str().or(e["message"].as_str()).map(str::to_owned)).collect()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("timed out waiting for {what}");
}

/// An alarm on the group's ApproximateTraceCount: any throttled scan in a minute breaches.
fn create_throttle_alarm(demo: &Demo, filter: &str, hook: &str) {
    demo.post("/CreateGroup", json!({"GroupName": "throttled-scans", "FilterExpression": filter}));
    demo.post(
        "/PutMetricAlarm",
        json!({"AlarmName": "pets-table-throttling", "Namespace": "AWS/X-Ray", "MetricName": "ApproximateTraceCount",
               "Dimensions": {"GroupName": "throttled-scans"}, "Statistic": "Sum", "Period": 60,
               "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "ComparisonOperator": "GreaterThanThreshold",
               "Threshold": 0.0, "TreatMissingData": "notBreaching", "AlarmActions": [hook]}),
    );
}

/// The (old, new) states of the alarm notifications delivered so far, in order.
fn alarm_changes(messages: &[Value]) -> Vec<(String, String)> {
    let state = |message: &Value, key: &str| message[key].as_str().unwrap().to_owned();
    messages.iter().map(|m| (state(m, "OldStateValue"), state(m, "NewStateValue"))).collect()
}

#[test]
fn traffic_x5_throttles_the_table_and_alarms_until_billing_goes_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let started = now_seconds() - 1;
    let throttled = "edge(\"PetSearch\", \"DynamoDB\") { throttle }";
    let (hook, received) = webhook_receiver(1);
    create_throttle_alarm(&demo, throttled, &hook);
    assert!(demo.scenario(&["traffic", "5"]).contains("\"traffic\":5"));
    wait_for("throttled scans", Duration::from_secs(120), || !trace_ids(&demo, throttled, started).is_empty());
    let trace = &trace_ids(&demo, throttled, started)[0];
    let mut all = Vec::new();
    for document in documents(&demo, trace) {
        entities(&document, &mut all);
    }
    // A 400 from the table, marked as a throttle (and an error) by its exception's type.
    let refused = all.iter().find(|e| e["name"] == "DynamoDB" && e["throttle"] == true).expect("a throttled scan");
    assert_eq!(refused["error"], true, "{refused}");
    assert_eq!(refused["http"]["response"]["status"], 400, "{refused}");
    assert!(exception_types(refused).iter().any(|t| t == THROTTLING), "{refused}");

    // The minute of the first throttles closes (plus the demo's 10 s grace): ALARM, notified.
    let mut messages = Vec::new();
    wait_for("the ALARM notification", Duration::from_secs(150), || {
        messages = delivered_messages(&received, 1, Duration::ZERO);
        alarm_changes(&messages).iter().any(|(_, new)| new == "ALARM")
    });

    assert!(demo.scenario(&["billing", "on-demand"]).contains("\"billing\":\"on-demand\""));
    // Traces begun once the retries in flight (a few seconds at most) are over.
    let switched = now_seconds() + 6;
    std::thread::sleep(Duration::from_secs(30));
    let scans = trace_ids(&demo, "edge(\"PetSearch\", \"DynamoDB\")", switched);
    assert!(!scans.is_empty(), "the traffic went on scanning");
    assert_eq!(trace_ids(&demo, throttled, switched), Vec::<String>::new(), "throttled after on-demand");

    // A whole minute without throttles: back to OK, notified too; each change exactly once.
    wait_for("the OK notification", Duration::from_secs(180), || {
        messages = delivered_messages(&received, 1, Duration::ZERO);
        alarm_changes(&messages).last().is_some_and(|(old, new)| old == "ALARM" && new == "OK")
    });
    let changes = alarm_changes(&messages);
    let alarm_at = changes.iter().position(|(_, new)| new == "ALARM").unwrap();
    let after_alarm = &changes[alarm_at + 1..];
    assert_eq!(after_alarm, [("ALARM".to_owned(), "OK".to_owned())], "ALARM, then OK, once each: {changes:?}");
    let history = demo.post("/DescribeAlarmHistory", json!({"AlarmName": "pets-table-throttling"}));
    let latest = &history["AlarmHistoryItems"][0];
    assert_eq!((latest["OldState"].as_str(), latest["NewState"].as_str()), (Some("ALARM"), Some("OK")));
    let breach = history["AlarmHistoryItems"].as_array().unwrap().iter().find(|i| i["NewState"] == "ALARM").unwrap();
    assert!(breach["Reason"].as_str().unwrap().contains("greater than the threshold (0.0)"), "{breach}");
    demo.interrupt();
}

#[test]
fn errormode1_fails_bunny_payments_until_payforadoption_crashes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start_with(dir.path(), &["--memory-cap-mib", "150", "--metrics-interval-ms", "250"]);
    let started = now_seconds() - 1;
    // A few memory points of payforadoption at rest first.
    wait_for("payforadoption's memory at rest", Duration::from_secs(30), || {
        memory_points(&demo, started as f64 - 60.0).len() >= 3
    });
    let switched = now_seconds_f64();
    assert!(demo.scenario(&["errormode1", "on"]).contains("\"errormode1\":\"on\""));
    let bunny = [("petId", "024"), ("pettype", "bunny")];
    wait_for("payforadoption's crash", Duration::from_secs(120), || {
        demo.petsite_form("/Payment/MakePayment", &bunny);
        demo.output().iter().any(|line| line.starts_with("fluoro demo: payforadoption exited"))
    });
    let crashed = now_seconds_f64();
    // Restarted: a puppy's payment goes through again (a transport error would be a failure).
    wait_for("payforadoption's restart", Duration::from_secs(30), || {
        demo.petsite_form("/Payment/MakePayment", &[("petId", "003"), ("pettype", "puppy")]).contains(">success<")
    });

    let faults = "service(\"payforadoption\") { fault } AND annotation.PetType = \"bunny\"";
    wait_for("fault traces", Duration::from_secs(30), || !trace_ids(&demo, faults, started).is_empty());
    let trace = &trace_ids(&demo, faults, started)[0];
    let payment = documents(&demo, trace).into_iter().find(|d| d["name"] == "payforadoption").unwrap();
    assert_eq!(payment["fault"], true);
    assert_eq!(payment["http"]["response"]["status"], 500);
    let messages: Vec<&str> =
        payment["cause"]["exceptions"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert!(messages.contains(&"Illegal memory allocation"), "{payment}");
    let duration = payment["end_time"].as_f64().unwrap() - payment["start_time"].as_f64().unwrap();
    assert!(duration >= 1.0, "the fault waits 1 s first: {duration}");
    let mut all = Vec::new();
    entities(&payment, &mut all);
    assert!(all.iter().all(|e| e["sql"].is_null()), "no SQL after the fault");
    // payforadoption's log lines of that payment, in the trace and on its segment.
    let segment = payment["id"].as_str().unwrap();
    wait_for("the payment's log lines", Duration::from_secs(30), || {
        let logs = demo.post("/api/logs/trace", json!({"TraceId": trace, "SegmentId": segment}));
        let bodies: Vec<String> = logs["Logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["Body"].as_str().unwrap_or_default().to_owned())
            .collect();
        let error_mode = bodies.iter().any(|b| b.contains("\"errorMode\":\"On\""));
        let failure = bodies.iter().any(|b| b.contains("Illegal memory allocation") && b.contains("CompleteAdoption"));
        error_mode && failure
    });

    // Its resident memory climbed after the switch, before the crash, from what it was at rest.
    let points = memory_points(&demo, started as f64 - 60.0);
    let at_rest = points.iter().filter(|(t, _)| *t < switched).map(|(_, v)| *v).fold(0.0, f64::max);
    assert!(at_rest > 0.0, "points before the switch: {points:?}");
    let failing: Vec<(f64, f64)> = points.iter().copied().filter(|(t, _)| *t >= switched && *t <= crashed).collect();
    let peak = failing.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    const MIB: f64 = 1024.0 * 1024.0;
    assert!(peak >= at_rest + 64.0 * MIB, "memory climbs from {at_rest} to {peak} (≥ 2 held payments): {points:?}");
    let first_fault = trace_ids(&demo, faults, started)
        .iter()
        .flat_map(|id| documents(&demo, id))
        .filter(|d| d["name"] == "payforadoption" && d["fault"] == true)
        .filter_map(|d| d["end_time"].as_f64())
        .fold(f64::INFINITY, f64::min);
    let risen = failing.iter().find(|(_, v)| *v >= at_rest + 32.0 * MIB).map(|(t, _)| *t).unwrap();
    assert!(risen < crashed, "the climb ({risen}) precedes the crash ({crashed})");
    assert!(
        risen <= first_fault + 1.0,
        "memory is held from the first failing payment on: risen at {risen}, first fault answered at {first_fault}"
    );

    assert!(demo.scenario(&["errormode1", "off"]).contains("\"errormode1\":\"off\""));
    let page = demo.petsite_form("/Payment/MakePayment", &bunny);
    assert!(page.contains(">success<"), "{page}");
    demo.interrupt();
}

/// Bunny searches are slower than 3 s, as in the original: a bunny search clicked on PetSite is
/// found by `responsetime > 3`, every trace that filter finds searched for bunnies, and
/// comparing those traces with the rest (`/api/compare`) ranks the bunny pet type and the
/// search URL among the first differences.
#[test]
fn responsetime_over_3_finds_the_bunny_searches() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let started = now_seconds() - 1;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let page = runtime.block_on(async {
        let url = format!("{}/?selectedPetType=bunny&selectedPetColor=brown", demo.petsite);
        reqwest::get(url).await.unwrap().text().await.unwrap()
    });
    let marker = "<code id=\"traceid\">";
    let start = page.find(marker).expect("the page shows its trace id") + marker.len();
    let clicked = page[start..start + 35].to_owned();
    wait_for("the slow search", Duration::from_secs(60), || {
        trace_ids(&demo, "responsetime > 3", started).contains(&clicked)
    });
    for trace in trace_ids(&demo, "responsetime > 3", started).iter().take(10) {
        let search_urls = || -> Vec<String> {
            documents(&demo, trace)
                .iter()
                .filter(|d| d["name"] == "PetSearch")
                .filter_map(|d| d["http"]["request"]["url"].as_str().map(str::to_owned))
                .collect()
        };
        // PetSearch's spans come over OTLP in batches: they may follow PetSite's segment.
        wait_for("PetSearch's span of a slow trace", Duration::from_secs(30), || !search_urls().is_empty());
        let urls = search_urls();
        assert!(urls.iter().any(|url| url.contains("pettype=bunny")), "{trace}: {urls:?}");
    }
    // Comparing the slow traces with the rest ranks the bunny pet type and the search URL first.
    wait_for("several slow searches", Duration::from_secs(60), || {
        trace_ids(&demo, "responsetime > 3", started).len() >= 6
    });
    let comparison = demo.post(
        "/api/compare",
        json!({"StartTime": started, "EndTime": now_seconds() + 5, "Selection": "responsetime > 3"}),
    );
    let ranking = comparison["Ranking"].as_array().unwrap_or_else(|| panic!("{comparison}"));
    let top: Vec<(&str, &str, f64)> = ranking
        .iter()
        .take(10)
        .map(|r| {
            let attribute = r["Attribute"].as_str().unwrap_or_default();
            (attribute, r["Value"].as_str().unwrap_or_default(), r["Difference"].as_f64().unwrap_or_default())
        })
        .collect();
    // PetSite's annotation of the pet type (spec 5(c)): first or second, beside the colour.
    assert!(
        top.iter().take(2).any(|&(a, v, d)| a == "annotation" && v == "pettype=bunny" && d > 0.5),
        "the bunny pet type leads the ranking: {top:?}"
    );
    // The search URL is among the first ten differences: PetSite's search page `/` or
    // PetSearch's route `/api/search` (the comparison reads URLs by path: `?selectedPetType=bunny`
    // is not part of the value, so `/` also counts every other pet type's searches in the
    // baseline, and the root-cause service and the colour may rank above it). How far `/`
    // stands out depends on the traffic's mix of pages: 0.27 on a loaded CI machine whose
    // generator cycles were failing, more on a quiet one.
    assert!(
        top.iter().any(|&(a, v, d)| d > 0.2
            && ((a == "http.url" && v == "/") || (a == "annotation" && v == "http_route=/api/search"))),
        "a search URL is among the top differences: {top:?}"
    );
    demo.interrupt();
}
