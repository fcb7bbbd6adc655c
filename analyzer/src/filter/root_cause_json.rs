//! `rootcause.json = #[...]` (also spelled `json = #[...]`, spec 3.5): a trace's root causes
//! compared with JSON patterns, as X-Ray's console writes them from its root-cause analytics.
//!
//! - The literal is an array of patterns, each shaped like one entry of GetTraceSummaries'
//!   `FaultRootCauses`, `ErrorRootCauses` or `ResponseTimeRootCauses`:
//!   `{Services: [{Name, Names, Type, AccountId, Inferred, EntityPath: [{Name, Coverage, Remote,
//!   Exceptions: [{Name, Message}]}]}], ClientImpacting}`.
//! - A trace matches when any pattern matches any one of its root causes, of any of the three
//!   lists (the pattern does not say which list it came from; `Exceptions` only exists on fault
//!   and error entities, `Coverage` only on response-time ones, so a pattern can still pin one).
//! - A pattern matches a root cause when every key it gives matches that field: objects
//!   recursively the same way (keys it leaves out match anything), arrays when they have the
//!   same length and match element by element in order, numbers by value (`1` equals `1.0`),
//!   other scalars when equal, and `null` when the root cause does not have the field (only
//!   `Type`, `AccountId`, `Coverage` and `Exceptions` may be absent; the API leaves them out).
//!   `#[]` has no pattern, so it matches no trace.
//! - Patterns are matched against the root causes serialized by the same `Serialize` impls
//!   GetTraceSummaries answers with, so a root cause copied from the API's output matches its
//!   trace (serde_json's `float_roundtrip` makes copied numbers such as `Coverage` exact).
//! - Keys are compared as X-Ray spells them (`EntityPath`, not `entitypath`). A pattern that is
//!   not an object, a key root causes do not have, or a value of the wrong JSON type (`null`
//!   included, where the field is never absent) is an `InvalidRequest` naming its position
//!   (`[0].Services[1].EntityPath[0]`): such a pattern could never match, and silently
//!   matching nothing would hide the typo.
//!
//! The matching runs in Rust per candidate trace (root causes come from walking the trace's
//! spans, `root_cause.rs`); the result is a per-trace boolean column joined onto the trace
//! frame like the other aggregates of `compile.rs`.

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;
use serde_json::{Map, Value};

use crate::error::{AnalyzerError, Result};
use crate::root_cause::{root_causes, RootCause};
use crate::span_record::{records_of, root_index};

