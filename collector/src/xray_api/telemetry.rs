//! `PutTelemetryRecords`: the X-Ray daemon's own counters, sent every 60 s. Fluoro counts the
//! records and keeps the latest one per sender, bounded, so a dashboard can later show which
//! daemons report and what they dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;

use super::error::XrayApiError;

/// Senders whose latest record is kept; records from further senders are only counted.
pub(crate) const MAX_TELEMETRY_SENDERS: usize = 1024;

/// The request, with the model's length limits (Appendix A).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutTelemetryRecordsRequest {
    telemetry_records: Vec<Value>,
    #[serde(rename = "EC2InstanceId")]
    ec2_instance_id: Option<String>,
    hostname: Option<String>,
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct TelemetryStore {
    records: AtomicU64,
    latest_by_sender: Mutex<HashMap<String, Value>>,
}

impl TelemetryStore {
    /// Checks the request lightly (lengths, a `Timestamp` on every record) and keeps it.
    pub(crate) fn put(&self, request: PutTelemetryRecordsRequest) -> Result<(), XrayApiError> {
        check_length("EC2InstanceId", request.ec2_instance_id.as_deref(), 20)?;
        check_length("Hostname", request.hostname.as_deref(), 255)?;
        check_length("ResourceARN", request.resource_arn.as_deref(), 500)?;
        for (index, record) in request.telemetry_records.iter().enumerate() {
            if !matches!(record.get("Timestamp"), Some(Value::Number(_) | Value::String(_))) {
                return Err(XrayApiError::InvalidRequest(format!(
                    "TelemetryRecords[{index}].Timestamp is required: epoch seconds expected"
                )));
            }
        }
        self.records.fetch_add(request.telemetry_records.len() as u64, Ordering::Relaxed);
        let sender = request.hostname.or(request.ec2_instance_id).or(request.resource_arn).unwrap_or_default();
        if let Some(latest) = request.telemetry_records.into_iter().last() {
            let mut latest_by_sender = self.latest_by_sender.lock();
            if latest_by_sender.len() < MAX_TELEMETRY_SENDERS || latest_by_sender.contains_key(&sender) {
                latest_by_sender.insert(sender, latest);
            }
        }
        Ok(())
    }

    pub(crate) fn records_received(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// The latest record a sender (hostname, else instance id, else resource ARN) sent.
    #[cfg(test)]
    pub(crate) fn latest(&self, sender: &str) -> Option<Value> {
        self.latest_by_sender.lock().get(sender).cloned()
    }

    /// One Prometheus counter family, appended to the collector's `/metrics` text.
    pub(crate) fn prometheus(&self) -> String {
        format!(
            "# HELP fluoro_xray_telemetry_records_total Telemetry records received from X-Ray daemons.\n\
             # TYPE fluoro_xray_telemetry_records_total counter\n\
             fluoro_xray_telemetry_records_total {}\n",
            self.records_received()
        )
    }
}

fn check_length(field: &str, value: Option<&str>, limit: usize) -> Result<(), XrayApiError> {
    match value {
        Some(text) if text.chars().count() > limit => Err(XrayApiError::InvalidRequest(format!(
            "{field} is {} characters long; at most {limit} are allowed",
            text.chars().count()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> PutTelemetryRecordsRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn the_latest_record_per_sender_is_kept_and_all_are_counted() {
        let store = TelemetryStore::default();
        let records =
            serde_json::json!([{"Timestamp": 1.0, "SegmentsSentCount": 1}, {"Timestamp": 2.0, "SegmentsSentCount": 2}]);
        store.put(request(serde_json::json!({"TelemetryRecords": records, "Hostname": "h1"}))).unwrap();
        assert_eq!(store.records_received(), 2);
        assert_eq!(store.latest("h1").unwrap()["SegmentsSentCount"], 2);
    }

    #[test]
    fn a_record_without_timestamp_is_refused_naming_it() {
        let store = TelemetryStore::default();
        let error = store.put(request(serde_json::json!({"TelemetryRecords": [{"Timestamp": 1}, {}]}))).unwrap_err();
        assert_eq!(error.to_string(), "TelemetryRecords[1].Timestamp is required: epoch seconds expected");
        assert_eq!(store.records_received(), 0);
    }
}
