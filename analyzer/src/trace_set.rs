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

    /// Only the rows of `spans` that belong to a trace of the set.
    pub fn restrict(&self, spans: LazyFrame) -> LazyFrame {
        let on = [col(TRACE_HI), col(TRACE_LO)];
        spans.join(self.ids.clone().lazy(), on.clone(), on, JoinArgs::new(JoinType::Inner))
    }
}
