//! Unit tests of the block format; helpers shared with compaction and retention tests.

use std::path::Path;
use std::process::Command;

use fluoro_proto::{AnnotationScalar, AwsSummary, ExceptionSummary, HttpSummary, SegmentId, SpanKind, SpanRow};

use polars::io::parquet::metadata::FileMetadataRef;

use super::*;

pub(crate) fn trace(n: u64) -> TraceId {
    let mut random = [0u8; 12];
    random[4..].copy_from_slice(&(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1).to_be_bytes());
    TraceId::new(1_700_000_000 + (n / 1000) as u32, random)
}

/// The block file's Parquet metadata.
pub(crate) fn parquet_metadata(path: &Path) -> FileMetadataRef {
    ParquetReader::new(File::open(path).unwrap()).get_metadata().unwrap().clone()
}

/// `block`'s rows written again to `path` by polars' own writer, as `configure` sets it up,
/// with Fluoro's footer (but no checksum) and not its Arrow schema (the writer's own describes
/// the file).
pub(crate) fn rewritten_by_polars(
    block: &BlockMeta,
    path: &Path,
    configure: impl FnOnce(ParquetWriter<File>) -> ParquetWriter<File>,
) {
    let mut frame = ParquetReader::new(File::open(&block.path).unwrap()).finish().unwrap();
    let footer = parquet_metadata(&block.path).key_value_metadata.clone().unwrap();
    let footer = footer
        .into_iter()
        .filter(|pair| pair.key == META_KEY)
        .map(|pair| (pair.key, without_checksum(&pair.value.unwrap_or_default())))
        .collect();
    configure(ParquetWriter::new(File::create(path).unwrap()))
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(footer)))
        .finish(&mut frame)
        .unwrap();
}

/// Fluoro's footer metadata without its checksum, which described the file it came from (as
/// in blocks written before blocks had one).
fn without_checksum(footer: &str) -> String {
    let mut footer: serde_json::Value = serde_json::from_str(footer).unwrap();
    footer.as_object_mut().unwrap().remove("checksum");
    footer.to_string()
}

/// A bare subsegment of trace `n`.
pub(crate) fn span(trace_n: u64, id: u64, start_us: i64) -> StoredSpan {
    StoredSpan {
        row: SpanRow {
            trace_id: trace(trace_n),
            id: SegmentId::new(id),
            parent_id: None,
            kind: SpanKind::Subsegment,
            service: None,
            name: "work".into(),
            origin: None,
            namespace: None,
            start_us,
            end_us: Some(start_us + 10),
            in_progress: false,
            http: HttpSummary::default(),
            error: false,
            fault: false,
            throttle: false,
            exceptions: Vec::new(),
            annotations: Vec::new(),
            user: None,
            aws: AwsSummary::default().into(),
            sql_url: None,
            remote: false,
            traced: false,
        },
        document: None,
        sequence: id,
    }
}

