//! Response times of one service in one minute (or an hour of minutes) as counts in fixed
//! logarithmic buckets: small, mergeable and serializable, which the detector's per-minute
//! baselines need (they are kept in `insights.json`), at the price of ±12 % resolution.
//!
//! Bucket `i` holds times in `(1 ms · 1.25^(i-1), 1 ms · 1.25^i]`; bucket 0 everything up to
//! 1 ms, the last one everything above ~13 min.

use serde::{Deserialize, Serialize};

const BUCKETS: usize = 64;
const FIRST_BOUND_SECONDS: f64 = 0.001;
const GROWTH: f64 = 1.25;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyBuckets {
    /// Empty until the first time is recorded.
    counts: Vec<u32>,
}

impl LatencyBuckets {
    pub fn record(&mut self, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let index = if seconds <= FIRST_BOUND_SECONDS {
            0
        } else {
            ((seconds / FIRST_BOUND_SECONDS).ln() / GROWTH.ln()).ceil().clamp(0.0, (BUCKETS - 1) as f64) as usize
        };
        self.counts[index] = self.counts[index].saturating_add(1);
    }

    pub fn merge(&mut self, other: &LatencyBuckets) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&count| u64::from(count)).sum()
    }

    /// The bucket holding the 99th percentile, if any time was recorded.
    pub fn p99_bucket(&self) -> Option<usize> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (total as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        self.counts.iter().position(|&count| {
            seen += u64::from(count);
            seen >= rank
        })
    }

    /// Times recorded in buckets above `bucket`: certainly slower than its upper bound.
    pub fn above(&self, bucket: usize) -> u64 {
        self.counts.iter().skip(bucket + 1).map(|&count| u64::from(count)).sum()
    }

    /// The upper bound of `bucket`, in seconds.
    pub fn upper_bound(bucket: usize) -> f64 {
        FIRST_BOUND_SECONDS * GROWTH.powi(bucket as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_and_the_times_above_it() {
        let mut buckets = LatencyBuckets::default();
        for _ in 0..99 {
            buckets.record(0.020);
        }
        buckets.record(0.500);
        let p99 = buckets.p99_bucket().unwrap();
        assert!((0.020..0.020 * GROWTH).contains(&LatencyBuckets::upper_bound(p99)));
        assert_eq!(buckets.above(p99), 1);
        let mut merged = LatencyBuckets::default();
        merged.merge(&buckets);
        merged.merge(&buckets);
        assert_eq!(merged.total(), 200);
        assert_eq!(LatencyBuckets::default().p99_bucket(), None);
        buckets.record(f64::NAN);
        buckets.record(1e9);
        assert_eq!(buckets.total(), 101, "NaN is dropped, huge times land in the last bucket");
    }
}
