//! [`Store`]: the write path (log, then recent data), the background flush to blocks, the
//! read API over recent data and blocks as one, recovery on open and a graceful close.
//!
//! Write: `Store::write` → `StoredBatch` (sequence numbers) → its log record (the documents
//! alone when every row came from one, `wal/documents.rs`) → (under the order lock)
//! `Wal::append` + `RecentSpans::insert` → wait for the fsync outside the lock.
//!
//! Flush (background thread, by rows or age; and on close):
//! 1. under the order lock, rotate the log to generation `g` and freeze recent data (still
//!    readable while it is written);
//! 2. write the checkpoint `(g, block id)`, then the block;
//! 3. publish the block in place of the frozen data, atomically for readers, and delete the
//!    log segments older than `g`. A block renamed into place is published whatever fails
//!    after the rename (see `block::WrittenBlock`), so its spans never reach a second block.
//!
//! Maintenance (the same thread, after flushing): retention deletes blocks past the age or size
//! limit, compaction merges runs of small blocks; both take blocks out of what readers see at
//! once, and delete their files only after [`OBSOLETE_FILE_GRACE`], because scans are lazy and
//! open files late. On a collector it first writes its heartbeat in the bucket and renews or
//! contends for the bucket's maintenance lease; the holder also expires abandoned writers'
//! blocks (`store/lease.rs`).
//!
//! Open: read the checkpoint, open the blocks (discarding half-written ones), replay the log —
//! skipping the segments the checkpoint says are in a block, when that block exists.
//!
//! Log records and metric points take the same steps in `signal.rs` (`logs/`, `metrics/`), on
//! their own logs and blocks; the flush thread here flushes and maintains all three.
//! `store/signals.rs` holds the `Store` methods that read and write them; `store/flusher.rs` the
//! background thread (flushes, maintenance, and the full-disk probe of `disk.rs`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_proto::TraceId;
use fluoro_proto::{Durability, SinkError, SpanBatch, SpanSink, StoredTrace, TraceSource};
use parking_lot::{Condvar, Mutex, RwLock};
use polars::prelude::{Expr, LazyFrame};

use crate::block::{self, BlockMeta, FooterCache, Neighbours, WrittenBlock};
use crate::bucket::{open_published, BlocksCacheStats, Bucket, BucketConfig, RemoteBlocks};
use crate::compaction::{merge_blocks, plan_compaction};
use crate::disk::{DiskSpace, StoreHealth};
use crate::error::{polars_error, Result, StoreError};
use crate::keyed_scan::KeyedScan;
use crate::recent::RecentSpans;
use crate::record::{StoredBatch, StoredSpan};
use crate::retention::expired_blocks;
use crate::scan::{self, SpanScan};
use crate::signal::Signals;
use crate::wal::{self, Checkpoint, Damage, Wal, WalOptions};

pub const DEFAULT_FLUSH_ROWS: usize = 200_000;
pub const DEFAULT_FLUSH_AGE: Duration = Duration::from_secs(60);
/// Recent data (the generation filling and the one being flushed) may hold this much: 1 GiB.
pub const DEFAULT_RECENT_MAX_BYTES: u64 = 1 << 30;
/// Best-effort (UDP) data is on disk within this interval.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(200);
pub const DEFAULT_WAL_QUEUE_RECORDS: usize = 4096;
/// X-Ray keeps traces for 30 days.
pub const DEFAULT_RETENTION_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Blocks no longer read are deleted after this long, so a query that listed them can finish.
pub const OBSOLETE_FILE_GRACE: Duration = Duration::from_secs(60);
/// Below this a flush could not hold even one large write (a `PutTraceSegments` request).
pub const MIN_RECENT_MAX_BYTES: u64 = 1 << 20;
/// A best-effort write waits at most this long for a flush to make room in recent data.
const BUDGET_WAIT: Duration = Duration::from_secs(2);
const BUDGET_POLL: Duration = Duration::from_millis(20);
/// Retention and compaction run after every flush, and at least this often.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);

