//! A top-level X-Ray entity exactly as its producer sent it, for reading traces back.
//!
//! - [`Entity`] is the typed model ingest validates and flattens; writing it back loses what
//!   a type cannot hold: explicit `null`s (the Node SDK's `"line": null` in runtime stack
//!   frames), the producer's key order, number forms (`1.0`, `1e3`, integer-valued times).
//!   `BatchGetTraces` promises a document back as it was sent, so it reads this instead.
//! - Each object keeps its members in the order sent, each value as its exact JSON text; only
//!   `subsegments` is read further, so independent subsegments can be merged in below any
//!   entity. Duplicate keys are kept as sent.
//! - An entity nothing was merged into or removed from is written back as the text it was
//!   read from, whitespace included; a changed one is written member by member, each value
//!   still as sent.

use std::fmt::Write as _;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::{Entity, SegmentId};

/// One entity (segment or subsegment) as sent, with the fields merging needs read out.
#[derive(Debug, Clone)]
pub struct SentEntity {
    /// The text read; `None` once a member was removed or the subsegments changed.
    sent: Option<Box<RawValue>>,
    /// Members in order; `None` marks where `subsegments` goes.
    members: Vec<(String, Option<Box<RawValue>>)>,
    subsegments: Vec<SentEntity>,
    id: SegmentId,
    parent_id: Option<SegmentId>,
    independent: bool,
    start_time: f64,
    end_time: Option<f64>,
    in_progress: bool,
}

const SUBSEGMENTS: &str = "subsegments";
/// Members an embedded subsegment does not carry: its nesting implies them.
const INDEPENDENT_ONLY: [&str; 3] = ["type", "trace_id", "parent_id"];

impl SentEntity {
    /// Reads a stored document: one entity, or an array of independent subsegments.
    pub fn parse_document(text: &str) -> Result<Vec<SentEntity>, serde_json::Error> {
        if text.trim_start().starts_with('[') {
            let elements: Vec<Box<RawValue>> = serde_json::from_str(text)?;
            return elements.into_iter().map(SentEntity::from_raw).collect();
        }
        Ok(vec![SentEntity::from_raw(serde_json::from_str(text)?)?])
    }

    /// The entity as the typed model writes it, for entities no producer sent (built from
    /// OTLP spans).
    pub fn from_entity(entity: &Entity) -> Result<SentEntity, serde_json::Error> {
        SentEntity::from_raw(serde_json::value::to_raw_value(entity)?)
    }

    fn from_raw(raw: Box<RawValue>) -> Result<SentEntity, serde_json::Error> {
        let Members(pairs) = serde_json::from_str(raw.get())?;
        let mut entity = SentEntity {
            sent: None,
            members: Vec::with_capacity(pairs.len()),
            subsegments: Vec::new(),
            id: SegmentId::default(),
            parent_id: None,
            independent: false,
            start_time: 0.0,
            end_time: None,
            in_progress: false,
        };
        let mut id = None;
        let mut has_subsegments = false;
        for (key, value) in pairs {
            match key.as_str() {
                "id" => id = serde_json::from_str(value.get()).ok(),
                "parent_id" => entity.parent_id = serde_json::from_str(value.get()).ok(),
                "type" => entity.independent = value.get() == "\"subsegment\"",
                "start_time" => entity.start_time = serde_json::from_str(value.get()).unwrap_or(0.0),
                "end_time" => entity.end_time = serde_json::from_str(value.get()).ok(),
                "in_progress" => entity.in_progress = serde_json::from_str(value.get()).unwrap_or(false),
                _ => {}
            }
            // Only the first `subsegments` holds entities; a duplicate stays text, as sent.
            let list = match key.as_str() {
                SUBSEGMENTS if !has_subsegments => entities_of(&value),
                _ => None,
            };
            match list {
                Some(list) => {
                    has_subsegments = true;
                    entity.subsegments = list;
                    entity.members.push((key, None));
                }
                None => entity.members.push((key, Some(value))),
            }
        }
        entity.id = id.ok_or_else(|| de::Error::custom("an entity without a valid id"))?;
        entity.sent = Some(raw);
        Ok(entity)
    }

    pub fn id(&self) -> SegmentId {
        self.id
    }

    pub fn parent_id(&self) -> Option<SegmentId> {
        self.parent_id
    }

    /// Sent on its own, with `"type": "subsegment"`.
    pub fn is_independent_subsegment(&self) -> bool {
        self.independent
    }

    pub fn is_in_progress(&self) -> bool {
        self.in_progress
    }

    pub fn start_time(&self) -> f64 {
        self.start_time
    }

    pub fn end_time(&self) -> Option<f64> {
        self.end_time
    }

    pub fn subsegments(&self) -> &[SentEntity] {
        &self.subsegments
    }

    /// The subsegments, to look into; a change below is seen when writing.
    pub fn subsegments_mut(&mut self) -> &mut [SentEntity] {
        &mut self.subsegments
    }

    /// The subsegments, to change the list: the member is added at the end when there was none.
    pub fn subsegment_list_mut(&mut self) -> &mut Vec<SentEntity> {
        self.sent = None;
        if !self.members.iter().any(|(_, value)| value.is_none()) {
            self.members.push((SUBSEGMENTS.to_owned(), None));
        }
        &mut self.subsegments
    }

    /// Takes the subsegments out, leaving an empty list.
    pub fn take_subsegments(&mut self) -> Vec<SentEntity> {
        if self.subsegments.is_empty() {
            return Vec::new();
        }
        self.sent = None;
        std::mem::take(&mut self.subsegments)
    }

