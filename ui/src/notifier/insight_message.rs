//! An insight opened or closed as X-Ray's EventBridge event `AWS X-Ray Insight Update`
//! (`{"detail-type", "source": "aws.xray", "resources": [group ARN], "detail": {InsightId,
//! State, RootCauseServiceId, Categories, StartTime, EndTime, Summary, impact statistics, …}}`),
//! sent as the SNS notification's `Message`, as an EventBridge rule with an SNS target would.

use fluoro_analyzer::{notification_time, Insight, InsightState};
use fluoro_proto::{ARN_ACCOUNT, ARN_REGION};
use serde_json::{json, Value};

use super::Notification;

/// SNS refuses subjects over 100 characters.
const MAX_SUBJECT_CHARS: usize = 100;

/// The notification of `insight`'s latest state (opened: ACTIVE; closed: CLOSED) to `urls`.
pub fn insight_notification(insight: &Insight, urls: &[String]) -> Notification {
    let changed_at = insight.end_time.filter(|_| insight.state == InsightState::Closed).unwrap_or(insight.start_time);
    let detail = serde_json::to_value(insight).unwrap_or(Value::Null);
    let verb = if insight.state == InsightState::Active { "opened" } else { "closed" };
    let message = json!({
        "version": "0",
        // One id per insight and change, so a repeated delivery of the same change keeps it.
        "id": format!("{}-{verb}", insight.insight_id),
        "detail-type": "AWS X-Ray Insight Update",
        "source": "aws.xray",
        "account": ARN_ACCOUNT,
        "time": notification_time(changed_at),
        "region": ARN_REGION,
        "resources": [insight.group_arn],
        "detail": detail,
    });
    let subject = format!("Insight {verb}: {} in group {}", insight.root_cause_service_id.name, insight.group_name);
    Notification {
        source: format!("insight/{}", insight.group_name),
        subject: subject.chars().take(MAX_SUBJECT_CHARS).collect(),
        message,
        timestamp: changed_at,
        urls: urls.to_vec(),
    }
}
