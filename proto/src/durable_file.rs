//! Replacing a small file so that a crash leaves either the old contents or the new, never a
//! torn mix: the collector's sampling rules file, the analyzer's groups file.
//!
//! - The bytes go to `<path>.tmp`, are synced, and the temporary file is renamed over `path`;
//!   a rename within one directory is atomic.
//! - If writing, syncing or renaming fails, the temporary file is removed and `path` is left
//!   as it was.
//! - The directory is synced afterwards so the rename itself survives a crash. Not every
//!   platform can open a directory, so that last step is best effort. The store keeps its own
//!   writes: its recovery relies on the directory sync, so there it is an error.
//! - Directories of state are created owner-only ([`create_private_dir`]): spans hold URLs,
//!   user ids and SQL, so other local users must not read them.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces the contents of `path` with `bytes` atomically and durably (see the module doc).
/// The parent directory must exist.
pub fn replace_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = temporary_path(path);
    let output = fs::File::create(&temporary)?;
    if let Err(error) = write_and_rename(output, &temporary, path, bytes) {
        // `path` still holds the old contents; a half-written temporary file next to it would
        // only mislead whoever looks at the directory. Removing it is best effort: the error
        // that matters is the one returned.
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    sync_parent_directory(path);
    Ok(())
}

fn write_and_rename(mut output: fs::File, temporary: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    output.write_all(bytes)?;
    output.sync_all()?;
    fs::rename(temporary, path)
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    PathBuf::from(temporary)
}

fn sync_parent_directory(path: &Path) {
    let Some(directory) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) else {
        return;
    };
    if let Ok(directory) = fs::File::open(directory) {
        let _ = directory.sync_all();
    }
}

/// Creates `dir` and any missing parents with mode 0700 (owner only). A directory that
/// already exists keeps its mode: it may be shared on purpose.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_contents_replace_the_old_and_no_temporary_file_is_left() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("rules.json");
        replace_durably(&path, b"old").unwrap();
        replace_durably(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(directory.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names, ["rules.json"]);
    }

    #[test]
    fn a_failed_rename_keeps_the_old_contents_and_leaves_no_temporary_file() {
        let directory = tempfile::tempdir().unwrap();
        // A non-empty directory where the file should be: the temporary file is written, but
        // renaming a file over a directory fails.
        let path = directory.path().join("rules.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("old"), b"old").unwrap();
        assert!(replace_durably(&path, b"new").is_err());
        assert_eq!(fs::read(path.join("old")).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(directory.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names, ["rules.json"], "the temporary file was left behind");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_leaves_nothing_behind() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("missing").join("rules.json");
        assert_eq!(replace_durably(&path, b"new").unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(!directory.path().join("missing").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_private_dir_and_its_new_parents_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("store");
        create_private_dir(&dir).unwrap();
        for created in [root.path().join("data"), dir.clone()] {
            assert_eq!(fs::metadata(&created).unwrap().permissions().mode() & 0o777, 0o700, "{}", created.display());
        }
        create_private_dir(&dir).unwrap();
    }
}
