//! A block's text column read as keys ([`crate::text_keys`]) straight from its pages: each
//! row group's dictionary page is looked up once, entry by entry, and its data pages' indices
//! become the scan's keys; a row costs one key written, where polars' reader writes a 16-byte
//! view that the query then looks up again.
//!
//! Fluoro's blocks hold flat text columns, `required` or `optional`, in data pages v1 (or v2,
//! which other writers use), `RLE_DICTIONARY`/`PLAIN_DICTIONARY` or `PLAIN` (a column too
//! varied for a dictionary, `dictionary_pages.rs`). Anything else is an error naming the
//! column, never a wrong key: decoded counts are checked against each page's.

use std::io::Cursor;
use std::ops::Range;

use polars::io::parquet::read::FileMetadata;
use polars_buffer::Buffer;
use polars_parquet::parquet::compression::{Compression, DecompressionContext};
use polars_parquet::parquet::error::ParquetError;
use polars_parquet::parquet::metadata::ColumnChunkMetadata;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, EncodedSplitBuffer, FormatEncoding, Page};
use polars_parquet::parquet::read::{decompress, PageReader};

use crate::error::{Result, StoreError};
use crate::text_keys::{KeyedText, TextValues, NO_KEY};

/// No page of a block is near this; a larger size in a page header is damage.
const MAX_PAGE_BYTES: usize = 256 << 20;

/// Appends to `text` the keys of `column` on `rows` of the block (sorted block row numbers;
/// every row when `None`), reading only the row groups that hold them. `chunk_bytes` gives a
/// column chunk's bytes by its byte range in the file.
pub(crate) fn read_keys(
    metadata: &FileMetadata,
    column: &str,
    rows: Option<&[u32]>,
    chunk_bytes: &mut dyn FnMut(Range<u64>) -> Result<Buffer<u8>>,
    text: &mut KeyedText,
) -> Result<()> {
    let mut decoder = PageKeys {
        buffer: Vec::new(),
        context: DecompressionContext::Unset,
        dictionary: Vec::new(),
        indices: Vec::new(),
    };
    let mut group_keys = Vec::new();
    let mut first_row = 0usize;
    for group in &metadata.row_groups {
        let group_rows = first_row..first_row + group.num_rows();
        first_row = group_rows.end;
        let selected = match rows {
            None => None,
            Some(rows) => {
                let from = rows.partition_point(|row| (*row as usize) < group_rows.start);
                let to = rows.partition_point(|row| (*row as usize) < group_rows.end);
                if from == to {
                    continue;
                }
                Some(&rows[from..to])
            }
        };
        let chunk = group
            .columns_under_root_iter(column)
            .and_then(|mut chunks| chunks.next())
            .ok_or_else(|| damaged(column, "no column chunk in a row group"))?;
        let bytes = chunk_bytes(chunk.byte_range())?;
        // Sorted and distinct: as many rows as the group's are all of them, decoded in place.
        let some = selected.filter(|selected| selected.len() < group_rows.len());
        let keys = match some {
            Some(_) => {
                group_keys.clear();
                &mut group_keys
            }
            None => &mut text.keys,
        };
        let before = keys.len();
        decoder.chunk_keys(column, chunk, bytes, &mut text.values, keys)?;
        if keys.len() - before != group_rows.len() {
            return Err(damaged(column, "another number of values than rows"));
        }
        // A time range cuts a block's rows into a few long runs.
        for run in some.into_iter().flat_map(runs) {
            let run = run.start - group_rows.start..run.end - group_rows.start;
            text.keys.extend_from_slice(&group_keys[run]);
        }
    }
    Ok(())
}

/// Sorted, distinct row numbers as runs of consecutive rows.
fn runs(rows: &[u32]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let (&first, _) = rest.split_first()?;
        let length = rest.iter().zip(first..).take_while(|(row, expected)| **row == *expected).count();
        rest = &rest[length..];
        Some(first as usize..first as usize + length)
    })
}

/// Buffers reused from page to page, and one zstd context for all (creating one per column
/// chunk cost more than decoding its keys).
struct PageKeys {
    buffer: Vec<u8>,
    context: DecompressionContext,
    /// The current row group's dictionary: entry → key.
    dictionary: Vec<u32>,
    indices: Vec<u32>,
}

