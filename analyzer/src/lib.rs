//! Fluoro's answers to on-call questions: the filter-expression language, trace summaries, the
//! service graph, latency histograms, trace-set comparison, groups and their per-minute metrics, metric series and
//! resources, and alarms.
//!
//! | module | holds |
//! |---|---|
//! | `filter::lexer` | tokens with 1-based character columns; hands `#[...]` to serde_json |
//! | `filter::parser` | [`parse_filter`]: recursive descent, scope and operator-type checks |
//! | `filter::keyword` | keyword names, the scopes each is valid in, "did you mean" |
//! | `filter::ast` | [`FilterExpr`] and its typed parts, shaped for compilation to columnar expressions |
//! | `filter::display` | the canonical print: `parse_filter(&expr.to_string()) == Ok(expr)` |
//! | `filter::compile` | [`compile_filter`]: expressions → polars predicates over per-trace aggregates |
//! | `filter::frames` | the row frames aggregates run over: nodes, calls on edges, annotations, root causes |
//! | `filter::root_cause_json` | `rootcause.json = #[...]`: root causes matched against patterns in the API's JSON shape |
//! | `spans` | [`load_spans`]: the store's scan (one version per span) every analysis starts from, of the columns it names |
//! | `trace_frame` | [`trace_frame`]: one row per trace of a window — what filters, groups, comparison and latency stand on |
//! | `trace_runs` | dense trace ids of a scan's rows (the service graph), from the runs of each trace's rows sorted by trace, as the trace frame's fold also sorts its runs |
//! | `value_columns` | columns the analyzer fills a value at a time (the trace frame's), a validity bitmap only once a null arrives |
//! | `threads` | passes over a window's rows split over the two cores with scoped threads |
//! | `groups` | [`Groups`]: X-Ray groups — the registry, its rules and `groups.json`; the [`GroupResolver`] for `group.name` |
//! | `histogram` | [`LatencyHistogram`] (hdrhistogram, mergeable: nodes and edges), [`SortedDurations`] (exact, values in memory) |
//! | `filter_latency` | [`filter_latency`]: a filter's response-time and duration percentiles and distribution |
//! | `compare` | [`compare_trace_sets`]: two trace sets' distributions and every attribute value ranked by [`effect_size`] |
//! | `metric_series` | [`metric_series`]: one metric of a service as a [`Statistic`] per period or per raw point |
//! | `metric_samples` | cumulative series → increases (resets by start time); histogram buckets merged, percentiles |
//! | `resources` | [`service_resources`]: CPU and memory from metrics beside request rate, faults and latency from traces |
//! | `summary` | [`trace_summaries`]: GetTraceSummaries — filter, sampling, pages, [`TraceSummary`] |
//! | `span_record`, `root_cause` | a page's spans as Rust values, the root segment; fault/error/response-time root causes |
//! | `alarm` | [`evaluate_alarm`]: CloudWatch alarm evaluation (M of N, missing data, reasons) over a [`Timeline`] of datapoints and a clock |
//! | `insight_latency` | [`LatencyBuckets`]: response times in fixed log buckets — mergeable, serializable baselines |
//! | `insight_detector` | [`Detector`]: per-service fault rate and p99 against its own baseline (the test is in its doc), root cause from the traces' fault root causes, open/close |
//! | `insight_minutes` | [`observe_minute`]: one minute of traces as [`MinuteObservation`] — per node requests, faults, root causes, clients |
//! | `insights` | [`Insights`]: evaluation per scope (Default and groups with insights enabled), `insights.json`, GetInsightSummaries/GetInsight/GetInsightEvents, [`InsightNotice`] |
//! | `alarms` | [`Alarms`]: PutMetricAlarm/DescribeAlarms/DescribeAlarmHistory/DeleteAlarms, `alarms.json`; [`MetricSource`] is the seam to metric producers |
//! | `group_metrics` | [`group_metrics_of_minute`]: per group and minute `ApproximateTraceCount`, per node and edge counts and p50/p90/p99 (`AWS/X-Ray` points) |
//! | `group_metrics_clock` | [`GroupMetricsRecorder`]: each closed minute once, after a grace delay; catch-up after a restart, the store as cursor |
//! | `group_metrics_export` | [`group_metrics_prometheus`]: the last minute as Prometheus text for `/metrics` |
//! | `store_metrics` | [`StoreMetrics`]: the [`MetricSource`] over the store's metric points that alarms evaluate |
//! | `error` | [`AnalyzerError`], and [`FilterError`]: what was wrong, the column, what was expected |
//!
//! Summary read path: `spans.rs` `load_spans` → `trace_frame.rs` `trace_frame` → `filter/compile.rs`
//! `CompiledFilter::apply` (joins aggregates from `filter/frames.rs`) → `summary.rs` `summarize`
//! → `root_cause.rs`. When you add a filter keyword, touch the parser side (see `filter/mod.rs`),
//! `filter/compile.rs` (`row_comparison` or an aggregate) and `tests/filter_corpus/match.txt`.
//! A group-scoped graph: `groups.rs` `Groups::traces` (the same trace frame and compiled filter)
//! → a [`TraceIdSet`] → `service_graph(.., Some(&traces))`; when a filter change could leave a
//! stored group filter invalid, `groups.rs` `check_references` must learn of it.
//!
//! ```
//! use fluoro_analyzer::{parse_filter, Comparison, FilterExpr, Keyword, NumberOp, Test};
//!
//! let expr = parse_filter("responseTime > 5").unwrap();
//! let slow = Comparison { keyword: Keyword::ResponseTime, test: Test::Number(NumberOp::Gt, 5.0) };
//! assert_eq!(expr, FilterExpr::Compare(slow));
//! assert_eq!(expr.to_string(), "responsetime > 5");
//!
//! let error = parse_filter(r#"responsetime > "x""#).unwrap_err();
//! assert_eq!(error.to_string(), "expected a number after > at column 16");
//! ```