/// A segment with every field set.
pub(crate) fn full_span(trace_n: u64, id: u64, start_us: i64) -> StoredSpan {
    let mut span = span(trace_n, id, start_us);
    let row = &mut span.row;
    row.parent_id = Some(SegmentId::new(id + 1_000_000));
    row.kind = SpanKind::Segment;
    row.service = Some("PetSite".into());
    row.name = "PetSite".into();
    row.origin = Some("AWS::ECS::Container".into());
    row.namespace = Some("remote".into());
    row.end_us = Some(start_us + 12_345);
    row.http = HttpSummary {
        method: Some("POST".into()),
        url: Some("http://petsite/Payment/MakePayment".into()),
        status: Some(500),
        client_ip: Some("10.0.0.1".into()),
        user_agent: Some("curl/8".into()),
    };
    row.fault = true;
    row.remote = true;
    row.traced = true;
    row.exceptions = vec![
        ExceptionSummary { name: Some("HttpRequestException".into()), message: Some("500".into()), remote: true },
        ExceptionSummary { name: None, message: None, remote: false },
    ];
    row.annotations = vec![
        ("PetId".into(), AnnotationScalar::String("023".into())),
        ("price".into(), AnnotationScalar::Number(55.5)),
        ("vip".into(), AnnotationScalar::Bool(true)),
    ];
    row.user = Some("alice".into());
    row.aws = AwsSummary {
        account_id: Some("123456789012".into()),
        operation: Some("SendMessage".into()),
        region: Some("us-east-1".into()),
        table: Some("pets".into()),
        queue: Some("https://sqs/queue".into()),
        resource: Some("bucket".into()),
        resource_arn: Some("arn:aws:sqs:us-east-1:123456789012:q".into()),
        instance_id: Some("i-0123".into()),
        availability_zone: Some("us-east-1a".into()),
    }
    .into();
    row.sql_url = Some("postgresql://db:5432/adoptions".into());
    span.document = Some(r#"{"name":"PetSite"}"#.into());
    span
}

pub(crate) fn test_meta(id: u64, rows: usize, min_start_us: i64) -> BlockMeta {
    BlockMeta::footer_only(id, rows, TraceFilter::build(std::iter::empty()), min_start_us, min_start_us + 5)
}

fn sample_spans() -> Vec<StoredSpan> {
    let mut spans = Vec::new();
    for n in 0..40u64 {
        let start = 1_700_000_000_000_000 + n as i64 * 7_000_000;
        spans.push(full_span(n, n * 100, start));
        for child in 1..6 {
            spans.push(span(n, n * 100 + child, start + child as i64 * 1000));
        }
    }
    let mut in_progress = span(7, 9_999, 1_700_000_100_000_000);
    in_progress.row.in_progress = true;
    in_progress.row.end_us = None;
    spans.push(in_progress);
    spans.reverse(); // write_block must sort
    spans
}

fn sorted(mut spans: Vec<StoredSpan>) -> Vec<StoredSpan> {
    spans.sort_by_key(|span| (span.row.trace_id, span.row.id));
    spans
}

#[test]
fn spans_round_trip_through_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let meta = write_block(dir.path(), 7, spans.clone(), Neighbours::default()).unwrap().meta;
    assert_eq!(meta.rows, spans.len());
    assert_eq!(meta.services, vec!["PetSite".to_owned()]);
    let reopened = open_blocks(dir.path()).unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].max_end_us, meta.max_end_us);
    assert_eq!(sorted(read_block(&reopened[0]).unwrap()), sorted(spans));
}

#[test]
fn memory_frame_has_the_block_schema() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let meta = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let on_disk = scan_block(&meta, i64::MIN, i64::MAX, &[], None).unwrap().collect().unwrap();
    let in_memory = spans_to_frame(&spans).unwrap();
    assert_eq!(on_disk.schema(), in_memory.schema());
    assert_eq!(sorted(frame_to_spans(&in_memory).unwrap()), sorted(spans));
    let names: Vec<&str> = in_memory.get_column_names().into_iter().map(|name| name.as_str()).collect();
    let (last, others) = crate::columns::SPAN_COLUMNS.split_last().unwrap();
    assert_eq!(*last, crate::columns::SEQUENCE, "the sequence ends the span columns");
    assert_eq!(names, [others, &[crate::columns::DOCUMENT, *last]].concat(), "the documented column order");
}

#[test]
fn trace_lookup_returns_exactly_that_trace() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let meta = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let expected: Vec<StoredSpan> = spans.iter().filter(|s| s.row.trace_id == trace(7)).cloned().collect();
    assert_eq!(sorted(read_trace_spans(&meta, &[trace(7)], &FooterCache::default()).unwrap()), sorted(expected));
    assert!(read_trace_spans(&meta, &[trace(5_000)], &FooterCache::default()).unwrap().is_empty());
    // Many ids at once take the `is_in` path.
    let many: Vec<TraceId> = (0..30).map(trace).collect();
    let found = read_trace_spans(&meta, &many, &FooterCache::default()).unwrap();
    assert_eq!(found.len(), spans.iter().filter(|s| many.contains(&s.row.trace_id)).count());
}