    /// The entity as it looks embedded in its parent: trace, parent and type are implied.
    pub fn into_embedded(mut self) -> SentEntity {
        let before = self.members.len();
        self.members.retain(|(key, _)| !INDEPENDENT_ONLY.contains(&key.as_str()));
        if self.members.len() != before {
            self.sent = None;
        }
        self.independent = false;
        self.parent_id = None;
        self
    }

    /// The document's text: as sent when nothing changed in it, else member by member.
    pub fn to_json(&self) -> String {
        let mut json = String::with_capacity(self.sent.as_ref().map_or(1024, |sent| sent.get().len()));
        self.write_json(&mut json);
        json
    }

    fn write_json(&self, json: &mut String) {
        if let Some(sent) = self.sent.as_ref().filter(|_| self.unchanged()) {
            json.push_str(sent.get());
            return;
        }
        json.push('{');
        for (index, (key, value)) in self.members.iter().enumerate() {
            if index > 0 {
                json.push(',');
            }
            // A key read from JSON is a string, so writing it back cannot fail.
            let _ = write!(json, "{}:", serde_json::Value::String(key.clone()));
            match value {
                Some(value) => json.push_str(value.get()),
                None => write_list(&self.subsegments, json),
            }
        }
        json.push('}');
    }

    fn unchanged(&self) -> bool {
        self.sent.is_some() && self.subsegments.iter().all(SentEntity::unchanged)
    }
}

/// Two entities are equal when they write the same text.
impl PartialEq for SentEntity {
    fn eq(&self, other: &SentEntity) -> bool {
        self.to_json() == other.to_json()
    }
}

fn write_list(subsegments: &[SentEntity], json: &mut String) {
    json.push('[');
    for (index, subsegment) in subsegments.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        subsegment.write_json(json);
    }
    json.push(']');
}

/// `subsegments` read as entities when it is a list of them; anything else stays text (it
/// was validated on the way in, so only damage gets here).
fn entities_of(value: &RawValue) -> Option<Vec<SentEntity>> {
    let elements = serde_json::from_str::<Vec<Box<RawValue>>>(value.get()).ok()?;
    elements.into_iter().map(SentEntity::from_raw).collect::<Result<Vec<_>, _>>().ok()
}

/// An object's members in the order sent, duplicates included.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an entity object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
            members.push(member);
        }
        Ok(Members(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_FRAME_DOCUMENT: &str = r#"{"id":"70de5b6f19ff9a0a","name":"web","start_time":1.5e9,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":1500000001,"fault":true,"cause":{"working_directory":"/app","exceptions":[{"message":"boom","type":"Error","stack":[{"path":"node:internal/process/task_queues","line":null,"label":"processTicksAndRejections"}]}]},"metadata":{"a":null,"n":1.0},"subsegments":[{"id":"1111111111111111","name":"s3","start_time":1.5e9,"end_time":1.5E9,"namespace":"aws"}]}"#;

    #[test]
    fn an_unchanged_document_is_written_back_byte_for_byte() {
        let spaced = NODE_FRAME_DOCUMENT.replace(",\"name\"", ", \"name\"");
        for text in [NODE_FRAME_DOCUMENT, spaced.as_str()] {
            let entities = SentEntity::parse_document(text).unwrap();
            assert_eq!(entities.len(), 1);
            assert_eq!(entities[0].to_json(), text);
            assert_eq!(entities[0].start_time(), 1.5e9);
        }
    }

    #[test]
    fn merging_keeps_nulls_order_and_number_forms_of_both_sides() {
        let mut segment = SentEntity::parse_document(NODE_FRAME_DOCUMENT).unwrap().remove(0);
        let child = r#"{"type":"subsegment","id":"2222222222222222","trace_id":"1-581cf771-a006649127e371903a2de979","parent_id":"1111111111111111","name":"put","start_time":1.5e9,"end_time":1500000000.0,"sql":null}"#;
        let child = SentEntity::parse_document(child).unwrap().remove(0).into_embedded();
        segment.subsegments_mut()[0].subsegment_list_mut().push(child);
        let expected = NODE_FRAME_DOCUMENT.replace(
            r#""namespace":"aws"}"#,
            r#""namespace":"aws","subsegments":[{"id":"2222222222222222","name":"put","start_time":1.5e9,"end_time":1500000000.0,"sql":null}]}"#,
        );
        assert_eq!(segment.to_json(), expected);
    }

    #[test]
    fn an_array_document_gives_each_element_as_sent() {
        let text = r#"[{"id":"1111111111111111","type":"subsegment","parent_id":"2222222222222222","start_time":1 ,"x":null}, {"id":"3333333333333333","start_time":2}]"#;
        let entities = SentEntity::parse_document(text).unwrap();
        assert_eq!(
            entities[0].to_json(),
            r#"{"id":"1111111111111111","type":"subsegment","parent_id":"2222222222222222","start_time":1 ,"x":null}"#
        );
        assert!(entities[0].is_independent_subsegment());
        assert_eq!(entities[0].parent_id(), Some("2222222222222222".parse().unwrap()));
        assert_eq!(entities[1].to_json(), r#"{"id":"3333333333333333","start_time":2}"#);
    }

    #[test]
    fn an_entity_without_an_id_is_an_error_not_a_panic() {
        assert!(SentEntity::parse_document(r#"{"name":"x"}"#).is_err());
        assert!(SentEntity::parse_document("[1]").is_err());
        assert!(SentEntity::parse_document("nul").is_err());
    }
}