/// Where the store lives and when it flushes.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Holds `wal/` and `blocks/`; created when missing.
    pub data_dir: PathBuf,
    /// Recent data is flushed to a block once it holds this many rows…
    pub flush_rows: usize,
    /// …or once its oldest row is this old…
    pub flush_age: Duration,
    /// …or once it takes half of this many bytes. Recent data, the generation filling and the
    /// one being flushed together, never takes more: beyond it acknowledged writes are refused
    /// ([`StoreError::OverBudget`]) and best-effort ones wait for a flush to make room (then
    /// are refused after a while). Counted from the spans' storage and sizes (`recent.rs`),
    /// not measured.
    pub recent_max_bytes: u64,
    /// Best-effort writes are fsynced within this interval.
    pub sync_interval: Duration,
    /// Records queued for the log thread before writers wait.
    pub wal_queue_records: usize,
    /// Blocks whose newest span is older than this are deleted.
    pub retention_max_age: Duration,
    /// The oldest blocks are deleted while all blocks together take more bytes than this.
    pub retention_max_bytes: u64,
    /// Blocks with fewer rows than this are merged with their neighbours in time.
    pub compaction_min_rows: usize,
    /// Also publish span blocks to this bucket, and on open fetch those missing locally.
    /// `None` (the default): the local `blocks/` directory only.
    pub bucket: Option<BucketConfig>,
    /// With a bucket: read the published blocks missing locally from the bucket on demand,
    /// keeping at most this many bytes of them in memory (`bucket/cache.rs`), instead of
    /// downloading them all to `blocks/` on open. `None` (the default): download them.
    pub blocks_cache_bytes: Option<u64>,
    /// Whether this store shares its bucket with other processes, and how (`store/roles.rs`).
    pub role: StoreRole,
    /// A collector's hold on the bucket's maintenance lease lasts this long unless renewed
    /// (`store/lease.rs`); its writer is abandoned after ten times this without a heartbeat.
    pub lease_duration: Duration,
    /// Run first by the store's flush and write-ahead log threads: a server moves them into
    /// the allocator arena of its ingest threads ([`crate::allocator::use_ingest_arena`]).
    /// Default none.
    pub thread_start: Option<fn()>,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            flush_rows: DEFAULT_FLUSH_ROWS,
            flush_age: DEFAULT_FLUSH_AGE,
            recent_max_bytes: DEFAULT_RECENT_MAX_BYTES,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            wal_queue_records: DEFAULT_WAL_QUEUE_RECORDS,
            retention_max_age: DEFAULT_RETENTION_MAX_AGE,
            retention_max_bytes: u64::MAX,
            compaction_min_rows: DEFAULT_FLUSH_ROWS,
            bucket: None,
            blocks_cache_bytes: None,
            role: StoreRole::AllInOne,
            lease_duration: DEFAULT_LEASE_DURATION,
            thread_start: None,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.flush_rows == 0 {
            return Err(StoreError::Config("flush_rows must be at least 1".into()));
        }
        if self.flush_age.is_zero() || self.sync_interval.is_zero() {
            return Err(StoreError::Config("flush_age and sync_interval must be longer than zero".into()));
        }
        if self.lease_duration.is_zero() {
            return Err(StoreError::Config("lease_duration must be longer than zero".into()));
        }
        if self.recent_max_bytes < MIN_RECENT_MAX_BYTES {
            return Err(StoreError::Config(format!("recent_max_bytes must be at least {MIN_RECENT_MAX_BYTES}")));
        }
        self.role.validate(self)
    }
}

/// The store; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    flusher: Mutex<Option<Flusher>>,
}

