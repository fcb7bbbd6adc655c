//! OTLP log records → [`LogRow`]s. The X-Ray exporter has no log mapping to follow, so this one
//! keeps what a trace view and a log search need, and bounds everything else.
//!
//! | `LogRow` field | from |
//! |---|---|
//! | `time_us` | `time_unix_nano` / 1000, else `observed_time_unix_nano` (the specification's fallback) |
//! | `observed_us` | `observed_time_unix_nano` / 1000, else `time_unix_nano` |
//! | `trace_id`, `span_id` | `trace_id` (16 bytes), `span_id` (8 bytes); empty or all zero → none |
//! | `service` | resource `service.name`, else `unknown_service`, cut like a span's service |
//! | `severity_number` | `severity_number`, 0 outside 1–24 |
//! | `severity_text` | `severity_text`, cut to [`MAX_SEVERITY_TEXT_CHARS`] characters |
//! | `body` | a string as it is; other values as JSON (bytes as a hex string); none → empty |
//! | `attributes` | the record's attributes as text pairs, the first [`MAX_LOG_ATTRIBUTES`], keys and values cut to [`MAX_ATTRIBUTE_BYTES`] |
//!
//! A record is rejected, and nothing of it stored, when its `trace_id` is neither empty nor 16
//! bytes, its `span_id` is neither empty nor 8 bytes, both times are 0, or its body is longer
//! than [`MAX_LOG_BODY_BYTES`] as text. Cutting a body would store a message that was never
//! written; refusing it tells the sender, through the partial success, that it was too long.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};

use super::resource::ResourceFacts;
use super::{reported_hex, Conversion, Rejection};
use crate::error::OtlpError;
use crate::id::{SegmentId, TraceId};
use crate::log::LogRow;

/// The longest body kept, as text: the X-Ray document limit, so one log line can hold what one
/// segment can (a stack trace), and a row stays small enough for the log and a block page.
pub const MAX_LOG_BODY_BYTES: usize = 64 * 1024;
/// Attributes kept per record; more say nothing a search needs and would unbound a row.
pub const MAX_LOG_ATTRIBUTES: usize = 64;
/// Attribute keys and values are cut to this many bytes (at a character boundary).
pub const MAX_ATTRIBUTE_BYTES: usize = 1024;
const MAX_SEVERITY_TEXT_CHARS: usize = 32;
/// The highest OTLP severity number (FATAL4).
const MAX_SEVERITY_NUMBER: i32 = 24;

/// The outcome of converting OTLP log records: the rows to store and the records refused.
pub type LogConversion = Conversion<LogRow, RejectedLog>;

/// A log record that was not converted, where it was in the request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLog {
    pub resource_index: usize,
    pub scope_index: usize,
    pub record_index: usize,
    /// The trace id as sent, in hex, cut after 32 bytes.
    pub trace_id_hex: String,
    pub error: OtlpError,
}

/// Converts all `resource_logs` of an export request.
pub fn log_rows_from_otlp(resource_logs: &[ResourceLogs]) -> LogConversion {
    let mut conversion = LogConversion::default();
    for (resource_index, one) in resource_logs.iter().enumerate() {
        let service = ResourceFacts::from_resource(one.resource.as_ref()).service;
        for (scope_index, scope) in one.scope_logs.iter().enumerate() {
            for (record_index, record) in scope.log_records.iter().enumerate() {
                match log_row(record, &service) {
                    Ok(row) => conversion.rows.push(row),
                    Err(error) => conversion.rejected.push(RejectedLog {
                        resource_index,
                        scope_index,
                        record_index,
                        trace_id_hex: reported_hex(&record.trace_id),
                        error,
                    }),
                }
            }
        }
    }
    conversion
}

impl Rejection for RejectedLog {
    const ITEMS: &'static str = "log records";
}

impl std::fmt::Display for RejectedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resource_logs[{}].scope_logs[{}].log_records[{}] (trace_id {:?}): {}",
            self.resource_index, self.scope_index, self.record_index, self.trace_id_hex, self.error
        )
    }
}

