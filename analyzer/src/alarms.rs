//! [`Alarms`]: the registry of metric alarms (`PutMetricAlarm` / `DescribeAlarms` /
//! `DescribeAlarmHistory` / `DeleteAlarms`), their states and history, persisted in `alarms.json`.
//!
//! Where datapoints come from is behind [`MetricSource`]: group metrics and OTLP metric series
//! implement it alike, and [`Alarms::evaluate`] asks it for one [`Timeline`] per alarm.
//!
//! `alarms.json`, rewritten whole on every change with `replace_durably` (a crash leaves the old
//! or the new file), in the API's own shapes:
//! ```text
//! version 1
//! { "version": 1, "alarms": [ { "AlarmName": "slow", "MetricName": "ApproximateTraceCount", …,
//!                               "StateValue": "OK", "History": [ … ] } ] }
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::alarm::{evaluate_alarm, AlarmRule, AlarmState, AlarmStatistic, Timeline};
use crate::error::AlarmError;

pub const MAX_ALARMS: usize = 1000;
/// History entries kept per alarm, oldest dropped first.
pub const MAX_ALARM_HISTORY: usize = 100;
const MAX_ALARM_NAME_CHARS: usize = 255;
/// CloudWatch's bound on `AlarmActions`.
pub const MAX_ALARM_ACTIONS: usize = 5;
/// Longer webhook URLs are refused: they are stored, shown and sent with every notification.
const MAX_WEBHOOK_URL_CHARS: usize = 2048;
/// CloudWatch's bound: evaluation periods × period at most one day.
const MAX_EVALUATION_SECONDS: i64 = 86_400;
const FILE_FORMAT_VERSION: u32 = 1;

/// A metric's name and dimensions: what an alarm watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricId {
    pub namespace: String,
    pub metric_name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// Where alarms get their datapoints: one value per period start in `[from, to)`, Unix seconds.
pub trait MetricSource {
    fn timeline(&self, metric: &MetricId, statistic: AlarmStatistic, period: i64, from: i64, to: i64) -> Timeline;
}

/// A `PutMetricAlarm` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutMetricAlarm {
    pub alarm_name: String,
    #[serde(default)]
    pub alarm_description: String,
    #[serde(flatten)]
    pub metric: MetricId,
    pub statistic: AlarmStatistic,
    #[serde(flatten)]
    pub rule: AlarmRule,
    /// Webhook URLs notified on every transition.
    #[serde(default)]
    pub alarm_actions: Vec<String>,
}

/// One transition, as `DescribeAlarmHistory` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmHistoryItem {
    pub alarm_name: String,
    /// Unix seconds.
    pub timestamp: i64,
    pub old_state: AlarmState,
    pub new_state: AlarmState,
    pub history_summary: String,
    pub reason: String,
}

/// An alarm with its state, as `DescribeAlarms` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricAlarm {
    #[serde(flatten)]
    pub definition: PutMetricAlarm,
    pub state_value: AlarmState,
    pub state_reason: String,
    pub state_updated_timestamp: i64,
    #[serde(default)]
    pub history: Vec<AlarmHistoryItem>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmsFile {
    version: u32,
    alarms: Vec<MetricAlarm>,
}

/// The registry, optionally persisted.
#[derive(Debug)]
pub struct Alarms {
    file: Option<PathBuf>,
    by_name: Mutex<BTreeMap<String, MetricAlarm>>,
}

impl Alarms {
    pub fn in_memory() -> Alarms {
        Alarms { file: None, by_name: Mutex::new(BTreeMap::new()) }
    }

