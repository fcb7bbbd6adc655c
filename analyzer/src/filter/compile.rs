//! Filter expressions compiled to polars lazy expressions (spec 3). A trace matches when the
//! compiled predicate holds on its row of the trace frame (`trace_frame.rs`).
//!
//! Strategy: every condition becomes a boolean column of the trace frame.
//! - Trace keywords read the trace frame directly (`responsetime`, `http.*`, root flags…).
//! - Conditions on "any segment of the trace" (`user`, `availabilityzone`, `instance.id`,
//!   `resource.arn`), annotations, `service()`, `edge()`, `id()`, `inferred` and `rootcause.*`
//!   become an *aggregate*: a row-level boolean expression over a row frame (spans, nodes,
//!   calls on edges, exploded annotations, exploded root causes), reduced per trace with
//!   `any`, and left-joined onto the trace frame as column `__mN` (absent → false).
//! - `AND`/`OR`/`NOT` combine those columns. Every leaf is `fill_null(false)`, so a missing
//!   value fails its comparison and `!` is plain two-valued negation.
//!
//! The row frames (`frames.rs`) are built only when an aggregate needs them: `service()` and
//! `id()` braces are evaluated per node row, `edge()` braces per call row, `rootcause.*` per
//! element of the exploded root-cause lists. `rootcause.json` is matched per trace in Rust
//! (`root_cause_json.rs`) and joined the same way.
//!
//! String operators other than `=`/`!=` run as vectorised closures over the string column
//! (`string_test`): polars' own string kernels need its `strings` feature, which costs build
//! minutes for three functions.

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;

use super::ast::{
    Comparison, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp, RootCauseKind,
    RootCauseList, StringOp, Test,
};
use super::frames::{annotation_frame, edge_frame, node_frame, root_cause_frames, ROW_FRAME_COLUMNS};
use super::parse_filter;
use super::root_cause_json::{join_matches, RootCausePatterns};
use crate::error::{AnalyzerError, Result};
use crate::spans::SPAN_COLUMNS;
use crate::trace_frame::{ROOT_HTTP_COLUMNS, TRACE_FRAME_COLUMNS};

/// How deeply groups may refer to groups.
pub const MAX_GROUP_DEPTH: usize = 4;

/// Looks up a group's filter expression (`group.name = ..`, `group.arn = ..`).
pub trait GroupResolver: Sync {
    /// The group's filter expression text, or `None` when there is no such group.
    fn group_filter(&self, group: &GroupRef) -> Option<String>;
}

/// No groups exist: every `group.*` condition is an error.
#[derive(Debug, Clone, Copy)]
pub struct NoGroups;

impl GroupResolver for NoGroups {
    fn group_filter(&self, _group: &GroupRef) -> Option<String> {
        None
    }
}

impl<F: Fn(&GroupRef) -> Option<String> + Sync> GroupResolver for F {
    fn group_filter(&self, group: &GroupRef) -> Option<String> {
        self(group)
    }
}

/// A compiled filter: a predicate over the trace frame plus the aggregates it refers to.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    predicate: Expr,
    spans: Vec<Aggregate>,
    nodes: Vec<Aggregate>,
    edges: Vec<Aggregate>,
    annotations: Vec<Aggregate>,
    root_causes: Vec<(RootCauseList, Aggregate)>,
    /// `rootcause.json` conditions: the trace-frame column each fills, and its patterns.
    root_cause_patterns: Vec<(String, RootCausePatterns)>,
    next_column: usize,
    /// Whether any `rootcause.responsetime.*` is used: those need every trace's root causes,
    /// fault and error ones only traces with a faulting or erroring span.
    response_time_causes: bool,
    /// Root-segment `http_*` columns the predicate tests on the trace frame.
    trace_http_columns: Vec<&'static str>,
}

/// A per-trace column: its name and its aggregation.
type Aggregate = (String, Expr);

