//! [`StoreMetrics`]: the [`MetricSource`] alarms read, over the store's metric points — group
//! metrics and OTLP metrics alike.
//!
//! An alarm's `Namespace` is the points' `service` (`AWS/X-Ray` for group metrics, the
//! `service.name` of an OTLP metric), `MetricName` their name and `Dimensions` select series by
//! attribute as `POST /api/metrics/series` does (`metric_series.rs`); the statistic of each
//! period is [`metric_series`]'s over the period's points.

use fluoro_store::Store;

use crate::alarm::{AlarmStatistic, Timeline};
use crate::alarms::{MetricId, MetricSource};
use crate::metric_series::{metric_series, MetricSeriesQuery, Statistic};

/// Alarms' datapoints from the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreMetrics<'a> {
    store: &'a Store,
}

impl<'a> StoreMetrics<'a> {
    pub fn new(store: &'a Store) -> Self {
        StoreMetrics { store }
    }
}

impl MetricSource for StoreMetrics<'_> {
    fn timeline(&self, metric: &MetricId, statistic: AlarmStatistic, period: i64, from: i64, to: i64) -> Timeline {
        let Ok(period_seconds) = u32::try_from(period) else { return Timeline::new() };
        let query = MetricSeriesQuery {
            service: metric.namespace.clone(),
            name: metric.metric_name.clone(),
            attributes: metric.dimensions.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
            from_us: from.saturating_mul(1_000_000),
            to_us: to.saturating_mul(1_000_000),
            period_seconds: Some(period_seconds),
            statistic: series_statistic(statistic),
        };
        match metric_series(self.store, &query) {
            Ok(series) => series
                .values
                .iter()
                .filter_map(|value| value.value.map(|datapoint| (value.timestamp.round() as i64, datapoint)))
                .collect(),
            Err(error) => {
                // A metric that cannot be read is missing data: the alarm's TreatMissingData decides.
                tracing::warn!(namespace = %metric.namespace, metric = %metric.metric_name, error = %error, "cannot read an alarm's metric");
                Timeline::new()
            }
        }
    }
}

fn series_statistic(statistic: AlarmStatistic) -> Statistic {
    match statistic {
        AlarmStatistic::SampleCount => Statistic::Count,
        AlarmStatistic::Sum => Statistic::Sum,
        AlarmStatistic::Average => Statistic::Avg,
        AlarmStatistic::Minimum => Statistic::Min,
        AlarmStatistic::Maximum => Statistic::Max,
    }
}
