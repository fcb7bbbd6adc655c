//! The store's one rule for two versions of one span (same trace id and span id): a completed
//! version beats an in-progress one, then the later arrival (`sequence`) wins. A resent
//! in-progress segment arriving after its completion must not undo it.
//!
//! The rule has two forms, kept side by side so they cannot drift apart:
//! - [`preferred_version`] on stored spans: recent data on insert, trace lookups, compaction;
//! - [`preferred_rows`] on the version columns of a frame: scans, whose versions meet only
//!   when their trace has spans in two sources (`scan.rs`).

use polars::prelude::*;

use crate::columns::{u64_column, ID, IN_PROGRESS, SEQUENCE, TRACE_HI, TRACE_LO};
use crate::error::{polars_error, Result};
use crate::record::StoredSpan;

/// Whether `candidate` replaces `current`.
pub(crate) fn preferred_version(candidate: &StoredSpan, current: &StoredSpan) -> bool {
    match (candidate.row.in_progress, current.row.in_progress) {
        (true, false) => false,
        (false, true) => true,
        _ => candidate.sequence > current.sequence,
    }
}

/// Which rows of `versions` [`preferred_version`] keeps: those of the highest preference rank
/// within their `(trace_hi, trace_lo, id)`, where any completed version outranks every
/// in-progress one. `versions` needs the `SPAN_KEY_COLUMNS` and `PREFERENCE_COLUMNS`; a row without a sequence is never
/// kept. One pass over the rows with a map of each span's best rank: the polars window it
/// replaces (`max().over(key)`) was ~4 % of a map call's CPU, most of it in polars' hashing.
pub(crate) fn preferred_rows(versions: &DataFrame) -> Result<Vec<bool>> {
    let (his, los, ids, sequences) = (
        u64_column(versions, TRACE_HI)?,
        u64_column(versions, TRACE_LO)?,
        u64_column(versions, ID)?,
        u64_column(versions, SEQUENCE)?,
    );
    let in_progress = versions.column(IN_PROGRESS).and_then(Column::bool).map_err(polars_error)?;
    let keys: Vec<SpanKey> = his.iter().zip(los.iter()).zip(ids.iter()).map(|((hi, lo), id)| (hi, lo, id)).collect();
    let ranks: Vec<Option<u64>> =
        in_progress.iter().zip(sequences.iter()).map(|(in_progress, sequence)| rank(in_progress, sequence)).collect();
    let mut best: PlHashMap<SpanKey, u64> = PlHashMap::with_capacity(keys.len());
    for (key, rank) in keys.iter().zip(&ranks) {
        if let Some(rank) = *rank {
            best.entry(*key).and_modify(|best| *best = (*best).max(rank)).or_insert(rank);
        }
    }
    Ok(keys.iter().zip(&ranks).map(|(key, rank)| rank.is_some() && best.get(key) == rank.as_ref()).collect())
}

/// `(trace_hi, trace_lo, id)` as stored: a null is a value of its own, as in a group-by.
pub(crate) type SpanKey = (Option<u64>, Option<u64>, Option<u64>);

/// A version's preference: sequences are arrival counters, far below 2^62, so the completed
/// bonus never overflows and never lets an in-progress version win. A null `in_progress`
/// counts as completed.
fn rank(in_progress: Option<bool>, sequence: Option<u64>) -> Option<u64> {
    let completed_bonus = if in_progress == Some(true) { 0 } else { 1 << 62 };
    sequence.map(|sequence| sequence + completed_bonus)
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
        let frame = spans_to_frame(&versions).unwrap();
        let kept = preferred_rows(&frame).unwrap();
        let mut by_frame: Vec<u64> =
            versions.iter().zip(kept).filter(|(_, kept)| *kept).map(|(span, _)| span.sequence).collect();
        by_frame.sort_unstable();
        assert_eq!(by_rule, vec![2, 5, 8]);
        assert_eq!(by_frame, by_rule);
    }
}
