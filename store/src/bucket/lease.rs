//! The bucket's side of bucket-wide maintenance (`store/lease.rs` decides what to do):
//! - `leases/maintenance`: `{"holder": n, "expires_at_ms": t}`, created with a create-only PUT
//!   and rewritten only with a PUT conditional on the e-tag its writer last saw, so of two
//!   nodes writing it from the same version exactly one succeeds;
//! - `writers/<n>`: the heartbeat of collector `n`, `{"last_seen_ms": t}`, rewritten on every
//!   maintenance pass (an empty body is a writer that never beat: its LIST date stands in);
//!   `"retired": true` once the lease holder has cleared it (the highest number, kept);
//! - the block objects as the LIST shows them, with their last-modified dates, and their
//!   deletion by name (marker first, then data, as [`Bucket::delete`]).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::{block_id, ignore_not_found, Bucket, DATA_DIR, MARKER_DIR, WRITERS_DIR};
use crate::error::{Result, StoreError};

const LEASE_DIR: &str = "leases";
const MAINTENANCE_LEASE: &str = "maintenance";

/// The body of `leases/maintenance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    /// The writer number of the collector holding it.
    pub(crate) holder: u32,
    /// Until when, in ms since the epoch by the holder's clock.
    pub(crate) expires_at_ms: u64,
}

/// The body of `writers/<n>`.
#[derive(Debug, Serialize, Deserialize)]
struct Heartbeat {
    last_seen_ms: u64,
    /// Set by the lease holder on the highest writer number once abandoned with no block left
    /// (kept so that no number is claimed twice); a returning collector's heartbeat clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    retired: bool,
}

/// A writer number and when its collector last wrote its heartbeat (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterSeen {
    pub(crate) writer: u32,
    pub(crate) last_seen_ms: u64,
    /// Abandoned and cleared already (`Bucket::retire_writer`).
    pub(crate) retired: bool,
}

/// A block as the bucket lists it: its data object's date, and whether its marker is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedBlock {
    /// `<id>.parquet`.
    pub(crate) name: String,
    pub(crate) id: u64,
    /// The data object's last-modified date (ms since the epoch, the bucket's clock); `None`
    /// for a marker whose data is gone (a deletion cut off between the two).
    pub(crate) data_modified_ms: Option<u64>,
}