fn log_row(record: &LogRecord, service: &str) -> Result<LogRow, OtlpError> {
    let trace_id = optional_trace_id(&record.trace_id)?;
    let span_id = optional_span_id(&record.span_id)?;
    let (time, observed) = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => return Err(OtlpError::LogTimeMissing),
        (0, observed) => (observed, observed),
        (time, 0) => (time, time),
        both => both,
    };
    let body = record.body.as_ref().map(text_of_value).unwrap_or_default();
    if body.len() > MAX_LOG_BODY_BYTES {
        return Err(OtlpError::BodyTooLarge { bytes: body.len(), limit: MAX_LOG_BODY_BYTES });
    }
    Ok(LogRow {
        time_us: super::nanos_to_micros(time),
        observed_us: super::nanos_to_micros(observed),
        trace_id,
        span_id,
        service: service.to_owned(),
        severity_number: Some(record.severity_number).filter(|n| (1..=MAX_SEVERITY_NUMBER).contains(n)).unwrap_or(0),
        severity_text: record.severity_text.chars().take(MAX_SEVERITY_TEXT_CHARS).collect(),
        body,
        attributes: record
            .attributes
            .iter()
            .take(MAX_LOG_ATTRIBUTES)
            .map(|pair| {
                let value = pair.value.as_ref().map(text_of_value).unwrap_or_default();
                (cut_to_bytes(&pair.key, MAX_ATTRIBUTE_BYTES), cut_to_bytes(&value, MAX_ATTRIBUTE_BYTES))
            })
            .collect(),
    })
}

/// Empty and all zero both mean the record was written outside any span.
fn optional_trace_id(bytes: &[u8]) -> Result<Option<TraceId>, OtlpError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let id = <[u8; 16]>::try_from(bytes).map_err(|_| OtlpError::TraceIdLength { length: bytes.len() })?;
    Ok((id != [0; 16]).then(|| TraceId::from_bytes(id)))
}

fn optional_span_id(bytes: &[u8]) -> Result<Option<SegmentId>, OtlpError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let id = <[u8; 8]>::try_from(bytes).map_err(|_| OtlpError::LogSpanIdLength { length: bytes.len() })?;
    Ok((id != [0; 8]).then(|| SegmentId::from_bytes(id)))
}

pub(super) fn text_of_value(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(text)) => text.clone(),
        _ => json_of_value(value).to_string(),
    }
}

fn json_of_value(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value as Json;
    match &value.value {
        None => Json::Null,
        Some(Value::StringValue(text)) => Json::String(text.clone()),
        Some(Value::BoolValue(flag)) => Json::Bool(*flag),
        Some(Value::IntValue(number)) => Json::from(*number),
        Some(Value::DoubleValue(number)) => serde_json::Number::from_f64(*number).map_or(Json::Null, Json::Number),
        Some(Value::BytesValue(bytes)) => Json::String(bytes.iter().map(|byte| format!("{byte:02x}")).collect()),
        Some(Value::ArrayValue(array)) => Json::Array(array.values.iter().map(json_of_value).collect()),
        // A dictionary reference of the profiles signal; log bodies never carry one.
        Some(Value::StringValueStrindex(_)) => Json::Null,
        Some(Value::KvlistValue(list)) => Json::Object(
            list.values
                .iter()
                .map(|pair| (pair.key.clone(), pair.value.as_ref().map_or(Json::Null, json_of_value)))
                .collect(),
        ),
    }
}

