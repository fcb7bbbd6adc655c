//! The flat span record: one row per segment or subsegment, the shape the store keeps in columns
//! and the analyzer queries.
//!
//! Rows come from two places: X-Ray segment documents ([`rows_from_document`] flattens a segment
//! and its embedded subsegments) and OTLP spans (see the `otlp` module). Times are integer
//! microseconds since the epoch so that they sort and compress as integers.
//!
//! Independent subsegments (sent alone with `type: "subsegment"`) do not name their service;
//! their rows carry `service: None` until the store attaches them to their parent segment.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::document::Document;
use crate::id::{SegmentId, TraceId};
use crate::segment::{AnnotationValue, Cause, Entity};
use crate::sparse::{Empty, Sparse};

/// One segment or subsegment, flattened: what ingest produces from X-Ray documents and OTLP
/// spans alike. The store wraps it (`fluoro_store::StoredSpan`: plus the document and arrival
/// order); the analyzer reads spans back as columns, not as this type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    pub trace_id: TraceId,
    pub id: SegmentId,
    pub parent_id: Option<SegmentId>,
    /// Segment (a service handling a request) or subsegment (work inside one).
    pub kind: SpanKind,
    /// The service that recorded this span: the segment's name, for subsegments the name of
    /// the segment that contains them. `None` for a subsegment sent on its own, until assembly.
    /// Every row of a segment carries its service and origin: held inline up to 24 bytes, they
    /// are copied to each row, where `String`s took two allocations a row (~10 a PetAdoptions
    /// document, with their frees at flush). The other short texts are inline for the same
    /// reason, read that way from the document (`ShortText`).
    pub service: Option<CompactString>,
    pub name: CompactString,
    /// The AWS resource type running the service, e.g. `AWS::EC2::Instance`.
    pub origin: Option<CompactString>,
    /// `aws` or `remote` for downstream calls; `None` (or `local`) for local work.
    pub namespace: Option<CompactString>,
    pub start_us: i64,
    /// `None` while in progress.
    pub end_us: Option<i64>,
    pub in_progress: bool,
    pub http: HttpSummary,
    pub error: bool,
    pub fault: bool,
    pub throttle: bool,
    /// The exceptions recorded on this span, outermost first.
    pub exceptions: Vec<ExceptionSummary>,
    /// Indexed annotations, sorted by key.
    pub annotations: Vec<(String, AnnotationScalar)>,
    pub user: Option<String>,
    /// Set on AWS SDK calls and on segments that name their instance: fewer than half the rows.
    pub aws: Sparse<AwsSummary>,
    /// Sanitised `protocol://host[:port]/database` of a SQL call.
    pub sql_url: Option<String>,
    /// The span is a call to another service (namespace `aws`/`remote`, OTLP client/producer).
    pub remote: bool,
    /// The downstream service is instrumented and reports its own segment (`http.request.traced`).
    pub traced: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpanKind {
    #[default]
    Segment,
    Subsegment,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpSummary {
    pub method: Option<CompactString>,
    pub url: Option<String>,
    pub status: Option<u16>,
    pub client_ip: Option<CompactString>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsSummary {
    pub account_id: Option<String>,
    /// The API operation of an AWS SDK call, e.g. `PutItem`.
    pub operation: Option<CompactString>,
    pub region: Option<CompactString>,
    /// DynamoDB table name(s), comma separated when a call touched several.
    pub table: Option<String>,
    /// SQS queue URL.
    pub queue: Option<String>,
    /// Any other resource the call targeted: bucket, function, topic, stream.
    pub resource: Option<String>,
    pub resource_arn: Option<String>,
    pub instance_id: Option<String>,
    pub availability_zone: Option<String>,
}

impl Empty for AwsSummary {
    const EMPTY: &'static Self = &AwsSummary {
        account_id: None,
        operation: None,
        region: None,
        table: None,
        queue: None,
        resource: None,
        resource_arn: None,
        instance_id: None,
        availability_zone: None,
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionSummary {
    /// The exception type, e.g. `ValueError`.
    pub name: Option<String>,
    pub message: Option<String>,
    /// The exception came back from a downstream call.
    pub remote: bool,
}

/// An annotation value: the three types X-Ray indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnnotationScalar {
    String(String),
    Number(f64),
    Bool(bool),
}

/// Flattens a document: one row per segment and subsegment, depth first. The rows copy the
/// strings they hold; ingest, which is done with its documents, hands them to
/// [`push_rows_from_document`] instead, and the rows take the strings over.
pub fn rows_from_document(document: &Document) -> Vec<SpanRow> {
    let mut rows = Vec::new();
    push_rows_from_document(document.clone(), &mut rows);
    rows
}

/// [`rows_from_document`] appending to `rows`, so a batch of documents fills one vector, and
/// consuming the document: each row moves its strings out of its entity rather than copying
/// them, which spares ingest an allocation and a free per field.
pub fn push_rows_from_document(document: Document, rows: &mut Vec<SpanRow>) {
    match document {
        Document::Segment(entity) | Document::Subsegment(entity) => push_top_level_rows(entity, rows),
        Document::Subsegments(entities) => entities.into_iter().for_each(|entity| push_top_level_rows(entity, rows)),
    }
}

fn push_top_level_rows(entity: Entity, rows: &mut Vec<SpanRow>) {
    // Top-level entities are validated to carry a trace id.
    let Some(trace_id) = entity.trace_id else { return };
    let owner = if entity.is_independent_subsegment() {
        Owner { trace_id, service: None, origin: None }
    } else {
        Owner { trace_id, service: Some(entity.name.clone()), origin: entity.origin.clone() }
    };
    let parent_id = entity.parent_id;
    push_rows(entity, parent_id, &owner, true, rows);
}

/// What subsegments inherit from the segment that contains them.
struct Owner {
    trace_id: TraceId,
    service: Option<CompactString>,
    origin: Option<CompactString>,
}

fn push_rows(mut entity: Entity, parent_id: Option<SegmentId>, owner: &Owner, top: bool, rows: &mut Vec<SpanRow>) {
    let kind = if top && !entity.is_independent_subsegment() { SpanKind::Segment } else { SpanKind::Subsegment };
    let (id, subsegments) = (entity.id, entity.subsegments.take());
    rows.push(row_from_entity(entity, parent_id, owner, kind));
    for subsegment in subsegments.into_iter().flatten() {
        push_rows(subsegment, Some(id), owner, false, rows);
    }
}

fn row_from_entity(mut entity: Entity, parent_id: Option<SegmentId>, owner: &Owner, kind: SpanKind) -> SpanRow {
    let http = http_summary(&mut entity);
    let status = http.status;
    let remote = matches!(entity.namespace.as_deref(), Some("aws" | "remote"));
    SpanRow {
        trace_id: owner.trace_id,
        id: entity.id,
        parent_id,
        kind,
        service: owner.service.clone(),
        origin: owner.origin.clone(),
        start_us: seconds_to_micros(entity.start_time),
        end_us: entity.end_time.map(seconds_to_micros),
        in_progress: entity.is_in_progress(),
        // Flags win; a producer that only recorded a status gets the flags the status implies.
        error: entity.error.unwrap_or(matches!(status, Some(400..=499))),
        fault: entity.fault.unwrap_or(matches!(status, Some(500..=599))),
        throttle: entity.throttle.unwrap_or(status == Some(429)),
        traced: entity.http.as_ref().and_then(|h| h.request.as_ref()).and_then(|r| r.traced).unwrap_or(false),
        http,
        exceptions: exception_summaries(&mut entity),
        annotations: annotation_scalars(&mut entity),
        aws: aws_summary(&mut entity).into(),
        sql_url: entity.sql.take().and_then(|sql| sql.url.or(sql.connection_string)),
        name: entity.name,
        namespace: entity.namespace,
        user: entity.user,
        remote,
    }
}

/// Epoch seconds as integer microseconds, rounded: SDK times are floats with ms precision.
pub fn seconds_to_micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

fn http_summary(entity: &mut Entity) -> HttpSummary {
    let Some(http) = &mut entity.http else { return HttpSummary::default() };
    let status = http.response.as_ref().and_then(|r| r.status);
    let Some(request) = &mut http.request else { return HttpSummary { status, ..HttpSummary::default() } };
    HttpSummary {
        method: request.method.take(),
        url: request.url.take(),
        status,
        client_ip: request.client_ip.take(),
        user_agent: request.user_agent.take(),
    }
}

fn exception_summaries(entity: &mut Entity) -> Vec<ExceptionSummary> {
    let Some(Cause::Details(details)) = &mut entity.cause else { return Vec::new() };
    details
        .exceptions
        .iter_mut()
        .flatten()
        .map(|exception| ExceptionSummary {
            name: exception.kind.take(),
            message: exception.message.take(),
            remote: exception.remote.unwrap_or(false),
        })
        .collect()
}

fn annotation_scalars(entity: &mut Entity) -> Vec<(String, AnnotationScalar)> {
    let Some(annotations) = entity.annotations.take() else { return Vec::new() };
    annotations
        .into_iter()
        .map(|(key, value)| {
            let scalar = match value {
                AnnotationValue::String(text) => AnnotationScalar::String(text),
                AnnotationValue::Number(number) => AnnotationScalar::Number(number.as_f64().unwrap_or(f64::NAN)),
                AnnotationValue::Bool(flag) => AnnotationScalar::Bool(flag),
            };
            (key, scalar)
        })
        .collect()
}

fn aws_summary(entity: &mut Entity) -> AwsSummary {
    let resource_arn = entity.resource_arn.take();
    let Some(aws) = &mut entity.aws else {
        return AwsSummary { resource_arn, ..AwsSummary::default() };
    };
    let table = aws.table_name.take().or_else(|| aws.table_names.as_ref().map(|names| names.join(",")));
    let resource = aws.bucket_name.take().or_else(|| aws.function_name.take()).or_else(|| aws.topic_arn.take());
    let ec2 = aws.ec2.as_mut();
    let (instance_id, ec2_zone) =
        ec2.map_or((None, None), |ec2| (ec2.instance_id.take(), ec2.availability_zone.take()));
    AwsSummary {
        account_id: aws.account_id.take(),
        operation: aws.operation.take(),
        region: aws.region.take(),
        table,
        queue: aws.queue_url.take(),
        resource,
        resource_arn,
        instance_id,
        availability_zone: ec2_zone.or_else(|| aws.ecs.as_mut().and_then(|ecs| ecs.availability_zone.take())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_document;

    #[test]
    fn subsegment_rows_carry_their_segment_s_names_without_allocating() {
        let document = br#"{"name":"PetSite","id":"5e0b1b5a1f0c9d21","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1.0,"end_time":2.0,"origin":"AWS::ECS::Container","subsegments":[{"id":"7c1d2e3f4a5b6c7d","name":"PetSearch","start_time":1.1,"end_time":1.9}]}"#;
        let mut rows = Vec::new();
        push_rows_from_document(parse_document(document).unwrap(), &mut rows);
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(row.service.as_deref(), Some("PetSite"));
            assert_eq!(row.origin.as_deref(), Some("AWS::ECS::Container"));
            assert!(row.service.iter().chain(&row.origin).all(|text| !text.is_heap_allocated()));
        }
    }
}