impl PageKeys {
    /// Appends the keys of one column chunk's rows to `keys`.
    fn chunk_keys(
        &mut self,
        column: &str,
        chunk: &ColumnChunkMetadata,
        bytes: Buffer<u8>,
        values: &mut TextValues,
        keys: &mut Vec<u32>,
    ) -> Result<()> {
        let descriptor = &chunk.descriptor().descriptor;
        if descriptor.max_rep_level > 0 || descriptor.max_def_level > 1 {
            return Err(damaged(column, "not a flat column"));
        }
        let pages = PageReader::new_with_page_meta(Cursor::new(bytes), chunk.into(), Vec::new(), MAX_PAGE_BYTES);
        self.dictionary.clear();
        let expected = keys.len() + chunk.num_values() as usize;
        for page in pages {
            let page = page.map_err(|error| parquet(column, error))?;
            match decompress(page, &mut self.buffer, &mut self.context).map_err(|error| parquet(column, error))? {
                Page::Dict(page) => {
                    for value in plain_values(column, &page.buffer, page.num_values) {
                        self.dictionary.push(values.key(value?));
                    }
                }
                Page::Data(mut page) => {
                    self.page_keys(column, &page, values, keys)?;
                    // The buffer decompressed into, for the next page (an uncompressed page
                    // lies in the chunk's bytes).
                    if chunk.compression() != Compression::Uncompressed {
                        self.buffer = std::mem::take(page.buffer_mut());
                    }
                }
            }
        }
        match keys.len() == expected {
            true => Ok(()),
            false => Err(damaged(column, "the pages hold another number of values than the chunk")),
        }
    }

    /// Appends the keys of one data page's rows: the values' keys first (dictionary indices
    /// mapped, or `PLAIN` values looked up), then one pass over the definition levels' runs
    /// that writes every row's key, a run of nulls at once.
    fn page_keys(&mut self, column: &str, page: &DataPage, values: &mut TextValues, keys: &mut Vec<u32>) -> Result<()> {
        let slots = page.num_values();
        let (encoding, split) = page_parts(column, page)?;
        let optional = page.descriptor.max_def_level > 0;
        let present = match optional {
            true => present_values(column, split.def, slots)?,
            false => slots,
        };
        self.indices.clear();
        match encoding {
            FormatEncoding::RLE_DICTIONARY | FormatEncoding::PLAIN_DICTIONARY if present > 0 => {
                let (&bit_width, indices) = split.values.split_first().ok_or_else(|| damaged(column, "empty page"))?;
                let indices_read = &mut self.indices;
                let mut each = |run: Run<'_>| {
                    match run {
                        Run::Repeated(value, length) => indices_read.resize(indices_read.len() + length, value),
                        Run::Packed(bytes, length) => unpack(bytes, bit_width, length, indices_read),
                    };
                    Ok(())
                };
                hybrid_runs(column, indices, bit_width, present, &mut each)?;
                self.keys_of_indices(column)?;
            }
            FormatEncoding::RLE_DICTIONARY | FormatEncoding::PLAIN_DICTIONARY => {}
            FormatEncoding::PLAIN => {
                for value in plain_values(column, split.values, present) {
                    self.indices.push(values.key(value?));
                }
            }
            other => return Err(damaged(column, &format!("text in encoding {} is not read as keys", other.0))),
        }
        // `self.indices` now holds the values' keys, `present` of them.
        let present = &self.indices;
        keys.reserve(slots);
        if !optional {
            keys.extend_from_slice(present);
            return Ok(());
        }
        let mut taken = 0;
        let mut levels = |levels: Run<'_>| {
            let values = present.get(taken..).unwrap_or_default();
            taken += match levels {
                Run::Repeated(1, rows) => {
                    keys.extend_from_slice(&values[..rows.min(values.len())]);
                    rows
                }
                Run::Repeated(_, rows) => {
                    keys.resize(keys.len() + rows, NO_KEY);
                    0
                }
                Run::Packed(bits, rows) => spread(bits, rows, values, keys),
            };
            Ok(())
        };
        hybrid_runs(column, split.def, 1, slots, &mut levels)?;
        match taken == present.len() {
            true => Ok(()),
            false => Err(damaged(column, "the levels changed between two reads")),
        }
    }

    /// `self.indices` mapped through the row group's dictionary.
    fn keys_of_indices(&mut self, column: &str) -> Result<()> {
        let mut beyond = false;
        for index in self.indices.iter_mut() {
            *index = match self.dictionary.get(*index as usize) {
                Some(key) => *key,
                None => {
                    beyond = true;
                    NO_KEY
                }
            };
        }
        match beyond {
            false => Ok(()),
            true => Err(damaged(column, "a key beyond the dictionary")),
        }
    }
}

