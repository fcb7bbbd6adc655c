//! The write-ahead log: every accepted batch is appended here before it is acknowledged, and
//! replayed into recent data on start.
//!
//! - Append-only segment files under `<data_dir>/wal/`, one per flush generation: a flush
//!   rotates to a new segment, and once the flushed block is durable every older segment is
//!   deleted (the checkpoint). Recent data is therefore always exactly the segments present.
//! - Group commit: one dedicated thread owns the open segment. Writers hand it encoded records
//!   through a bounded channel; it writes whatever has queued up with one `write` and, when
//!   any of them waits for an acknowledgement, one `fsync` for all of them. Best-effort
//!   records (UDP) are fsynced by a timer within `sync_interval` of being written.
//! - Every record carries its length and a CRC-32 of its payload, so replay finds a torn or
//!   corrupt record, skips to the next record that frames and checksums correctly, and keeps
//!   every intact record before and after it; the bytes skipped are kept in the store's
//!   `quarantine/` and cut out of the segment.
//! - Spans carry the store's arrival `sequence`, so replay rebuilds recent data exactly,
//!   whatever order concurrent writers reached the log in.
//!
//! ```text
//! segment file  <generation, 20 decimal digits>.wal                      (format version 2)
//! ┌──────────────────────────────────────────────────────────────────────────────────┐
//! │ header, 28 bytes: magic "FLUOROWL" │ u32 LE version = 2 │ u64 LE generation       │
//! │                   │ u64 LE first_sequence (the store's next sequence at creation) │
//! ├──────────────────────────────────────────────────────────────────────────────────┤
//! │ record: u32 LE payload length │ u32 LE CRC-32 (IEEE) of payload │ payload          │
//! │ record: …                                                                         │
//! └──────────────────────────────────────────────────────────────────────────────────┘
//! payload = postcard( Vec<{ row: SpanRow, document: Option<String>, sequence: u64 }> )
//!           (SpanRow through its serde derive; ids as their text forms; document = the
//!            top-level X-Ray entity as JSON)
//!         | 0x00, postcard( Vec<{ json: String, sequence: u64, spans: u32 }> )    (version 2)
//!           (a write whose rows all came from X-Ray documents: each top-level entity's
//!            JSON, the sequence of its own row and how many rows it makes; replay makes
//!            the rows again, `wal/documents.rs`. A row list never starts with 0x00: a
//!            write holds at least one span.)
//!
//! checkpoint file  checkpoint                                             (format version 1)
//!   "fluoro-wal-checkpoint 1\n<generation> <block id>\n"
//!   = segments older than <generation> are wholly contained in block <block id>
//! ```
//!
//! Log records have a log of their own, in `<data_dir>/logs/wal/`, with the same segments,
//! records and checkpoint; only the payload differs ([`WalEntry`], `logs/mod.rs`):
//!
//! ```text
//! payload = postcard( Vec<{ row: LogRow, sequence: u64 }> )                 (format versions 1, 2)
//! ```
//!
//! A separate log rather than a second record kind in this one, because a checkpoint says
//! which block holds everything before a generation: sharing segments would tie every log
//! flush to a span flush and the two kinds of block to one checkpoint.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IoSlice, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fluoro_proto::{ByteString, SpanRow};
use serde::{Deserialize, Serialize};

use crate::disk::DiskSpace;
use crate::error::{Result, StoreError};
use crate::record::StoredSpan;

mod documents;
pub(crate) use documents::encode_documents_record;

pub(crate) const WAL_MAGIC: &[u8; 8] = b"FLUOROWL";
/// The version segments are written with. Version 1 segments are read as well: they hold
/// no documents records. A build that reads only version 1 refuses version 2 by name rather
/// than read a documents record as an empty list of spans.
pub(crate) const WAL_FORMAT_VERSION: u32 = 2;
const HEADER_BYTES: usize = 28;
const RECORD_HEADER_BYTES: usize = 8;
/// A record larger than this is corruption, not data: a batch is at most a request's worth
/// of documents (a few MiB), and trusting a torn length field could allocate gigabytes.
const MAX_RECORD_BYTES: u32 = 256 * 1024 * 1024;
const CHECKPOINT_FILE: &str = "checkpoint";
const CHECKPOINT_HEADER: &str = "fluoro-wal-checkpoint 1";
/// Commands the log thread takes per round before it writes and syncs them.
const MAX_COMMANDS_PER_ROUND: usize = 4096;

