//! Metric blocks: immutable zstd Parquet files of metric data points, in
//! `<data_dir>/metrics/blocks/`, written and opened by the span blocks' code (`block/mod.rs`:
//! tmp file, fsync, rename, directory fsync; the same `fluoro.block` footer with time range and
//! services, an empty trace filter), with their own schema. Any Parquet reader (DuckDB, pandas)
//! reads them as they are.
//!
//! Rows are sorted by (service, name, attributes, time, arrival), so one series is contiguous
//! and the row-group statistics of `service` and `name` skip what a series query does not need.
//!
//! ```text
//! column        parquet type (logical)   null when
//! time_us       INT64                    never   epoch microseconds, the end of the point's interval
//! start_us      INT64                    never   start of a sum's or histogram's interval; 0 = not sent
//! service       BYTE_ARRAY (STRING)      never
//! name          BYTE_ARRAY (STRING)      never   the metric name
//! unit          BYTE_ARRAY (STRING)      never   may be empty
//! kind          BYTE_ARRAY (STRING)      never   gauge | sum_cumulative | sum_delta | sum_nonmonotonic
//!                                                | histogram_cumulative | histogram_delta
//! attributes    BYTE_ARRAY (STRING)      never   JSON object, keys sorted, string values
//! value         DOUBLE                   histograms   the gauge's or sum's value
//! count         INT64 (UINT_64)          not a histogram
//! sum, min, max DOUBLE                   not a histogram, or not sent
//! bounds        LIST<DOUBLE>             not a histogram   explicit bucket upper bounds, ascending
//! counts        LIST<INT64 (UINT_64)>    not a histogram   one more than bounds (or both empty)
//! sequence      INT64 (UINT_64)          never   arrival order
//!
//! footer key-value "fluoro.block": as span blocks (version 1); min_start_us / max_end_us are
//! the earliest and latest time_us; the filter holds no trace ids.
//! ```

use std::path::Path;

use fluoro_proto::{HistogramValue, MetricKind, MetricPoint};
use polars::prelude::*;

use super::StoredPoint;
use crate::block::{self, BlockMeta, FooterFacts, WrittenBlock};
use crate::error::{polars_error, Result, StoreError};

pub(super) const TIME_US: &str = "time_us";
const START_US: &str = "start_us";
pub(super) const SERVICE: &str = "service";
pub(super) const NAME: &str = "name";
const UNIT: &str = "unit";
const KIND: &str = "kind";
const ATTRIBUTES: &str = "attributes";
const VALUE: &str = "value";
const COUNT: &str = "count";
const SUM: &str = "sum";
const MIN: &str = "min";
const MAX: &str = "max";
const BOUNDS: &str = "bounds";
const COUNTS: &str = "counts";
const SEQUENCE: &str = "sequence";

/// Sorts the points into block order and writes them as metric block `id`.
pub(super) fn write_metric_block(blocks_dir: &Path, id: u64, mut points: Vec<StoredPoint>) -> Result<WrittenBlock> {
    if points.is_empty() {
        return Err(StoreError::Block(format!("refusing to write metric block {id} without points")));
    }
    points.sort_by(|a, b| series_order(a).cmp(&series_order(b)));
    let mut services: Vec<String> = points.iter().map(|point| point.row.service.clone()).collect();
    services.sort_unstable();
    services.dedup();
    let facts = FooterFacts {
        rows: points.len(),
        min_us: points.iter().map(|point| point.row.time_us).min().unwrap_or(0),
        max_us: points.iter().map(|point| point.row.time_us).max().unwrap_or(0),
        services,
        trace_ids: Vec::new(),
    };
    let mut frame = points_to_frame(&points)?;
    drop(points);
    block::write_other_block(blocks_dir, id, &mut frame, facts)
}

/// One series together, in time and then arrival order.
fn series_order(point: &StoredPoint) -> (&str, &str, &str, i64, u64) {
    let row = &point.row;
    (&row.service, &row.name, &row.attributes, row.time_us, point.sequence)
}

/// The points of a block matching `predicate`, in block order.
pub(super) fn read_points(block: &BlockMeta, predicate: Expr) -> Result<Vec<StoredPoint>> {
    let frame = block::lazy_block(block)?.filter(predicate).collect().map_err(polars_error)?;
    frame_to_points(&frame)
}

/// The distinct (service, name, unit, kind) of a block's points matching `predicate`.
pub(super) fn read_names(block: &BlockMeta, predicate: Expr) -> Result<Vec<(String, String, String, String)>> {
    let frame = block::lazy_block(block)?
        .filter(predicate)
        .select([col(SERVICE), col(NAME), col(UNIT), col(KIND)])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()
        .map_err(polars_error)?;
    let strs = |name: &str| frame.column(name).and_then(|c| c.str()).map_err(polars_error);
    let (service, name, unit, kind) = (strs(SERVICE)?, strs(NAME)?, strs(UNIT)?, strs(KIND)?);
    let text = |column: &StringChunked, index: usize| column.get(index).unwrap_or_default().to_owned();
    Ok((0..frame.height())
        .map(|index| (text(service, index), text(name, index), text(unit, index), text(kind, index)))
        .collect())
}