/// Documents are unique, so they are stored plain in small pages: a lookup decompresses the
/// pages holding its rows, not a dictionary of every document in the row group.
#[test]
fn documents_are_stored_plain_in_small_pages() {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::get_page_iterator;

    let dir = tempfile::tempdir().unwrap();
    // One row group, a ~1 KB document on every fourth row, as segments with embedded
    // subsegments have.
    let spans: Vec<StoredSpan> = (0..4_000u64)
        .map(|n| {
            let mut span = span(n / 4, n, 1_700_000_000_000_000 + n as i64);
            if n % 4 == 0 {
                span.document = Some(format!(r#"{{"id":"{n:016x}","pad":"{}"}}"#, "x".repeat(1_000)).into());
            }
            span
        })
        .collect();
    let block = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let metadata = parquet_metadata(&block.path);
    let [group] = &metadata.row_groups[..] else { panic!("one row group expected") };
    let chunk = group.columns_under_root_iter(crate::columns::DOCUMENT).unwrap().next().unwrap();
    assert_eq!(chunk.dictionary_page_offset(), None, "no dictionary page");
    let bytes = polars_buffer::Buffer::from(fs::read(&block.path).unwrap());
    let pages = get_page_iterator(chunk, std::io::Cursor::new(bytes), Vec::new(), usize::MAX).unwrap();
    let sizes: Vec<usize> = pages
        .map(|page| match page.unwrap() {
            CompressedPage::Data(page) => page.uncompressed_size(),
            CompressedPage::Dict(_) => panic!("a dictionary page"),
        })
        .collect();
    // ~1 MB of documents.
    assert!(sizes.len() >= 4, "documents in small pages, got pages of {sizes:?} bytes");
    assert!(sizes.iter().all(|&size| size <= 2 * column_coding::DOCUMENT_PAGE_BYTES), "{sizes:?}");
    // A lookup of a trace in a middle page gets its documents back whole.
    let expected: Vec<StoredSpan> = spans.iter().filter(|s| s.row.trace_id == trace(500)).cloned().collect();
    assert!(expected[0].document.is_some());
    assert_eq!(sorted(read_trace_spans(&block, &[trace(500)], &FooterCache::default()).unwrap()), sorted(expected));
}

#[test]
fn random_ids_are_stored_uncompressed() {
    use polars_parquet::parquet::compression::Compression;

    // splitmix64: span ids as random as the SDKs make them.
    let random = |n: u64| {
        let mut z = n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let dir = tempfile::tempdir().unwrap();
    let spans: Vec<StoredSpan> = (0..40_000u64)
        .map(|n| {
            let mut span = span(n / 4, random(n), 1_700_000_000_000_000 + n as i64);
            span.row.parent_id = (n % 4 != 0).then(|| SegmentId::new(random(n - n % 4)));
            span.row.error = n % 3 == 0;
            span
        })
        .collect();
    let block = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let metadata = parquet_metadata(&block.path);
    assert!(metadata.row_groups.len() > 1);
    for group in &metadata.row_groups {
        let codec = |column| group.columns_under_root_iter(column).unwrap().next().unwrap().compression();
        assert_eq!(codec(crate::columns::ID), Compression::Uncompressed, "random span ids");
        assert_eq!(codec(crate::columns::PARENT_ID), Compression::Uncompressed, "random parent ids");
        assert_eq!(codec(crate::columns::ERROR), Compression::Zstd, "a repeating pattern, compressed");
        assert_eq!(codec(crate::columns::SEQUENCE), Compression::Uncompressed, "delta-encoded");
    }
    let expected: Vec<StoredSpan> = spans.iter().filter(|s| s.row.trace_id == trace(5_000)).cloned().collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(sorted(read_trace_spans(&block, &[trace(5_000)], &FooterCache::default()).unwrap()), sorted(expected));
    let frame = scan_block(&block, i64::MIN, i64::MAX, &[crate::columns::ID, crate::columns::PARENT_ID], None)
        .unwrap()
        .collect()
        .unwrap();
    let mut ids: Vec<u64> = frame.column(crate::columns::ID).unwrap().u64().unwrap().into_no_null_iter().collect();
    ids.sort_unstable();
    let mut written: Vec<u64> = (0..40_000).map(random).collect();
    written.sort_unstable();
    assert_eq!(ids, written);
}

#[test]
fn scan_prunes_by_time_and_predicate() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let meta = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let from = 1_700_000_000_000_000 + 70_000_000;
    let to = from + 70_000_000;
    let frame = scan_block(
        &meta,
        from,
        to,
        &[crate::columns::SERVICE, crate::columns::FAULT],
        Some(col(crate::columns::FAULT)),
    )
    .unwrap()
    .collect()
    .unwrap();
    let expected = spans.iter().filter(|s| s.row.start_us >= from && s.row.start_us < to && s.row.fault).count();
    assert_eq!(frame.height(), expected);
    assert_eq!(frame.width(), 2);
    assert!(meta.overlaps(from, to));
    assert!(!meta.overlaps(0, 1_000));
}

#[test]
fn a_block_wholly_in_the_range_is_read_whole_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let meta = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let count = |from: i64, to: i64, predicate: Option<Expr>| {
        scan_block(&meta, from, to, &[crate::columns::START_US], predicate).unwrap().collect().unwrap().height()
    };
    let starting_in =
        |from: i64, to: i64| spans.iter().filter(|s| s.row.start_us >= from && s.row.start_us < to).count();
    let (first, last_end) = (meta.min_start_us, meta.max_end_us);
    let last_start = spans.iter().map(|s| s.row.start_us).max().unwrap();
    // Read without the range test: every row, and the extra predicate still applies.
    assert!(meta.within(first, last_end + 1));
    assert_eq!(count(first, last_end + 1, None), spans.len());
    let faults = spans.iter().filter(|s| s.row.fault).count();
    assert_eq!(count(first, last_end + 1, Some(col(crate::columns::FAULT))), faults);
    // One microsecond less at either edge, and the range is tested again.
    assert!(!meta.within(first + 1, last_end + 1) && !meta.within(first, last_end));
    assert_eq!(count(first + 1, last_end + 1, None), starting_in(first + 1, last_end + 1));
    assert!(count(first + 1, last_end + 1, None) < spans.len());
    assert_eq!(count(first, last_start, None), starting_in(first, last_start));
    assert!(count(first, last_start, None) < spans.len());
}

#[test]
fn blocks_with_optional_lists_scan_beside_blocks_with_required_ones() {
    // Blocks written before the span lists were `required` have them `optional`; a scan
    // concatenates both.
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let new = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let old_path = dir.path().join("00000000000000000002.parquet");
    rewritten_by_polars(&new, &old_path, |writer| writer);
    let repetition = |path: &Path| {
        let metadata = parquet_metadata(path);
        let field = metadata.schema().fields().iter().find(|f| f.name() == crate::columns::EXCEPTIONS).cloned();
        field.unwrap().get_field_info().repetition
    };
    use polars_parquet::parquet::schema::Repetition;
    assert_eq!((repetition(&new.path), repetition(&old_path)), (Repetition::Required, Repetition::Optional));
    let blocks = open_blocks(dir.path()).unwrap();
    assert_eq!(blocks.len(), 2);
    let scans: Vec<LazyFrame> =
        blocks.iter().map(|block| scan_block(block, i64::MIN, i64::MAX, &[], None).unwrap()).collect();
    let both = concat(scans, UnionArgs::default()).unwrap().collect().unwrap();
    assert_eq!(both.height(), 2 * spans.len());
    let exceptions = both.column(crate::columns::EXCEPTIONS).unwrap().list().unwrap().lst_lengths().sum().unwrap();
    assert_eq!(exceptions as usize, 2 * spans.iter().map(|s| s.row.exceptions.len()).sum::<usize>());
    let old = blocks.iter().find(|block| block.path == old_path).unwrap();
    assert_eq!(sorted(read_block(old).unwrap()), sorted(spans));
}

#[test]
fn half_written_blocks_are_discarded_and_unreadable_ones_quarantined() {
    let store_dir = tempfile::tempdir().unwrap();
    let blocks_dir = store_dir.path().join("blocks");
    std::fs::create_dir(&blocks_dir).unwrap();
    let good = write_block(&blocks_dir, 1, sample_spans(), Neighbours::default()).unwrap().meta;
    let bytes = std::fs::read(&good.path).unwrap();
    // A crash before the rename: a partial `.tmp`.
    std::fs::write(blocks_dir.join("00000000000000000002.parquet.tmp"), &bytes[..bytes.len() / 2]).unwrap();
    // A block cut short by a disk failure.
    let cut = &bytes[..bytes.len() - 100];
    std::fs::write(block_path(&blocks_dir, 3), cut).unwrap();
    let blocks = open_blocks(&blocks_dir).unwrap();
    assert_eq!(blocks.iter().map(|block| block.id).collect::<Vec<_>>(), vec![1]);
    let left: Vec<_> = std::fs::read_dir(&blocks_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![good.path.file_name().unwrap().to_owned()]);
    // The unreadable block is kept aside, whole, for inspection.
    let quarantined: Vec<_> =
        std::fs::read_dir(store_dir.path().join(QUARANTINE_DIR)).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let name = quarantined[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("00000000000000000003.parquet."), "{name}");
    assert_eq!(std::fs::read(&quarantined[0]).unwrap(), cut);
}

/// Rows on disk are in block order: by the minute their trace started, then trace id, then
/// start, id and arrival; a trace crossing a minute boundary stays in one run.
#[test]
fn a_block_is_written_in_block_order() {
    let dir = tempfile::tempdir().unwrap();
    let minute = 60_000_000;
    let base = 1_700_000_000 / 60 * minute;
    // Trace 1 starts in minute 0 and runs into minute 1; trace 2 starts in minute 1 only;
    // trace 3 also starts in minute 0, after trace 1.
    let expected_runs = vec![trace(1).min(trace(3)), trace(1).max(trace(3)), trace(2)];
    let spans = vec![
        span(2, 21, base + minute + 1),
        span(1, 11, base + minute + 5),
        span(3, 31, base + 30),
        span(1, 12, base + minute + 5),
        span(1, 10, base + 10),
        span(2, 20, base + minute),
    ];
    let block = write_block(dir.path(), 1, spans, Neighbours::default()).unwrap().meta;
    let read = read_block(&block).unwrap();
    let keys: Vec<(TraceId, i64, u64)> =
        read.iter().map(|span| (span.row.trace_id, span.row.start_us, span.row.id.as_u64())).collect();
    let mut runs: Vec<TraceId> = keys.iter().map(|key| key.0).collect();
    runs.dedup();
    assert_eq!(runs, expected_runs, "each trace is one run, by start minute then id: {keys:?}");
    for pair in keys.windows(2).filter(|pair| pair[0].0 == pair[1].0) {
        assert!((pair[0].1, pair[0].2) < (pair[1].1, pair[1].2), "by start, then id: {keys:?}");
    }
    assert_eq!(read.len(), 6);
}

/// A flush encodes one row group at a time: a block of more rows than a row group holds
/// them all, in block order, in full row groups and one for the rest.
#[test]
fn a_large_block_is_written_a_row_group_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 2 * ROW_GROUP_ROWS + 5;
    let spans: Vec<StoredSpan> =
        (0..rows as u64).rev().map(|n| span(n / 8, n, 1_700_000_000_000_000 + n as i64)).collect();
    let expected: Vec<StoredSpan> = block_order(&spans).into_iter().cloned().collect();
    let block = write_block(dir.path(), 1, spans, Neighbours::default()).unwrap().meta;
    let metadata = parquet_metadata(&block.path);
    let group_rows: Vec<usize> = metadata.row_groups.iter().map(|group| group.num_rows()).collect();
    assert_eq!(group_rows, vec![ROW_GROUP_ROWS, ROW_GROUP_ROWS, 5]);
    assert_eq!(block.rows, rows);
    assert!(read_block(&block).unwrap() == expected, "every span back, in block order");
}