/// One span as the log encodes it (borrowed for writing).
#[derive(Serialize)]
pub(crate) struct WalSpanRef<'a> {
    pub(crate) row: &'a SpanRow,
    pub(crate) document: Option<&'a str>,
    pub(crate) sequence: u64,
}

/// One span as the log decodes it.
#[derive(Deserialize)]
struct WalSpan {
    row: SpanRow,
    document: Option<ByteString>,
    sequence: u64,
}

/// What a log's records hold: spans here, log records in `logs/`.
pub(crate) trait WalEntry: Sized {
    /// Decodes one record's payload; `None` marks the record as damage.
    fn decode(payload: &[u8]) -> Option<Vec<Self>>;
    /// The store's arrival order.
    fn sequence(&self) -> u64;
}

impl WalEntry for StoredSpan {
    fn decode(payload: &[u8]) -> Option<Vec<StoredSpan>> {
        decode_payload(payload)
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// What a span's row adds to a record beside its document, a little more than most take: a
/// record sized by it is written in place, without growing and copying a buffer of hundreds of
/// kilobytes several times over.
const ENCODED_ROW_BYTES: usize = 384;

/// Encodes spans as one record (header included), ready for [`Wal::append`].
pub(crate) fn encode_record(spans: &[StoredSpan]) -> Result<Vec<u8>> {
    let wire: Vec<WalSpanRef<'_>> = spans
        .iter()
        .map(|span| WalSpanRef { row: &span.row, document: span.document.as_deref(), sequence: span.sequence })
        .collect();
    encode_span_refs(&wire)
}

/// [`encode_record`] of spans not yet gathered into [`StoredSpan`]s.
pub(crate) fn encode_span_refs(spans: &[WalSpanRef<'_>]) -> Result<Vec<u8>> {
    let documents: usize = spans.iter().filter_map(|span| span.document).map(str::len).sum();
    frame_sized_record(&[], &spans, documents + spans.len() * ENCODED_ROW_BYTES)
}

/// Any serialisable payload as one record: length, checksum, postcard bytes.
pub(crate) fn frame_record(wire: &impl Serialize) -> Result<Vec<u8>> {
    frame_sized_record(&[], wire, 0)
}

/// [`frame_record`] of `prefix` and `wire`, into a buffer with room for `expected` payload bytes,
/// encoded in place behind the header.
fn frame_sized_record(prefix: &[u8], wire: &impl Serialize, expected: usize) -> Result<Vec<u8>> {
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + prefix.len() + expected);
    record.resize(RECORD_HEADER_BYTES, 0);
    record.extend_from_slice(prefix);
    let mut record = postcard::to_extend(wire, record).map_err(|error| StoreError::Encode(error.to_string()))?;
    let payload = &record[RECORD_HEADER_BYTES..];
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|length| *length <= MAX_RECORD_BYTES)
        .ok_or_else(|| StoreError::Encode(format!("a batch of {} bytes is too large", payload.len())))?;
    let checksum = crc32fast::hash(payload);
    record[..4].copy_from_slice(&length.to_le_bytes());
    record[4..RECORD_HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
    Ok(record)
}

/// The entries of consecutive records held in memory (a collector's answer, `remote.rs`);
/// the first cut or damaged record fails the whole.
pub(crate) fn decode_records<T: WalEntry>(bytes: &[u8]) -> std::result::Result<Vec<T>, &'static str> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (more, end) = read_record::<T>(&bytes[at..])?;
        entries.extend(more);
        at += end;
    }
    Ok(entries)
}

fn decode_payload(payload: &[u8]) -> Option<Vec<StoredSpan>> {
    if let Some((&documents::DOCUMENTS_RECORD, documents)) = payload.split_first() {
        return documents::decode_documents(documents);
    }
    let wire: Vec<WalSpan> = postcard::from_bytes(payload).ok()?;
    Some(wire.into_iter().map(|s| StoredSpan { row: s.row, document: s.document, sequence: s.sequence }).collect())
}

fn segment_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:020}.wal"))
}

