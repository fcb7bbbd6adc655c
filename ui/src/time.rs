//! Timestamps in requests: botocore sends epoch seconds as JSON numbers; people and other
//! tools send strings, so numeric strings and RFC 3339 (`2026-01-02T03:04:05.5Z`,
//! `…+02:00`) are accepted too (spec `xray.md` §4.1).

use chrono::DateTime;
use serde_json::Value;

use crate::error::{ApiError, Result};

/// The longest time window one query may cover. X-Ray allows 6 h per call; a local store can
/// afford a day.
pub const MAX_WINDOW_SECONDS: f64 = 24.0 * 3600.0;
/// 9999-12-31T23:59:59Z: times past it (or before 1970) are refused, so that microseconds
/// always fit the store's `i64` with room for the analyzer's widening.
const LATEST_EPOCH_SECONDS: f64 = 253_402_300_799.0;

/// A request's `StartTime` and `EndTime` in epoch seconds: both required, between 1970 and
/// 9999, ordered, and at most [`MAX_WINDOW_SECONDS`] apart.
pub(crate) fn request_window(start: Option<&Value>, end: Option<&Value>) -> Result<(f64, f64)> {
    request_window_within(start, end, MAX_WINDOW_SECONDS)
}

/// [`request_window`] with a configured longest window (`limits.query_window_seconds`).
pub(crate) fn request_window_within(
    start: Option<&Value>,
    end: Option<&Value>,
    max_seconds: f64,
) -> Result<(f64, f64)> {
    let (start, end) = (required_time(start, "StartTime")?, required_time(end, "EndTime")?);
    if end <= start {
        return Err(ApiError::InvalidRequest(format!("EndTime ({end}) must be after StartTime ({start})")));
    }
    if end - start > max_seconds {
        return Err(ApiError::InvalidRequest(format!(
            "the time window is {:.0} s; at most {max_seconds:.0} s per call (limits.query_window_seconds)",
            end - start
        )));
    }
    Ok((start, end))
}

fn required_time(value: Option<&Value>, field: &str) -> Result<f64> {
    let value = value.ok_or_else(|| ApiError::InvalidRequest(format!("{field} is required")))?;
    let seconds = epoch_seconds(value).ok_or_else(|| {
        ApiError::InvalidRequest(format!("{field} must be epoch seconds or an RFC 3339 time, got {value}"))
    })?;
    if !(0.0..=LATEST_EPOCH_SECONDS).contains(&seconds) {
        return Err(ApiError::InvalidRequest(format!(
            "{field} ({value}) must be between 1970-01-01 and 9999-12-31 (0 to {LATEST_EPOCH_SECONDS:.0} epoch seconds)"
        )));
    }
    Ok(seconds)
}

/// Epoch seconds as the store's microseconds, rounded to the nearest.
pub(crate) fn micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

/// Epoch seconds from a JSON number, a numeric string or an RFC 3339 string.
pub fn epoch_seconds(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64().filter(|seconds| seconds.is_finite()),
        Value::String(text) => {
            text.trim().parse::<f64>().ok().filter(|s| s.is_finite()).or_else(|| rfc3339(text.trim()))
        }
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; a space may replace the `T`.
fn rfc3339(text: &str) -> Option<f64> {
    let time = DateTime::parse_from_rfc3339(text).ok()?;
    Some(time.timestamp() as f64 + f64::from(time.timestamp_subsec_nanos()) / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_numeric_strings_and_rfc3339_are_epoch_seconds() {
        assert_eq!(epoch_seconds(&json!(1_700_000_000.5)), Some(1_700_000_000.5));
        assert_eq!(epoch_seconds(&json!("1700000000")), Some(1_700_000_000.0));
        assert_eq!(epoch_seconds(&json!("2023-11-14T22:13:20Z")), Some(1_700_000_000.0));
        assert_eq!(epoch_seconds(&json!("2023-11-14T22:13:20.25Z")), Some(1_700_000_000.25));
        assert_eq!(epoch_seconds(&json!("2023-11-15T00:13:20+02:00")), Some(1_700_000_000.0));
        assert_eq!(epoch_seconds(&json!("1970-01-01T00:00:00Z")), Some(0.0));
        assert_eq!(epoch_seconds(&json!("2000-02-29 00:00:00z")), Some(951_782_400.0));
        assert_eq!(epoch_seconds(&json!("2023-02-29T00:00:00Z")), None);
        assert_eq!(epoch_seconds(&json!("yesterday")), None);
        assert_eq!(epoch_seconds(&json!("2023-13-14T22:13:20Z")), None);
        assert_eq!(epoch_seconds(&json!(true)), None);
    }

    #[test]
    fn windows_outside_1970_to_9999_are_refused_not_overflowed() {
        for (start, end) in [(json!(-1e300), json!(0)), (json!(-1), json!(10)), (json!(1e300), json!(2e300))] {
            let error = request_window(Some(&start), Some(&end)).unwrap_err().to_string();
            assert!(error.contains("must be between 1970-01-01 and 9999-12-31"), "{error}");
        }
        assert_eq!(request_window(Some(&json!(0)), Some(&json!(60))).unwrap(), (0.0, 60.0));
        let last = json!(LATEST_EPOCH_SECONDS);
        assert!(request_window(Some(&json!(LATEST_EPOCH_SECONDS - 60.0)), Some(&last)).is_ok());
    }
}