/// The JSON shape of a root cause: which keys exist and the type of each value.
#[derive(Clone, Copy)]
enum Shape {
    Text,
    Flag,
    Number,
    List(&'static Shape),
    /// A field the API leaves out when it has no value; `null` in a pattern asks for that.
    Optional(&'static Shape),
    /// What the object is (a noun, for messages) and its keys, spelled as GetTraceSummaries
    /// answers.
    Object(&'static str, &'static [(&'static str, Shape)]),
}

const EXCEPTION: Shape = Shape::Object("exception", &[("Name", Shape::Text), ("Message", Shape::Text)]);
const ENTITY: Shape = Shape::Object(
    "entity",
    &[
        ("Name", Shape::Text),
        ("Coverage", Shape::Optional(&Shape::Number)),
        ("Remote", Shape::Flag),
        ("Exceptions", Shape::Optional(&Shape::List(&EXCEPTION))),
    ],
);
const SERVICE: Shape = Shape::Object(
    columns::SERVICE,
    &[
        ("Name", Shape::Text),
        ("Names", Shape::List(&Shape::Text)),
        ("Type", Shape::Optional(&Shape::Text)),
        ("AccountId", Shape::Optional(&Shape::Text)),
        ("Inferred", Shape::Flag),
        ("EntityPath", Shape::List(&ENTITY)),
    ],
);
const ROOT_CAUSE: Shape =
    Shape::Object("root cause", &[("Services", Shape::List(&SERVICE)), ("ClientImpacting", Shape::Flag)]);

/// The checked patterns of one `rootcause.json` condition.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RootCausePatterns {
    patterns: Vec<Value>,
}

impl RootCausePatterns {
    /// Checks the literal against the root-cause shape; the error names the offending position.
    pub(super) fn new(literal: &Value) -> Result<RootCausePatterns> {
        let Value::Array(patterns) = literal else {
            return Err(invalid(format!(
                "the literal is {}; expected an array of root causes such as #[{{\"Services\": [..]}}]",
                describe(literal)
            )));
        };
        for (index, pattern) in patterns.iter().enumerate() {
            check(pattern, &ROOT_CAUSE, &format!("[{index}]"))?;
        }
        Ok(RootCausePatterns { patterns: patterns.clone() })
    }

    /// Whether any pattern matches any of the serialized root causes.
    fn match_any(&self, causes: &[Value]) -> bool {
        self.patterns.iter().any(|pattern| causes.iter().any(|cause| matches(pattern, Some(cause))))
    }
}

fn invalid(message: String) -> AnalyzerError {
    AnalyzerError::InvalidRequest(format!("rootcause.json: {message}"))
}

/// `value`, shortened for an error message.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn check(value: &Value, shape: &Shape, at: &str) -> Result<()> {
    match (shape, value) {
        (Shape::Optional(_), Value::Null) => Ok(()),
        (Shape::Optional(inner), _) if same_kind(value, inner) => check(value, inner, at),
        (Shape::Text, Value::String(_)) | (Shape::Flag, Value::Bool(_)) | (Shape::Number, Value::Number(_)) => Ok(()),
        (Shape::List(element), Value::Array(items)) => {
            items.iter().enumerate().try_for_each(|(index, item)| check(item, element, &format!("{at}[{index}]")))
        }
        (Shape::Object(what, keys), Value::Object(fields)) => check_fields(fields, what, keys, at),
        _ => Err(invalid(format!("{at} is {}; expected {}", describe(value), expected(shape)))),
    }
}

/// Whether `value` is the JSON type `shape` asks for, not looking inside arrays and objects.
fn same_kind(value: &Value, shape: &Shape) -> bool {
    matches!(
        (shape, value),
        (Shape::Text, Value::String(_))
            | (Shape::Flag, Value::Bool(_))
            | (Shape::Number, Value::Number(_))
            | (Shape::List(_), Value::Array(_))
            | (Shape::Object(..), Value::Object(_))
    )
}

fn check_fields(fields: &Map<String, Value>, what: &str, keys: &[(&str, Shape)], at: &str) -> Result<()> {
    for (key, value) in fields {
        let Some((_, shape)) = keys.iter().find(|(known, _)| known == key) else {
            let known: Vec<&str> = keys.iter().map(|(known, _)| *known).collect();
            return Err(invalid(format!(
                "{at} has the key \"{key}\", which {} does not have; use {} (spelled as GetTraceSummaries \
                 returns them)",
                with_article(what),
                known.join(", ")
            )));
        };
        check(value, shape, &format!("{at}.{key}"))?;
    }
    Ok(())
}

fn expected(shape: &Shape) -> String {
    match shape {
        Shape::Text => "a string".to_owned(),
        Shape::Flag => "true or false".to_owned(),
        Shape::Number => "a number".to_owned(),
        Shape::List(Shape::Object(what, _)) => format!("an array of {what} objects"),
        Shape::List(Shape::Text) => "an array of strings".to_owned(),
        Shape::List(_) => "an array".to_owned(),
        Shape::Optional(inner) => format!("{} or null", expected(inner)),
        Shape::Object(what, _) => format!("{} object", with_article(what)),
    }
}

fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {noun}")
}

/// Joins one boolean column per `rootcause.json` condition (named as given) onto `traces`;
/// candidates without root causes get no row, so the caller's `fill_null(false)` decides them.
pub(super) fn join_matches(
    traces: LazyFrame,
    spans: &DataFrame,
    candidates: &DataFrame,
    conditions: &[(String, RootCausePatterns)],
) -> Result<LazyFrame> {
    let mut hi = Vec::new();
    let mut lo = Vec::new();
    let mut matched: Vec<Vec<bool>> = vec![Vec::new(); conditions.len()];
    for TraceRootCauses { key, causes } in serialized_root_causes(spans, candidates)? {
        hi.push(key.0);
        lo.push(key.1);
        for ((_, patterns), column) in conditions.iter().zip(&mut matched) {
            column.push(patterns.match_any(&causes));
        }
    }
    let height = hi.len();
    let mut columns = vec![Column::new(TRACE_HI.into(), hi), Column::new(TRACE_LO.into(), lo)];
    columns.extend(conditions.iter().zip(matched).map(|((name, _), values)| Column::new(name.into(), values)));
    let per_trace = DataFrame::new(height, columns)?.lazy();
    let key = [col(TRACE_HI), col(TRACE_LO)];
    Ok(traces.join(per_trace, key.clone(), key, JoinArgs::new(JoinType::Left)))
}

/// One trace's root causes, all three lists together, as GetTraceSummaries serializes them.
struct TraceRootCauses {
    key: (u64, u64),
    causes: Vec<Value>,
}

/// Every candidate's root causes. Every candidate counts, not only those with a faulting or
/// erroring span (as for `rootcause.fault.*`): each complete trace has a response-time cause.
fn serialized_root_causes(spans: &DataFrame, candidates: &DataFrame) -> Result<Vec<TraceRootCauses>> {
    let keys: Vec<(u64, u64)> = candidates
        .column(TRACE_HI)?
        .u64()?
        .iter()
        .zip(candidates.column(TRACE_LO)?.u64()?.iter())
        .filter_map(|(hi, lo)| Some((hi?, lo?)))
        .collect();
    let mut traces = Vec::with_capacity(keys.len());
    for (key, records) in records_of(spans, &keys)? {
        let Some(root) = root_index(&records) else { continue };
        let causes = root_causes(&records, root);
        let all = causes.fault.iter().chain(&causes.error).chain(&causes.response_time);
        traces.push(TraceRootCauses { key, causes: all.map(serialized).collect::<Result<_>>()? });
    }
    Ok(traces)
}

fn serialized(cause: &RootCause) -> Result<Value> {
    // Plain structs of strings, numbers and flags: serde_json cannot fail on them, but a
    // failure is an error here rather than a panic.
    serde_json::to_value(cause)
        .map_err(|error| AnalyzerError::InvalidRequest(format!("a root cause cannot be serialized: {error}")))
}

/// Whether `pattern` matches `actual` (`None`: the field is absent), by the module doc's rules.
fn matches(pattern: &Value, actual: Option<&Value>) -> bool {
    match (pattern, actual) {
        (Value::Null, None | Some(Value::Null)) => true,
        (Value::Object(fields), Some(Value::Object(actual))) => {
            fields.iter().all(|(key, wanted)| matches(wanted, actual.get(key)))
        }
        (Value::Array(items), Some(Value::Array(actual))) => {
            items.len() == actual.len() && items.iter().zip(actual).all(|(item, element)| matches(item, Some(element)))
        }
        (Value::Number(wanted), Some(Value::Number(number))) => wanted.as_f64() == number.as_f64(),
        (wanted, Some(actual)) => wanted == actual,
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::root_cause::{RootCauseEntity, RootCauseException, RootCauseService};

    /// A root cause with every optional field set, as GetTraceSummaries would serialize it.
    fn full_root_cause() -> Value {
        let entity = RootCauseEntity {
            name: "GetItem".to_owned(),
            exceptions: Some(vec![RootCauseException { name: "Timeout".to_owned(), message: "slow".to_owned() }]),
            coverage: Some(0.5),
            remote: true,
        };
        let service = RootCauseService {
            name: "DynamoDB".to_owned(),
            names: vec!["DynamoDB".to_owned()],
            r#type: Some("AWS::DynamoDB::Table".to_owned()),
            account_id: Some("123456789012".to_owned()),
            entity_path: vec![entity],
            inferred: true,
        };
        serialized(&RootCause { services: vec![service], client_impacting: true }).unwrap()
    }

    /// Every key of `shape` is present in `value`, recursively.
    fn assert_every_key_present(value: &Value, shape: &Shape, at: &str) {
        match (shape, value) {
            (Shape::Optional(inner), _) => assert_every_key_present(value, inner, at),
            (Shape::List(element), Value::Array(items)) => {
                items.iter().for_each(|item| assert_every_key_present(item, element, at));
            }
            (Shape::Object(_, keys), Value::Object(fields)) => {
                for (key, shape) in *keys {
                    let field = fields.get(*key).unwrap_or_else(|| panic!("{at}.{key} is not serialized"));
                    assert_every_key_present(field, shape, &format!("{at}.{key}"));
                }
            }
            _ => {}
        }
    }

    fn patterns(literal: Value) -> RootCausePatterns {
        RootCausePatterns::new(&literal).unwrap()
    }

    fn refusal(literal: Value) -> String {
        RootCausePatterns::new(&literal).unwrap_err().to_string()
    }

    /// The shape checked here and the API's serialization cannot drift apart: a fully set root
    /// cause passes the check (no key the shape lacks) and has every key the shape names.
    #[test]
    fn the_shape_is_exactly_what_get_trace_summaries_serializes() {
        let full = full_root_cause();
        assert!(RootCausePatterns::new(&json!([full.clone()])).is_ok());
        assert_every_key_present(&full, &ROOT_CAUSE, "");
        assert!(patterns(json!([full.clone()])).match_any(&[full]), "a root cause matches itself");
    }

    #[test]
    fn given_keys_must_match_and_missing_keys_match_anything() {
        let cause = [full_root_cause()];
        let matching = [
            json!({}),
            json!({"ClientImpacting": true}),
            json!({"Services": [{}]}),
            json!({"Services": [{"Name": "DynamoDB", "EntityPath": [{"Name": "GetItem"}]}]}),
            json!({"Services": [{"Names": ["DynamoDB"], "EntityPath": [{"Exceptions": [{"Message": "slow"}]}]}]}),
            json!({"Services": [{"EntityPath": [{"Coverage": 0.50, "Remote": true}]}]}),
        ];
        for pattern in matching {
            assert!(patterns(json!([pattern.clone()])).match_any(&cause), "{pattern} should match");
        }
        let not_matching = [
            json!({"ClientImpacting": false}),
            json!({"Services": []}),
            json!({"Services": [{}, {}]}),
            json!({"Services": [{"Name": "dynamodb"}]}),
            json!({"Services": [{"EntityPath": [{"Name": "GetItem"}, {"Name": "GetItem"}]}]}),
            json!({"Services": [{"EntityPath": [{"Coverage": 0.51}]}]}),
            json!({"Services": [{"EntityPath": [{"Exceptions": []}]}]}),
            json!({"Services": [{"Type": null}]}),
        ];
        for pattern in not_matching {
            assert!(!patterns(json!([pattern.clone()])).match_any(&cause), "{pattern} should not match");
        }
    }

    #[test]
    fn numbers_compare_by_value_and_null_asks_for_an_absent_field() {
        let mut cause = full_root_cause();
        cause["Services"][0]["EntityPath"][0]["Coverage"] = json!(1.0);
        cause["Services"][0].as_object_mut().unwrap().remove("Type");
        let whole_number = json!([{"Services": [{"Type": null, "EntityPath": [{"Coverage": 1}]}]}]);
        assert!(patterns(whole_number).match_any(&[cause]));
    }

    #[test]
    fn any_pattern_may_match_any_root_cause() {
        let other = json!({"Services": [{"Name": "web"}], "ClientImpacting": false});
        let causes = [other, full_root_cause()];
        assert!(patterns(json!([{"Services": [{"Name": "nope"}]}, {"ClientImpacting": true}])).match_any(&causes));
        assert!(!patterns(json!([])).match_any(&causes), "no pattern, no match");
    }

    /// Any JSON, mostly made of root-cause keys so that checks get past the first level.
    fn any_json() -> impl Strategy<Value = Value> {
        let keys = ["Services", "Name", "Names", "EntityPath", "Coverage", "Remote", "Exceptions", "Type", "x"];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-2i64..3).prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(prop::sample::select(keys.to_vec()), inner, 0..4)
                    .prop_map(|fields| fields.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_literal_is_checked_and_matched_without_panicking(literal in any_json()) {
            if let Ok(patterns) = RootCausePatterns::new(&literal) {
                prop_assert!(literal.as_array().is_some_and(|items| items.iter().all(Value::is_object)));
                patterns.match_any(&[full_root_cause()]);
            }
        }
    }

    #[test]
    fn literals_root_causes_cannot_have_are_refused_with_their_position() {
        assert_eq!(
            refusal(json!({"Services": []})),
            "rootcause.json: the literal is {\"Services\":[]}; expected an array of root causes such as \
             #[{\"Services\": [..]}]"
        );
        assert_eq!(refusal(json!([{}, 7])), "rootcause.json: [1] is 7; expected a root cause object");
        assert_eq!(refusal(json!([null])), "rootcause.json: [0] is null; expected a root cause object");
        assert_eq!(
            refusal(json!([{"Services": [{"Name": null}]}])),
            "rootcause.json: [0].Services[0].Name is null; expected a string"
        );
        assert_eq!(
            refusal(json!([{"Services": [{"EntityPath": [{"Coverage": "high"}]}]}])),
            "rootcause.json: [0].Services[0].EntityPath[0].Coverage is \"high\"; expected a number or null"
        );
        assert_eq!(
            refusal(json!([{"services": []}])),
            "rootcause.json: [0] has the key \"services\", which a root cause does not have; use Services, \
             ClientImpacting (spelled as GetTraceSummaries returns them)"
        );
        assert_eq!(
            refusal(json!([{"Services": [{"EntityPath": [{"Exceptions": [{"Type": "E"}]}]}]}])),
            "rootcause.json: [0].Services[0].EntityPath[0].Exceptions[0] has the key \"Type\", which an exception \
             does not have; use Name, Message (spelled as GetTraceSummaries returns them)"
        );
        assert_eq!(
            refusal(json!([{"Services": {"Name": "web"}}])),
            "rootcause.json: [0].Services is {\"Name\":\"web\"}; expected an array of service objects"
        );
        assert_eq!(
            refusal(json!([{"Services": [{"Names": ["a", 1]}]}])),
            "rootcause.json: [0].Services[0].Names[1] is 1; expected a string"
        );
        assert_eq!(
            refusal(json!([{"ClientImpacting": "yes"}])),
            "rootcause.json: [0].ClientImpacting is \"yes\"; expected true or false"
        );
        let shortened = format!("Inferred is \"{}…; expected true or false", "x".repeat(39));
        assert!(refusal(json!([{"Services": [{"Inferred": "x".repeat(100)}]}])).ends_with(&shortened));
    }
}
