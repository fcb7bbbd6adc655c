//! A signal kept beside the spans — log records, metric data points — with the spans'
//! guarantees and most of their code: a write-ahead log of its own (`wal.rs`'s segments, group
//! commit and replay, a different payload), recent rows readable at once, flushes to Parquet
//! blocks of the signal's own schema (through `block/mod.rs`'s durable write and open), and the
//! same retention by age and size. These blocks are not compacted: nothing reads two of them
//! as one trace, and their size is the flush size.
//!
//! ```text
//! <data_dir>/<folder>/                          folder = SignalRow::FOLDER (logs, metrics)
//!   wal/00000000000000000003.wal, checkpoint   as the span log, payload Vec<{row, sequence}> (postcard)
//!   blocks/00000000000000000001.parquet        blocks (schema in logs/block.rs, metrics/block.rs)
//! ```
//!
//! What a signal adds is its row type, its block writer ([`SignalRow`]) and its reads, which
//! start from [`SignalStore::snapshot`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fluoro_proto::Durability;
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::block::{delete_blocks, open_blocks, BlockMeta, WrittenBlock};
use crate::disk::DiskSpace;
use crate::error::{Result, StoreError};
use crate::logs::LogStore;
use crate::metrics::MetricStore;
use crate::retention::expired_blocks;
use crate::store::{StoreConfig, OBSOLETE_FILE_GRACE};
use crate::wal::{self, Checkpoint, Damage, Wal, WalEntry, WalOptions};

/// A kind of row kept beside the spans.
pub(crate) trait SignalRow:
    Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Its folder under the data directory.
    const FOLDER: &'static str;
    /// Sorts the rows into block order and writes them as block `id`.
    fn write_block(blocks_dir: &Path, id: u64, rows: Vec<Stored<Self>>) -> Result<WrittenBlock>;
}

/// One row as stored: the ingest row and its arrival order (which breaks ties between rows of
/// the same microsecond, so a trace's log lines keep the order they were sent in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored<R> {
    pub(crate) row: R,
    pub(crate) sequence: u64,
}

