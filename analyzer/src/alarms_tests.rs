//! The registry: validation, evaluation through a [`MetricSource`], history, and `alarms.json`.

use super::*;
use crate::alarm::{ComparisonOperator, TreatMissingData};

/// 2026-12-04 10:00:00 UTC.
const T0: i64 = 1_796_378_400;

/// One fixed timeline for every metric; remembers what it was asked.
struct FixedSource(Timeline, Mutex<Vec<MetricId>>);

impl MetricSource for FixedSource {
    fn timeline(&self, metric: &MetricId, _statistic: AlarmStatistic, _period: i64, from: i64, to: i64) -> Timeline {
        self.1.lock().unwrap_or_else(PoisonError::into_inner).push(metric.clone());
        self.0.range(from..to).map(|(&at, &value)| (at, value)).collect()
    }
}

fn request(name: &str) -> PutMetricAlarm {
    PutMetricAlarm {
        alarm_name: name.to_owned(),
        alarm_description: String::new(),
        metric: MetricId {
            namespace: "AWS/X-Ray".to_owned(),
            metric_name: "ApproximateTraceCount".to_owned(),
            dimensions: BTreeMap::from([("GroupName".to_owned(), "slow".to_owned())]),
        },
        statistic: AlarmStatistic::Sum,
        rule: AlarmRule {
            period: 60,
            evaluation_periods: 2,
            datapoints_to_alarm: 2,
            comparison_operator: ComparisonOperator::GreaterThanThreshold,
            threshold: 2.0,
            treat_missing_data: TreatMissingData::Missing,
        },
        alarm_actions: vec!["http://127.0.0.1:9/hook".to_owned()],
    }
}

fn source() -> FixedSource {
    let values = [1.0, 5.0, 6.0, 1.0];
    FixedSource(values.iter().enumerate().map(|(k, &v)| (T0 + 60 * k as i64, v)).collect(), Mutex::new(Vec::new()))
}

#[test]
fn evaluation_records_transitions_and_survives_reopening() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("alarms.json");
    let alarms = Alarms::open(&path)?;
    alarms.put(request("slow-traces"), T0)?;
    let source = source();
    let mut states = Vec::new();
    for minute in 1..=4 {
        for (_, item) in alarms.evaluate(&source, T0 + 60 * minute)? {
            states.push((minute, item.new_state));
        }
    }
    assert_eq!(states, vec![(1, AlarmState::Ok), (3, AlarmState::Alarm), (4, AlarmState::Ok)]);
    assert_eq!(source.1.lock().unwrap_or_else(PoisonError::into_inner)[0], request("x").metric);

    let reopened = Alarms::open(&path)?;
    let described = reopened.describe(&[]);
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].state_value, AlarmState::Ok);
    let history = reopened.history(Some("slow-traces"));
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].history_summary, "Alarm updated from ALARM to OK");
    assert_eq!(history[1].timestamp, T0 + 180);
    assert!(history[1]
        .reason
        .starts_with("Threshold Crossed: 2 out of the last 2 datapoints [6.0 (04/12/26 10:02:00)"));
    Ok(())
}

#[test]
fn put_again_keeps_state_and_delete_refuses_unknown_names() -> anyhow::Result<()> {
    let alarms = Alarms::in_memory();
    alarms.put(request("a"), T0)?;
    alarms.evaluate(&source(), T0 + 180)?;
    let mut changed = request("a");
    changed.rule.threshold = 10.0;
    let replaced = alarms.put(changed, T0 + 200)?;
    assert_eq!(replaced.state_value, AlarmState::Alarm);
    assert_eq!(replaced.definition.rule.threshold, 10.0);
    assert!(matches!(alarms.delete(&["a".to_owned(), "b".to_owned()]), Err(AlarmError::NotFound(name)) if name == "b"));
    assert_eq!(alarms.describe(&[]).len(), 1);
    alarms.delete(&["a".to_owned()])?;
    assert!(alarms.describe(&[]).is_empty());
    Ok(())
}

#[test]
fn bad_requests_say_what_was_expected() {
    let alarms = Alarms::in_memory();
    let mut odd_period = request("a");
    odd_period.rule.period = 90;
    let error = alarms.put(odd_period, T0).err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("Period must be a positive multiple of 60 seconds"));
    let mut too_many = request("a");
    too_many.rule.datapoints_to_alarm = 3;
    let error = alarms.put(too_many, T0).err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("DatapointsToAlarm must be between 1 and EvaluationPeriods"));
    assert!(alarms.describe(&[]).is_empty());
}

/// Found by `api_bodies_never_panic`: the product EvaluationPeriods × Period overflowed.
#[test]
fn evaluation_periods_past_i64_are_refused_not_overflowed() {
    let alarms = Alarms::in_memory();
    for evaluation_periods in [8_985_035_700_693_938_601, usize::MAX] {
        let mut huge = request("a");
        huge.rule.evaluation_periods = evaluation_periods;
        let error = alarms.put(huge, T0).err().map(|e| e.to_string());
        let expected = "EvaluationPeriods must be at least 1 and EvaluationPeriods × Period at most 86400 seconds";
        assert_eq!(error.as_deref(), Some(expected));
    }
}

#[test]
fn a_corrupt_file_is_refused_with_its_path() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("alarms.json");
    fs::write(&path, b"{\"version\": 2, \"alarms\": []}")?;
    let error = Alarms::open(&path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("alarms.json is not valid: expected version 1, got 2"), "{error}");
    Ok(())
}

#[test]
fn webhook_urls_must_be_http_or_https_with_a_host() {
    let alarms = Alarms::in_memory();
    for (url, expected) in [
        ("ftp://example.com/hook", "expected http:// or https://"),
        ("arn:aws:sns:us-east-1:1:topic", "expected http:// or https://"),
        ("http:///hook", "expected a host after the scheme"),
        ("http://exa mple.com/", "whitespace"),
    ] {
        let mut bad = request("bad");
        bad.alarm_actions = vec![url.to_owned()];
        let error = alarms.put(bad, T0).expect_err(url).to_string();
        assert!(error.contains(expected) && error.contains(url), "{url}: {error}");
    }
    let mut many = request("many");
    many.alarm_actions = vec!["http://127.0.0.1:9/hook".to_owned(); 6];
    assert!(alarms.put(many, T0).is_err());
    let mut good = request("good");
    good.alarm_actions = vec!["https://hooks.example.com:8443/alarm?team=a".to_owned(), "http://[::1]:80/".to_owned()];
    assert!(alarms.put(good, T0).is_ok());
}