fn points_to_frame(points: &[StoredPoint]) -> Result<DataFrame> {
    let rows: Vec<&MetricPoint> = points.iter().map(|point| &point.row).collect();
    let histograms: Vec<Option<&HistogramValue>> = rows.iter().map(|row| row.histogram.as_ref()).collect();
    let text = |name: &str, values: Vec<&str>| Column::new(name.into(), values);
    let floats = |name: &str, values: Vec<Option<f64>>| Column::new(name.into(), values);
    let list = |name: &str, values: Vec<Option<Series>>| {
        values.into_iter().collect::<ListChunked>().with_name(name.into()).into_column()
    };
    let columns = vec![
        Column::new(TIME_US.into(), rows.iter().map(|row| row.time_us).collect::<Vec<i64>>()),
        Column::new(START_US.into(), rows.iter().map(|row| row.start_us).collect::<Vec<i64>>()),
        text(SERVICE, rows.iter().map(|row| row.service.as_str()).collect()),
        text(NAME, rows.iter().map(|row| row.name.as_str()).collect()),
        text(UNIT, rows.iter().map(|row| row.unit.as_str()).collect()),
        text(KIND, rows.iter().map(|row| row.kind.name()).collect()),
        text(ATTRIBUTES, rows.iter().map(|row| row.attributes.as_str()).collect()),
        floats(VALUE, rows.iter().map(|row| row.value).collect()),
        Column::new(COUNT.into(), histograms.iter().map(|h| h.map(|h| h.count)).collect::<Vec<Option<u64>>>()),
        floats(SUM, histograms.iter().map(|h| h.and_then(|h| h.sum)).collect()),
        floats(MIN, histograms.iter().map(|h| h.and_then(|h| h.min)).collect()),
        floats(MAX, histograms.iter().map(|h| h.and_then(|h| h.max)).collect()),
        list(BOUNDS, histograms.iter().map(|h| h.map(|h| Series::new("".into(), h.bounds.as_slice()))).collect()),
        list(COUNTS, histograms.iter().map(|h| h.map(|h| Series::new("".into(), h.counts.as_slice()))).collect()),
        Column::new(SEQUENCE.into(), points.iter().map(|point| point.sequence).collect::<Vec<u64>>()),
    ];
    DataFrame::new(points.len(), columns).map_err(polars_error)
}

fn frame_to_points(frame: &DataFrame) -> Result<Vec<StoredPoint>> {
    let i64s = |name: &str| frame.column(name).and_then(|c| c.i64()).map_err(polars_error);
    let f64s = |name: &str| frame.column(name).and_then(|c| c.f64()).map_err(polars_error);
    let strs = |name: &str| frame.column(name).and_then(|c| c.str()).map_err(polars_error);
    let lists = |name: &str| frame.column(name).and_then(|c| c.list()).map_err(polars_error);
    let (time, start) = (i64s(TIME_US)?, i64s(START_US)?);
    let (service, name, unit, kind, attributes) =
        (strs(SERVICE)?, strs(NAME)?, strs(UNIT)?, strs(KIND)?, strs(ATTRIBUTES)?);
    let (value, sum, min, max) = (f64s(VALUE)?, f64s(SUM)?, f64s(MIN)?, f64s(MAX)?);
    let count = frame.column(COUNT).and_then(|c| c.u64()).map_err(polars_error)?;
    let sequence = frame.column(SEQUENCE).and_then(|c| c.u64()).map_err(polars_error)?;
    let (bounds, counts) = (lists(BOUNDS)?, lists(COUNTS)?);
    let missing =
        |index: usize, column: &str| StoreError::Block(format!("metric row {index}: column {column} is null"));
    (0..frame.height())
        .map(|index| {
            let text = |column: &StringChunked, name: &str| {
                column.get(index).map(str::to_owned).ok_or_else(|| missing(index, name))
            };
            let kind_name = text(kind, KIND)?;
            let kind = MetricKind::from_name(&kind_name)
                .ok_or_else(|| StoreError::Block(format!("metric row {index}: unknown kind {kind_name:?}")))?;
            let histogram = match count.get(index) {
                Some(count) => Some(HistogramValue {
                    count,
                    sum: sum.get(index),
                    min: min.get(index),
                    max: max.get(index),
                    bounds: list_values(bounds.get_as_series(index), |s| {
                        s.f64().map(|c| c.into_no_null_iter().collect())
                    })?,
                    counts: list_values(counts.get_as_series(index), |s| {
                        s.u64().map(|c| c.into_no_null_iter().collect())
                    })?,
                }),
                None => None,
            };
            let row = MetricPoint {
                time_us: time.get(index).ok_or_else(|| missing(index, TIME_US))?,
                start_us: start.get(index).ok_or_else(|| missing(index, START_US))?,
                service: text(service, SERVICE)?,
                name: text(name, NAME)?,
                unit: text(unit, UNIT)?,
                kind,
                attributes: text(attributes, ATTRIBUTES)?,
                value: value.get(index),
                histogram,
            };
            Ok(StoredPoint { row, sequence: sequence.get(index).ok_or_else(|| missing(index, SEQUENCE))? })
        })
        .collect()
}

fn list_values<T>(series: Option<Series>, read: impl Fn(&Series) -> PolarsResult<Vec<T>>) -> Result<Vec<T>> {
    match series {
        Some(series) => read(&series).map_err(polars_error),
        None => Ok(Vec::new()),
    }
}
