//! Reading segment documents: bytes → typed [`Entity`] in one pass, with the field path of
//! every problem.
//!
//! - A document is one JSON object (a segment or an independent subsegment) or, as
//!   `PutTraceSegments` allows, an array of independent subsegments.
//! - At most [`MAX_DOCUMENT_BYTES`] (64 KiB), the service's limit and the daemon's datagram size.
//! - serde visitors read the bytes straight into the typed fields: `document/reader.rs` holds
//!   the machinery, `document/schema.rs` the known fields of each object and
//!   `document/values.rs` the reader of each kind of value. What an object holds besides its
//!   known fields is kept in its `other` map. Explicit `null` counts as absent.
//! - The visitors are driven by `document/plain_json.rs`, a small deserializer for the JSON
//!   SDKs send, and by serde_json for anything it leaves (syntax errors, numbers too long,
//!   deep nesting, lone surrogates): serde_json words every error, so a document is refused
//!   with the same text either way.
//! - A JSON syntax error anywhere is reported as such. Otherwise type errors report the first
//!   problem in each object's field order, not in document order, and name the field; the rules
//!   that need the whole entity (times, names, ids) run afterwards in `validation.rs`.
//!
//! Building a `serde_json::Value` first cost more than the rest of parsing and validation
//! together (`BENCHMARKS.md`), so a `Value` is only built for what has no schema: unknown
//! fields, `service`, `metadata`, link `attributes` and `content_length`.

mod plain_json;
mod reader;
mod schema;
mod values;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::{DocumentError, InvalidDocument, Problem};
use crate::id::TraceId;
use crate::segment::Entity;
use crate::validation::{validate_document, Rules};

/// The service's limit on one segment document.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// About what one entity takes as JSON: a segment with three subsegments comes to ~2 KiB, as
/// SDKs send them, and a lone subsegment to a few hundred bytes.
const TYPICAL_ENTITY_BYTES: usize = 512;

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

    /// The trace of its first entity (an array's entities share one in practice), and the
    /// spans it holds: each entity and every nested subsegment.
    pub fn trace_and_span_count(&self) -> (Option<TraceId>, usize) {
        let trace = self.entities().first().and_then(|entity| entity.trace_id);
        (trace, self.entities().iter().map(entity_count).sum())
    }

    /// The JSON text, as `BatchGetTraces` hands documents back.
    pub fn to_json(&self) -> String {
        // Room for what the entities typically take, rather than growing from 128 bytes by
        // doubling, and without reserving a whole segment's worth for a small subsegment.
        let mut json =
            Vec::with_capacity(TYPICAL_ENTITY_BYTES * self.entities().iter().map(entity_count).sum::<usize>());
        // Serializing these types cannot fail (every map key is a string), and serde_json
        // writes only UTF-8.
        if serde_json::to_writer(&mut json, self).is_err() {
            return String::new();
        }
        String::from_utf8(json).unwrap_or_default()
    }
}

/// The entity and all its nested subsegments.
pub(crate) fn entity_count(entity: &Entity) -> usize {
    1 + entity.subsegments.iter().flatten().map(entity_count).sum::<usize>()
}

/// Parses and validates one document with the default [`Rules`].
pub fn parse_document(bytes: &[u8]) -> Result<Document, DocumentError> {
    parse_document_with(bytes, &Rules::default())
}

/// Parses and validates one document.
pub fn parse_document_with(bytes: &[u8], rules: &Rules) -> Result<Document, DocumentError> {
    parse_document_by(bytes, rules, schema::TopLevel::read)
}

/// What reads a document's JSON into its top level: the JSON error, or a problem with a field.
type ReadTopLevel = fn(&mut schema::TopLevel, &[u8]) -> Result<Result<(), schema::Rejected>, serde_json::Error>;

fn parse_document_by(bytes: &[u8], rules: &Rules, read: ReadTopLevel) -> Result<Document, DocumentError> {
    let limit = rules.max_document_bytes.unwrap_or(MAX_DOCUMENT_BYTES);
    if bytes.len() > limit {
        return Err(DocumentError::TooLarge { size: bytes.len(), limit });
    }
    if let Some(limit) = rules.max_json_depth {
        if json_depth_exceeds(bytes, limit) {
            return Err(DocumentError::TooDeep { limit });
        }
    }
    let mut top_level = schema::TopLevel::new();
    let read = read(&mut top_level, bytes).map_err(json_error)?;
    read.map_err(|rejected| rejected.problem.into_error(&label_of_rejected(bytes, rejected.element)))?;
    let document = top_level.into_document();
    validate_document(&document, rules)?;
    Ok(document)
}

/// serde_json's own nesting limit (its recursion limit of 128 counts down to zero, so 127
/// levels parse): it refuses deeper JSON, and the refusal names this limit.
pub const MAX_JSON_DEPTH: usize = 127;

/// A JSON error, or serde_json's nesting limit said as the limit it is.
fn json_error(error: serde_json::Error) -> DocumentError {
    let text = error.to_string();
    if text.starts_with("recursion limit exceeded") {
        return DocumentError::TooDeep { limit: MAX_JSON_DEPTH };
    }
    DocumentError::Json(text)
}