#[test]
fn a_frame_of_several_chunks_is_written_in_whole_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let spans: Vec<StoredSpan> =
        (0..ROW_GROUP_ROWS as u64 + 7).map(|n| span(n / 4, n, 1_700_000_000_000_000 + n as i64)).collect();
    let spans = block_order(&spans);
    let (first, second) = spans.split_at(ROW_GROUP_ROWS - 3);
    let mut frame = spans_to_frame(first).unwrap();
    frame.vstack_mut(&spans_to_frame(second).unwrap()).unwrap();
    assert_eq!(frame.first_col_n_chunks(), 2, "the test needs a frame of two chunks");
    let path = block_path(dir.path(), 1);
    write_parquet(&path, &mut frame, &footer_meta(&spans, Neighbours::default())).unwrap();
    let metadata = ParquetReader::new(File::open(&path).unwrap()).get_metadata().unwrap().clone();
    let group_rows: Vec<usize> = metadata.row_groups.iter().map(|group| group.num_rows()).collect();
    assert_eq!(group_rows, vec![ROW_GROUP_ROWS, 7]);
    let block = open_blocks(dir.path()).unwrap().remove(0);
    let expected: Vec<StoredSpan> = spans.into_iter().cloned().collect();
    assert!(read_block(&block).unwrap() == expected, "every span back, in order");
}

