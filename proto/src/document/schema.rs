//! What each object of a segment document holds: per object, its known fields in the order
//! their problems are reported, each with the reader of its type. Everything else lands in
//! the object's `other` map.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::plain_json::{read_plain, NotPlain};
use super::reader::{
    rank_of, ranks_of, read_object, wrong_type, BoxedObject, Field, JsonObject, List, Object, Seed, Slots,
};
use super::values::{Annotations, AnyJson, CauseReader, Flag, Float, Id, Integer, ShortText, Status, Text, Trace};
use super::{Document, FieldProblem, Path};
use crate::id::{SegmentId, TraceId};
use crate::segment::{
    Aws, CauseDetails, CloudwatchLogs, Ec2, Ecs, Eks, ElasticBeanstalk, Entity, Exception, Http, HttpRequest,
    HttpResponse, Link, Sql, StackFrame, XraySdk,
};

/// A problem with a top-level entity, and which element of an array it is when the document
/// is one.
pub(super) struct Rejected {
    pub(super) element: Option<usize>,
    pub(super) problem: FieldProblem,
}

/// A document's top level, read in place: one entity, or an array of independent subsegments.
/// The entity is moved once, into the [`Document`], not up through every visitor's return.
pub(super) struct TopLevel {
    entity: Entity,
    entities: Vec<Entity>,
    is_array: bool,
}

impl TopLevel {
    pub(super) fn new() -> Self {
        TopLevel { entity: Entity::blank(), entities: Vec::new(), is_array: false }
    }

    /// Reads a whole document in one pass. A JSON syntax error anywhere is the outer error, and
    /// wins over any problem with a field found before it.
    pub(super) fn read(&mut self, bytes: &[u8]) -> Result<Result<(), Rejected>, serde_json::Error> {
        // Checking UTF-8 once for the whole document is cheaper than serde_json's check of every
        // string it reads from bytes. Invalid UTF-8 is read from the bytes anyway, for the
        // error serde_json reports about it (its position and text stay the same).
        if let Ok(text) = std::str::from_utf8(bytes) {
            match read_plain(text, &mut *self) {
                Ok(read) => return Ok(read),
                Err(NotPlain) => *self = TopLevel::new(),
            }
        }
        self.read_without_plain_json(bytes)
    }

    /// [`TopLevel::read`] without the plain reader: what it leaves, and what the tests check it
    /// against. A document it leaves has its UTF-8 checked again, a small cost next to reading it
    /// twice.
    pub(super) fn read_without_plain_json(&mut self, bytes: &[u8]) -> Result<Result<(), Rejected>, serde_json::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.read_with_serde_json(serde_json::Deserializer::from_str(text)),
            Err(_) => self.read_with_serde_json(serde_json::Deserializer::from_slice(bytes)),
        }
    }

    fn read_with_serde_json<'de, R: serde_json::de::Read<'de>>(
        &mut self,
        mut deserializer: serde_json::Deserializer<R>,
    ) -> Result<Result<(), Rejected>, serde_json::Error> {
        let read = (&mut *self).deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(read)
    }

    pub(super) fn into_document(self) -> Document {
        match (self.is_array, self.entity.is_independent_subsegment()) {
            (true, _) => Document::Subsegments(self.entities),
            (false, true) => Document::Subsegment(self.entity),
            (false, false) => Document::Segment(self.entity),
        }
    }

    fn not_an_object(found: &'static str) -> Result<(), Rejected> {
        Err(Rejected { element: None, problem: wrong_type(Path::Root, "an object", found) })
    }
}

