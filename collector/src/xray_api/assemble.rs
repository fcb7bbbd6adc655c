//! A stored trace → the segment documents `BatchGetTraces` returns, one per top-level segment.
//!
//! - Documents are `SentEntity`s: what a producer sent comes back as sent (explicit nulls,
//!   key order, number forms); merging changes only the `subsegments` it adds to and the
//!   `type`, `trace_id` and `parent_id` an embedded subsegment drops.
//! - Independent subsegments (and OTLP subsegment spans) are merged into their parent's
//!   `subsegments` array, wherever the parent is: a segment, a subsegment embedded at any depth,
//!   or another independent subsegment.
//! - A subsegment whose id is already among the parent's subsegments replaces it when it is
//!   complete and the one there is in progress; otherwise the one there stays. Subsegments
//!   only the losing version had are kept under the winner, so nothing sent is lost.
//! - Subsegments whose parent never arrived are returned as their own documents, still in the
//!   independent form (`type`, `trace_id`, `parent_id`).
//! - Rows that have no X-Ray entity (spans that came only over OTLP) become documents built
//!   from the row: segment rows become segments, subsegment rows are merged like independent
//!   subsegments, so a client sees a mixed X-Ray/OTLP trace as one trace.
//! - Nesting stops at [`MAX_MERGE_DEPTH`]: a chain of independent subsegments deeper than that
//!   is returned as separate documents rather than risking the stack when serializing.

use std::collections::{BTreeMap, HashMap, HashSet};

use fluoro_proto::{
    seconds_to_micros, AnnotationScalar, AnnotationValue, Aws, Cause, CauseDetails, Ec2, Entity, Exception, Http,
    HttpRequest, HttpResponse, SegmentId, SentEntity, SpanKind, SpanRow, Sql, TraceId,
};
use serde_json::{Map, Number};

use fluoro_proto::StoredTrace;

/// How deep (in entities) merging nests subsegments below a top-level document. Each entity
/// level is two JSON levels (object, `subsegments` array) and JSON parsers such as serde_json
/// and botocore's stop at 128 or so; a merged subsegment's own nesting is not counted, so this
/// keeps documents readable in practice rather than guaranteeing it.
pub(crate) const MAX_MERGE_DEPTH: usize = 60;

/// One trace, assembled in X-Ray form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssembledTrace {
    pub(crate) id: TraceId,
    /// Top-level documents: segments first, then orphaned subsegments, each by start time.
    pub(crate) documents: Vec<SentEntity>,
    /// Latest end − earliest start over the top-level documents, in seconds.
    pub(crate) duration_seconds: f64,
}

pub(crate) fn assemble_trace(trace: &StoredTrace) -> AssembledTrace {
    let mut segments = Vec::new();
    let mut pending = PendingSubsegments::default();
    for entity in &trace.entities {
        if entity.is_independent_subsegment() {
            pending.add(entity.clone());
        } else {
            segments.push(entity.clone());
        }
    }
    for entity in entities_from_otlp_rows(trace) {
        match entity.parent_id().filter(|_| entity.is_independent_subsegment()) {
            Some(_) => pending.add(entity),
            None => segments.push(entity),
        }
    }
    for segment in &mut segments {
        pending.attach_into(segment, 0);
    }
    let mut documents = segments;
    documents.sort_by(|a, b| a.start_time().total_cmp(&b.start_time()));
    documents.extend(pending.into_orphans());
    let duration_seconds = duration_seconds(&documents);
    AssembledTrace { id: trace.id, documents, duration_seconds }
}

/// Independent subsegments waiting for their parent, by parent id.
#[derive(Debug, Default)]
struct PendingSubsegments {
    by_parent: HashMap<SegmentId, Vec<SentEntity>>,
}

impl PendingSubsegments {
    fn add(&mut self, entity: SentEntity) {
        if let Some(parent_id) = entity.parent_id() {
            self.by_parent.entry(parent_id).or_default().push(entity);
        }
    }

    /// Merges every pending subsegment whose parent is `entity` or one of its descendants.
    fn attach_into(&mut self, entity: &mut SentEntity, depth: usize) {
        if depth >= MAX_MERGE_DEPTH {
            return;
        }
        if let Some(children) = self.by_parent.remove(&entity.id()) {
            for child in children {
                merge_subsegment(entity, child.into_embedded());
            }
        }
        for subsegment in entity.subsegments_mut() {
            self.attach_into(subsegment, depth + 1);
        }
    }

