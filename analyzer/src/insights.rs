//! [`Insights`]: the insights of every scope (the `Default` group — every trace — and each
//! group with `InsightsEnabled`), evaluated minute by minute from the store with the
//! [`Detector`] (whose module doc states the test), kept with their events in `insights.json`,
//! and read as `GetInsightSummaries` / `GetInsight` / `GetInsightEvents` answer.
//!
//! - [`Insights::evaluate`] evaluates every closed minute after the last one evaluated, up to
//!   the one it is given (the caller leaves a grace for late spans); at most
//!   [`InsightSettings::backfill_minutes`] of them, so a first start or a long stop does not
//!   scan the whole store. Spans arriving after their minute was evaluated are not seen.
//! - It returns an [`InsightNotice`] per insight opened or closed: the notification hook.
//! - Events: `opened`, then `impact updated` every [`UPDATE_EVENT_MINUTES`] anomalous minutes
//!   (cumulative statistics), then `closed`.
//! - Bounded: [`MAX_INSIGHTS`] insights (the oldest closed ones go first), [`MAX_INSIGHT_EVENTS`]
//!   events each.
//!
//! `insights.json`, rewritten whole after each evaluated minute with `replace_durably`:
//! ```text
//! version 1
//! { "version": 1, "last_minute": 1767225600,
//!   "insights": [ { "insight": { "InsightId": "…", "GroupName": "Default", … },
//!                   "events": [ … ], "impact": { … }, "minutes_since_event": 2 } ],
//!   "detectors": [ [ "Default", { "history": …, "tracks": …, "last_minute": … } ] ] }
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fluoro_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::{AnalyzerError, Result};
use crate::groups::{Group, Groups, DEFAULT_GROUP_NAME};
use crate::insight_detector::{Category, Detection, Detector, DetectorConfig, Impact, RequestImpact, ServiceKey};
use crate::insight_minutes::observe_minute;

pub const MAX_INSIGHTS: usize = 1000;
pub const MAX_INSIGHT_EVENTS: usize = 100;
/// An `impact updated` event after this many anomalous minutes of an open insight.
pub const UPDATE_EVENT_MINUTES: u32 = 5;
const FILE_FORMAT_VERSION: u32 = 1;

/// How evaluation runs, beside the test's knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InsightSettings {
    pub detector: DetectorConfig,
    /// The most minutes one [`Insights::evaluate`] call goes back.
    pub backfill_minutes: i64,
}

impl Default for InsightSettings {
    fn default() -> Self {
        InsightSettings { detector: DetectorConfig::default(), backfill_minutes: 60 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InsightState {
    Active,
    Closed,
}

/// X-Ray's `ServiceId` (no accounts: Fluoro has one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InsightServiceId {
    pub name: String,
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

impl From<&ServiceKey> for InsightServiceId {
    fn from(key: &ServiceKey) -> Self {
        InsightServiceId { name: key.name.clone(), names: vec![key.name.clone()], r#type: key.r#type.clone() }
    }
}

/// X-Ray's `AnomalousService`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnomalousService {
    pub service_id: InsightServiceId,
}

/// One client (a trace entry point) and its requests through the root cause: Fluoro's own
/// member `ClientImpacts`, beside X-Ray's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientImpact {
    pub service_id: InsightServiceId,
    pub request_impact_statistics: RequestImpact,
}

/// X-Ray's `Insight` / `InsightSummary` (times in epoch seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Insight {
    pub insight_id: String,
    #[serde(rename = "GroupARN")]
    pub group_arn: String,
    pub group_name: String,
    pub root_cause_service_id: InsightServiceId,
    pub categories: Vec<String>,
    pub state: InsightState,
    pub start_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub summary: String,
    pub client_request_impact_statistics: RequestImpact,
    pub root_cause_service_request_impact_statistics: RequestImpact,
    pub top_anomalous_services: Vec<AnomalousService>,
    pub last_update_time: i64,
    pub client_impacts: Vec<ClientImpact>,
}

/// An insight as stored: with its events and the cumulative impact it is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    insight: Insight,
    events: Vec<InsightEvent>,
    impact: Impact,
    minutes_since_event: u32,
}

