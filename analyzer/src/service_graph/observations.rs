//! Spans → observations: one row per request a node handled and one row per call on an edge,
//! each keyed by node identity (name, type, account) and carrying the status flags and timing
//! the statistics are computed from. The service graph and the time series both aggregate these.
//!
//! Every step is a columnar join or filter (xray.md 5.1–5.2):
//! - service nodes: one observation per segment;
//! - caller → callee edges: callee segment ⋈ caller span on `parent_id = id` within the trace;
//!   a subsegment caller gives the call's timing and status (the caller's view), a segment
//!   caller (e.g. `AWS::Lambda` → `AWS::Lambda::Function`) leaves the callee segment's;
//! - inferred nodes and their edges: `aws`/`remote` subsegments not `http.request.traced` and
//!   not matched by a callee segment (a left join with a marker, since anti joins need another
//!   polars feature);
//! - client edges: one per root segment, `client` → root node.

use polars::prelude::*;

use super::inferred::inferred_node;
use crate::error::Result;
use crate::spans::{TRACE_HI, TRACE_LO};

/// Node-identity columns of node observations; edges prefix them with `src_`/`dst_`.
pub(crate) const NAME: &str = "name";
pub(crate) const TYPE: &str = "type";
pub(crate) const ACCOUNT: &str = "account";
/// Node observations: the node was the entry point of the trace.
pub(crate) const ROOT: &str = "root";
/// Node observations: the node was inferred from calls, not reported by itself.
pub(crate) const INFERRED: &str = "inferred";
/// Observation timing and status, shared by nodes and edges.
pub(crate) const START_US: &str = "start_us";
pub(crate) const END_US: &str = "end_us";
pub(crate) const IN_PROGRESS: &str = "in_progress";
pub(crate) const ERROR: &str = "error";
pub(crate) const FAULT: &str = "fault";
pub(crate) const THROTTLE: &str = "throttle";
/// A span's node key in the span frame (`name` there is the span's own name).
pub(crate) const NODE_NAME: &str = "node_name";
pub(crate) const NODE_TYPE: &str = "node_type";
pub(crate) const NODE_ACCOUNT: &str = "node_account";
/// The `Type` of the synthetic caller of a root node.
pub(crate) const CLIENT_TYPE: &str = "client";

const STATUS: [&str; 6] = [START_US, END_US, IN_PROGRESS, ERROR, FAULT, THROTTLE];
const SEGMENT: &str = "segment";
const SUBSEGMENT: &str = "subsegment";

/// The span columns observations are made from (for [`crate::load_spans`]).
pub const GRAPH_COLUMNS: [&str; 21] = [
    TRACE_HI,
    TRACE_LO,
    "id",
    "parent_id",
    "kind",
    "service",
    "name",
    "origin",
    "namespace",
    START_US,
    END_US,
    IN_PROGRESS,
    ERROR,
    FAULT,
    THROTTLE,
    "traced",
    "aws_account_id",
    "aws_table",
    "aws_queue",
    "aws_resource",
    "sql_url",
];

/// What the graph is aggregated from.
#[derive(Debug, Clone)]
pub(crate) struct Observations {
    /// trace, node key, [`ROOT`], [`INFERRED`], status columns.
    pub nodes: DataFrame,
    /// trace, `src_*` and `dst_*` node keys, status columns.
    pub edges: DataFrame,
    /// Spans with their node key, for trace durations.
    pub spans: DataFrame,
}

/// Observations of deduplicated spans (see `spans::load_spans`).
pub(crate) fn observe(spans: LazyFrame) -> Result<Observations> {
    // Collected once: every step below reads it again, and a lazy clone would rescan the store.
    let spans = with_node_keys(spans).collect()?;
    let segments = spans.clone().lazy().filter(col("kind").eq(lit(SEGMENT)));
    let links = callee_links(&spans);
    let inferred = inferred_calls(&spans, links.clone())?;
    let service_nodes = segments.clone().select(node_observation(col("parent_id").is_null(), false));
    let inferred_nodes = inferred.clone().select(inferred_node_observation());
    let nodes = concat([service_nodes, inferred_nodes], UnionArgs::default())?.collect()?;
    let edges = concat([client_edges(segments), callee_edges(links), inferred_edges(inferred)], UnionArgs::default())?
        .collect()?;
    Ok(Observations { nodes, edges, spans })
}