#[test]
fn newer_format_is_refused_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let spans = block_order(&spans);
    let mut footer = footer_meta(&spans, Neighbours::default());
    footer.version = FORMAT_VERSION + 1;
    let path = block_path(dir.path(), 1);
    write_parquet(&path, &mut spans_to_frame(&spans).unwrap(), &footer).unwrap();
    assert!(matches!(open_blocks(dir.path()), Err(StoreError::BlockVersion { version: 2, .. })));
    assert!(path.exists());
}

#[test]
fn a_block_lists_the_traces_it_may_share_with_existing_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let first =
        write_block(dir.path(), 1, vec![span(1, 1, 1_000), span(2, 1, 2_000)], Neighbours::default()).unwrap().meta;
    assert_eq!(first.shared_traces.as_deref(), Some(&[][..]));
    let neighbours = Neighbours { others: &[&first], replaces: &[] };
    // Trace 2 resends span 1, which starts within the first block's range; trace 1's new span
    // starts after it, where no version of it can be in the first block.
    let spans = vec![span(2, 1, 2_000), span(2, 2, 2_500), span(3, 1, 3_000), span(1, 2, 5_000)];
    let second = write_block(dir.path(), 2, spans, neighbours).unwrap().meta;
    let trace_two = span(2, 1, 0).row.trace_id;
    assert_eq!(second.shared_traces.as_deref(), Some(&[trace_two][..]));
    let reopened = open_blocks(dir.path()).unwrap();
    assert_eq!(reopened[1].shared_traces, second.shared_traces);
}

