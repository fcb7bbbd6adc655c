//! The bounded cache of block bytes read from the bucket, for a store that does not keep every
//! published block on its own disk (`StoreConfig::blocks_cache_bytes`).
//!
//! - A block not on local disk is read whole from the bucket (one GET) the first time a query
//!   needs it, and its bytes stay in memory, least recently used evicted first, while all of
//!   them together stay within the bound. Scans read these bytes in place (polars reads a
//!   Parquet buffer as it reads a file), so eviction never pulls a block from under a running
//!   scan: the scan holds its own reference.
//! - The footer-derived metadata of every block (time range, services, trace filter) is kept
//!   for every block, in [`BlockMeta`](crate::block), outside this bound: it is what prunes
//!   blocks without reading them, a few hundred bytes to a few KiB per block.
//! - Why whole blocks, not byte ranges: blocks are small (tens of MiB at most, the flush size),
//!   a query that reads a block reads most of its columns' row groups in the window, and one
//!   GET per block costs less in requests (priced per 1,000 on S3) than a GET per column chunk.
//! - A bound of 0 keeps nothing: each query reads its blocks from the bucket again.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;

/// What the cache did, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlocksCacheStats {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to the bucket.
    pub misses: u64,
    /// Blocks dropped to stay within the bound.
    pub evictions: u64,
    /// Bytes held now, at most `capacity_bytes`.
    pub cached_bytes: u64,
    pub capacity_bytes: u64,
    /// GET requests made to the bucket, and the bytes they returned (counted at the
    /// object-store layer, every read of the store included).
    pub bucket_gets: u64,
    pub bucket_get_bytes: u64,
}

impl BlocksCacheStats {
    /// Prometheus text format 0.0.4, for `/metrics`.
    pub fn prometheus(&self) -> String {
        let samples = [
            ("fluoro_blocks_cache_hits_total", "counter", "Block reads answered from the cache.", self.hits),
            ("fluoro_blocks_cache_misses_total", "counter", "Block reads that went to the bucket.", self.misses),
            ("fluoro_blocks_cache_evictions_total", "counter", "Blocks dropped to stay in the bound.", self.evictions),
            ("fluoro_blocks_cache_bytes", "gauge", "Block bytes held in the cache.", self.cached_bytes),
            ("fluoro_blocks_cache_capacity_bytes", "gauge", "The cache's bound.", self.capacity_bytes),
            (
                "fluoro_bucket_get_requests_total",
                "counter",
                "GET requests made to the blocks bucket.",
                self.bucket_gets,
            ),
            ("fluoro_bucket_get_bytes_total", "counter", "Bytes the GETs returned.", self.bucket_get_bytes),
        ];
        samples
            .iter()
            .map(|(name, kind, help, value)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"))
            .collect()
    }
}

/// Block bytes by block name, least recently used first out.
#[derive(Debug)]
pub(crate) struct BlockCache {
    capacity_bytes: u64,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Name → (bytes, the use counter's value at the last use).
    entries: HashMap<String, (Bytes, u64)>,
    uses: u64,
    cached_bytes: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl BlockCache {
    pub(crate) fn new(capacity_bytes: u64) -> BlockCache {
        BlockCache { capacity_bytes, state: Mutex::new(CacheState::default()) }
    }

    /// The cached bytes of `name`, counted as a hit or a miss.
    pub(crate) fn get(&self, name: &str) -> Option<Bytes> {
        let mut state = self.state.lock();
        state.uses += 1;
        let uses = state.uses;
        let found = state.entries.get_mut(name).map(|(bytes, last_use)| {
            *last_use = uses;
            bytes.clone()
        });
        match found {
            Some(_) => state.hits += 1,
            None => state.misses += 1,
        }
        found
    }

    /// Keeps `bytes` under `name` if they fit, evicting the least recently used beyond the bound.
    pub(crate) fn insert(&self, name: &str, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size > self.capacity_bytes {
            return; // would evict everything and still not fit
        }
        let mut state = self.state.lock();
        state.uses += 1;
        let uses = state.uses;
        if let Some((old, _)) = state.entries.insert(name.to_owned(), (bytes, uses)) {
            state.cached_bytes -= old.len() as u64;
        }
        state.cached_bytes += size;
        while state.cached_bytes > self.capacity_bytes {
            let Some(oldest) = state.entries.iter().min_by_key(|(_, (_, last_use))| *last_use).map(|(n, _)| n.clone())
            else {
                break;
            };
            if let Some((evicted, _)) = state.entries.remove(&oldest) {
                state.cached_bytes -= evicted.len() as u64;
                state.evictions += 1;
            }
        }
    }

    /// Forgets a block deleted from the bucket.
    pub(crate) fn remove(&self, name: &str) {
        let mut state = self.state.lock();
        if let Some((removed, _)) = state.entries.remove(name) {
            state.cached_bytes -= removed.len() as u64;
        }
    }

    /// The counters, without the bucket's request counts.
    pub(crate) fn stats(&self) -> BlocksCacheStats {
        let state = self.state.lock();
        BlocksCacheStats {
            hits: state.hits,
            misses: state.misses,
            evictions: state.evictions,
            cached_bytes: state.cached_bytes,
            capacity_bytes: self.capacity_bytes,
            ..BlocksCacheStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(size: usize) -> Bytes {
        Bytes::from(vec![0u8; size])
    }

    #[test]
    fn the_least_recently_used_block_goes_first_and_the_bound_holds() {
        let cache = BlockCache::new(250);
        cache.insert("a", block(100));
        cache.insert("b", block(100));
        assert!(cache.get("a").is_some(), "a is now used more recently than b");
        cache.insert("c", block(100));
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        let stats = cache.stats();
        assert!(stats.cached_bytes <= 250);
        assert_eq!((stats.hits, stats.misses, stats.evictions), (3, 1, 1));
    }

    #[test]
    fn the_counters_read_as_prometheus_samples() {
        let text = BlocksCacheStats { hits: 3, bucket_gets: 7, ..BlocksCacheStats::default() }.prometheus();
        assert!(text.contains("# TYPE fluoro_blocks_cache_hits_total counter\nfluoro_blocks_cache_hits_total 3\n"));
        assert!(text.contains("\nfluoro_bucket_get_requests_total 7\n"));
    }

    #[test]
    fn a_block_larger_than_the_bound_is_not_kept_and_evicts_nothing() {
        let cache = BlockCache::new(150);
        cache.insert("a", block(100));
        cache.insert("huge", block(151));
        assert!(cache.get("huge").is_none());
        assert!(cache.get("a").is_some());
        let zero = BlockCache::new(0);
        zero.insert("a", block(1));
        assert_eq!(zero.stats().cached_bytes, 0);
    }
}
