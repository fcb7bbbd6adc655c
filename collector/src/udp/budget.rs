//! The queue's bound: datagrams and bytes queued or being parsed, shared by the receive
//! threads (which wait here while it is full) and the parse workers (which release, and which
//! wait here on standby until a backlog builds).

use parking_lot::{Condvar, Mutex};

use super::RECEIVE_TIMEOUT;

/// Datagrams and bytes in the queue or being parsed. One lock per batch, so admission is exact
/// and cheap; receive threads wait on `room` while it is full.
#[derive(Debug)]
pub(super) struct QueueBudget {
    max_datagrams: usize,
    max_bytes: usize,
    /// Standby workers join from this many datagrams queued or being parsed.
    standby_from: usize,
    used: Mutex<QueueUse>,
    room: Condvar,
    backlog: Condvar,
}

#[derive(Debug, Default)]
struct QueueUse {
    datagrams: usize,
    bytes: usize,
}

impl QueueBudget {
    pub(super) fn new(max_datagrams: usize, max_bytes: usize, standby_from: usize) -> Self {
        QueueBudget {
            max_datagrams,
            max_bytes,
            standby_from,
            used: Mutex::new(QueueUse::default()),
            room: Condvar::new(),
            backlog: Condvar::new(),
        }
    }

    /// Waits until a backlog of `standby_from` datagrams builds, at most [`RECEIVE_TIMEOUT`];
    /// whether there is one.
    pub(super) fn wait_for_backlog(&self) -> bool {
        let mut used = self.used.lock();
        if used.datagrams < self.standby_from {
            self.backlog.wait_for(&mut used, RECEIVE_TIMEOUT);
        }
        used.datagrams >= self.standby_from
    }

    /// Admits the longest prefix of `lengths` that fits; returns how many datagrams.
    #[cfg(test)]
    fn admit(&self, lengths: &[usize]) -> usize {
        self.admit_prefix(&mut self.used.lock(), lengths)
    }

    /// Admits the longest prefix of `lengths` that fits; when not even the first one does,
    /// waits for a release (at most [`RECEIVE_TIMEOUT`]) and tries once more.
    pub(super) fn admit_or_wait(&self, lengths: &[usize]) -> usize {
        let mut used = self.used.lock();
        let admitted = self.admit_prefix(&mut used, lengths);
        if admitted > 0 || lengths.is_empty() {
            return admitted;
        }
        self.room.wait_for(&mut used, RECEIVE_TIMEOUT);
        self.admit_prefix(&mut used, lengths)
    }

    fn admit_prefix(&self, used: &mut QueueUse, lengths: &[usize]) -> usize {
        let mut admitted = 0;
        for &length in lengths {
            if used.datagrams + 1 > self.max_datagrams || used.bytes + length > self.max_bytes {
                break;
            }
            used.datagrams += 1;
            used.bytes += length;
            admitted += 1;
        }
        if admitted > 0 && used.datagrams >= self.standby_from {
            self.backlog.notify_all();
        }
        admitted
    }

    pub(super) fn release(&self, datagrams: usize, bytes: usize) {
        let mut used = self.used.lock();
        used.datagrams = used.datagrams.saturating_sub(datagrams);
        used.bytes = used.bytes.saturating_sub(bytes);
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_budget_admits_a_prefix_within_both_bounds() {
        let budget = QueueBudget::new(3, 100, 3);
        assert_eq!(budget.admit(&[10, 10]), 2);
        assert_eq!(budget.admit(&[10, 10]), 1, "datagram bound");
        budget.release(3, 30);
        assert_eq!(budget.admit(&[60, 50, 1]), 1, "byte bound stops at the first misfit");
    }

    #[test]
    fn a_full_budget_admits_after_a_release() {
        let budget = Arc::new(QueueBudget::new(1, 100, 1));
        assert_eq!(budget.admit_or_wait(&[10, 10]), 1);
        assert_eq!(budget.admit_or_wait(&[10]), 0, "no release within the wait");
        let releaser = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.release(1, 10))
        };
        releaser.join().unwrap();
        assert_eq!(budget.admit_or_wait(&[10]), 1, "admitted once released");
    }

    #[test]
    fn standby_waits_until_a_backlog_builds() {
        let budget = Arc::new(QueueBudget::new(100, 10_000, 4));
        budget.admit(&[10, 10, 10]);
        let started = std::time::Instant::now();
        assert!(!budget.wait_for_backlog(), "three datagrams are no backlog");
        assert!(started.elapsed() >= RECEIVE_TIMEOUT, "it waited for one");
        let standby = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.wait_for_backlog())
        };
        std::thread::sleep(RECEIVE_TIMEOUT / 4);
        budget.admit(&[10]);
        assert!(standby.join().unwrap(), "woken by the fourth");
        assert!(budget.wait_for_backlog(), "a backlog there is not waited for");
    }
}
