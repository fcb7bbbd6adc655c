//! Timestamps on the wire: epoch seconds as JSON numbers (what botocore sends and expects for
//! rest-json), with ISO-8601 strings accepted in requests for leniency (spec 4.1).

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Deserializer};

pub(crate) fn now_epoch_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// Deserializes `1700000000`, `1700000000.5`, `"1700000000.5"` or `"2023-11-14T22:13:20Z"`.
pub(crate) fn lenient_epoch_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(f64),
        Text(String),
    }
    match Wire::deserialize(deserializer)? {
        Wire::Number(seconds) => Ok(seconds),
        Wire::Text(text) => text.trim().parse::<f64>().ok().or_else(|| parse_iso8601(text.trim())).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a timestamp as epoch seconds or ISO-8601 (2023-11-14T22:13:20Z), got '{text}'"
            ))
        }),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]`; no offset means UTC.
fn parse_iso8601(text: &str) -> Option<f64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    let (clock, offset_seconds) = split_offset(time)?;
    let mut clock_parts = clock.splitn(3, ':');
    let hour: u32 = clock_parts.next()?.parse().ok()?;
    let minute: u32 = clock_parts.next()?.parse().ok()?;
    let second: f64 = clock_parts.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || !(0.0..61.0).contains(&second)
    {
        return None;
    }
    let days = epoch_days(NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?);
    Some((days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 - offset_seconds) as f64 + second)
}

/// Days from 1970-01-01 to `date`.
fn epoch_days(date: NaiveDate) -> i64 {
    date.signed_duration_since(DateTime::UNIX_EPOCH.date_naive()).num_days()
}

fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(sign_at) = time.rfind(['+', '-']) else {
        return Some((time, 0));
    };
    let (clock, offset) = time.split_at(sign_at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
    Some((clock, sign * (hours.parse::<i64>().ok()? * 3_600 + minutes.parse::<i64>().ok()? * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Stamp {
        #[serde(deserialize_with = "lenient_epoch_seconds")]
        at: f64,
    }

    fn parse(json: &str) -> Result<f64, serde_json::Error> {
        serde_json::from_str::<Stamp>(json).map(|stamp| stamp.at)
    }

    #[test]
    fn numbers_and_iso_strings_are_accepted() {
        assert_eq!(parse(r#"{"at": 1700000000}"#).unwrap(), 1_700_000_000.0);
        assert_eq!(parse(r#"{"at": 1700000000.25}"#).unwrap(), 1_700_000_000.25);
        assert_eq!(parse(r#"{"at": "1700000000"}"#).unwrap(), 1_700_000_000.0);
        assert_eq!(parse(r#"{"at": "2023-11-14T22:13:20Z"}"#).unwrap(), 1_700_000_000.0);
        assert_eq!(parse(r#"{"at": "2023-11-14T22:13:20.5Z"}"#).unwrap(), 1_700_000_000.5);
        assert_eq!(parse(r#"{"at": "2023-11-15T00:13:20+02:00"}"#).unwrap(), 1_700_000_000.0);
        assert_eq!(parse(r#"{"at": "1970-01-01T00:00:00"}"#).unwrap(), 0.0);
        assert_eq!(parse(r#"{"at": "2000-02-29T00:00:00Z"}"#).unwrap(), 951_782_400.0);
    }

    #[test]
    fn garbage_is_refused_with_the_expected_forms() {
        let error = parse(r#"{"at": "yesterday"}"#).unwrap_err().to_string();
        assert!(error.starts_with("expected a timestamp as epoch seconds or ISO-8601"), "{error}");
    }
}