    /// Alarms persisted in `path`; an absent file is an empty registry.
    pub fn open(path: &Path) -> Result<Alarms, AlarmError> {
        let by_name = match fs::read(path) {
            Ok(bytes) => load(path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(AlarmError::Read { path: path.to_owned(), source }),
        };
        Ok(Alarms { file: Some(path.to_owned()), by_name: Mutex::new(by_name) })
    }

    /// Creates or replaces an alarm; a replaced alarm keeps its state and history, like CloudWatch's.
    pub fn put(&self, request: PutMetricAlarm, now: i64) -> Result<MetricAlarm, AlarmError> {
        check(&request)?;
        let mut alarms = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        if !alarms.contains_key(&request.alarm_name) && alarms.len() >= MAX_ALARMS {
            return Err(AlarmError::LimitExceeded(MAX_ALARMS));
        }
        let alarm = match alarms.remove(&request.alarm_name) {
            Some(existing) => MetricAlarm { definition: request, ..existing },
            None => MetricAlarm {
                definition: request,
                state_value: AlarmState::InsufficientData,
                state_reason: "Unchecked: Initial alarm creation".to_owned(),
                state_updated_timestamp: now,
                history: Vec::new(),
            },
        };
        alarms.insert(alarm.definition.alarm_name.clone(), alarm.clone());
        self.save(&alarms)?;
        Ok(alarm)
    }

    /// The named alarms (all when `names` is empty), without their history.
    pub fn describe(&self, names: &[String]) -> Vec<MetricAlarm> {
        let alarms = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        alarms
            .values()
            .filter(|alarm| names.is_empty() || names.contains(&alarm.definition.alarm_name))
            .map(|alarm| MetricAlarm { history: Vec::new(), ..alarm.clone() })
            .collect()
    }

    /// The alarm's transitions, newest first (all alarms' when `name` is `None`).
    pub fn history(&self, name: Option<&str>) -> Vec<AlarmHistoryItem> {
        let alarms = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        let mut items: Vec<AlarmHistoryItem> = alarms
            .values()
            .filter(|alarm| name.is_none_or(|name| alarm.definition.alarm_name == name))
            .flat_map(|alarm| alarm.history.iter().cloned())
            .collect();
        items.sort_by_key(|item| std::cmp::Reverse(item.timestamp));
        items
    }

    /// Deletes the named alarms; CloudWatch refuses the whole request when one does not exist.
    pub fn delete(&self, names: &[String]) -> Result<(), AlarmError> {
        let mut alarms = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(unknown) = names.iter().find(|name| !alarms.contains_key(*name)) {
            return Err(AlarmError::NotFound(unknown.clone()));
        }
        for name in names {
            alarms.remove(name);
        }
        self.save(&alarms)
    }

    /// Evaluates every alarm at `now`, records and returns the transitions (for notification).
    pub fn evaluate(
        &self,
        source: &dyn MetricSource,
        now: i64,
    ) -> Result<Vec<(MetricAlarm, AlarmHistoryItem)>, AlarmError> {
        let mut alarms = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        let mut transitions = Vec::new();
        for alarm in alarms.values_mut() {
            let rule = &alarm.definition.rule;
            let from = now - rule.period * (rule.evaluation_periods as i64 + 1);
            let timeline =
                source.timeline(&alarm.definition.metric, alarm.definition.statistic, rule.period, from, now);
            let evaluation = evaluate_alarm(rule, &timeline, alarm.state_value, now);
            if evaluation.state == alarm.state_value {
                continue;
            }
            let item = AlarmHistoryItem {
                alarm_name: alarm.definition.alarm_name.clone(),
                timestamp: now,
                old_state: alarm.state_value,
                new_state: evaluation.state,
                history_summary: format!(
                    "Alarm updated from {} to {}",
                    alarm.state_value.as_str(),
                    evaluation.state.as_str()
                ),
                reason: evaluation.reason.clone(),
            };
            alarm.state_value = evaluation.state;
            alarm.state_reason = evaluation.reason;
            alarm.state_updated_timestamp = now;
            alarm.history.push(item.clone());
            if alarm.history.len() > MAX_ALARM_HISTORY {
                alarm.history.remove(0);
            }
            transitions.push((MetricAlarm { history: Vec::new(), ..alarm.clone() }, item));
        }
        if !transitions.is_empty() {
            self.save(&alarms)?;
        }
        Ok(transitions)
    }

    fn save(&self, alarms: &BTreeMap<String, MetricAlarm>) -> Result<(), AlarmError> {
        let Some(path) = &self.file else { return Ok(()) };
        let file = AlarmsFile { version: FILE_FORMAT_VERSION, alarms: alarms.values().cloned().collect() };
        let write_error = |source| AlarmError::Write { path: path.clone(), source };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|error| write_error(std::io::Error::other(error)))?;
        if let Some(directory) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            fs::create_dir_all(directory).map_err(write_error)?;
        }
        fluoro_proto::replace_durably(path, &bytes).map_err(write_error)
    }
}

