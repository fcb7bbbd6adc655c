//! Span blocks published to a real S3-compatible server: moto's standalone server
//! (`moto[server]` from PyPI, in requirements-test.txt), started by the test on loopback. Moto
//! because it installs from PyPI in seconds with no daemon, image or Java, and speaks the S3
//! REST API the `object_store` client uses against AWS, MinIO or Ceph.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fluoro_store::{BucketConfig, Store};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::{config, put, segment};

const BUCKET: &str = "fluoro-blocks";

/// A moto S3 server on a free loopback port, with one empty bucket; killed on drop.
pub(crate) struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Result<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("moto_server (pip install -r requirements-test.txt)")?;
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        moto.create_bucket(port)?;
        Ok(moto)
    }

    /// Moto takes any credentials, and an unsigned PUT creates a bucket.
    fn create_bucket(&self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let request = format!(
                    "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(request.as_bytes())?;
                let mut response = String::new();
                stream.read_to_string(&mut response)?;
                if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
                    return Ok(());
                }
                bail!("creating the bucket: {response}");
            }
            if Instant::now() > deadline {
                bail!("moto_server did not start listening");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn bucket(&self, prefix: &str) -> BucketConfig {
        BucketConfig {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            allow_http: true,
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            ..BucketConfig::new(format!("s3://{BUCKET}/{prefix}"))
        }
    }

    /// The bucket as a plain client sees it, to look behind the store's back.
    pub(crate) fn client(&self) -> Result<impl ObjectStore> {
        Ok(AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_endpoint(&self.endpoint)
            .with_region("us-east-1")
            .with_allow_http(true)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()?)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn open_with(dir: &Path, moto: &Moto, prefix: &str) -> Store {
    Store::open(fluoro_store::StoreConfig { bucket: Some(moto.bucket(prefix)), ..config(dir) }).unwrap()
}

pub(crate) fn trace(n: u32) -> String {
    format!("1-5759e988-{n:024x}")
}

pub(crate) fn put_trace(store: &Store, n: u32) {
    let children =
        serde_json::json!([{"id": format!("{n:015x}1"), "name": "db", "start_time": 10.1, "end_time": 10.2}]);
    put(store, &[segment(&trace(n), &format!("{n:016x}"), "api", Some(10.5), children)]);
}

pub(crate) fn spans_of(store: &Store, n: u32) -> usize {
    store.traces(&[trace(n).parse().unwrap()]).unwrap().iter().map(|t| t.rows.len()).sum()
}

fn block_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".parquet"))
        .collect();
    names.sort();
    names
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_store_on_a_fresh_disk_reads_back_every_block_from_the_bucket() -> Result<()> {
    let moto = Moto::start()?;
    let (first, second) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let store = open_with(first.path(), &moto, "restart");
    for n in 1..=3 {
        put_trace(&store, n);
        store.flush()?;
    }
    store.close()?;
    drop(store);
    assert_eq!(block_files(first.path()).len(), 3);

    let restarted = open_with(second.path(), &moto, "restart");
    assert_eq!(block_files(second.path()), block_files(first.path()));
    for n in 1..=3 {
        assert_eq!(spans_of(&restarted, n), 2, "trace {n} complete after the restart");
    }
    Ok(())
}

#[test]
fn a_block_uploaded_without_its_marker_is_never_visible() -> Result<()> {
    let moto = Moto::start()?;
    let (writer_dir, reader_dir, control_dir) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let store = open_with(writer_dir.path(), &moto, "complete");
    put_trace(&store, 7);
    store.flush()?;
    store.close()?;
    drop(store);
    let [name] = block_files(writer_dir.path()).try_into().expect("one block");

    // The data object of a complete block, copied under another prefix without its marker: an
    // upload cut off between the two PUTs.
    let client = moto.client()?;
    let runtime = runtime();
    let copy = |dir: &str| {
        let from = ObjectPath::from(format!("complete/{dir}/{name}"));
        let to = ObjectPath::from(format!("half/{dir}/{name}"));
        runtime.block_on(client.copy(&from, &to))
    };
    copy("blocks")?;
    let reader = open_with(reader_dir.path(), &moto, "half");
    assert_eq!(spans_of(&reader, 7), 0, "a block without its marker was read");
    assert!(block_files(reader_dir.path()).is_empty());
    reader.close()?;

    // The same bytes with the marker are read: what kept them out above was the marker alone.
    copy("published")?;
    let control = open_with(control_dir.path(), &moto, "half");
    assert_eq!(spans_of(&control, 7), 2);
    Ok(())
}

fn open_cached(dir: &Path, moto: &Moto, prefix: &str, cache_bytes: u64) -> Store {
    let config = fluoro_store::StoreConfig {
        bucket: Some(moto.bucket(prefix)),
        blocks_cache_bytes: Some(cache_bytes),
        ..config(dir)
    };
    Store::open(config).unwrap()
}

/// A store on a fresh disk with no block cache, over [`write_three_blocks`] under `prefix`: every
/// read of a block is a GET. The bucket and the disk are returned to outlive the store.
fn three_blocks_uncached(prefix: &str) -> Result<(Moto, tempfile::TempDir, Store)> {
    let moto = Moto::start()?;
    write_three_blocks(&moto, prefix)?;
    let dir = tempfile::tempdir()?;
    let store = open_cached(dir.path(), &moto, prefix, 0);
    Ok((moto, dir, store))
}

