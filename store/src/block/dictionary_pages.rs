//! Dictionary-encoded pages of a block's text columns (service, name, origin, …), written here
//! rather than by polars' writer.
//!
//! polars dictionary-encodes a text column by estimating its distinct values (a HyperLogLog
//! over every value) and then casting the whole column to a dictionary array (hashing every
//! value again) before it encodes the keys: ~12k instructions per ingested document, a tenth of
//! all that ingest does with it (`ingest_parse --stages store` under cachegrind). The columns
//! hold a few dozen distinct values per row group, so here each row's key comes from a small
//! cache keyed by the value's view (`view_keys.rs`: a short value's bytes, a long one's
//! address), and a value is hashed only the first time its view is met. A flush builds each
//! [`Dictionary`] a row at a time from the spans (`schema.rs` `SpanTexts`): copying the values
//! into a string array first was ~4 % of the server's CPU under UDP load. The pages are what polars writes for a
//! dictionary array:
//! - a dictionary page of the distinct values, `PLAIN`, in order of first appearance;
//! - one `RLE_DICTIONARY` data page (V1): definition levels, the keys' bit width as a byte,
//!   then the keys of the non-null rows in the RLE/bit-packed hybrid;
//! - statistics over the distinct values, as polars computes them (bounds longer than its
//!   truncation length truncated as it does; the row group's null count).
//!
//! A column with many distinct values (more than 3 in 4 of its rows, polars' own test, here
//! checked every [`CHECK_EVERY`] rows so that an id-like column stops early) returns `None` and
//! is written by polars, plain.

use polars::prelude::PlHashMap;
use polars_arrow::array::{Array, Utf8ViewArray};
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1, DictPage};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::statistics::ParquetStatistics;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{Encoding, Page, ParquetType, StatisticsOptions};

use super::rle_hybrid::{encode_hybrid, HybridEncoder};
use crate::view_keys::ViewKeys;

/// Bits per definition level of an optional top-level column.
pub(super) const DEFINITION_BITS: u32 = 1;

/// How often (in rows) the share of distinct values is checked.
const CHECK_EVERY: usize = 1024;

/// Columns this short are dictionary-encoded whatever their share of distinct values, as
/// polars does.
const ALWAYS_BELOW_ROWS: usize = 128;

/// The dictionary page and the data page of a text column in one row group, or `None` when
/// polars should write the column (another type, a required column, too many distinct values).
pub(super) fn dictionary_pages(array: &dyn Array, field: &ParquetType) -> Option<Vec<Page>> {
    let texts = array.as_any().downcast_ref::<Utf8ViewArray>()?;
    let mut dictionary = Dictionary::with_capacity(texts.len());
    if !texts.iter().all(|text| dictionary.push(text)) {
        return None;
    }
    dictionary.into_pages(field)
}

/// A text column's distinct values, in order of first appearance, each non-null row's key and
/// the rows' definition levels, built a row at a time: a flush builds every text column's from
/// the spans in one pass over them, instead of copying the values into string arrays first.
pub(super) struct Dictionary<'a> {
    values: Vec<&'a str>,
    known: PlHashMap<&'a str, u32>,
    cache: ViewKeys,
    keys: Vec<u32>,
    levels: HybridEncoder,
    rows: usize,
}

impl<'a> Dictionary<'a> {
    pub(super) fn with_capacity(rows: usize) -> Self {
        Dictionary {
            values: Vec::new(),
            known: PlHashMap::default(),
            cache: ViewKeys::default(),
            keys: Vec::with_capacity(rows),
            levels: HybridEncoder::new(DEFINITION_BITS),
            rows: 0,
        }
    }

    /// Adds the next row's value; `false` once the column is found to have too many distinct
    /// values to be worth a dictionary.
    #[inline]
    pub(super) fn push(&mut self, text: Option<&'a str>) -> bool {
        self.rows += 1;
        self.levels.push(u32::from(text.is_some()));
        if let Some(text) = text {
            let (known, values) = (&mut self.known, &mut self.values);
            let key = self.cache.text_key(text, || {
                *known.entry(text).or_insert_with(|| {
                    values.push(text);
                    values.len() as u32 - 1
                })
            });
            self.keys.push(key);
        }
        self.rows % CHECK_EVERY != 0 || self.worth_it()
    }