pub(super) fn cut_to_bytes(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
    use opentelemetry_proto::tonic::logs::v1::ScopeLogs;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use proptest::prelude::*;

    use super::super::fixtures::attribute;
    use super::*;

    fn text(value: &str) -> AnyValue {
        AnyValue { value: Some(Value::StringValue(value.to_owned())) }
    }

    fn record() -> LogRecord {
        LogRecord {
            time_unix_nano: 1_700_000_000_123_456_789,
            observed_time_unix_nano: 1_700_000_000_223_456_789,
            severity_number: 17,
            severity_text: "ERROR".to_owned(),
            body: Some(text("Illegal memory allocation")),
            trace_id: vec![0x5b; 16],
            span_id: vec![0x70; 8],
            attributes: vec![attribute("code.lineno", Value::IntValue(42))],
            ..Default::default()
        }
    }

    fn request(records: Vec<LogRecord>) -> Vec<ResourceLogs> {
        let service = attribute("service.name", Value::StringValue("pet-search".to_owned()));
        vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![service], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }]
    }

    fn convert(record: LogRecord) -> Result<LogRow, OtlpError> {
        let mut conversion = log_rows_from_otlp(&request(vec![record]));
        match conversion.rejected.pop() {
            Some(rejected) => Err(rejected.error),
            None => Ok(conversion.rows.remove(0)),
        }
    }

    #[test]
    fn a_record_in_a_span_keeps_its_ids_service_and_times() {
        let row = convert(record()).unwrap();
        assert_eq!(row.trace_id, Some(TraceId::from_bytes([0x5b; 16])));
        assert_eq!(row.span_id, Some(SegmentId::from_bytes([0x70; 8])));
        assert_eq!(row.service, "pet-search");
        assert_eq!((row.time_us, row.observed_us), (1_700_000_000_123_456, 1_700_000_000_223_456));
        assert_eq!((row.severity_number, row.severity_text.as_str()), (17, "ERROR"));
        assert_eq!(row.body, "Illegal memory allocation");
        assert_eq!(row.attributes, vec![("code.lineno".to_owned(), "42".to_owned())]);
    }

    #[test]
    fn a_record_outside_any_span_has_no_ids() {
        for (trace_id, span_id) in [(Vec::new(), Vec::new()), (vec![0; 16], vec![0; 8])] {
            let row = convert(LogRecord { trace_id, span_id, ..record() }).unwrap();
            assert_eq!((row.trace_id, row.span_id), (None, None));
        }
    }

    #[test]
    fn the_observed_time_stands_in_for_a_missing_time() {
        let row = convert(LogRecord { time_unix_nano: 0, ..record() }).unwrap();
        assert_eq!(row.time_us, 1_700_000_000_223_456);
        assert_eq!(
            convert(LogRecord { time_unix_nano: 0, observed_time_unix_nano: 0, ..record() }),
            Err(OtlpError::LogTimeMissing)
        );
    }

    #[test]
    fn bad_records_are_rejected_and_the_rest_kept() {
        let too_long = "x".repeat(MAX_LOG_BODY_BYTES + 1);
        let records = vec![
            LogRecord { trace_id: vec![1; 15], ..record() },
            record(),
            LogRecord { span_id: vec![1; 3], ..record() },
            LogRecord { body: Some(text(&too_long)), ..record() },
        ];
        let conversion = log_rows_from_otlp(&request(records));
        assert_eq!(conversion.rows.len(), 1);
        let reasons: Vec<String> = conversion.rejected.iter().map(|r| r.error.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "trace_id is 15 bytes; 16 bytes expected",
                "span_id is 3 bytes; empty or 8 bytes expected",
                "body is 65537 bytes as text; at most 65536 bytes expected",
            ]
        );
        let message = conversion.rejection_message().unwrap_or_default();
        assert!(
            message.starts_with("3 of 4 log records rejected: resource_logs[0].scope_logs[0].log_records[0]"),
            "{message}"
        );
    }

    #[test]
    fn structured_bodies_become_json_and_attributes_are_bounded() {
        let array = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![text("a"), AnyValue { value: Some(Value::BoolValue(true)) }],
            })),
        };
        let many: Vec<_> =
            (0..100).map(|i| attribute(&format!("k{i}"), Value::StringValue("é".repeat(1000)))).collect();
        let row = convert(LogRecord { body: Some(array), attributes: many, ..record() }).unwrap();
        assert_eq!(row.body, r#"["a",true]"#);
        assert_eq!(row.attributes.len(), MAX_LOG_ATTRIBUTES);
        assert!(row
            .attributes
            .iter()
            .all(|(_, value)| value.len() <= MAX_ATTRIBUTE_BYTES && value.len() >= MAX_ATTRIBUTE_BYTES - 1));
    }

    proptest! {
        #[test]
        fn arbitrary_records_never_panic(
            trace_id in proptest::collection::vec(any::<u8>(), 0..20),
            span_id in proptest::collection::vec(any::<u8>(), 0..10),
            time in any::<u64>(),
            observed in any::<u64>(),
            severity_number in any::<i32>(),
            severity_text in ".{0,40}",
            body in ".{0,100}",
        ) {
            let record = LogRecord {
                trace_id, span_id, time_unix_nano: time, observed_time_unix_nano: observed,
                severity_number, severity_text, body: Some(text(&body)), ..Default::default()
            };
            let conversion = log_rows_from_otlp(&request(vec![record]));
            prop_assert_eq!(conversion.rows.len() + conversion.rejected.len(), 1);
            for row in &conversion.rows {
                prop_assert!((0..=24).contains(&row.severity_number));
                prop_assert!(row.severity_text.chars().count() <= MAX_SEVERITY_TEXT_CHARS);
            }
        }
    }
}
