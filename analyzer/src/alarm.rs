//! CloudWatch alarm evaluation as a pure function over a timeline of datapoints and a clock.
//!
//! The evaluator knows nothing of where datapoints come from: a group metric (ApproximateTraceCount,
//! a service's fault count) or an OTLP metric series both reduce to a [`Timeline`] — one value per
//! period start — so the seam between metric sources and alarms is this type.
//!
//! Rules, after CloudWatch's "Evaluating an alarm" and "Configuring how CloudWatch alarms treat
//! missing data":
//! - The evaluation range is the `evaluation_periods` periods that ended at or before `now`
//!   (a period still in progress is never evaluated: its datapoint is not final).
//! - A datapoint breaches when `value <op> threshold` holds; the alarm goes to ALARM when at least
//!   `datapoints_to_alarm` (M) of the N periods breach, otherwise to OK.
//! - Missing periods: `breaching` / `notBreaching` count them as breaching / not breaching;
//!   `ignore` and `missing` leave them out. With every period missing, `missing` goes to
//!   INSUFFICIENT_DATA and `ignore` keeps the current state. With some present but fewer than M
//!   present, `missing` decides on the present ones alone (ALARM when all of them breach — the
//!   docs' row `- - X` → ALARM), `ignore` keeps the current state unless M of them breach.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One value per period, keyed by the period's start in Unix seconds.
pub type Timeline = BTreeMap<i64, f64>;

/// CloudWatch's `StateValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// The spelling CloudWatch uses in reasons and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// CloudWatch's `ComparisonOperator` (the static-threshold ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComparisonOperator {
    GreaterThanThreshold,
    GreaterThanOrEqualToThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanThreshold => value > threshold,
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::GreaterThanThreshold => "greater than",
            Self::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Self::LessThanThreshold => "less than",
            Self::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// CloudWatch's `TreatMissingData`; `missing` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    #[default]
    Missing,
    NotBreaching,
    Breaching,
    Ignore,
}

/// CloudWatch's `Statistic`: how the raw values of one period become its datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmStatistic {
    SampleCount,
    Sum,
    Average,
    Minimum,
    Maximum,
}

