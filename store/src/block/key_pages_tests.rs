use std::fs::File;

use polars::prelude::*;
use polars_parquet::parquet::encoding::hybrid_rle::encode;
use proptest::prelude::*;

use super::*;
use crate::block::tests::{full_span, parquet_metadata};
use crate::block::{write_block, Neighbours, ROW_GROUP_ROWS};
use crate::block::{BlockMeta, FooterCache};
use crate::columns::{AWS_TABLE, HTTP_URL, KIND, NAME, NAMESPACE, ORIGIN, SERVICE, SQL_URL};
use crate::record::StoredSpan;

/// Text columns of every shape the reader meets: required with two values alternating
/// (`kind`), a few values with nulls (`service`), long runs of nulls then short ones
/// (`origin`), three states in short runs (`namespace`), hundreds of values (`name`), rare
/// values (`aws_table`), all null (`sql_url`), and unique values, too varied for a dictionary
/// (`http_url`).
const COLUMNS: [&str; 8] = [KIND, SERVICE, ORIGIN, NAMESPACE, NAME, AWS_TABLE, SQL_URL, HTTP_URL];

fn varied_spans(rows: u64) -> Vec<StoredSpan> {
    (0..rows)
        .map(|n| {
            let mut span = full_span(n / 12, n, 1_700_000_000_000_000 + n as i64 * 1_000);
            let row = &mut span.row;
            row.kind = if n % 12 == 0 { fluoro_proto::SpanKind::Segment } else { fluoro_proto::SpanKind::Subsegment };
            row.service = (n % 13 != 0).then(|| format!("service-{}", (n / 12) % 6).into());
            row.origin = (n >= 5_000 && n % 3 == 0).then(|| format!("AWS::EC2::{}", n % 4).into());
            row.namespace = match n % 7 {
                0 | 1 => Some("aws".into()),
                2 => Some("remote".into()),
                _ => None,
            };
            row.name = format!("operation-{}", (n * 7) % 300).into();
            row.aws.table = (n % 50 == 0).then(|| "pets".into());
            row.sql_url = None;
            row.http.url = Some(format!("http://petsite/pets/{n}"));
            span
        })
        .collect()
}

/// Each column as polars reads it, rows `rows` of the block (all when `None`).
fn polars_strings(path: &std::path::Path, rows: Option<&[u32]>) -> Vec<StringChunked> {
    let frame = ParquetReader::new(File::open(path).unwrap()).finish().unwrap();
    let frame = match rows {
        None => frame,
        Some(rows) => frame.take(&IdxCa::from_vec("rows".into(), rows.to_vec())).unwrap(),
    };
    COLUMNS.iter().map(|name| frame.column(name).unwrap().str().unwrap().clone()).collect()
}

fn rows_of(text: &KeyedText) -> Vec<Option<&str>> {
    (0..text.keys.len()).map(|row| text.get(row)).collect()
}

fn keyed(block: &BlockMeta, rows: Option<&[u32]>) -> Vec<KeyedText> {
    let mut texts: Vec<KeyedText> = COLUMNS.iter().map(|_| KeyedText::default()).collect();
    crate::block::read_block_keys(block, &FooterCache::default(), &COLUMNS, rows, &mut texts).unwrap();
    texts
}

