//! Parsed Parquet footers of recently read blocks, so a trace lookup does not parse the
//! footer of every block it reads again.
//!
//! - Why: a block's footer is mostly Fluoro's key-value metadata (the bloom filter and the
//!   shared-trace list, ~0.5 MB at a million spans), and polars parses all of it on every read:
//!   0.7 ms of a lookup's ~4 ms per block. What a read needs of it (the schema and the row
//!   groups' column chunks) is kept here with the key-value metadata dropped; the filter is
//!   already in memory as [`super::TraceFilter`].
//! - Bounded: entries are charged their footer's size, and the least recently used go first
//!   while the total is above [`FOOTER_CACHE_BYTES`]. A footer larger than the bound is not
//!   kept.
//! - Keyed by the block's path, size and write time, so a file replaced under the same name
//!   (a store reopened on other data) never meets an old footer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use polars::io::parquet::metadata::FileMetadataRef;

use super::BlockMeta;

/// What the footers of all cached blocks may hold together.
pub(crate) const FOOTER_CACHE_BYTES: usize = 64 << 20;

/// One block file: the same path with another size or write time is another file.
type BlockKey = (PathBuf, u64, i64);

#[derive(Debug)]
struct Entry {
    metadata: FileMetadataRef,
    bytes: usize,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Entries {
    by_block: HashMap<BlockKey, Entry>,
    bytes: usize,
    clock: u64,
}

/// The bounded cache; cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub(crate) struct FooterCache {
    entries: Arc<Mutex<Entries>>,
    capacity_bytes: usize,
}

impl Default for FooterCache {
    fn default() -> FooterCache {
        FooterCache::with_capacity(FOOTER_CACHE_BYTES)
    }
}

impl FooterCache {
    pub(crate) fn with_capacity(capacity_bytes: usize) -> FooterCache {
        FooterCache { entries: Arc::new(Mutex::new(Entries::default())), capacity_bytes }
    }

    /// The block's footer, parsed by `parse` on a miss and kept for the next read.
    pub(crate) fn get_or_parse<E>(
        &self,
        block: &BlockMeta,
        parse: impl FnOnce() -> std::result::Result<FileMetadataRef, E>,
    ) -> std::result::Result<FileMetadataRef, E> {
        let key = key_of(block);
        if let Some(metadata) = self.touch(&key) {
            return Ok(metadata);
        }
        // Parsed outside the lock: two readers of one block may both parse it, which costs
        // less than making every other lookup wait.
        let metadata = without_key_values(parse()?);
        self.insert(key, metadata.clone());
        Ok(metadata)
    }

    fn touch(&self, key: &BlockKey) -> Option<FileMetadataRef> {
        let mut entries = self.entries.lock();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_block.get_mut(key)?;
        entry.last_used = now;
        Some(entry.metadata.clone())
    }

    fn insert(&self, key: BlockKey, metadata: FileMetadataRef) {
        let bytes = charged_bytes(&metadata);
        if bytes > self.capacity_bytes {
            return;
        }
        let mut entries = self.entries.lock();
        entries.clock += 1;
        let last_used = entries.clock;
        if let Some(old) = entries.by_block.insert(key, Entry { metadata, bytes, last_used }) {
            entries.bytes -= old.bytes;
        }
        entries.bytes += bytes;
        while entries.bytes > self.capacity_bytes {
            let Some(oldest) =
                entries.by_block.iter().min_by_key(|(_, entry)| entry.last_used).map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(evicted) = entries.by_block.remove(&oldest) {
                entries.bytes -= evicted.bytes;
            }
        }
    }

    /// Footers held and the bytes they are charged, for tests.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let entries = self.entries.lock();
        (entries.by_block.len(), entries.bytes)
    }
}

fn key_of(block: &BlockMeta) -> BlockKey {
    (block.path.clone(), block.bytes, block.written_us)
}

/// The footer without Fluoro's key-value metadata, which reads of data pages never use.
fn without_key_values(metadata: FileMetadataRef) -> FileMetadataRef {
    if metadata.key_value_metadata.is_none() {
        return metadata;
    }
    let mut stripped = (*metadata).clone();
    stripped.key_value_metadata = None;
    Arc::new(stripped)
}

/// The raw footer backs the column chunks' statistics and is held as long as the entry; the
/// parsed row groups come on top, a few hundred bytes per column chunk.
fn charged_bytes(metadata: &FileMetadataRef) -> usize {
    let chunks: usize = metadata.row_groups.iter().map(|group| group.n_columns()).sum();
    metadata.footer_buf.len() + chunks * 256
}

#[cfg(test)]
#[path = "footer_cache_tests.rs"]
mod tests;
