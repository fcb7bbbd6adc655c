//! The streaming reader: serde visitors that read JSON straight into typed values, so no
//! `serde_json::Value` is built for known fields (only for what lands in `other` and for the
//! fields that hold arbitrary JSON).
//!
//! - Every read has two outcomes: a JSON syntax error (the outer `Result`, which stops the
//!   parse, as `serde_json` reports it) and a problem with a field (the inner [`Read`], which is
//!   recorded while the parse goes on, so a syntax error later in the document still wins).
//! - An object's known fields fill one slot each as they come; when the object ends, the first
//!   problem in the object's field order ([`Slots::ORDER`]) is the one reported, whatever the
//!   order of the document. That is the order the service's reader takes fields in, and the
//!   order this crate reported problems in before it streamed.
//! - A repeated key replaces its earlier value, problem included: in a JSON object the last
//!   value wins.
//! - Explicit `null` counts as absent for a field, but not for an array element or an
//!   annotation value.
//! - Objects are read in place, into the `Option` slot they end up in: an `Entity` is ~0.5 KB
//!   (~1.8 KB before its `http`, `aws` and `sql` objects were boxed, `BoxedObject`), and moving
//!   values that size up through every visitor's return value was the largest cost after the
//!   JSON parse itself.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{FieldProblem, Path};
use crate::error::Problem;

/// The outcome of reading one JSON value: the typed value, or the first problem in it.
pub(super) type Read<T> = Result<T, FieldProblem>;

/// What reading a value into its slot yields: a syntax error (outer), or a problem (inner).
pub(super) type Outcome<E> = Result<Read<()>, E>;

/// A JSON scalar as the parser hands it over.
pub(super) enum Scalar<'de> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'de, str>),
}

impl Scalar<'_> {
    /// Named in type errors: `found a string`.
    pub(super) fn json_type(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::U64(_) | Scalar::I64(_) | Scalar::F64(_) => "a number",
            Scalar::Str(_) => "a string",
        }
    }
}

/// `null` is an absent field; any other scalar is the wrong type.
pub(super) fn absent_or_wrong<T>(scalar: Scalar<'_>, path: Path<'_>, expected: &'static str) -> Read<Option<T>> {
    match scalar {
        Scalar::Null => Ok(None),
        other => Err(wrong_type(path, expected, other.json_type())),
    }
}

pub(super) fn wrong_type(path: Path<'_>, expected: &'static str, found: &'static str) -> FieldProblem {
    FieldProblem::new(path, Problem::WrongType { expected, found })
}

/// How one kind of JSON value becomes a typed one. Each method gets what the parser found;
/// arrays and objects also get the slot their value goes to, scalars are small and returned.
/// The defaults refuse the value with a type error naming what was expected, after reading it
/// to its end so that the rest of the document is still checked for syntax.
pub(super) trait ReadJson<'de> {
    type Output;
    /// Named in type errors: `must be {EXPECTED}, found …`.
    const EXPECTED: &'static str;

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<Self::Output>> {
        absent_or_wrong(scalar, path, Self::EXPECTED)
    }

    fn array<A: SeqAccess<'de>>(seq: A, path: Path<'_>, _slot: &mut Option<Self::Output>) -> Outcome<A::Error> {
        skip_array(seq)?;
        Ok(Err(wrong_type(path, Self::EXPECTED, "an array")))
    }

    fn object<A: MapAccess<'de>>(map: A, path: Path<'_>, _slot: &mut Option<Self::Output>) -> Outcome<A::Error> {
        skip_object(map)?;
        Ok(Err(wrong_type(path, Self::EXPECTED, "an object")))
    }
}

/// Skipped values are read as `Value`, not `IgnoredAny`: only the full parse checks that
/// strings are valid UTF-8, and a document must be refused for the same syntax errors
/// wherever they are.
fn skip_array<'de, A: SeqAccess<'de>>(seq: A) -> Result<(), A::Error> {
    Value::deserialize(SeqAccessDeserializer::new(seq)).map(drop)
}

