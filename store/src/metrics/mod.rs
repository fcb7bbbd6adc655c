//! Metric data points beside the spans: a [`SignalStore`] of [`MetricPoint`]s (`signal.rs`
//! holds the log, recent rows, flushes, retention and recovery), with metric blocks of their
//! own schema (`block.rs`) and two reads (`query.rs`): the raw points of one metric of one
//! service over a time range, and the metrics a service has sent. Rollups (per-minute
//! statistics, rates of cumulative sums) are computed from the raw points by the analyzer at
//! query time; see `docs/storage.md`.

mod block;
mod query;

use std::path::Path;

use fluoro_proto::MetricPoint;

use crate::block::WrittenBlock;
use crate::error::Result;
use crate::signal::{SignalRow, SignalStore, Stored};

pub use query::{MetricName, MetricQuery};

/// The metric data points of the store, in `<data_dir>/metrics/`.
pub(crate) type MetricStore = SignalStore<MetricPoint>;
type StoredPoint = Stored<MetricPoint>;

impl SignalRow for MetricPoint {
    const FOLDER: &'static str = "metrics";

    fn write_block(blocks_dir: &Path, id: u64, rows: Vec<StoredPoint>) -> Result<WrittenBlock> {
        block::write_metric_block(blocks_dir, id, rows)
    }
}
