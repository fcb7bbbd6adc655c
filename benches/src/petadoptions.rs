//! PetAdoptions-shaped load: one pet search as the demo's services trace it (PetSite calling
//! PetSearch, which scans the pets table and presigns a photo URL), as X-Ray segment documents
//! (~1.2 KB each, what PetSite's X-Ray SDK and a sidecar would send) and as the OTLP spans of
//! the same request (what PetSearch's OpenTelemetry agent sends).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span, Status};

use crate::TRACE_PLACEHOLDER;

/// The two segment documents of one search, their trace id's random part being
/// [`TRACE_PLACEHOLDER`] (patch both with the same digits); started at `epoch` + 0.25 s.
pub fn petadoptions_documents(epoch: u64) -> [String; 2] {
    let start = epoch as f64 + 0.25;
    let trace = format!("1-{epoch:08x}-{TRACE_PLACEHOLDER}");
    let petsite = format!(
        r#"{{"name":"PetSite","id":"5e0b1b5a1f0c9d21","trace_id":"{trace}","start_time":{start},"end_time":{end},"origin":"AWS::ECS::Container","http":{{"request":{{"method":"GET","url":"http://petsite.local/?selectedPetType=puppy&selectedPetColor=brown","client_ip":"10.0.3.17","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"}},"response":{{"status":200,"content_length":18211}}}},"annotations":{{"pettype":"puppy","petcolor":"brown"}},"aws":{{"ecs":{{"container":"petsite-6b7c9d","container_id":"a1b2c3d4e5f6"}},"xray":{{"sdk":"X-Ray for .NET Core","sdk_version":"2.14.0"}}}},"subsegments":[{{"id":"7c1d2e3f4a5b6c7d","name":"PetSearch","namespace":"remote","start_time":{s1},"end_time":{e1},"http":{{"request":{{"method":"GET","url":"http://petsearch.local/api/search?pettype=puppy&petcolor=brown"}},"response":{{"status":200,"content_length":2312}}}}}},{{"id":"1a2b3c4d5e6f7081","name":"SSM","namespace":"aws","start_time":{s2},"end_time":{e2},"aws":{{"operation":"GetParameter","region":"us-east-1","request_id":"9f2c6a41-1d0e-4b9e-8f53-6c2a0d7e1b44","retries":0}},"http":{{"response":{{"status":200}}}}}}]}}"#,
        end = start + 0.095,
        s1 = start + 0.004,
        e1 = start + 0.081,
        s2 = start + 0.083,
        e2 = start + 0.091,
    );
    let petsearch = format!(
        r#"{{"name":"PetSearch","id":"2b3c4d5e6f708192","trace_id":"{trace}","parent_id":"7c1d2e3f4a5b6c7d","start_time":{start},"end_time":{end},"origin":"AWS::ECS::Container","http":{{"request":{{"method":"GET","url":"http://petsearch.local/api/search?pettype=puppy&petcolor=brown","client_ip":"10.0.3.40"}},"response":{{"status":200,"content_length":2312}}}},"aws":{{"ecs":{{"container":"petsearch-5f4e3d"}}}},"subsegments":[{{"id":"3c4d5e6f70819203","name":"Scanning DynamoDB Table","start_time":{s1},"end_time":{e1},"annotations":{{"pettype":"puppy","petcolor":"brown"}},"subsegments":[{{"id":"4d5e6f7081920314","name":"DynamoDB","namespace":"aws","start_time":{s2},"end_time":{e2},"aws":{{"operation":"Scan","table_name":"PetAdoptions-pets","region":"us-east-1","request_id":"KRT9G3Q1VV4PHK2J8J0B6Q8N3FVV4KQNSO5AEMVJF66Q9ASUAAJG","retries":0}},"http":{{"response":{{"status":200,"content_length":1987}}}}}}]}},{{"id":"5e6f708192031425","name":"S3","namespace":"aws","start_time":{s3},"end_time":{e3},"aws":{{"operation":"GetObject","bucket_name":"petadoptions-photos","key":"puppies/puppy4.jpg","region":"us-east-1","retries":0}}}}]}}"#,
        start = start + 0.006,
        end = start + 0.079,
        s1 = start + 0.008,
        e1 = start + 0.060,
        s2 = start + 0.010,
        e2 = start + 0.057,
        s3 = start + 0.062,
        e3 = start + 0.076,
    );
    [petsite, petsearch]
}

/// Spans per trace of [`petadoptions_spans`].
pub const SPANS_PER_TRACE: usize = 6;

