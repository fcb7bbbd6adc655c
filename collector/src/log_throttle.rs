//! At most one warning a second for a failure that repeats on every batch (a store refusing
//! writes over its memory budget, a full disk): the drops are counted anyway (`Counters`), and a
//! log flooded with the same line hides everything else. The line written says how many like it
//! were held back.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    /// When a line was last let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    /// `Some(held_back)` when a line may be written now; `None` when it is held back.
    pub(crate) fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held_back) = &mut *state;
        match last {
            Some(at) if now.saturating_duration_since(*at) < INTERVAL => {
                *held_back += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_counting_the_rest() {
        let throttle = LogThrottle::default();
        let start = Instant::now();
        assert_eq!(throttle.allow_at(start), Some(0));
        assert_eq!(throttle.allow_at(start + Duration::from_millis(10)), None);
        assert_eq!(throttle.allow_at(start + Duration::from_millis(999)), None);
        assert_eq!(throttle.allow_at(start + Duration::from_millis(1000)), Some(2));
        assert_eq!(throttle.allow_at(start + Duration::from_millis(2500)), Some(0));
    }
}