#[derive(Debug)]
struct Flusher {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    config: StoreConfig,
    wal_dir: PathBuf,
    blocks_dir: PathBuf,
    /// Where span blocks are published too, when configured.
    bucket: Option<Arc<Bucket>>,
    /// Published blocks read from the bucket through a bounded cache, when configured.
    remote: Option<Arc<RemoteBlocks>>,
    /// A collector's heartbeat and its side of the bucket's maintenance lease.
    lease: Option<MaintenanceLease>,
    wal: Wal,
    /// Log records and metric points, each on its own log and blocks.
    signals: Signals,
    /// Whether the data directory's disk is full; shared with every log thread.
    disk: Arc<DiskSpace>,
    /// What replay cut from the logs on open.
    damage: Damage,
    next_sequence: AtomicU64,
    next_generation: AtomicU64,
    next_block_id: AtomicU64,
    /// Makes "append to the log, insert into recent data" one step with respect to a rotation,
    /// so recent data always matches the segments since the last checkpoint.
    order: Mutex<()>,
    state: RwLock<State>,
    /// One flush or maintenance pass at a time.
    flushing: Mutex<()>,
    /// Blocks taken out of the state, waiting for [`OBSOLETE_FILE_GRACE`] before deletion.
    obsolete: Mutex<Vec<(Instant, Arc<BlockMeta>)>>,
    closed: AtomicBool,
    /// Signalled when a flush ends and recent data may have room again.
    room: Condvar,
    /// Parsed footers of the blocks lookups read last.
    footers: FooterCache,
    room_lock: Mutex<()>,
}

/// What readers see, switched atomically when a block replaces the data it was written from.
#[derive(Debug, Default)]
struct State {
    active: RecentSpans,
    frozen: Option<Arc<RecentSpans>>,
    blocks: Vec<Arc<BlockMeta>>,
}

impl Store {
    /// Opens (or creates) the store in `config.data_dir` and recovers it.
    pub fn open(config: StoreConfig) -> Result<Store> {
        config.validate()?;
        let wal_dir = config.data_dir.join("wal");
        let blocks_dir = config.data_dir.join("blocks");
        // Owner only: spans hold URLs, user ids and SQL.
        for dir in [&config.data_dir, &wal_dir, &blocks_dir] {
            fluoro_proto::create_private_dir(dir).map_err(|error| StoreError::io(dir, error))?;
        }
        let bucket = config.bucket.as_ref().map(Bucket::open).transpose()?.map(Arc::new);
        let writer = roles::writer_number(&config, bucket.as_deref())?;
        let lease = lease::start(&config, writer, bucket.as_deref());
        let query = config.role.is_query();
        // A query node reads every published block from the bucket, none from its disk.
        let cache_bytes = config.blocks_cache_bytes.or(query.then_some(roles::DEFAULT_QUERY_CACHE_BYTES));
        let wanted = roles::restores(&config.role, writer);
        let (remote, remote_blocks) = open_published(bucket.as_ref(), cache_bytes, &blocks_dir, &wanted)?;
        let mut blocks = if query { Vec::new() } else { block::open_blocks(&blocks_dir)? };
        blocks.extend(remote_blocks);
        blocks.sort_by_key(|block| block.id);
        let checkpoint = wal::read_checkpoint(&wal_dir)?;
        let skip_before = trusted_checkpoint(checkpoint, &blocks).map_or(0, |c| c.generation);
        let blocks = drop_replaced_blocks(&blocks_dir, blocks)?;
        let replayed = wal::replay::<StoredSpan>(&wal_dir, skip_before)?;
        let recovered = replayed.entries.len();
        let mut active = RecentSpans::default();
        active.insert(replayed.entries);
        let next_generation = replayed.last_generation.max(checkpoint.map_or(0, |c| c.generation)) + 1;
        let max_block_id = blocks.iter().map(|b| b.id).chain(checkpoint.map(|c| c.block_id)).max();
        let disk = Arc::new(DiskSpace::new(&config.data_dir));
        let options = WalOptions {
            sync_interval: config.sync_interval,
            queue_records: config.wal_queue_records,
            disk: disk.clone(),
            thread_start: config.thread_start,
        };
        let wal = Wal::start(&wal_dir, next_generation, replayed.next_sequence, options)?;
        let signals = Signals::open(&config, &disk)?;
        let mut damage = replayed.damage;
        damage.add(signals.damage());
        tracing::info!(
            blocks = blocks.len(),
            recovered_spans = recovered,
            damaged_records = damage.damaged_records,
            damaged_bytes = damage.damaged_bytes,
            "store opened"
        );
        let shared = Arc::new(Shared {
            wal_dir,
            blocks_dir,
            bucket,
            remote,
            lease,
            wal,
            signals,
            disk,
            damage,
            next_sequence: AtomicU64::new(replayed.next_sequence),
            next_generation: AtomicU64::new(next_generation + 1),
            next_block_id: AtomicU64::new(max_block_id.map_or(1, |id| id + 1).max(roles::first_block_id(writer))),
            order: Mutex::new(()),
            state: RwLock::new(State { active, frozen: None, blocks: blocks.into_iter().map(Arc::new).collect() }),
            flushing: Mutex::new(()),
            obsolete: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            room: Condvar::new(),
            footers: FooterCache::default(),
            room_lock: Mutex::new(()),
            config,
        });
        let flusher = Flusher::start(shared.clone())?;
        Ok(Store { shared, flusher: Mutex::new(Some(flusher)) })
    }

