//! Reading segment documents: bytes → JSON → typed [`Entity`], with the field path of every
//! problem.
//!
//! - A document is one JSON object (a segment or an independent subsegment) or, as
//!   `PutTraceSegments` allows, an array of independent subsegments.
//! - At most [`MAX_DOCUMENT_BYTES`] (64 KiB), the service's limit and the daemon's datagram size.
//! - The reader takes each known field out of the JSON object and checks its type; what is left
//!   is kept in `other`. Explicit `null` counts as absent.
//! - Type errors stop at the first problem and name the field; the rules that need the whole
//!   entity (times, names, ids) run afterwards in `validation.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{DocumentError, InvalidDocument, Problem};
use crate::id::{SegmentId, TraceId};
use crate::segment::{
    AnnotationValue, Aws, Cause, CauseDetails, CloudwatchLogs, Ec2, Ecs, Eks, ElasticBeanstalk, Entity, Exception,
    Http, HttpRequest, HttpResponse, Link, Sql, StackFrame, XraySdk,
};
use crate::validation::{validate_document, Rules};

/// The service's limit on one segment document.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// One accepted segment document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Document {
    /// A segment, with its embedded subsegments.
    Segment(Entity),
    /// A subsegment sent on its own (`"type": "subsegment"`).
    Subsegment(Entity),
    /// Several independent subsegments in one JSON array.
    Subsegments(Vec<Entity>),
}

impl Document {
    /// The top-level entities: one, or each element of an array.
    pub fn entities(&self) -> &[Entity] {
        match self {
            Document::Segment(entity) | Document::Subsegment(entity) => std::slice::from_ref(entity),
            Document::Subsegments(entities) => entities,
        }
    }

    /// The JSON text, as `BatchGetTraces` hands documents back.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Parses and validates one document with the default [`Rules`].
pub fn parse_document(bytes: &[u8]) -> Result<Document, DocumentError> {
    parse_document_with(bytes, &Rules::default())
}

/// Parses and validates one document.
pub fn parse_document_with(bytes: &[u8], rules: &Rules) -> Result<Document, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge { size: bytes.len(), limit: MAX_DOCUMENT_BYTES });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|error| DocumentError::Json(error.to_string()))?;
    let document = match value {
        Value::Array(items) => read_subsegment_array(items)?,
        value => read_top_level(value, Path::Root)?,
    };
    validate_document(&document, rules)?;
    Ok(document)
}

fn read_top_level(value: Value, path: Path<'_>) -> Result<Document, DocumentError> {
    let label = EntityLabel::of(&value);
    let entity = read_entity(value, path).map_err(|invalid| invalid.into_error(&label))?;
    Ok(if entity.is_independent_subsegment() { Document::Subsegment(entity) } else { Document::Segment(entity) })
}

fn read_subsegment_array(items: Vec<Value>) -> Result<Document, DocumentError> {
    let mut entities = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let label = EntityLabel::of(&item);
        let entity =
            read_entity(item, Path::Index(&Path::Root, index)).map_err(|invalid| invalid.into_error(&label))?;
        entities.push(entity);
    }
    Ok(Document::Subsegments(entities))
}

/// How an error names the entity it is about: `segment 70de5b6f19ff9a0a`.
pub(crate) struct EntityLabel {
    pub(crate) entity: &'static str,
    pub(crate) id: Option<String>,
}

impl EntityLabel {
    fn of(value: &Value) -> Self {
        let kind = value.get("type").and_then(Value::as_str);
        EntityLabel {
            entity: if kind == Some("subsegment") { "subsegment" } else { "segment" },
            id: value.get("id").and_then(Value::as_str).map(str::to_owned),
        }
    }

    pub(crate) fn of_entity(entity: &Entity) -> Self {
        EntityLabel {
            entity: if entity.is_independent_subsegment() { "subsegment" } else { "segment" },
            id: Some(entity.id.to_string()),
        }
    }
}

/// A problem found at a field, before it is tied to the document's entity.
#[derive(Debug)]
pub(crate) struct FieldProblem {
    pub(crate) field: String,
    pub(crate) problem: Problem,
}

impl FieldProblem {
    pub(crate) fn new(path: Path<'_>, problem: Problem) -> Self {
        FieldProblem { field: path.to_string(), problem }
    }