    fn worth_it(&self) -> bool {
        self.rows <= ALWAYS_BELOW_ROWS || self.values.len() * 4 <= self.rows * 3
    }

    fn statistics(&self) -> ParquetStatistics {
        let nulls = self.rows - self.keys.len();
        text_statistics(self.values.iter().min().copied(), self.values.iter().max().copied(), nulls)
    }

    /// The dictionary page and the data page, or `None` when the column has too many distinct
    /// values or is not an optional text leaf.
    pub(super) fn into_pages(self, field: &ParquetType) -> Option<Vec<Page>> {
        let ParquetType::PrimitiveType(leaf) = field else { return None };
        if leaf.field_info.repetition != Repetition::Optional || !self.worth_it() {
            return None;
        }
        let statistics = self.statistics();
        let mut buffer = self.levels.into_levels_v1()?;
        let bits = bit_width(self.values.len().saturating_sub(1));
        buffer.push(bits as u8);
        encode_hybrid(&mut buffer, self.keys.iter().copied(), bits);
        let header = DataPageHeaderV1 {
            num_values: i32::try_from(self.rows).ok()?,
            encoding: Encoding::RleDictionary.into(),
            definition_level_encoding: Encoding::Rle.into(),
            repetition_level_encoding: Encoding::Rle.into(),
            statistics: Some(statistics),
        };
        // As polars' own pages: the writer takes the levels from the schema, not from here.
        let descriptor = Descriptor { primitive_type: leaf.clone(), max_def_level: 0, max_rep_level: 0 };
        let data = DataPage::new(DataPageHeader::V1(header), CowBuffer::Owned(buffer), descriptor, self.rows);
        let values = DictPage::new(CowBuffer::Owned(plain_values(&self.values)), self.values.len(), false);
        Some(vec![Page::Dict(values), Page::Data(data)])
    }
}

/// The dictionary page's bytes: each value's length (4 bytes, little-endian), then its bytes.
fn plain_values(values: &[&str]) -> Vec<u8> {
    let bytes: usize = values.iter().map(|value| 4 + value.len()).sum();
    let mut buffer = Vec::with_capacity(bytes);
    for value in values {
        buffer.extend_from_slice(&(value.len() as u32).to_le_bytes());
        buffer.extend_from_slice(value.as_bytes());
    }
    buffer
}

/// What polars gives a text column (or one of its pages): the least and greatest value,
/// truncated as it truncates them, and the null count.
pub(super) fn text_statistics(min: Option<&str>, max: Option<&str>, nulls: usize) -> ParquetStatistics {
    let truncate_to = StatisticsOptions::default().binary_statistics_truncate_length_usize();
    ParquetStatistics {
        null_count: Some(nulls as i64),
        distinct_count: None,
        max_value: max.map(|max| truncated_max(max, truncate_to)),
        min_value: min.map(|min| truncated_min(min, truncate_to).as_bytes().to_vec()),
        max: None,
        min: None,
        is_max_value_exact: None,
        is_min_value_exact: None,
    }
}

/// Bits per key: those of the greatest key (0 for a dictionary of at most one value).
fn bit_width(max_key: usize) -> u32 {
    usize::BITS - max_key.leading_zeros()
}

/// A lower bound of `value` at most `length` bytes long (at a character boundary), if there
/// is a limit: a prefix sorts before the whole.
fn truncated_min(value: &str, length: Option<usize>) -> &str {
    match length {
        Some(length) if value.len() > length => &value[..char_boundary_at_most(value, length)],
        _ => value,
    }
}

