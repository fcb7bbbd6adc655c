//! Minute-by-minute timelines with fixed timestamps: the exact minute each alarm changes state.

use super::*;

/// 2026-12-04 10:00:00 UTC.
const T0: i64 = 1_796_378_400;

fn minute(k: i64) -> i64 {
    T0 + k * 60
}

/// Minute `k` of the timeline holds `values[k]`; `None` is a minute without a datapoint.
fn timeline(values: &[Option<f64>]) -> Timeline {
    values.iter().enumerate().filter_map(|(k, v)| v.map(|v| (minute(k as i64), v))).collect()
}

fn rule(evaluation_periods: usize, datapoints_to_alarm: usize, treat_missing_data: TreatMissingData) -> AlarmRule {
    AlarmRule {
        period: 60,
        evaluation_periods,
        datapoints_to_alarm,
        comparison_operator: ComparisonOperator::GreaterThanThreshold,
        threshold: 2.0,
        treat_missing_data,
    }
}

/// (minute index, new state) of each transition while evaluating at every minute until the one
/// after the last datapoint (later, the data ends and every treatment has its own say).
fn changes(rule: &AlarmRule, values: &[Option<f64>]) -> Vec<(i64, AlarmState)> {
    replay_alarm(rule, &timeline(values), minute(0), minute(values.len() as i64))
        .into_iter()
        .map(|t| ((t.at - T0) / 60, t.to))
        .collect()
}

use AlarmState::{Alarm, InsufficientData, Ok as Fine};

/// 1, 5, 5, three empty minutes, then 1s: the shape every missing-data treatment is tried on.
const GAPPY: [Option<f64>; 10] =
    [Some(1.0), Some(5.0), Some(5.0), None, None, None, Some(1.0), Some(1.0), Some(1.0), Some(1.0)];

#[test]
fn three_of_three_alarms_on_the_third_breach_and_recovers_on_the_first_good_minute() {
    let values = [1.0, 1.0, 5.0, 7.0, 9.0, 1.0, 1.0].map(Some);
    let transitions = replay_alarm(&rule(3, 3, TreatMissingData::Missing), &timeline(&values), minute(0), minute(8));
    let states: Vec<(i64, AlarmState)> = transitions.iter().map(|t| ((t.at - T0) / 60, t.to)).collect();
    assert_eq!(states, vec![(1, Fine), (5, Alarm), (6, Fine)]);
    assert_eq!(
        transitions[1].reason,
        "Threshold Crossed: 3 out of the last 3 datapoints [9.0 (04/12/26 10:04:00), 7.0 (04/12/26 10:03:00), \
         5.0 (04/12/26 10:02:00)] were greater than the threshold (2.0) (minimum 3 datapoints for OK -> ALARM transition)."
    );
    assert_eq!(
        transitions[2].reason,
        "Threshold Crossed: 1 out of the last 3 datapoints [1.0 (04/12/26 10:05:00)] were not greater than the \
         threshold (2.0) (minimum 1 datapoint for ALARM -> OK transition)."
    );
}

#[test]
fn two_of_three_alarms_on_non_consecutive_breaches() {
    let values = [1.0, 5.0, 1.0, 5.0, 1.0, 1.0, 1.0].map(Some);
    assert_eq!(changes(&rule(3, 2, TreatMissingData::Missing), &values), vec![(1, Fine), (4, Alarm), (5, Fine)]);
    // 2 of 3 alarms where 3 of 3 never does.
    let full: Vec<(i64, AlarmState)> = changes(&rule(3, 3, TreatMissingData::Missing), &values);
    assert_eq!(full, vec![(1, Fine)]);
}

#[test]
fn three_of_five_needs_three_breaches_within_five_minutes() {
    let values = [1.0, 1.0, 1.0, 5.0, 1.0, 5.0, 1.0, 5.0, 1.0, 1.0, 1.0, 1.0].map(Some);
    // Breaches at 3, 5, 7 (two within 10:01-10:05 are not enough): minutes 3..=7 hold three of them, evaluated at minute 8.
    assert_eq!(changes(&rule(5, 3, TreatMissingData::Missing), &values), vec![(1, Fine), (8, Alarm), (9, Fine)]);
}