/// Whether objects and arrays nest more than `limit` deep, strings skipped. One pass over the
/// bytes, only when a depth below serde_json's own is configured; invalid JSON is left to the
/// parser that follows.
fn json_depth_exceeds(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Names the entity of a rejected document as the service does: by the `type` and `id` it was
/// sent with, even malformed ones. Rejects are rare and the bytes are known to be valid JSON by
/// now, so they are read again as a `Value` rather than carrying raw ids through every parse.
fn label_of_rejected(bytes: &[u8], element: Option<usize>) -> EntityLabel {
    let document: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let entity = match element {
        Some(index) => document.get(index).unwrap_or(&Value::Null),
        None => &document,
    };
    EntityLabel::of(entity)
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

#[cfg(test)]
mod tests {
    //! What the streaming reader must keep from the `Value` reader it replaced.

    use super::*;

    const VALID: &str =
        r#""trace_id": "1-5759e988-bd862e3fe1be46a994272793", "start_time": 1465510000.0, "end_time": 1465510000.5"#;

    fn error_of(text: &str) -> String {
        parse_document(text.as_bytes()).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn to_json_reserves_by_the_number_of_entities() {
        let subsegment = format!(
            r#"{{"name": "s", "id": "a1b2c3d4e5f60718", {VALID}, "type": "subsegment", "parent_id": "1111111111111111"}}"#
        );
        let small = parse_document(subsegment.as_bytes()).unwrap().to_json();
        assert!(small.capacity() <= TYPICAL_ENTITY_BYTES, "a lone subsegment got {} bytes", small.capacity());
        let nested = |id: &str| {
            format!(r#"{{"name": "s", "id": "{id}", "start_time": 1465510000.0, "end_time": 1465510000.5}}"#)
        };
        let (first, second) = (nested("b1b2c3d4e5f60718"), nested("c1b2c3d4e5f60718"));
        let segment =
            format!(r#"{{"name": "a", "id": "a1b2c3d4e5f60718", {VALID}, "subsegments": [{first}, {second}]}}"#);
        let document = parse_document(segment.as_bytes()).unwrap();
        assert_eq!(document.entities().iter().map(entity_count).sum::<usize>(), 3);
        assert!(document.to_json().capacity() >= 3 * TYPICAL_ENTITY_BYTES);
    }

    #[test]
    fn a_syntax_error_after_a_field_problem_is_still_a_json_error() {
        let text = format!(r#"{{"name": 5, "id": "a1b2c3d4e5f60718", {VALID}, "x": [1,}}"#);
        assert!(matches!(parse_document(text.as_bytes()), Err(DocumentError::Json(_))));
    }

    #[test]
    fn invalid_utf8_in_a_value_read_past_is_a_json_error() {
        let mut text = br#"{"name": {"x": ""#.to_vec();
        text.extend_from_slice(b"\xff\"}, \"id\": \"a1b2c3d4e5f60718\"}");
        assert!(matches!(parse_document(&text), Err(DocumentError::Json(_))));
    }

    #[test]
    fn invalid_utf8_is_reported_where_serde_json_finds_it() {
        // Valid documents are read as text; invalid UTF-8 still gets the byte reader's error.
        let text = b"{\"name\": \"web\", \"id\": \"a1\xffb2\"}";
        let expected = serde_json::from_slice::<Value>(text).unwrap_err().to_string();
        assert_eq!(parse_document(text).unwrap_err(), DocumentError::Json(expected));
    }

    #[test]
    fn problems_are_reported_in_field_order_not_document_order() {
        let text = r#"{"start_time": "soon", "name": 5, "id": "a1b2c3d4e5f60718"}"#;
        assert_eq!(error_of(text), "segment a1b2c3d4e5f60718: name must be a string, found a number");
        let text = r#"{"start_time": "soon", "id": "a1b2c3d4e5f60718"}"#;
        assert_eq!(error_of(text), "segment a1b2c3d4e5f60718: name is required");
        assert_eq!(error_of(r#"{"name": 5, "id": 7}"#), "segment: id must be a string, found a number");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let text = format!(r#"{{"name": 5, "name": "web", "id": "a1b2c3d4e5f60718", {VALID}}}"#);
        assert_eq!(parse_document(text.as_bytes()).unwrap().entities()[0].name, "web");
        let text = format!(r#"{{"name": "web", "name": null, "id": "a1b2c3d4e5f60718", {VALID}}}"#);
        assert_eq!(error_of(&text), "segment a1b2c3d4e5f60718: name is required");
    }

    #[test]
    fn a_nested_problem_names_the_entity_by_the_id_it_was_sent_with() {
        let text = format!(
            r#"{{"name": "web", "id": "A1B2C3D4E5F60718", "type": "subsegment", {VALID},
                "subsegments": [{{"name": "db", "id": "1111111111111111", "start_time": 1, "http": {{"response": {{"status": 9e9}}}}}}]}}"#
        );
        assert_eq!(
            error_of(&text),
            "subsegment A1B2C3D4E5F60718: subsegments[0].http.response.status must be an integer from 0 to 65535, found a number out of range"
        );
    }

    #[test]
    fn an_array_names_the_element_at_fault_by_its_own_id() {
        // Every element is read before any is validated.
        let text = r#"[{"name": "a", "id": "1111111111111111", "start_time": 1}, null, {"id": "bad"}]"#;
        assert_eq!(error_of(text), "segment: [1] must be an object, found null");
        let text = r#"[{"name": "a", "id": "bad", "type": "subsegment"}]"#;
        assert_eq!(error_of(text), r#"subsegment bad: [0].id "bad" is not a valid id (16 hex digits expected)"#);
    }
}