/// The spans a filter is evaluated over (deduplicated, as [`crate::load_spans`] returns them).
/// A filter that tests spans, not only the trace frame, groups them by trace, which runs about
/// twice as fast over one chunk per column: they are rechunked the first time one needs them,
/// so a filter on trace values alone never pays the copy.
#[derive(Debug)]
pub struct MatchFrames {
    spans: DataFrame,
    rechunked: std::sync::OnceLock<DataFrame>,
}

impl MatchFrames {
    pub fn new(spans: DataFrame) -> MatchFrames {
        MatchFrames { spans, rechunked: std::sync::OnceLock::new() }
    }

    /// The spans, one chunk per column.
    pub fn spans(&self) -> &DataFrame {
        self.rechunked.get_or_init(|| {
            let mut spans = self.spans.clone();
            spans.rechunk_mut_par();
            spans
        })
    }
}

/// Compiles `expr`; `group.*` conditions are resolved through `groups` and inlined.
pub fn compile_filter(expr: &FilterExpr, groups: &dyn GroupResolver) -> Result<CompiledFilter> {
    let mut compiled = CompiledFilter {
        predicate: lit(true),
        spans: Vec::new(),
        nodes: Vec::new(),
        edges: Vec::new(),
        annotations: Vec::new(),
        root_causes: Vec::new(),
        root_cause_patterns: Vec::new(),
        next_column: 0,
        response_time_causes: false,
        trace_http_columns: Vec::new(),
    };
    compiled.predicate = compiled.trace(expr, groups, 0)?;
    Ok(compiled)
}

/// Which row frame a brace expression is evaluated over.
#[derive(Clone, Copy)]
enum Rows {
    Node,
    Edge,
    RootCause,
}

