//! Fuzzing the write-ahead log and block readers: a store whose files were damaged (a byte
//! changed, a file cut short) opens with an error or serves what it can; it never panics.
//!
//! Each case writes a store (a flushed block and records still in the log), damages one file
//! and opens it again. The budget is `FLUORO_FUZZ_CASES` divided by 1000 (at least 8), since a
//! case costs a store's open, flush and close; docs/operations.md has the long run.

use std::path::{Path, PathBuf};

use fluoro_proto::TraceId;
use fluoro_store::Store;
use proptest::prelude::*;
use serde_json::json;

use crate::support::{config, put, segment};

fn fuzz_config() -> ProptestConfig {
    let cases: u32 = std::env::var("FLUORO_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(8000);
    ProptestConfig { cases: (cases / 1000).max(8), failure_persistence: None, ..ProptestConfig::default() }
}

fn trace_text(n: u32) -> String {
    format!("1-5759e988-{n:024x}")
}

/// A store with one block (traces 0..4) and log records not yet flushed (traces 4..8).
fn written_store(dir: &Path) {
    let store = Store::open(config(dir)).unwrap();
    for n in 0..8 {
        if n == 4 {
            store.flush().unwrap();
        }
        put(&store, &[segment(&trace_text(n), &format!("{:016x}", n + 1), "web", Some(11.0), json!([]))]);
    }
    drop(store);
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["wal", "blocks"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && std::fs::metadata(&path).unwrap().len() > 0 {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Changes one byte of the file, or cuts it at that byte.
fn damage(file: &Path, at: prop::sample::Index, byte: u8, cut: bool) {
    let mut bytes = std::fs::read(file).unwrap();
    let index = at.index(bytes.len());
    if cut {
        bytes.truncate(index);
    } else {
        bytes[index] ^= byte.max(1);
    }
    std::fs::write(file, bytes).unwrap();
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn a_damaged_log_or_block_never_panics(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        written_store(dir.path());
        let files = files_under(dir.path());
        prop_assert!(files.iter().any(|f| f.starts_with(dir.path().join("blocks"))), "a block was written: {files:?}");
        damage(&files[which.index(files.len())], at, byte, cut);
        if let Ok(store) = Store::open(config(dir.path())) {
            let ids: Vec<TraceId> = (0..8).map(|n| trace_text(n).parse().unwrap()).collect();
            let _ = store.traces(&ids);
            if let Ok(frame) = store.scan(i64::MIN, i64::MAX, &["trace_lo", "id"], None) {
                let _ = frame.collect();
            }
            let _ = store.scan_keyed(i64::MIN, i64::MAX, &["trace_lo", "id"], &["service", "name"]);
        }
    }
}
