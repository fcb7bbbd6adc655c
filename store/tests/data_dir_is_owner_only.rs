//! The store's directories are created owner-only: spans hold URLs, user ids and SQL.

use std::os::unix::fs::PermissionsExt;

use crate::support::open;

#[test]
fn a_new_data_dir_and_its_parts_are_created_0700() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("fluoro").join("store");
    let _store = open(&data_dir);
    for dir in [root.path().join("fluoro"), data_dir.clone(), data_dir.join("wal"), data_dir.join("blocks")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    }
}