impl<'de> DeserializeSeed<'de> for &mut TopLevel {
    type Value = Result<(), Rejected>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut TopLevel {
    type Value = Result<(), Rejected>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a segment document")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let read = read_object(map, Path::Root, &mut self.entity)?;
        Ok(read.map_err(|problem| Rejected { element: None, problem }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.is_array = true;
        let entities = &mut self.entities;
        let mut rejected = None;
        let mut index = 0;
        let root = Path::Root;
        loop {
            let path = root.index(index);
            let mut item = None;
            let Some(read) = seq.next_element_seed(Seed::<_, Object<Entity>>::new(path, &mut item))? else { break };
            // Later elements are still read: a syntax error in them outranks this problem.
            let problem = match (read, item) {
                (Ok(()), Some(entity)) => {
                    entities.push(entity);
                    None
                }
                (Ok(()), None) => Some(wrong_type(path, "an object", "null")),
                (Err(problem), _) => Some(problem),
            };
            if let (None, Some(problem)) = (&rejected, problem) {
                rejected = Some((index, problem));
            }
            index += 1;
        }
        Ok(match rejected {
            Some((element, problem)) => Err(Rejected { element: Some(element), problem }),
            None => Ok(()),
        })
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(TopLevel::not_an_object("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopLevel::not_an_object("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopLevel::not_an_object("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopLevel::not_an_object("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopLevel::not_an_object("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TopLevel::not_an_object("a string"))
    }
}

/// The `ORDER` of an object's known fields and the `read_field` that dispatches on them, from
/// one table, so the two cannot drift apart. Ranks are found at compile time.
macro_rules! known_fields {
    ($($key:literal => $slot:ident: $reader:ty),* $(,)?) => {
        const ORDER: &'static [&'static str] = &[$($key),*];

        fn read_field<'de, A: MapAccess<'de>>(&mut self, field: Field<'_, A>) -> Result<bool, A::Error> {
            match field.key() {
                $($key => field.put::<$reader, _>(&mut self.$slot, const { rank_of(Self::ORDER, $key) }),)*
                _ => Ok(false),
            }
        }

        fn other(&mut self) -> &mut Map<String, Value> {
            &mut self.other
        }
    };
}

impl Slots for Entity {
    const REQUIRED: u64 = ranks_of(Self::ORDER, &["id", "name", "start_time"]);

    known_fields! {
        "id" => id: Id,
        "name" => name: ShortText,
        "trace_id" => trace_id: Trace,
        "parent_id" => parent_id: Id,
        "type" => kind: Text,
        "start_time" => start_time: Float,
        "end_time" => end_time: Float,
        "in_progress" => in_progress: Flag,
        "namespace" => namespace: ShortText,
        "origin" => origin: ShortText,
        "user" => user: Text,
        "resource_arn" => resource_arn: Text,
        "service" => service: JsonObject,
        "http" => http: BoxedObject<Http>,
        "aws" => aws: BoxedObject<Aws>,
        "sql" => sql: BoxedObject<Sql>,
        "error" => error: Flag,
        "throttle" => throttle: Flag,
        "fault" => fault: Flag,
        "cause" => cause: CauseReader,
        "annotations" => annotations: Annotations,
        "metadata" => metadata: JsonObject,
        "subsegments" => subsegments: List<Object<Entity>>,
        "precursor_ids" => precursor_ids: List<Id>,
        "links" => links: List<Object<Link>>,
    }

    fn blank() -> Entity {
        Entity::new(String::new(), SegmentId::new(0), 0.0)
    }
}

impl Slots for Link {
    const REQUIRED: u64 = ranks_of(Self::ORDER, &["trace_id", "id"]);

    known_fields! {
        "trace_id" => trace_id: Trace,
        "id" => id: Id,
        "attributes" => attributes: JsonObject,
    }

    fn blank() -> Link {
        Link { trace_id: TraceId::from_bytes([0; 16]), id: SegmentId::new(0), attributes: None, other: Map::new() }
    }
}

/// The objects with no required field are their own slots.
macro_rules! optional_fields {
    ($object:ty { $($key:literal => $slot:ident: $reader:ty),* $(,)? }) => {
        impl Slots for $object {
            known_fields! { $($key => $slot: $reader),* }

            fn blank() -> $object {
                <$object>::default()
            }
        }
    };
}

optional_fields!(Http {
    "request" => request: Object<HttpRequest>,
    "response" => response: Object<HttpResponse>,
});

optional_fields!(HttpRequest {
    "method" => method: ShortText,
    "url" => url: Text,
    "user_agent" => user_agent: Text,
    "client_ip" => client_ip: ShortText,
    "x_forwarded_for" => x_forwarded_for: Flag,
    "traced" => traced: Flag,
});

optional_fields!(HttpResponse {
    "status" => status: Status,
    "content_length" => content_length: AnyJson,
});

optional_fields!(Aws {
    "account_id" => account_id: Text,
    "operation" => operation: ShortText,
    "region" => region: ShortText,
    "request_id" => request_id: Text,
    "retries" => retries: Integer,
    "queue_url" => queue_url: Text,
    "table_name" => table_name: Text,
    "table_names" => table_names: List<Text>,
    "bucket_name" => bucket_name: Text,
    "function_name" => function_name: Text,
    "topic_arn" => topic_arn: Text,
    "ec2" => ec2: Object<Ec2>,
    "ecs" => ecs: Object<Ecs>,
    "eks" => eks: Object<Eks>,
    "elastic_beanstalk" => elastic_beanstalk: Object<ElasticBeanstalk>,
    "xray" => xray: Object<XraySdk>,
    "cloudwatch_logs" => cloudwatch_logs: List<Object<CloudwatchLogs>>,
});

optional_fields!(Ec2 {
    "instance_id" => instance_id: Text,
    "instance_size" => instance_size: Text,
    "ami_id" => ami_id: Text,
    "availability_zone" => availability_zone: Text,
});

optional_fields!(Ecs {
    "container" => container: Text,
    "container_id" => container_id: Text,
    "container_arn" => container_arn: Text,
    "task_arn" => task_arn: Text,
    "task_family" => task_family: Text,
    "cluster_arn" => cluster_arn: Text,
    "launch_type" => launch_type: Text,
    "availability_zone" => availability_zone: Text,
});

optional_fields!(Eks {
    "cluster_name" => cluster_name: Text,
    "pod" => pod: Text,
    "container_id" => container_id: Text,
});

optional_fields!(ElasticBeanstalk {
    "environment_name" => environment_name: Text,
    "version_label" => version_label: Text,
    "deployment_id" => deployment_id: Integer,
});

optional_fields!(XraySdk {
    "sdk" => sdk: Text,
    "sdk_version" => sdk_version: Text,
    "auto_instrumentation" => auto_instrumentation: Flag,
});

optional_fields!(CloudwatchLogs {
    "log_group" => log_group: Text,
    "arn" => arn: Text,
});

optional_fields!(Sql {
    "connection_string" => connection_string: Text,
    "url" => url: Text,
    "sanitized_query" => sanitized_query: Text,
    "database_type" => database_type: Text,
    "database_version" => database_version: Text,
    "driver_version" => driver_version: Text,
    "user" => user: Text,
    "preparation" => preparation: Text,
});

optional_fields!(CauseDetails {
    "working_directory" => working_directory: Text,
    "paths" => paths: List<Text>,
    "exceptions" => exceptions: List<Object<Exception>>,
});

optional_fields!(Exception {
    "id" => id: Id,
    "message" => message: Text,
    "type" => kind: Text,
    "remote" => remote: Flag,
    "truncated" => truncated: Integer,
    "skipped" => skipped: Integer,
    "cause" => cause: Id,
    "stack" => stack: List<Object<StackFrame>>,
});

optional_fields!(StackFrame {
    "path" => path: Text,
    "line" => line: Integer,
    "label" => label: Text,
});
