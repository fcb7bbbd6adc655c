//! The maintenance lease of collectors sharing a bucket (`docs/scale-out.md`, "The maintenance
//! lease"). Each collector maintains its own blocks; what belongs to no live collector — the
//! blocks of a collector that never came back — is maintained by the one holding the lease:
//! - every maintenance pass (at least every 30 s) a collector rewrites its heartbeat
//!   (`writers/<n>`), then renews the lease if it holds it (a PUT conditional on the e-tag it
//!   last wrote) or contends for it: a create-only PUT when there is none, a PUT conditional on
//!   the e-tag it read once the lease has expired by more than [`skew_margin`]. A failed
//!   conditional PUT means another collector won: this one backs off until the next pass;
//! - the holder deletes the published blocks of **abandoned** writers (no heartbeat for
//!   [`ABANDONED_AFTER_LEASES`] lease durations) whose data object is older than the retention
//!   age by its last-modified date in the LIST (no GET: the date is at or after the block's
//!   newest span, so this never deletes sooner than the writer itself would have), then their
//!   `writers/<n>` once none is left. Deletes are idempotent and stop at the lease's expiry by
//!   the holder's clock, so a holder that lost the lease mid-pass does no harm; a live
//!   writer's blocks are never touched.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use object_store::{PutMode, UpdateVersion};
use parking_lot::Mutex;

use super::roles::writer_of;
use super::{Shared, Store, StoreConfig, StoreRole};
use crate::bucket::{Bucket, Lease, ListedBlock, WriterSeen};
use crate::error::Result;

/// The lease's default duration; renewed on every maintenance pass.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(120);
/// A writer whose heartbeat is older than this many lease durations is abandoned.
pub const ABANDONED_AFTER_LEASES: u32 = 10;
/// Clocks of collectors are assumed to agree within this (NTP keeps them within milliseconds);
/// a shorter lease assumes a quarter of its duration.
const MAX_SKEW_MARGIN: Duration = Duration::from_secs(10);

/// The lease's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseStats {
    /// Whether this collector held the lease after its last maintenance pass.
    pub holds_lease: bool,
    /// Expired leases of other collectors this one took over.
    pub takeovers: u64,
    /// Blocks of abandoned writers this one deleted as holder.
    pub abandoned_blocks_deleted: u64,
}

impl LeaseStats {
    /// Prometheus text exposition of the counters.
    pub fn prometheus(&self) -> String {
        let samples = [
            (
                "fluoro_maintenance_lease_held",
                "gauge",
                "1 while this collector holds the bucket's maintenance lease.",
                u64::from(self.holds_lease),
            ),
            (
                "fluoro_maintenance_lease_takeovers_total",
                "counter",
                "Expired maintenance leases of other collectors taken over.",
                self.takeovers,
            ),
            (
                "fluoro_abandoned_blocks_deleted_total",
                "counter",
                "Blocks of abandoned writers deleted by retention as lease holder.",
                self.abandoned_blocks_deleted,
            ),
        ];
        samples
            .iter()
            .map(|(name, kind, help, value)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"))
            .collect()
    }
}

/// A collector's side of the lease, its heartbeat written at once: a collector back after a
/// long absence is not taken for abandoned.
pub(super) fn start(config: &StoreConfig, writer: u32, bucket: Option<&Bucket>) -> Option<MaintenanceLease> {
    let (StoreRole::Collector, Some(bucket)) = (&config.role, bucket) else { return None };
    let lease = MaintenanceLease::new(writer, config.lease_duration);
    if let Err(error) = lease.heartbeat(bucket) {
        tracing::warn!(writer, error = %error, "failed to write this collector's heartbeat");
    }
    Some(lease)
}

impl Store {
    /// The maintenance lease's counters, on a collector.
    pub fn lease_stats(&self) -> Option<LeaseStats> {
        self.shared.lease.as_ref().map(MaintenanceLease::stats)
    }
}

impl Shared {
    /// A collector's share of the bucket-wide maintenance; a failure waits for the next pass.
    pub(super) fn maintain_bucket(&self) {
        let (Some(lease), Some(bucket)) = (&self.lease, &self.bucket) else { return };
        if let Err(error) = lease.pass(bucket, self.config.retention_max_age) {
            tracing::warn!(error = %error, "failed the heartbeat, the maintenance lease or abandoned writers' retention");
        }
    }
}

/// One collector's side of the lease: what it last wrote, and its counters.
#[derive(Debug)]
pub(super) struct MaintenanceLease {
    writer: u32,
    duration: Duration,
    held: Mutex<Option<Held>>,
    holds: AtomicBool,
    takeovers: AtomicU64,
    abandoned_blocks_deleted: AtomicU64,
}

/// The lease as this collector last wrote it.
#[derive(Debug)]
struct Held {
    version: UpdateVersion,
    expires_at_ms: u64,
}

impl MaintenanceLease {
    pub(super) fn new(writer: u32, duration: Duration) -> MaintenanceLease {
        MaintenanceLease {
            writer,
            duration,
            held: Mutex::new(None),
            holds: AtomicBool::new(false),
            takeovers: AtomicU64::new(0),
            abandoned_blocks_deleted: AtomicU64::new(0),
        }
    }