    /// Stores a batch; for [`Durability::Acknowledged`] it is on disk when this returns.
    /// Either way it is readable when this returns.
    pub fn write(&self, batch: SpanBatch) -> Result<()> {
        self.shared.write(batch)?;
        if self.shared.active_is_full() {
            if let Some(flusher) = self.flusher.lock().as_ref() {
                // A full wake-up channel means a flush is already asked for.
                let _ = flusher.wake.try_send(());
            }
        }
        Ok(())
    }

    /// The bucket block cache's counters, when the store reads blocks through it.
    pub fn blocks_cache_stats(&self) -> Option<BlocksCacheStats> {
        self.shared.remote.as_ref().map(|remote| remote.stats())
    }

    /// Writes recent spans, log records and metric points to blocks now (and checkpoints
    /// every log).
    pub fn flush(&self) -> Result<()> {
        let spans = self.shared.flush();
        let signals = self.shared.signals.flush();
        spans.and(signals)
    }

    /// Applies retention and compaction now (the background thread does it after each tick).
    pub fn maintain(&self) -> Result<()> {
        let now = Instant::now();
        let spans = self.shared.maintain(now);
        let signals = self.shared.signals.maintain(Some(now));
        spans.and(signals)
    }

    /// Graceful stop: flushes recent data to a block and syncs, so the data directory is
    /// complete Parquet and an empty log. Later writes fail.
    pub fn close(&self) -> Result<()> {
        if let Some(flusher) = self.flusher.lock().take() {
            flusher.stop();
        }
        self.shared.flush()?;
        self.shared.delete_obsolete_files(None)?;
        self.shared.signals.close()?;
        self.shared.closed.store(true, Ordering::SeqCst);
        // A write that raced the flush above is in the log and is replayed on the next open.
        self.shared.wal.sync()
    }

    /// Whole traces by id, in the order asked; ids not found are left out.
    pub fn traces(&self, ids: &[TraceId]) -> Result<Vec<StoredTrace>> {
        self.shared.traces(ids)
    }

    /// Spans starting in `[from_us, to_us)` from recent data and blocks as one lazy frame, one
    /// version per span (`replace_rule.rs`), with exactly `columns` in that order (every column
    /// when empty; see `columns.rs`) and the rows matching `predicate`. Only those columns are
    /// read from the blocks (plus what choosing versions needs), so a caller names the few it
    /// uses. The predicate is pushed into the scan, so it must hold for all versions of a span
    /// or for none (a test on the trace id, say). Bound by the thread's deadline (`deadline.rs`).
    pub fn scan(&self, from_us: i64, to_us: i64, columns: &[&str], predicate: Option<Expr>) -> Result<LazyFrame> {
        let scan = self.shared.scan(from_us, to_us, &scan::with_key_columns(columns), predicate)?;
        scan::one_version_per_span(scan, columns)
    }