    /// What is left: subsegments whose parent never arrived. Each takes along the pending
    /// subsegments below it; a cycle of parent ids (only a broken sender makes one) is
    /// returned as it is.
    fn into_orphans(mut self) -> Vec<SentEntity> {
        let pending_ids: HashSet<SegmentId> = self.by_parent.values().flatten().map(SentEntity::id).collect();
        let chain_tops: Vec<SegmentId> =
            self.by_parent.keys().filter(|parent_id| !pending_ids.contains(parent_id)).copied().collect();
        let mut orphans = Vec::new();
        for parent_id in chain_tops {
            for mut orphan in self.by_parent.remove(&parent_id).unwrap_or_default() {
                self.attach_into(&mut orphan, 0);
                orphans.push(orphan);
            }
        }
        orphans.extend(self.by_parent.into_values().flatten());
        orphans.sort_by(|a, b| a.start_time().total_cmp(&b.start_time()));
        orphans
    }
}

/// Adds `child` to `parent.subsegments`, deduplicated by id.
fn merge_subsegment(parent: &mut SentEntity, child: SentEntity) {
    let subsegments = parent.subsegment_list_mut();
    match subsegments.iter().position(|existing| existing.id() == child.id()) {
        Some(index) => {
            let there = subsegments.remove(index);
            subsegments.push(merge_versions(there, child));
        }
        None => subsegments.push(child),
    }
    subsegments.sort_by(|a, b| a.start_time().total_cmp(&b.start_time()));
}

/// Two versions of one subsegment: the one already there and the one arriving. A complete
/// version replaces an in-progress one; between equals the one there stays (the store keeps
/// one version per top-level id, so equals are resends). Subsegments only the loser had move
/// under the winner.
fn merge_versions(there: SentEntity, arriving: SentEntity) -> SentEntity {
    let arriving_wins = there.is_in_progress() && !arriving.is_in_progress();
    let (mut winner, mut loser) = if arriving_wins { (arriving, there) } else { (there, arriving) };
    for subsegment in loser.take_subsegments() {
        merge_subsegment(&mut winner, subsegment);
    }
    winner
}

fn duration_seconds(documents: &[SentEntity]) -> f64 {
    let start = documents.iter().map(|d| seconds_to_micros(d.start_time())).min();
    let end = documents.iter().filter_map(SentEntity::end_time).map(seconds_to_micros).max();
    match (start, end) {
        (Some(start), Some(end)) if end > start => (end - start) as f64 / 1e6,
        _ => 0.0,
    }
}

/// Documents for the rows that no X-Ray entity describes: spans that came only over OTLP.
/// Segment rows become segments; subsegment rows become independent subsegments, merged
/// later like the ones X-Ray SDKs send.
fn entities_from_otlp_rows(trace: &StoredTrace) -> Vec<SentEntity> {
    let mut xray_ids = HashSet::new();
    for entity in &trace.entities {
        collect_ids(entity, &mut xray_ids);
    }
    let rows = trace.rows.iter().filter(|row| !xray_ids.contains(&row.id));
    // Writing an `Entity` built here cannot fail: its maps have string keys.
    rows.filter_map(|row| SentEntity::from_entity(&entity_from_row(row)).ok()).collect()
}

fn collect_ids(entity: &SentEntity, ids: &mut HashSet<SegmentId>) {
    ids.insert(entity.id());
    for subsegment in entity.subsegments() {
        collect_ids(subsegment, ids);
    }
}

fn entity_from_row(row: &SpanRow) -> Entity {
    let mut entity = Entity::new(row.name.clone(), row.id, row.start_us as f64 / 1e6);
    let is_segment = row.kind == SpanKind::Segment || row.parent_id.is_none();
    entity.trace_id = Some(row.trace_id);
    entity.parent_id = row.parent_id;
    entity.kind = (!is_segment).then(|| "subsegment".to_owned());
    entity.end_time = row.end_us.map(|end| end as f64 / 1e6);
    entity.in_progress = (row.in_progress || row.end_us.is_none()).then_some(true);
    if entity.in_progress.is_some() {
        entity.end_time = None;
    }
    entity.namespace = row.namespace.clone();
    entity.origin = row.origin.clone();
    entity.user = row.user.clone();
    entity.resource_arn = row.aws.resource_arn.clone();
    entity.http = http_from_row(row).map(Box::new);
    entity.aws = aws_from_row(row, is_segment).map(Box::new);
    entity.sql = row.sql_url.clone().map(|url| Box::new(Sql { url: Some(url), ..Sql::default() }));
    entity.error = row.error.then_some(true);
    entity.fault = row.fault.then_some(true);
    entity.throttle = row.throttle.then_some(true);
    entity.cause = cause_from_row(row);
    entity.annotations = annotations_from_row(row);
    entity
}

