//! Trace context between the services: `X-Amzn-Trace-Id` (the X-Ray SDKs' header) and W3C
//! `traceparent` (OpenTelemetry's), read from either and always written as both, so the
//! X-Ray-instrumented and the OpenTelemetry-instrumented services join one trace.

use axum::http::HeaderMap;
use fluoro_proto::{Sampled, SegmentId, TraceHeader, TraceId};

pub(crate) const XRAY_HEADER: &str = "x-amzn-trace-id";
pub(crate) const TRACEPARENT_HEADER: &str = "traceparent";

/// The caller's trace and the id of its span that made the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceContext {
    pub trace_id: TraceId,
    pub parent_id: SegmentId,
    /// The caller's sampling decision; `Sampled=0` and `traceparent` flags `00` are false.
    pub sampled: bool,
}

impl TraceContext {
    /// The context an incoming request carries: `X-Amzn-Trace-Id` first (the X-Ray SDKs read
    /// only that one), then `traceparent`. A malformed header starts a new trace.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<TraceContext> {
        let from_xray = headers
            .get(XRAY_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| TraceHeader::parse(text).ok())
            .and_then(|header| {
                let sampled = header.sampled != Some(Sampled::No);
                Some(TraceContext { trace_id: header.root?, parent_id: header.parent?, sampled })
            });
        from_xray.or_else(|| headers.get(TRACEPARENT_HEADER)?.to_str().ok().and_then(parse_traceparent))
    }

    /// Both headers for an outgoing call made by span `parent_id`.
    pub(crate) fn headers(&self) -> [(&'static str, String); 2] {
        let xray = TraceHeader {
            root: Some(self.trace_id),
            parent: Some(self.parent_id),
            sampled: Some(if self.sampled { Sampled::Yes } else { Sampled::No }),
            ..TraceHeader::default()
        };
        let flags = if self.sampled { "01" } else { "00" };
        let traceparent = format!("00-{}-{}-{flags}", self.trace_id.to_w3c(), self.parent_id);
        [(XRAY_HEADER, xray.to_string()), (TRACEPARENT_HEADER, traceparent)]
    }
}

fn parse_traceparent(text: &str) -> Option<TraceContext> {
    let mut parts = text.trim().split('-');
    let (_version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some(TraceContext { trace_id: TraceId::parse_w3c(trace).ok()?, parent_id: SegmentId::parse(parent).ok()?, sampled })
}

/// A new X-Ray-compatible trace id: the first 4 bytes are the epoch seconds, so the id reads
/// as `1-<8 hex time>-<24 hex random>` and X-Ray and OpenTelemetry spans share it.
pub(crate) fn new_trace_id() -> TraceId {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as u32)
        .unwrap_or_default();
    TraceId::new(seconds, rand::random())
}

pub(crate) fn new_segment_id() -> SegmentId {
    // Zero is not a valid span id in either protocol.
    SegmentId::new(rand::random::<u64>().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_written_are_read_back_from_either_form() {
        for sampled in [true, false] {
            let context = TraceContext { trace_id: new_trace_id(), parent_id: new_segment_id(), sampled };
            for (name, value) in context.headers() {
                let mut headers = HeaderMap::new();
                headers.insert(name, value.parse().unwrap());
                assert_eq!(TraceContext::from_headers(&headers), Some(context), "{name}: {value}");
            }
        }
        let mut bad = HeaderMap::new();
        bad.insert(XRAY_HEADER, "Root=nonsense".parse().unwrap());
        assert_eq!(TraceContext::from_headers(&bad), None);
    }
}