    /// [`Store::scan`] of `columns` and, as keys into each column's distinct values, of the
    /// text columns `texts` (`text_keys.rs`): a block's text columns are read from their
    /// dictionary pages, a few lookups per row group instead of a string per row. No
    /// predicate; `columns` must not be empty.
    pub fn scan_keyed(&self, from_us: i64, to_us: i64, columns: &[&str], texts: &[&str]) -> Result<KeyedScan> {
        let scanned = scan::with_key_columns(columns);
        let mut scan = self.shared.scan_keyed(from_us, to_us, &scanned, texts)?;
        scan.spans = scan.spans.select(columns.iter().copied()).map_err(polars_error)?;
        Ok(scan)
    }

    /// [`Store::scan`] before the replace rule: every stored version, and the traces that may
    /// hold two versions of a span. For tests of the invariant `scan` relies on (a span seen
    /// twice belongs to a listed trace) and for measuring what the rule costs.
    pub fn scan_versions(
        &self,
        from_us: i64,
        to_us: i64,
        columns: &[&str],
        predicate: Option<Expr>,
    ) -> Result<SpanScan> {
        self.shared.scan(from_us, to_us, columns, predicate)
    }

    /// Every service that recorded a span, sorted.
    pub fn services(&self) -> Vec<String> {
        let state = self.shared.state.read();
        let mut services: Vec<String> = state.blocks.iter().flat_map(|b| b.services.iter().cloned()).collect();
        for recent in state.recent() {
            services.extend(recent.services().map(str::to_owned));
        }
        services.sort();
        services.dedup();
        services
    }

    /// Earliest start and latest end over everything stored, in microseconds. A query node
    /// does not know its collectors' recent data: its bounds are everything.
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        if self.shared.config.role.is_query() {
            return Some((0, i64::MAX - 1));
        }
        let state = self.shared.state.read();
        let blocks = state.blocks.iter().map(|b| (b.min_start_us, b.max_end_us));
        let recent = state.recent().filter_map(RecentSpans::time_bounds);
        blocks.chain(recent).reduce(|(start, end), (s, e)| (start.min(s), end.max(e)))
    }

    /// Rows in recent data (not yet in a block).
    pub fn recent_rows(&self) -> usize {
        let state = self.shared.state.read();
        state.recent().map(RecentSpans::rows).sum()
    }

    /// The blocks, oldest first: id and file.
    pub fn block_files(&self) -> Vec<(u64, PathBuf)> {
        self.shared.state.read().blocks.iter().map(|b| (b.id, b.path.clone())).collect()
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.config.data_dir
    }

    /// Whether the disk is full now (writes refused), and what recovery cut from the logs.
    pub fn health(&self) -> StoreHealth {
        StoreHealth { disk_full: self.shared.disk.is_full(), wal_damage: self.shared.damage }
    }

    /// Everything the store counts about itself, as Prometheus text for `/metrics`: its health,
    /// and the block cache and maintenance lease when it has them.
    pub fn prometheus(&self) -> String {
        let mut text = self.health().prometheus();
        text.extend(self.blocks_cache_stats().map(|stats| stats.prometheus()));
        text.extend(self.lease_stats().map(|stats| stats.prometheus()));
        text
    }
}

impl Drop for Store {
    /// Without `close`, the store stops like a crash would leave it (minus unsynced UDP data,
    /// which the log thread syncs as it stops): recent data is recovered from the log.
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.get_mut().take() {
            flusher.stop();
        }
    }
}

impl SpanSink for Store {
    fn write(&self, batch: SpanBatch) -> Result<(), SinkError> {
        Store::write(self, batch).map_err(sink_error)
    }
}

/// The sink's error: a full disk keeps its kind, so ingest counts and answers it as such.
pub(crate) fn sink_error(error: StoreError) -> SinkError {
    match error {
        StoreError::DiskFull { .. } => SinkError::disk_full(error.to_string()),
        other => SinkError::new(other.to_string()),
    }
}

impl TraceSource for Store {
    fn traces(&self, ids: &[TraceId]) -> Vec<StoredTrace> {
        Store::traces(self, ids).unwrap_or_else(|error| {
            tracing::warn!(error = %error, "failed to read traces");
            Vec::new()
        })
    }
}

