//! The row frames filter aggregates are evaluated over, built from the deduplicated spans
//! (see `compile.rs` for how they are used):
//!
//! - nodes: one row per segment (name, type = origin, root = no parent) plus one per downstream
//!   call whose callee sent no segment (inferred: the subsegment's name, type per spec 5.1).
//! - calls: one row per caller span with a child segment (callee = that segment) plus one per
//!   inferred downstream call; the row's values are the caller's (sub)segment's.
//! - annotations: the spans' annotation lists exploded to (key, string, number, bool).
//! - root causes: the root-cause lists of candidate traces (computed per trace by
//!   `root_cause.rs`), exploded to services, entities and exceptions with index/first/last.
//!
//! Every span-like row carries the same brace columns ([`brace_columns`]), so one keyword
//! compiles to the same expression over nodes, calls and the trace frame.

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;

use super::ast::RootCauseList;
use crate::error::Result;
use crate::root_cause::{root_causes, RootCause};
use crate::service_graph::{inferred_node, DownstreamCall};
use crate::span_record::{records_of, root_index};

/// The span columns the node and call frames read (brace columns and node identities).
pub(super) const ROW_FRAME_COLUMNS: [&str; 29] = [
    TRACE_HI,
    TRACE_LO,
    columns::ID,
    columns::PARENT_ID,
    columns::KIND,
    columns::SERVICE,
    columns::NAME,
    columns::ORIGIN,
    columns::NAMESPACE,
    columns::TRACED,
    columns::START_US,
    columns::END_US,
    columns::IN_PROGRESS,
    columns::ERROR,
    columns::FAULT,
    columns::THROTTLE,
    columns::HTTP_METHOD,
    columns::HTTP_URL,
    columns::HTTP_USER_AGENT,
    columns::HTTP_CLIENT_IP,
    columns::HTTP_STATUS,
    columns::USER,
    columns::AWS_AVAILABILITY_ZONE,
    columns::AWS_INSTANCE_ID,
    columns::AWS_RESOURCE_ARN,
    columns::AWS_TABLE,
    columns::AWS_QUEUE,
    columns::AWS_RESOURCE,
    columns::SQL_URL,
];

/// Columns a brace expression may read, on every span-like row.
fn brace_columns() -> Vec<Expr> {
    vec![
        col(TRACE_HI),
        col(TRACE_LO),
        (col(columns::END_US) - col(columns::START_US)).alias("responsetime_us"),
        col(columns::ERROR),
        col(columns::FAULT),
        col(columns::THROTTLE),
        col(columns::IN_PROGRESS).alias("partial"),
        col(columns::HTTP_METHOD),
        col(columns::HTTP_URL),
        col(columns::HTTP_USER_AGENT),
        col(columns::HTTP_CLIENT_IP),
        col(columns::HTTP_STATUS).cast(DataType::Float64),
        col(columns::USER),
        col(columns::AWS_AVAILABILITY_ZONE),
        col(columns::AWS_INSTANCE_ID),
        col(columns::AWS_RESOURCE_ARN),
    ]
}

/// Downstream calls whose callee sent no segment: they are inferred nodes (spec 5.1).
fn inferred_calls(spans: LazyFrame) -> LazyFrame {
    let callees = spans
        .clone()
        .filter(col(columns::KIND).eq(lit("segment")).and(col(columns::PARENT_ID).is_not_null()))
        .group_by([col(TRACE_HI), col(TRACE_LO), col(columns::PARENT_ID)])
        .agg([len().alias("__callees")])
        .select([col(TRACE_HI), col(TRACE_LO), col(columns::PARENT_ID).alias(columns::ID), col("__callees")]);
    let downstream = col(columns::NAMESPACE).eq(lit("aws")).or(col(columns::NAMESPACE).eq(lit("remote")));
    let key = [col(TRACE_HI), col(TRACE_LO), col(columns::ID)];
    spans
        .filter(col(columns::KIND).eq(lit("subsegment")).and(downstream).and(col(columns::TRACED).not()))
        .join(callees, key.clone(), key, JoinArgs::new(JoinType::Left))
        .filter(col("__callees").is_null())
}