mod alarm;
mod alarms;
mod compare;
mod error;
mod filter;
mod filter_latency;
mod group_metrics;
mod group_metrics_clock;
mod group_metrics_export;
mod groups;
mod histogram;
mod insight_detector;
mod insight_latency;
mod insight_minutes;
mod insights;
mod metric_samples;
mod metric_series;
mod resources;
mod root_cause;
mod service_graph;
mod span_record;
mod spans;
mod store_metrics;
mod summary;
mod threads;
mod time_series;
mod trace_aggregates;
mod trace_frame;
mod trace_runs;
mod trace_set;
mod value_columns;

pub use alarm::{
    cloudwatch_time, evaluate_alarm, notification_time, replay_alarm, AlarmRule, AlarmState, AlarmStatistic,
    ComparisonOperator, Evaluation, Timeline, Transition, TreatMissingData,
};
pub use alarms::{
    check_webhook_url, AlarmHistoryItem, Alarms, MetricAlarm, MetricId, MetricSource, PutMetricAlarm, MAX_ALARMS,
    MAX_ALARM_ACTIONS, MAX_ALARM_HISTORY,
};
pub use compare::{
    compare_trace_sets, effect_size, AttributeBreakdown, AttributeDifference, ComparisonQuery, EffectSize,
    TraceSetComparison, TraceSetFilter, TraceSetStatistics,
};
pub use error::{AlarmError, AnalyzerError, FilterError, GroupError, Result};
pub use filter::{compile_filter, CompiledFilter, GroupResolver, MatchFrames, NoGroups};
pub use filter::{
    parse_filter, Comparison, EdgeFilter, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp,
    RootCauseFilter, RootCauseKind, RootCauseList, ServiceFilter, StringOp, Test, ValueType, MAX_DEPTH,
};
pub use filter_latency::{filter_latency, LatencyDistribution, LatencyQuery, LatencyReport, LatencySummary};
pub use group_metrics::{
    group_metric_names, group_metrics_of_minute, APPROXIMATE_TRACE_COUNT, GROUP_COUNT_METRICS, GROUP_METRICS_NAMESPACE,
    GROUP_RESPONSE_TIME_METRICS,
};
pub use group_metrics_clock::{
    last_computed_minute, GroupMetricsConfig, GroupMetricsRecorder, LatestGroupMetrics, DEFAULT_CATCH_UP_MINUTES,
    DEFAULT_GROUP_METRICS_GRACE_SECONDS, MAX_MINUTES_PER_PASS,
};
pub use group_metrics_export::{group_metrics_prometheus, MAX_EXPORTED_NODES};
pub use groups::{
    traces_matching, Group, GroupPage, GroupSelector, GroupUpdate, Groups, InsightsConfiguration, InsightsUpdate,
    NewGroup, Tag, DEFAULT_GROUP_NAME, MAX_GROUPS, MAX_GROUP_ARN_CHARS, MAX_GROUP_DEPTH, MAX_GROUP_FILTER_CHARS,
    MAX_GROUP_NAME_CHARS, MAX_GROUP_TAGS,
};
pub use histogram::{HistogramEntry, LatencyHistogram, Percentiles, SortedDurations};
pub use insight_detector::{
    binomial_upper_tail, Category, Detection, Detector, DetectorConfig, Impact, MinuteObservation, RequestImpact,
    ServiceKey, ServiceMinute, MAX_TRACKED_SERVICES,
};
pub use insight_latency::LatencyBuckets;
pub use insight_minutes::{observe_minute, TRACE_TAIL_US};
pub use insights::{
    AnomalousService, ClientImpact, Insight, InsightEvent, InsightNotice, InsightQuery, InsightServiceId,
    InsightSettings, InsightState, Insights, MAX_INSIGHTS, MAX_INSIGHT_EVENTS, UPDATE_EVENT_MINUTES,
};
pub use metric_series::{
    metric_series, validate_metric_period, MetricSeries, MetricSeriesQuery, MetricValue, Statistic,
    CUMULATIVE_LOOKBACK_US, MAX_BUCKETS, MIN_PERIOD_SECONDS,
};
pub use resources::{service_resources, ResourceBucket, ResourceSource, ResourcesQuery, ServiceResources};
pub use root_cause::{RootCause, RootCauseEntity, RootCauseException, RootCauseService, RootCauses};
pub use service_graph::{
    service_graph, service_graph_of_spans, trace_graph, Alias, Edge, ErrorStatistics, FaultStatistics, ServiceGraph,
    ServiceNode, Statistics, GRAPH_COLUMNS,
};
pub use spans::{collect_spans, load_spans, trace_key, SPAN_COLUMNS};
pub use store_metrics::StoreMetrics;
pub use summary::{
    trace_summaries, AnnotationValueJson, AvailabilityZone, Http, InstanceId, ResourceArn, Sampling, ServiceId,
    SummaryPage, SummaryQuery, TraceSummary, TraceUser, ValueWithServiceIds, DEFAULT_SAMPLING_RATE,
    MAX_CONFIGURABLE_PAGE_SIZE, MAX_PAGE_SIZE,
};
pub use time_series::{
    parse_entity_selector, time_series_of_spans, time_series_statistics, validate_period, EntitySelector,
    TimeSeriesPoint, PERIODS_SECONDS,
};
pub use trace_frame::{
    slack_window, trace_frame, TimeRangeType, ROOT_HTTP_COLUMNS, TRACE_FRAME_COLUMNS, TRACE_SLACK_US,
};
pub use trace_set::TraceIdSet;