fn load(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, MetricAlarm>, AlarmError> {
    let invalid = |reason: String| AlarmError::InvalidFile { path: path.to_owned(), reason };
    let file: AlarmsFile = serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
    if file.version != FILE_FORMAT_VERSION {
        return Err(invalid(format!("expected version {FILE_FORMAT_VERSION}, got {}", file.version)));
    }
    let mut by_name = BTreeMap::new();
    for alarm in file.alarms {
        let name = alarm.definition.alarm_name.clone();
        check(&alarm.definition).map_err(|error| invalid(format!("alarm {name:?}: {error}")))?;
        if by_name.insert(name.clone(), alarm).is_some() {
            return Err(invalid(format!("alarm {name:?} appears twice")));
        }
    }
    Ok(by_name)
}

/// CloudWatch's limits, restricted to what per-minute metrics can answer.
fn check(request: &PutMetricAlarm) -> Result<(), AlarmError> {
    let invalid = |message: &str| Err(AlarmError::Invalid(message.to_owned()));
    let rule = &request.rule;
    if request.alarm_name.is_empty() || request.alarm_name.chars().count() > MAX_ALARM_NAME_CHARS {
        return invalid("AlarmName must be 1 to 255 characters");
    }
    if rule.period <= 0 || rule.period % 60 != 0 {
        return invalid("Period must be a positive multiple of 60 seconds");
    }
    // Checked: a fuzzed EvaluationPeriods of 8985035700693938601 overflowed the product.
    let evaluation_seconds =
        i64::try_from(rule.evaluation_periods).ok().and_then(|periods| periods.checked_mul(rule.period));
    if rule.evaluation_periods == 0 || evaluation_seconds.is_none_or(|seconds| seconds > MAX_EVALUATION_SECONDS) {
        return invalid("EvaluationPeriods must be at least 1 and EvaluationPeriods × Period at most 86400 seconds");
    }
    if rule.datapoints_to_alarm == 0 || rule.datapoints_to_alarm > rule.evaluation_periods {
        return invalid("DatapointsToAlarm must be between 1 and EvaluationPeriods");
    }
    if !rule.threshold.is_finite() {
        return invalid("Threshold must be a finite number");
    }
    if request.alarm_actions.len() > MAX_ALARM_ACTIONS {
        return invalid("AlarmActions may hold at most 5 webhook URLs");
    }
    request.alarm_actions.iter().try_for_each(|url| {
        check_webhook_url(url).map_err(|why| AlarmError::Invalid(format!("AlarmActions entry {why}")))
    })
}

/// A webhook (an `AlarmActions` entry, an insight webhook) is an absolute `http://` or
/// `https://` URL with a host. (CloudWatch takes SNS topic ARNs here; Fluoro posts the
/// SNS-shaped document itself.) The error reads `"ftp://x" is not a webhook URL: …`.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let refused = |why: &str| Err(format!("{url:?} is not a webhook URL: {why}"));
    if url.chars().count() > MAX_WEBHOOK_URL_CHARS {
        return refused("longer than 2048 characters");
    }
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return refused("expected http:// or https://");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refused("it contains whitespace or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return refused("expected a host after the scheme");
    }
    Ok(())
}

#[cfg(test)]
#[path = "alarms_tests.rs"]
mod tests;