/// The segments in `dir`, oldest first.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|error| StoreError::io(dir, error))? {
        let path = entry.map_err(|error| StoreError::io(dir, error))?.path();
        let generation = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".wal"))
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(generation) = generation {
            segments.push((generation, path));
        }
    }
    segments.sort();
    Ok(segments)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|handle| handle.sync_all()).map_err(|error| StoreError::io(dir, error))
}

// ---------------------------------------------------------------------------------------------
// Replay

/// What replay found.
#[derive(Debug)]
pub(crate) struct Replayed<T = StoredSpan> {
    /// Every entry of every intact record, in log order.
    pub(crate) entries: Vec<T>,
    /// The store's next sequence: above every replayed span and every segment's header.
    pub(crate) next_sequence: u64,
    /// The newest generation present (0 when the log is empty).
    pub(crate) last_generation: u64,
    /// What replay cut out of the segments (torn tails, damaged records), kept in quarantine.
    pub(crate) damage: Damage,
}

impl<T> Default for Replayed<T> {
    fn default() -> Self {
        Replayed { entries: Vec::new(), next_sequence: 0, last_generation: 0, damage: Damage::default() }
    }
}

/// What a replay cut: each damaged stretch (one or more records; a torn tail is one) and its
/// bytes. Exported on `/metrics`, so damage is seen without reading the server's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Damage {
    pub damaged_records: u64,
    pub damaged_bytes: u64,
}

impl Damage {
    pub(crate) fn add(&mut self, other: Damage) {
        self.damaged_records += other.damaged_records;
        self.damaged_bytes += other.damaged_bytes;
    }
}

/// Reads every segment, oldest first. Segments older than `skip_before` are already in a
/// block (the checkpoint says so): they are deleted unread.
pub(crate) fn replay<T: WalEntry>(dir: &Path, skip_before: u64) -> Result<Replayed<T>> {
    let mut replayed = Replayed::default();
    for (generation, path) in list_segments(dir)? {
        replayed.last_generation = replayed.last_generation.max(generation);
        if generation < skip_before {
            tracing::info!(path = %path.display(), "removing write-ahead log segment already in a block");
            fs::remove_file(&path).map_err(|error| StoreError::io(&path, error))?;
            continue;
        }
        replay_segment(&path, &mut replayed)?;
    }
    Ok(replayed)
}

/// Replays one segment. A damaged record does not end it: replay looks for the next offset
/// where a record frames and checksums correctly and goes on from there ([`next_intact_record`]),
/// so damage in the middle costs only the damaged bytes. Those are copied to quarantine and
/// taken out of the segment, so the next replay does not find them again.
fn replay_segment<T: WalEntry>(path: &Path, replayed: &mut Replayed<T>) -> Result<()> {
    let bytes = fs::read(path).map_err(|error| StoreError::io(path, error))?;
    let Some(first_sequence) = read_header(&bytes, path)? else {
        // Created but the header never reached the disk: nothing was ever acknowledged in it.
        tracing::warn!(path = %path.display(), "removing write-ahead log segment with a torn header");
        return fs::remove_file(path).map_err(|error| StoreError::io(path, error));
    };
    replayed.next_sequence = replayed.next_sequence.max(first_sequence);
    let mut damaged: Vec<Range<usize>> = Vec::new();
    // Built only after a resynchronisation: a false match must not bring a span back twice.
    let mut seen: Option<HashSet<u64>> = None;
    let mut offset = HEADER_BYTES;
    while offset < bytes.len() {
        let (entries, next) = match read_record::<T>(&bytes[offset..]) {
            Ok((entries, length)) => (entries, offset + length),
            Err(reason) => {
                let resume = next_intact_record::<T>(&bytes, offset + 1).unwrap_or(bytes.len());
                tracing::warn!(path = %path.display(), offset, resume, reason,
                               "skipping a torn or damaged write-ahead log record; the bytes are kept in quarantine");
                damaged.push(offset..resume);
                seen.get_or_insert_with(|| replayed.entries.iter().map(WalEntry::sequence).collect());
                offset = resume;
                continue;
            }
        };
        offset = next;
        let mut entries = entries;
        if let Some(seen) = &mut seen {
            entries.retain(|entry| seen.insert(entry.sequence()));
        }
        let after_last = entries.iter().map(|entry| entry.sequence() + 1).max().unwrap_or(0);
        replayed.next_sequence = replayed.next_sequence.max(after_last);
        replayed.entries.extend(entries);
    }
    if damaged.is_empty() {
        return Ok(());
    }
    for range in &damaged {
        let kept = quarantine(path, range.start, &bytes[range.clone()])?;
        tracing::warn!(path = %path.display(), offset = range.start, bytes = range.len(),
                       quarantined = %kept.display(), "kept damaged write-ahead log bytes");
        replayed.damage.add(Damage { damaged_records: 1, damaged_bytes: range.len() as u64 });
    }
    cut_damage(path, &bytes, &damaged);
    Ok(())
}

