//! When group metrics are computed: [`GroupMetricsRecorder`] computes each closed minute once,
//! after a grace delay for late segments, catching up missed minutes (a bounded number) after a
//! restart.
//!
//! - A minute `[m, m + 60)` is due once `now ≥ m + 60 + grace`. Spans arriving after that are
//!   stored and searchable but not in the minute's metrics (they are "approximate").
//! - The store is the cursor: a minute is computed exactly when its `Default`
//!   `ApproximateTraceCount` point exists (written every minute, in the same acknowledged batch
//!   as the minute's other points), so a restart resumes after the last such point and never
//!   computes a minute twice — no second file to keep in step.
//! - Catch-up is bounded to `catch_up_minutes` before the last due minute. With no minute ever
//!   computed, computation starts at the oldest span's minute (within that bound), so traces
//!   sent to a fresh server before its first due minute still count.

use std::sync::{Arc, PoisonError, RwLock};

use fluoro_proto::{Durability, MetricBatch, MetricPoint};
use fluoro_store::{MetricQuery, Store};

use crate::error::Result;
use crate::group_metrics::{
    group_metric_names, group_metrics_of_minute, APPROXIMATE_TRACE_COUNT, GROUP_METRICS_NAMESPACE,
};
use crate::groups::{Groups, DEFAULT_GROUP_NAME};

/// How long after a minute ends its metrics are computed, for late segments.
pub const DEFAULT_GROUP_METRICS_GRACE_SECONDS: i64 = 45;
/// How many missed minutes a restart computes at most.
pub const DEFAULT_CATCH_UP_MINUTES: i64 = 60;
const MINUTE: i64 = 60;
/// Minutes computed per [`GroupMetricsRecorder::record_due`] call at most: a long catch-up
/// proceeds over several calls, so a stop never waits for all of it.
pub const MAX_MINUTES_PER_PASS: usize = 10;

/// The recorder's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMetricsConfig {
    pub grace_seconds: i64,
    pub catch_up_minutes: i64,
}

impl Default for GroupMetricsConfig {
    fn default() -> Self {
        GroupMetricsConfig {
            grace_seconds: DEFAULT_GROUP_METRICS_GRACE_SECONDS,
            catch_up_minutes: DEFAULT_CATCH_UP_MINUTES,
        }
    }
}

/// The points of the last computed minute, shared with readers (`/metrics`).
#[derive(Debug, Clone, Default)]
pub struct LatestGroupMetrics {
    points: Arc<RwLock<Vec<MetricPoint>>>,
}

impl LatestGroupMetrics {
    pub fn points(&self) -> Vec<MetricPoint> {
        self.points.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The points as Prometheus text (`group_metrics_export.rs`).
    pub fn prometheus(&self) -> String {
        crate::group_metrics_export::group_metrics_prometheus(
            &self.points.read().unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn replace(&self, points: Vec<MetricPoint>) {
        *self.points.write().unwrap_or_else(PoisonError::into_inner) = points;
    }
}

/// Computes due minutes; call [`GroupMetricsRecorder::record_due`] on a timer.
#[derive(Debug)]
pub struct GroupMetricsRecorder {
    config: GroupMetricsConfig,
    /// The next minute to compute; `None` until known (read from the store on first use).
    next_minute: Option<i64>,
    latest: LatestGroupMetrics,
}

impl GroupMetricsRecorder {
    pub fn new(config: GroupMetricsConfig) -> Self {
        GroupMetricsRecorder { config, next_minute: None, latest: LatestGroupMetrics::default() }
    }

    /// The handle `/metrics` reads the last computed minute from.
    pub fn latest(&self) -> LatestGroupMetrics {
        self.latest.clone()
    }

    /// Computes and durably stores the minutes due at `now` (Unix seconds) not yet computed,
    /// oldest first and at most [`MAX_MINUTES_PER_PASS`]; returns their starts.
    pub fn record_due(&mut self, store: &Store, groups: &Groups, now: i64) -> Result<Vec<i64>> {
        let last_due = floor_minute(now - self.config.grace_seconds) - MINUTE;
        let earliest = last_due - (self.config.catch_up_minutes.max(1) - 1) * MINUTE;
        let next = match self.next_minute {
            Some(next) => next.max(earliest),
            None => match self.resume_point(store, earliest)? {
                Some(next) => next,
                None => return Ok(Vec::new()),
            },
        };
        let mut computed = Vec::new();
        let mut minute = next;
        while minute <= last_due && computed.len() < MAX_MINUTES_PER_PASS {
            let points = group_metrics_of_minute(store, groups, minute)?;
            store.write_metrics(MetricBatch { points: points.clone(), durability: Durability::Acknowledged })?;
            self.latest.replace(points);
            computed.push(minute);
            minute += MINUTE;
            self.next_minute = Some(minute);
        }
        Ok(computed)
    }

    /// Where computing resumes: after the last computed minute, else at the oldest span's
    /// minute; never before `earliest`. `None` while the store holds neither.
    fn resume_point(&mut self, store: &Store, earliest: i64) -> Result<Option<i64>> {
        if let Some(last) = last_computed_minute(store, earliest - MINUTE)? {
            self.latest.replace(points_of_minute(store, last)?);
            let next = (last + MINUTE).max(earliest);
            self.next_minute = Some(next);
            return Ok(Some(next));
        }
        let Some((oldest_us, _)) = store.time_bounds() else { return Ok(None) };
        let next = floor_minute(oldest_us.div_euclid(1_000_000)).max(earliest);
        self.next_minute = Some(next);
        Ok(Some(next))
    }
}

/// The start of the last minute at or after `since` with a `Default` `ApproximateTraceCount`.
pub fn last_computed_minute(store: &Store, since: i64) -> Result<Option<i64>> {
    let points = store.metric_points(&MetricQuery {
        service: GROUP_METRICS_NAMESPACE.to_owned(),
        name: APPROXIMATE_TRACE_COUNT.to_owned(),
        from_us: since.saturating_mul(1_000_000),
        to_us: i64::MAX,
    })?;
    let default_attributes = serde_json::json!({ "GroupName": DEFAULT_GROUP_NAME }).to_string();
    Ok(points
        .iter()
        .filter(|point| point.attributes == default_attributes)
        .map(|point| point.time_us / 1_000_000)
        .max())
}

fn points_of_minute(store: &Store, minute: i64) -> Result<Vec<MetricPoint>> {
    let mut points = Vec::new();
    for name in group_metric_names() {
        points.extend(store.metric_points(&MetricQuery {
            service: GROUP_METRICS_NAMESPACE.to_owned(),
            name: name.to_owned(),
            from_us: minute * 1_000_000,
            to_us: (minute + MINUTE) * 1_000_000,
        })?);
    }
    Ok(points)
}

fn floor_minute(seconds: i64) -> i64 {
    seconds - seconds.rem_euclid(MINUTE)
}

#[cfg(test)]
#[path = "group_metrics_clock_tests.rs"]
mod tests;
