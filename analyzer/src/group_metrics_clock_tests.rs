#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluoro_store::MetricQuery;
use serde_json::json;

use super::*;
use crate::group_metrics::tests::{open, put, trace, value, MINUTE};

const GRACE: i64 = 30;
const CONFIG: GroupMetricsConfig = GroupMetricsConfig { grace_seconds: GRACE, catch_up_minutes: 5 };

fn default_counts(store: &Store) -> Vec<(i64, f64)> {
    let points = store
        .metric_points(&MetricQuery {
            service: "AWS/X-Ray".to_owned(),
            name: "ApproximateTraceCount".to_owned(),
            from_us: 0,
            to_us: i64::MAX,
        })
        .unwrap();
    let default = json!({"GroupName": "Default"}).to_string();
    points
        .iter()
        .filter(|point| point.attributes == default)
        .map(|point| (point.time_us / 1_000_000 - MINUTE, point.value.unwrap()))
        .collect()
}

#[test]
fn a_minute_is_computed_once_after_its_grace_delay_and_late_spans_do_not_recount_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let groups = Groups::in_memory();
    let mut recorder = GroupMetricsRecorder::new(CONFIG);
    assert_eq!(recorder.record_due(&store, &groups, MINUTE + 600).unwrap(), Vec::<i64>::new(), "an empty store");
    put(&store, &trace(1, MINUTE as f64 + 5.0, 100.0, "ok"));
    let minute_end = MINUTE + 60;
    assert_eq!(recorder.record_due(&store, &groups, minute_end + GRACE - 1).unwrap(), Vec::<i64>::new());
    put(&store, &trace(2, MINUTE as f64 + 50.0, 100.0, "ok"));
    assert_eq!(recorder.record_due(&store, &groups, minute_end + GRACE).unwrap(), vec![MINUTE]);
    assert_eq!(value(&recorder.latest().points(), "ApproximateTraceCount", json!({"GroupName": "Default"})), Some(2.0));
    // Too late for its minute: stored, but the minute is not computed again.
    put(&store, &trace(3, MINUTE as f64 + 55.0, 100.0, "ok"));
    assert_eq!(recorder.record_due(&store, &groups, minute_end + GRACE + 59).unwrap(), Vec::<i64>::new());
    assert_eq!(recorder.record_due(&store, &groups, minute_end + GRACE + 60).unwrap(), vec![MINUTE + 60]);
    assert_eq!(default_counts(&store), [(0, 2.0), (60, 0.0)]);
    assert!(recorder.latest().prometheus().contains("fluoro_group_approximate_trace_count{group=\"Default\"} 0\n"));
}

#[test]
fn a_restart_catches_up_missed_minutes_within_the_bound_without_recomputing_any() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let groups = Groups::in_memory();
    put(&store, &trace(1, MINUTE as f64 + 5.0, 100.0, "ok"));
    let mut first = GroupMetricsRecorder::new(CONFIG);
    assert_eq!(first.record_due(&store, &groups, MINUTE + 60 + GRACE).unwrap(), vec![MINUTE]);
    store.close().unwrap();
    drop(store);

    // Down for two minutes: the restarted recorder resumes after the last computed minute.
    let store = open(dir.path());
    let mut restarted = GroupMetricsRecorder::new(CONFIG);
    assert_eq!(
        value(&restarted.latest().points(), "ApproximateTraceCount", json!({"GroupName": "Default"})),
        None,
        "nothing read before the first call"
    );
    let now = MINUTE + 3 * 60 + GRACE;
    assert_eq!(restarted.record_due(&store, &groups, now).unwrap(), vec![MINUTE + 60, MINUTE + 120]);
    assert_eq!(default_counts(&store), [(0, 1.0), (60, 0.0), (120, 0.0)]);

    // Down for an hour: only the last `catch_up_minutes` are computed.
    let mut again = GroupMetricsRecorder::new(CONFIG);
    let later = MINUTE + 60 * 60 + GRACE;
    let computed = again.record_due(&store, &groups, later).unwrap();
    assert_eq!(computed, (55..60).map(|m| MINUTE + 60 * m).collect::<Vec<_>>());
    assert_eq!(default_counts(&store).len(), 3 + 5, "no minute twice");
}

#[test]
fn a_long_catch_up_is_spread_over_passes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let groups = Groups::in_memory();
    put(&store, &trace(1, MINUTE as f64 + 5.0, 100.0, "ok"));
    let config = GroupMetricsConfig { grace_seconds: GRACE, catch_up_minutes: 60 };
    let mut recorder = GroupMetricsRecorder::new(config);
    let now = MINUTE + 25 * 60 + GRACE;
    let mut passes = Vec::new();
    loop {
        let computed = recorder.record_due(&store, &groups, now).unwrap();
        if computed.is_empty() {
            break;
        }
        passes.push(computed.len());
    }
    assert_eq!(passes, [MAX_MINUTES_PER_PASS, MAX_MINUTES_PER_PASS, 5]);
    assert_eq!(default_counts(&store).first(), Some(&(0, 1.0)));
    assert_eq!(default_counts(&store).len(), 25);
}

#[test]
fn a_restarted_recorder_serves_the_last_computed_minute_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let groups = Groups::in_memory();
    put(&store, &trace(1, MINUTE as f64 + 5.0, 100.0, "fault"));
    GroupMetricsRecorder::new(CONFIG).record_due(&store, &groups, MINUTE + 60 + GRACE).unwrap();
    let mut restarted = GroupMetricsRecorder::new(CONFIG);
    assert_eq!(restarted.record_due(&store, &groups, MINUTE + 60 + GRACE + 1).unwrap(), Vec::<i64>::new());
    let text = restarted.latest().prometheus();
    assert!(text.contains(&format!("fluoro_group_metrics_minute_timestamp_seconds {MINUTE}\n")), "{text}");
    assert!(
        text.contains(
            "fluoro_group_service_requests{group=\"Default\",service=\"api\",type=\"AWS::EC2::Instance\",status=\"fault\"} 1\n"
        ),
        "{text}"
    );
    assert!(text.contains("fluoro_group_service_response_time_seconds{group=\"Default\",service=\"api\",type=\"AWS::EC2::Instance\",quantile=\"0.5\"} 0.1"), "{text}");
}
