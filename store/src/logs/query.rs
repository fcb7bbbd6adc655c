//! Reading log records back: the lines of a trace in time order, and a paginated search.
//!
//! Search pages run newest first. A page ends at a [`LogCursor`] (the last record's time and
//! arrival sequence); the next page starts strictly below it, so records arriving meanwhile
//! never shift a page and none is shown twice. Blocks are read newest first, and reading stops
//! once the page is full and the next block ends before the page's oldest record.

use fluoro_proto::{LogRow, SegmentId, TraceId};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::block::{read_logs, trace_predicate, SERVICE, SEVERITY_NUMBER, TIME_US};
use super::{LogStore, StoredLog};
use crate::block::BlockMeta;
use crate::error::Result;

/// The most records one search page returns, whatever the caller asks.
pub const MAX_LOG_PAGE: usize = 1000;

/// A log search. Every condition is optional except the time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub service: Option<String>,
    /// Records with a severity number at least this (9 = INFO, 13 = WARN, 17 = ERROR).
    pub min_severity: i32,
    /// Case-insensitive substring of the body.
    pub text: Option<String>,
    /// `[from_us, to_us)` on the record's time.
    pub from_us: i64,
    pub to_us: i64,
    /// At most this many records (capped at [`MAX_LOG_PAGE`]).
    pub limit: usize,
    /// Continue below this cursor (from the previous page).
    pub before: Option<LogCursor>,
}

/// Where a page ended: the last record's time and arrival sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogCursor {
    pub time_us: i64,
    pub sequence: u64,
}

/// One page of a search, newest first; `next` is set when more records match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogPage {
    pub logs: Vec<LogRow>,
    pub next: Option<LogCursor>,
}

impl LogStore {
    /// The records of a trace (of one span, with `span_id`), in time order.
    pub(crate) fn trace_logs(&self, trace_id: TraceId, span_id: Option<SegmentId>) -> Result<Vec<LogRow>> {
        let belongs = |log: &StoredLog| {
            log.row.trace_id == Some(trace_id) && span_id.is_none_or(|span| log.row.span_id == Some(span))
        };
        let (mut found, blocks) = self.snapshot(belongs);
        for block in blocks.iter().filter(|block| block.may_contain_trace(&trace_id)) {
            found.extend(read_logs(block, Some(trace_predicate(trace_id, span_id)))?);
        }
        found.sort_by_key(|log| (log.row.time_us, log.sequence));
        Ok(found.into_iter().map(|log| log.row).collect())
    }

    /// One page of records matching `query`, newest first.
    pub(crate) fn search(&self, query: &LogQuery) -> Result<LogPage> {
        let limit = query.limit.clamp(1, MAX_LOG_PAGE);
        let needle = query.text.as_deref().map(str::to_lowercase);
        let matches = |log: &StoredLog| {
            let row = &log.row;
            row.time_us >= query.from_us
                && row.time_us < query.to_us
                && row.severity_number >= query.min_severity
                && query.service.as_deref().is_none_or(|service| row.service == service)
                && query.before.is_none_or(|before| cursor(log) < before)
                && needle.as_deref().is_none_or(|needle| row.body.to_lowercase().contains(needle))
        };
        let (mut found, mut blocks) = self.snapshot(matches);
        let upper_us = query.before.map_or(query.to_us, |before| before.time_us.saturating_add(1).min(query.to_us));
        blocks.retain(|block| block_may_match(block, query, upper_us));
        blocks.sort_by_key(|block| std::cmp::Reverse(block.max_end_us));
        for block in &blocks {
            newest_first(&mut found);
            found.truncate(limit + 1);
            if found.len() > limit && found.last().is_some_and(|oldest| oldest.row.time_us > block.max_end_us) {
                break;
            }
            let read = read_logs(block, Some(block_predicate(query, upper_us)))?;
            found.extend(read.into_iter().filter(&matches));
        }
        newest_first(&mut found);
        let more = found.len() > limit;
        found.truncate(limit);
        let next = if more { found.last().map(cursor) } else { None };
        Ok(LogPage { logs: found.into_iter().map(|log| log.row).collect(), next })
    }
}

fn cursor(log: &StoredLog) -> LogCursor {
    LogCursor { time_us: log.row.time_us, sequence: log.sequence }
}

fn newest_first(logs: &mut [StoredLog]) {
    logs.sort_by_key(|log| std::cmp::Reverse(cursor(log)));
}

fn block_may_match(block: &BlockMeta, query: &LogQuery, upper_us: i64) -> bool {
    let services_match = query.service.as_ref().is_none_or(|service| block.services.contains(service));
    services_match && block.min_start_us < upper_us && block.max_end_us >= query.from_us
}

/// The conditions the Parquet reader can apply (time, severity, service); the text and the
/// cursor's sequence are checked on the records read.
fn block_predicate(query: &LogQuery, upper_us: i64) -> Expr {
    let mut predicate = col(TIME_US)
        .gt_eq(lit(query.from_us))
        .and(col(TIME_US).lt(lit(upper_us)))
        .and(col(SEVERITY_NUMBER).gt_eq(lit(query.min_severity)));
    if let Some(service) = &query.service {
        predicate = predicate.and(col(SERVICE).eq(lit(service.clone())));
    }
    predicate
}
