//! Whether the data directory's filesystem has room, shared by the write path, every log thread
//! and the flush thread, and what recovery cut from the logs: the store's [`StoreHealth`].
//!
//! A write that fails for space (`ENOSPC`, or `EDQUOT` past a quota) marks the disk full. From
//! then on every write is refused at once with [`StoreError::DiskFull`], before it reaches the
//! log or recent data, so nothing is acknowledged that is not on disk and the log threads stop
//! hitting the full disk. Reads go on. The flush thread probes every tick ([`DiskSpace::probe`]:
//! writes [`PROBE_BYTES`] to a scratch file and deletes it); once that succeeds writes are
//! accepted again and the flush that failed is retried, without a restart.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::StoreError;
use crate::wal::Damage;

/// What a probe must be able to write before writes are taken again: room for a few
/// acknowledged requests, so the first ones after recovery do not fail again at once.
pub(crate) const PROBE_BYTES: usize = 256 * 1024;
const PROBE_FILE: &str = "space-probe.tmp";
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// Whether the disk is full, and what said so.
#[derive(Debug)]
pub(crate) struct DiskSpace {
    data_dir: PathBuf,
    full: AtomicBool,
    /// The failure that marked it full, for the refusals' message.
    cause: Mutex<String>,
}

impl DiskSpace {
    pub(crate) fn new(data_dir: &Path) -> DiskSpace {
        DiskSpace { data_dir: data_dir.to_owned(), full: AtomicBool::new(false), cause: Mutex::new(String::new()) }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    /// Refuses a write while the disk is full.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.is_full() {
            return Err(self.error());
        }
        Ok(())
    }

    /// The error writes get while the disk is full.
    pub(crate) fn error(&self) -> StoreError {
        StoreError::DiskFull { data_dir: self.data_dir.clone(), cause: self.cause.lock().clone() }
    }

    /// Marks the disk full when `error` is a failure for space; says whether it was.
    pub(crate) fn note(&self, error: &StoreError) -> bool {
        let out_of_space = match error {
            StoreError::Io { source, .. } => is_out_of_space(source),
            StoreError::DiskFull { .. } => true,
            _ => false,
        };
        if out_of_space && !self.full.swap(true, Ordering::SeqCst) {
            *self.cause.lock() = error.to_string();
            tracing::error!(data_dir = %self.data_dir.display(), error = %error,
                            "the disk is full: writes are refused until space is freed");
        }
        out_of_space
    }

    /// While the disk is full, tries to write [`PROBE_BYTES`]; when that works, takes writes
    /// again. Returns whether the disk is (still) full.
    pub(crate) fn probe(&self) -> bool {
        if !self.is_full() {
            return false;
        }
        let path = self.data_dir.join(PROBE_FILE);
        let written = File::create(&path).and_then(|mut file| file.write_all(&[0u8; PROBE_BYTES]));
        // Deleted whatever happened: a half-written probe holds the space it found.
        let _ = fs::remove_file(&path);
        match written {
            Ok(()) => {
                self.full.store(false, Ordering::SeqCst);
                tracing::warn!(data_dir = %self.data_dir.display(), "there is space on the disk again: writes are accepted");
                false
            }
            Err(error) if is_out_of_space(&error) => true,
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "cannot probe the disk for space");
                true
            }
        }
    }
}

/// `ENOSPC` or `EDQUOT`: the filesystem or the quota is full.
pub(crate) fn is_out_of_space(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::StorageFull || matches!(error.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// The store's condition for `/metrics`: whether the disk is full now, and what replaying the
/// write-ahead logs (spans, log records, metric points) cut when the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreHealth {
    pub disk_full: bool,
    pub wal_damage: Damage,
}

impl StoreHealth {
    /// Prometheus text exposition of these values.
    pub fn prometheus(&self) -> String {
        let samples = [
            (
                "fluoro_store_disk_full",
                "gauge",
                "1 while the data directory's disk is full and writes are refused.",
                u64::from(self.disk_full),
            ),
            (
                "fluoro_wal_damaged_records_total",
                "counter",
                "Damaged stretches of write-ahead log (one or more records each) cut and quarantined when the store opened.",
                self.wal_damage.damaged_records,
            ),
            (
                "fluoro_wal_damaged_bytes_total",
                "counter",
                "Write-ahead log bytes cut and quarantined when the store opened.",
                self.wal_damage.damaged_bytes,
            ),
        ];
        samples
            .iter()
            .map(|(name, kind, help, value)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_space(path: &Path) -> StoreError {
        StoreError::io(path, std::io::Error::from_raw_os_error(ENOSPC))
    }

    #[test]
    fn a_write_failing_for_space_refuses_writes_until_a_probe_finds_space() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskSpace::new(dir.path());
        assert!(disk.check().is_ok() && !disk.probe(), "a disk starts with room");
        assert!(!disk.note(&StoreError::Closed), "other failures are not a full disk");
        assert!(disk.note(&no_space(&dir.path().join("wal/x.wal"))));
        let refused = disk.check().unwrap_err().to_string();
        assert!(refused.starts_with(&format!("the disk holding {} is full", dir.path().display())), "{refused}");
        assert!(refused.contains("x.wal"), "names what failed: {refused}");
        assert!(!disk.probe(), "this disk has room: the probe says so");
        assert!(disk.check().is_ok(), "and writes are taken again");
        assert!(!dir.path().join(PROBE_FILE).exists(), "the probe leaves nothing behind");
    }

    #[test]
    fn health_is_exported_for_prometheus() {
        let health = StoreHealth { disk_full: true, wal_damage: Damage { damaged_records: 2, damaged_bytes: 300 } };
        let text = health.prometheus();
        assert!(text.contains("\nfluoro_store_disk_full 1\n"), "{text}");
        assert!(text.contains("\nfluoro_wal_damaged_records_total 2\n"), "{text}");
        assert!(text.contains("\nfluoro_wal_damaged_bytes_total 300\n"), "{text}");
    }
}
