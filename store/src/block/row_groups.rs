//! Which rows of a block may hold a trace, from the footer alone: each row group's range of
//! `trace_hi` and `trace_lo` values (the Parquet statistics every block carries), kept in
//! memory when the block is opened, so a lookup reads the id columns of only the row groups
//! that may hold the trace, then every column of only the trace's own rows.
//!
//! - Nothing is added to the file: blocks written before this read the same way. A block whose
//!   statistics are missing or unreadable has no index and is read as before (the whole block
//!   filtered by polars).
//! - The ids are `UINT_64` stored as `INT64`. A writer may order the statistics as signed
//!   values; a range whose minimum reads above its maximum as unsigned (a row group holding
//!   values on both sides of 2^63 under signed order) admits every value, so no order a
//!   writer chose can exclude a trace the row group holds.

use std::ops::Range;
use std::sync::Arc;

use fluoro_proto::TraceId;
use polars::io::parquet::read::FileMetadata;
use polars_parquet::parquet::statistics::Statistics;

use crate::columns::{TRACE_HI, TRACE_LO};

/// One row group: its rows in the block and the id ranges it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowGroupTraces {
    pub rows: Range<usize>,
    hi: Option<(u64, u64)>,
    lo: Option<(u64, u64)>,
}

impl RowGroupTraces {
    /// `false` means no row of this group belongs to the trace.
    pub(crate) fn may_hold(&self, id: &TraceId) -> bool {
        let (hi, lo) = id.halves();
        admits(self.hi, hi) && admits(self.lo, lo)
    }
}

/// The row groups of one block, in row order.
#[derive(Debug, Clone)]
pub(crate) struct TraceIndex(Arc<[RowGroupTraces]>);

impl TraceIndex {
    /// The index of a block's footer; `None` when a row group lacks readable id statistics.
    pub(crate) fn from_metadata(metadata: &FileMetadata) -> Option<TraceIndex> {
        let mut first_row = 0;
        let mut groups = Vec::with_capacity(metadata.row_groups.len());
        for group in &metadata.row_groups {
            let rows = first_row..first_row + group.num_rows();
            first_row = rows.end;
            let range = |name: &str| -> Option<Option<(u64, u64)>> {
                let mut chunks = group.columns_under_root_iter(name)?;
                let chunk = chunks.next()?;
                match chunk.statistics(&metadata.footer_buf)? {
                    Ok(Statistics::Int64(stats)) => {
                        let (min, max) = (stats.min_value?, stats.max_value?);
                        // Bits reinterpreted: the column holds u64 values.
                        let (min, max) = (min as u64, max as u64);
                        Some((min <= max).then_some((min, max)))
                    }
                    _ => None,
                }
            };
            groups.push(RowGroupTraces { rows, hi: range(TRACE_HI)?, lo: range(TRACE_LO)? });
        }
        Some(TraceIndex(groups.into()))
    }

    /// The row groups that may hold any of `ids`, in row order.
    pub(crate) fn row_groups_for<'a>(&'a self, ids: &'a [TraceId]) -> impl Iterator<Item = &'a RowGroupTraces> + 'a {
        self.0.iter().filter(|group| ids.iter().any(|id| group.may_hold(id)))
    }

    #[cfg(test)]
    pub(crate) fn groups(&self) -> &[RowGroupTraces] {
        &self.0
    }
}

/// Whether a `(min, max)` range (`None`: unknown, anything) may hold `value`.
fn admits(range: Option<(u64, u64)>, value: u64) -> bool {
    range.is_none_or(|(min, max)| (min..=max).contains(&value))
}

#[cfg(test)]
#[path = "row_groups_tests.rs"]
mod tests;