/// A data page's value encoding, and its levels' and values' bytes (lengths checked: polars'
/// own split and encoding accessor panic on some damage). Called only for flat columns.
fn page_parts<'a>(column: &str, page: &'a DataPage) -> Result<(FormatEncoding, EncodedSplitBuffer<'a>)> {
    match page.header() {
        // A flat column's v1 page: the definition levels' length (4 bytes), the levels, the
        // values; a required column's page holds only the values.
        DataPageHeader::V1(header) if page.descriptor.max_def_level == 0 => {
            Ok((header.encoding, EncodedSplitBuffer { rep: &[], def: &[], values: page.buffer() }))
        }
        DataPageHeader::V1(header) => {
            let cut = || damaged(column, "levels longer than the page");
            let (length, rest) = page.buffer().split_first_chunk::<4>().ok_or_else(cut)?;
            let (def, values) = rest.split_at_checked(u32::from_le_bytes(*length) as usize).ok_or_else(cut)?;
            Ok((header.encoding, EncodedSplitBuffer { rep: &[], def, values }))
        }
        DataPageHeader::V2(header) => {
            let length = |bytes: i32| usize::try_from(bytes).map_err(|_| damaged(column, "a negative length"));
            let cut = || damaged(column, "levels longer than the page");
            let (rep, rest) =
                page.buffer().split_at_checked(length(header.repetition_levels_byte_length)?).ok_or_else(cut)?;
            let (def, values) = rest.split_at_checked(length(header.definition_levels_byte_length)?).ok_or_else(cut)?;
            Ok((header.encoding, EncodedSplitBuffer { rep, def, values }))
        }
    }
}

/// How many of `slots` rows hold a value: the set definition levels.
fn present_values(column: &str, def: &[u8], slots: usize) -> Result<usize> {
    let mut present = 0;
    let mut count = |levels: Run<'_>| {
        present += match levels {
            Run::Repeated(1, rows) => rows,
            Run::Repeated(_, _) => 0,
            Run::Packed(bits, rows) => {
                let whole = bits.get(..rows / 8).ok_or_else(|| damaged(column, "levels cut short"))?;
                let ones: u32 = whole.iter().map(|byte| byte.count_ones()).sum();
                let last = match rows % 8 {
                    0 => 0,
                    tail => bits.get(rows / 8).map_or(0, |byte| (byte & ((1 << tail) - 1)).count_ones()),
                };
                (ones + last) as usize
            }
        };
        Ok(())
    };
    hybrid_runs(column, def, 1, slots, &mut count)?;
    Ok(present)
}

/// One key per level among the first `rows` bits of `bits` (least significant first, as
/// Parquet packs one-bit levels): the next of `values` for a set bit, [`NO_KEY`] for a clear
/// one; 64 levels at a time when they are alike, else without a branch per level. Returns how
/// many values a complete read would take (more than `values` holds means damage, and the
/// rows past them get [`NO_KEY`]).
fn spread(bits: &[u8], rows: usize, values: &[u32], keys: &mut Vec<u32>) -> usize {
    let mut taken = 0;
    let mut position = 0;
    while position < rows {
        let rest = bits.get(position / 8..).unwrap_or_default();
        let mut word = [0u8; 8];
        let available = rest.len().min(8);
        word[..available].copy_from_slice(&rest[..available]);
        let word = u64::from_le_bytes(word);
        let length = (rows - position).min(64);
        let mask = if length == 64 { u64::MAX } else { (1u64 << length) - 1 };
        match word & mask {
            0 => keys.resize(keys.len() + length, NO_KEY),
            set if set == mask && taken + length <= values.len() => {
                keys.extend_from_slice(&values[taken..taken + length]);
                taken += length;
            }
            set => {
                for bit in 0..length {
                    let present = (set >> bit) & 1 == 1;
                    let value = values.get(taken).copied().unwrap_or(NO_KEY);
                    keys.push(if present { value } else { NO_KEY });
                    taken += usize::from(present);
                }
            }
        }
        position += length;
    }
    taken
}

/// A run of Parquet's RLE/bit-packed hybrid: one value repeated, or values packed.
enum Run<'a> {
    Repeated(u32, usize),
    /// Bytes holding (at least) this many `bit_width`-bit values, least significant bit first.
    Packed(&'a [u8], usize),
}