fn http_from_row(row: &SpanRow) -> Option<Http> {
    let http = &row.http;
    let has_request = http.method.is_some() || http.url.is_some() || http.client_ip.is_some();
    let has_request = has_request || http.user_agent.is_some() || row.traced;
    let request = has_request.then(|| HttpRequest {
        method: http.method.clone(),
        url: http.url.clone(),
        user_agent: http.user_agent.clone(),
        client_ip: http.client_ip.clone(),
        traced: row.traced.then_some(true),
        ..HttpRequest::default()
    });
    let response = http.status.map(|status| HttpResponse { status: Some(status), ..HttpResponse::default() });
    (request.is_some() || response.is_some()).then(|| Http { request, response, other: Map::new() })
}

fn aws_from_row(row: &SpanRow, is_segment: bool) -> Option<Aws> {
    let summary = &row.aws;
    let (table_name, table_names) = match &summary.table {
        Some(tables) if tables.contains(',') => (None, Some(tables.split(',').map(str::to_owned).collect())),
        tables => (tables.clone(), None),
    };
    let ec2 = (is_segment && (summary.instance_id.is_some() || summary.availability_zone.is_some())).then(|| Ec2 {
        instance_id: summary.instance_id.clone(),
        availability_zone: summary.availability_zone.clone(),
        ..Ec2::default()
    });
    let aws = Aws {
        account_id: summary.account_id.clone(),
        operation: summary.operation.clone(),
        region: summary.region.clone(),
        queue_url: summary.queue.clone(),
        table_name,
        table_names,
        ec2,
        ..Aws::default()
    };
    (aws != Aws::default()).then_some(aws)
}

fn cause_from_row(row: &SpanRow) -> Option<Cause> {
    if row.exceptions.is_empty() {
        return None;
    }
    let exceptions = row
        .exceptions
        .iter()
        .map(|exception| Exception {
            kind: exception.name.clone(),
            message: exception.message.clone(),
            remote: exception.remote.then_some(true),
            ..Exception::default()
        })
        .collect();
    Some(Cause::Details(CauseDetails { exceptions: Some(exceptions), ..CauseDetails::default() }))
}

fn annotations_from_row(row: &SpanRow) -> Option<BTreeMap<String, AnnotationValue>> {
    let annotations: BTreeMap<String, AnnotationValue> =
        row.annotations.iter().filter_map(|(key, value)| Some((key.clone(), annotation_value(value)?))).collect();
    (!annotations.is_empty()).then_some(annotations)
}