#[test]
fn a_block_from_before_shared_traces_may_share_any_trace() {
    // Format 1 blocks written before the optional `shared_traces` and `replaces` fields.
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let spans = block_order(&spans);
    let mut footer = footer_meta(&spans, Neighbours::default());
    footer.shared_traces = None;
    let path = block_path(dir.path(), 1);
    write_parquet(&path, &mut spans_to_frame(&spans).unwrap(), &footer).unwrap();
    let blocks = open_blocks(dir.path()).unwrap();
    assert_eq!(blocks[0].shared_traces, None);
    assert!(blocks[0].replaces.is_empty());
}

/// The format is open: DuckDB reads a block and agrees with Fluoro on counts and values.
#[test]
fn duckdb_reads_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let meta = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/duckdb_check.py");
    let full = spans.iter().find(|s| s.document.is_some()).unwrap();
    let (hi, lo) = full.row.trace_id.halves();
    let output = Command::new("python3")
        .arg(&script)
        .arg(&meta.path)
        .args([hi.to_string(), lo.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "duckdb_check.py failed (is `duckdb` from requirements-test.txt installed?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut services: Vec<&str> = spans.iter().filter_map(|s| s.row.service.as_deref()).collect();
    services.sort_unstable();
    services.dedup();
    let full_trace_rows = spans.iter().filter(|s| s.row.trace_id == full.row.trace_id).count();
    let expected = serde_json::json!({
        "rows": spans.len(),
        "faults": spans.iter().filter(|s| s.row.fault).count(),
        "in_progress": spans.iter().filter(|s| s.row.in_progress).count(),
        "sum_duration_us": spans.iter().filter_map(|s| Some(s.row.end_us? - s.row.start_us)).sum::<i64>(),
        "services": services,
        "documents": spans.iter().filter(|s| s.document.is_some()).count(),
        "exceptions": spans.iter().map(|s| s.row.exceptions.len()).sum::<usize>(),
        "pet_ids": spans.iter().filter(|s| s.row.annotations.iter().any(|(k, v)| k == "PetId"
            && *v == AnnotationScalar::String("023".into()))).count(),
        "price_sum": spans.iter().flat_map(|s| &s.row.annotations).filter_map(|(_, v)| match v {
            AnnotationScalar::Number(n) => Some(*n), _ => None }).sum::<f64>(),
        "trace_hex": full.row.trace_id.to_w3c(),
        "trace_rows": full_trace_rows,
        "queue": full.row.aws.queue,
        "status": full.row.http.status,
        "version": FORMAT_VERSION,
        "codings": [
            ["document", ["PLAIN", "RLE"], "ZSTD"],
            ["end_us", ["DELTA_BINARY_PACKED", "RLE"], "UNCOMPRESSED"],
            ["sequence", ["DELTA_BINARY_PACKED", "RLE"], "UNCOMPRESSED"],
            ["start_us", ["DELTA_BINARY_PACKED", "RLE"], "UNCOMPRESSED"],
        ],
    });
    assert_eq!(got, expected);
}

#[test]
fn span_lists_are_written_by_list_pages_and_read_as_polars_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let block = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    // `list_pages.rs` gives a leaf a null count and no bounds; polars' writer gives both.
    let metadata = parquet_metadata(&block.path);
    let leaves = |name: &str| metadata.row_groups[0].columns_under_root_iter(name).unwrap().collect::<Vec<_>>();
    let (exceptions, annotations) = (leaves(crate::columns::EXCEPTIONS), leaves(crate::columns::ANNOTATIONS));
    assert_eq!((exceptions.len(), annotations.len()), (3, 4));
    for chunk in exceptions.iter().chain(&annotations) {
        let statistics = chunk.statistics(&metadata.footer_buf).unwrap().unwrap().serialize();
        let bounds = [&statistics.min_value, &statistics.max_value, &statistics.min, &statistics.max];
        assert!(statistics.null_count.is_some() && bounds.iter().all(|bound| bound.is_none()), "{statistics:?}");
    }
    // The same rows written by polars read back alike, list by list and whole.
    let by_polars = dir.path().join("polars").join(block.path.file_name().unwrap());
    fs::create_dir_all(by_polars.parent().unwrap()).unwrap();
    rewritten_by_polars(&block, &by_polars, |writer| writer);
    let read = |path: &Path| ParquetReader::new(File::open(path).unwrap()).finish().unwrap();
    let (ours, theirs) = (read(&block.path), read(&by_polars));
    for name in [crate::columns::EXCEPTIONS, crate::columns::ANNOTATIONS] {
        assert!(
            ours.column(name)
                .unwrap()
                .as_materialized_series()
                .equals_missing(theirs.column(name).unwrap().as_materialized_series()),
            "{name}"
        );
    }
    assert_eq!(sorted(read_block(&block).unwrap()), sorted(spans));
}

