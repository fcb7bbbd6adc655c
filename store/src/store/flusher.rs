//! The store's background thread: flushes recent data, log records and metric points when
//! due, applies retention and compaction, and probes a full disk until it has room again.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Flusher, Shared, MAINTENANCE_INTERVAL};
use crate::error::{Result, StoreError};

impl Flusher {
    pub(super) fn start(shared: Arc<Shared>) -> Result<Flusher> {
        let (wake, wakeups) = mpsc::sync_channel(1);
        let data_dir = shared.config.data_dir.clone();
        let thread_start = shared.config.thread_start;
        let thread = std::thread::Builder::new()
            .name("fluoro-flush".to_owned())
            .spawn(move || {
                thread_start.inspect(|start| start());
                flush_loop(&shared, &wakeups)
            })
            .map_err(|error| StoreError::io(data_dir, error))?;
        Ok(Flusher { wake, thread })
    }

    pub(super) fn stop(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}

/// Flushes when asked (rows) or when the age limit passes; stops when the store drops its
/// sender.
fn flush_loop(shared: &Shared, wakeups: &Receiver<()>) {
    // Checking four times per age limit keeps a generation's age within 125 % of the limit.
    let tick = (shared.config.flush_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut last_maintenance = Instant::now();
    loop {
        match wakeups.recv_timeout(tick) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // While the disk is full a flush would fail again: the probe says when there is space.
        let disk_full = shared.disk.probe();
        let flushed = !disk_full && shared.flush_due();
        if flushed {
            if let Err(error) = shared.flush() {
                shared.disk.note(&error);
                tracing::warn!(error = %error, "failed to flush recent data to a block");
            }
        }
        if !disk_full {
            shared.signals.flush_due_ones();
        }
        if flushed || last_maintenance.elapsed() >= MAINTENANCE_INTERVAL {
            last_maintenance = Instant::now();
            if let Err(error) = shared.maintain(last_maintenance) {
                tracing::warn!(error = %error, "failed to apply retention or compaction");
            }
            if let Err(error) = shared.signals.maintain(Some(last_maintenance)) {
                tracing::warn!(error = %error, "failed to apply retention to log or metric blocks");
            }
        }
    }
}
