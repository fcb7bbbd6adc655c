//! Request statistics (xray.md 5.3): each request's [`Outcome`], their aggregation
//! ([`Accumulator`]) and X-Ray's `EdgeStatistics`/`ServiceStatistics` shape it is read into.
//!
//! - Classes are exclusive, decided in the order fault → throttle → error → ok, from the
//!   stored flags (ingest already derived missing flags from the HTTP status). A flag is only
//!   taken as set or unset when it is known: a missing one makes its class, and the classes
//!   it would exclude, not apply.
//! - Every request counts; only completed ones (not in progress, with an end) add to
//!   `TotalResponseTime` and histograms.

use serde::Serialize;

use crate::histogram::LatencyHistogram;

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

/// One group's aggregate.
#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    pub statistics: Statistics,
    pub response_time: LatencyHistogram,
    /// Earliest start; 0 when no request had one.
    pub start_us: i64,
    /// Latest end (the start, for requests without one); 0 when none had either.
    pub end_us: i64,
}

/// The status class of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Ok = 0,
    Error = 1,
    Throttle = 2,
    Fault = 3,
}

/// What one request contributes to statistics (compact: one is kept per span).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    start_us: i64,
    /// The end, or the start when there is none.
    end_us: i64,
    /// [`HAS_START`], [`HAS_END`], [`COMPLETED`] and the class in the low two bits.
    bits: u8,
}

const HAS_START: u8 = 4;
const HAS_END: u8 = 8;
const COMPLETED: u8 = 16;
const CLASS_BITS: u8 = 3;

impl Outcome {
    /// A request is completed when it has a start and an end and is known not to be in
    /// progress; `class` is a [`Class`] as `u8`.
    pub(crate) fn new(
        start_us: Option<i64>,
        end_us: Option<i64>,
        in_progress: Option<bool>,
        class: Option<u8>,
    ) -> Self {
        let bound_end_us = end_us.or(start_us);
        let completed = start_us.is_some() && end_us.is_some() && in_progress == Some(false);
        let bits = class.unwrap_or_default() & CLASS_BITS
            | if start_us.is_some() { HAS_START } else { 0 }
            | if bound_end_us.is_some() { HAS_END } else { 0 }
            | if completed { COMPLETED } else { 0 };
        Outcome { start_us: start_us.unwrap_or_default(), end_us: bound_end_us.unwrap_or_default(), bits }
    }

    pub(crate) fn class(&self) -> Class {
        match self.bits & CLASS_BITS {
            1 => Class::Error,
            2 => Class::Throttle,
            3 => Class::Fault,
            _ => Class::Ok,
        }
    }

    pub(crate) fn start_us(&self) -> Option<i64> {
        (self.bits & HAS_START != 0).then_some(self.start_us)
    }

    /// The end, or the start of a request without one.
    pub(crate) fn end_us(&self) -> Option<i64> {
        (self.bits & HAS_END != 0).then_some(self.end_us)
    }

    /// End − start of a completed request.
    pub(crate) fn response_us(&self) -> Option<i64> {
        (self.bits & COMPLETED != 0).then(|| self.end_us.wrapping_sub(self.start_us))
    }
}

/// Statistics of a group of requests, built one [`Outcome`] at a time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accumulator {
    total: u64,
    faults: u64,
    throttles: u64,
    errors: u64,
    total_response_us: i64,
    response_time: LatencyHistogram,
    start_us: Option<i64>,
    end_us: Option<i64>,
}

impl Accumulator {
    pub(crate) fn add(&mut self, outcome: &Outcome) {
        self.total += 1;
        match outcome.class() {
            Class::Fault => self.faults += 1,
            Class::Throttle => self.throttles += 1,
            Class::Error => self.errors += 1,
            Class::Ok => {}
        }
        if let Some(response_us) = outcome.response_us() {
            self.total_response_us = self.total_response_us.wrapping_add(response_us);
            self.response_time.record_micros(response_us);
        }
        if let Some(start_us) = outcome.start_us() {
            self.start_us = Some(self.start_us.map_or(start_us, |known| known.min(start_us)));
        }
        if let Some(end_us) = outcome.end_us() {
            self.end_us = Some(self.end_us.map_or(end_us, |known| known.max(end_us)));
        }
    }

    /// Adds the requests another accumulator holds.
    pub(crate) fn merge(&mut self, other: &Accumulator) {
        self.total += other.total;
        self.faults += other.faults;
        self.throttles += other.throttles;
        self.errors += other.errors;
        self.total_response_us = self.total_response_us.wrapping_add(other.total_response_us);
        self.response_time.merge(&other.response_time);
        self.start_us = [self.start_us, other.start_us].into_iter().flatten().min();
        self.end_us = [self.end_us, other.end_us].into_iter().flatten().max();
    }

    pub(crate) fn finish(self) -> Aggregate {
        Aggregate {
            statistics: Statistics::from_counts(
                self.total,
                self.faults,
                self.throttles,
                self.errors,
                self.total_response_us,
            ),
            response_time: self.response_time,
            start_us: self.start_us.unwrap_or_default(),
            end_us: self.end_us.unwrap_or_default(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_known_to_be_finished_has_a_response_time() {
        let done = Outcome::new(Some(1_000), Some(1_250), Some(false), Some(Class::Fault as u8));
        assert_eq!((done.start_us(), done.end_us(), done.response_us()), (Some(1_000), Some(1_250), Some(250)));
        assert!(matches!(done.class(), Class::Fault));
        let running = Outcome::new(Some(1_000), Some(1_250), Some(true), None);
        assert_eq!((running.end_us(), running.response_us()), (Some(1_250), None));
        let no_end = Outcome::new(Some(1_000), None, Some(false), None);
        assert_eq!((no_end.end_us(), no_end.response_us()), (Some(1_000), None), "bounded by its start");
        let unknown = Outcome::new(Some(1_000), Some(1_250), None, None);
        assert_eq!(unknown.response_us(), None);
        let no_start = Outcome::new(None, Some(1_250), Some(false), None);
        assert_eq!((no_start.start_us(), no_start.response_us()), (None, None));
        assert!(matches!(no_start.class(), Class::Ok));
    }
}
