//! Reading log records back: the lines of a trace in time order, and a paginated search.
//!
//! Search pages run newest first. A page ends at a [`LogCursor`] (the last record's time and
//! arrival sequence); the next page starts strictly below it, so records arriving meanwhile
//! never shift a page and none is shown twice. Blocks are read newest first, each in time slices
//! newest first, the first of about a row group and each next twice as wide (rows are in time
//! order, so the Parquet reader skips the other row groups by their `time_us` statistics), and
//! reading stops once the page is full and the next slice ends before the page's oldest record:
//! the newest page of a large block decodes one or two row groups, not the block. Service,
//! severity and time are pushed into the reader; the text is tested on the decoded body column
//! before a record is built. In memory, only the page's records are cloned.

use fluoro_proto::{LogRow, SegmentId, TraceId};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::block::{read_logs, trace_predicate, SERVICE, SEVERITY_NUMBER, TIME_US};
use super::{LogStore, StoredLog};
use crate::block::{BlockMeta, ROW_GROUP_ROWS};
use crate::error::Result;

/// The most records one search page returns, whatever the caller asks.
pub const MAX_LOG_PAGE: usize = 1000;

/// A log search. Every condition is optional except the time range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    pub logs: Vec<LogRow>,
    pub next: Option<LogCursor>,
    /// Each record's cursor, for merging the pages of several stores (a query node's
    /// collectors, [`merge_pages`]).
    pub positions: Vec<LogCursor>,
}

/// One page out of the pages several stores answered to the same query: the newest `limit`
/// records by cursor. Sequences of different stores are not comparable, but the order is total
/// and each store's next page starts strictly below the cursor, so no record is shown twice and
/// none is skipped unless two stores hold records of the same microsecond.
pub(crate) fn merge_pages(limit: usize, pages: impl IntoIterator<Item = LogPage>) -> LogPage {
    let limit = limit.clamp(1, MAX_LOG_PAGE);
    let mut more = false;
    let mut records: Vec<(LogCursor, LogRow)> = Vec::new();
    for page in pages {
        more |= page.next.is_some();
        records.extend(page.positions.into_iter().zip(page.logs));
    }
    records.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    more |= records.len() > limit;
    records.truncate(limit);
    let next = if more { records.last().map(|(position, _)| *position) } else { None };
    let (positions, logs) = records.into_iter().unzip();
    LogPage { logs, next, positions }
}

impl LogStore {
    /// The records of a trace (of one span, with `span_id`), in time order.
    pub(crate) fn trace_logs(&self, trace_id: TraceId, span_id: Option<SegmentId>) -> Result<Vec<LogRow>> {
        let belongs = |log: &StoredLog| {
            log.row.trace_id == Some(trace_id) && span_id.is_none_or(|span| log.row.span_id == Some(span))
        };
        let (mut found, blocks) = self.snapshot(belongs);
        for block in blocks.iter().filter(|block| block.may_contain_trace(&trace_id)) {
            found.extend(read_logs(block, Some(trace_predicate(trace_id, span_id)), |_| true)?);
        }
        found.sort_by_key(|log| (log.row.time_us, log.sequence));
        Ok(found.into_iter().map(|log| log.row).collect())
    }