    pub(crate) fn into_error(self, label: &EntityLabel) -> DocumentError {
        DocumentError::Invalid(Box::new(InvalidDocument {
            entity: label.entity,
            entity_id: label.id.clone(),
            field: self.field,
            problem: self.problem,
        }))
    }
}

type Read<T> = Result<T, FieldProblem>;

/// A field path built on the stack and rendered only when there is a problem to report.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => write!(f, "document"),
            Path::Key(Path::Root, key) => write!(f, "{key}"),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(Path::Root, index) => write!(f, "[{index}]"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: Path<'_>, expected: &'static str, found: &Value) -> FieldProblem {
    FieldProblem::new(path, Problem::WrongType { expected, found: json_type(found) })
}

/// The fields of one JSON object, taken out one by one.
struct Fields<'p> {
    map: Map<String, Value>,
    path: Path<'p>,
}

impl<'p> Fields<'p> {
    fn new(value: Value, path: Path<'p>) -> Read<Self> {
        match value {
            Value::Object(map) => Ok(Fields { map, path }),
            other => Err(wrong_type(path, "an object", &other)),
        }
    }

    /// Removes a field; `null` counts as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|value| !value.is_null())
    }

    fn string(&mut self, key: &str) -> Read<Option<String>> {
        self.take(key).map(|value| read_string(value, self.path.key(key))).transpose()
    }

    fn bool(&mut self, key: &str) -> Read<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(flag)),
            Some(other) => Err(wrong_type(self.path.key(key), "a boolean", &other)),
        }
    }

    fn f64(&mut self, key: &str) -> Read<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) => Ok(number.as_f64()),
            Some(other) => Err(wrong_type(self.path.key(key), "a number", &other)),
        }
    }

    fn i64(&mut self, key: &str) -> Read<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) if number.is_i64() => Ok(number.as_i64()),
            Some(other) => Err(wrong_type(self.path.key(key), "an integer", &other)),
        }
    }

    fn u16(&mut self, key: &str) -> Read<Option<u16>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) => match number.as_u64().and_then(|n| u16::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(FieldProblem::new(
                    self.path.key(key),
                    Problem::WrongType { expected: "an integer from 0 to 65535", found: "a number out of range" },
                )),
            },
            Some(other) => Err(wrong_type(self.path.key(key), "an integer", &other)),
        }
    }

    fn segment_id(&mut self, key: &str) -> Read<Option<SegmentId>> {
        self.take(key).map(|value| read_segment_id(value, self.path.key(key))).transpose()
    }

    fn trace_id(&mut self, key: &str) -> Read<Option<TraceId>> {
        self.take(key).map(|value| read_trace_id(value, self.path.key(key))).transpose()
    }

    fn value(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    fn map(&mut self, key: &str) -> Read<Option<Map<String, Value>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(wrong_type(self.path.key(key), "an object", &other)),
        }
    }

    fn object<T>(&mut self, key: &str, read: impl FnOnce(Fields<'_>) -> Read<T>) -> Read<Option<T>> {
        let Some(value) = self.take(key) else { return Ok(None) };
        let path = self.path.key(key);
        Ok(Some(read(Fields::new(value, path)?)?))
    }

    fn list<T>(&mut self, key: &str, read: impl Fn(Value, Path<'_>) -> Read<T>) -> Read<Option<Vec<T>>> {
        let items = match self.take(key) {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(wrong_type(self.path.key(key), "an array", &other)),
        };
        let path = self.path.key(key);
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            out.push(read(item, path.index(index))?);
        }
        Ok(Some(out))
    }

    fn objects<T>(&mut self, key: &str, read: impl Fn(Fields<'_>) -> Read<T>) -> Read<Option<Vec<T>>> {
        self.list(key, |value, path| read(Fields::new(value, path)?))
    }

    fn strings(&mut self, key: &str) -> Read<Option<Vec<String>>> {
        self.list(key, read_string)
    }

    /// What no reader claimed: kept verbatim.
    fn rest(self) -> Map<String, Value> {
        self.map
    }
}

fn read_string(value: Value, path: Path<'_>) -> Read<String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(wrong_type(path, "a string", &other)),
    }
}

fn read_segment_id(value: Value, path: Path<'_>) -> Read<SegmentId> {
    let text = read_string(value, path)?;
    SegmentId::parse(&text).map_err(|reason| FieldProblem::new(path, Problem::Id { value: text, reason }))
}