impl CompiledFilter {
    /// The span columns [`CompiledFilter::apply`] and the trace frame under it read: what to
    /// pass to [`crate::load_spans`] for the spans of [`MatchFrames`].
    pub fn span_columns(&self) -> Vec<&'static str> {
        // Root causes (also those `rootcause.json` matches) are computed from whole span records.
        if !self.root_causes.is_empty() || !self.root_cause_patterns.is_empty() {
            return SPAN_COLUMNS.to_vec();
        }
        let mut columns = TRACE_FRAME_COLUMNS.to_vec();
        columns.extend(&self.trace_http_columns);
        if !self.spans.is_empty() {
            columns.extend(TRACE_WIDE_COLUMNS);
        }
        if !self.nodes.is_empty() || !self.edges.is_empty() {
            columns.extend(ROW_FRAME_COLUMNS);
        }
        if !self.annotations.is_empty() {
            columns.push(columns::ANNOTATIONS);
        }
        let mut seen = std::collections::HashSet::new();
        columns.retain(|name| seen.insert(*name));
        columns
    }

    /// The rows of `candidates` (a trace frame) that match.
    pub fn apply(&self, frames: &MatchFrames, candidates: DataFrame) -> Result<DataFrame> {
        let columns: Vec<Expr> = candidates.get_column_names().into_iter().map(|name| col(name.clone())).collect();
        let spans = || frames.spans().clone().lazy();
        let mut traces = candidates.clone().lazy();
        let sources: [(&Vec<Aggregate>, &dyn Fn() -> LazyFrame); 4] = [
            (&self.spans, &spans),
            (&self.nodes, &|| node_frame(spans())),
            (&self.edges, &|| edge_frame(spans())),
            (&self.annotations, &|| annotation_frame(spans())),
        ];
        let mut names = Vec::new();
        for (aggregates, frame) in sources {
            if !aggregates.is_empty() {
                traces = join_aggregates(traces, frame(), aggregates, &mut names);
            }
        }
        if !self.root_causes.is_empty() {
            let cause_frames = root_cause_frames(frames.spans(), &self.root_cause_candidates(frames, &candidates)?)?;
            for list in [RootCauseList::Service, RootCauseList::Entity, RootCauseList::Exception] {
                let aggregates: Vec<Aggregate> =
                    self.root_causes.iter().filter(|(l, _)| *l == list).map(|(_, e)| e.clone()).collect();
                if !aggregates.is_empty() {
                    traces = join_aggregates(traces, cause_frames.get(list), &aggregates, &mut names);
                }
            }
        }
        if !self.root_cause_patterns.is_empty() {
            traces = join_matches(traces, frames.spans(), &candidates, &self.root_cause_patterns)?;
            names.extend(self.root_cause_patterns.iter().map(|(name, _)| name.clone()));
        }
        let filled: Vec<Expr> = names.iter().map(|name| col(name.as_str()).fill_null(lit(false))).collect();
        Ok(traces.with_columns(filled).filter(self.predicate.clone()).select(columns).collect()?)
    }

    /// The candidates whose root causes the filter may need (see `response_time_causes`):
    /// walking every trace's spans in Rust is the expensive part of `rootcause.*`.
    fn root_cause_candidates(&self, frames: &MatchFrames, candidates: &DataFrame) -> Result<DataFrame> {
        if self.response_time_causes {
            return Ok(candidates.clone());
        }
        let key = [col(TRACE_HI), col(TRACE_LO)];
        let flagged = frames
            .spans()
            .clone()
            .lazy()
            .filter(col(columns::FAULT).or(col(columns::ERROR)))
            .group_by(key.clone())
            .agg([len().alias("__flagged")])
            .select(key.clone());
        Ok(candidates.clone().lazy().join(flagged, key.clone(), key, JoinArgs::new(JoinType::Inner)).collect()?)
    }

    fn aggregate(&mut self, row_condition: Expr) -> Aggregate {
        let name = format!("__m{}", self.next_column);
        self.next_column += 1;
        (name.clone(), row_condition.fill_null(lit(false)).any(true).alias(name.as_str()))
    }

    fn push(&mut self, target: Target, row_condition: Expr) -> Expr {
        let aggregate = self.aggregate(row_condition);
        let name = aggregate.0.clone();
        match target {
            Target::Spans => self.spans.push(aggregate),
            Target::Nodes => self.nodes.push(aggregate),
            Target::Edges => self.edges.push(aggregate),
            Target::Annotations => self.annotations.push(aggregate),
            Target::RootCause(list) => self.root_causes.push((list, aggregate)),
        }
        col(name.as_str())
    }

    fn trace(&mut self, expr: &FilterExpr, groups: &dyn GroupResolver, depth: usize) -> Result<Expr> {
        Ok(match expr {
            FilterExpr::Or(children) => fold(self.all(children, groups, depth)?, Expr::or),
            FilterExpr::And(children) => fold(self.all(children, groups, depth)?, Expr::and),
            FilterExpr::Not(child) => self.trace(child, groups, depth)?.not(),
            FilterExpr::Compare(comparison) => self.trace_comparison(comparison)?,
            FilterExpr::Service(service) => {
                let node = service.node.as_ref().map(|node| node_matches(node, "name", "type"));
                let braces = service.filter.as_deref().map(|f| rows(f, Rows::Node)).transpose()?;
                let condition = node.into_iter().chain(braces).reduce(Expr::and).unwrap_or(lit(true));
                self.push(Target::Nodes, condition)
            }
            FilterExpr::Node(id) => {
                let condition = node_matches(&NodeSelector::Id(id.clone()), "name", "type");
                self.push(Target::Nodes, condition)
            }
            FilterExpr::Edge(edge) => {
                let source = node_matches(&edge.source, "caller_name", "caller_type");
                let destination = node_matches(&edge.destination, "callee_name", "callee_type");
                let braces = edge.filter.as_deref().map(|f| rows(f, Rows::Edge)).transpose()?;
                let condition = [source, destination].into_iter().chain(braces).reduce(Expr::and).unwrap_or(lit(true));
                self.push(Target::Edges, condition)
            }
            FilterExpr::Group(group) => self.group(group, groups, depth)?,
            FilterExpr::RootCause(filter) => {
                let cause = col("cause").eq(lit(cause_name(filter.cause)));
                let braces = filter.filter.as_deref().map(|f| rows(f, Rows::RootCause)).transpose()?;
                let condition = braces.map_or(cause.clone(), |braces| cause.and(braces));
                self.response_time_causes |= filter.cause == RootCauseKind::ResponseTime;
                self.push(Target::RootCause(filter.list), condition)
            }
            FilterExpr::RootCauseJson(literal) => {
                // Matched per trace in Rust (`root_cause_json.rs`), not as a row aggregate.
                let name = format!("__m{}", self.next_column);
                self.next_column += 1;
                self.root_cause_patterns.push((name.clone(), RootCausePatterns::new(literal)?));
                col(name.as_str())
            }
        })
    }

    fn all(&mut self, children: &[FilterExpr], groups: &dyn GroupResolver, depth: usize) -> Result<Vec<Expr>> {
        children.iter().map(|child| self.trace(child, groups, depth)).collect()
    }

    fn group(&mut self, group: &GroupRef, groups: &dyn GroupResolver, depth: usize) -> Result<Expr> {
        let described = match group {
            GroupRef::Name(name) => format!("group \"{name}\""),
            GroupRef::Arn(arn) => format!("group \"{arn}\""),
        };
        if depth >= MAX_GROUP_DEPTH {
            return Err(AnalyzerError::InvalidRequest(format!(
                "{described} nests groups more than {MAX_GROUP_DEPTH} deep"
            )));
        }
        let Some(text) = groups.group_filter(group) else {
            return Err(AnalyzerError::InvalidRequest(format!("{described} does not exist")));
        };
        if text.trim().is_empty() {
            return Ok(lit(true));
        }
        let expr = parse_filter(&text).map_err(|error| {
            AnalyzerError::InvalidRequest(format!("the filter expression of {described} is invalid: {error}"))
        })?;
        self.trace(&expr, groups, depth + 1)
    }

    fn trace_comparison(&mut self, comparison: &Comparison) -> Result<Expr> {
        use Keyword::{
            Annotation, AvailabilityZone, Duration, Error, Fault, HttpClientIp, HttpMethod, HttpStatus, HttpUrl,
            HttpUserAgent, Inferred, InstanceId, Partial, ResourceArn, ResponseTime, Throttle, User,
        };
        let test = &comparison.test;
        Ok(match &comparison.keyword {
            ResponseTime
            | Duration
            | HttpStatus
            | HttpUrl
            | HttpMethod
            | HttpUserAgent
            | HttpClientIp
            | Error
            | Fault
            | Throttle
            | Partial
            | Keyword::Ok => {
                self.trace_http_columns.extend(root_http_column(&comparison.keyword));
                row_comparison(&comparison.keyword, test)?
            }
            User | AvailabilityZone | InstanceId | ResourceArn => {
                let condition = row_comparison(&comparison.keyword, test)?;
                self.push(Target::Spans, condition)
            }
            Inferred => {
                let condition = row_comparison(&comparison.keyword, test)?;
                // `inferred` at the trace level: the trace has an inferred node (`!inferred`:
                // it has none), not "some node is not inferred".
                let (op, wanted) = match test {
                    Test::Bool(op, wanted) => (*op, *wanted),
                    _ => (EqualityOp::Eq, true),
                };
                let any_inferred = self.push(Target::Nodes, col("inferred"));
                let _ = condition;
                match (op, wanted) {
                    (EqualityOp::Eq, true) | (EqualityOp::Ne, false) => any_inferred,
                    _ => any_inferred.not(),
                }
            }
            Annotation(key) => {
                let condition = col("key").eq(lit(key.as_str())).and(annotation_test(test));
                self.push(Target::Annotations, condition)
            }
            other => return Err(not_here(other)),
        })
    }
}