#[test]
fn text_columns_are_dictionary_encoded_as_polars_encodes_them() {
    let dir = tempfile::tempdir().unwrap();
    let spans = sample_spans();
    let block = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let by_polars = dir.path().join("polars").join(block.path.file_name().unwrap());
    fs::create_dir_all(by_polars.parent().unwrap()).unwrap();
    rewritten_by_polars(&block, &by_polars, |writer| writer);
    let read = |path: &Path| ParquetReader::new(File::open(path).unwrap()).finish().unwrap();
    let (ours, theirs) = (read(&block.path), read(&by_polars));
    let texts: Vec<&str> =
        ours.columns().iter().filter(|column| column.dtype() == &DataType::String).map(|c| c.name().as_str()).collect();
    assert!(texts.len() > 15, "{texts:?}");
    // A text column's chunk: its statistics, and whether it has a dictionary page.
    let chunk = |path: &Path, name: &str| {
        let footer = parquet_metadata(path);
        let chunk = footer.row_groups[0].columns_under_root_iter(name).unwrap().next().unwrap();
        let statistics = chunk.statistics(&footer.footer_buf).unwrap().unwrap().serialize();
        (statistics, chunk.dictionary_page_offset().is_some())
    };
    for name in texts {
        let (mine, polars) = (ours.column(name).unwrap(), theirs.column(name).unwrap());
        assert!(mine.as_materialized_series().equals_missing(polars.as_materialized_series()), "{name}");
        let ((statistics, dictionary), (polars_statistics, _)) = (chunk(&block.path, name), chunk(&by_polars, name));
        assert_eq!(statistics, polars_statistics, "{name}");
        // Documents are plain in small pages (`column_coding.rs`), where polars would not.
        assert_eq!(dictionary, name != crate::columns::DOCUMENT, "{name}: dictionary-encoded");
    }
    assert_eq!(sorted(read_block(&block).unwrap()), sorted(spans));
}

