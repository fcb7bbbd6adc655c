//! Collectors sharing a bucket (moto on loopback, as in `blocks_in_a_bucket`) hand the
//! bucket-wide maintenance to one of them through `leases/maintenance`, written with
//! conditional PUTs; the holder expires the blocks of writers that stopped beating.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use fluoro_store::{LeaseStats, Store, StoreConfig, StoreRole};
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::blocks_in_a_bucket::{open_with, put_trace, runtime, spans_of, Moto};
use crate::support::config;

/// Short enough to wait out; a contender waits a quarter of it past the expiry.
const LEASE: Duration = Duration::from_secs(2);
const PAST_EXPIRY: Duration = Duration::from_millis(2700);

fn collector(dir: &Path, moto: &Moto, prefix: &str) -> Store {
    collector_with(dir, moto, prefix, config(dir).retention_max_age)
}

fn collector_with(dir: &Path, moto: &Moto, prefix: &str, retention_max_age: Duration) -> Store {
    let config = StoreConfig {
        bucket: Some(moto.bucket(prefix)),
        role: StoreRole::Collector,
        lease_duration: LEASE,
        retention_max_age,
        ..config(dir)
    };
    Store::open(config).unwrap()
}

fn stats(store: &Store) -> LeaseStats {
    store.lease_stats().expect("a collector keeps lease counters")
}

/// The holder named in the bucket's lease object.
fn lease_holder(moto: &Moto, prefix: &str) -> Result<u64> {
    let client = moto.client()?;
    let bytes = runtime().block_on(async {
        client.get(&ObjectPath::from(format!("{prefix}/leases/maintenance"))).await?.bytes().await
    })?;
    let lease: serde_json::Value = serde_json::from_slice(&bytes)?;
    Ok(lease["holder"].as_u64().expect("a holder"))
}

/// Names under `prefix/dir`, sorted.
fn listed(moto: &Moto, prefix: &str, dir: &str) -> Result<Vec<String>> {
    let client = moto.client()?;
    let path = ObjectPath::from(format!("{prefix}/{dir}"));
    let listed = runtime().block_on(client.list(Some(&path)).try_collect::<Vec<_>>())?;
    let mut names: Vec<String> =
        listed.iter().filter_map(|meta| meta.location.filename().map(str::to_string)).collect();
    names.sort();
    Ok(names)
}

/// Collector 1 takes the lease; collector 2 takes it over once it has expired.
fn taken_over(moto: &Moto, prefix: &str, dirs: [&Path; 2]) -> Result<(Store, Store)> {
    let (first, second) = (collector(dirs[0], moto, prefix), collector(dirs[1], moto, prefix));
    first.maintain()?;
    assert!(stats(&first).holds_lease, "nobody held it: the first pass takes it");
    assert_eq!(lease_holder(moto, prefix)?, 1);
    second.maintain()?;
    assert!(!stats(&second).holds_lease, "the first collector's lease is still valid");
    assert_eq!(lease_holder(moto, prefix)?, 1);

    std::thread::sleep(PAST_EXPIRY);
    second.maintain()?;
    assert!(stats(&second).holds_lease, "the lease expired: the second collector takes it over");
    assert_eq!(stats(&second).takeovers, 1);
    assert_eq!(lease_holder(moto, prefix)?, 2);
    Ok((first, second))
}

#[test]
fn a_second_collector_takes_the_lease_only_once_it_has_expired() -> Result<()> {
    let moto = Moto::start()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let (first, second) = taken_over(&moto, "expiry", [dirs[0].path(), dirs[1].path()])?;
    assert_eq!(stats(&first).takeovers, 0, "the first collector created it, took nothing over");
    // Renewed by its new holder on each pass, so the first collector cannot take it back.
    second.maintain()?;
    first.maintain()?;
    assert!(stats(&second).holds_lease);
    assert!(!stats(&first).holds_lease);
    assert_eq!(lease_holder(&moto, "expiry")?, 2);
    Ok(())
}

#[test]
fn a_holder_whose_lease_was_taken_over_cannot_renew_it_and_stops_holding() -> Result<()> {
    let moto = Moto::start()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let (first, second) = taken_over(&moto, "stale", [dirs[0].path(), dirs[1].path()])?;
    assert!(stats(&first).holds_lease, "the first collector has not noticed yet");
    // Its renewal carries the e-tag it last wrote, which the takeover replaced.
    first.maintain()?;
    assert!(!stats(&first).holds_lease, "a stale e-tag cannot renew the lease");
    assert_eq!(lease_holder(&moto, "stale")?, 2, "the failed renewal changed nothing");
    assert!(stats(&second).holds_lease);
    Ok(())
}

#[test]
fn the_holder_deletes_an_abandoned_writers_old_blocks_and_never_a_live_writers() -> Result<()> {
    let moto = Moto::start()?;
    let prefix = "abandoned";
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    abandoned_writer(&moto, prefix, dirs[0].path())?;
    // Writer 2 publishes a block and stays alive.
    let live = collector(dirs[1].path(), &moto, prefix);
    put_trace(&live, 2);
    live.flush()?;
    assert_eq!(listed(&moto, prefix, "published")?.len(), 2);

    // Writer 3 expires blocks a second old: both blocks are, by their dates in the bucket.
    let holder = collector_with(dirs[2].path(), &moto, prefix, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(1500));
    holder.maintain()?;
    assert!(stats(&holder).holds_lease);
    assert_eq!(stats(&holder).abandoned_blocks_deleted, 1);
    let published = listed(&moto, prefix, "published")?;
    assert_eq!(published, listed(&moto, prefix, "blocks")?, "marker and data went together");
    assert_eq!(published.len(), 1, "the live writer's block stays: {published:?}");
    assert_eq!(listed(&moto, prefix, "writers")?, ["2", "3"], "the abandoned writer, left with no block, is gone");

    let reader = open_with(dirs[3].path(), &moto, prefix);
    assert_eq!(spans_of(&reader, 1), 0, "the abandoned writer's trace is gone from the bucket");
    assert_eq!(spans_of(&reader, 2), 2, "the live writer's trace is whole");
    // Nothing else to do on the next pass: deleting is done once.
    holder.maintain()?;
    assert_eq!(stats(&holder).abandoned_blocks_deleted, 1);
    assert_eq!(spans_of(&live, 2), 2);
    Ok(())
}

