//! Span blocks in an object-store bucket (S3 or anything speaking its API, or a `file://` URL),
//! beside the local `blocks/` directory, which stays the working copy that scans read.
//!
//! Layout under the URL's prefix:
//! - `blocks/<id>.parquet`: the block file, written with one PUT (atomic on every S3-compatible
//!   store: a reader sees the whole object or none);
//! - `published/<id>.parquet`: an empty marker written only once the block is complete.
//!
//! - `writers/<n>`: one object per collector (`StoreRole::Collector`), created with a
//!   create-only PUT, so no two collectors take the same writer number; a collector's block ids
//!   carry its number in their high bits (`roles.rs`), so several collectors share one bucket
//!   without clashing names. Its body is the collector's heartbeat (`bucket/lease.rs`);
//! - `leases/maintenance`: which collector runs the bucket-wide maintenance
//!   (`bucket/lease.rs`, `store/lease.rs`).
//!
//! Readers list `published/` only, so a block whose upload was cut off (data without marker,
//! or a multipart upload never completed) is never seen. Deleting goes the other way: marker
//! first, then data. Retries with exponential backoff are object_store's (`RetryConfig`).
//!
//! A store opened with a cache bound (`StoreConfig::blocks_cache_bytes`) does not download the
//! published blocks to its disk: it reads each one once for its footer metadata, then on
//! demand through a bounded cache of block bytes ([`RemoteBlocks`], `bucket/cache.rs`). Every
//! GET is counted (`bucket/counting.rs`).

mod cache;
mod counting;
mod lease;

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};

use crate::block::{self, BlockMeta};
use crate::error::{Result, StoreError};
use cache::BlockCache;
pub use cache::BlocksCacheStats;
use counting::{CountingStore, RequestCounts};
pub(crate) use lease::{Lease, ListedBlock, WriterSeen};

const DATA_DIR: &str = "blocks";
const MARKER_DIR: &str = "published";
const WRITERS_DIR: &str = "writers";
/// Writer numbers tried after the highest listed before giving up (each try lost a race).
const WRITER_CLAIM_TRIES: u32 = 64;
const BLOCK_SUFFIX: &str = ".parquet";
const DOWNLOAD_SUFFIX: &str = ".download";