/// X-Ray's `InsightEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InsightEvent {
    pub summary: String,
    pub event_time: i64,
    pub client_request_impact_statistics: RequestImpact,
    pub root_cause_service_request_impact_statistics: RequestImpact,
    pub top_anomalous_services: Vec<AnomalousService>,
}

/// An insight opened or closed: what notifications are sent about.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightNotice {
    pub insight: Insight,
    /// The group's `NotificationsEnabled` when it happened.
    pub notifications_enabled: bool,
}

/// `GetInsightSummaries`' selection.
#[derive(Debug, Clone, Default)]
pub struct InsightQuery {
    /// Insights active at some time in `[start, end)`, epoch seconds.
    pub start: i64,
    pub end: i64,
    /// Empty: every state.
    pub states: Vec<InsightState>,
    /// `None`: every group.
    pub group_name: Option<String>,
    pub group_arn: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InsightsFile {
    version: u32,
    last_minute: Option<i64>,
    insights: Vec<Record>,
    detectors: Vec<(String, Detector)>,
}

/// The registry, optionally persisted.
#[derive(Debug)]
pub struct Insights {
    file: Option<PathBuf>,
    settings: InsightSettings,
    state: Mutex<InsightsFile>,
}

impl Insights {
    pub fn in_memory(settings: InsightSettings) -> Insights {
        Insights { file: None, settings, state: Mutex::new(InsightsFile::default()) }
    }

    /// Insights persisted in `path`; an absent file starts empty.
    pub fn open(path: &Path, settings: InsightSettings) -> Result<Insights> {
        let state = match fs::read(path) {
            Ok(bytes) => load(path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => InsightsFile::default(),
            Err(error) => return Err(file_error(path, &error.to_string())),
        };
        Ok(Insights { file: Some(path.to_owned()), settings, state: Mutex::new(state) })
    }

    /// The last minute evaluated (Unix seconds of its start).
    pub fn last_minute(&self) -> Option<i64> {
        self.lock().last_minute
    }

    /// Evaluates the minutes after the last evaluated one up to `through_minute` (its start,
    /// Unix seconds; that minute must be closed and past its grace) for every scope.
    pub fn evaluate(&self, store: &Store, groups: &Groups, through_minute: i64) -> Result<Vec<InsightNotice>> {
        let through_minute = through_minute - through_minute.rem_euclid(60);
        let earliest = through_minute - (self.settings.backfill_minutes.max(1) - 1) * 60;
        let first = self.last_minute().map_or(earliest, |last| (last + 60).max(earliest));
        let scopes: Vec<Group> = groups
            .list()
            .into_iter()
            .filter(|group| group.group_name == DEFAULT_GROUP_NAME || group.insights_configuration.insights_enabled)
            .collect();
        let mut notices = Vec::new();
        for minute in (first..=through_minute).step_by(60) {
            for group in &scopes {
                let traces = groups.traces(store, group, minute * 1_000_000, (minute + 60) * 1_000_000)?;
                let observation = observe_minute(store, minute, traces.as_ref())?;
                let mut state = self.lock();
                let detections = state.detector(&group.group_name).observe(&observation, &self.settings.detector);
                notices.extend(state.apply(group, detections));
            }
            let mut state = self.lock();
            state.last_minute = Some(minute);
            state.detectors.retain(|(name, _)| scopes.iter().any(|group| &group.group_name == name));
        }
        if first <= through_minute {
            self.save()?;
        }
        Ok(notices)
    }

    /// Insights matching `query`, the latest start first.
    pub fn summaries(&self, query: &InsightQuery) -> Vec<Insight> {
        let state = self.lock();
        let mut selected: Vec<Insight> = state
            .insights
            .iter()
            .map(|record| &record.insight)
            .filter(|insight| insight.start_time < query.end && insight.end_time.is_none_or(|end| end >= query.start))
            .filter(|insight| query.states.is_empty() || query.states.contains(&insight.state))
            .filter(|insight| query.group_name.as_ref().is_none_or(|name| &insight.group_name == name))
            .filter(|insight| query.group_arn.as_ref().is_none_or(|arn| &insight.group_arn == arn))
            .cloned()
            .collect();
        selected.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| a.insight_id.cmp(&b.insight_id)));
        selected
    }