/// Writer 1 of `prefix` with one published block, gone for good: its heartbeat is long past.
fn abandoned_writer(moto: &Moto, prefix: &str, dir: &Path) -> Result<()> {
    let gone = collector(dir, moto, prefix);
    put_trace(&gone, 1);
    gone.flush()?;
    gone.close()?;
    drop(gone);
    let heartbeat = PutPayload::from(serde_json::to_vec(&serde_json::json!({"last_seen_ms": 0}))?);
    runtime().block_on(moto.client()?.put(&ObjectPath::from(format!("{prefix}/writers/1")), heartbeat))?;
    Ok(())
}

#[test]
fn a_collector_without_the_lease_leaves_abandoned_blocks_alone() -> Result<()> {
    let moto = Moto::start()?;
    let prefix = "not-holder";
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    abandoned_writer(&moto, prefix, dirs[0].path())?;
    let holder = collector(dirs[1].path(), &moto, prefix);
    holder.maintain()?;
    assert!(stats(&holder).holds_lease);
    // Would delete the abandoned block (a second old) if it held the lease.
    let other = collector_with(dirs[2].path(), &moto, prefix, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(1500));
    other.maintain()?;
    assert!(!stats(&other).holds_lease);
    assert_eq!(stats(&other).abandoned_blocks_deleted, 0);
    assert_eq!(listed(&moto, prefix, "published")?.len(), 1, "the abandoned block is still there");
    assert_eq!(listed(&moto, prefix, "writers")?, ["1", "2", "3"]);
    Ok(())
}

#[test]
fn of_two_collectors_contending_for_an_expired_lease_exactly_one_wins() -> Result<()> {
    let moto = Moto::start()?;
    let prefix = "race";
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    let first = collector(dirs[0].path(), &moto, prefix);
    first.maintain()?;
    let contenders = [collector(dirs[1].path(), &moto, prefix), collector(dirs[2].path(), &moto, prefix)];
    std::thread::sleep(PAST_EXPIRY);
    // Both read the same expired version and write from it at once.
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        for contender in &contenders {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                contender.maintain()
            });
        }
    });
    let holding: Vec<u64> = (2..=3).zip(&contenders).filter(|(_, c)| stats(c).holds_lease).map(|(n, _)| n).collect();
    assert_eq!(holding.len(), 1, "exactly one contender holds the lease");
    assert_eq!(lease_holder(&moto, prefix)?, holding[0]);
    assert_eq!(contenders.iter().map(|c| stats(c).takeovers).sum::<u64>(), 1);
    Ok(())
}

#[test]
fn every_maintenance_pass_rewrites_the_collectors_heartbeat() -> Result<()> {
    let moto = Moto::start()?;
    let dir = tempfile::tempdir()?;
    let store = collector(dir.path(), &moto, "heartbeat");
    let last_seen = || -> Result<u64> {
        let client = moto.client()?;
        let bytes =
            runtime().block_on(async { client.get(&ObjectPath::from("heartbeat/writers/1")).await?.bytes().await })?;
        Ok(serde_json::from_slice::<serde_json::Value>(&bytes)?["last_seen_ms"].as_u64().expect("a time"))
    };
    let opened = last_seen()?;
    assert!(opened > 0, "written on open");
    std::thread::sleep(Duration::from_millis(20));
    store.maintain()?;
    assert!(last_seen()? > opened, "rewritten by the pass");
    Ok(())
}

#[test]
fn the_highest_abandoned_writer_number_is_kept_retired_so_it_is_never_claimed_again() -> Result<()> {
    let moto = Moto::start()?;
    let prefix = "retired";
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    let holder = collector_with(dirs[0].path(), &moto, prefix, Duration::from_secs(1));
    // Writer 2, the highest, publishes a block and goes away for good.
    let gone = collector(dirs[1].path(), &moto, prefix);
    put_trace(&gone, 1);
    gone.flush()?;
    gone.close()?;
    drop(gone);
    let heartbeat = PutPayload::from(serde_json::to_vec(&serde_json::json!({"last_seen_ms": 0}))?);
    runtime().block_on(moto.client()?.put(&ObjectPath::from(format!("{prefix}/writers/2")), heartbeat))?;
    std::thread::sleep(Duration::from_millis(1500));
    holder.maintain()?;
    assert_eq!(stats(&holder).abandoned_blocks_deleted, 1);
    assert!(listed(&moto, prefix, "published")?.is_empty());
    assert_eq!(listed(&moto, prefix, "writers")?, ["1", "2"], "the highest number stays");
    let client = moto.client()?;
    let body = runtime()
        .block_on(async { client.get(&ObjectPath::from(format!("{prefix}/writers/2"))).await?.bytes().await })?;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body)?["retired"], true);

    let newcomer = collector(dirs[2].path(), &moto, prefix);
    drop(newcomer);
    assert_eq!(std::fs::read_to_string(dirs[2].path().join("writer-id"))?, "3", "number 2 is not reused");
    Ok(())
}