/// Finishes compactions a crash interrupted after writing the merged block: their inputs are
/// deleted now. The merged block holds every span of its inputs, and a leftover input would
/// put each of its spans in the scans twice, outside what `shared_traces` lists.
fn drop_replaced_blocks(blocks_dir: &Path, blocks: Vec<BlockMeta>) -> Result<Vec<BlockMeta>> {
    let replaced: HashSet<u64> = blocks.iter().flat_map(|block| block.replaces.iter().copied()).collect();
    let (leftovers, kept): (Vec<BlockMeta>, Vec<BlockMeta>) =
        blocks.into_iter().partition(|block| replaced.contains(&block.id));
    if !leftovers.is_empty() {
        let ids: Vec<u64> = leftovers.iter().map(|block| block.id).collect();
        tracing::warn!(blocks = ?ids, "deleting blocks an interrupted compaction had merged");
        block::delete_blocks(blocks_dir, &leftovers.iter().collect::<Vec<_>>())?;
    }
    Ok(kept)
}

fn now_us() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// The checkpoint, if the block it names made it to disk.
fn trusted_checkpoint(checkpoint: Option<Checkpoint>, blocks: &[BlockMeta]) -> Option<Checkpoint> {
    checkpoint.filter(|checkpoint| blocks.iter().any(|block| block.id == checkpoint.block_id))
}

impl State {
    fn recent(&self) -> impl Iterator<Item = &RecentSpans> {
        std::iter::once(&self.active).chain(self.frozen.as_deref())
    }
}