fn annotation_value(scalar: &AnnotationScalar) -> Option<AnnotationValue> {
    Some(match scalar {
        AnnotationScalar::String(text) => AnnotationValue::String(text.clone()),
        AnnotationScalar::Bool(flag) => AnnotationValue::Bool(*flag),
        // Whole numbers go back as integers, so an OTLP int attribute `42` reads `42`, not `42.0`.
        AnnotationScalar::Number(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => {
            AnnotationValue::Number(Number::from(*number as i64))
        }
        AnnotationScalar::Number(number) => AnnotationValue::Number(Number::from_f64(*number)?),
    })
}

#[cfg(test)]
mod tests {
    use fluoro_proto::{parse_document, rows_from_document};
    use serde_json::{json, Value};

    use super::*;

    const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";

    /// A trace as the sink keeps it: the documents' top-level entities and all their rows,
    /// plus rows with no document (spans that came over OTLP).
    fn stored(documents: &[Value], otlp_rows: Vec<SpanRow>) -> StoredTrace {
        let mut trace = StoredTrace { id: TRACE.parse().unwrap(), ..StoredTrace::default() };
        for document in documents {
            let text = document.to_string();
            trace.rows.extend(rows_from_document(&parse_document(text.as_bytes()).unwrap()));
            trace.entities.extend(SentEntity::parse_document(&text).unwrap());
        }
        trace.rows.extend(otlp_rows);
        trace
    }

    fn rows_of(document: Value) -> Vec<SpanRow> {
        rows_from_document(&parse_document(document.to_string().as_bytes()).unwrap())
    }

    fn json_of(entity: &SentEntity) -> Value {
        serde_json::from_str(&entity.to_json()).unwrap()
    }

    fn segment(id: &str, start: f64, end: f64, subsegments: Value) -> Value {
        json!({"name": "web", "id": id, "trace_id": TRACE, "start_time": start, "end_time": end,
               "subsegments": subsegments})
    }

    fn independent(id: &str, parent: &str, start: f64, end: Option<f64>) -> Value {
        let mut document = json!({"name": "call", "id": id, "trace_id": TRACE, "parent_id": parent,
                                  "type": "subsegment", "start_time": start});
        match end {
            Some(end) => document["end_time"] = json!(end),
            None => document["in_progress"] = json!(true),
        }
        document
    }

    #[test]
    fn independent_subsegment_is_merged_into_its_parent_two_levels_down() {
        let nested = json!([{"name": "a", "id": "000000000000000a", "start_time": 10.1, "end_time": 10.8,
            "subsegments": [{"name": "b", "id": "000000000000000b", "start_time": 10.2, "end_time": 10.7}]}]);
        let trace = stored(
            &[
                segment("0000000000000001", 10.0, 11.0, nested),
                independent("000000000000000c", "000000000000000b", 10.3, Some(10.4)),
            ],
            vec![],
        );
        let assembled = assemble_trace(&trace);
        assert_eq!(assembled.documents.len(), 1);
        let document = json_of(&assembled.documents[0]);
        let merged = &document["subsegments"][0]["subsegments"][0]["subsegments"][0];
        assert_eq!(merged["id"], "000000000000000c");
        assert_eq!(merged.get("type"), None, "embedded subsegments carry no type");
        assert_eq!(merged.get("parent_id"), None);
        assert_eq!(merged.get("trace_id"), None);
        assert!(parse_document(document.to_string().as_bytes()).is_ok(), "the merged document is valid");
        assert_eq!(assembled.duration_seconds, 1.0);
    }

    #[test]
    fn a_complete_subsegment_replaces_its_in_progress_version_and_is_kept_once() {
        let in_progress = json!([{"name": "call", "id": "000000000000000a", "start_time": 10.1, "in_progress": true,
            "subsegments": [{"name": "early", "id": "00000000000000e1", "start_time": 10.15, "end_time": 10.2}]}]);
        let trace = stored(
            &[
                segment("0000000000000001", 10.0, 11.0, in_progress),
                independent("000000000000000a", "0000000000000001", 10.1, Some(10.9)),
            ],
            vec![],
        );
        let document = json_of(&assemble_trace(&trace).documents[0]);
        let subsegments = document["subsegments"].as_array().unwrap();
        assert_eq!(subsegments.len(), 1);
        assert_eq!(subsegments[0]["end_time"], 10.9);
        assert_eq!(subsegments[0].get("in_progress"), None);
        assert_eq!(
            subsegments[0]["subsegments"][0]["id"], "00000000000000e1",
            "the in-progress version's children stay"
        );
    }

    #[test]
    fn an_in_progress_resend_does_not_replace_a_complete_subsegment() {
        let complete = json!([{"name": "call", "id": "000000000000000a", "start_time": 10.1, "end_time": 10.9}]);
        let trace = stored(
            &[
                segment("0000000000000001", 10.0, 11.0, complete),
                independent("000000000000000a", "0000000000000001", 10.1, None),
            ],
            vec![],
        );
        let document = json_of(&assemble_trace(&trace).documents[0]);
        assert_eq!(document["subsegments"].as_array().unwrap().len(), 1);
        assert_eq!(document["subsegments"][0]["end_time"], 10.9);
    }

    #[test]
    fn subsegments_whose_parent_never_arrived_are_returned_on_their_own() {
        let trace = stored(
            &[
                segment("0000000000000001", 10.0, 11.0, json!([])),
                independent("000000000000000c", "00000000000000ff", 12.0, Some(13.0)),
                independent("000000000000000d", "000000000000000c", 12.5, Some(12.6)),
            ],
            vec![],
        );
        let assembled = assemble_trace(&trace);
        assert_eq!(assembled.documents.len(), 2);
        let orphan = json_of(&assembled.documents[1]);
        assert_eq!(orphan["id"], "000000000000000c");
        assert_eq!(orphan["type"], "subsegment", "an orphan keeps the independent form");
        assert_eq!(orphan["parent_id"], "00000000000000ff");
        assert_eq!(orphan["subsegments"][0]["id"], "000000000000000d", "its own children are merged into it");
        assert_eq!(assembled.duration_seconds, 3.0);
    }

    #[test]
    fn spans_that_came_only_over_otlp_become_documents_of_the_same_trace() {
        // An X-Ray service calls an OTLP-instrumented one: the callee's server span (a segment
        // row) has the caller's subsegment as parent; its client span is a subsegment row.
        let caller = segment(
            "0000000000000001",
            10.0,
            11.0,
            json!([{"name": "orders", "id": "000000000000000a", "namespace": "remote", "start_time": 10.1, "end_time": 10.9}]),
        );
        let mut otlp_rows = rows_of(json!({"name": "orders", "id": "0000000000000002", "trace_id": TRACE,
            "parent_id": "000000000000000a", "start_time": 10.2, "end_time": 11.5,
            "http": {"request": {"method": "GET", "url": "http://orders/1"}, "response": {"status": 503}},
            "fault": true, "annotations": {"tier": "gold", "shard": 3},
            "subsegments": [{"name": "db", "id": "0000000000000003", "namespace": "remote", "start_time": 10.3,
                             "end_time": 10.4, "sql": {"url": "postgresql://db:5432/orders"},
                             "cause": {"exceptions": [{"type": "Timeout", "message": "read timed out", "remote": true}]},
                             "error": true}]}));
        // A local OTLP span below an X-Ray subsegment (a library instrumented with OTel in the same process).
        let mut local = otlp_rows[1].clone();
        local.id = "0000000000000004".parse().unwrap();
        local.parent_id = Some("000000000000000a".parse().unwrap());
        local.name = "serialize".into();
        otlp_rows.push(local);
        let assembled = assemble_trace(&stored(&[caller], otlp_rows));

        assert_eq!(assembled.documents.len(), 2);
        let caller = json_of(&assembled.documents[0]);
        assert_eq!(caller["subsegments"][0]["subsegments"][0]["name"], "serialize");
        let callee = json_of(&assembled.documents[1]);
        assert_eq!(callee["name"], "orders");
        assert_eq!(callee["trace_id"], TRACE);
        assert_eq!(callee["parent_id"], "000000000000000a");
        assert_eq!(callee.get("type"), None);
        assert_eq!(callee["start_time"], 10.2);
        assert_eq!(callee["end_time"], 11.5);
        assert_eq!(callee["http"]["request"]["method"], "GET");
        assert_eq!(callee["http"]["response"]["status"], 503);
        assert_eq!(callee["fault"], true);
        assert_eq!(callee["annotations"], json!({"shard": 3, "tier": "gold"}));
        let db = &callee["subsegments"][0];
        assert_eq!(db["name"], "db");
        assert_eq!(db["namespace"], "remote");
        assert_eq!(db["sql"]["url"], "postgresql://db:5432/orders");
        assert_eq!(db["error"], true);
        assert_eq!(
            db["cause"]["exceptions"][0],
            json!({"type": "Timeout", "message": "read timed out", "remote": true})
        );
        for document in &assembled.documents {
            assert!(
                parse_document(json_of(document).to_string().as_bytes()).is_ok(),
                "synthesized documents are valid"
            );
        }
        assert_eq!(assembled.duration_seconds, 1.5);
    }

    #[test]
    fn a_chain_deeper_than_the_limit_comes_back_as_separate_documents() {
        let mut documents = vec![segment("0000000000000001", 10.0, 11.0, json!([]))];
        let mut parent = "0000000000000001".to_owned();
        for n in 0..MAX_MERGE_DEPTH + 5 {
            let id = format!("{:016x}", 0x100 + n);
            documents.push(independent(&id, &parent, 10.0, Some(10.5)));
            parent = id;
        }
        let assembled = assemble_trace(&stored(&documents, vec![]));
        assert_eq!(assembled.documents.len(), 2);
        let text = assembled.documents[0].to_json();
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "a client's JSON parser accepts the depth");
    }

    #[test]
    fn merging_keeps_what_both_documents_were_sent_with() {
        let parent = r#"{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"0000000000000001","name":"web","start_time":10,"end_time":11.000,"metadata":{"x":null}}"#;
        let child = r#"{"name":"call","type":"subsegment","id":"000000000000000c","trace_id":"1-5759e988-bd862e3fe1be46a994272793","parent_id":"0000000000000001","start_time":1.03e1,"end_time":10.4,"cause":{"exceptions":[{"stack":[{"path":"node:internal","line":null}]}]}}"#;
        let mut trace = StoredTrace { id: TRACE.parse().unwrap(), ..StoredTrace::default() };
        for text in [parent, child] {
            trace.entities.extend(SentEntity::parse_document(text).unwrap());
        }
        let assembled = assemble_trace(&trace);
        assert_eq!(assembled.documents.len(), 1);
        let expected = r#"{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"0000000000000001","name":"web","start_time":10,"end_time":11.000,"metadata":{"x":null},"subsegments":[{"name":"call","id":"000000000000000c","start_time":1.03e1,"end_time":10.4,"cause":{"exceptions":[{"stack":[{"path":"node:internal","line":null}]}]}}]}"#;
        assert_eq!(assembled.documents[0].to_json(), expected);
    }
}
