//! The X-Ray service's rules for segment documents, beyond JSON types.
//!
//! - `trace_id` on every top-level document; `parent_id` on independent subsegments; `type`,
//!   when present, is `"subsegment"`.
//! - Times are epoch seconds; exactly one of `end_time` and `in_progress: true`; the end is not
//!   before the start. A value above 1e10 is refused with a hint, because it is almost always
//!   milliseconds sent by mistake.
//! - Names: 1 to 200 characters of letters, digits, whitespace and `_ . : / % & # = + \ - @`.
//! - Annotation keys: ASCII letters, digits and `_` (values are scalars, checked when read).
//! - Ids are unique among the entities of one document.
//! - Optionally, the time embedded in the trace id is within the retention window
//!   ([`TraceAge`]). Off by default: ids converted from W3C trace ids carry random bits there,
//!   and the service itself no longer insists on it.

use crate::document::{Document, EntityLabel, FieldProblem, Path};
use crate::error::{DocumentError, Problem};
use crate::segment::Entity;

/// The longest segment or subsegment name the service accepts.
pub const MAX_NAME_CHARS: usize = 200;
/// Times above this are not epoch seconds (it is the year 2286).
const MAX_EPOCH_SECONDS: f64 = 1e10;

/// Which optional rules apply.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Refuse trace ids whose embedded time falls outside a window around now.
    pub trace_age: Option<TraceAge>,
    /// The largest document in bytes; `None`: [`MAX_DOCUMENT_BYTES`](crate::MAX_DOCUMENT_BYTES).
    pub max_document_bytes: Option<usize>,
    /// The most bytes of annotations and metadata (as JSON) over all entities of one document;
    /// `None`: no limit beyond the document's size.
    pub max_annotations_metadata_bytes: Option<usize>,
    /// The deepest nesting of JSON objects and arrays; `None`: serde_json's own
    /// [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH).
    pub max_json_depth: Option<usize>,
}

/// The window the trace id's embedded time must fall in.
#[derive(Debug, Clone, Copy)]
pub struct TraceAge {
    /// Epoch seconds to measure against.
    pub now: f64,
    pub max_age_days: u64,
    pub max_future_seconds: u64,
}

impl TraceAge {
    /// X-Ray's window: 30 days of retention, 5 minutes of clock skew.
    pub fn xray(now: f64) -> Self {
        TraceAge { now, max_age_days: 30, max_future_seconds: 300 }
    }
}

pub(crate) fn validate_document(document: &Document, rules: &Rules) -> Result<(), DocumentError> {
    for (index, entity) in document.entities().iter().enumerate() {
        let root = Path::Root;
        let path = match document {
            Document::Subsegments(_) => root.index(index),
            _ => root,
        };
        validate_top_level(entity, path, rules)
            .map_err(|problem| problem.into_error(&EntityLabel::of_entity(entity)))?;
    }
    if let Some(limit) = rules.max_annotations_metadata_bytes {
        let size: usize = document.entities().iter().map(annotations_metadata_bytes).sum();
        if size > limit {
            let first = &document.entities()[0];
            let problem = Problem::AnnotationsMetadataTooLarge { size, limit };
            return Err(
                FieldProblem::new(Path::Root.key("annotations"), problem).into_error(&EntityLabel::of_entity(first))
            );
        }
    }
    Ok(())
}

/// The JSON size of an entity's annotations and metadata, its subsegments' included. Only
/// measured when the limit is set: it serializes what the parse already holds.
fn annotations_metadata_bytes(entity: &Entity) -> usize {
    let own = entity.annotations.as_ref().map_or(0, json_len) + entity.metadata.as_ref().map_or(0, json_len);
    own + entity.subsegments().iter().map(annotations_metadata_bytes).sum::<usize>()
}

/// The length of a value's compact JSON, counted without keeping the text.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail, and the values came from JSON.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

fn validate_top_level(entity: &Entity, path: Path<'_>, rules: &Rules) -> Result<(), FieldProblem> {
    let Some(trace_id) = entity.trace_id else {
        return Err(FieldProblem::new(path.key("trace_id"), Problem::Missing));
    };
    if let Some(kind) = &entity.kind {
        if kind != "subsegment" {
            return Err(FieldProblem::new(path.key("type"), Problem::UnknownType { value: kind.clone() }));
        }
        if entity.parent_id.is_none() {
            return Err(FieldProblem::new(path.key("parent_id"), Problem::ParentRequired));
        }
    }
    if let Some(window) = rules.trace_age {
        check_trace_age(f64::from(trace_id.epoch_seconds()), window)
            .map_err(|problem| FieldProblem::new(path.key("trace_id"), problem))?;
    }
    // A document holds a handful of entities, so a linear scan beats hashing and allocates
    // once. The worst case, ~1000 minimal subsegments in 64 KiB, scans in well under 1 ms.
    let mut seen_ids = Vec::with_capacity(1 + entity.subsegments().len());
    validate_entity(entity, path, &mut seen_ids)
}