fn skip_object<'de, A: MapAccess<'de>>(map: A) -> Result<(), A::Error> {
    Value::deserialize(MapAccessDeserializer::new(map)).map(drop)
}

/// Reads one value at `path` with the reader `R` into `slot`.
pub(super) struct Seed<'p, 's, T, R> {
    path: Path<'p>,
    slot: &'s mut Option<T>,
    reader: PhantomData<R>,
}

impl<'p, 's, T, R> Seed<'p, 's, T, R> {
    pub(super) fn new(path: Path<'p>, slot: &'s mut Option<T>) -> Self {
        Seed { path, slot, reader: PhantomData }
    }

    #[inline]
    fn scalar<'de, E>(self, scalar: Scalar<'de>) -> Result<Read<()>, E>
    where
        R: ReadJson<'de, Output = T>,
    {
        Ok(R::scalar(scalar, self.path).map(|value| *self.slot = value))
    }
}

impl<'de, T, R: ReadJson<'de, Output = T>> DeserializeSeed<'de> for Seed<'_, '_, T, R> {
    type Value = Read<()>;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T, R: ReadJson<'de, Output = T>> Visitor<'de> for Seed<'_, '_, T, R> {
    type Value = Read<()>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(R::EXPECTED)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        self.scalar(Scalar::Null)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Self::Value, E> {
        self.scalar(Scalar::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Self::Value, E> {
        self.scalar(Scalar::I64(number))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
        self.scalar(Scalar::U64(number))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Self::Value, E> {
        self.scalar(Scalar::F64(number))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        self.scalar(Scalar::Str(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        self.scalar(Scalar::Str(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        self.scalar(Scalar::Str(Cow::Owned(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        R::array(seq, self.path, self.slot)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        R::object(map, self.path, self.slot)
    }
}

/// An object key, borrowed from the input unless it holds escapes: known keys cost no
/// allocation.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
    }
}

/// One kind of JSON object with known fields, read in place.
pub(super) trait Slots: Sized {
    /// The known fields, in the order their problems are reported (at most 64).
    const ORDER: &'static [&'static str];
    /// The fields that must be present, one bit per rank in `ORDER`.
    const REQUIRED: u64 = 0;

    /// The object before any field is read; required fields hold placeholders.
    fn blank() -> Self;

    /// Reads the field's value into its slot if the key is known; `Ok(false)` leaves the value
    /// for `other`.
    fn read_field<'de, A: MapAccess<'de>>(&mut self, field: Field<'_, A>) -> Result<bool, A::Error>;

    /// Where unknown fields go.
    fn other(&mut self) -> &mut Map<String, Value>;
}

/// The rank of `key` in `order`, for the field tables (evaluated at compile time, so a table
/// that breaks these rules does not build).
pub(super) const fn rank_of(order: &[&str], key: &str) -> usize {
    assert!(order.len() <= 64, "ranks are bits of a u64");
    let mut rank = 0;
    while rank < order.len() {
        if same_text(order[rank], key) {
            return rank;
        }
        rank += 1;
    }
    panic!("a known field is missing from ORDER")
}

/// The bits of `keys`' ranks in `order`, for [`Slots::REQUIRED`].
pub(super) const fn ranks_of(order: &[&str], keys: &[&str]) -> u64 {
    let mut bits = 0;
    let mut index = 0;
    while index < keys.len() {
        bits |= 1 << rank_of(order, keys[index]);
        index += 1;
    }
    bits
}

const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// Where a field's value goes: an `Option` for most fields; for a required field, the plain
/// field itself, whose presence the object tracks.
pub(super) trait Place<T> {
    /// Runs `read` on an `Option` slot for this place and tells whether a value is there now.
    fn fill<E>(&mut self, read: impl FnOnce(&mut Option<T>) -> Outcome<E>) -> Result<Read<bool>, E>;
}

impl<T> Place<T> for Option<T> {
    #[inline]
    fn fill<E>(&mut self, read: impl FnOnce(&mut Option<T>) -> Outcome<E>) -> Result<Read<bool>, E> {
        Ok(read(self)?.map(|()| self.is_some()))
    }
}

/// Required fields are small (ids, names, times): each is read aside and moved in.
macro_rules! required_place {
    ($($field:ty),*) => {$(
        impl Place<$field> for $field {
            fn fill<E>(&mut self, read: impl FnOnce(&mut Option<$field>) -> Outcome<E>) -> Result<Read<bool>, E> {
                let mut slot = None;
                let read = read(&mut slot)?;
                Ok(read.map(|()| slot.map(|value| *self = value).is_some()))
            }
        }
    )*};
}

required_place!(compact_str::CompactString, f64, crate::id::SegmentId, crate::id::TraceId);

/// A known key whose value is next in the input.
pub(super) struct Field<'f, A> {
    map: &'f mut A,
    object: Path<'f>,
    key: &'f str,
    state: &'f mut ObjectState,
}

impl<'f, 'de, A: MapAccess<'de>> Field<'f, A> {
    pub(super) fn key(&self) -> &'f str {
        self.key
    }

    /// Reads the value with `R` into `place`; `rank` is the key's rank in the object's `ORDER`.
    #[inline]
    pub(super) fn put<R, P>(self, place: &mut P, rank: usize) -> Result<bool, A::Error>
    where
        R: ReadJson<'de>,
        P: Place<R::Output>,
    {
        let object = self.object;
        let path = object.key(self.key);
        let map = self.map;
        let read = place.fill(|slot| map.next_value_seed(Seed::<_, R>::new(path, slot)))?;
        self.state.settle(rank, read);
        Ok(true)
    }
}

/// What one object's reader knows besides the values: which known fields are present, and
/// the problems, each with the rank of its field.
#[derive(Default)]
struct ObjectState {
    present: u64,
    problems: Vec<(usize, FieldProblem)>,
}

impl ObjectState {
    /// Records how reading a field went, replacing what an earlier value of the same key left.
    #[inline]
    fn settle(&mut self, rank: usize, read: Read<bool>) {
        if !self.problems.is_empty() {
            self.problems.retain(|(problem_rank, _)| *problem_rank != rank);
        }
        match read {
            Ok(true) => self.present |= 1 << rank,
            Ok(false) => self.present &= !(1 << rank),
            Err(problem) => {
                self.present &= !(1 << rank);
                self.problems.push((rank, problem));
            }
        }
    }

    /// The first problem in `order`: a field read wrongly, or a required field missing. A field
    /// read wrongly is also absent; its own problem is the one reported.
    fn first_problem(self, order: &[&str], required: u64, path: Path<'_>) -> Read<()> {
        let missing = required & !self.present;
        let first_missing = (missing != 0).then(|| missing.trailing_zeros() as usize);
        let first_wrong = self.problems.into_iter().min_by_key(|(rank, _)| *rank);
        match (first_wrong, first_missing) {
            (Some((rank, problem)), Some(missing)) if rank <= missing => Err(problem),
            (_, Some(missing)) => Err(FieldProblem::new(path.key(order[missing]), Problem::Missing)),
            (Some((_, problem)), None) => Err(problem),
            (None, None) => Ok(()),
        }
    }
}

/// Reads one object into `target`: known keys into their slots, the rest kept verbatim in
/// `other`.
pub(super) fn read_object<'de, S: Slots, A: MapAccess<'de>>(
    mut map: A,
    path: Path<'_>,
    target: &mut S,
) -> Outcome<A::Error> {
    let mut state = ObjectState::default();
    while let Some(key) = map.next_key_seed(KeySeed)? {
        let field = Field { map: &mut map, object: path, key: &key, state: &mut state };
        if !target.read_field(field)? {
            let value: Value = map.next_value()?;
            target.other().insert(key.into_owned(), value);
        }
    }
    Ok(state.first_problem(S::ORDER, S::REQUIRED, path))
}

/// An object with the known fields of `S`.
pub(super) struct Object<S>(PhantomData<S>);

impl<'de, S: Slots> ReadJson<'de> for Object<S> {
    type Output = S;
    const EXPECTED: &'static str = "an object";

    fn object<A: MapAccess<'de>>(map: A, path: Path<'_>, slot: &mut Option<S>) -> Outcome<A::Error> {
        read_object(map, path, slot.insert(S::blank()))
    }
}

/// An object with the known fields of `S`, behind a box. Inline, `aws` (~0.9 KB), `http` and
/// `sql` (~0.2 KB each) made every entity ~1.8 KB where it is ~0.5 KB, present or not, and an
/// entity is blanked, moved into its list and moved again into its row whole: boxed, ingest's
/// `put_documents` costs ~9 % less per document (`BENCHMARKS.md`).
pub(super) struct BoxedObject<S>(PhantomData<S>);

impl<'de, S: Slots> ReadJson<'de> for BoxedObject<S> {
    type Output = Box<S>;
    const EXPECTED: &'static str = "an object";

    fn object<A: MapAccess<'de>>(map: A, path: Path<'_>, slot: &mut Option<Box<S>>) -> Outcome<A::Error> {
        read_object(map, path, &mut **slot.insert(Box::new(S::blank())))
    }
}

/// Room reserved for a list before its first element is read.
const LIKELY_LIST_LENGTH: usize = 4;

/// An array whose elements are read with `R`; `null` elements are refused.
pub(super) struct List<R>(PhantomData<R>);

impl<'de, R: ReadJson<'de>> ReadJson<'de> for List<R> {
    type Output = Vec<R::Output>;
    const EXPECTED: &'static str = "an array";

    fn array<A: SeqAccess<'de>>(mut seq: A, path: Path<'_>, slot: &mut Option<Self::Output>) -> Outcome<A::Error> {
        // The parser cannot tell how many elements follow. Lists in documents are short, and
        // growing a list of entities (~0.5 KB each) from one element moves them several times
        // and asks the allocator for a new large block each time. Documents are short-lived
        // (the collector moves the entities out, the store keeps text), so the spare room is too.
        let items = slot.insert(Vec::with_capacity(seq.size_hint().unwrap_or(LIKELY_LIST_LENGTH)));
        let mut first_problem = None;
        let mut index = 0;
        loop {
            let item_path = path.index(index);
            let mut item = None;
            let Some(read) = seq.next_element_seed(Seed::<_, R>::new(item_path, &mut item))? else { break };
            // Later elements are still read: a syntax error in them outranks this problem.
            match (read, item) {
                (Ok(()), Some(item)) => items.push(item),
                (Ok(()), None) => keep_first(&mut first_problem, wrong_type(item_path, R::EXPECTED, "null")),
                (Err(problem), _) => keep_first(&mut first_problem, problem),
            }
            index += 1;
        }
        Ok(first_problem.map_or(Ok(()), Err))
    }
}

fn keep_first(first: &mut Option<FieldProblem>, problem: FieldProblem) {
    first.get_or_insert(problem);
}

/// An object of arbitrary JSON, kept as it is (`service`, `metadata`, link `attributes`).
pub(super) struct JsonObject;

impl<'de> ReadJson<'de> for JsonObject {
    type Output = Map<String, Value>;
    const EXPECTED: &'static str = "an object";

    /// Read by `Value` itself, so these objects come out exactly as a full parse builds them.
    fn object<A: MapAccess<'de>>(map: A, path: Path<'_>, slot: &mut Option<Self::Output>) -> Outcome<A::Error> {
        match Value::deserialize(MapAccessDeserializer::new(map))? {
            Value::Object(object) => *slot = Some(object),
            other => return Ok(Err(wrong_type(path, Self::EXPECTED, json_type(&other)))),
        }
        Ok(Ok(()))
    }
}

pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
