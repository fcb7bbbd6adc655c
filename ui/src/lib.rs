//! Fluoro's HTTP surface: the X-Ray-compatible query API over the analyzer, the JSON API and
//! the dashboard. The ingest side of the X-Ray API (`PutTraceSegments`, `BatchGetTraces`,
//! sampling) is the collector's; `fluoro serve` serves both on one port.
//!
//! | module | holds |
//! |---|---|
//! | `api` | [`api_router`]: the query and group operations in the X-Ray REST-JSON shapes |
//! | `alarms` | [`alarms_router`]: `POST /PutMetricAlarm`, `/DescribeAlarms`, `/DescribeAlarmHistory`, `/DeleteAlarms` over `fluoro_analyzer::Alarms` |
//! | `insights` | [`insights_router`]: `POST /InsightSummaries`, `/Insight`, `/InsightEvents`, `/InsightImpactGraph` over `fluoro_analyzer::Insights` |
//! | `demo_scenario` | [`demo_scenario_router`]: `GET`/`POST /api/demo/scenario`, the running demo's scenario control through the dashboard's port |
//! | `dashboard` | [`dashboard_router`]: the dashboard's pages and embedded assets (`ui/assets/`), with its Content-Security-Policy |
//! | `trace_summaries` | `POST /TraceSummaries` (GetTraceSummaries): limits, sampling, page tokens |
//! | `service_graph` | `POST /ServiceGraph`, `/TraceGraph`, `/TimeSeriesServiceStatistics` (one page, scoped by group) |
//! | `groups` | `POST /CreateGroup`, `/GetGroup`, `/Groups`, `/UpdateGroup`, `/DeleteGroup` over `fluoro_analyzer::Groups` |
//! | `compare` | `POST /api/compare` (Fluoro JSON API): two trace sets' distributions and attribute ranking |
//! | `histogram` | `POST /api/histogram` (Fluoro JSON API): a filter's exact latency percentiles and distribution |
//! | `logs` | `POST /api/logs/trace`, `/api/logs/search` (Fluoro JSON API): a trace's log lines, log search |
//! | `metrics` | `POST /api/metrics/names`, `/api/metrics/series`, `/api/services/resources` (Fluoro JSON API): metric series, a service's resources |
//! | `notifier` | [`spawn_notifier`]: webhook notifications (SNS-shaped documents) with retries, backoff, a bounded queue, counters; [`alarm_notification`] |
//! | `notifications` | [`notifications_router`]: `GET /api/notifications`, the notifier's counters and last statuses |
//! | `handover` | [`handover_router`]: what a collector hands query nodes: recent spans (`/internal/recent/…`), log records and metric points (`/internal/logs/…`, `/internal/metrics/…`) |
//! | `request` | what every route does with a request: JSON body, analysis off the async workers |
//! | `time` | request timestamps: epoch seconds or RFC 3339 |
//! | `error` | [`ApiError`]: X-Ray's error shape, the HTTP status per error |

mod alarms;
mod api;
mod compare;
mod dashboard;
mod demo_scenario;
mod error;
mod groups;
mod handover;
mod histogram;
mod insights;
mod logs;
mod metrics;
mod notifications;
mod notifier;
mod request;
mod service_graph;
mod time;
mod trace_summaries;

pub use alarms::alarms_router;
pub use api::{api_router, api_router_with_limits, QueryLimits, DEFAULT_QUERY_SECONDS};
pub use dashboard::{dashboard_router, CONTENT_SECURITY_POLICY_VALUE};
pub use demo_scenario::demo_scenario_router;
pub use error::ApiError;
pub use handover::{handover_router, MAX_ANSWER_BYTES};
pub use insights::insights_router;
pub use notifications::notifications_router;
pub use notifier::{
    alarm_notification, insight_notification, spawn_notifier, DeliveryOutcome, DeliveryStatus, Notification,
    NotificationCounts, NotificationsSnapshot, NotifierConfig, NotifierHandle,
};
pub use time::{epoch_seconds, MAX_WINDOW_SECONDS};