impl AlarmStatistic {
    /// The period's datapoint, or `None` for a period without values (a missing datapoint).
    pub fn aggregate(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let sum: f64 = values.iter().sum();
        Some(match self {
            Self::SampleCount => values.len() as f64,
            Self::Sum => sum,
            Self::Average => sum / values.len() as f64,
            Self::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// The evaluation part of a `PutMetricAlarm` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmRule {
    /// Seconds; a multiple of 60 (group metrics are per minute).
    pub period: i64,
    pub evaluation_periods: usize,
    /// M of N; CloudWatch's default is `evaluation_periods`.
    pub datapoints_to_alarm: usize,
    pub comparison_operator: ComparisonOperator,
    pub threshold: f64,
    #[serde(default)]
    pub treat_missing_data: TreatMissingData,
}

/// The outcome of one evaluation: the new state and CloudWatch's reason for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub state: AlarmState,
    pub reason: String,
}

/// The state an alarm with `rule` should be in at `now`, given it is in `current`.
pub fn evaluate_alarm(rule: &AlarmRule, timeline: &Timeline, current: AlarmState, now: i64) -> Evaluation {
    let range = evaluation_range(rule, timeline, now);
    let present: Vec<(i64, f64)> = range.iter().filter_map(|&(at, value)| value.map(|v| (at, v))).collect();
    let missing = range.len() - present.len();
    let breaching = present.iter().filter(|&&(_, v)| rule.comparison_operator.breaches(v, rule.threshold)).count();
    let m = rule.datapoints_to_alarm.max(1);
    match rule.treat_missing_data {
        TreatMissingData::Breaching | TreatMissingData::NotBreaching if present.is_empty() => {
            let state = if rule.treat_missing_data == TreatMissingData::Breaching && missing >= m {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            };
            all_missing_treated(rule, state, missing)
        }
        TreatMissingData::Breaching => {
            decide(rule, &present, breaching + missing, breaching + missing >= m, range.len())
        }
        TreatMissingData::NotBreaching => decide(rule, &present, breaching, breaching >= m, range.len()),
        _ if present.is_empty() => match rule.treat_missing_data {
            TreatMissingData::Ignore => Evaluation { state: current, reason: unknown_reason(missing) },
            _ => Evaluation { state: AlarmState::InsufficientData, reason: unknown_reason(missing) },
        },
        TreatMissingData::Missing if present.len() < m => {
            decide(rule, &present, breaching, breaching == present.len(), present.len())
        }
        TreatMissingData::Ignore if present.len() < m && breaching < m => {
            Evaluation { state: current, reason: unknown_reason(missing) }
        }
        _ => decide(rule, &present, breaching, breaching >= m, present.len()),
    }
}

/// The N periods ending at the last one closed by `now`, oldest first; `None` marks a missing one.
fn evaluation_range(rule: &AlarmRule, timeline: &Timeline, now: i64) -> Vec<(i64, Option<f64>)> {
    let period = rule.period.max(1);
    let last_start = now.div_euclid(period) * period - period;
    (0..rule.evaluation_periods as i64)
        .rev()
        .map(|back| last_start - back * period)
        .map(|start| (start, timeline.get(&start).copied()))
        .collect()
}

/// `Threshold Crossed: 3 out of the last 3 datapoints [9.0 (04/12/26 10:02:00), …] were greater than
/// the threshold (2.0) (minimum 3 datapoints for OK -> ALARM transition).` — newest datapoint first,
/// as CloudWatch lists them.
fn decide(rule: &AlarmRule, present: &[(i64, f64)], counted: usize, alarm: bool, out_of: usize) -> Evaluation {
    let (state, negation, transition) =
        if alarm { (AlarmState::Alarm, "", "OK -> ALARM") } else { (AlarmState::Ok, "not ", "ALARM -> OK") };
    let shown: Vec<&(i64, f64)> =
        present.iter().rev().filter(|&&(_, v)| rule.comparison_operator.breaches(v, rule.threshold) == alarm).collect();
    let listed: Vec<String> =
        shown.iter().map(|&&(at, v)| format!("{} ({})", number(v), cloudwatch_time(at))).collect();
    let count = if alarm { counted } else { shown.len() };
    let minimum = if alarm { rule.datapoints_to_alarm.max(1) } else { 1 };
    let plural = |n: usize| if n == 1 { "datapoint" } else { "datapoints" };
    let reason = format!(
        "Threshold Crossed: {count} out of the last {out_of} {} [{}] were {negation}{} the threshold ({}) (minimum {minimum} {} for {transition} transition).",
        plural(out_of),
        listed.join(", "),
        rule.comparison_operator.words(),
        number(rule.threshold),
        plural(minimum),
    );
    Evaluation { state, reason }
}

fn all_missing_treated(rule: &AlarmRule, state: AlarmState, missing: usize) -> Evaluation {
    let treated = if rule.treat_missing_data == TreatMissingData::Breaching { "Breaching" } else { "NotBreaching" };
    let reason = format!(
        "Threshold Crossed: no datapoints were received for {missing} periods and {missing} missing datapoints were treated as [{treated}]."
    );
    Evaluation { state, reason }
}

fn unknown_reason(missing: usize) -> String {
    format!("Insufficient Data: {missing} datapoints were unknown.")
}

/// CloudWatch prints whole numbers with one decimal (`5.0`).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

/// `dd/MM/yy HH:mm:ss` in UTC, the format of CloudWatch's reasons.
pub fn cloudwatch_time(unix_seconds: i64) -> String {
    utc(unix_seconds).format("%d/%m/%y %H:%M:%S").to_string()
}

/// `2026-12-04T10:02:00.000+0000`: the `StateChangeTime` format of CloudWatch's alarm notifications.
pub fn notification_time(unix_seconds: i64) -> String {
    utc(unix_seconds).format("%Y-%m-%dT%H:%M:%S.000+0000").to_string()
}

/// The UTC time of `unix_seconds` (the epoch for times chrono cannot represent, ±262,000 years).
fn utc(unix_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default()
}

/// One state change, as `DescribeAlarmHistory` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub at: i64,
    pub from: AlarmState,
    pub to: AlarmState,
    pub reason: String,
}

/// Evaluates once per period from `start` to `end` (inclusive), as the server's evaluation loop
/// does, and returns the transitions; a new alarm starts in INSUFFICIENT_DATA like CloudWatch's.
pub fn replay_alarm(rule: &AlarmRule, timeline: &Timeline, start: i64, end: i64) -> Vec<Transition> {
    let mut state = AlarmState::InsufficientData;
    let mut transitions = Vec::new();
    let mut now = start;
    while now <= end {
        let evaluation = evaluate_alarm(rule, timeline, state, now);
        if evaluation.state != state {
            transitions.push(Transition { at: now, from: state, to: evaluation.state, reason: evaluation.reason });
            state = evaluation.state;
        }
        now += rule.period.max(1);
    }
    transitions
}

#[cfg(test)]
#[path = "alarm_tests.rs"]
mod tests;
