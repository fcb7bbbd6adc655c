//! Replay past damage: the records after a damaged one come back, the damaged bytes go to
//! quarantine and out of the segment, and no sequence comes back twice.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{
    frame_record, frame_sized_record, replay, write_all_vectored, Damage, Wal, WalEntry, WalOptions, HEADER_BYTES,
};
use crate::disk::DiskSpace;

/// A record's entries are bare sequence numbers: what replay must get right is framing and
/// sequences, not rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Numbered(u64);

impl WalEntry for Numbered {
    fn decode(payload: &[u8]) -> Option<Vec<Numbered>> {
        postcard::from_bytes::<Vec<u64>>(payload).ok().map(|numbers| numbers.into_iter().map(Numbered).collect())
    }

    fn sequence(&self) -> u64 {
        self.0
    }
}

/// Record `n` holds sequences `10n..10n+10`.
fn record(n: u64) -> Vec<u8> {
    frame_record(&(10 * n..10 * n + 10).collect::<Vec<u64>>()).unwrap()
}

#[test]
fn a_record_is_the_same_bytes_however_its_buffer_was_sized() {
    let numbers: Vec<u64> = (0..1_000).map(|n| n * 1_000_003).collect();
    let unsized_record = frame_record(&numbers).unwrap();
    for expected in [1, 100, 1_000_000] {
        assert_eq!(frame_sized_record(&[], &numbers, expected).unwrap(), unsized_record, "sized for {expected} bytes");
    }
    let payload = &unsized_record[8..];
    assert_eq!(u32::from_le_bytes(unsized_record[..4].try_into().unwrap()) as usize, payload.len());
    assert_eq!(u32::from_le_bytes(unsized_record[4..8].try_into().unwrap()), crc32fast::hash(payload));
    assert_eq!(postcard::from_bytes::<Vec<u64>>(payload).unwrap(), numbers);
}

/// A store directory whose log holds one segment of `records`; returns it and the segment.
fn segment_of(records: &[Vec<u8>]) -> (tempfile::TempDir, PathBuf) {
    let store_dir = tempfile::tempdir().unwrap();
    let dir = store_dir.path().join("wal");
    fs::create_dir(&dir).unwrap();
    let options = WalOptions {
        sync_interval: Duration::from_millis(10),
        queue_records: 16,
        disk: Arc::new(DiskSpace::new(store_dir.path())),
        thread_start: None,
    };
    let wal = Wal::start(&dir, 1, 0, options).unwrap();
    for record in records {
        wal.append(record.clone(), true).unwrap().wait().unwrap();
    }
    drop(wal);
    let segment = dir.join(format!("{:020}.wal", 1));
    (store_dir, segment)
}

/// Where each record starts in the segment.
fn offsets(records: &[Vec<u8>]) -> Vec<usize> {
    records.iter().scan(HEADER_BYTES, |at, record| Some(std::mem::replace(at, *at + record.len()))).collect()
}

fn sequences(dir: &Path) -> (Vec<u64>, Damage, u64) {
    let replayed = replay::<Numbered>(&dir.join("wal"), 0).unwrap();
    (replayed.entries.iter().map(|entry| entry.0).collect(), replayed.damage, replayed.next_sequence)
}

fn quarantined(store_dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = fs::read_dir(store_dir.join("quarantine")) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files.iter().map(|path| fs::read(path).unwrap()).collect()
}

fn damage(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0xFF;
    fs::write(path, bytes).unwrap();
}

#[test]
fn the_records_after_a_damaged_one_are_replayed_and_only_its_bytes_quarantined() {
    let records: Vec<Vec<u8>> = (0..5).map(record).collect();
    let (store_dir, segment) = segment_of(&records);
    let at = offsets(&records);
    // A byte of record 2's payload: its checksum no longer matches.
    damage(&segment, at[2] + 12);
    let damaged_bytes = fs::read(&segment).unwrap()[at[2]..at[3]].to_vec();

    let (replayed, damage, next) = sequences(store_dir.path());
    let expected: Vec<u64> = [0, 1, 3, 4].iter().flat_map(|n| 10 * n..10 * n + 10).collect();
    assert_eq!(replayed, expected, "every record but the damaged one comes back, in order");
    assert_eq!(damage, Damage { damaged_records: 1, damaged_bytes: records[2].len() as u64 });
    assert_eq!(next, 50, "new sequences start above every replayed one");
    assert_eq!(quarantined(store_dir.path()), vec![damaged_bytes], "exactly the damaged record is kept aside");

    let (again, damage, _) = sequences(store_dir.path());
    assert_eq!(again, expected, "the segment was rewritten without the damage");
    assert_eq!(damage, Damage::default(), "a second replay finds nothing to cut");
    let length = fs::metadata(&segment).unwrap().len() as usize;
    assert_eq!(length, HEADER_BYTES + records.iter().map(Vec::len).sum::<usize>() - records[2].len());
}