/// The inferred node's name (`part` 0) or type (`part` 1) of each downstream call, by the one
/// naming rule of `service_graph::inferred_node`.
fn inferred_identity_column(part: usize) -> Expr {
    let inputs = [
        col(columns::NAMESPACE),
        col(columns::NAME),
        col(columns::AWS_TABLE),
        col(columns::AWS_QUEUE),
        col(columns::AWS_RESOURCE),
        col(columns::SQL_URL),
    ];
    let output = if part == 0 { "name" } else { "type" };
    map_multiple(
        move |columns: &mut [Column]| {
            let strings: Vec<Column> =
                columns.iter().map(|column| column.cast(&DataType::String)).collect::<PolarsResult<_>>()?;
            let text: Vec<&StringChunked> = strings.iter().map(|column| column.str()).collect::<PolarsResult<_>>()?;
            let identities: StringChunked = (0..text[0].len())
                .map(|row| {
                    let call = DownstreamCall {
                        namespace: text[0].get(row).unwrap_or_default(),
                        name: text[1].get(row).unwrap_or_default(),
                        has_table: text[2].get(row).is_some(),
                        has_queue: text[3].get(row).is_some(),
                        has_resource: text[4].get(row).is_some(),
                        has_sql: text[5].get(row).is_some(),
                    };
                    let (name, node_type) = inferred_node(&call);
                    Some(if part == 0 { name } else { node_type })
                })
                .collect();
            Ok(identities.with_name(output.into()).into_column())
        },
        inputs,
        move |_, _| Ok(Field::new(output.into(), DataType::String)),
    )
}

/// One row per node visit: segments, then inferred calls.
pub(super) fn node_frame(spans: LazyFrame) -> LazyFrame {
    let segment_columns = brace_columns().into_iter().chain([
        col(columns::NAME),
        col(columns::ORIGIN).alias("type"),
        lit(false).alias("inferred"),
        col(columns::PARENT_ID).is_null().alias("root"),
    ]);
    let segments =
        spans.clone().filter(col(columns::KIND).eq(lit("segment"))).select(segment_columns.collect::<Vec<_>>());
    let inferred_columns = brace_columns().into_iter().chain([
        inferred_identity_column(0).alias("name"),
        inferred_identity_column(1).alias("type"),
        lit(true).alias("inferred"),
        lit(false).alias("root"),
    ]);
    let inferred = inferred_calls(spans).select(inferred_columns.collect::<Vec<_>>());
    concat_frames([segments, inferred])
}

/// One row per call on an edge: the caller (sub)segment's values with caller and callee nodes.
pub(super) fn edge_frame(spans: LazyFrame) -> LazyFrame {
    let callees = spans
        .clone()
        .filter(col(columns::KIND).eq(lit("segment")).and(col(columns::PARENT_ID).is_not_null()))
        .select([
            col(TRACE_HI),
            col(TRACE_LO),
            col(columns::PARENT_ID).alias("__call"),
            col(columns::NAME).alias("callee_name"),
            col(columns::ORIGIN).alias("callee_type"),
        ]);
    let caller = |spans: LazyFrame| {
        spans.with_columns([
            col(columns::ID).alias("__call"),
            col(columns::SERVICE).alias("caller_name"),
            col(columns::ORIGIN).alias("caller_type"),
        ])
    };
    let key = [col(TRACE_HI), col(TRACE_LO), col("__call")];
    let edge_columns = || {
        brace_columns()
            .into_iter()
            .chain([col("caller_name"), col("caller_type"), col("callee_name"), col("callee_type")])
            .collect::<Vec<_>>()
    };
    let linked =
        caller(spans.clone()).join(callees, key.clone(), key, JoinArgs::new(JoinType::Inner)).select(edge_columns());
    let inferred = caller(inferred_calls(spans))
        .with_columns([
            inferred_identity_column(0).alias("callee_name"),
            inferred_identity_column(1).alias("callee_type"),
        ])
        .select(edge_columns());
    concat_frames([linked, inferred])
}

fn concat_frames(frames: [LazyFrame; 2]) -> LazyFrame {
    let [first, second] = frames;
    match concat([first.clone(), second], UnionArgs::default()) {
        std::result::Result::Ok(frame) => frame,
        // concat only fails on an empty list.
        Err(_) => first,
    }
}

pub(super) fn annotation_frame(spans: LazyFrame) -> LazyFrame {
    let options = ExplodeOptions { empty_as_null: false, keep_nulls: false };
    let field = |name: &str| col(columns::ANNOTATIONS).struct_().field_by_name(name).alias(name);
    spans
        .select([col(TRACE_HI), col(TRACE_LO), col(columns::ANNOTATIONS)])
        .explode(cols([columns::ANNOTATIONS]), options)
        .select([col(TRACE_HI), col(TRACE_LO), field("key"), field("string"), field("number"), field("bool")])
}

/// Root-cause lists of the candidate traces, exploded.
pub(super) struct RootCauseFrames {
    services: DataFrame,
    entities: DataFrame,
    exceptions: DataFrame,
}

