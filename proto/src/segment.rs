//! The X-Ray segment document, complete and lossless.
//!
//! - One [`Entity`] type serves segments and subsegments: they share every field, and a
//!   subsegment sent on its own is an entity with `type: "subsegment"`, `trace_id` and
//!   `parent_id` set.
//! - Every field the schema names is typed; everything else a producer sends lands in the
//!   `other` map of the object it was found in and is written back unchanged, so a document
//!   survives parse → serialize with no field lost (`null` values and integer-valued times come
//!   back as absent fields and floats of the same value; `BatchGetTraces` therefore returns the
//!   sent text through `SentEntity`, not this model).
//! - Optional booleans stay `Option<bool>` because SDKs write `false` explicitly
//!   (the Python SDK sends `"in_progress": false`), and a round trip must keep it.
//! - Fields whose type varies between producers keep their JSON value (`content_length` is a
//!   number or a string, `service` and `metadata` hold arbitrary JSON).
//!
//! Reading streams from the bytes into these types with serde (`document/reader.rs`), naming
//! the exact field of every type error (`subsegments[2].http.response.status`); only unknown
//! fields and free-form JSON become `serde_json::Value`. Writing uses serde.

use std::collections::BTreeMap;

use compact_str::CompactString;
use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::id::{SegmentId, TraceId};

/// A segment or subsegment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub name: CompactString,
    pub id: SegmentId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<SegmentId>,
    /// `"subsegment"` on an independent subsegment.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub start_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    /// `{"version": "1.2.3"}` and whatever else the producer describes itself with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Box<Http>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<Box<Aws>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<Box<Sql>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, AnnotationValue>>,
    /// Namespace → arbitrary JSON; not indexed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsegments: Option<Vec<Entity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precursor_ids: Option<Vec<SegmentId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Http {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HttpRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponse>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HttpRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<CompactString>,
    /// The client ip came from `X-Forwarded-For` and cannot be trusted (segments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_forwarded_for: Option<bool>,
    /// The downstream service is instrumented and reports its own segment (subsegments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traced: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HttpResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A number from most SDKs, a string from some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The `aws` object: resource facts on segments, the AWS SDK call on subsegments.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aws {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2: Option<Ec2>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Ecs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eks: Option<Eks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_beanstalk: Option<ElasticBeanstalk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xray: Option<XraySdk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudwatch_logs: Option<Vec<CloudwatchLogs>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ec2 {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ami_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ecs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Eks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ElasticBeanstalk {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Which X-Ray SDK wrote the document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct XraySdk {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_instrumentation: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CloudwatchLogs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The `sql` object of a database call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sql {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitized_query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preparation: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Why an entity failed: either the id of an exception recorded elsewhere in the trace, or
/// the exceptions themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cause {
    ExceptionId(SegmentId),
    Details(CauseDetails),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CauseDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<Vec<Exception>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exception {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<SegmentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The exception's type, e.g. `ValueError`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The exception was returned by a downstream call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<bool>,
    /// Stack frames left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<i64>,
    /// Exceptions skipped between this one and its cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<i64>,
    /// The id of the exception that caused this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<SegmentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<StackFrame>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackFrame {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// The function or method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A span link (OpenTelemetry), e.g. from a message consumer to its producer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub trace_id: TraceId,
    pub id: SegmentId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An indexed annotation value. Numbers keep their JSON form so `42` stays `42`, not `42.0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnnotationValue {
    String(String),
    Number(Number),
    Bool(bool),
}

impl Entity {
    /// An entity with only the required fields set, to fill in field by field.
    pub fn new(name: impl Into<CompactString>, id: SegmentId, start_time: f64) -> Self {
        Entity {
            name: name.into(),
            id,
            trace_id: None,
            parent_id: None,
            kind: None,
            start_time,
            end_time: None,
            in_progress: None,
            namespace: None,
            origin: None,
            user: None,
            resource_arn: None,
            service: None,
            http: None,
            aws: None,
            sql: None,
            error: None,
            throttle: None,
            fault: None,
            cause: None,
            annotations: None,
            metadata: None,
            subsegments: None,
            precursor_ids: None,
            links: None,
            other: Map::new(),
        }
    }

    /// An independent subsegment: sent on its own, attached to its parent by `parent_id`.
    pub fn is_independent_subsegment(&self) -> bool {
        self.kind.as_deref() == Some("subsegment")
    }

    pub fn is_in_progress(&self) -> bool {
        self.in_progress == Some(true)
    }

    pub fn subsegments(&self) -> &[Entity] {
        self.subsegments.as_deref().unwrap_or_default()
    }

    /// The HTTP response status, if the entity recorded one.
    pub fn http_status(&self) -> Option<u16> {
        self.http.as_ref()?.response.as_ref()?.status
    }
}

impl HttpResponse {
    /// The content length whether it was sent as a number or as a string.
    pub fn content_length(&self) -> Option<u64> {
        match self.content_length.as_ref()? {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

impl AnnotationValue {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AnnotationValue::Number(number) => number.as_f64(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entity is blanked, moved into its list and moved into its row whole as a document is
    /// read and flattened: the objects most entities lack stay boxed so that this stays cheap.
    #[test]
    fn an_entity_stays_small_to_move() {
        let size = std::mem::size_of::<Entity>();
        assert!(size <= 640, "an Entity takes {size} bytes inline");
    }
}
