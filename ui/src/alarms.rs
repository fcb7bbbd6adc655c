//! `POST /PutMetricAlarm`, `/DescribeAlarms`, `/DescribeAlarmHistory`, `/DeleteAlarms` —
//! CloudWatch's alarm operations in JSON over `fluoro_analyzer::Alarms`, whose module doc holds
//! the rules. Changes rewrite and sync `alarms.json`: blocking I/O, so `spawn_blocking`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use fluoro_analyzer::{AlarmError, AlarmHistoryItem, Alarms, MetricAlarm, PutMetricAlarm};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};
use crate::request::parse_body;

/// Names, a description, dimensions and a few webhook URLs fit well within this.
const MAX_BODY_BYTES: usize = 64 * 1024;

type AlarmsState = State<Arc<Alarms>>;

/// The alarm operations; merge beside [`api_router`](crate::api_router).
pub fn alarms_router(alarms: Arc<Alarms>) -> Router {
    Router::new()
        .route("/PutMetricAlarm", post(put_metric_alarm))
        .route("/DescribeAlarms", post(describe_alarms))
        .route("/DescribeAlarmHistory", post(describe_alarm_history))
        .route("/DeleteAlarms", post(delete_alarms))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(alarms)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmNamesRequest {
    #[serde(default)]
    alarm_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryRequest {
    alarm_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAlarmsResponse {
    metric_alarms: Vec<MetricAlarm>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryResponse {
    alarm_history_items: Vec<AlarmHistoryItem>,
}

async fn put_metric_alarm(State(alarms): AlarmsState, body: Bytes) -> Result<Json<serde_json::Value>> {
    let request: PutMetricAlarm = parse_body(&body, "PutMetricAlarm")?;
    let now = now_seconds();
    blocking(move || alarms.put(request, now)).await?;
    Ok(Json(serde_json::json!({})))
}

async fn describe_alarms(State(alarms): AlarmsState, body: Bytes) -> Result<Json<DescribeAlarmsResponse>> {
    let request: AlarmNamesRequest = parse_body(&body, "DescribeAlarms")?;
    Ok(Json(DescribeAlarmsResponse { metric_alarms: alarms.describe(&request.alarm_names) }))
}

async fn describe_alarm_history(State(alarms): AlarmsState, body: Bytes) -> Result<Json<HistoryResponse>> {
    let request: HistoryRequest = parse_body(&body, "DescribeAlarmHistory")?;
    Ok(Json(HistoryResponse { alarm_history_items: alarms.history(request.alarm_name.as_deref()) }))
}

async fn delete_alarms(State(alarms): AlarmsState, body: Bytes) -> Result<Json<serde_json::Value>> {
    let request: AlarmNamesRequest = parse_body(&body, "DeleteAlarms")?;
    blocking(move || alarms.delete(&request.alarm_names)).await?;
    Ok(Json(serde_json::json!({})))
}

fn now_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, AlarmError> + Send + 'static) -> Result<T> {
    let answer = tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("alarm change task failed: {error}")))?;
    Ok(answer?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_describe_history_delete_over_http() -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let alarms = Arc::new(Alarms::in_memory());
        tokio::spawn(async move { axum::serve(listener, alarms_router(alarms)).await });
        let client = reqwest::Client::new();
        let url = |route: &str| format!("http://{address}/{route}");
        let alarm = serde_json::json!({
            "AlarmName": "slow", "Namespace": "AWS/X-Ray", "MetricName": "ApproximateTraceCount",
            "Dimensions": {"GroupName": "slow"}, "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 2.0,
            "TreatMissingData": "notBreaching", "AlarmActions": ["http://127.0.0.1:9/hook"]
        });
        let put = client.post(url("PutMetricAlarm")).json(&alarm).send().await?;
        assert_eq!(put.status().as_u16(), 200);
        let described: serde_json::Value = client.post(url("DescribeAlarms")).body("{}").send().await?.json().await?;
        let first = &described["MetricAlarms"][0];
        assert_eq!(first["AlarmName"], "slow");
        assert_eq!(first["StateValue"], "INSUFFICIENT_DATA");
        assert_eq!(first["TreatMissingData"], "notBreaching");
        let history: serde_json::Value =
            client.post(url("DescribeAlarmHistory")).body(r#"{"AlarmName":"slow"}"#).send().await?.json().await?;
        assert_eq!(history["AlarmHistoryItems"], serde_json::json!([]));

        let mut bad = alarm.clone();
        bad["Period"] = serde_json::json!(30);
        let refused = client.post(url("PutMetricAlarm")).json(&bad).send().await?;
        assert_eq!(refused.status().as_u16(), 400);
        assert!(refused.text().await?.contains("Period must be a positive multiple of 60 seconds"));

        let unknown = client.post(url("DeleteAlarms")).body(r#"{"AlarmNames":["nope"]}"#).send().await?;
        assert_eq!(unknown.status().as_u16(), 400);
        let deleted = client.post(url("DeleteAlarms")).body(r#"{"AlarmNames":["slow"]}"#).send().await?;
        assert_eq!(deleted.status().as_u16(), 200);
        let described: serde_json::Value = client.post(url("DescribeAlarms")).body("{}").send().await?.json().await?;
        assert_eq!(described["MetricAlarms"], serde_json::json!([]));
        Ok(())
    }
}