/// Keeps the columns the graph needs, drops subsegments not yet attached to a service, and adds
/// each span's node key: its service, origin and the account of its service's segment.
fn with_node_keys(spans: LazyFrame) -> LazyFrame {
    let spans = spans.filter(col("service").is_not_null()).select(GRAPH_COLUMNS.map(col));
    // Subsegments do not carry the account; their segment in the same trace does.
    let accounts = spans
        .clone()
        .filter(col("kind").eq(lit(SEGMENT)).and(col("aws_account_id").is_not_null()))
        .group_by([col(TRACE_HI), col(TRACE_LO), col("service")])
        .agg([col("aws_account_id").first().alias(NODE_ACCOUNT)]);
    let on = [col(TRACE_HI), col(TRACE_LO), col("service")];
    spans.join(accounts, on.clone(), on, JoinArgs::new(JoinType::Left)).with_columns([
        col("service").alias(NODE_NAME),
        col("origin").fill_null(lit("")).alias(NODE_TYPE),
        col(NODE_ACCOUNT).fill_null(lit("")),
    ])
}

/// Callee segments joined with the span they name as parent: columns `c_*` (callee, with its
/// node key as `dst_*`) and `p_*` (caller, node key as `src_*`).
fn callee_links(spans: &DataFrame) -> LazyFrame {
    let callees = spans.clone().lazy().filter(col("kind").eq(lit(SEGMENT)).and(col("parent_id").is_not_null())).select(
        [col(TRACE_HI), col(TRACE_LO), col("parent_id"), col("id").alias("c_id")]
            .into_iter()
            .chain(prefixed_key("dst_"))
            .chain(STATUS.iter().map(|name| col(*name).alias(format!("c_{name}"))))
            .collect::<Vec<_>>(),
    );
    let callers = spans.clone().lazy().select(
        [col(TRACE_HI), col(TRACE_LO), col("id"), col("kind").alias("p_kind")]
            .into_iter()
            .chain(prefixed_key("src_"))
            .chain(STATUS.iter().map(|name| col(*name).alias(format!("p_{name}"))))
            .collect::<Vec<_>>(),
    );
    let left = [col(TRACE_HI), col(TRACE_LO), col("parent_id")];
    let right = [col(TRACE_HI), col(TRACE_LO), col("id")];
    callees.join(callers, left, right, JoinArgs::new(JoinType::Inner))
}

/// One edge observation per call: per caller subsegment (however many segments answered it),
/// or per callee segment when the caller is a segment.
fn callee_edges(links: LazyFrame) -> LazyFrame {
    let from_subsegment = col("p_kind").eq(lit(SUBSEGMENT));
    let call_id = when(from_subsegment.clone()).then(col("parent_id")).otherwise(col("c_id")).alias("call_id");
    let status = STATUS.iter().map(|name| {
        when(from_subsegment.clone()).then(col(format!("p_{name}"))).otherwise(col(format!("c_{name}"))).alias(*name)
    });
    links
        .with_column(call_id)
        .unique_stable_generic(Some(vec![col(TRACE_HI), col(TRACE_LO), col("call_id")]), UniqueKeepStrategy::First)
        .select(edge_columns(status.collect()))
}

/// `aws`/`remote` subsegments, not traced and not answered by a segment, with their inferred
/// node key as `dst_*`.
fn inferred_calls(spans: &DataFrame, links: LazyFrame) -> Result<LazyFrame> {
    let answered = links
        .select([col(TRACE_HI), col(TRACE_LO), col("parent_id").alias("id"), lit(true).alias("answered")])
        .unique_generic(None, UniqueKeepStrategy::Any);
    let downstream = col("namespace").eq(lit("aws")).or(col("namespace").eq(lit("remote")));
    let is_call = col("kind").eq(lit(SUBSEGMENT)).and(downstream).and(col("traced").not());
    let on = [col(TRACE_HI), col(TRACE_LO), col("id")];
    let calls = spans
        .clone()
        .lazy()
        .filter(is_call)
        .join(answered, on.clone(), on, JoinArgs::new(JoinType::Left))
        .filter(col("answered").is_null())
        .with_columns(resource_flags());
    let targets = inferred_targets(calls.clone())?;
    let on = ["name_call", "namespace", "has_table", "has_queue", "has_resource", "has_sql"].map(col);
    let calls = calls.with_column(col("name").alias("name_call"));
    Ok(calls.join(targets.lazy(), on.clone(), on, JoinArgs::new(JoinType::Inner)))
}

fn resource_flags() -> [Expr; 4] {
    [
        col("aws_table").is_not_null().alias("has_table"),
        col("aws_queue").is_not_null().alias("has_queue"),
        col("aws_resource").is_not_null().alias("has_resource"),
        col("sql_url").is_not_null().alias("has_sql"),
    ]
}