impl Shared {
    fn write(&self, batch: SpanBatch) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        if self.config.role.is_query() {
            return Err(StoreError::ReadOnly);
        }
        if batch.rows.is_empty() {
            return Ok(());
        }
        self.disk.check()?;
        let acknowledged = batch.durability == Durability::Acknowledged;
        self.wait_for_room(acknowledged)?;
        let spans = StoredBatch::new(batch, &self.next_sequence);
        let record = spans.log_record()?;
        let pending = {
            let _order = self.order.lock();
            let pending = self.wal.append(record, acknowledged)?;
            self.state.write().active.insert(spans.into_spans());
            pending
        };
        pending.wait()
    }

    fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock();
        let Some((generation, frozen)) = self.freeze()? else { return Ok(()) };
        let block_id = self.next_block_id.fetch_add(1, Ordering::SeqCst);
        let written = match self.write_frozen(generation, block_id, &frozen) {
            Ok(written) => written,
            Err(error) => {
                // No block file was left behind (`write_block` says so) and the log segments
                // are still there: put the data back to be flushed later.
                let mut state = self.state.write();
                state.frozen = None;
                state.active.insert(frozen.spans().cloned());
                drop(state);
                self.room.notify_all();
                return Err(error);
            }
        };
        // Published before the recent data goes: a query node reads each span from one or
        // the other (`store/roles.rs`).
        self.publish(block_id);
        {
            let mut state = self.state.write();
            state.blocks.push(Arc::new(written.meta));
            state.frozen = None;
        }
        self.room.notify_all();
        tracing::info!(block_id, rows = frozen.rows(), "flushed recent data to a block");
        match written.unsynced {
            // The rename may not survive a crash yet, so the segments stay: while the checkpoint
            // names this block, a restart that finds it deletes them unread and one that does
            // not replays them. The next flush deletes them after its own directory sync, which
            // makes this rename durable too.
            Some(error) => Err(error),
            None => {
                self.remove_log_before(generation);
                Ok(())
            }
        }
    }

    /// Deletes the log segments a durable block holds. A failure only leaves them on disk: the
    /// checkpoint names the block, so a restart deletes them unread, and so does the next flush.
    fn remove_log_before(&self, generation: u64) {
        if let Err(error) = self.wal.remove_before(generation) {
            tracing::warn!(generation, error = %error, "failed to delete log segments already in a block");
        }
    }

    /// Rotates the log and freezes recent data; `None` when there is nothing to flush.
    fn freeze(&self) -> Result<Option<(u64, Arc<RecentSpans>)>> {
        let _order = self.order.lock();
        if self.state.read().active.is_empty() {
            return Ok(None);
        }
        let generation = self.next_generation.fetch_add(1, Ordering::SeqCst);
        self.wal.rotate(generation, self.next_sequence.load(Ordering::SeqCst))?;
        let mut state = self.state.write();
        let frozen = Arc::new(std::mem::take(&mut state.active));
        state.frozen = Some(frozen.clone());
        Ok(Some((generation, frozen)))
    }

    /// Checkpoints the log and writes the block; an error means there is no block file.
    fn write_frozen(&self, generation: u64, block_id: u64, frozen: &RecentSpans) -> Result<WrittenBlock> {
        wal::write_checkpoint(&self.wal_dir, Checkpoint { generation, block_id })?;
        // Blocks only change under the `flushing` lock, which the caller holds.
        let blocks = self.state.read().blocks.clone();
        let others: Vec<&BlockMeta> = blocks.iter().map(|block| block.as_ref()).collect();
        let neighbours = Neighbours { others: &others, replaces: &[] };
        block::write_block(&self.blocks_dir, block_id, frozen.to_block_spans(), neighbours)
    }

    /// Retention, then compaction, then deleting files of blocks retired long enough ago.
    fn maintain(&self, now: Instant) -> Result<()> {
        if self.config.role.is_query() {
            // The blocks are their writers' to publish, compact and expire.
            return Ok(());
        }
        let _one_at_a_time = self.flushing.lock();
        if let Err(error) = self.publish_missing() {
            // The bucket being away must not stop retention and compaction here.
            tracing::warn!(error = %error, "failed to publish blocks to the bucket");
        }
        self.maintain_bucket();
        self.apply_retention(now)?;
        self.compact_small_blocks(now)?;
        self.delete_obsolete_files(Some(now))
    }

    fn apply_retention(&self, now: Instant) -> Result<()> {
        let blocks = self.block_metas();
        let expired = expired_blocks(&blocks, now_us(), self.config.retention_max_age, self.config.retention_max_bytes);
        if !expired.is_empty() {
            tracing::info!(blocks = ?expired, "retention expired blocks");
            self.retire(&expired, None, now);
        }
        Ok(())
    }

    fn compact_small_blocks(&self, now: Instant) -> Result<()> {
        let blocks = self.block_metas();
        for group in plan_compaction(&blocks, self.config.compaction_min_rows) {
            let (inputs, others): (Vec<&BlockMeta>, Vec<&BlockMeta>) =
                blocks.iter().partition(|block| group.contains(&block.id));
            let new_id = self.next_block_id.fetch_add(1, Ordering::SeqCst);
            let merged = merge_blocks(&self.blocks_dir, &inputs, &others, new_id)?;
            tracing::info!(inputs = ?group, block_id = new_id, rows = merged.meta.rows, "compacted blocks");
            if let Some(error) = &merged.unsynced {
                // Swapped in all the same (see `compaction`): deleting the inputs syncs first.
                tracing::warn!(block_id = new_id, error = %error, "failed to sync the merged block's directory");
            }
            self.retire(&group, Some(merged.meta), now);
            self.publish(new_id);
        }
        Ok(())
    }

    /// Publishes a new block to the bucket. A failure only delays it: the block is already
    /// durable locally, and every maintenance pass publishes what is still missing.
    fn publish(&self, block_id: u64) {
        let Some(bucket) = &self.bucket else { return };
        if let Err(error) = bucket.publish(&block::block_path(&self.blocks_dir, block_id)) {
            tracing::warn!(block_id, error = %error, "failed to publish a block; retried by maintenance");
        }
    }

    /// Publishes the live blocks the bucket does not list yet.
    fn publish_missing(&self) -> Result<()> {
        let Some(bucket) = &self.bucket else { return Ok(()) };
        let published = bucket.published()?;
        for block in self.block_metas() {
            let listed = block
                .path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| published.binary_search_by(|published| published.as_str().cmp(name)).is_ok());
            if !listed {
                bucket.publish(&block.path)?;
            }
        }
        Ok(())
    }

    /// Takes blocks out of what readers see, in one step with adding their replacement.
    fn retire(&self, ids: &[u64], replacement: Option<BlockMeta>, now: Instant) {
        let mut state = self.state.write();
        let (retired, kept): (Vec<_>, Vec<_>) = state.blocks.drain(..).partition(|block| ids.contains(&block.id));
        state.blocks = kept;
        state.blocks.extend(replacement.map(Arc::new));
        state.blocks.sort_by_key(|block| block.id);
        drop(state);
        self.obsolete.lock().extend(retired.into_iter().map(|block| (now, block)));
    }

    /// Deletes the files of retired blocks: those retired before `now - grace`, or all.
    fn delete_obsolete_files(&self, now: Option<Instant>) -> Result<()> {
        let due: Vec<(Instant, Arc<BlockMeta>)> = {
            let mut obsolete = self.obsolete.lock();
            let is_due = |retired: &Instant| now.is_none_or(|now| now.duration_since(*retired) >= OBSOLETE_FILE_GRACE);
            let (due, waiting): (Vec<_>, Vec<_>) = obsolete.drain(..).partition(|(retired, _)| is_due(retired));
            *obsolete = waiting;
            due
        };
        if due.is_empty() {
            return Ok(());
        }
        let blocks: Vec<&BlockMeta> = due.iter().map(|(_, block)| block.as_ref()).collect();
        // Out of the bucket first: a block left there would come back on the next fresh open.
        let unpublished = match &self.bucket {
            Some(bucket) => blocks.iter().try_for_each(|block| bucket.delete(&block.path)),
            None => Ok(()),
        };
        let deleted = unpublished.and_then(|()| block::delete_blocks(&self.blocks_dir, &blocks));
        for block in &blocks {
            if let Some(remote) = &block.remote {
                remote.forget(&block.path);
            }
        }
        if deleted.is_err() {
            // Tried again on the next pass; deleting a file already gone is not an error.
            self.obsolete.lock().extend(due);
        }
        deleted
    }

    fn block_metas(&self) -> Vec<BlockMeta> {
        self.state.read().blocks.iter().map(|block| BlockMeta::clone(block)).collect()
    }

    fn flush_due(&self) -> bool {
        let by_age = self.state.read().active.oldest().is_some_and(|oldest| oldest.elapsed() >= self.config.flush_age);
        by_age || self.active_is_full()
    }

    /// The generation filling has its rows, or half the byte budget: the other half is for the
    /// generation being flushed meanwhile.
    fn active_is_full(&self) -> bool {
        let state = self.state.read();
        state.active.rows() >= self.config.flush_rows || state.active.bytes() as u64 >= self.config.recent_max_bytes / 2
    }

    /// While recent data takes its whole budget (the flush is behind), refuses an acknowledged
    /// write at once (its sender hears it and may retry) and holds a best-effort one until a
    /// flush makes room, for at most [`BUDGET_WAIT`]. Holding UDP's parse workers fills the
    /// receive queue, so the kernel drops the excess before anything parses it, counted as
    /// `overload`; refusing instead had the workers parse documents only to drop them.
    fn wait_for_room(&self, acknowledged: bool) -> Result<()> {
        let deadline = Instant::now() + BUDGET_WAIT;
        loop {
            let bytes: usize = self.state.read().recent().map(RecentSpans::bytes).sum();
            let budget = self.config.recent_max_bytes;
            if (bytes as u64) < budget {
                return Ok(());
            }
            if acknowledged || Instant::now() >= deadline || self.closed.load(Ordering::SeqCst) {
                return Err(StoreError::OverBudget { bytes: bytes as u64, budget });
            }
            // A short wait, so a flush ending between the check and the wait is not missed.
            self.room.wait_for(&mut self.room_lock.lock(), BUDGET_POLL);
        }
    }
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod document_log_tests;
mod flusher;
mod lease;
use lease::MaintenanceLease;
pub use lease::{LeaseStats, ABANDONED_AFTER_LEASES, DEFAULT_LEASE_DURATION};
mod roles;
pub use roles::StoreRole;
mod scans;
mod signals;
#[cfg(test)]
mod tests;
mod trace_reads;
