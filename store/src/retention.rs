//! Retention: which blocks to delete so that the store keeps at most `max_age` of data and at
//! most `max_bytes` of blocks. A pure choice over [`BlockMeta`]s; the caller deletes with
//! [`delete_blocks`](crate::block::delete_blocks) from its background thread.

use std::time::Duration;

use crate::block::BlockMeta;

/// Ids of blocks to delete: every block whose newest span ended, and which was written, before
/// `now_us - max_age`; then the oldest remaining blocks (by newest span) while the rest exceed
/// `max_bytes`.
pub(crate) fn expired_blocks(blocks: &[BlockMeta], now_us: i64, max_age: Duration, max_bytes: u64) -> Vec<u64> {
    let max_age_us = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
    let cutoff_us = now_us.saturating_sub(max_age_us);
    let mut oldest_first: Vec<&BlockMeta> = blocks.iter().collect();
    oldest_first.sort_by_key(|block| (block.max_end_us, block.id));
    let mut total_bytes: u64 = blocks.iter().map(|block| block.bytes).sum();
    let mut expired = Vec::new();
    for block in oldest_first {
        if block.max_end_us.max(block.written_us) >= cutoff_us && total_bytes <= max_bytes {
            break;
        }
        expired.push(block.id);
        total_bytes -= block.bytes;
    }
    expired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::test_meta;

    const MINUTE_US: i64 = 60_000_000;

    fn sized(id: u64, end_minute: i64, bytes: u64) -> BlockMeta {
        let mut block = test_meta(id, 100, end_minute * MINUTE_US);
        block.max_end_us = end_minute * MINUTE_US;
        block.bytes = bytes;
        block
    }

    #[test]
    fn blocks_older_than_max_age_expire() {
        let blocks = [sized(1, 10, 100), sized(2, 50, 100), sized(3, 90, 100)];
        let now = 100 * MINUTE_US;
        assert_eq!(expired_blocks(&blocks, now, Duration::from_secs(60 * 60), u64::MAX), vec![1]);
    }

    #[test]
    fn oldest_blocks_go_while_over_the_byte_budget() {
        let blocks = [sized(3, 90, 400), sized(1, 10, 300), sized(2, 50, 200)];
        let now = 100 * MINUTE_US;
        let forever = Duration::from_secs(u64::MAX / 4);
        assert_eq!(expired_blocks(&blocks, now, forever, 599), vec![1, 2]);
        assert_eq!(expired_blocks(&blocks, now, forever, 600), vec![1]);
        assert_eq!(expired_blocks(&blocks, now, forever, 900), Vec::<u64>::new());
    }

    #[test]
    fn old_data_written_recently_is_kept_for_the_retention_period() {
        let mut imported = sized(1, 10, 100);
        imported.written_us = 95 * MINUTE_US;
        let now = 100 * MINUTE_US;
        assert!(expired_blocks(&[imported], now, Duration::from_secs(60 * 60), u64::MAX).is_empty());
    }

    #[test]
    fn age_and_size_combine() {
        let blocks = [sized(1, 10, 100), sized(2, 50, 500), sized(3, 90, 500)];
        let now = 100 * MINUTE_US;
        assert_eq!(expired_blocks(&blocks, now, Duration::from_secs(60 * 60), 600), vec![1, 2]);
    }
}