    pub(super) fn stats(&self) -> LeaseStats {
        LeaseStats {
            holds_lease: self.holds.load(Ordering::Relaxed),
            takeovers: self.takeovers.load(Ordering::Relaxed),
            abandoned_blocks_deleted: self.abandoned_blocks_deleted.load(Ordering::Relaxed),
        }
    }

    pub(super) fn heartbeat(&self, bucket: &Bucket) -> Result<()> {
        bucket.heartbeat(self.writer, now_ms())
    }

    /// One maintenance pass: the heartbeat, the lease, and as holder the abandoned writers'
    /// retention (blocks older than `retention_max_age`).
    pub(super) fn pass(&self, bucket: &Bucket, retention_max_age: Duration) -> Result<()> {
        self.heartbeat(bucket)?;
        let Some(expires_at_ms) = self.hold(bucket)? else { return Ok(()) };
        let retention = AbandonedRetention {
            own_writer: self.writer,
            now_ms: now_ms(),
            abandoned_after_ms: millis(self.duration.saturating_mul(ABANDONED_AFTER_LEASES)),
            retention_ms: millis(retention_max_age),
        };
        let writers = bucket.writers_seen()?;
        if retention.abandoned(&writers).is_empty() {
            // Listing every block costs a request per 1,000: only when there is work.
            return Ok(());
        }
        let plan = retention.plan(&writers, &bucket.listed_blocks()?);
        for name in &plan.delete {
            if now_ms() >= expires_at_ms {
                // Another collector may hold the lease by now: leave the rest to the next pass.
                return Ok(());
            }
            bucket.delete_named(name)?;
            self.abandoned_blocks_deleted.fetch_add(1, Ordering::Relaxed);
        }
        if !plan.delete.is_empty() {
            tracing::info!(blocks = plan.delete.len(), "retention deleted blocks of abandoned writers");
        }
        for writer in plan.remove_writers {
            bucket.remove_writer(writer)?;
            tracing::info!(writer, "removed an abandoned writer with no blocks left");
        }
        if let Some(writer) = plan.retire_writer {
            bucket.retire_writer(writer)?;
            tracing::info!(writer, "retired the highest abandoned writer number, with no blocks left");
        }
        Ok(())
    }

    /// Renews or takes the lease; its expiry (by this clock) while this collector holds it.
    fn hold(&self, bucket: &Bucket) -> Result<Option<u64>> {
        let mut held = self.held.lock();
        // Not holding until this pass's write succeeds: an error leaves this collector out.
        self.holds.store(false, Ordering::Relaxed);
        let now = now_ms();
        let lease = Lease { holder: self.writer, expires_at_ms: now.saturating_add(millis(self.duration)) };
        let written = match held.take() {
            Some(previous) => {
                let renewed = bucket.write_lease(lease, PutMode::Update(previous.version))?;
                if renewed.is_none() {
                    tracing::warn!(writer = self.writer, "lost the maintenance lease: another collector took it over");
                }
                renewed
            }
            None => self.contend(bucket, lease, now)?,
        };
        *held = written.map(|version| Held { version, expires_at_ms: lease.expires_at_ms });
        self.holds.store(held.is_some(), Ordering::Relaxed);
        Ok(held.as_ref().map(|held| held.expires_at_ms))
    }

    /// Takes the lease if nobody holds it, if it is this writer's own (from before a restart),
    /// or once it has expired; the new version when this collector won.
    fn contend(&self, bucket: &Bucket, lease: Lease, now: u64) -> Result<Option<UpdateVersion>> {
        let Some((current, version)) = bucket.read_lease()? else {
            return bucket.write_lease(lease, PutMode::Create);
        };
        if current.holder == self.writer {
            return bucket.write_lease(lease, PutMode::Update(version));
        }
        if now < current.expires_at_ms.saturating_add(millis(skew_margin(self.duration))) {
            return Ok(None);
        }
        let won = bucket.write_lease(lease, PutMode::Update(version))?;
        if won.is_some() {
            self.takeovers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(writer = self.writer, previous = current.holder, "took over the expired maintenance lease");
        }
        Ok(won)
    }
}

/// How long after a lease's expiry (by its holder's clock) another collector may take it.
pub(super) fn skew_margin(lease: Duration) -> Duration {
    (lease / 4).min(MAX_SKEW_MARGIN)
}

/// What the holder judges by, in ms.
#[derive(Debug, Clone, Copy)]
struct AbandonedRetention {
    own_writer: u32,
    now_ms: u64,
    abandoned_after_ms: u64,
    retention_ms: u64,
}

/// The holder's work for one pass.
#[derive(Debug, Default, PartialEq, Eq)]
struct AbandonedPlan {
    /// Blocks (`<id>.parquet`) of abandoned writers past the retention age.
    delete: Vec<String>,
    /// Abandoned writers left with no block once those are deleted.
    remove_writers: Vec<u32>,
    /// The highest writer number, abandoned with no block left: marked retired rather than
    /// removed, because `claim_writer` claims above the highest listed, so no number is reused.
    retire_writer: Option<u32>,
}

impl AbandonedRetention {
    /// The writers without a heartbeat for long enough (never the holder's own).
    fn abandoned(&self, writers: &[WriterSeen]) -> BTreeSet<u32> {
        writers
            .iter()
            .filter(|seen| seen.writer != self.own_writer && !seen.retired)
            .filter(|seen| self.now_ms.saturating_sub(seen.last_seen_ms) >= self.abandoned_after_ms)
            .map(|seen| seen.writer)
            .collect()
    }