/// The inferred node of each distinct kind of call: few rows (one per downstream name and
/// resource shape), so the naming rules run in Rust and are joined back.
fn inferred_targets(calls: LazyFrame) -> Result<DataFrame> {
    let kinds = calls
        .select([
            col("name").alias("name_call"),
            col("namespace"),
            col("has_table"),
            col("has_queue"),
            col("has_resource"),
            col("has_sql"),
        ])
        .unique_generic(None, UniqueKeepStrategy::Any)
        .collect()?;
    let names = kinds.column("name_call")?.str()?;
    let namespaces = kinds.column("namespace")?.str()?;
    let flag = |name: &str| -> Result<Vec<bool>> {
        Ok(kinds.column(name)?.bool()?.iter().map(|value| value.unwrap_or(false)).collect())
    };
    let (tables, queues, resources, sqls) =
        (flag("has_table")?, flag("has_queue")?, flag("has_resource")?, flag("has_sql")?);
    let mut dst_names = Vec::with_capacity(kinds.height());
    let mut dst_types = Vec::with_capacity(kinds.height());
    for row in 0..kinds.height() {
        let call = super::inferred::DownstreamCall {
            name: names.get(row).unwrap_or_default(),
            namespace: namespaces.get(row).unwrap_or_default(),
            has_table: tables[row],
            has_queue: queues[row],
            has_resource: resources[row],
            has_sql: sqls[row],
        };
        let (name, node_type) = inferred_node(&call);
        dst_names.push(name);
        dst_types.push(node_type);
    }
    let mut targets = kinds;
    targets.with_column(Column::new("dst_name".into(), dst_names))?;
    targets.with_column(Column::new("dst_type".into(), dst_types))?;
    targets.with_column(Column::new("dst_account".into(), vec![String::new(); targets.height()]))?;
    Ok(targets)
}

fn inferred_edges(inferred: LazyFrame) -> LazyFrame {
    inferred.select(edge_columns_from_span(["dst_name", "dst_type", "dst_account"].map(col)))
}

fn inferred_node_observation() -> Vec<Expr> {
    let key = [col("dst_name").alias(NAME), col("dst_type").alias(TYPE), col("dst_account").alias(ACCOUNT)];
    observation_columns(key, lit(false), true)
}

fn client_edges(segments: LazyFrame) -> LazyFrame {
    let client = [col(NODE_NAME).alias("src_name"), lit(CLIENT_TYPE).alias("src_type"), lit("").alias("src_account")];
    let mut columns = vec![col(TRACE_HI), col(TRACE_LO)];
    columns.extend(client);
    columns.extend(prefixed_key("dst_"));
    columns.extend(STATUS.iter().map(|name| col(*name)));
    segments.filter(col("parent_id").is_null()).select(columns)
}

fn node_observation(root: Expr, inferred: bool) -> Vec<Expr> {
    observation_columns(prefixed_key(""), root, inferred)
}

fn observation_columns(key: [Expr; 3], root: Expr, inferred: bool) -> Vec<Expr> {
    let mut columns = vec![col(TRACE_HI), col(TRACE_LO)];
    columns.extend(key);
    columns.extend([root.alias(ROOT), lit(inferred).alias(INFERRED)]);
    columns.extend(STATUS.iter().map(|name| col(*name)));
    columns
}

/// Edge columns for calls made by a span: the span's node is the source.
fn edge_columns_from_span(destination: [Expr; 3]) -> Vec<Expr> {
    let mut columns = vec![col(TRACE_HI), col(TRACE_LO)];
    columns.extend(prefixed_key("src_"));
    columns.extend(destination.into_iter().zip(["dst_name", "dst_type", "dst_account"]).map(|(e, n)| e.alias(n)));
    columns.extend(STATUS.iter().map(|name| col(*name)));
    columns
}

/// Edge columns of a callee link, `status` already chosen between caller and callee.
fn edge_columns(status: Vec<Expr>) -> Vec<Expr> {
    let mut columns = vec![col(TRACE_HI), col(TRACE_LO)];
    columns.extend(["src_name", "src_type", "src_account", "dst_name", "dst_type", "dst_account"].map(col));
    columns.extend(status);
    columns
}

/// A span's node key, renamed `{prefix}name`, `{prefix}type`, `{prefix}account`.
fn prefixed_key(prefix: &str) -> [Expr; 3] {
    [(NODE_NAME, NAME), (NODE_TYPE, TYPE), (NODE_ACCOUNT, ACCOUNT)]
        .map(|(column, name)| col(column).alias(format!("{prefix}{name}")))
}
