//! `limits.spans_per_trace`: how many spans each trace has received lately, so that the spans
//! that would take a trace past the limit are refused while the rest of a request is kept.
//!
//! - Counted here, on the way in, for every source (UDP, PutTraceSegments, OTLP), rather than in
//!   the store: the store's recent data forgets a trace's spans at each flush (every minute by
//!   default), and counting a trace's spans in Parquet blocks would mean reading them on every
//!   write. A span is counted as received: one sent twice (an in-progress segment and then its
//!   completed version) counts twice.
//! - Two generations of counts, each of at most [`MAX_TRACES_PER_GENERATION`] traces: the
//!   current one is retired to "previous" after [`GENERATION`] or when full, and a trace's count
//!   is the sum of both. So a trace is bounded over 10 to 20 minutes of ingest (X-Ray traces
//!   last seconds), memory stays bounded (~2 × 13 MiB: 400,000 entries fit a table of 2^19
//!   buckets) however many traces arrive, and a flood of new traces only shortens the window.
//!   After a restart, counting starts over.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fluoro_proto::TraceId;
use foldhash::HashMap;

/// X-Ray's own guidance: a trace of more than 10,000 spans is not one a person can read.
pub const DEFAULT_SPANS_PER_TRACE: usize = 10_000;
/// How long one generation of counts collects before it becomes the previous one.
const GENERATION: Duration = Duration::from_secs(600);
/// Traces counted per generation; a full generation is retired early.
const MAX_TRACES_PER_GENERATION: usize = 400_000;

/// The recent span count of each trace, against a limit.
#[derive(Debug)]
pub(crate) struct TraceSizes {
    limit: usize,
    generations: Mutex<Generations>,
}

/// Spans per trace, hashed with foldhash rather than std's SipHash: the lookups of every
/// document took 3 % of the UDP parse workers' samples. Its seed is random per process, so a
/// sender cannot aim trace ids at one bucket.
#[derive(Debug)]
struct Generations {
    current: HashMap<TraceId, u32>,
    previous: HashMap<TraceId, u32>,
    started: Instant,
}

impl TraceSizes {
    pub(crate) fn new(limit: usize) -> TraceSizes {
        let generations =
            Generations { current: HashMap::default(), previous: HashMap::default(), started: Instant::now() };
        TraceSizes { limit, generations: Mutex::new(generations) }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Admits each group of spans (a document's, or one span) in order: `true` when its trace
    /// stays within the limit with it (and it is counted), `false` when refused (not counted).
    pub(crate) fn admit(&self, groups: impl IntoIterator<Item = (TraceId, usize)>) -> Vec<bool> {
        let mut generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        generations.rotate_if_due(Instant::now());
        groups.into_iter().map(|(trace, spans)| generations.admit(trace, spans, self.limit)).collect()
    }
}

impl Generations {
    fn rotate_if_due(&mut self, now: Instant) {
        if now.duration_since(self.started) >= GENERATION || self.current.len() >= MAX_TRACES_PER_GENERATION {
            self.previous = std::mem::take(&mut self.current);
            self.started = now;
        }
    }

    fn admit(&mut self, trace: TraceId, spans: usize, limit: usize) -> bool {
        let earlier = self.previous.get(&trace).copied().unwrap_or(0) as usize;
        // A refused trace keeps a count of 0 here: one lookup instead of two for the others.
        let count = self.current.entry(trace).or_insert(0);
        if earlier + *count as usize + spans > limit {
            return false;
        }
        *count = count.saturating_add(u32::try_from(spans).unwrap_or(u32::MAX));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: u8) -> TraceId {
        TraceId::from_bytes([n; 16])
    }

    #[test]
    fn spans_past_the_limit_are_refused_per_trace_and_not_counted() {
        let sizes = TraceSizes::new(5);
        assert_eq!(
            sizes.admit([(trace(1), 3), (trace(1), 3), (trace(2), 3), (trace(1), 2)]),
            [true, false, true, true]
        );
        assert_eq!(sizes.admit([(trace(1), 1), (trace(2), 2)]), [false, true]);
    }

    #[test]
    fn a_retired_generation_still_counts_until_the_next_rotation() {
        let mut generations =
            Generations { current: HashMap::default(), previous: HashMap::default(), started: Instant::now() };
        assert!(generations.admit(trace(1), 4, 5));
        generations.rotate_if_due(Instant::now() + GENERATION);
        assert!(!generations.admit(trace(1), 2, 5), "the previous generation's 4 still count");
        generations.rotate_if_due(Instant::now() + 3 * GENERATION);
        generations.rotate_if_due(Instant::now() + 5 * GENERATION);
        assert!(generations.admit(trace(1), 5, 5), "forgotten after two generations");
    }
}
