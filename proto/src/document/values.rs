//! How each kind of field value is read: strings, numbers, ids, `cause`, annotations. Each
//! reader names what it expected in its type errors, as the service does.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use compact_str::CompactString;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess};
use serde::Deserialize;
use serde_json::{Number, Value};

use super::reader::{absent_or_wrong, read_object, wrong_type, Outcome, Read, ReadJson, Scalar, Seed};
use super::{FieldProblem, Path};
use crate::error::Problem;
use crate::id::{SegmentId, TraceId};
use crate::segment::{AnnotationValue, Cause, CauseDetails};

/// A string, as `T`: a `String`, or for [`ShortText`] a `CompactString`.
pub(super) struct Text<T = String>(PhantomData<T>);

/// A text that is usually short (a name, namespace or origin, an HTTP method or client IP, an
/// AWS operation or region): inline up to 24 bytes, so reading it allocates nothing, and
/// neither does moving it into a row.
pub(super) type ShortText = Text<CompactString>;

impl<'de, T: From<Cow<'de, str>>> ReadJson<'de> for Text<T> {
    type Output = T;
    const EXPECTED: &'static str = "a string";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<T>> {
        match scalar {
            Scalar::Str(text) => Ok(Some(T::from(text))),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

pub(super) struct Flag;

impl<'de> ReadJson<'de> for Flag {
    type Output = bool;
    const EXPECTED: &'static str = "a boolean";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<bool>> {
        match scalar {
            Scalar::Bool(flag) => Ok(Some(flag)),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

/// Any JSON number, as `f64` (times).
pub(super) struct Float;

impl<'de> ReadJson<'de> for Float {
    type Output = f64;
    const EXPECTED: &'static str = "a number";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<f64>> {
        match scalar {
            Scalar::U64(number) => Ok(Some(number as f64)),
            Scalar::I64(number) => Ok(Some(number as f64)),
            Scalar::F64(number) => Ok(Some(number)),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

/// A JSON integer that fits `i64` (counts, line numbers).
pub(super) struct Integer;

impl<'de> ReadJson<'de> for Integer {
    type Output = i64;
    const EXPECTED: &'static str = "an integer";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<i64>> {
        match scalar {
            Scalar::I64(number) => Ok(Some(number)),
            Scalar::U64(number) => {
                i64::try_from(number).map(Some).map_err(|_| wrong_type(path, Self::EXPECTED, "a number"))
            }
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

/// An HTTP status: a JSON integer from 0 to 65535.
pub(super) struct Status;

impl<'de> ReadJson<'de> for Status {
    type Output = u16;
    const EXPECTED: &'static str = "an integer";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<u16>> {
        let out_of_range = || wrong_type(path, "an integer from 0 to 65535", "a number out of range");
        match scalar {
            Scalar::U64(number) => u16::try_from(number).map(Some).map_err(|_| out_of_range()),
            Scalar::I64(_) | Scalar::F64(_) => Err(out_of_range()),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

/// A segment, subsegment or exception id: 16 hex digits.
pub(super) struct Id;

impl<'de> ReadJson<'de> for Id {
    type Output = SegmentId;
    const EXPECTED: &'static str = "a string";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<SegmentId>> {
        match scalar {
            Scalar::Str(text) => read_id(text.as_ref(), path).map(Some),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

fn read_id(text: &str, path: Path<'_>) -> Read<SegmentId> {
    SegmentId::parse(text).map_err(|reason| FieldProblem::new(path, Problem::Id { value: text.to_owned(), reason }))
}

/// An X-Ray trace id: `1-` 8 hex digits `-` 24 hex digits.
pub(super) struct Trace;

impl<'de> ReadJson<'de> for Trace {
    type Output = TraceId;
    const EXPECTED: &'static str = "a string";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<TraceId>> {
        match scalar {
            Scalar::Str(text) => TraceId::parse_xray(&text)
                .map(Some)
                .map_err(|reason| FieldProblem::new(path, Problem::TraceId { value: text.into_owned(), reason })),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }
}

/// Any JSON value, kept as it is (`content_length`, a number or a string).
pub(super) struct AnyJson;

impl<'de> ReadJson<'de> for AnyJson {
    type Output = Value;
    const EXPECTED: &'static str = "any JSON value";

    fn scalar(scalar: Scalar<'de>, _path: Path<'_>) -> Read<Option<Value>> {
        Ok(match scalar {
            Scalar::Null => None,
            Scalar::Bool(flag) => Some(Value::Bool(flag)),
            Scalar::U64(number) => Some(Value::Number(number.into())),
            Scalar::I64(number) => Some(Value::Number(number.into())),
            Scalar::F64(number) => Number::from_f64(number).map(Value::Number),
            Scalar::Str(text) => Some(Value::String(text.into_owned())),
        })
    }

    fn array<A: SeqAccess<'de>>(seq: A, _path: Path<'_>, slot: &mut Option<Value>) -> Outcome<A::Error> {
        *slot = Some(Value::deserialize(SeqAccessDeserializer::new(seq))?);
        Ok(Ok(()))
    }

    fn object<A: MapAccess<'de>>(map: A, _path: Path<'_>, slot: &mut Option<Value>) -> Outcome<A::Error> {
        *slot = Some(Value::deserialize(MapAccessDeserializer::new(map))?);
        Ok(Ok(()))
    }
}

/// `cause`: the id of an exception recorded elsewhere in the trace, or the exceptions.
pub(super) struct CauseReader;

impl<'de> ReadJson<'de> for CauseReader {
    type Output = Cause;
    const EXPECTED: &'static str = "an exception id or an object";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<Cause>> {
        match scalar {
            Scalar::Str(text) => read_id(&text, path).map(|id| Some(Cause::ExceptionId(id))),
            other => absent_or_wrong(other, path, Self::EXPECTED),
        }
    }

    fn object<A: MapAccess<'de>>(map: A, path: Path<'_>, slot: &mut Option<Cause>) -> Outcome<A::Error> {
        let mut details = CauseDetails::default();
        let read = read_object(map, path, &mut details)?;
        *slot = Some(Cause::Details(details));
        Ok(read)
    }
}

/// Annotations are indexed, so only scalars are allowed, and `null` is refused; keys are
/// checked by validation.
pub(super) struct Annotations;

impl<'de> ReadJson<'de> for Annotations {
    type Output = BTreeMap<String, AnnotationValue>;
    const EXPECTED: &'static str = "an object";

    fn object<A: MapAccess<'de>>(mut map: A, path: Path<'_>, slot: &mut Option<Self::Output>) -> Outcome<A::Error> {
        let mut annotations = BTreeMap::new();
        // The first problem in key order is reported, as when annotations were read from a
        // `serde_json::Map` (sorted by key); a repeated key keeps its last value.
        let mut problems = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value_path = path.key(&key);
            let mut value = None;
            let read = match (map.next_value_seed(Seed::<_, Annotation>::new(value_path, &mut value))?, value) {
                (Ok(()), Some(value)) => Ok(value),
                (Ok(()), None) => Err(wrong_type(value_path, Annotation::EXPECTED, "null")),
                (Err(problem), _) => Err(problem),
            };
            match read {
                Ok(value) => {
                    problems.remove(&key);
                    annotations.insert(key, value);
                }
                Err(problem) => {
                    annotations.remove(&key);
                    problems.insert(key, problem);
                }
            }
        }
        let first_problem = problems.into_values().next();
        *slot = Some(annotations);
        Ok(first_problem.map_or(Ok(()), Err))
    }
}

/// One annotation value. Numbers keep their JSON form, so `42` stays `42`, not `42.0`.
pub(super) struct Annotation;

impl<'de> ReadJson<'de> for Annotation {
    type Output = AnnotationValue;
    const EXPECTED: &'static str = "a string, number or boolean";

    fn scalar(scalar: Scalar<'de>, path: Path<'_>) -> Read<Option<AnnotationValue>> {
        Ok(Some(match scalar {
            Scalar::Str(text) => AnnotationValue::String(text.into_owned()),
            Scalar::Bool(flag) => AnnotationValue::Bool(flag),
            Scalar::U64(number) => AnnotationValue::Number(number.into()),
            Scalar::I64(number) => AnnotationValue::Number(number.into()),
            // Not reachable from JSON text: `serde_json` refuses non-finite numbers. A `Value`
            // would hold `null` here, so it is refused as `null`.
            Scalar::F64(number) => match Number::from_f64(number) {
                Some(number) => AnnotationValue::Number(number),
                None => return Err(wrong_type(path, Self::EXPECTED, "null")),
            },
            Scalar::Null => return Ok(None),
        }))
    }
}