/// An upper bound of `value` at most `length` bytes long if there is one: the prefix with its
/// last character that can be incremented (keeping its encoded length) incremented; `value`
/// itself when no character can be.
fn truncated_max(value: &str, length: Option<usize>) -> Vec<u8> {
    let Some(length) = length.filter(|length| value.len() > *length) else {
        return value.as_bytes().to_vec();
    };
    let prefix = &value[..char_boundary_at_most(value, length)];
    if prefix.len() == value.len() {
        // One character longer than the limit: polars keeps the value whole.
        return value.as_bytes().to_vec();
    }
    let incremented = prefix.char_indices().rev().find_map(|(at, character)| {
        let next = char::from_u32(character as u32 + 1).filter(|next| next.len_utf8() == character.len_utf8())?;
        Some((at, next))
    });
    match incremented {
        Some((at, next)) => {
            let mut bound = prefix.as_bytes()[..at].to_vec();
            bound.extend_from_slice(next.encode_utf8(&mut [0; 4]).as_bytes());
            bound
        }
        None => value.as_bytes().to_vec(),
    }
}

/// The greatest character boundary of `value` not past `length`; at least one character, as
/// polars keeps a first character longer than the limit.
fn char_boundary_at_most(value: &str, length: usize) -> usize {
    match (0..=length).rev().find(|at| value.is_char_boundary(*at)).filter(|at| *at > 0) {
        Some(at) => at,
        None => value.chars().next().map_or(0, char::len_utf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column's dictionary, or `None` when it is not worth one.
    fn dictionary_of<'a>(texts: impl Iterator<Item = Option<&'a str>>) -> Option<Dictionary<'a>> {
        let mut dictionary = Dictionary::with_capacity(0);
        texts.into_iter().all(|text| dictionary.push(text)).then_some(())?;
        dictionary.worth_it().then_some(dictionary)
    }

    #[test]
    fn each_row_has_the_key_of_its_value_in_order_of_first_appearance() {
        let long = "a value longer than the twelve bytes a view holds inline";
        let texts = Utf8ViewArray::from_slice([Some("web"), None, Some(long), Some("web"), Some(long), Some("db")]);
        let dictionary = dictionary_of(texts.iter()).unwrap();
        assert_eq!(dictionary.values, vec!["web", long, "db"]);
        assert_eq!(dictionary.keys, vec![0, 1, 0, 1, 2], "one key per non-null row");
        let statistics = dictionary.statistics();
        assert_eq!(
            statistics.min_value.as_deref(),
            Some(&b"a value longer than the twelve bytes a view holds inline"[..])
        );
        assert_eq!(statistics.max_value.as_deref(), Some(&b"web"[..]));
        assert_eq!(statistics.null_count, Some(1));
    }

    #[test]
    fn a_column_of_mostly_distinct_values_is_left_to_polars() {
        let ids: Vec<String> = (0..5000).map(|id| format!("request-{id}")).collect();
        let texts = Utf8ViewArray::from_slice_values(ids.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(dictionary_of(texts.iter()).is_none());
        let few: Vec<&str> = (0..5000).map(|row| ["GET", "POST", "PUT"][row % 3]).collect();
        assert_eq!(dictionary_of(few.iter().copied().map(Some)).unwrap().values.len(), 3);
        let short: Vec<&str> = ids.iter().take(ALWAYS_BELOW_ROWS).map(String::as_str).collect();
        assert!(dictionary_of(short.iter().copied().map(Some)).is_some(), "as polars does");
    }

    #[test]
    fn bounds_are_truncated_as_polars_truncates_them() {
        assert_eq!(truncated_min("abcdef", Some(3)), "abc");
        assert_eq!(truncated_max("abcdef", Some(3)), b"abd");
        assert_eq!(truncated_max("ab", Some(3)), b"ab", "short enough already");
        assert_eq!(truncated_min("héllo", Some(2)), "h", "not inside a character");
        assert_eq!(truncated_max("héllo", Some(3)), "hê".as_bytes());
        assert_eq!(truncated_max("a\u{10FFFF}b", Some(5)), b"b", "the last character that can grow");
        assert_eq!(truncated_max("\u{10FFFF}\u{10FFFF}", Some(4)), "\u{10FFFF}\u{10FFFF}".as_bytes(), "none can");
        assert_eq!(truncated_min("\u{10FFFF}x", Some(2)), "\u{10FFFF}", "at least one character");
        assert_eq!(truncated_max("abc", None), b"abc");
        assert_eq!(truncated_max("\u{FFFF}", Some(2)), "\u{FFFF}".as_bytes(), "one character over the limit");
    }
}
