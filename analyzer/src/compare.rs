//! Trace-set comparison (analyzer issue, spec `petadoptions.md` 5(c)): two sets of traces in
//! one time range, each defined by a filter expression (the baseline defaults to the
//! complement of the selection), compared by response-time distribution and by how
//! differently every attribute value is represented in them.
//!
//! Read path: [`load_spans`](crate::spans::load_spans) over the range widened by [`TRACE_SLACK_US`](crate::TRACE_SLACK_US) → [`trace_frame`](crate::trace_frame::trace_frame)
//! → the group's filter, when a group is given → each expression's `CompiledFilter::apply` → set membership `(trace, set)` → the per-trace
//! attribute table `(trace, attribute, value)`, built columnarly (root columns of the trace
//! frame, span columns, exploded annotations and exceptions) → one group-by counting traces
//! per `(attribute, value, set)` → [`effect_size`] per value.
//!
//! Attributes: `http.status`, `http.url` (path, without scheme, host and query), `http.method`,
//! `entrypoint` (root segment's service), `service` (every segment and downstream call),
//! `user`, `annotation` (`key=value`), `fault`/`error`/`throttle` (the root's flags),
//! `exception` (exception types recorded on any span), and `rootcause.fault.service`,
//! `rootcause.error.service`, `rootcause.responsetime.service` (the service a root cause ends
//! in). Root causes are a walk per trace (`root_cause.rs`), the one non-columnar step.
//!
//! The effect-size measure, per attribute value, with `p1` the share of selection traces that
//! have it and `p2` the share of baseline traces:
//!
//! - `Difference = p1 − p2`: what an on-call engineer reads ("500 is in 80 % of slow traces vs
//!   2 % of the rest"), bounded, and zero for values every trace has (`service=web`).
//! - The log odds ratio with 0.5 added to each of the four cells (Haldane–Anscombe), its
//!   standard error `√(1/a + 1/b + 1/c + 1/d)` and `Z = log OR / SE`: defined when a value is
//!   absent from one set, and small when the counts are small, so it says how much the
//!   difference can be trusted.
//! - `Score = |Difference| · min(1, |Z| / 1.96)`: the ranking. A difference that is
//!   significant at the 5 % level keeps its full size; a difference resting on a handful of
//!   traces is shrunk in proportion to its evidence. The odds ratio alone is not the ranking
//!   because it rewards rare values (one user in 1 of 3 slow traces and 0 of 500 others has a
//!   huge odds ratio and explains almost nothing); Cohen's h has the same problem with shares
//!   near 0 and says nothing about counts. Ties (values that always occur together) put
//!   over-represented values first — they describe the selection — then larger `|Z|`, then
//!   names.

use std::collections::BTreeMap;

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use fluoro_store::Store;
use polars::prelude::*;
use serde::Serialize;

use crate::error::{AnalyzerError, FilterError, Result};
use crate::filter::{compile_filter, parse_filter, FilterExpr, GroupRef, GroupResolver, MatchFrames};
use crate::filter_latency::durations_of;
use crate::histogram::{HistogramEntry, Percentiles};
use crate::root_cause::{root_causes, RootCause};
use crate::span_record::{records_by_trace, root_index};
use crate::spans::SPAN_COLUMNS;
use crate::trace_frame::{window_traces, TimeRangeType};

/// The z-score at which a difference keeps its full weight (two-sided 5 %).
const FULL_WEIGHT_Z: f64 = 1.96;
const SELECTION: &str = "selection";
const BASELINE: &str = "baseline";

/// The answer of [`compare_trace_sets`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceSetComparison {
    pub selection: TraceSetStatistics,
    pub baseline: TraceSetStatistics,
    /// Every attribute value, best [`EffectSize::score`] first.
    pub ranking: Vec<AttributeDifference>,
    /// The same rows grouped by attribute; groups ordered by their best row.
    pub attributes: Vec<AttributeBreakdown>,
}

/// One set's size and response-time distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceSetStatistics {
    /// The expression; `None` for the complement of the selection.
    pub expression: Option<String>,
    pub traces: u64,
    /// p50/p90/p95/p99 in seconds; `None` when no trace of the set has a response time.
    pub percentiles: Option<Percentiles>,
    pub distribution: Vec<HistogramEntry>,
}