#[test]
fn missing_goes_to_insufficient_data_when_every_period_is_empty() {
    let transitions = replay_alarm(&rule(3, 2, TreatMissingData::Missing), &timeline(&GAPPY), minute(0), minute(10));
    let states: Vec<(i64, AlarmState)> = transitions.iter().map(|t| ((t.at - T0) / 60, t.to)).collect();
    // At 10:05 only 10:02 (5.0) is present: fewer than M, all breaching, so ALARM holds.
    assert_eq!(states, vec![(1, Fine), (3, Alarm), (6, InsufficientData), (7, Fine)]);
    assert_eq!(transitions[2].reason, "Insufficient Data: 3 datapoints were unknown.");
}

#[test]
fn ignore_keeps_the_state_through_the_gap() {
    // Minute 1: only one datapoint, fewer than M, none breaching: the state stays INSUFFICIENT_DATA.
    // ALARM holds through the empty minutes and the lone 1.0 at 10:06; two good minutes end it.
    assert_eq!(changes(&rule(3, 2, TreatMissingData::Ignore), &GAPPY), vec![(2, Fine), (3, Alarm), (8, Fine)]);
}

#[test]
fn breaching_counts_the_gap_as_bad() {
    let transitions = replay_alarm(&rule(3, 2, TreatMissingData::Breaching), &timeline(&GAPPY), minute(0), minute(10));
    let states: Vec<(i64, AlarmState)> = transitions.iter().map(|t| ((t.at - T0) / 60, t.to)).collect();
    // Before the first datapoint every period is missing, hence breaching; the gap keeps it in ALARM.
    assert_eq!(states, vec![(0, Alarm), (8, Fine)]);
    assert_eq!(
        transitions[0].reason,
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as [Breaching]."
    );
}

#[test]
fn not_breaching_counts_the_gap_as_good() {
    assert_eq!(changes(&rule(3, 2, TreatMissingData::NotBreaching), &GAPPY), vec![(0, Fine), (3, Alarm), (5, Fine)]);
}

#[test]
fn the_period_in_progress_is_not_evaluated() {
    let values = [Some(5.0)];
    let rule = rule(1, 1, TreatMissingData::Missing);
    let evaluation = evaluate_alarm(&rule, &timeline(&values), InsufficientData, minute(0) + 59);
    assert_eq!(evaluation.state, InsufficientData);
    assert_eq!(evaluate_alarm(&rule, &timeline(&values), InsufficientData, minute(1)).state, Alarm);
}

#[test]
fn operators_and_statistics() {
    use ComparisonOperator::*;
    assert!(GreaterThanOrEqualToThreshold.breaches(2.0, 2.0) && !GreaterThanThreshold.breaches(2.0, 2.0));
    assert!(LessThanOrEqualToThreshold.breaches(2.0, 2.0) && !LessThanThreshold.breaches(2.0, 2.0));
    let values = [1.0, 4.0, 7.0];
    assert_eq!(AlarmStatistic::SampleCount.aggregate(&values), Some(3.0));
    assert_eq!(AlarmStatistic::Sum.aggregate(&values), Some(12.0));
    assert_eq!(AlarmStatistic::Average.aggregate(&values), Some(4.0));
    assert_eq!(AlarmStatistic::Minimum.aggregate(&values), Some(1.0));
    assert_eq!(AlarmStatistic::Maximum.aggregate(&values), Some(7.0));
    assert_eq!(AlarmStatistic::Sum.aggregate(&[]), None);
}

#[test]
fn cloudwatch_time_is_day_month_year() {
    assert_eq!(cloudwatch_time(T0), "04/12/26 10:00:00");
    assert_eq!(cloudwatch_time(0), "01/01/70 00:00:00");
    assert_eq!(notification_time(T0 + 62), "2026-12-04T10:01:02.000+0000");
    assert_eq!(cloudwatch_time(951_782_400), "29/02/00 00:00:00");
}

#[test]
fn rule_reads_put_metric_alarm_json() {
    let json = r#"{"Period":60,"EvaluationPeriods":3,"DatapointsToAlarm":2,
        "ComparisonOperator":"GreaterThanThreshold","Threshold":2.0,"TreatMissingData":"notBreaching"}"#;
    let parsed: AlarmRule = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, rule(3, 2, TreatMissingData::NotBreaching));
}