/// The span columns of "any segment of the trace" keywords (`Target::Spans` aggregates).
const TRACE_WIDE_COLUMNS: [&str; 4] =
    [columns::USER, columns::AWS_AVAILABILITY_ZONE, columns::AWS_INSTANCE_ID, columns::AWS_RESOURCE_ARN];

/// The root-segment column a trace-level keyword reads from the trace frame, if it is one of
/// the optional [`ROOT_HTTP_COLUMNS`].
fn root_http_column(keyword: &Keyword) -> Option<&'static str> {
    let column = match keyword {
        Keyword::HttpStatus => columns::HTTP_STATUS,
        Keyword::HttpUrl => columns::HTTP_URL,
        Keyword::HttpMethod => columns::HTTP_METHOD,
        Keyword::HttpUserAgent => columns::HTTP_USER_AGENT,
        Keyword::HttpClientIp => columns::HTTP_CLIENT_IP,
        _ => return None,
    };
    debug_assert!(ROOT_HTTP_COLUMNS.contains(&column));
    Some(column)
}

/// Where an aggregate's row condition is evaluated.
#[derive(Clone, Copy)]
enum Target {
    Spans,
    Nodes,
    Edges,
    Annotations,
    RootCause(RootCauseList),
}

fn fold(exprs: Vec<Expr>, combine: fn(Expr, Expr) -> Expr) -> Expr {
    exprs.into_iter().reduce(combine).unwrap_or(lit(true))
}