impl Bucket {
    /// The lease and the version it was read at, `None` when nobody ever took it. A body that
    /// does not parse reads as a lease long expired, so a contender can replace it.
    pub(crate) fn read_lease(&self) -> Result<Option<(Lease, UpdateVersion)>> {
        let path = self.path(LEASE_DIR, MAINTENANCE_LEASE);
        let read = self.run(async {
            let result = self.objects.get(&path).await?;
            let version = UpdateVersion { e_tag: result.meta.e_tag.clone(), version: result.meta.version.clone() };
            Ok((result.bytes().await?, version))
        });
        match read {
            Ok((bytes, version)) => {
                let lease = serde_json::from_slice(&bytes).unwrap_or(Lease { holder: 0, expires_at_ms: 0 });
                Ok(Some((lease, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.error("read", "the maintenance lease", error)),
        }
    }

    /// Writes the lease: `mode` is `Create` when nobody holds it, `Update` with the version
    /// last seen otherwise. The new version when this write won; `None` when another node
    /// wrote it first (the object exists, or changed since that version).
    pub(crate) fn write_lease(&self, lease: Lease, mode: PutMode) -> Result<Option<UpdateVersion>> {
        let path = self.path(LEASE_DIR, MAINTENANCE_LEASE);
        let body = serde_json::to_vec(&lease).map_err(|error| StoreError::Bucket(error.to_string()))?;
        let options = PutOptions { mode, ..PutOptions::default() };
        match self.run(async { self.objects.put_opts(&path, PutPayload::from(body), options).await }) {
            Ok(put) => Ok(Some(UpdateVersion { e_tag: put.e_tag, version: put.version })),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(None),
            Err(error) => Err(self.error("write", "the maintenance lease", error)),
        }
    }

    /// Rewrites `writers/<writer>` with the time now: this collector is alive.
    pub(crate) fn heartbeat(&self, writer: u32, now_ms: u64) -> Result<()> {
        self.put_writer(writer, &Heartbeat { last_seen_ms: now_ms, retired: false })
    }

    /// Marks `writers/<writer>` retired: abandoned, no block left, kept as the highest number.
    pub(crate) fn retire_writer(&self, writer: u32) -> Result<()> {
        self.put_writer(writer, &Heartbeat { last_seen_ms: 0, retired: true })
    }

    fn put_writer(&self, writer: u32, heartbeat: &Heartbeat) -> Result<()> {
        let path = self.path(WRITERS_DIR, &writer.to_string());
        let body = serde_json::to_vec(heartbeat).map_err(|error| StoreError::Bucket(error.to_string()))?;
        self.run(async { self.objects.put(&path, PutPayload::from(body)).await })
            .map(drop)
            .map_err(|error| self.error("write", &format!("{WRITERS_DIR}/{writer}"), error))
    }

    /// Every claimed writer number with its last heartbeat (one LIST, one GET each).
    pub(crate) fn writers_seen(&self) -> Result<Vec<WriterSeen>> {
        let mut seen = Vec::new();
        for meta in self.list(WRITERS_DIR)? {
            let Some(writer) = meta.location.filename().and_then(|name| name.parse::<u32>().ok()) else { continue };
            let body = self.run(async { self.objects.get(&meta.location).await?.bytes().await });
            let body = match body {
                Ok(body) => body,
                // Removed since the LIST: nothing left to judge.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(error) => return Err(self.error("read", &format!("{WRITERS_DIR}/{writer}"), error)),
            };
            let heartbeat = serde_json::from_slice::<Heartbeat>(&body)
                .unwrap_or(Heartbeat { last_seen_ms: modified_ms(&meta), retired: false });
            seen.push(WriterSeen { writer, last_seen_ms: heartbeat.last_seen_ms, retired: heartbeat.retired });
        }
        Ok(seen)
    }

    /// Every block the bucket holds, published or not (data without marker is an upload cut
    /// off), by name.
    pub(crate) fn listed_blocks(&self) -> Result<Vec<ListedBlock>> {
        let mut blocks: BTreeMap<String, ListedBlock> = BTreeMap::new();
        for meta in self.list(DATA_DIR)? {
            if let Some((name, id)) = listed_block_name(&meta) {
                let data_modified_ms = Some(modified_ms(&meta));
                blocks.insert(name.clone(), ListedBlock { name, id, data_modified_ms });
            }
        }
        for meta in self.list(MARKER_DIR)? {
            if let Some((name, id)) = listed_block_name(&meta) {
                blocks.entry(name.clone()).or_insert(ListedBlock { name, id, data_modified_ms: None });
            }
        }
        Ok(blocks.into_values().collect())
    }

    /// Deletes a block by name, marker first; a part already gone is not an error, so two
    /// nodes deleting the same block both succeed.
    pub(crate) fn delete_named(&self, name: &str) -> Result<()> {
        let (data, marker) = (self.path(DATA_DIR, name), self.path(MARKER_DIR, name));
        self.run(async {
            ignore_not_found(self.objects.delete(&marker).await)?;
            ignore_not_found(self.objects.delete(&data).await)
        })
        .map_err(|error| self.error("delete", name, error))
    }

    /// Deletes `writers/<writer>` (already gone is not an error).
    pub(crate) fn remove_writer(&self, writer: u32) -> Result<()> {
        let path = self.path(WRITERS_DIR, &writer.to_string());
        self.run(async { ignore_not_found(self.objects.delete(&path).await) })
            .map_err(|error| self.error("delete", &format!("{WRITERS_DIR}/{writer}"), error))
    }

    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.prefix.clone().join(dir);
        self.run(async { self.objects.list(Some(&prefix)).try_collect::<Vec<_>>().await })
            .map_err(|error| self.error("list", dir, error))
    }
}

fn listed_block_name(meta: &ObjectMeta) -> Option<(String, u64)> {
    let name = meta.location.filename()?;
    block_id(name).map(|id| (name.to_string(), id))
}

fn modified_ms(meta: &ObjectMeta) -> u64 {
    u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0)
}
