//! The store's one rule for two versions of one span (same trace id and span id): a completed
//! version beats an in-progress one, then the later arrival (`sequence`) wins. A resent
//! in-progress segment arriving after its completion must not undo it.
//!
//! The rule has two forms, kept side by side so they cannot drift apart:
//! - [`preferred_version`] on stored spans: recent data on insert, trace lookups, compaction;
//! - [`keep_preferred_versions`] on a polars frame: scans, whose versions meet only when their
//!   trace has spans in two sources (`scan.rs`).

use polars::prelude::*;

use crate::columns::{ID, IN_PROGRESS, SEQUENCE, TRACE_HI, TRACE_LO};
use crate::error::{Result, StoreError};
use crate::record::StoredSpan;

/// Whether `candidate` replaces `current`.
pub(crate) fn preferred_version(candidate: &StoredSpan, current: &StoredSpan) -> bool {
    match (candidate.row.in_progress, current.row.in_progress) {
        (true, false) => false,
        (false, true) => true,
        _ => candidate.sequence > current.sequence,
    }
}

/// The rows of `spans` that [`preferred_version`] keeps: the highest preference rank within each
/// `(trace_hi, trace_lo, id)`, where any completed version outranks every in-progress one.
/// `spans` needs the `VERSION_COLUMNS`.
pub(crate) fn keep_preferred_versions(spans: LazyFrame) -> Result<LazyFrame> {
    // Sequences are arrival counters, far below 2^62, so the completed bonus never overflows
    // and never lets an in-progress version win.
    let completed_bonus = when(col(IN_PROGRESS)).then(lit(0u64)).otherwise(lit(1u64 << 62));
    let rank = col(SEQUENCE) + completed_bonus;
    let best = rank
        .clone()
        .max()
        .over([col(TRACE_HI), col(TRACE_LO), col(ID)])
        .map_err(|error| StoreError::Polars(error.to_string()))?;
    Ok(spans.filter(rank.eq(best)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::spans_to_frame;
    use crate::block::tests::span;

    fn version(trace_n: u64, id: u64, in_progress: bool, sequence: u64) -> StoredSpan {
        let mut version = span(trace_n, id, 1_000);
        version.row.in_progress = in_progress;
        version.sequence = sequence;
        version
    }

    /// Both forms keep the same version of every span, whatever order the versions come in.
    #[test]
    fn the_frame_form_keeps_what_the_row_form_keeps() {
        // Span (1, 7): in progress (3), completed (5), a later in-progress resend (9); span
        // (2, 7): two completed, the later (8) wins; (1, 8) is alone.
        let versions = vec![
            version(1, 7, true, 3),
            version(1, 7, false, 5),
            version(1, 8, false, 2),
            version(2, 7, false, 4),
            version(2, 7, false, 8),
            version(1, 7, true, 9),
        ];
        let mut by_rule: Vec<u64> = Vec::new();
        for span in &versions {
            let rivals =
                versions.iter().filter(|other| (other.row.trace_id, other.row.id) == (span.row.trace_id, span.row.id));
            if rivals.filter(|other| other.sequence != span.sequence).all(|other| !preferred_version(other, span)) {
                by_rule.push(span.sequence);
            }
        }
        by_rule.sort_unstable();
        let frame = spans_to_frame(&versions).unwrap().lazy();
        let kept = keep_preferred_versions(frame).unwrap().collect().unwrap();
        let mut by_frame: Vec<u64> = kept.column(SEQUENCE).unwrap().u64().unwrap().into_no_null_iter().collect();
        by_frame.sort_unstable();
        assert_eq!(by_rule, vec![2, 5, 8]);
        assert_eq!(by_frame, by_rule);
    }
}