fn read_trace_id(value: Value, path: Path<'_>) -> Read<TraceId> {
    let text = read_string(value, path)?;
    TraceId::parse_xray(&text).map_err(|reason| FieldProblem::new(path, Problem::TraceId { value: text, reason }))
}

fn read_entity(value: Value, path: Path<'_>) -> Read<Entity> {
    let mut fields = Fields::new(value, path)?;
    let missing = |key: &str| FieldProblem::new(path.key(key), Problem::Missing);
    Ok(Entity {
        id: fields.segment_id("id")?.ok_or_else(|| missing("id"))?,
        name: fields.string("name")?.ok_or_else(|| missing("name"))?,
        trace_id: fields.trace_id("trace_id")?,
        parent_id: fields.segment_id("parent_id")?,
        kind: fields.string("type")?,
        start_time: fields.f64("start_time")?.ok_or_else(|| missing("start_time"))?,
        end_time: fields.f64("end_time")?,
        in_progress: fields.bool("in_progress")?,
        namespace: fields.string("namespace")?,
        origin: fields.string("origin")?,
        user: fields.string("user")?,
        resource_arn: fields.string("resource_arn")?,
        service: fields.map("service")?,
        http: fields.object("http", read_http)?,
        aws: fields.object("aws", read_aws)?,
        sql: fields.object("sql", read_sql)?,
        error: fields.bool("error")?,
        throttle: fields.bool("throttle")?,
        fault: fields.bool("fault")?,
        cause: fields.take("cause").map(|value| read_cause(value, path.key("cause"))).transpose()?,
        annotations: fields.object("annotations", read_annotations)?,
        metadata: fields.map("metadata")?,
        subsegments: fields.list("subsegments", read_entity)?,
        precursor_ids: fields.list("precursor_ids", read_segment_id)?,
        links: fields.objects("links", read_link)?,
        other: fields.rest(),
    })
}

fn read_http(mut fields: Fields<'_>) -> Read<Http> {
    Ok(Http {
        request: fields.object("request", |mut fields| {
            Ok(HttpRequest {
                method: fields.string("method")?,
                url: fields.string("url")?,
                user_agent: fields.string("user_agent")?,
                client_ip: fields.string("client_ip")?,
                x_forwarded_for: fields.bool("x_forwarded_for")?,
                traced: fields.bool("traced")?,
                other: fields.rest(),
            })
        })?,
        response: fields.object("response", |mut fields| {
            Ok(HttpResponse {
                status: fields.u16("status")?,
                content_length: fields.value("content_length"),
                other: fields.rest(),
            })
        })?,
        other: fields.rest(),
    })
}

fn read_aws(mut fields: Fields<'_>) -> Read<Aws> {
    Ok(Aws {
        account_id: fields.string("account_id")?,
        operation: fields.string("operation")?,
        region: fields.string("region")?,
        request_id: fields.string("request_id")?,
        retries: fields.i64("retries")?,
        queue_url: fields.string("queue_url")?,
        table_name: fields.string("table_name")?,
        table_names: fields.strings("table_names")?,
        bucket_name: fields.string("bucket_name")?,
        function_name: fields.string("function_name")?,
        topic_arn: fields.string("topic_arn")?,
        ec2: fields.object("ec2", read_ec2)?,
        ecs: fields.object("ecs", read_ecs)?,
        eks: fields.object("eks", read_eks)?,
        elastic_beanstalk: fields.object("elastic_beanstalk", read_elastic_beanstalk)?,
        xray: fields.object("xray", read_xray_sdk)?,
        cloudwatch_logs: fields.objects("cloudwatch_logs", read_cloudwatch_logs)?,
        other: fields.rest(),
    })
}

fn read_ec2(mut fields: Fields<'_>) -> Read<Ec2> {
    Ok(Ec2 {
        instance_id: fields.string("instance_id")?,
        instance_size: fields.string("instance_size")?,
        ami_id: fields.string("ami_id")?,
        availability_zone: fields.string("availability_zone")?,
        other: fields.rest(),
    })
}

fn read_ecs(mut fields: Fields<'_>) -> Read<Ecs> {
    Ok(Ecs {
        container: fields.string("container")?,
        container_id: fields.string("container_id")?,
        container_arn: fields.string("container_arn")?,
        task_arn: fields.string("task_arn")?,
        task_family: fields.string("task_family")?,
        cluster_arn: fields.string("cluster_arn")?,
        launch_type: fields.string("launch_type")?,
        availability_zone: fields.string("availability_zone")?,
        other: fields.rest(),
    })
}

