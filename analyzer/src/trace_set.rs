//! A set of trace ids as a frame of `trace_hi`/`trace_lo`, the form a compiled filter or a
//! group produces and the form a join restricts spans with.

use fluoro_proto::TraceId;
use polars::prelude::*;

use crate::error::Result;
use fluoro_store::columns::{TRACE_HI, TRACE_LO};

/// Distinct trace ids, as their two stored halves.
#[derive(Debug, Clone)]
pub struct TraceIdSet {
    ids: DataFrame,
}

impl TraceIdSet {
    pub fn from_ids(ids: &[TraceId]) -> Result<Self> {
        let (his, los): (Vec<u64>, Vec<u64>) = ids.iter().map(|id| id.halves()).unzip();
        let frame =
            DataFrame::new_infer_height(vec![Column::new(TRACE_HI.into(), his), Column::new(TRACE_LO.into(), los)])?;
        Self::from_frame(frame.lazy())
    }

    /// The distinct `(trace_hi, trace_lo)` pairs of any frame holding those columns (e.g. the
    /// spans a filter matched).
    pub fn from_frame(frame: LazyFrame) -> Result<Self> {
        let ids = frame
            .select([col(TRACE_HI).cast(DataType::UInt64), col(TRACE_LO).cast(DataType::UInt64)])
            .unique_generic(None, UniqueKeepStrategy::Any)
            .collect()?;
        Ok(TraceIdSet { ids })
    }

    pub fn len(&self) -> usize {
        self.ids.height()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.height() == 0
    }

    /// Which rows of `spans` (with `trace_hi` and `trace_lo`) belong to a trace of the set,
    /// in order. A trace's rows lie together, so a row of the previous row's trace repeats its
    /// answer: one lookup per run of a trace's rows.
    pub(crate) fn rows_in(&self, spans: &DataFrame) -> Result<Vec<bool>> {
        let ids = |frame: &DataFrame| -> Result<(UInt64Chunked, UInt64Chunked)> {
            Ok((
                frame.column(TRACE_HI)?.u64()?.rechunk().into_owned(),
                frame.column(TRACE_LO)?.u64()?.rechunk().into_owned(),
            ))
        };
        let (his, los) = ids(&self.ids)?;
        let set: PlHashSet<(Option<u64>, Option<u64>)> = his.iter().zip(los.iter()).collect();
        let (his, los) = ids(spans)?;
        let (mut last, mut inside) = (None, false);
        let rows = his.iter().zip(los.iter()).map(|trace| {
            if last != Some(trace) {
                (last, inside) = (Some(trace), set.contains(&trace));
            }
            inside
        });
        Ok(rows.collect())
    }

    /// Only the rows of `spans` that belong to a trace of the set.
    pub fn restrict(&self, spans: LazyFrame) -> LazyFrame {
        let on = [col(TRACE_HI), col(TRACE_LO)];
        spans.join(self.ids.clone().lazy(), on.clone(), on, JoinArgs::new(JoinType::Inner))
    }
}