impl<R: SignalRow> WalEntry for Stored<R> {
    fn decode(payload: &[u8]) -> Option<Vec<Stored<R>>> {
        postcard::from_bytes(payload).ok()
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// Rows not yet in a block.
#[derive(Debug)]
struct Recent<R> {
    rows: Vec<Stored<R>>,
    /// When the first of them arrived, for the flush age.
    oldest: Option<Instant>,
}

impl<R> Default for Recent<R> {
    fn default() -> Self {
        Recent { rows: Vec::new(), oldest: None }
    }
}

/// Rows being written to a block: still readable, no longer appended to.
type Frozen<R> = Arc<Vec<Stored<R>>>;

#[derive(Debug)]
struct SignalState<R> {
    active: Recent<R>,
    frozen: Option<Frozen<R>>,
    blocks: Vec<Arc<BlockMeta>>,
}

impl<R> SignalState<R> {
    fn recent(&self) -> impl Iterator<Item = &Stored<R>> {
        self.active.rows.iter().chain(self.frozen.iter().flat_map(|frozen| frozen.iter()))
    }
}

/// One signal's part of the store; owned by [`crate::Store`], which runs its flushes and
/// maintenance.
#[derive(Debug)]
pub(crate) struct SignalStore<R> {
    config: StoreConfig,
    wal_dir: PathBuf,
    blocks_dir: PathBuf,
    wal: Wal,
    next_sequence: AtomicU64,
    next_generation: AtomicU64,
    next_block_id: AtomicU64,
    /// "Append to the log, add to recent records" is one step with respect to a rotation.
    order: Mutex<()>,
    state: RwLock<SignalState<R>>,
    flushing: Mutex<()>,
    obsolete: Mutex<Vec<(Instant, Arc<BlockMeta>)>>,
    closed: AtomicBool,
    /// The store's disk-full state, shared with the spans.
    disk: Arc<DiskSpace>,
    /// What replay cut from this signal's log on open.
    pub(crate) damage: Damage,
}

impl<R: SignalRow> SignalStore<R> {
    /// Opens `<data_dir>/<folder>` and recovers it as the span store recovers (docs/storage.md).
    pub(crate) fn open(config: &StoreConfig, disk: &Arc<DiskSpace>) -> Result<SignalStore<R>> {
        let root = config.data_dir.join(R::FOLDER);
        let (wal_dir, blocks_dir) = (root.join("wal"), root.join("blocks"));
        for dir in [&wal_dir, &blocks_dir] {
            std::fs::create_dir_all(dir).map_err(|error| StoreError::io(dir, error))?;
        }
        let blocks = open_blocks(&blocks_dir)?;
        let checkpoint = wal::read_checkpoint(&wal_dir)?;
        let trusted = checkpoint.filter(|c| blocks.iter().any(|block| block.id == c.block_id));
        let replayed = wal::replay::<Stored<R>>(&wal_dir, trusted.map_or(0, |c| c.generation))?;
        let next_generation = replayed.last_generation.max(checkpoint.map_or(0, |c| c.generation)) + 1;
        let max_block_id = blocks.iter().map(|b| b.id).chain(checkpoint.map(|c| c.block_id)).max();
        let options = WalOptions {
            sync_interval: config.sync_interval,
            queue_records: config.wal_queue_records,
            disk: disk.clone(),
            thread_start: config.thread_start,
        };
        let wal = Wal::start(&wal_dir, next_generation, replayed.next_sequence, options)?;
        tracing::info!(
            signal = R::FOLDER,
            blocks = blocks.len(),
            recovered = replayed.entries.len(),
            "signal store opened"
        );
        let oldest = (!replayed.entries.is_empty()).then(Instant::now);
        Ok(SignalStore {
            config: config.clone(),
            wal_dir,
            blocks_dir,
            wal,
            next_sequence: AtomicU64::new(replayed.next_sequence),
            next_generation: AtomicU64::new(next_generation + 1),
            next_block_id: AtomicU64::new(max_block_id.map_or(1, |id| id + 1)),
            order: Mutex::new(()),
            state: RwLock::new(SignalState {
                active: Recent { rows: replayed.entries, oldest },
                frozen: None,
                blocks: blocks.into_iter().map(Arc::new).collect(),
            }),
            flushing: Mutex::new(()),
            obsolete: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            disk: disk.clone(),
            damage: replayed.damage,
        })
    }

    /// Stores a batch; acknowledged batches are fsynced when this returns, and every batch is
    /// readable.
    pub(crate) fn write(&self, rows: Vec<R>, durability: Durability) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.disk.check()?;
        let acknowledged = durability == Durability::Acknowledged;
        let first = self.next_sequence.fetch_add(rows.len() as u64, Ordering::SeqCst);
        let stored: Vec<Stored<R>> =
            rows.into_iter().zip(first..).map(|(row, sequence)| Stored { row, sequence }).collect();
        let record = wal::frame_record(&stored)?;
        let pending = {
            let _order = self.order.lock();
            let pending = self.wal.append(record, acknowledged)?;
            let mut state = self.state.write();
            state.active.oldest.get_or_insert_with(Instant::now);
            state.active.rows.extend(stored);
            pending
        };
        pending.wait()
    }

    pub(crate) fn flush_due(&self) -> bool {
        let state = self.state.read();
        let by_rows = state.active.rows.len() >= self.config.flush_rows;
        let by_age = state.active.oldest.is_some_and(|oldest| oldest.elapsed() >= self.config.flush_age);
        by_rows || by_age
    }

    /// Rotates the log, writes recent rows to a block, then deletes the segments it holds;
    /// the same steps and failure handling as `Shared::flush` for spans.
    pub(crate) fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock();
        let Some((generation, frozen)) = self.freeze()? else { return Ok(()) };
        let block_id = self.next_block_id.fetch_add(1, Ordering::SeqCst);
        let written = wal::write_checkpoint(&self.wal_dir, Checkpoint { generation, block_id })
            .and_then(|()| R::write_block(&self.blocks_dir, block_id, frozen.as_ref().clone()));
        let written = match written {
            Ok(written) => written,
            Err(error) => {
                let mut state = self.state.write();
                state.frozen = None;
                state.active.rows.extend(frozen.iter().cloned());
                state.active.oldest.get_or_insert_with(Instant::now);
                return Err(error);
            }
        };
        {
            let mut state = self.state.write();
            state.blocks.push(Arc::new(written.meta));
            state.frozen = None;
        }
        tracing::info!(signal = R::FOLDER, block_id, rows = frozen.len(), "flushed recent rows to a block");
        match written.unsynced {
            Some(error) => Err(error),
            None => {
                if let Err(error) = self.wal.remove_before(generation) {
                    tracing::warn!(signal = R::FOLDER, generation, error = %error, "failed to delete log segments already in a block");
                }
                Ok(())
            }
        }
    }

    fn freeze(&self) -> Result<Option<(u64, Frozen<R>)>> {
        let _order = self.order.lock();
        if self.state.read().active.rows.is_empty() {
            return Ok(None);
        }
        let generation = self.next_generation.fetch_add(1, Ordering::SeqCst);
        self.wal.rotate(generation, self.next_sequence.load(Ordering::SeqCst))?;
        let mut state = self.state.write();
        let frozen = Arc::new(std::mem::take(&mut state.active).rows);
        state.frozen = Some(frozen.clone());
        Ok(Some((generation, frozen)))
    }

