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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use fluoro_proto::{Durability, MetricBatch, MetricKind, MetricPoint};

    use super::*;
    use crate::group_metrics::tests::open;

    const T0: i64 = 1_700_000_040;

    fn gauge(service: &str, name: &str, at: i64, attributes: &str, value: f64) -> MetricPoint {
        MetricPoint {
            time_us: at * 1_000_000,
            start_us: 0,
            service: service.to_owned(),
            name: name.to_owned(),
            unit: String::new(),
            kind: MetricKind::Gauge,
            attributes: attributes.to_owned(),
            value: Some(value),
            histogram: None,
        }
    }

    fn metric(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricId {
        MetricId {
            namespace: namespace.to_owned(),
            metric_name: name.to_owned(),
            dimensions: dimensions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn group_metric_dimensions_name_one_series_and_otlp_attributes_select_series() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let node = r#"{"GroupName":"Default","ServiceName":"api","ServiceType":"AWS::EC2::Instance"}"#;
        let edge = r#"{"DestinationName":"db","DestinationType":"remote","GroupName":"Default","ServiceName":"api","ServiceType":"AWS::EC2::Instance"}"#;
        let points = vec![
            gauge("AWS/X-Ray", "FaultCount", T0, node, 3.0),
            gauge("AWS/X-Ray", "FaultCount", T0, edge, 2.0),
            gauge("AWS/X-Ray", "FaultCount", T0 + 120, node, 5.0),
            gauge("checkout", "queue.depth", T0 + 10, r#"{"host":"a","queue":"orders"}"#, 7.0),
            gauge("checkout", "queue.depth", T0 + 20, r#"{"host":"b","queue":"orders"}"#, 9.0),
            gauge("checkout", "queue.depth", T0 + 30, r#"{"host":"a","queue":"refunds"}"#, 100.0),
        ];
        store.write_metrics(MetricBatch { points, durability: Durability::Acknowledged }).unwrap();
        let source = StoreMetrics::new(&store);

        let faults = metric(
            "AWS/X-Ray",
            "FaultCount",
            &[("GroupName", "Default"), ("ServiceName", "api"), ("ServiceType", "AWS::EC2::Instance")],
        );
        let timeline = source.timeline(&faults, AlarmStatistic::Sum, 60, T0 - 60, T0 + 180);
        assert_eq!(timeline, Timeline::from([(T0, 3.0), (T0 + 120, 5.0)]), "the node alone, not its edge");

        let orders = metric("checkout", "queue.depth", &[("queue", "orders")]);
        assert_eq!(source.timeline(&orders, AlarmStatistic::Maximum, 60, T0, T0 + 60), Timeline::from([(T0, 9.0)]));
        assert_eq!(source.timeline(&orders, AlarmStatistic::SampleCount, 60, T0, T0 + 60), Timeline::from([(T0, 2.0)]));
        assert_eq!(source.timeline(&orders, AlarmStatistic::Average, 60, T0, T0 + 60), Timeline::from([(T0, 8.0)]));

        let unknown = metric("checkout", "nope", &[]);
        assert!(source.timeline(&unknown, AlarmStatistic::Sum, 60, T0, T0 + 60).is_empty(), "missing data");
    }
}