/// How differently one attribute value is represented in the two sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDifference {
    pub attribute: String,
    pub value: String,
    pub selection_traces: u64,
    pub baseline_traces: u64,
    #[serde(flatten)]
    pub effect: EffectSize,
    /// "http.status: 500 is in 80% of the selection vs 2% of the baseline".
    pub description: String,
}

/// One attribute's values, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeBreakdown {
    pub attribute: String,
    pub values: Vec<AttributeDifference>,
}

/// The measure of the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EffectSize {
    pub selection_share: f64,
    pub baseline_share: f64,
    pub difference: f64,
    pub log_odds_ratio: f64,
    pub standard_error: f64,
    pub z: f64,
    pub score: f64,
}

/// The effect size of a value held by `selection_with` of `selection_total` selection traces
/// and `baseline_with` of `baseline_total` baseline traces (see the module doc). An empty set
/// has share 0.
pub fn effect_size(selection_with: u64, selection_total: u64, baseline_with: u64, baseline_total: u64) -> EffectSize {
    let share = |with: u64, total: u64| if total == 0 { 0.0 } else { with as f64 / total as f64 };
    let (selection_share, baseline_share) =
        (share(selection_with, selection_total), share(baseline_with, baseline_total));
    let a = selection_with as f64 + 0.5;
    let b = selection_total.saturating_sub(selection_with) as f64 + 0.5;
    let c = baseline_with as f64 + 0.5;
    let d = baseline_total.saturating_sub(baseline_with) as f64 + 0.5;
    let log_odds_ratio = (a * d / (b * c)).ln();
    let standard_error = (1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d).sqrt();
    let z = log_odds_ratio / standard_error;
    let difference = selection_share - baseline_share;
    let score = difference.abs() * (z.abs() / FULL_WEIGHT_Z).min(1.0);
    EffectSize { selection_share, baseline_share, difference, log_odds_ratio, standard_error, z, score }
}

/// One side of a comparison: a filter expression, parsed, with the text it was given as (the
/// answer reports it). An empty text selects every trace, as in GetTraceSummaries.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSetFilter {
    text: String,
    expr: FilterExpr,
}

