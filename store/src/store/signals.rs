//! The [`Store`]'s reads and writes of the signals kept beside the spans (`signal.rs`): log
//! records (`logs/`) and metric data points (`metrics/`), and proto's sinks for them.

use std::path::PathBuf;

use fluoro_proto::{LogBatch, LogRow, LogSink, MetricBatch, MetricPoint, MetricSink, SegmentId, SinkError, TraceId};

use super::Store;
use crate::error::Result;
use crate::logs::{merge_pages, LogPage, LogQuery};
use crate::metrics::{MetricName, MetricQuery};

impl Store {
    /// Stores log records; for [`fluoro_proto::Durability::Acknowledged`] they are on disk
    /// when this returns. Either way they are readable when this returns.
    pub fn write_logs(&self, batch: LogBatch) -> Result<()> {
        self.shared.signals.logs.write(batch.rows, batch.durability)
    }

    /// The log records of a trace (of one span with `span_id`), in time order; a query node's
    /// collectors' too.
    pub fn trace_logs(&self, trace_id: TraceId, span_id: Option<SegmentId>) -> Result<Vec<LogRow>> {
        let mut logs = self.shared.signals.logs.trace_logs(trace_id, span_id)?;
        if let Some(collectors) = self.shared.collectors() {
            logs.extend(collectors.trace_logs(trace_id, span_id).into_iter().flatten());
            logs.sort_by_key(|log| log.time_us);
        }
        Ok(logs)
    }

    /// One page of log records matching `query`, newest first; a query node's collectors' too.
    pub fn search_logs(&self, query: &LogQuery) -> Result<LogPage> {
        let own = self.shared.signals.logs.search(query)?;
        match self.shared.collectors() {
            Some(collectors) => Ok(merge_pages(query.limit, std::iter::once(own).chain(collectors.search_logs(query)))),
            None => Ok(own),
        }
    }

    /// Log records not yet in a block.
    pub fn recent_log_rows(&self) -> usize {
        self.shared.signals.logs.recent_rows()
    }

    /// The log blocks, oldest first: id and file (in `<data_dir>/logs/blocks/`).
    pub fn log_block_files(&self) -> Vec<(u64, PathBuf)> {
        self.shared.signals.logs.block_files()
    }

    /// Stores metric data points, with the durability of [`Store::write_logs`].
    pub fn write_metrics(&self, batch: MetricBatch) -> Result<()> {
        self.shared.signals.metrics.write(batch.points, batch.durability)
    }

    /// The raw points of one metric of one service over a range, by series then time; a query
    /// node's collectors' too.
    pub fn metric_points(&self, query: &MetricQuery) -> Result<Vec<MetricPoint>> {
        let mut points = self.shared.signals.metrics.metric_points(query)?;
        if let Some(collectors) = self.shared.collectors() {
            points.extend(collectors.metric_points(query).into_iter().flatten());
            // Stable: each store's arrival order stays within a series and time.
            points.sort_by(|a, b| (&a.attributes, a.time_us).cmp(&(&b.attributes, b.time_us)));
        }
        Ok(points)
    }

    /// The metrics sent over `[from_us, to_us)`, of one service when given; a query node's
    /// collectors' too.
    pub fn metric_names(&self, service: Option<&str>, from_us: i64, to_us: i64) -> Result<Vec<MetricName>> {
        let mut names = self.shared.signals.metrics.metric_names(service, from_us, to_us)?;
        if let Some(collectors) = self.shared.collectors() {
            names.extend(collectors.metric_names(service, from_us, to_us).into_iter().flatten());
            names.sort();
            names.dedup();
        }
        Ok(names)
    }

    /// Metric points not yet in a block.
    pub fn recent_metric_points(&self) -> usize {
        self.shared.signals.metrics.recent_rows()
    }

    /// The metric blocks, oldest first: id and file (in `<data_dir>/metrics/blocks/`).
    pub fn metric_block_files(&self) -> Vec<(u64, PathBuf)> {
        self.shared.signals.metrics.block_files()
    }
}

impl LogSink for Store {
    fn write_logs(&self, batch: LogBatch) -> Result<(), SinkError> {
        Store::write_logs(self, batch).map_err(super::sink_error)
    }
}

impl MetricSink for Store {
    fn write_metrics(&self, batch: MetricBatch) -> Result<(), SinkError> {
        Store::write_metrics(self, batch).map_err(super::sink_error)
    }
}