/// The first offset from `from` on where a whole record frames (a length in range that fits
/// the segment), checksums and decodes. Damage cannot fake this in practice: a stretch of
/// other bytes passes the CRC-32 about once in 4 billion tries, and must then decode too.
fn next_intact_record<T: WalEntry>(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(RECORD_HEADER_BYTES - 1)).find(|&at| read_record::<T>(&bytes[at..]).is_ok())
}

/// Takes the damaged stretches out of the segment: a tail is cut off in place; damage in the
/// middle is removed by writing the intact records to a new file renamed over the segment. A
/// failure (no space for the copy, say) leaves the segment as it was: the next replay skips
/// the same damage again.
fn cut_damage(path: &Path, bytes: &[u8], damaged: &[Range<usize>]) {
    let cut = match damaged {
        [only] if only.end == bytes.len() => OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.set_len(only.start as u64).and_then(|()| file.sync_all())),
        _ => rewrite_without(path, bytes, damaged),
    };
    if let Err(error) = cut {
        tracing::warn!(path = %path.display(), error = %error,
                       "could not take damaged bytes out of a write-ahead log segment; the next replay skips them again");
    }
}

fn rewrite_without(path: &Path, bytes: &[u8], damaged: &[Range<usize>]) -> std::io::Result<()> {
    let tmp = path.with_extension("wal.tmp");
    let mut file = File::create(&tmp)?;
    let mut from = 0;
    for range in damaged {
        file.write_all(&bytes[from..range.start])?;
        from = range.end;
    }
    file.write_all(&bytes[from..])?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Copies damaged bytes of a segment, found at `offset`, into the store's `quarantine/`
/// (owner-only), named `<segment>.<offset>.<unix seconds>`, before replay cuts them: an
/// operator can still look at them.
fn quarantine(path: &Path, offset: usize, damaged: &[u8]) -> Result<PathBuf> {
    let wal_dir = path.parent().unwrap_or(path);
    let dir = wal_dir.parent().unwrap_or(wal_dir).join(crate::block::QUARANTINE_DIR);
    fluoro_proto::create_private_dir(&dir).map_err(|error| StoreError::io(&dir, error))?;
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("segment");
    let kept = dir.join(format!("{name}.{offset}.{seconds}"));
    fs::write(&kept, damaged).map_err(|error| StoreError::io(&kept, error))?;
    sync_dir(&dir)?;
    Ok(kept)
}

/// The header's first sequence; `None` when the file is too short to hold a header.
fn read_header(bytes: &[u8], path: &Path) -> Result<Option<u64>> {
    let Some(header) = bytes.get(..HEADER_BYTES) else { return Ok(None) };
    let wal_error = |message: String| StoreError::Wal { path: path.to_owned(), message };
    if &header[..8] != WAL_MAGIC {
        return Err(wal_error("not a Fluoro write-ahead log segment (bad magic bytes)".to_owned()));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if !(1..=WAL_FORMAT_VERSION).contains(&version) {
        return Err(wal_error(format!("format version {version}, expected 1 to {WAL_FORMAT_VERSION}")));
    }
    let mut first_sequence = [0u8; 8];
    first_sequence.copy_from_slice(&header[20..28]);
    Ok(Some(u64::from_le_bytes(first_sequence)))
}

/// The record at the start of `bytes`: its entries and its length, header included; or why
/// it is not a whole, intact record.
fn read_record<T: WalEntry>(bytes: &[u8]) -> std::result::Result<(Vec<T>, usize), &'static str> {
    let Some(header) = bytes.get(..RECORD_HEADER_BYTES) else { return Err("short record header") };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length > MAX_RECORD_BYTES {
        return Err("record length out of range");
    }
    let end = RECORD_HEADER_BYTES + length as usize;
    let Some(payload) = bytes.get(RECORD_HEADER_BYTES..end) else { return Err("short record payload") };
    // Decoding first: bytes that are not a record fail within a few of them, while the
    // checksum reads the whole claimed length, and resynchronising tries every offset.
    let entries = T::decode(payload).ok_or("undecodable payload")?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch");
    }
    Ok((entries, end))
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

/// Segments older than `generation` are wholly contained in block `block_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) generation: u64,
    pub(crate) block_id: u64,
}