#[test]
fn a_damaged_length_field_does_not_hide_the_records_behind_it() {
    let records: Vec<Vec<u8>> = (0..4).map(record).collect();
    let (store_dir, segment) = segment_of(&records);
    let at = offsets(&records);
    // The high byte of record 1's length: it now claims to run far past the segment's end.
    damage(&segment, at[1] + 3);

    let (replayed, damage, _) = sequences(store_dir.path());
    let expected: Vec<u64> = [0, 2, 3].iter().flat_map(|n| 10 * n..10 * n + 10).collect();
    assert_eq!(replayed, expected);
    assert_eq!(damage.damaged_records, 1);
}

#[test]
fn two_damaged_stretches_and_a_torn_tail_are_each_cut() {
    let records: Vec<Vec<u8>> = (0..7).map(record).collect();
    let (store_dir, segment) = segment_of(&records);
    let at = offsets(&records);
    damage(&segment, at[1] + 9);
    damage(&segment, at[4] + 9);
    damage(&segment, at[5] + 9);
    let file = fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len((at[6] + 5) as u64).unwrap();

    let (replayed, damage, _) = sequences(store_dir.path());
    let expected: Vec<u64> = [0, 2, 3].iter().flat_map(|n| 10 * n..10 * n + 10).collect();
    assert_eq!(replayed, expected);
    // Records 4 and 5 are one stretch, and the tail joins it: nothing intact lies between.
    assert_eq!(damage.damaged_records, 2);
    assert_eq!(damage.damaged_bytes, (records[1].len() + records[4].len() + records[5].len() + 5) as u64);
    assert_eq!(sequences(store_dir.path()).0, expected, "the cut segment replays the same");
}

#[test]
fn a_torn_last_record_is_cut_off_in_place() {
    let records: Vec<Vec<u8>> = (0..3).map(record).collect();
    let (store_dir, segment) = segment_of(&records);
    let at = offsets(&records);
    let torn = at[2] + records[2].len() / 2;
    fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(torn as u64).unwrap();

    let (replayed, damage, _) = sequences(store_dir.path());
    assert_eq!(replayed, (0..20).collect::<Vec<u64>>());
    assert_eq!(damage, Damage { damaged_records: 1, damaged_bytes: (torn - at[2]) as u64 });
    assert_eq!(fs::metadata(&segment).unwrap().len() as usize, at[2]);
}

#[test]
fn a_record_found_again_after_damage_does_not_bring_its_sequences_back_twice() {
    // Record 0 is written twice (as a copy left behind by damage could make it look), with a
    // damaged record between.
    let records = vec![record(0), record(1), record(0), record(2)];
    let (store_dir, segment) = segment_of(&records);
    damage(&segment, offsets(&records)[1] + 9);

    let (replayed, _, next) = sequences(store_dir.path());
    let expected: Vec<u64> = (0..10).chain(20..30).collect();
    assert_eq!(replayed, expected, "each sequence once");
    assert_eq!(next, 30);
}

#[test]
fn a_round_of_more_records_than_one_writev_takes_is_written_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records");
    let mut file = File::create(&path).unwrap();
    // More buffers than IOV_MAX (1024), some empty, of varied lengths.
    let records: Vec<Vec<u8>> = (0..3000u32).map(|n| vec![(n % 251) as u8; (n % 7) as usize]).collect();
    write_all_vectored(&mut file, &records).unwrap();
    assert_eq!(fs::read(&path).unwrap(), records.concat());
}

#[test]
fn segments_of_format_version_1_are_still_replayed_and_later_ones_refused() {
    let records: Vec<Vec<u8>> = (0..3).map(record).collect();
    let (store_dir, segment) = segment_of(&records);
    let with_version = |version: u32| {
        let mut bytes = fs::read(&segment).unwrap();
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        fs::write(&segment, bytes).unwrap();
    };
    with_version(1);
    let (replayed, damage, _) = sequences(store_dir.path());
    assert_eq!(replayed, (0..30).collect::<Vec<u64>>());
    assert_eq!(damage, Damage::default());
    let later = super::WAL_FORMAT_VERSION + 1;
    with_version(later);
    let refused = replay::<Numbered>(&store_dir.path().join("wal"), 0).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains(&format!("format version {later}")), "{refused}");
}