    /// One page of records matching `query`, newest first.
    pub(crate) fn search(&self, query: &LogQuery) -> Result<LogPage> {
        let limit = query.limit.clamp(1, MAX_LOG_PAGE);
        let text = query.text.as_deref().map(TextMatcher::new);
        let body_matches = |body: &str| text.as_ref().is_none_or(|text| text.matches(body));
        // Everything but the text, which `read_logs` tests on a block's body column already.
        let matches_but_text = |log: &StoredLog| {
            let row = &log.row;
            row.time_us >= query.from_us
                && row.time_us < query.to_us
                && row.severity_number >= query.min_severity
                && query.service.as_deref().is_none_or(|service| row.service == service)
                && query.before.is_none_or(|before| cursor(log) < before)
        };
        let matches = |log: &StoredLog| matches_but_text(log) && body_matches(&log.row.body);
        // Only the newest limit + 1 can be on this page.
        let (mut found, mut blocks) = self.snapshot_first(matches, limit + 1, |log| std::cmp::Reverse(cursor(log)));
        let upper_us = query.before.map_or(query.to_us, |before| before.time_us.saturating_add(1).min(query.to_us));
        blocks.retain(|block| block_may_match(block, query, upper_us));
        blocks.sort_by_key(|block| std::cmp::Reverse(block.max_end_us));
        for block in &blocks {
            for (from_us, to_us) in time_slices(block, query.from_us, upper_us) {
                newest_first(&mut found);
                found.truncate(limit + 1);
                // Every record left to read is older than `to_us`, so older than the page.
                if found.len() > limit && found.last().is_some_and(|oldest| oldest.row.time_us >= to_us) {
                    break;
                }
                let read = read_logs(block, Some(block_predicate(query, from_us, to_us)), body_matches)?;
                found.extend(read.into_iter().filter(|log| matches_but_text(log)));
            }
        }
        newest_first(&mut found);
        let more = found.len() > limit;
        found.truncate(limit);
        let next = if more { found.last().map(cursor) } else { None };
        let positions = found.iter().map(cursor).collect();
        Ok(LogPage { logs: found.into_iter().map(|log| log.row).collect(), next, positions })
    }
}

/// `[from_us, to_us)` cut into slices newest first, the first of about a row group (as if the
/// block's records were spread evenly over its time range), each next one twice as wide: the
/// newest page reads one or two row groups, a search that must read everything costs a few
/// scans, not one per row group. Together they cover the part of the range the block holds,
/// each time in exactly one slice.
fn time_slices(block: &BlockMeta, from_us: i64, to_us: i64) -> Vec<(i64, i64)> {
    let from_us = from_us.max(block.min_start_us);
    let to_us = to_us.min(block.max_end_us.saturating_add(1));
    if from_us >= to_us {
        return Vec::new();
    }
    let groups = block.rows.div_ceil(ROW_GROUP_ROWS).max(1) as i64;
    let block_span = block.max_end_us.saturating_sub(block.min_start_us).saturating_add(1);
    let mut width = (block_span / groups).max(1);
    let mut slices = Vec::new();
    let mut upper = to_us;
    while upper > from_us {
        let lower = upper.saturating_sub(width).max(from_us);
        slices.push((lower, upper));
        upper = lower;
        width = width.saturating_mul(2);
    }
    slices
}

/// A case-insensitive substring test. An ASCII needle against an ASCII body compares bytes
/// without allocating; anything else lowercases both, as the API promises.
struct TextMatcher {
    lowercase: String,
}

impl TextMatcher {
    fn new(text: &str) -> TextMatcher {
        TextMatcher { lowercase: text.to_lowercase() }
    }

    fn matches(&self, body: &str) -> bool {
        let needle = self.lowercase.as_bytes();
        if self.lowercase.is_ascii() && body.is_ascii() {
            return needle.is_empty()
                || body.as_bytes().windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle));
        }
        body.to_lowercase().contains(&self.lowercase)
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

/// The conditions the Parquet reader can apply (the time slice, severity, service); the text
/// and the cursor's sequence are checked on the records read.
fn block_predicate(query: &LogQuery, from_us: i64, to_us: i64) -> Expr {
    let mut predicate = col(TIME_US)
        .gt_eq(lit(from_us))
        .and(col(TIME_US).lt(lit(to_us)))
        .and(col(SEVERITY_NUMBER).gt_eq(lit(query.min_severity)));
    if let Some(service) = &query.service {
        predicate = predicate.and(col(SERVICE).eq(lit(service.clone())));
    }
    predicate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_matches_ignore_case_in_ascii_and_beyond() {
        let memory = TextMatcher::new("Memory");
        assert!(memory.matches("Illegal MEMORY allocation"));
        assert!(!memory.matches("Illegal memor allocation"));
        assert!(TextMatcher::new("échec").matches("paiement: ÉCHEC"));
        assert!(TextMatcher::new("").matches("anything"));
    }
}