    /// The insight, without its events.
    pub fn get(&self, insight_id: &str) -> Option<Insight> {
        let state = self.lock();
        let record = state.insights.iter().find(|record| record.insight.insight_id == insight_id)?;
        Some(record.insight.clone())
    }

    /// The insight's events, the latest first.
    pub fn events(&self, insight_id: &str) -> Option<Vec<InsightEvent>> {
        let state = self.lock();
        let record = state.insights.iter().find(|record| record.insight.insight_id == insight_id)?;
        Some(record.events.iter().rev().cloned().collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InsightsFile> {
        // Every change is applied whole under the lock, so a poisoned lock guards whole data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self) -> Result<()> {
        let Some(path) = &self.file else { return Ok(()) };
        let bytes = {
            let mut state = self.lock();
            state.version = FILE_FORMAT_VERSION;
            serde_json::to_vec(&*state).map_err(|error| file_error(path, &error.to_string()))?
        };
        if let Some(directory) = path.parent().filter(|directory| !directory.as_os_str().is_empty()) {
            fs::create_dir_all(directory).map_err(|error| file_error(path, &error.to_string()))?;
        }
        fluoro_proto::replace_durably(path, &bytes).map_err(|error| file_error(path, &error.to_string()))
    }
}

impl InsightsFile {
    fn detector(&mut self, group_name: &str) -> &mut Detector {
        let index = match self.detectors.iter().position(|(name, _)| name == group_name) {
            Some(index) => index,
            None => {
                self.detectors.push((group_name.to_owned(), Detector::default()));
                self.detectors.len() - 1
            }
        };
        &mut self.detectors[index].1
    }

    fn apply(&mut self, group: &Group, detections: Vec<Detection>) -> Vec<InsightNotice> {
        let notify = group.insights_configuration.notifications_enabled;
        let mut notices = Vec::new();
        for detection in detections {
            let changed = match detection {
                Detection::Opened { root_cause, category, start, at, impact } => {
                    Some(self.open(group, (&root_cause, category), start, at, impact))
                }
                Detection::Continued { root_cause, category, at, impact } => {
                    if let Some(record) = self.active(group, &root_cause, category) {
                        record.continued(at, &impact);
                    }
                    None
                }
                Detection::Closed { root_cause, category, end, at } => {
                    self.active(group, &root_cause, category).map(|record| {
                        record.close(end, at);
                        record.insight.clone()
                    })
                }
            };
            notices.extend(changed.map(|insight| InsightNotice { insight, notifications_enabled: notify }));
        }
        self.bound();
        notices
    }

    fn open(&mut self, group: &Group, cause: (&ServiceKey, Category), start: i64, at: i64, impact: Impact) -> Insight {
        let (root_cause, category) = cause;
        let insight = Insight {
            insight_id: insight_id(&group.group_name, root_cause, category, start),
            group_arn: group.group_arn.clone(),
            group_name: group.group_name.clone(),
            root_cause_service_id: root_cause.into(),
            categories: vec![category.as_str().to_owned()],
            state: InsightState::Active,
            start_time: start,
            end_time: None,
            summary: String::new(),
            client_request_impact_statistics: RequestImpact::default(),
            root_cause_service_request_impact_statistics: RequestImpact::default(),
            top_anomalous_services: Vec::new(),
            last_update_time: at + 60,
            client_impacts: Vec::new(),
        };
        let mut record = Record { insight, events: Vec::new(), impact: Impact::default(), minutes_since_event: 0 };
        record.merge(&impact);
        record.record_event("opened", at + 60);
        // A detector restarted from scratch could open the same insight again.
        self.insights.retain(|known| known.insight.insight_id != record.insight.insight_id);
        let insight = record.insight.clone();
        self.insights.push(record);
        insight
    }

    fn active(&mut self, group: &Group, root_cause: &ServiceKey, category: Category) -> Option<&mut Record> {
        self.insights.iter_mut().rev().find(|record| {
            let insight = &record.insight;
            insight.state == InsightState::Active
                && insight.group_name == group.group_name
                && insight.root_cause_service_id.name == root_cause.name
                && insight.root_cause_service_id.r#type == root_cause.r#type
                && insight.categories.iter().any(|known| known == category.as_str())
        })
    }

    fn bound(&mut self) {
        while self.insights.len() > MAX_INSIGHTS {
            let oldest_closed = self.insights.iter().position(|record| record.insight.state == InsightState::Closed);
            self.insights.remove(oldest_closed.unwrap_or(0));
        }
    }
}

impl Record {
    fn merge(&mut self, impact: &Impact) {
        self.impact.merge(impact);
        let impact = &self.impact;
        let insight = &mut self.insight;
        insight.client_request_impact_statistics = impact.client_total();
        insight.root_cause_service_request_impact_statistics = impact.root_cause;
        insight.top_anomalous_services =
            impact.anomalous_services.iter().map(|service| AnomalousService { service_id: service.into() }).collect();
        insight.client_impacts = impact
            .clients
            .iter()
            .map(|(client, statistics)| ClientImpact {
                service_id: client.into(),
                request_impact_statistics: *statistics,
            })
            .collect();
        let clients = insight.client_request_impact_statistics;
        let name = &insight.root_cause_service_id.name;
        insight.summary = if insight.categories.iter().any(|category| category == Category::Latency.as_str()) {
            format!(
                "{name} p99 response time rose to {:.3} s (baseline {:.3} s), slowing {} client requests",
                impact.peak_p99, impact.baseline_p99, clients.total_count,
            )
        } else {
            format!(
                "{name} fault rate rose to {:.1}% (baseline {:.1}%), impacting {} of {} client requests",
                impact.peak_fault_rate * 100.0,
                impact.baseline_fault_rate * 100.0,
                clients.fault_count,
                clients.total_count,
            )
        };
    }

    fn continued(&mut self, at: i64, impact: &Impact) {
        self.merge(impact);
        self.insight.last_update_time = at + 60;
        self.minutes_since_event += 1;
        if self.minutes_since_event >= UPDATE_EVENT_MINUTES && self.events.len() + 1 < MAX_INSIGHT_EVENTS {
            self.record_event("impact updated", at + 60);
        }
    }

    fn close(&mut self, end: i64, at: i64) {
        self.insight.state = InsightState::Closed;
        self.insight.end_time = Some(end);
        self.insight.last_update_time = at + 60;
        self.record_event("closed", at + 60);
    }

    fn record_event(&mut self, what: &str, at: i64) {
        self.minutes_since_event = 0;
        let insight = &self.insight;
        self.events.push(InsightEvent {
            summary: format!("{what}: {}", insight.summary),
            event_time: at,
            client_request_impact_statistics: insight.client_request_impact_statistics,
            root_cause_service_request_impact_statistics: insight.root_cause_service_request_impact_statistics,
            top_anomalous_services: insight.top_anomalous_services.clone(),
        });
    }
}

/// A stable id from the scope, the root cause and the start: the same incident keeps its id.
fn insight_id(group_name: &str, root_cause: &ServiceKey, category: Category, start: i64) -> String {
    let (name, node_type, category) = (&root_cause.name, &root_cause.r#type, category.as_str());
    let text = format!("{group_name}\u{1f}{name}\u{1f}{node_type:?}\u{1f}{start}\u{1f}{category}");
    let hash =
        |seed: u64| text.bytes().fold(seed, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let (high, low) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    let hex = format!("{high:016x}{low:016x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn load(path: &Path, bytes: &[u8]) -> Result<InsightsFile> {
    let file: InsightsFile = serde_json::from_slice(bytes).map_err(|error| file_error(path, &error.to_string()))?;
    if file.version != FILE_FORMAT_VERSION {
        return Err(file_error(path, &format!("version {} is not {FILE_FORMAT_VERSION}", file.version)));
    }
    Ok(file)
}

fn file_error(path: &Path, reason: &str) -> AnalyzerError {
    AnalyzerError::Insights(format!("insights file {}: {reason}", path.display()))
}