    /// Retention by age and size over the signal's blocks (the span settings, applied to each
    /// signal on its own), then deleting files retired longer than the grace period (all with `None`).
    pub(crate) fn maintain(&self, now: Option<Instant>) -> Result<()> {
        let _one_at_a_time = self.flushing.lock();
        let blocks: Vec<BlockMeta> = self.state.read().blocks.iter().map(|b| BlockMeta::clone(b)).collect();
        let expired = expired_blocks(&blocks, now_us(), self.config.retention_max_age, self.config.retention_max_bytes);
        if !expired.is_empty() {
            tracing::info!(signal = R::FOLDER, blocks = ?expired, "retention expired blocks");
            let mut state = self.state.write();
            let (retired, kept): (Vec<_>, Vec<_>) =
                state.blocks.drain(..).partition(|block| expired.contains(&block.id));
            state.blocks = kept;
            drop(state);
            let retired_at = now.unwrap_or_else(Instant::now);
            self.obsolete.lock().extend(retired.into_iter().map(|block| (retired_at, block)));
        }
        let due: Vec<(Instant, Arc<BlockMeta>)> = {
            let mut obsolete = self.obsolete.lock();
            let is_due = |at: &Instant| now.is_none_or(|now| now.duration_since(*at) >= OBSOLETE_FILE_GRACE);
            let (due, waiting) = obsolete.drain(..).partition(|(at, _)| is_due(at));
            *obsolete = waiting;
            due
        };
        if due.is_empty() {
            return Ok(());
        }
        let deleted = delete_blocks(&self.blocks_dir, &due.iter().map(|(_, block)| block.as_ref()).collect::<Vec<_>>());
        if deleted.is_err() {
            self.obsolete.lock().extend(due);
        }
        deleted
    }

    /// Graceful stop: flush, delete retired files, sync. Later writes fail.
    pub(crate) fn close(&self) -> Result<()> {
        self.flush()?;
        self.maintain(None)?;
        self.closed.store(true, Ordering::SeqCst);
        self.wal.sync()
    }

    pub(crate) fn recent_rows(&self) -> usize {
        let state = self.state.read();
        state.active.rows.len() + state.frozen.as_ref().map_or(0, |frozen| frozen.len())
    }

    /// The recent rows `keep` selects, and the blocks to read for the rest: what every read
    /// starts from. The blocks may be retired meanwhile; their files outlive the grace period.
    pub(crate) fn snapshot(&self, keep: impl Fn(&Stored<R>) -> bool) -> (Vec<Stored<R>>, Vec<Arc<BlockMeta>>) {
        let state = self.state.read();
        let recent = state.recent().filter(|stored| keep(stored)).cloned().collect();
        (recent, state.blocks.clone())
    }

    /// As [`Self::snapshot`], keeping of the recent rows only the first `at_most` in `order`:
    /// a search page clones what it can show, not every match.
    pub(crate) fn snapshot_first<K: Ord>(
        &self,
        keep: impl Fn(&Stored<R>) -> bool,
        at_most: usize,
        order: impl Fn(&Stored<R>) -> K,
    ) -> (Vec<Stored<R>>, Vec<Arc<BlockMeta>>) {
        let state = self.state.read();
        let mut recent: Vec<&Stored<R>> = state.recent().filter(|stored| keep(stored)).collect();
        if at_most > 0 && recent.len() > at_most {
            recent.select_nth_unstable_by_key(at_most - 1, |stored| order(stored));
            recent.truncate(at_most);
        }
        (recent.into_iter().cloned().collect(), state.blocks.clone())
    }

    pub(crate) fn block_files(&self) -> Vec<(u64, PathBuf)> {
        self.state.read().blocks.iter().map(|block| (block.id, block.path.clone())).collect()
    }
}

fn now_us() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// The signals kept beside the spans, flushed and maintained together.
#[derive(Debug)]
pub(crate) struct Signals {
    pub(crate) logs: LogStore,
    pub(crate) metrics: MetricStore,
}

impl Signals {
    pub(crate) fn open(config: &StoreConfig, disk: &Arc<DiskSpace>) -> Result<Signals> {
        Ok(Signals { logs: LogStore::open(config, disk)?, metrics: MetricStore::open(config, disk)? })
    }

    /// What replay cut from both logs on open.
    pub(crate) fn damage(&self) -> Damage {
        let mut damage = self.logs.damage;
        damage.add(self.metrics.damage);
        damage
    }

    /// Flushes every signal now; the first error is returned after trying all.
    pub(crate) fn flush(&self) -> Result<()> {
        let logs = self.logs.flush();
        let metrics = self.metrics.flush();
        logs.and(metrics)
    }

    /// Flushes the signals whose recent rows are due (by count or age); failures are logged
    /// and retried at the next tick.
    pub(crate) fn flush_due_ones(&self) {
        flush_if_due(&self.logs);
        flush_if_due(&self.metrics);
    }

    pub(crate) fn maintain(&self, now: Option<Instant>) -> Result<()> {
        let logs = self.logs.maintain(now);
        let metrics = self.metrics.maintain(now);
        logs.and(metrics)
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.logs.close()?;
        self.metrics.close()
    }
}

fn flush_if_due<R: SignalRow>(signal: &SignalStore<R>) {
    if signal.flush_due() {
        if let Err(error) = signal.flush() {
            signal.disk.note(&error);
            tracing::warn!(signal = R::FOLDER, error = %error, "failed to flush recent rows to a block");
        }
    }
}