    fn plan(&self, writers: &[WriterSeen], blocks: &[ListedBlock]) -> AbandonedPlan {
        let abandoned = self.abandoned(writers);
        let mut plan = AbandonedPlan::default();
        let mut keeping_blocks = BTreeSet::new();
        for block in blocks.iter().filter(|block| abandoned.contains(&writer_of(block.id))) {
            // A marker whose data is gone is the rest of a cut-off deletion: finish it.
            let expired =
                block.data_modified_ms.is_none_or(|modified| self.now_ms.saturating_sub(modified) >= self.retention_ms);
            match expired {
                true => plan.delete.push(block.name.clone()),
                false => {
                    keeping_blocks.insert(writer_of(block.id));
                }
            }
        }
        let highest = writers.iter().map(|seen| seen.writer).max();
        plan.retire_writer = highest.filter(|writer| abandoned.contains(writer) && !keeping_blocks.contains(writer));
        plan.remove_writers = abandoned
            .into_iter()
            .filter(|writer| !keeping_blocks.contains(writer) && Some(*writer) != highest)
            .collect();
        plan
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn block(writer: u32, sequence: u64, modified_ms: Option<u64>) -> ListedBlock {
        let id = super::super::roles::first_block_id(writer) + sequence;
        ListedBlock { name: format!("{id}.parquet"), id, data_modified_ms: modified_ms }
    }

    fn seen(writer: u32, last_seen_ms: u64) -> WriterSeen {
        WriterSeen { writer, last_seen_ms, retired: false }
    }

    /// Now is minute 1000; abandoned after 20 minutes without heartbeat; retention 60 minutes.
    fn retention(own_writer: u32) -> AbandonedRetention {
        AbandonedRetention {
            own_writer,
            now_ms: 1000 * MINUTE,
            abandoned_after_ms: 20 * MINUTE,
            retention_ms: 60 * MINUTE,
        }
    }

    #[test]
    fn only_old_blocks_of_writers_without_heartbeat_are_deleted() {
        let writers = [seen(1, 100 * MINUTE), seen(2, 999 * MINUTE), seen(3, 999 * MINUTE)];
        let blocks = [
            block(1, 0, Some(200 * MINUTE)),
            block(1, 1, Some(990 * MINUTE)),
            block(1, 2, None),
            block(2, 0, Some(100 * MINUTE)),
        ];
        let plan = retention(3).plan(&writers, &blocks);
        assert_eq!(plan.delete, vec![blocks[0].name.clone(), blocks[2].name.clone()]);
        assert!(plan.remove_writers.is_empty(), "writer 1 still has a young block");
    }

    #[test]
    fn an_abandoned_writer_with_no_blocks_is_removed_and_the_highest_marked_retired() {
        let writers = [seen(1, 0), seen(2, 0), seen(3, 999 * MINUTE), seen(4, 0)];
        let blocks = [block(2, 0, Some(0)), block(4, 0, Some(0))];
        let plan = retention(3).plan(&writers, &blocks);
        assert_eq!(plan.delete.len(), 2);
        assert_eq!(plan.remove_writers, vec![1, 2], "4 stays: it is the highest number claimed");
        assert_eq!(plan.retire_writer, Some(4), "and is marked retired, so it is not listed again");
        let retired = [seen(1, 999 * MINUTE), WriterSeen { retired: true, ..seen(2, 0) }];
        assert_eq!(retention(1).plan(&retired, &[block(2, 0, Some(0))]), AbandonedPlan::default(), "retired: done");
    }

    #[test]
    fn the_holder_never_judges_its_own_writer_abandoned() {
        let plan = retention(1).plan(&[seen(1, 0), seen(2, 999 * MINUTE)], &[block(1, 0, Some(0))]);
        assert_eq!(plan, AbandonedPlan::default());
    }

    #[test]
    fn a_short_lease_waits_a_quarter_of_itself_past_expiry_a_long_one_ten_seconds() {
        assert_eq!(skew_margin(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(skew_margin(Duration::from_secs(120)), Duration::from_secs(10));
    }

    #[test]
    fn the_counters_read_as_prometheus_samples() {
        let text = LeaseStats { holds_lease: true, takeovers: 2, abandoned_blocks_deleted: 5 }.prometheus();
        assert!(text.contains("# TYPE fluoro_maintenance_lease_held gauge\nfluoro_maintenance_lease_held 1\n"));
        assert!(text.contains("\nfluoro_maintenance_lease_takeovers_total 2\n"));
        assert!(text.contains("\nfluoro_abandoned_blocks_deleted_total 5\n"));
    }
}