fn not_here(keyword: &Keyword) -> AnalyzerError {
    AnalyzerError::Unsupported(format!("{keyword:?} cannot be evaluated here"))
}

fn cause_name(kind: RootCauseKind) -> &'static str {
    match kind {
        RootCauseKind::Fault => "fault",
        RootCauseKind::Error => "error",
        RootCauseKind::ResponseTime => "responsetime",
    }
}

/// A brace expression, per row of a row frame.
fn rows(expr: &FilterExpr, frame: Rows) -> Result<Expr> {
    Ok(match expr {
        FilterExpr::Or(children) => fold(children.iter().map(|c| rows(c, frame)).collect::<Result<_>>()?, Expr::or),
        FilterExpr::And(children) => fold(children.iter().map(|c| rows(c, frame)).collect::<Result<_>>()?, Expr::and),
        FilterExpr::Not(child) => rows(child, frame)?.not(),
        FilterExpr::Compare(comparison) => match (frame, &comparison.keyword) {
            (Rows::RootCause, keyword) => root_cause_comparison(keyword, &comparison.test)?,
            (_, keyword) => row_comparison(keyword, &comparison.test)?,
        },
        _ => {
            return Err(AnalyzerError::Unsupported(format!(
                "{expr} cannot be nested inside braces; write it at the top level"
            )))
        }
    })
}

/// A keyword compared on a span-like row (trace frame, node rows, call rows): the columns have
/// the same names in all of them.
fn row_comparison(keyword: &Keyword, test: &Test) -> Result<Expr> {
    use Keyword::*;
    let column = match keyword {
        Keyword::Ok => {
            let failed = col(columns::ERROR).or(col(columns::FAULT)).or(col(columns::THROTTLE)).fill_null(lit(false));
            return Result::Ok(value_test(failed.not(), test));
        }
        // Times compare in whole microseconds, the stored precision: in seconds, `0.05 < 0.05`
        // could hold after float division.
        ResponseTime => return Result::Ok(time_test("responsetime_us", test)),
        Duration => return Result::Ok(time_test("duration_us", test)),
        HttpStatus => columns::HTTP_STATUS,
        HttpUrl => columns::HTTP_URL,
        HttpMethod => columns::HTTP_METHOD,
        HttpUserAgent => columns::HTTP_USER_AGENT,
        HttpClientIp => columns::HTTP_CLIENT_IP,
        User => columns::USER,
        AvailabilityZone => columns::AWS_AVAILABILITY_ZONE,
        InstanceId => columns::AWS_INSTANCE_ID,
        ResourceArn => columns::AWS_RESOURCE_ARN,
        Error => columns::ERROR,
        Fault => columns::FAULT,
        Throttle => columns::THROTTLE,
        Partial => "partial",
        Inferred => "inferred",
        Root => "root",
        Name => "name",
        Type => "type",
        other => return Err(not_here(other)),
    };
    Result::Ok(value_test(col(column), test))
}

fn root_cause_comparison(keyword: &Keyword, test: &Test) -> Result<Expr> {
    use Keyword::{Coverage, First, Index, Inferred, Last, Message, Name, Remote, Type};
    let column = match keyword {
        Name => "name",
        Type => "type",
        Message => "message",
        Inferred => "inferred",
        Remote => "remote",
        Coverage => "coverage",
        Index => "index",
        First => "first",
        Last => "last",
        other => return Err(not_here(other)),
    };
    Ok(value_test(col(column), test))
}