/// Three flushed blocks, one trace each, under `prefix`; returns the largest block's size.
fn write_three_blocks(moto: &Moto, prefix: &str) -> Result<u64> {
    let dir = tempfile::tempdir()?;
    let store = open_with(dir.path(), moto, prefix);
    for n in 1..=3 {
        put_trace(&store, n);
        store.flush()?;
    }
    store.close()?;
    let mut largest = 0;
    for name in block_files(dir.path()) {
        largest = largest.max(std::fs::metadata(dir.path().join("blocks").join(name))?.len());
    }
    Ok(largest)
}

#[test]
fn a_store_reading_through_the_cache_reads_a_block_again_only_once_it_is_evicted() -> Result<()> {
    let moto = Moto::start()?;
    let largest = write_three_blocks(&moto, "cached")?;
    let dir = tempfile::tempdir()?;
    // Room for one block, not two.
    let bound = largest + largest / 2;
    let store = open_cached(dir.path(), &moto, "cached", bound);
    assert!(block_files(dir.path()).is_empty(), "nothing is downloaded to disk");
    let stats = || store.blocks_cache_stats().unwrap();
    assert_eq!(stats().bucket_gets, 3, "each block read once for its footer");
    assert!(stats().cached_bytes <= bound);

    let before = stats();
    assert_eq!(spans_of(&store, 1), 2, "trace 1 complete, read from the bucket");
    let cold = stats();
    assert!(cold.bucket_get_bytes > before.bucket_get_bytes, "block 1 was evicted at open: read again");
    assert_eq!(spans_of(&store, 1), 2);
    let warm = stats();
    assert_eq!(warm.bucket_get_bytes, cold.bucket_get_bytes, "the second query reads nothing from the bucket");
    assert_eq!(warm.hits, cold.hits + 1);
    for n in [2, 3, 1, 2] {
        assert_eq!(spans_of(&store, n), 2);
        assert!(stats().cached_bytes <= bound, "the cache stays within its bound: {:?}", stats());
    }
    assert!(stats().evictions >= 4);
    Ok(())
}

#[test]
fn a_cache_bound_of_zero_reads_every_query_from_the_bucket() -> Result<()> {
    let (_moto, _dir, store) = three_blocks_uncached("uncached")?;
    for round in 1..=2u64 {
        assert_eq!(spans_of(&store, 2), 2);
        let stats = store.blocks_cache_stats().unwrap();
        assert_eq!(stats.bucket_gets, 3 + round, "one GET per query after the three at open");
        assert_eq!(stats.cached_bytes, 0);
    }
    Ok(())
}

/// A scan takes each block's bytes from the bucket once: the replace rule's second read of the
/// same blocks is built only when two versions of a span meet, not with every scan.
#[test]
fn a_scan_reads_each_block_from_the_bucket_once() -> Result<()> {
    let (_moto, _dir, store) = three_blocks_uncached("scanned")?;
    let before = store.blocks_cache_stats().unwrap().bucket_gets;
    assert_eq!(store.scan(i64::MIN, i64::MAX, &["trace_lo", "id"], None)?.collect()?.height(), 6);
    assert_eq!(store.blocks_cache_stats().unwrap().bucket_gets, before + 3, "one GET per block");
    Ok(())
}

/// A keyed scan reads the text columns of blocks it holds only as bytes from the bucket, as a
/// plain scan reads them.
#[test]
fn a_keyed_scan_reads_blocks_from_the_bucket() -> Result<()> {
    let (_moto, _dir, store) = three_blocks_uncached("keyed")?;
    let (columns, texts) = (["trace_lo", "id"], ["service", "name"]);
    let keyed = store.scan_keyed(i64::MIN, i64::MAX, &columns, &texts)?;
    let all: Vec<&str> = columns.iter().chain(&texts).copied().collect();
    let plain = store.scan(i64::MIN, i64::MAX, &all, None)?.collect()?;
    assert_eq!((keyed.spans.height(), plain.height()), (6, 6), "three traces of two spans");
    for (name, text) in texts.iter().zip(&keyed.texts) {
        let rows: Vec<Option<&str>> = (0..text.keys.len()).map(|row| text.get(row)).collect();
        let strings: Vec<Option<&str>> = plain.column(name)?.str()?.iter().collect();
        assert_eq!(rows, strings, "{name}");
    }
    Ok(())
}

/// The DuckDB view of docs/scale-out.md over a `file://` bucket (the same layout as S3's):
/// published blocks only, each span once.
#[test]
fn duckdb_queries_the_published_blocks_where_they_lie() -> Result<()> {
    let (root, dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let url = url::Url::from_directory_path(root.path()).unwrap().to_string();
    let store = Store::open(fluoro_store::StoreConfig { bucket: Some(BucketConfig::new(url)), ..config(dir.path()) })?;
    for n in 1..=3 {
        put_trace(&store, n);
        store.flush()?;
    }
    store.close()?;
    // A block of a fourth trace whose marker was never written (its writer died between the
    // two PUTs).
    let other = tempfile::tempdir()?;
    let unpublished = Store::open(config(other.path()))?;
    put_trace(&unpublished, 4);
    unpublished.close()?;
    let [block] = &block_files(other.path())[..] else { bail!("one block") };
    std::fs::copy(other.path().join("blocks").join(block), root.path().join("blocks/99999999.parquet"))?;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/duckdb_bucket_layout.py");
    let output = Command::new("python3").arg(script).arg(root.path()).output()?;
    ensure_success(&output)?;
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(answer["traces"], 3, "{answer}");
    assert_eq!(answer["spans"], 6, "the unpublished copy is left out: {answer}");
    Ok(())
}

fn ensure_success(output: &std::process::Output) -> Result<()> {
    if !output.status.success() {
        bail!("duckdb_bucket_layout.py failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