impl RootCauseFrames {
    pub(super) fn get(&self, list: RootCauseList) -> LazyFrame {
        match list {
            RootCauseList::Service => self.services.clone().lazy(),
            RootCauseList::Entity => self.entities.clone().lazy(),
            RootCauseList::Exception => self.exceptions.clone().lazy(),
        }
    }
}

/// Rows of one exploded list: trace, cause, position, and the element's values.
#[derive(Default)]
struct ListRows {
    hi: Vec<u64>,
    lo: Vec<u64>,
    cause: Vec<&'static str>,
    index: Vec<f64>,
    first: Vec<bool>,
    last: Vec<bool>,
    name: Vec<Option<String>>,
    kind: Vec<Option<String>>,
    message: Vec<Option<String>>,
    inferred: Vec<bool>,
    remote: Vec<bool>,
    coverage: Vec<Option<f64>>,
}

struct Element {
    name: Option<String>,
    kind: Option<String>,
    message: Option<String>,
    inferred: bool,
    remote: bool,
    coverage: Option<f64>,
}

impl ListRows {
    fn push(&mut self, key: (u64, u64), cause: &'static str, index: usize, count: usize, element: Element) {
        self.hi.push(key.0);
        self.lo.push(key.1);
        self.cause.push(cause);
        self.index.push(index as f64);
        self.first.push(index == 0);
        self.last.push(index + 1 == count);
        self.name.push(element.name);
        self.kind.push(element.kind);
        self.message.push(element.message);
        self.inferred.push(element.inferred);
        self.remote.push(element.remote);
        self.coverage.push(element.coverage);
    }

    fn frame(self) -> Result<DataFrame> {
        Ok(df!(
            TRACE_HI => self.hi,
            TRACE_LO => self.lo,
            "cause" => self.cause,
            "index" => self.index,
            "first" => self.first,
            "last" => self.last,
            "name" => self.name,
            "type" => self.kind,
            "message" => self.message,
            "inferred" => self.inferred,
            "remote" => self.remote,
            "coverage" => self.coverage,
        )?)
    }
}

pub(super) fn root_cause_frames(spans: &DataFrame, candidates: &DataFrame) -> Result<RootCauseFrames> {
    let keys: Vec<(u64, u64)> = candidates
        .column(TRACE_HI)?
        .u64()?
        .iter()
        .zip(candidates.column(TRACE_LO)?.u64()?.iter())
        .map(|(hi, lo)| (hi.unwrap_or_default(), lo.unwrap_or_default()))
        .collect();
    let mut services = ListRows::default();
    let mut entities = ListRows::default();
    let mut exceptions = ListRows::default();
    for (key, records) in records_of(spans, &keys)? {
        let Some(root) = root_index(&records) else { continue };
        let causes = root_causes(&records, root);
        for (cause, list) in
            [("fault", &causes.fault), ("error", &causes.error), ("responsetime", &causes.response_time)]
        {
            explode_causes(key, cause, list, &mut services, &mut entities, &mut exceptions);
        }
    }
    Ok(RootCauseFrames { services: services.frame()?, entities: entities.frame()?, exceptions: exceptions.frame()? })
}

/// Index/first/last count within the enclosing list: services within a root cause, entities
/// within a service's path, exceptions within an entity.
fn explode_causes(
    key: (u64, u64),
    cause: &'static str,
    list: &[RootCause],
    services: &mut ListRows,
    entities: &mut ListRows,
    exceptions: &mut ListRows,
) {
    for root_cause in list {
        let count = root_cause.services.len();
        for (index, service) in root_cause.services.iter().enumerate() {
            let coverage = service.entity_path.first().and_then(|entity| entity.coverage);
            let element = Element {
                name: Some(service.name.clone()),
                kind: service.r#type.clone(),
                message: None,
                inferred: service.inferred,
                remote: false,
                coverage,
            };
            services.push(key, cause, index, count, element);
            let path_length = service.entity_path.len();
            for (position, entity) in service.entity_path.iter().enumerate() {
                let element = Element {
                    name: Some(entity.name.clone()),
                    kind: None,
                    message: None,
                    inferred: service.inferred,
                    remote: entity.remote,
                    coverage: entity.coverage,
                };
                entities.push(key, cause, position, path_length, element);
                let thrown = entity.exceptions.as_deref().unwrap_or_default();
                for (number, exception) in thrown.iter().enumerate() {
                    let element = Element {
                        name: Some(exception.name.clone()),
                        kind: None,
                        message: Some(exception.message.clone()),
                        inferred: false,
                        remote: entity.remote,
                        coverage: None,
                    };
                    exceptions.push(key, cause, number, thrown.len(), element);
                }
            }
        }
    }
}