#[test]
fn a_block_whose_bytes_changed_is_refused_before_polars_reads_it() {
    let store_dir = tempfile::tempdir().unwrap();
    let blocks_dir = store_dir.path().join("blocks");
    fs::create_dir(&blocks_dir).unwrap();
    let spans = sample_spans();
    let written = write_block(&blocks_dir, 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let bytes = fs::read(&written.path).unwrap();
    // As the next start finds it: the footer states the checksum, and the file matches it.
    let opened = open_blocks(&blocks_dir).unwrap().remove(0);
    assert!(opened.checksum.is_some_and(|crc| crc != 0), "sealed: {:?}", opened.checksum);
    assert_eq!(sorted(read_block(&opened).unwrap()), sorted(spans.clone()));
    // One byte of its pages changed on disk, where a reader would decode it.
    for at in [4, bytes.len() / 3, bytes.len() / 2] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        fs::write(&written.path, &damaged).unwrap();
        let reopened = open_blocks(&blocks_dir).unwrap().remove(0);
        let error = read_block(&reopened).unwrap_err().to_string();
        assert!(error.contains("damaged") && error.contains("00000000000000000001.parquet"), "{error}");
        assert!(lazy_block(&reopened).is_err(), "every read is refused, not only the first");
    }
    // Whole again, it reads again: nothing about the block was cached but its answer.
    fs::write(&written.path, &bytes).unwrap();
    assert_eq!(sorted(read_block(&open_blocks(&blocks_dir).unwrap().remove(0)).unwrap()), sorted(spans));
}

#[test]
fn a_footer_lists_each_service_once_sorted() {
    let services = [Some("web"), Some("db"), Some("web"), None, Some("db"), Some("api"), Some("web")];
    let spans: Vec<StoredSpan> = services
        .iter()
        .enumerate()
        .map(|(at, service)| {
            let mut span = span(at as u64, 1, 1_000);
            span.row.service = service.map(Into::into);
            span
        })
        .collect();
    let spans: Vec<&StoredSpan> = spans.iter().collect();
    assert_eq!(distinct_services(&spans), ["api", "db", "web"]);
}

#[test]
fn a_text_column_of_mostly_distinct_values_is_written_plain_from_the_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut spans = sample_spans();
    for (n, span) in spans.iter_mut().enumerate() {
        span.row.http.url = Some(format!("http://petsite.local/pets/{n}?color=brown"));
    }
    let block = write_block(dir.path(), 1, spans.clone(), Neighbours::default()).unwrap().meta;
    let footer = parquet_metadata(&block.path);
    let dictionary = |name: &str| {
        let mut chunks = footer.row_groups[0].columns_under_root_iter(name).unwrap();
        chunks.next().unwrap().dictionary_page_offset().is_some()
    };
    assert!(!dictionary(crate::columns::HTTP_URL), "every URL distinct: plain, as polars chooses");
    assert!(dictionary(crate::columns::NAME), "the other text columns keep their dictionaries");
    assert_eq!(sorted(read_block(&block).unwrap()), sorted(spans));
}
