//! Every validation rule refuses a document with an error that names the entity, the field and
//! what was expected.

use fluoro_proto::{parse_document, parse_document_with, DocumentError, Rules, TraceAge, MAX_DOCUMENT_BYTES};
use serde_json::{json, Value};

const TRACE_ID: &str = "1-5759e988-bd862e3fe1be46a994272793";

fn valid_segment() -> Value {
    json!({
        "name": "petsite",
        "id": "a1b2c3d4e5f60718",
        "trace_id": TRACE_ID,
        "start_time": 1_465_510_000.0,
        "end_time": 1_465_510_000.25,
    })
}

fn with(mut document: Value, key: &str, value: Value) -> Value {
    document[key] = value;
    document
}

fn without(mut document: Value, key: &str) -> Value {
    document.as_object_mut().unwrap().remove(key);
    document
}

fn error_of(document: &Value) -> String {
    match parse_document(document.to_string().as_bytes()) {
        Ok(_) => panic!("accepted {document}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_reference_segment_is_valid() {
    parse_document(valid_segment().to_string().as_bytes()).unwrap();
}

#[test]
fn a_malformed_trace_id_names_the_part_that_is_wrong() {
    let doc = with(valid_segment(), "trace_id", json!("1-zz59e988-bd862e3fe1be46a994272793"));
    assert_eq!(
        error_of(&doc),
        r#"segment a1b2c3d4e5f60718: trace_id "1-zz59e988-bd862e3fe1be46a994272793" is not a valid trace id (8 hex digits expected after "1-")"#
    );
    let doc = with(valid_segment(), "trace_id", json!("5759e988-bd862e3fe1be46a994272793"));
    assert_eq!(
        error_of(&doc),
        r#"segment a1b2c3d4e5f60718: trace_id "5759e988-bd862e3fe1be46a994272793" is not a valid trace id ("1-" expected at the start)"#
    );
    let doc = with(valid_segment(), "trace_id", json!("1-5759e988-bd862e3f"));
    assert_eq!(
        error_of(&doc),
        r#"segment a1b2c3d4e5f60718: trace_id "1-5759e988-bd862e3f" is not a valid trace id (24 hex digits expected after the time)"#
    );
}

#[test]
fn a_missing_trace_id_is_refused_at_the_top_level_only() {
    assert_eq!(error_of(&without(valid_segment(), "trace_id")), "segment a1b2c3d4e5f60718: trace_id is required");
    let embedded =
        json!({"name": "local", "id": "1111111111111111", "start_time": 1_465_510_000.1, "end_time": 1_465_510_000.2});
    parse_document(with(valid_segment(), "subsegments", json!([embedded])).to_string().as_bytes()).unwrap();
}

#[test]
fn ids_must_be_sixteen_hex_digits() {
    assert_eq!(
        error_of(&with(valid_segment(), "id", json!("a1b2c3"))),
        r#"segment a1b2c3: id "a1b2c3" is not a valid id (16 hex digits expected)"#
    );
    assert_eq!(
        error_of(&with(valid_segment(), "parent_id", json!("xyz0000000000000"))),
        r#"segment a1b2c3d4e5f60718: parent_id "xyz0000000000000" is not a valid id (16 hex digits expected)"#
    );
    assert_eq!(error_of(&without(valid_segment(), "id")), "segment: id is required");
}

#[test]
fn required_fields_are_named() {
    assert_eq!(error_of(&without(valid_segment(), "name")), "segment a1b2c3d4e5f60718: name is required");
    assert_eq!(error_of(&without(valid_segment(), "start_time")), "segment a1b2c3d4e5f60718: start_time is required");
}

#[test]
fn exactly_one_of_end_time_and_in_progress() {
    assert_eq!(
        error_of(&without(valid_segment(), "end_time")),
        "segment a1b2c3d4e5f60718: end_time is required unless in_progress is true"
    );
    assert_eq!(
        error_of(&with(valid_segment(), "in_progress", json!(true))),
        "segment a1b2c3d4e5f60718: end_time must be absent while in_progress is true"
    );
    let in_progress = with(without(valid_segment(), "end_time"), "in_progress", json!(true));
    assert!(parse_document(in_progress.to_string().as_bytes()).unwrap().entities()[0].is_in_progress());
}

#[test]
fn the_end_is_not_before_the_start() {
    assert_eq!(
        error_of(&with(valid_segment(), "end_time", json!(1_465_509_999.5))),
        "segment a1b2c3d4e5f60718: end_time 1465509999.5 is before start_time 1465510000"
    );
}

#[test]
fn times_are_epoch_seconds() {
    assert_eq!(
        error_of(&with(valid_segment(), "start_time", json!(1_465_510_000_000.0_f64))),
        "segment a1b2c3d4e5f60718: start_time 1465510000000 is not a time in epoch seconds (a number between 0 and 1e10 expected; this looks like milliseconds or microseconds)"
    );
    assert_eq!(
        error_of(&with(valid_segment(), "start_time", json!(-5))),
        "segment a1b2c3d4e5f60718: start_time -5 is not a time in epoch seconds (a number between 0 and 1e10 expected)"
    );
    assert_eq!(
        error_of(&with(valid_segment(), "start_time", json!("1465510000"))),
        "segment a1b2c3d4e5f60718: start_time must be a number, found a string"
    );
}

#[test]
fn names_have_a_length_and_a_character_set() {
    assert_eq!(error_of(&with(valid_segment(), "name", json!(""))), "segment a1b2c3d4e5f60718: name must not be empty");
    assert_eq!(
        error_of(&with(valid_segment(), "name", json!("x".repeat(201)))),
        "segment a1b2c3d4e5f60718: name is 201 characters long; at most 200 are allowed"
    );
    // 200 multi-byte characters are fine: the limit counts characters, not bytes.
    parse_document(with(valid_segment(), "name", json!("é".repeat(200))).to_string().as_bytes()).unwrap();
    assert_eq!(
        error_of(&with(valid_segment(), "name", json!("pet*site"))),
        r#"segment a1b2c3d4e5f60718: name contains '*' at character 4; only letters, digits, whitespace and _ . : / % & # = + \ - @ are allowed"#
    );
    parse_document(
        with(valid_segment(), "name", json!("api.example.com:443/v1 @prod #2 ünïcode")).to_string().as_bytes(),
    )
    .unwrap();
}

#[test]
fn problems_inside_subsegments_carry_the_path() {
    let bad_status = json!({
        "name": "downstream", "id": "1111111111111111", "start_time": 1_465_510_000.1, "end_time": 1_465_510_000.2,
        "http": {"response": {"status": "200"}}
    });
    let ok =
        json!({"name": "ok", "id": "2222222222222222", "start_time": 1_465_510_000.1, "end_time": 1_465_510_000.2});
    let doc = with(valid_segment(), "subsegments", json!([ok, bad_status]));
    assert_eq!(
        error_of(&doc),
        "segment a1b2c3d4e5f60718: subsegments[1].http.response.status must be an integer, found a string"
    );
    let nested_bad_time =
        json!({"name": "inner", "id": "3333333333333333", "start_time": 1_465_510_000.3, "end_time": 1_465_510_000.2});
    let outer = json!({"name": "outer", "id": "4444444444444444", "start_time": 1_465_510_000.1, "end_time": 1_465_510_000.4, "subsegments": [nested_bad_time]});
    assert_eq!(
        error_of(&with(valid_segment(), "subsegments", json!([outer]))),
        "segment a1b2c3d4e5f60718: subsegments[0].subsegments[0].end_time 1465510000.2 is before start_time 1465510000.3"
    );
}

#[test]
fn ids_are_unique_within_a_document() {
    let twin =
        json!({"name": "twin", "id": "a1b2c3d4e5f60718", "start_time": 1_465_510_000.1, "end_time": 1_465_510_000.2});
    assert_eq!(
        error_of(&with(valid_segment(), "subsegments", json!([twin]))),
        r#"segment a1b2c3d4e5f60718: subsegments[0].id "a1b2c3d4e5f60718" is also the id of another entity in this document"#
    );
}

#[test]
fn annotation_keys_and_values_follow_the_index_rules() {
    assert_eq!(
        error_of(&with(valid_segment(), "annotations", json!({"pet-id": "42"}))),
        r#"segment a1b2c3d4e5f60718: annotations key "pet-id" may only contain ASCII letters, digits and _"#
    );
    assert_eq!(
        error_of(&with(valid_segment(), "annotations", json!({"pet": {"id": 42}}))),
        "segment a1b2c3d4e5f60718: annotations.pet must be a string, number or boolean, found an object"
    );
    assert_eq!(
        error_of(&with(valid_segment(), "annotations", json!({"pet": null}))),
        "segment a1b2c3d4e5f60718: annotations.pet must be a string, number or boolean, found null"
    );
    let good =
        with(valid_segment(), "annotations", json!({"pet_id": 42, "vip": true, "breed": "beagle", "score": 0.5}));
    parse_document(good.to_string().as_bytes()).unwrap();
}

#[test]
fn independent_subsegments_need_a_parent_and_a_known_type() {
    let subsegment = with(with(valid_segment(), "type", json!("subsegment")), "name", json!("streamed"));
    assert_eq!(
        error_of(&subsegment),
        "subsegment a1b2c3d4e5f60718: parent_id is required on an independent subsegment"
    );
    assert_eq!(
        error_of(&with(valid_segment(), "type", json!("segment"))),
        r#"segment a1b2c3d4e5f60718: type "segment" is not a document type ("subsegment" expected)"#
    );
}

#[test]
fn an_array_of_subsegments_names_the_element_at_fault() {
    let subsegment = |id: &str| {
        json!({"name": "s", "id": id, "trace_id": TRACE_ID, "parent_id": "a1b2c3d4e5f60718", "type": "subsegment",
               "start_time": 1_465_510_000.1, "end_time": 1_465_510_000.2})
    };
    let good = json!([subsegment("1111111111111111"), subsegment("2222222222222222")]);
    assert_eq!(parse_document(good.to_string().as_bytes()).unwrap().entities().len(), 2);
    let bad = json!([subsegment("1111111111111111"), without(subsegment("2222222222222222"), "parent_id")]);
    assert_eq!(error_of(&bad), "subsegment 2222222222222222: [1].parent_id is required on an independent subsegment");
}

#[test]
fn documents_over_64_kib_are_refused_before_parsing() {
    let padding = "x".repeat(MAX_DOCUMENT_BYTES);
    let doc = with(valid_segment(), "metadata", json!({"default": {"padding": padding}}));
    let text = doc.to_string();
    let error = parse_document(text.as_bytes()).unwrap_err();
    assert_eq!(error.to_string(), format!("document is {} bytes; at most 65536 bytes are accepted", text.len()));
    assert_eq!(error.reason(), "too_large");
}

#[test]
fn broken_json_and_non_objects_are_reported() {
    let error = parse_document(br#"{"name": "petsite", "id": "#).unwrap_err();
    assert!(matches!(error, DocumentError::Json(_)));
    assert_eq!(error.to_string(), "document is not valid JSON: EOF while parsing a value at line 1 column 26");
    assert_eq!(parse_document(b"42").unwrap_err().to_string(), "segment: document must be an object, found a number");
}

#[test]
fn the_trace_id_time_is_checked_against_retention_when_asked() {
    let started = f64::from(0x5759e988_u32);
    let rules = |now: f64| Rules { trace_age: Some(TraceAge::xray(now)), ..Rules::default() };
    let doc = valid_segment().to_string();
    parse_document_with(doc.as_bytes(), &rules(started + 86_400.0)).unwrap();
    assert_eq!(
        parse_document_with(doc.as_bytes(), &rules(started + 31.0 * 86_400.0)).unwrap_err().to_string(),
        "segment a1b2c3d4e5f60718: trace_id dates the trace 31 days back; traces older than 30 days are not accepted"
    );
    assert_eq!(
        parse_document_with(doc.as_bytes(), &rules(started - 3_600.0)).unwrap_err().to_string(),
        "segment a1b2c3d4e5f60718: trace_id dates the trace 3600 s in the future; at most 300 s of clock skew is accepted"
    );
}

#[test]
fn no_input_makes_the_parser_panic() {
    // Truncations of a real document at every byte: each is either valid or a clean error.
    let text = include_str!("fixtures/xray-python-sdk/documents.jsonl").lines().next().unwrap();
    for end in 0..text.len() {
        if text.is_char_boundary(end) {
            let _ = parse_document(&text.as_bytes()[..end]);
        }
    }
}

#[test]
fn a_configured_document_size_is_the_limit() {
    let rules = Rules { max_document_bytes: Some(200), ..Rules::default() };
    let small = valid_segment().to_string();
    parse_document_with(small.as_bytes(), &rules).unwrap();
    let padded = with(valid_segment(), "metadata", json!({"default": {"pad": "x".repeat(200)}})).to_string();
    let error = parse_document_with(padded.as_bytes(), &rules).unwrap_err();
    assert_eq!(error, DocumentError::TooLarge { size: padded.len(), limit: 200 });
    parse_document_with(padded.as_bytes(), &Rules::default()).unwrap();
}

#[test]
fn annotations_and_metadata_over_the_configured_size_name_the_limit() {
    let rules = Rules { max_annotations_metadata_bytes: Some(100), ..Rules::default() };
    // {"k":"…"} is 8 bytes plus the value; the subsegment's count toward the document's total.
    let annotated = |annotation: usize, metadata: usize| {
        let subsegment = json!({"name": "db", "id": "0000000000000002", "start_time": 1_465_510_000.0,
            "end_time": 1_465_510_000.1, "metadata": {"k": "m".repeat(metadata)}});
        let document = with(valid_segment(), "annotations", json!({"k": "a".repeat(annotation)}));
        with(document, "subsegments", json!([subsegment])).to_string()
    };
    parse_document_with(annotated(42, 42).as_bytes(), &rules).unwrap();
    let error = parse_document_with(annotated(42, 43).as_bytes(), &rules).unwrap_err();
    assert_eq!(
        error.to_string(),
        "segment a1b2c3d4e5f60718: annotations and metadata take 101 bytes of JSON in this document; at most 100 \
         are accepted (limits.annotations_metadata_bytes)"
    );
    parse_document_with(annotated(42, 4000).as_bytes(), &Rules::default()).unwrap();
}
