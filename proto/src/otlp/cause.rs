//! The error, fault and throttle flags and the exceptions of a span (the exporter's cause.go).

use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::attributes::{owned, Attributes};
use crate::span::ExceptionSummary;
use crate::throttling::is_throttling_error;

const EXCEPTION_EVENT: &str = "exception";

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) error: bool,
    pub(super) fault: bool,
    pub(super) throttle: bool,
}

impl Outcome {
    /// The exporter trusts a 4xx/5xx HTTP status over the span status: some instrumentations set
    /// only the status code. Without one, an `ERROR` status is a fault.
    pub(super) fn of(http_status: Option<u16>, error_status: bool) -> Self {
        match http_status {
            Some(429) => Outcome { error: true, throttle: true, fault: false },
            Some(400..=499) => Outcome { error: true, ..Outcome::default() },
            Some(500..=599) => Outcome { fault: true, ..Outcome::default() },
            _ => Outcome { fault: error_status, ..Outcome::default() },
        }
    }

    /// An AWS call that failed with a throttling error is a throttle whatever its status (AWS
    /// answers most of them with 400), as X-Ray SDKs mark it.
    pub(super) fn with_throttling_exceptions(self, exceptions: &[ExceptionSummary]) -> Self {
        let throttled = exceptions.iter().filter_map(|e| e.name.as_deref()).any(is_throttling_error);
        if throttled {
            Outcome { error: true, fault: false, throttle: true }
        } else {
            self
        }
    }
}

pub(super) fn has_error_status(span: &Span) -> bool {
    span.status.as_ref().is_some_and(|status| status.code() == StatusCode::Error)
}

/// Exception events are kept whatever the status; they do not set the flags (as in cause.go).
pub(super) fn exception_summaries(span: &Span, attributes: Attributes<'_>, remote: bool) -> Vec<ExceptionSummary> {
    let recorded: Vec<ExceptionSummary> = span
        .events
        .iter()
        .filter(|event| event.name == EXCEPTION_EVENT)
        .map(|event| exception_from_event(event, remote))
        .collect();
    if !recorded.is_empty() {
        return recorded;
    }
    status_exception(span, attributes, remote).into_iter().collect()
}

fn exception_from_event(event: &Event, remote: bool) -> ExceptionSummary {
    let attributes = Attributes(&event.attributes);
    ExceptionSummary {
        name: owned(attributes.str("exception.type")),
        message: owned(attributes.str("exception.message")),
        remote,
    }
}

/// The exporter's fallback for spans that failed without recording an exception: the status
/// message, else `http.status_text`, as an exception without a type.
fn status_exception(span: &Span, attributes: Attributes<'_>, remote: bool) -> Option<ExceptionSummary> {
    let status = span.status.as_ref().filter(|status| status.code() == StatusCode::Error)?;
    let message = Some(status.message.as_str()).filter(|message| !message.is_empty());
    let message = message.or_else(|| attributes.str("http.status_text"))?;
    Some(ExceptionSummary { name: None, message: Some(message.to_owned()), remote })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind as OtlpSpanKind};
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

    use crate::otlp::fixtures::*;
    use crate::span::{ExceptionSummary, SpanRow};

    fn flags(row: &SpanRow) -> (bool, bool, bool) {
        (row.error, row.fault, row.throttle)
    }

    #[test]
    fn error_status_without_http_status_is_a_fault() {
        let row = convert(with_status(span(OtlpSpanKind::Internal, vec![]), StatusCode::Error, ""));
        assert_eq!(flags(&row), (false, true, false));
    }

    #[test]
    fn http_status_decides_over_the_span_status() {
        let status = |code: i64, span_status: StatusCode| {
            let span = span(OtlpSpanKind::Server, vec![int("http.response.status_code", code)]);
            flags(&convert(with_status(span, span_status, "")))
        };
        assert_eq!(status(404, StatusCode::Error), (true, false, false));
        assert_eq!(status(429, StatusCode::Error), (true, false, true));
        assert_eq!(status(502, StatusCode::Error), (false, true, false));
        assert_eq!(status(200, StatusCode::Error), (false, true, false));
        assert_eq!(status(404, StatusCode::Unset), (true, false, false));
        assert_eq!(status(429, StatusCode::Unset), (true, false, true));
        assert_eq!(status(503, StatusCode::Unset), (false, true, false));
        assert_eq!(status(503, StatusCode::Ok), (false, true, false));
        assert_eq!(status(200, StatusCode::Ok), (false, false, false));
        assert_eq!(status(302, StatusCode::Unset), (false, false, false));
    }

    #[test]
    fn exception_events_become_exceptions_remote_on_calls() {
        let mut client = span(OtlpSpanKind::Client, vec![text("peer.service", "payments")]);
        client.events = vec![
            exception_event("TimeoutError", "read timed out"),
            Event { name: "retry".to_owned(), ..Default::default() },
            exception_event("ConnectionError", "reset"),
        ];
        let row = convert(with_status(client, StatusCode::Error, "ignored: events win"));
        assert_eq!(
            row.exceptions,
            vec![
                ExceptionSummary { name: some("TimeoutError"), message: some("read timed out"), remote: true },
                ExceptionSummary { name: some("ConnectionError"), message: some("reset"), remote: true },
            ]
        );
        assert!(row.fault);
    }

    #[test]
    fn an_aws_throttling_exception_is_a_throttle_despite_its_400() {
        let mut client =
            span(OtlpSpanKind::Client, vec![text("rpc.system", "aws-api"), int("http.response.status_code", 400)]);
        client.events = vec![exception_event(
            "software.amazon.awssdk.services.dynamodb.model.ProvisionedThroughputExceededException",
            "Rate of requests exceeds the allowed throughput",
        )];
        assert_eq!(flags(&convert(with_status(client, StatusCode::Error, ""))), (true, false, true));

        let mut other = span(OtlpSpanKind::Client, vec![int("http.response.status_code", 400)]);
        other.events = vec![exception_event("ResourceNotFoundException", "no table")];
        assert_eq!(flags(&convert(with_status(other, StatusCode::Error, ""))), (true, false, false));
    }

    #[test]
    fn exceptions_are_kept_when_the_status_is_unset() {
        let mut server = span(OtlpSpanKind::Server, vec![]);
        server.events = vec![exception_event("ValueError", "bad id")];
        let row = convert(server);
        assert_eq!(
            row.exceptions,
            vec![ExceptionSummary { name: some("ValueError"), message: some("bad id"), remote: false }]
        );
        assert_eq!(flags(&row), (false, false, false));
    }

    #[test]
    fn error_status_message_is_an_exception_when_none_was_recorded() {
        let row = convert(with_status(span(OtlpSpanKind::Server, vec![]), StatusCode::Error, "db unavailable"));
        assert_eq!(
            row.exceptions,
            vec![ExceptionSummary { name: None, message: some("db unavailable"), remote: false }]
        );
        let status_text = convert(with_status(
            span(OtlpSpanKind::Server, vec![text("http.status_text", "Bad Gateway")]),
            StatusCode::Error,
            "",
        ));
        assert_eq!(status_text.exceptions[0].message, some("Bad Gateway"));
        let quiet = convert(with_status(span(OtlpSpanKind::Server, vec![]), StatusCode::Error, ""));
        assert_eq!(quiet.exceptions, Vec::new());
    }
}