#[test]
fn text_columns_read_as_keys_are_the_strings_polars_reads() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 2 * ROW_GROUP_ROWS as u64 + 5_000;
    let block = write_block(dir.path(), 1, varied_spans(rows), Neighbours::default()).unwrap().meta;
    let metadata = parquet_metadata(&block.path);
    assert!(metadata.row_groups.len() >= 3, "several row groups");
    let url = metadata.row_groups[0].columns_under_root_iter(HTTP_URL).unwrap().next().unwrap();
    assert_eq!(url.dictionary_page_offset(), None, "unique values are read from PLAIN pages");

    let whole = keyed(&block, None);
    for ((name, text), strings) in COLUMNS.iter().zip(&whole).zip(polars_strings(&block.path, None)) {
        assert_eq!(rows_of(text), strings.iter().collect::<Vec<_>>(), "{name}");
    }
    assert_eq!(whole[0].values.len(), 2, "each value keyed once");

    // Rows as a time range picks them (runs), a whole row group among them, and stray rows.
    let mut some: Vec<u32> = (100..9_000).chain(ROW_GROUP_ROWS as u32..2 * ROW_GROUP_ROWS as u32).collect();
    some.extend((2 * ROW_GROUP_ROWS as u32..rows as u32).step_by(37));
    let picked = keyed(&block, Some(&some));
    for ((name, text), strings) in COLUMNS.iter().zip(&picked).zip(polars_strings(&block.path, Some(&some))) {
        assert_eq!(rows_of(text), strings.iter().collect::<Vec<_>>(), "{name}, some rows");
    }
}

#[test]
fn hybrid_runs_decode_what_parquet_encodes() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for width in 1..=32u8 {
        for count in [1usize, 7, 8, 9, 63, 64, 65, 1_000] {
            // Runs of repeats and stretches of noise, so both kinds of run are written.
            let limit = if width == 32 { u64::from(u32::MAX) } else { (1u64 << width) - 1 };
            let values: Vec<u32> = (0..count)
                .map(|n| if (n / 20) % 2 == 0 { 1.min(limit) as u32 } else { (next() % (limit + 1)) as u32 })
                .collect();
            let mut bytes = Vec::new();
            encode::<u32, _, _>(&mut bytes, values.iter().copied(), u32::from(width)).unwrap();
            let mut decoded = Vec::new();
            let mut each = |run: Run<'_>| {
                match run {
                    Run::Repeated(value, length) => decoded.resize(decoded.len() + length, value),
                    Run::Packed(packed, length) => unpack(packed, width, length, &mut decoded),
                }
                Ok(())
            };
            hybrid_runs("test", &bytes, width, count, &mut each).unwrap();
            assert_eq!(decoded, values, "width {width}, {count} values");
        }
    }
}

#[test]
fn spread_puts_each_value_at_its_set_level() {
    let levels: Vec<bool> =
        (0..300).map(|n| n % 5 != 0 && !(64..128).contains(&n) || (200..264).contains(&n)).collect();
    let mut bits = vec![0u8; levels.len().div_ceil(8)];
    for (n, level) in levels.iter().enumerate() {
        bits[n / 8] |= u8::from(*level) << (n % 8);
    }
    let values: Vec<u32> = (0..levels.iter().filter(|level| **level).count() as u32).collect();
    let mut keys = Vec::new();
    assert_eq!(spread(&bits, levels.len(), &values, &mut keys), values.len());
    let mut next = values.iter();
    let expected: Vec<u32> = levels.iter().map(|level| if *level { *next.next().unwrap() } else { NO_KEY }).collect();
    assert_eq!(keys, expected);
}

fn damaged_byte() -> impl Strategy<Value = (usize, prop::sample::Index, u8)> {
    (0..COLUMNS.len(), any::<prop::sample::Index>(), any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Blocks written before checksums are not checked before they are read: damaged pages
    /// give an error or keys, never a panic.
    #[test]
    fn damaged_pages_never_panic((column, at, byte) in damaged_byte()) {
        let dir = tempfile::tempdir().unwrap();
        let block = write_block(dir.path(), 1, varied_spans(3_000), Neighbours::default()).unwrap().meta;
        let metadata = parquet_metadata(&block.path);
        let file = std::fs::read(&block.path).unwrap();
        let mut damaged = |range: Range<u64>| -> Result<Buffer<u8>> {
            let mut bytes = file[range.start as usize..range.end as usize].to_vec();
            let at = at.index(bytes.len());
            bytes[at] = byte;
            Ok(Buffer::from(bytes))
        };
        let mut text = KeyedText::default();
        let _ = read_keys(&metadata, COLUMNS[column], None, &mut damaged, &mut text);
    }
}