/// The runs of `count` `bit_width`-bit values in Parquet's RLE/bit-packed hybrid, in order.
/// Written here rather than taken from polars' decoder, which costs ~100 ns a run: a column
/// whose values change every few rows (a trace's segments and subsegments alternate) has a
/// run every eight to sixteen rows.
fn hybrid_runs<'a>(
    column: &str,
    mut data: &'a [u8],
    bit_width: u8,
    count: usize,
    each: &mut impl FnMut(Run<'a>) -> Result<()>,
) -> Result<()> {
    if bit_width > 32 {
        return Err(damaged(column, "a bit width over 32"));
    }
    if bit_width == 0 {
        return match count {
            0 => Ok(()),
            _ => each(Run::Repeated(0, count)),
        };
    }
    let (width, value_bytes) = (usize::from(bit_width), usize::from(bit_width).div_ceil(8));
    let mut left = count;
    while left > 0 {
        let (header, rest) = uleb128(data).ok_or_else(|| damaged(column, "a run header cut short"))?;
        let length = usize::try_from(header >> 1).unwrap_or(usize::MAX);
        if length == 0 {
            return Err(damaged(column, "an empty run"));
        }
        let (run, rest) = match header & 1 {
            1 => {
                let bytes = length.checked_mul(width).ok_or_else(|| damaged(column, "a run too long"))?;
                let (packed, rest) = rest.split_at_checked(bytes).ok_or_else(|| damaged(column, "values cut short"))?;
                (Run::Packed(packed, length.saturating_mul(8).min(left)), rest)
            }
            _ => {
                let (value, rest) =
                    rest.split_at_checked(value_bytes).ok_or_else(|| damaged(column, "values cut short"))?;
                let mut word = [0u8; 4];
                word[..value_bytes].copy_from_slice(value);
                (Run::Repeated(u32::from_le_bytes(word), length.min(left)), rest)
            }
        };
        left -= match run {
            Run::Repeated(_, length) | Run::Packed(_, length) => length,
        };
        data = rest;
        each(run)?;
    }
    Ok(())
}

/// A run header: an unsigned LEB128 number (7 bits a byte, least significant first), and the
/// bytes after it; `None` when cut short or over 64 bits.
fn uleb128(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (index, byte) in data.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if index == 9 && bits > 1 {
            return None;
        }
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, &data[index + 1..]));
        }
    }
    None
}

/// `count` `bit_width`-bit values packed least significant bit first, appended. Values come
/// in groups of eight (a bit-packed run's unit), `bit_width` bytes each: up to 8 bits wide,
/// a group is one 8-byte word.
fn unpack(bytes: &[u8], bit_width: u8, count: usize, into: &mut Vec<u32>) {
    let width = usize::from(bit_width);
    let mask = (1u64 << width) - 1;
    let start = into.len();
    into.resize(start + count.next_multiple_of(8), 0);
    let word_at = |byte: usize| match bytes.get(byte..).and_then(|rest| rest.first_chunk::<8>()) {
        Some(word) => u64::from_le_bytes(*word),
        None => {
            let mut word = [0u8; 8];
            let rest = bytes.get(byte..).unwrap_or_default();
            word[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(word)
        }
    };
    let groups = into[start..].chunks_exact_mut(8).enumerate();
    if width <= 8 {
        for (group, values) in groups {
            let word = word_at(group * width);
            for (index, value) in values.iter_mut().enumerate() {
                *value = ((word >> (index * width)) & mask) as u32;
            }
        }
    } else {
        for (group, values) in groups {
            for (index, value) in values.iter_mut().enumerate() {
                let bit = (group * 8 + index) * width;
                *value = ((word_at(bit / 8) >> (bit % 8)) & mask) as u32;
            }
        }
    }
    into.truncate(start + count);
}

/// `count` PLAIN byte arrays (a 4-byte little-endian length, then the bytes), as UTF-8.
fn plain_values<'a>(column: &'a str, mut bytes: &'a [u8], count: usize) -> impl Iterator<Item = Result<&'a str>> + 'a {
    (0..count).map(move |_| {
        let (length, rest) = bytes.split_first_chunk::<4>().ok_or_else(|| damaged(column, "a value cut short"))?;
        let length = u32::from_le_bytes(*length) as usize;
        let (value, rest) = rest.split_at_checked(length).ok_or_else(|| damaged(column, "a value cut short"))?;
        bytes = rest;
        std::str::from_utf8(value).map_err(|_| damaged(column, "a value that is not UTF-8"))
    })
}

fn damaged(column: &str, what: &str) -> StoreError {
    StoreError::Block(format!("column {column}: {what}"))
}

fn parquet(column: &str, error: ParquetError) -> StoreError {
    StoreError::Block(format!("column {column}: {error}"))
}

#[cfg(test)]
#[path = "key_pages_tests.rs"]
mod tests;