fn read_eks(mut fields: Fields<'_>) -> Read<Eks> {
    Ok(Eks {
        cluster_name: fields.string("cluster_name")?,
        pod: fields.string("pod")?,
        container_id: fields.string("container_id")?,
        other: fields.rest(),
    })
}

fn read_elastic_beanstalk(mut fields: Fields<'_>) -> Read<ElasticBeanstalk> {
    Ok(ElasticBeanstalk {
        environment_name: fields.string("environment_name")?,
        version_label: fields.string("version_label")?,
        deployment_id: fields.i64("deployment_id")?,
        other: fields.rest(),
    })
}

fn read_xray_sdk(mut fields: Fields<'_>) -> Read<XraySdk> {
    Ok(XraySdk {
        sdk: fields.string("sdk")?,
        sdk_version: fields.string("sdk_version")?,
        auto_instrumentation: fields.bool("auto_instrumentation")?,
        other: fields.rest(),
    })
}

fn read_cloudwatch_logs(mut fields: Fields<'_>) -> Read<CloudwatchLogs> {
    Ok(CloudwatchLogs { log_group: fields.string("log_group")?, arn: fields.string("arn")?, other: fields.rest() })
}

fn read_sql(mut fields: Fields<'_>) -> Read<Sql> {
    Ok(Sql {
        connection_string: fields.string("connection_string")?,
        url: fields.string("url")?,
        sanitized_query: fields.string("sanitized_query")?,
        database_type: fields.string("database_type")?,
        database_version: fields.string("database_version")?,
        driver_version: fields.string("driver_version")?,
        user: fields.string("user")?,
        preparation: fields.string("preparation")?,
        other: fields.rest(),
    })
}

fn read_cause(value: Value, path: Path<'_>) -> Read<Cause> {
    match value {
        Value::String(_) => Ok(Cause::ExceptionId(read_segment_id(value, path)?)),
        Value::Object(_) => {
            let mut fields = Fields::new(value, path)?;
            Ok(Cause::Details(CauseDetails {
                working_directory: fields.string("working_directory")?,
                paths: fields.strings("paths")?,
                exceptions: fields.objects("exceptions", read_exception)?,
                other: fields.rest(),
            }))
        }
        other => Err(wrong_type(path, "an exception id or an object", &other)),
    }
}

fn read_exception(mut fields: Fields<'_>) -> Read<Exception> {
    Ok(Exception {
        id: fields.segment_id("id")?,
        message: fields.string("message")?,
        kind: fields.string("type")?,
        remote: fields.bool("remote")?,
        truncated: fields.i64("truncated")?,
        skipped: fields.i64("skipped")?,
        cause: fields.segment_id("cause")?,
        stack: fields.objects("stack", |mut fields| {
            Ok(StackFrame {
                path: fields.string("path")?,
                line: fields.i64("line")?,
                label: fields.string("label")?,
                other: fields.rest(),
            })
        })?,
        other: fields.rest(),
    })
}

fn read_link(mut fields: Fields<'_>) -> Read<Link> {
    let path = fields.path;
    Ok(Link {
        trace_id: fields
            .trace_id("trace_id")?
            .ok_or_else(|| FieldProblem::new(path.key("trace_id"), Problem::Missing))?,
        id: fields.segment_id("id")?.ok_or_else(|| FieldProblem::new(path.key("id"), Problem::Missing))?,
        attributes: fields.map("attributes")?,
        other: fields.rest(),
    })
}

/// Annotation values are indexed, so only scalars are allowed; keys are checked by validation.
fn read_annotations(fields: Fields<'_>) -> Read<BTreeMap<String, AnnotationValue>> {
    let path = fields.path;
    let mut annotations = BTreeMap::new();
    for (key, value) in fields.rest() {
        let scalar = match value {
            Value::String(text) => AnnotationValue::String(text),
            Value::Number(number) => AnnotationValue::Number(number),
            Value::Bool(flag) => AnnotationValue::Bool(flag),
            other => return Err(wrong_type(path.key(&key), "a string, number or boolean", &other)),
        };
        annotations.insert(key, scalar);
    }
    Ok(annotations)
}