/// Written (atomically) before the block it names, so that recovery trusts it only once that
/// block exists: a crash in between replays the segments instead.
pub(crate) fn write_checkpoint(dir: &Path, checkpoint: Checkpoint) -> Result<()> {
    let path = dir.join(CHECKPOINT_FILE);
    let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let text = format!("{CHECKPOINT_HEADER}\n{} {}\n", checkpoint.generation, checkpoint.block_id);
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|error| StoreError::io(&path, error))?;
    sync_dir(dir)
}

pub(crate) fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>> {
    let path = dir.join(CHECKPOINT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StoreError::io(&path, error)),
    };
    let mut lines = text.lines();
    let numbers: Option<Vec<u64>> = match lines.next() {
        Some(CHECKPOINT_HEADER) => lines.next().map(|line| line.split(' ').filter_map(|n| n.parse().ok()).collect()),
        _ => None,
    };
    match numbers.as_deref() {
        Some([generation, block_id]) => Ok(Some(Checkpoint { generation: *generation, block_id: *block_id })),
        _ => Err(StoreError::Wal {
            path,
            message: "unreadable checkpoint, expected a version line and two numbers".into(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The log thread

enum Command {
    /// `done` is set for acknowledged writes: answered after the fsync that covers the record.
    Append {
        record: Vec<u8>,
        done: Option<SyncSender<Result<()>>>,
    },
    /// Syncs and closes the open segment and starts `generation`.
    Rotate {
        generation: u64,
        first_sequence: u64,
        done: SyncSender<Result<()>>,
    },
    /// Deletes every segment older than `generation`.
    RemoveBefore {
        generation: u64,
        done: SyncSender<Result<()>>,
    },
    Sync {
        done: SyncSender<Result<()>>,
    },
}

/// The handle writers and the flusher use; the thread stops when it is dropped.
#[derive(Debug)]
pub(crate) struct Wal {
    commands: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone)]
pub(crate) struct WalOptions {
    pub(crate) sync_interval: Duration,
    /// Records waiting for the log thread; writers block beyond it.
    pub(crate) queue_records: usize,
    /// Marked full by the log thread when a write fails for space.
    pub(crate) disk: Arc<DiskSpace>,
    /// Run first by the log thread (`StoreConfig::thread_start`).
    pub(crate) thread_start: Option<fn()>,
}

impl Wal {
    /// Starts a new segment `generation` in `dir` and the thread that appends to it.
    pub(crate) fn start(dir: &Path, generation: u64, first_sequence: u64, options: WalOptions) -> Result<Wal> {
        let segment = OpenSegment::create(dir, generation, first_sequence)?;
        let (commands, receiver) = mpsc::sync_channel(options.queue_records.max(1));
        let writer = LogWriter {
            dir: dir.to_owned(),
            segment,
            sync_interval: options.sync_interval,
            unsynced_since: None,
            disk: options.disk,
        };
        let thread_start = options.thread_start;
        let thread = std::thread::Builder::new()
            .name("fluoro-wal".to_owned())
            .spawn(move || {
                thread_start.inspect(|start| start());
                writer.run(receiver)
            })
            .map_err(|error| StoreError::io(dir, error))?;
        Ok(Wal { commands: Some(commands), thread: Some(thread) })
    }

    /// Queues a record from [`encode_record`]. Records reach the segment in the order they
    /// are queued. With `wait_for_sync`, the returned [`PendingSync`] waits for the fsync that
    /// covers the record; without, it returns at once (the timer syncs it).
    pub(crate) fn append(&self, record: Vec<u8>, wait_for_sync: bool) -> Result<PendingSync> {
        if !wait_for_sync {
            self.send(Command::Append { record, done: None })?;
            return Ok(PendingSync(None));
        }
        let (done, answer) = mpsc::sync_channel(1);
        self.send(Command::Append { record, done: Some(done) })?;
        Ok(PendingSync(Some(answer)))
    }

    pub(crate) fn rotate(&self, generation: u64, first_sequence: u64) -> Result<()> {
        self.call(|done| Command::Rotate { generation, first_sequence, done })
    }

    pub(crate) fn remove_before(&self, generation: u64) -> Result<()> {
        self.call(|done| Command::RemoveBefore { generation, done })
    }

    pub(crate) fn sync(&self) -> Result<()> {
        self.call(|done| Command::Sync { done })
    }

    fn call(&self, command: impl FnOnce(SyncSender<Result<()>>) -> Command) -> Result<()> {
        let (done, answer) = mpsc::sync_channel(1);
        self.send(command(done))?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn send(&self, command: Command) -> Result<()> {
        let commands = self.commands.as_ref().ok_or(StoreError::Closed)?;
        match commands.try_send(command) {
            Ok(()) => Ok(()),
            // A full queue is back-pressure: wait for the log thread rather than lose data.
            Err(TrySendError::Full(command)) => commands.send(command).map_err(|_| StoreError::Closed),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }
}

/// An appended record's fsync, to wait for outside any lock.
#[derive(Debug)]
#[must_use = "an acknowledged write is durable only once `wait` returns"]
pub(crate) struct PendingSync(Option<Receiver<Result<()>>>);

impl PendingSync {
    pub(crate) fn wait(self) -> Result<()> {
        match self.0 {
            Some(answer) => answer.recv().map_err(|_| StoreError::Closed)?,
            None => Ok(()),
        }
    }
}

impl Drop for Wal {
    /// Closing the channel lets the thread sync what it has and stop.
    fn drop(&mut self) {
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct OpenSegment {
    path: PathBuf,
    file: File,
    /// Bytes known to be whole records; a failed write is cut back to it.
    good_len: u64,
}

impl OpenSegment {
    fn create(dir: &Path, generation: u64, first_sequence: u64) -> Result<OpenSegment> {
        let path = segment_path(dir, generation);
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(WAL_MAGIC);
        header.extend_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&generation.to_le_bytes());
        header.extend_from_slice(&first_sequence.to_le_bytes());
        let create = || -> std::io::Result<File> {
            let mut file = OpenOptions::new().create_new(true).write(true).open(&path)?;
            file.write_all(&header)?;
            file.sync_all()?;
            Ok(file)
        };
        let file = create().map_err(|error| {
            // A segment left half-created (no space for its header, say) would be in the way
            // of nothing, but would pile up while a full disk makes every rotation fail.
            let _ = fs::remove_file(&path);
            StoreError::io(&path, error)
        })?;
        sync_dir(dir)?;
        Ok(OpenSegment { path, file, good_len: HEADER_BYTES as u64 })
    }

    /// Appends the records with as few `writev` calls as the kernel takes: a round's records
    /// are written where they were encoded, not first copied into one buffer.
    fn write(&mut self, records: &[Vec<u8>]) -> Result<()> {
        match write_all_vectored(&mut self.file, records) {
            Ok(()) => {
                self.good_len += records.iter().map(|record| record.len() as u64).sum::<u64>();
                Ok(())
            }
            Err(error) => {
                // Cut a partial write off, so records appended later are not stranded behind it.
                let _ = self.file.set_len(self.good_len);
                let _ = self.file.seek(SeekFrom::Start(self.good_len));
                Err(StoreError::io(&self.path, error))
            }
        }
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|error| StoreError::io(&self.path, error))
    }
}

/// `Write::write_all` over several buffers (the standard library's is not stable yet).
fn write_all_vectored(file: &mut File, buffers: &[Vec<u8>]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = buffers.iter().map(|buffer| IoSlice::new(buffer)).collect();
    let mut slices = &mut slices[..];
    // Drops leading empty buffers, as the standard library's does: a round of empty ones then
    // writes nothing instead of failing on a write of zero bytes.
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::Error::from(ErrorKind::WriteZero)),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

struct LogWriter {
    dir: PathBuf,
    segment: OpenSegment,
    sync_interval: Duration,
    /// When the oldest record not yet fsynced was written.
    unsynced_since: Option<Instant>,
    disk: Arc<DiskSpace>,
}

impl LogWriter {
    fn run(mut self, commands: Receiver<Command>) {
        loop {
            let first = match self.unsynced_since {
                Some(since) => match commands.recv_timeout(self.sync_interval.saturating_sub(since.elapsed())) {
                    Ok(command) => command,
                    Err(RecvTimeoutError::Timeout) => {
                        self.sync_best_effort();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match commands.recv() {
                    Ok(command) => command,
                    Err(_) => break,
                },
            };
            let mut round = vec![first];
            round.extend(commands.try_iter().take(MAX_COMMANDS_PER_ROUND));
            self.run_round(round);
            if self.unsynced_since.is_some_and(|since| since.elapsed() >= self.sync_interval) {
                self.sync_best_effort();
            }
        }
        self.sync_best_effort();
    }

    /// Appends are written together and share one fsync when any of them waits for it;
    /// other commands run in their place in the queue.
    fn run_round(&mut self, round: Vec<Command>) {
        let mut pending = Vec::new();
        let mut waiting = Vec::new();
        for command in round {
            match command {
                Command::Append { record, done } => {
                    pending.push(record);
                    waiting.extend(done);
                }
                other => {
                    self.commit(&mut pending, &mut waiting);
                    self.run_control(other);
                }
            }
        }
        self.commit(&mut pending, &mut waiting);
    }

    fn commit(&mut self, pending: &mut Vec<Vec<u8>>, waiting: &mut Vec<SyncSender<Result<()>>>) {
        if pending.is_empty() {
            return;
        }
        let mut outcome = self.segment.write(pending);
        pending.clear();
        if outcome.is_ok() {
            self.unsynced_since.get_or_insert_with(Instant::now);
        }
        if outcome.is_ok() && !waiting.is_empty() {
            outcome = self.sync();
        }
        let out_of_space = outcome.as_ref().err().is_some_and(|error| self.disk.note(error));
        if let Err(error) = &outcome {
            tracing::warn!(path = %self.segment.path.display(), error = %error, "failed to append to wal");
        }
        for done in waiting.drain(..) {
            let _ = done.send(match &outcome {
                Ok(()) => Ok(()),
                // The segment was cut back to its last whole record: the log goes on once
                // there is space, and the writer hears why it was refused.
                Err(_) if out_of_space => Err(self.disk.error()),
                Err(error) => Err(StoreError::Wal { path: self.segment.path.clone(), message: error.to_string() }),
            });
        }
    }

    fn run_control(&mut self, command: Command) {
        match command {
            Command::Append { .. } => {}
            Command::Rotate { generation, first_sequence, done } => {
                let rotated = self.rotate(generation, first_sequence);
                if let Err(error) = &rotated {
                    self.disk.note(error);
                }
                let _ = done.send(rotated);
            }
            Command::RemoveBefore { generation, done } => {
                let _ = done.send(remove_segments_before(&self.dir, generation));
            }
            Command::Sync { done } => {
                let _ = done.send(self.sync());
            }
        }
    }

    fn rotate(&mut self, generation: u64, first_sequence: u64) -> Result<()> {
        // The old segment is complete before the new one exists, so only the newest segment
        // can ever end in a torn record.
        self.sync()?;
        self.segment = OpenSegment::create(&self.dir, generation, first_sequence)?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.segment.sync()?;
        self.unsynced_since = None;
        Ok(())
    }

    fn sync_best_effort(&mut self) {
        if self.unsynced_since.is_none() {
            return;
        }
        if let Err(error) = self.sync() {
            self.disk.note(&error);
            tracing::warn!(path = %self.segment.path.display(), error = %error, "failed to sync wal");
        }
    }
}

fn remove_segments_before(dir: &Path, generation: u64) -> Result<()> {
    for (segment_generation, path) in list_segments(dir)? {
        if segment_generation < generation {
            fs::remove_file(&path).map_err(|error| StoreError::io(&path, error))?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests;