/// A number test on seconds, applied to a column of microseconds.
fn time_test(column: &str, test: &Test) -> Expr {
    match test {
        Test::Number(op, seconds) => value_test(col(column), &Test::Number(*op, (seconds * 1e6).round())),
        other => value_test(col(column), other),
    }
}

/// `test` applied to a column; missing values never match (except `!` around it).
fn value_test(value: Expr, test: &Test) -> Expr {
    let tested = match test {
        Test::Exists => value.is_not_null(),
        Test::Bool(EqualityOp::Eq, wanted) => value.eq(lit(*wanted)),
        Test::Bool(EqualityOp::Ne, wanted) => value.neq(lit(*wanted)),
        Test::Number(op, number) => number_test(value.cast(DataType::Float64), *op, *number),
        Test::Text(op, text) => string_test(value, *op, text),
    };
    tested.fill_null(lit(false))
}

fn number_test(value: Expr, op: NumberOp, number: f64) -> Expr {
    let number = lit(number);
    match op {
        NumberOp::Eq => value.eq(number),
        NumberOp::Ne => value.neq(number),
        NumberOp::Lt => value.lt(number),
        NumberOp::Le => value.lt_eq(number),
        NumberOp::Gt => value.gt(number),
        NumberOp::Ge => value.gt_eq(number),
    }
}

/// String operators, case-sensitive. `CONTAINS`/`BEGINSWITH`/`ENDSWITH` map the whole column
/// at once with Rust's `str` methods (see the module doc for why not polars' kernels).
fn string_test(value: Expr, op: StringOp, text: &str) -> Expr {
    let predicate: fn(&str, &str) -> bool = match op {
        StringOp::Eq => return value.eq(lit(text)),
        StringOp::Ne => return value.neq(lit(text)),
        StringOp::Contains => |value, text| value.contains(text),
        StringOp::BeginsWith => |value, text| value.starts_with(text),
        StringOp::EndsWith => |value, text| value.ends_with(text),
    };
    let text = text.to_owned();
    value.map(
        move |column: Column| {
            let strings = column.cast(&DataType::String)?;
            let tested: BooleanChunked =
                strings.str()?.iter().map(|value| value.map(|value| predicate(value, &text))).collect();
            Ok(tested.with_name(column.name().clone()).into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::Boolean)),
    )
}

/// An annotation's value test on the exploded annotation frame; the value's type is the
/// literal's (a number never equals a string).
fn annotation_test(test: &Test) -> Expr {
    match test {
        Test::Exists => lit(true),
        Test::Bool(..) => value_test(col("bool"), test),
        Test::Number(..) => value_test(col("number"), test),
        Test::Text(..) => value_test(col("string"), test),
    }
}

/// `service(NAME)`/`edge(..)`'s node selector over the given name and type columns.
fn node_matches(node: &NodeSelector, name_column: &str, type_column: &str) -> Expr {
    match node {
        NodeSelector::Name(name) => col(name_column).eq(lit(name.as_str())).fill_null(lit(false)),
        NodeSelector::Id(NodeId { name, node_type }) => {
            let name = name.as_ref().map(|name| col(name_column).eq(lit(name.as_str())));
            let node_type = node_type.as_ref().map(|t| col(type_column).eq(lit(t.as_str())));
            name.into_iter().chain(node_type).reduce(Expr::and).unwrap_or(lit(true)).fill_null(lit(false))
        }
    }
}

fn join_aggregates(traces: LazyFrame, rows: LazyFrame, aggregates: &[Aggregate], names: &mut Vec<String>) -> LazyFrame {
    names.extend(aggregates.iter().map(|(name, _)| name.clone()));
    let key = [col(TRACE_HI), col(TRACE_LO)];
    let per_trace = rows.group_by(key.clone()).agg(aggregates.iter().map(|(_, expr)| expr.clone()).collect::<Vec<_>>());
    traces.join(per_trace, key.clone(), key, JoinArgs::new(JoinType::Left))
}
