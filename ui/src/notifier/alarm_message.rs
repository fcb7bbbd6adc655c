//! An alarm transition as CloudWatch's SNS alarm notification: the `Subject`
//! (`ALARM: "slow" in local`) and the `Message` document
//! (`{"AlarmName", "NewStateValue", "NewStateReason", …, "Trigger": {"MetricName", …}}`),
//! to every URL of the alarm's `AlarmActions`.

use fluoro_analyzer::{notification_time, AlarmHistoryItem, AlarmStatistic, MetricAlarm};
use fluoro_proto::{ARN_ACCOUNT, ARN_REGION};
use serde_json::{json, Value};

use super::Notification;

/// The notification of `item`, the transition `alarm` just made.
pub fn alarm_notification(alarm: &MetricAlarm, item: &AlarmHistoryItem) -> Notification {
    let definition = &alarm.definition;
    let name = &definition.alarm_name;
    let description =
        if definition.alarm_description.is_empty() { Value::Null } else { json!(definition.alarm_description) };
    let message = json!({
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": ARN_ACCOUNT,
        "NewStateValue": item.new_state.as_str(),
        "NewStateReason": item.reason,
        "StateChangeTime": notification_time(item.timestamp),
        "Region": ARN_REGION,
        "AlarmArn": format!("arn:aws:cloudwatch:{ARN_REGION}:{ARN_ACCOUNT}:alarm:{name}"),
        "OldStateValue": item.old_state.as_str(),
        "Trigger": trigger(alarm),
    });
    Notification {
        source: format!("alarm/{name}"),
        subject: format!("{}: \"{name}\" in {ARN_REGION}", item.new_state.as_str()),
        message,
        timestamp: item.timestamp,
        urls: definition.alarm_actions.clone(),
    }
}

fn trigger(alarm: &MetricAlarm) -> Value {
    let definition = &alarm.definition;
    let rule = &definition.rule;
    let dimensions: Vec<Value> =
        definition.metric.dimensions.iter().map(|(name, value)| json!({"value": value, "name": name})).collect();
    json!({
        "MetricName": definition.metric.metric_name,
        "Namespace": definition.metric.namespace,
        "StatisticType": "Statistic",
        "Statistic": statistic_name(definition.statistic),
        "Unit": Value::Null,
        "Dimensions": dimensions,
        "Period": rule.period,
        "EvaluationPeriods": rule.evaluation_periods,
        "DatapointsToAlarm": rule.datapoints_to_alarm,
        "ComparisonOperator": rule.comparison_operator,
        "Threshold": rule.threshold,
        "TreatMissingData": rule.treat_missing_data,
        "EvaluateLowSampleCountPercentile": "",
    })
}

/// CloudWatch writes the statistic in capitals in notifications (`SUM`, `SAMPLE_COUNT`).
fn statistic_name(statistic: AlarmStatistic) -> &'static str {
    match statistic {
        AlarmStatistic::SampleCount => "SAMPLE_COUNT",
        AlarmStatistic::Sum => "SUM",
        AlarmStatistic::Average => "AVERAGE",
        AlarmStatistic::Minimum => "MINIMUM",
        AlarmStatistic::Maximum => "MAXIMUM",
    }
}