fn check_trace_age(started: f64, window: TraceAge) -> Result<(), Problem> {
    let age = window.now - started;
    let max_age = window.max_age_days as f64 * 86_400.0;
    if age > max_age {
        return Err(Problem::TraceTooOld { days: (age / 86_400.0) as u64, limit_days: window.max_age_days });
    }
    if -age > window.max_future_seconds as f64 {
        return Err(Problem::TraceInFuture { seconds: (-age) as u64, limit_seconds: window.max_future_seconds });
    }
    Ok(())
}

fn validate_entity(entity: &Entity, path: Path<'_>, seen_ids: &mut Vec<u64>) -> Result<(), FieldProblem> {
    let id = entity.id.as_u64();
    if seen_ids.contains(&id) {
        return Err(FieldProblem::new(path.key("id"), Problem::DuplicateId { value: entity.id.to_string() }));
    }
    seen_ids.push(id);
    check_name(&entity.name).map_err(|problem| FieldProblem::new(path.key("name"), problem))?;
    check_times(entity, path)?;
    check_annotation_keys(entity, path)?;
    let subsegments = path.key("subsegments");
    for (index, subsegment) in entity.subsegments().iter().enumerate() {
        validate_entity(subsegment, subsegments.index(index), seen_ids)?;
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return Err(Problem::Empty);
    }
    if name.len() <= MAX_NAME_CHARS && name.bytes().all(is_ascii_name_character) {
        return Ok(());
    }
    let mut length = 0;
    for (position, character) in name.chars().enumerate() {
        if !is_name_character(character) {
            return Err(Problem::NameCharacter { character, position: position + 1 });
        }
        length += 1;
    }
    if length > MAX_NAME_CHARS {
        return Err(Problem::TooLong { length, limit: MAX_NAME_CHARS });
    }
    Ok(())
}

pub(crate) fn is_name_character(character: char) -> bool {
    match u8::try_from(character) {
        Ok(byte) if byte.is_ascii() => is_ascii_name_character(byte),
        _ => is_unicode_name_character(character),
    }
}

/// [`is_unicode_name_character`] for ASCII (its whitespace is `\t` to `\r` and the space), byte by
/// byte: every entity's names are checked, and decoding and testing them as Unicode characters
/// cost ~1.3k instructions per PetAdoptions document (`ingest_parse`, callgrind).
fn is_ascii_name_character(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'\t'..=b'\r' | b' ' | b'_' | b'.' | b':' | b'/' | b'%' | b'&' | b'#' | b'=' | b'+' | b'\\' | b'-' | b'@'
        )
}

fn is_unicode_name_character(character: char) -> bool {
    character.is_alphanumeric() || character.is_whitespace() || "_.:/%&#=+\\-@".contains(character)
}

fn check_times(entity: &Entity, path: Path<'_>) -> Result<(), FieldProblem> {
    check_epoch_seconds(entity.start_time).map_err(|problem| FieldProblem::new(path.key("start_time"), problem))?;
    let end_field = path.key("end_time");
    match (entity.end_time, entity.is_in_progress()) {
        (None, false) => Err(FieldProblem::new(end_field, Problem::NoEndTime)),
        (Some(_), true) => Err(FieldProblem::new(end_field, Problem::EndTimeWhileInProgress)),
        (None, true) => Ok(()),
        (Some(end), false) => {
            check_epoch_seconds(end).map_err(|problem| FieldProblem::new(end_field, problem))?;
            if end < entity.start_time {
                return Err(FieldProblem::new(end_field, Problem::EndBeforeStart { start: entity.start_time, end }));
            }
            Ok(())
        }
    }
}

fn check_epoch_seconds(value: f64) -> Result<(), Problem> {
    if value.is_finite() && (0.0..MAX_EPOCH_SECONDS).contains(&value) {
        return Ok(());
    }
    let hint = if (MAX_EPOCH_SECONDS..MAX_EPOCH_SECONDS * 1e6).contains(&value) {
        "; this looks like milliseconds or microseconds"
    } else {
        ""
    };
    Err(Problem::Time { value, hint })
}

fn check_annotation_keys(entity: &Entity, path: Path<'_>) -> Result<(), FieldProblem> {
    let Some(annotations) = &entity.annotations else { return Ok(()) };
    for key in annotations.keys() {
        let valid = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(FieldProblem::new(path.key("annotations"), Problem::AnnotationKey { key: key.clone() }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_name_characters_follow_the_unicode_rule() {
        for byte in 0..=127u8 {
            assert_eq!(is_ascii_name_character(byte), is_unicode_name_character(char::from(byte)), "{byte:#x}");
        }
    }

    #[test]
    fn names_are_refused_at_the_same_character_with_or_without_non_ascii() {
        assert_eq!(check_name("Pet Site_1.2:a/b%&#=+\\-@"), Ok(()));
        assert_eq!(check_name("Pét"), Ok(()));
        assert_eq!(check_name("Pet!"), Err(Problem::NameCharacter { character: '!', position: 4 }));
        assert_eq!(check_name("Pét!"), Err(Problem::NameCharacter { character: '!', position: 4 }));
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(check_name(&long), Err(Problem::TooLong { length: MAX_NAME_CHARS + 1, limit: MAX_NAME_CHARS }));
    }
}