/// Where span blocks are published, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    /// `s3://bucket/prefix` or `file:///dir`.
    pub url: String,
    /// An S3-compatible server other than AWS (MinIO, Ceph, moto); `AWS_ENDPOINT_URL` otherwise.
    pub endpoint: Option<String>,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` otherwise.
    pub region: Option<String>,
    /// Plain HTTP to the endpoint, for a local server.
    pub allow_http: bool,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or the instance's role) otherwise.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl BucketConfig {
    pub fn new(url: impl Into<String>) -> Self {
        BucketConfig {
            url: url.into(),
            endpoint: None,
            region: None,
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

/// An open bucket. Its calls block the calling thread; they run on a thread of their own so
/// they can be made from inside the server's async runtime too.
pub(crate) struct Bucket {
    objects: Arc<dyn ObjectStore>,
    counts: Arc<RequestCounts>,
    prefix: ObjectPath,
    runtime: tokio::runtime::Runtime,
    url: String,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("url", &self.url).finish()
    }
}

impl Bucket {
    pub(crate) fn open(config: &BucketConfig) -> Result<Bucket> {
        let url = url::Url::parse(&config.url).map_err(|error| config_error(config, error))?;
        let prefix = ObjectPath::from(url.path().trim_matches('/'));
        let objects: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" => Arc::new(s3_builder(config).build().map_err(|error| config_error(config, error))?),
            // The whole path is the root here, so the prefix is empty.
            "file" => return Self::local(config, &url),
            scheme => {
                return Err(config_error(config, format!("unsupported scheme {scheme}:// (use s3:// or file://)")))
            }
        };
        Self::with_objects(objects, prefix, &config.url)
    }

    fn local(config: &BucketConfig, url: &url::Url) -> Result<Bucket> {
        let root = url.to_file_path().map_err(|()| config_error(config, "not a local path"))?;
        fs::create_dir_all(&root).map_err(|error| StoreError::io(&root, error))?;
        let objects = LocalFileSystem::new_with_prefix(&root).map_err(|error| config_error(config, error))?;
        Self::with_objects(Arc::new(objects), ObjectPath::default(), &config.url)
    }

    fn with_objects(objects: Arc<dyn ObjectStore>, prefix: ObjectPath, url: &str) -> Result<Bucket> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| StoreError::io(Path::new(url), error))?;
        let counting = CountingStore::new(objects);
        let counts = counting.counts.clone();
        Ok(Bucket { objects: Arc::new(counting), counts, prefix, runtime, url: url.to_string() })
    }

    /// Uploads the block file, then its marker: from the marker on, readers see it whole.
    pub(crate) fn publish(&self, file: &Path) -> Result<()> {
        let name = block_name(file)?;
        let bytes = fs::read(file).map_err(|error| StoreError::io(file, error))?;
        let (data, marker) = (self.path(DATA_DIR, &name), self.path(MARKER_DIR, &name));
        self.run(async {
            self.objects.put(&data, PutPayload::from(bytes)).await?;
            self.objects.put(&marker, PutPayload::default()).await
        })
        .map(drop)
        .map_err(|error| self.error("publish", &name, error))
    }

    /// The names (`<id>.parquet`) of the blocks whose marker is written, sorted.
    pub(crate) fn published(&self) -> Result<Vec<String>> {
        let markers = self.prefix.clone().join(MARKER_DIR);
        let listed = self.run(async { self.objects.list(Some(&markers)).try_collect::<Vec<_>>().await });
        let listed = listed.map_err(|error| self.error("list", MARKER_DIR, error))?;
        let mut names: Vec<String> = listed
            .into_iter()
            .filter_map(|meta| meta.location.filename().map(str::to_string))
            .filter(|name| is_block_name(name))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Takes the lowest writer number above every one taken: a create-only PUT of
    /// `writers/<n>`, which fails when another collector created it first.
    pub(crate) fn claim_writer(&self) -> Result<u32> {
        let writers = self.prefix.clone().join(WRITERS_DIR);
        let listed = self.run(async { self.objects.list(Some(&writers)).try_collect::<Vec<_>>().await });
        let listed = listed.map_err(|error| self.error("list", WRITERS_DIR, error))?;
        let highest = listed.iter().filter_map(|meta| meta.location.filename()?.parse::<u32>().ok()).max();
        let first = highest.map_or(1, |n| n.saturating_add(1));
        for writer in first..first.saturating_add(WRITER_CLAIM_TRIES) {
            let path = self.path(WRITERS_DIR, &writer.to_string());
            let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
            match self.run(async { self.objects.put_opts(&path, PutPayload::default(), options).await }) {
                Ok(_) => return Ok(writer),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {}
                Err(error) => return Err(self.error("claim", &format!("{WRITERS_DIR}/{writer}"), error)),
            }
        }
        Err(StoreError::Bucket(format!("no free writer number after {WRITER_CLAIM_TRIES} tries in {}", self.url)))
    }

    /// Downloads every published block missing from `dir` that `wanted` accepts; returns how
    /// many. Each lands under a temporary name first, so a cut-off download is never taken for
    /// a block.
    pub(crate) fn restore_missing(&self, dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<usize> {
        let missing: Vec<String> =
            self.published()?.into_iter().filter(|name| wanted(name) && !dir.join(name).exists()).collect();
        for name in &missing {
            self.download(name, dir)?;
        }
        Ok(missing.len())
    }

    fn download(&self, name: &str, dir: &Path) -> Result<()> {
        let bytes = self.read(name)?;
        let tmp = dir.join(format!("{name}{DOWNLOAD_SUFFIX}"));
        let path = dir.join(name);
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &path).map_err(|error| StoreError::io(&path, error))
    }

    /// A published block's bytes, with one GET.
    fn read(&self, name: &str) -> Result<bytes::Bytes> {
        let data = self.path(DATA_DIR, name);
        let bytes = self.run(async { self.objects.get(&data).await?.bytes().await });
        bytes.map_err(|error| self.error("download", name, error))
    }

    /// Unpublishes a block: marker first, so no reader starts on data about to go.
    pub(crate) fn delete(&self, file: &Path) -> Result<()> {
        self.delete_named(&block_name(file)?)
    }

    fn path(&self, dir: &str, name: &str) -> ObjectPath {
        self.prefix.clone().join(dir).join(name)
    }

    fn run<F, T>(&self, work: F) -> object_store::Result<T>
    where
        F: Future<Output = object_store::Result<T>> + Send,
        T: Send,
    {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| self.runtime.block_on(work));
            worker.join().unwrap_or_else(|_| {
                Err(object_store::Error::Generic { store: "bucket", source: "bucket worker thread panicked".into() })
            })
        })
    }

    fn error(&self, action: &str, name: &str, error: object_store::Error) -> StoreError {
        StoreError::Bucket(format!("{action} {name} in {}: {error}", self.url))
    }
}

/// Makes the published blocks missing from `blocks_dir` that `wanted` accepts available:
/// downloaded there, or with a cache bound, read from the bucket on demand (their metadata
/// returned).
pub(crate) fn open_published(
    bucket: Option<&Arc<Bucket>>,
    cache_bytes: Option<u64>,
    blocks_dir: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<(Option<Arc<RemoteBlocks>>, Vec<BlockMeta>)> {
    let Some(bucket) = bucket else { return Ok((None, Vec::new())) };
    let Some(capacity) = cache_bytes else {
        let restored = bucket.restore_missing(blocks_dir, wanted)?;
        tracing::info!(blocks = restored, "fetched published blocks from the bucket");
        return Ok((None, Vec::new()));
    };
    let remote = RemoteBlocks::new(bucket.clone(), capacity);
    let blocks = remote.open_missing(blocks_dir, wanted)?;
    tracing::info!(blocks = blocks.len(), "reading published blocks from the bucket through the cache");
    Ok((Some(remote), blocks))
}

/// The published blocks a store reads from the bucket rather than from its disk, through a
/// cache of their bytes bounded by `capacity_bytes`.
pub(crate) struct RemoteBlocks {
    bucket: Arc<Bucket>,
    cache: BlockCache,
}

impl std::fmt::Debug for RemoteBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBlocks").field("bucket", &self.bucket.url).finish()
    }
}

impl RemoteBlocks {
    pub(crate) fn new(bucket: Arc<Bucket>, capacity_bytes: u64) -> Arc<RemoteBlocks> {
        Arc::new(RemoteBlocks { bucket, cache: BlockCache::new(capacity_bytes) })
    }

    /// The metadata of every published block missing from `dir`, read from the bucket (each
    /// block's bytes go through the cache, so the first queries may find them there).
    pub(crate) fn open_missing(self: &Arc<Self>, dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<BlockMeta>> {
        let missing = self.bucket.published()?.into_iter().filter(|name| wanted(name) && !dir.join(name).exists());
        missing.map(|name| self.open_block(dir, &name)).collect()
    }

    /// The names (`<id>.parquet`) of the published blocks, sorted.
    pub(crate) fn published(&self) -> Result<Vec<String>> {
        self.bucket.published()
    }

    /// The metadata of one published block, as if it were `dir/name` (its bytes go through the
    /// cache).
    pub(crate) fn open_block(self: &Arc<Self>, dir: &Path, name: &str) -> Result<BlockMeta> {
        let id = block_id(name).ok_or_else(|| StoreError::Bucket(format!("{name} is not a block file")))?;
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX));
        let bytes = self.fetch(name)?;
        // Read from the bucket, where it was written whole: its age counts from now, so
        // retention never deletes it sooner than its writer would have.
        block::open_remote_block(id, dir.join(name), &bytes, now_us, self.clone())
    }

    /// The bytes of the block at `path` (named by its file name), from the cache or the bucket.
    pub(crate) fn block_bytes(&self, path: &Path) -> Result<bytes::Bytes> {
        let name = block_name(path)?;
        match self.cache.get(&name) {
            Some(bytes) => Ok(bytes),
            None => self.fetch(&name),
        }
    }

    /// Drops a deleted block's bytes from the cache.
    pub(crate) fn forget(&self, path: &Path) {
        if let Ok(name) = block_name(path) {
            self.cache.remove(&name);
        }
    }

    fn fetch(&self, name: &str) -> Result<bytes::Bytes> {
        let bytes = self.bucket.read(name)?;
        self.cache.insert(name, bytes.clone());
        Ok(bytes)
    }

    pub(crate) fn stats(&self) -> BlocksCacheStats {
        let counts = &self.bucket.counts;
        BlocksCacheStats {
            bucket_gets: counts.gets.load(std::sync::atomic::Ordering::Relaxed),
            bucket_get_bytes: counts.get_bytes.load(std::sync::atomic::Ordering::Relaxed),
            ..self.cache.stats()
        }
    }
}

/// S3 settings from the usual AWS environment variables, then the explicit ones.
fn s3_builder(config: &BucketConfig) -> AmazonS3Builder {
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            base: 2.0,
        },
        max_retries: 8,
        retry_timeout: Duration::from_secs(120),
    };
    let mut builder =
        AmazonS3Builder::from_env().with_url(&config.url).with_allow_http(config.allow_http).with_retry(retry);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &config.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &config.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    builder
}

fn block_name(file: &Path) -> Result<String> {
    file.file_name()
        .and_then(|name| name.to_str())
        .filter(|name| is_block_name(name))
        .map(str::to_string)
        .ok_or_else(|| StoreError::Bucket(format!("{} is not a block file", file.display())))
}

/// The id of a block named `<id>.parquet`.
pub(crate) fn block_id(name: &str) -> Option<u64> {
    name.strip_suffix(BLOCK_SUFFIX).filter(|_| is_block_name(name)).and_then(|id| id.parse().ok())
}

/// Only plain `<digits>.parquet` names: a listed key never becomes a path outside `blocks/`.
fn is_block_name(name: &str) -> bool {
    name.strip_suffix(BLOCK_SUFFIX).is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn ignore_not_found(result: object_store::Result<()>) -> object_store::Result<()> {
    match result {
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        other => other,
    }
}

fn write_synced(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(|error| StoreError::io(path, error))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|error| StoreError::io(path, error))
}

fn config_error(config: &BucketConfig, error: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("blocks bucket {}: {error}", config.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_block_names_are_taken_from_a_listing() {
        assert!(is_block_name("00000012.parquet"));
        assert!(!is_block_name("12.parquet.tmp"));
        assert!(!is_block_name("../12.parquet"));
        assert!(!is_block_name(".parquet"));
    }
}
