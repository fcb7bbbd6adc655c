//! Request statistics (xray.md 5.3): the aggregation over observations and X-Ray's
//! `EdgeStatistics`/`ServiceStatistics` shape it is read into.
//!
//! - Classes are exclusive, decided in the order fault → throttle → error → ok, from the
//!   stored flags (ingest already derived missing flags from the HTTP status).
//! - Every request counts; only completed ones add to `TotalResponseTime` and histograms.

use polars::prelude::*;
use serde::Serialize;

use super::observations::{END_US, ERROR, FAULT, IN_PROGRESS, START_US, THROTTLE};
use crate::error::Result;
use crate::histogram::LatencyHistogram;

const TOTAL: &str = "total";
const FAULTS: &str = "faults";
const THROTTLES: &str = "throttles";
const ERRORS: &str = "errors";
const DURATIONS: &str = "durations";

/// X-Ray's `EdgeStatistics` / `ServiceStatistics` (the same fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statistics {
    pub ok_count: u64,
    pub error_statistics: ErrorStatistics,
    pub fault_statistics: FaultStatistics,
    pub total_count: u64,
    /// Seconds, summed over completed requests.
    pub total_response_time: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorStatistics {
    pub throttle_count: u64,
    pub other_count: u64,
    pub total_count: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaultStatistics {
    pub other_count: u64,
    pub total_count: u64,
}

/// One group's aggregate, read back from a collected frame.
#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    pub statistics: Statistics,
    pub response_time: LatencyHistogram,
    pub start_us: i64,
    pub end_us: i64,
}

impl Statistics {
    fn from_counts(total: u64, faults: u64, throttles: u64, errors: u64, total_response_us: i64) -> Self {
        Statistics {
            ok_count: total.saturating_sub(faults + throttles + errors),
            error_statistics: ErrorStatistics {
                throttle_count: throttles,
                other_count: errors,
                total_count: throttles + errors,
            },
            fault_statistics: FaultStatistics { other_count: faults, total_count: faults },
            total_count: total,
            total_response_time: total_response_us as f64 / 1e6,
        }
    }
}

/// The aggregations, for a `group_by` over observations, that [`read_aggregates`] reads.
pub(crate) fn aggregations() -> Vec<Expr> {
    let fault = col(FAULT);
    let throttle = col(THROTTLE).and(col(FAULT).not());
    let error = col(ERROR).and(col(THROTTLE).not()).and(col(FAULT).not());
    let completed = col(IN_PROGRESS).not().and(col(END_US).is_not_null());
    let count = |class: Expr, name: &str| class.cast(DataType::UInt64).sum().alias(name);
    vec![
        len().cast(DataType::UInt64).alias(TOTAL),
        count(fault, FAULTS),
        count(throttle, THROTTLES),
        count(error, ERRORS),
        // Not aggregated, so each group gets the list of its completed durations.
        (col(END_US) - col(START_US)).filter(completed).alias(DURATIONS),
        col(START_US).min().alias(START_US),
        col(END_US).fill_null(col(START_US)).max().alias(END_US),
    ]
}

/// One [`Aggregate`] per row of a frame aggregated with [`aggregations`].
pub(crate) fn read_aggregates(frame: &DataFrame) -> Result<Vec<Aggregate>> {
    let counts = |name: &str| -> Result<Vec<u64>> {
        Ok(frame.column(name)?.cast(&DataType::UInt64)?.u64()?.iter().map(Option::unwrap_or_default).collect())
    };
    let times = |name: &str| -> Result<Vec<i64>> {
        Ok(frame.column(name)?.i64()?.iter().map(Option::unwrap_or_default).collect())
    };
    let (totals, faults, throttles, errors) = (counts(TOTAL)?, counts(FAULTS)?, counts(THROTTLES)?, counts(ERRORS)?);
    let (starts, ends) = (times(START_US)?, times(END_US)?);
    let durations = frame.column(DURATIONS)?.list()?;
    let mut aggregates = Vec::with_capacity(frame.height());
    for (row, group_durations) in durations.amortized_iter().enumerate() {
        let values: Vec<i64> = match group_durations {
            Some(series) => series.as_ref().i64()?.iter().flatten().collect(),
            None => Vec::new(),
        };
        let total_response_us = values.iter().sum();
        aggregates.push(Aggregate {
            statistics: Statistics::from_counts(
                totals[row],
                faults[row],
                throttles[row],
                errors[row],
                total_response_us,
            ),
            response_time: LatencyHistogram::from_micros(values),
            start_us: starts[row],
            end_us: ends[row],
        });
    }
    Ok(aggregates)
}