/// `traces` searches as one OTLP export: PetSite's server and client spans and PetSearch's
/// server, internal and two AWS client spans each; trace ids are `epoch` then `first`, `first + 1`….
pub fn petadoptions_spans(epoch: u32, first: u64, traces: usize) -> ExportTraceServiceRequest {
    let start_ns = u64::from(epoch) * 1_000_000_000 + 250_000_000;
    let mut petsite = Vec::with_capacity(traces * 2);
    let mut petsearch = Vec::with_capacity(traces * 4);
    for index in 0..traces as u64 {
        let trace_id = trace_id(epoch, first + index);
        let at = |offset_ms: u64| start_ns + offset_ms * 1_000_000;
        let span = |id: u64, parent: Option<u64>, name: &str, kind: SpanKind, from: u64, to: u64, attributes| Span {
            trace_id: trace_id.clone(),
            span_id: span_id(first + index, id),
            parent_span_id: parent.map(|parent| span_id(first + index, parent)).unwrap_or_default(),
            name: name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: at(from),
            end_time_unix_nano: at(to),
            attributes,
            status: Some(Status::default()),
            ..Span::default()
        };
        petsite.push(span(1, None, "GET /", SpanKind::Server, 0, 95, http_attributes("/", 200)));
        petsite.push(span(2, Some(1), "GET", SpanKind::Client, 4, 81, client_attributes()));
        petsearch.push(span(
            3,
            Some(2),
            "GET /api/search",
            SpanKind::Server,
            6,
            79,
            http_attributes("/api/search", 200),
        ));
        petsearch.push(span(4, Some(3), "Scanning DynamoDB Table", SpanKind::Internal, 8, 60, pet_attributes()));
        petsearch.push(span(5, Some(4), "DynamoDB.Scan", SpanKind::Client, 10, 57, aws_attributes("DynamoDB", "Scan")));
        petsearch.push(span(6, Some(3), "S3.GetObject", SpanKind::Client, 62, 76, aws_attributes("S3", "GetObject")));
    }
    ExportTraceServiceRequest { resource_spans: vec![resource("PetSite", petsite), resource("PetSearch", petsearch)] }
}

fn trace_id(epoch: u32, serial: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&epoch.to_be_bytes());
    id.extend_from_slice(&[0xfe, 0xed, 0xbe, 0xef]);
    id.extend_from_slice(&serial.to_be_bytes());
    id
}

fn span_id(serial: u64, index: u64) -> Vec<u8> {
    ((serial << 4) | index).to_be_bytes().to_vec()
}

fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", service), text("cloud.platform", "aws_ecs")],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
        ..ResourceSpans::default()
    }
}

fn http_attributes(route: &str, status: i64) -> Vec<KeyValue> {
    vec![
        text("http.request.method", "GET"),
        text("url.full", &format!("http://petsearch.local{route}?pettype=puppy&petcolor=brown")),
        text("http.route", route),
        number("http.response.status_code", status),
    ]
}

fn client_attributes() -> Vec<KeyValue> {
    vec![
        text("http.request.method", "GET"),
        text("url.full", "http://petsearch.local/api/search?pettype=puppy&petcolor=brown"),
        text("server.address", "petsearch.local"),
        number("http.response.status_code", 200),
    ]
}

fn pet_attributes() -> Vec<KeyValue> {
    vec![text("pettype", "puppy"), text("petcolor", "brown")]
}

fn aws_attributes(service: &str, method: &str) -> Vec<KeyValue> {
    vec![
        text("rpc.system", "aws-api"),
        text("rpc.service", service),
        text("rpc.method", method),
        text("aws.region", "us-east-1"),
        text("aws.dynamodb.table_names", "PetAdoptions-pets"),
    ]
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}

fn number(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_documents_parse_and_join_one_trace() {
        let [petsite, petsearch] = petadoptions_documents(1_760_000_000);
        for document in [&petsite, &petsearch] {
            assert!((1000..1500).contains(&document.len()), "~1.2 KB: {}", document.len());
            let parsed = fluoro_proto::parse_document(document.as_bytes()).unwrap();
            assert_eq!(parsed.entities().len(), 1);
        }
        assert!(
            petsearch.contains(r#""parent_id":"7c1d2e3f4a5b6c7d""#) && petsite.contains(r#""id":"7c1d2e3f4a5b6c7d""#)
        );
    }

    #[test]
    fn spans_carry_distinct_trace_ids() {
        let request = petadoptions_spans(1_760_000_000, 7, 3);
        let spans: Vec<&Span> = request.resource_spans.iter().flat_map(|r| &r.scope_spans[0].spans).collect();
        assert_eq!(spans.len(), 3 * SPANS_PER_TRACE);
        let traces: std::collections::BTreeSet<&Vec<u8>> = spans.iter().map(|span| &span.trace_id).collect();
        assert_eq!(traces.len(), 3);
    }
}