impl TraceSetFilter {
    pub fn parse(text: &str) -> std::result::Result<Self, FilterError> {
        let expr = if text.trim().is_empty() { parse_filter("ok OR !ok")? } else { parse_filter(text)? };
        Ok(TraceSetFilter { text: text.to_owned(), expr })
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What [`compare_trace_sets`] compares: the traces that started in `[from_us, to_us)` and
/// match `selection`, against those matching `baseline`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonQuery {
    pub from_us: i64,
    pub to_us: i64,
    pub selection: TraceSetFilter,
    /// `None`: the traces not matching `selection`.
    pub baseline: Option<TraceSetFilter>,
    /// Both sets hold only this group's traces (its current filter expression).
    pub group: Option<GroupRef>,
}

/// Compares two sets of traces (see [`ComparisonQuery`]). `group.*` conditions and the group
/// are resolved through `groups`.
pub fn compare_trace_sets(
    store: &Store,
    query: &ComparisonQuery,
    groups: &dyn GroupResolver,
) -> Result<TraceSetComparison> {
    let selection_filter = compile_filter(&query.selection.expr, groups)?;
    let baseline_filter = query.baseline.as_ref().map(|baseline| compile_filter(&baseline.expr, groups)).transpose()?;
    let group_filter =
        query.group.as_ref().map(|group| compile_filter(&FilterExpr::Group(group.clone()), groups)).transpose()?;
    let (spans, window_traces) =
        window_traces(store, query.from_us, query.to_us, SPAN_COLUMNS, TimeRangeType::TraceId)?;
    let frames = MatchFrames::new(spans);
    // Scoping the trace frame once, rather than AND-ing the group into each expression, also
    // scopes the default baseline: its complement is taken within the group.
    let traces = match &group_filter {
        Some(filter) => filter.apply(&frames, window_traces)?,
        None => window_traces,
    };
    let selected = selection_filter.apply(&frames, traces.clone())?;
    let baseline_traces = match &baseline_filter {
        Some(filter) => filter.apply(&frames, traces.clone())?,
        None => complement(&traces, &selected)?,
    };
    let membership = membership(&selected, &baseline_traces)?;
    let attributes = attribute_table(frames.spans(), &traces)?;
    let counts = count_per_set(attributes, membership)?;
    let (selection_total, baseline_total) = (selected.height() as u64, baseline_traces.height() as u64);
    let ranking = rank(counts, selection_total, baseline_total);
    Ok(TraceSetComparison {
        selection: statistics(Some(query.selection.text.clone()), &selected)?,
        baseline: statistics(query.baseline.as_ref().map(|baseline| baseline.text.clone()), &baseline_traces)?,
        attributes: group_by_attribute(&ranking),
        ranking,
    })
}

/// The rows of `traces` not in `selected`.
fn complement(traces: &DataFrame, selected: &DataFrame) -> Result<DataFrame> {
    let key = [col(TRACE_HI), col(TRACE_LO)];
    let marked = selected.clone().lazy().select([col(TRACE_HI), col(TRACE_LO), lit(true).alias("__selected")]);
    Ok(traces
        .clone()
        .lazy()
        .join(marked, key.clone(), key, JoinArgs::new(JoinType::Left))
        .filter(col("__selected").is_null())
        .drop(cols(["__selected"]))
        .collect()?)
}

/// `(trace_hi, trace_lo, set)`: a trace in both sets (explicit baseline) has two rows.
fn membership(selected: &DataFrame, baseline: &DataFrame) -> Result<LazyFrame> {
    let tagged = |frame: &DataFrame, set: &str| {
        frame.clone().lazy().select([col(TRACE_HI), col(TRACE_LO), lit(set).alias("set")])
    };
    Ok(concat([tagged(selected, SELECTION), tagged(baseline, BASELINE)], UnionArgs::default())?)
}

/// Response-time percentiles and distribution of a filtered trace frame, exact as
/// `/api/histogram` reports them (`filter_latency.rs`).
fn statistics(expression: Option<String>, traces: &DataFrame) -> Result<TraceSetStatistics> {
    let response_times = durations_of(traces, "responsetime_us")?;
    Ok(TraceSetStatistics {
        expression,
        traces: traces.height() as u64,
        percentiles: response_times.percentiles(),
        distribution: response_times.distribution(),
    })
}

/// Distinct `(trace_hi, trace_lo, attribute, value)` rows of every trace in `traces`.
fn attribute_table(spans: &DataFrame, traces: &DataFrame) -> Result<LazyFrame> {
    let trace_rows = traces.clone().lazy();
    let span_rows = spans.clone().lazy();
    let root_names = span_rows.clone().filter(col(columns::KIND).eq(lit("segment"))).select([
        col(TRACE_HI),
        col(TRACE_LO),
        col(columns::ID).alias("root_id"),
        col(columns::NAME).alias("value"),
    ]);
    let root_key = [col(TRACE_HI), col(TRACE_LO), col("root_id")];
    let entry_points = trace_rows.clone().select(root_key.clone()).join(
        root_names,
        root_key.clone(),
        root_key,
        JoinArgs::new(JoinType::Inner),
    );
    let downstream = col(columns::NAMESPACE).eq(lit("aws")).or(col(columns::NAMESPACE).eq(lit("remote")));
    let services = span_rows.clone().filter(col(columns::KIND).eq(lit("segment")).or(downstream));
    let mut parts = vec![
        rows(trace_rows.clone(), "http.status", col("root_http_status").cast(DataType::UInt32)),
        rows(trace_rows.clone(), "http.url", url_path(col(columns::HTTP_URL))),
        rows(trace_rows.clone(), "http.method", col(columns::HTTP_METHOD)),
        rows(entry_points, "entrypoint", col("value")),
        rows(services, "service", col(columns::NAME)),
        rows(span_rows.clone(), "user", col(columns::USER)),
        rows(annotation_rows(span_rows.clone()), "annotation", col("value")),
        rows(exception_rows(span_rows), "exception", col("value")),
    ];
    for flag in ["fault", "error", "throttle"] {
        parts.push(rows(trace_rows.clone().filter(col(flag)), flag, lit("true")));
    }
    parts.push(root_cause_rows(spans, traces)?.lazy());
    Ok(concat(parts, UnionArgs::default())?.unique_generic(None, UniqueKeepStrategy::Any))
}

/// `(trace_hi, trace_lo, attribute, value)` from one column of a frame; nulls dropped.
fn rows(frame: LazyFrame, attribute: &str, value: Expr) -> LazyFrame {
    frame
        .select([
            col(TRACE_HI),
            col(TRACE_LO),
            lit(attribute).alias("attribute"),
            value.cast(DataType::String).alias("value"),
        ])
        .filter(col("value").is_not_null())
}

/// Annotations exploded to `key=value` strings.
fn annotation_rows(spans: LazyFrame) -> LazyFrame {
    let options = ExplodeOptions { empty_as_null: false, keep_nulls: false };
    let field = |name: &str| col(columns::ANNOTATIONS).struct_().field_by_name(name).alias(name);
    let exploded = spans
        .select([col(TRACE_HI), col(TRACE_LO), col(columns::ANNOTATIONS)])
        .explode(cols([columns::ANNOTATIONS]), options);
    let parts = [field("key"), field("string"), field("number").cast(DataType::Float64), field("bool")];
    let value = map_multiple(
        |columns: &mut [Column]| {
            let keys = columns[0].cast(&DataType::String)?;
            let strings = columns[1].cast(&DataType::String)?;
            let (numbers, bools) = (columns[2].f64()?.clone(), columns[3].cast(&DataType::Boolean)?);
            let rows = keys.str()?.iter().zip(strings.str()?.iter()).zip(numbers.iter()).zip(bools.bool()?.iter());
            let values: StringChunked = rows
                .map(|(((key, string), number), boolean)| {
                    let value = match (string, number, boolean) {
                        (Some(string), _, _) => string.to_owned(),
                        (_, Some(number), _) => number.to_string(),
                        (_, _, Some(boolean)) => boolean.to_string(),
                        _ => return None,
                    };
                    Some(format!("{}={value}", key?))
                })
                .collect();
            Ok(values.with_name("value".into()).into_column())
        },
        parts,
        |_, _| Ok(Field::new("value".into(), DataType::String)),
    );
    exploded.select([col(TRACE_HI), col(TRACE_LO), value.alias("value")])
}

/// Exception types recorded on spans, exploded.
fn exception_rows(spans: LazyFrame) -> LazyFrame {
    let options = ExplodeOptions { empty_as_null: false, keep_nulls: false };
    spans
        .select([col(TRACE_HI), col(TRACE_LO), col(columns::EXCEPTIONS)])
        .explode(cols([columns::EXCEPTIONS]), options)
        .select([col(TRACE_HI), col(TRACE_LO), col("exceptions").struct_().field_by_name("name").alias("value")])
}

/// `scheme://host/path?query#fragment` → `/path`; a value without a scheme keeps its path.
fn url_path(url: Expr) -> Expr {
    url.map(
        |column: Column| {
            let strings = column.cast(&DataType::String)?;
            let paths: StringChunked = strings.str()?.iter().map(|url| url.map(path_of)).collect();
            Ok(paths.with_name(column.name().clone()).into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::String)),
    )
}

fn path_of(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let path = match without_query.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => without_query,
    };
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

/// The service each fault, error and response-time root cause ends in, per trace. The walk is
/// per trace in Rust (`root_cause.rs`): the one step that is not a column operation.
fn root_cause_rows(spans: &DataFrame, traces: &DataFrame) -> Result<DataFrame> {
    let key = [col(TRACE_HI), col(TRACE_LO)];
    let wanted = traces.clone().lazy().select(key.clone());
    let trace_spans = spans.clone().lazy().join(wanted, key.clone(), key, JoinArgs::new(JoinType::Inner)).collect()?;
    let (mut his, mut los, mut attributes, mut values) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((hi, lo), records) in records_by_trace(&trace_spans)? {
        let Some(root) = root_index(&records) else { continue };
        let causes = root_causes(&records, root);
        let lists: [(&str, &[RootCause]); 3] = [
            ("rootcause.fault.service", &causes.fault),
            ("rootcause.error.service", &causes.error),
            ("rootcause.responsetime.service", &causes.response_time),
        ];
        for (attribute, list) in lists {
            for service in list.iter().filter_map(|cause| cause.services.last()) {
                his.push(hi);
                los.push(lo);
                attributes.push(attribute);
                values.push(service.name.clone());
            }
        }
    }
    Ok(df!(TRACE_HI => his, TRACE_LO => los, "attribute" => attributes, "value" => values)?)
}

/// Traces per `(attribute, value)` in each set: `(selection, baseline)`.
fn count_per_set(attributes: LazyFrame, membership: LazyFrame) -> Result<BTreeMap<(String, String), (u64, u64)>> {
    let key = [col(TRACE_HI), col(TRACE_LO)];
    let counted = attributes
        .join(membership, key.clone(), key, JoinArgs::new(JoinType::Inner))
        .group_by([col("attribute"), col("value"), col("set")])
        .agg([len().cast(DataType::UInt64).alias("traces")])
        .collect()?;
    let strings = |name: &str| -> Result<Vec<Option<String>>> {
        Ok(counted.column(name)?.str()?.iter().map(|value| value.map(str::to_owned)).collect())
    };
    let (attribute, value, set) = (strings("attribute")?, strings("value")?, strings("set")?);
    let traces: Vec<Option<u64>> = counted.column("traces")?.u64()?.iter().collect();
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (((attribute, value), set), traces) in attribute.into_iter().zip(value).zip(set).zip(traces) {
        let (Some(attribute), Some(value), Some(set)) = (attribute, value, set) else { continue };
        let entry = counts.entry((attribute, value)).or_default();
        match set.as_str() {
            SELECTION => entry.0 += traces.unwrap_or_default(),
            BASELINE => entry.1 += traces.unwrap_or_default(),
            other => return Err(AnalyzerError::InvalidRequest(format!("unknown trace set {other}"))),
        }
    }
    Ok(counts)
}

fn rank(counts: BTreeMap<(String, String), (u64, u64)>, selection: u64, baseline: u64) -> Vec<AttributeDifference> {
    let mut ranking: Vec<AttributeDifference> = counts
        .into_iter()
        .map(|((attribute, value), (selection_traces, baseline_traces))| {
            let effect = effect_size(selection_traces, selection, baseline_traces, baseline);
            let description = format!(
                "{attribute}: {value} is in {:.0}% of the selection vs {:.0}% of the baseline",
                effect.selection_share * 100.0,
                effect.baseline_share * 100.0
            );
            AttributeDifference { attribute, value, selection_traces, baseline_traces, effect, description }
        })
        .collect();
    ranking.sort_by(|a, b| {
        (b.effect.score.total_cmp(&a.effect.score))
            .then((b.effect.difference > 0.0).cmp(&(a.effect.difference > 0.0)))
            .then(b.effect.z.abs().total_cmp(&a.effect.z.abs()))
            .then_with(|| (&a.attribute, &a.value).cmp(&(&b.attribute, &b.value)))
    });
    ranking
}

/// The ranking split by attribute, keeping its order within and across groups.
fn group_by_attribute(ranking: &[AttributeDifference]) -> Vec<AttributeBreakdown> {
    let mut groups: Vec<AttributeBreakdown> = Vec::new();
    for row in ranking {
        match groups.iter_mut().find(|group| group.attribute == row.attribute) {
            Some(group) => group.values.push(row.clone()),
            None => groups.push(AttributeBreakdown { attribute: row.attribute.clone(), values: vec![row.clone()] }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 1e-3
    }

    #[test]
    fn effect_size_of_known_tables() {
        // 8 of 10 vs 2 of 10: a=8.5 b=2.5 c=2.5 d=8.5.
        let effect = effect_size(8, 10, 2, 10);
        assert!(close(effect.difference, 0.6));
        assert!(close(effect.log_odds_ratio, (8.5f64 * 8.5 / (2.5 * 2.5)).ln()), "{effect:?}");
        assert!(close(effect.log_odds_ratio, 2.4476));
        assert!(close(effect.standard_error, 1.0175));
        assert!(close(effect.z, 2.4055));
        assert!(close(effect.score, 0.6), "significant at 5 %: full weight");
        // 2 of 3 vs 1 of 3: same difference in spirit, too few traces to trust.
        let small = effect_size(2, 3, 1, 3);
        assert!(close(small.log_odds_ratio, (2.5f64 * 2.5 / (1.5 * 1.5)).ln()));
        assert!(close(small.standard_error, (0.4f64 + 2.0 / 1.5 + 0.4).sqrt()));
        assert!(close(small.z, 1.0217 / 1.4606), "{small:?}");
        assert!(small.score < small.difference.abs() / 2.0);
        // Equal shares: no effect; a value absent from one set is still finite.
        assert_eq!(effect_size(5, 10, 50, 100).score, 0.0);
        let absent = effect_size(0, 10, 40, 100);
        assert!(absent.log_odds_ratio.is_finite() && absent.z < 0.0 && close(absent.difference, -0.4));
        assert_eq!(effect_size(0, 0, 0, 0).difference, 0.0);
    }

    #[test]
    fn url_paths_drop_scheme_host_and_query() {
        assert_eq!(path_of("https://shop.example.com/api/items?page=2"), "/api/items");
        assert_eq!(path_of("http://host"), "/");
        assert_eq!(path_of("/api/adopt#x"), "/api/adopt");
    }
}
