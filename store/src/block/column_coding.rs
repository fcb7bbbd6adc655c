//! How each column of a block is encoded and compressed in Parquet, and the writer that does it
//! ([`BlockWriter`]).
//!
//! polars' own writer gives every column one codec and chooses only between dictionary and
//! plain encoding. That suits strings, but the span times are 8-byte integers that zstd takes
//! apart byte by byte: decompressing `start_us` and `end_us` was ~11 % of the dashboard's map
//! call. Stored as `DELTA_BINARY_PACKED` (rows are sorted by trace start minute, so successive
//! times are close) and not compressed, they decode as bit unpacking and a running sum, for
//! ~2.9 MB per column and million spans against 2.5 MB (a block grows ~2 %).
//!
//! The raw documents are unique, but most rows have none (embedded subsegments, OTLP spans), so
//! polars' distinct-ratio test dictionary-encoded them: one dictionary page per row group with
//! every document in it (~2.7 MB), which each trace lookup decompressed whole for a few rows.
//! Plain-encoded in 128 KiB pages, a lookup decompresses only the pages of its rows
//! (`BatchGetTraces` p50 ~16 → ~9 ms; a block grows ~3 %, the compression window being a page:
//! +7 % with 64 KiB pages, +1.4 % with 256 KiB, lookups alike within this VM's noise).
//!
//! `sequence` (the write order that picks a span's latest version) also rises within a trace, and
//! every scan reads it: zstd-compressed, decompressing it was ~10 % of the histogram and the
//! service graph. Delta-encoded like the times, it costs no decompression for ~0.3 MB more per
//! million spans.
//!
//! Text columns (service, name, origin, …) are dictionary-encoded as polars would encode them,
//! but by `dictionary_pages.rs`, which skips polars' estimate of distinct values and its cast
//! of the whole column to a dictionary array; the span lists' pages are written by
//! `list_pages.rs`; a flush's document pages by `document_pages.rs`. A flush gives the writer
//! its text values straight from the spans (`SpanTexts`), not copied into the frame first. Levels
//! and dictionary keys are encoded by `rle_hybrid.rs`.
//!
//! Every other column is encoded as polars encodes it, and each of its column chunks is
//! compressed only if that makes the chunk at least [`MIN_SAVING`] smaller. Span ids and the
//! low half of trace ids are random bits that zstd shrinks by 0–10 %, and decompressing them
//! costs every scan and lookup; a chunk too small for zstd to gain on (a column with one value)
//! is not compressed either. What a chunk holds decides, not its column's name: ids that are
//! not random (a load generator's counters) are compressed.

use std::io::Write;

use polars::prelude::*;
use polars_arrow::array::{Array, MutableBinaryViewArray};
use polars_parquet::parquet::error::ParquetError;
use polars_parquet::parquet::page::CompressedDictPage;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{
    array_to_columns, compress as compress_page, schema_to_metadata_key, CompressedDataPage, CompressedPage,
    CompressionOptions, DynIter, DynStreamingIterator, Encoding, FallibleStreamingIterator, FileWriter, KeyValue, Page,
    ParquetType, StatisticsOptions, Version, WriteOptions,
};

use super::dictionary_pages::{dictionary_pages, Dictionary};
use super::document_pages::document_pages;
use super::list_pages::list_leaf_pages;
use super::schema::SpanTexts;
use crate::columns::{ANNOTATIONS, DOCUMENT, END_US, EXCEPTIONS, SEQUENCE, START_US};
use crate::error::{polars_error, Result, StoreError};

/// Integer columns whose successive values are close, and which every query reads:
/// delta-encoded, not compressed.
const DELTA_COLUMNS: [&str; 3] = [START_US, END_US, SEQUENCE];

/// List columns that are never null: a span without exceptions or annotations has an empty list.
const NEVER_NULL_LISTS: [&str; 2] = [EXCEPTIONS, ANNOTATIONS];

/// The codec of compressed columns, as Parquet names it.
const COMPRESSION: CompressionOptions = CompressionOptions::Zstd(None);
/// zstd's level for it: 0 is zstd's default (3), as polars' writer uses.
const ZSTD_LEVEL: i32 = 0;

/// A column chunk is stored compressed only if that saves at least this share of its bytes.
const MIN_SAVING: f64 = 1.0 / 8.0;

/// Data pages of the raw documents: a trace lookup decompresses only the pages holding its
/// rows, so small pages keep it from decompressing a row group's worth of documents.
pub(super) const DOCUMENT_PAGE_BYTES: usize = 128 * 1024;

/// When a column's chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compress {
    Never,
    Always,
    /// When that saves at least [`MIN_SAVING`] of the chunk.
    WhenWorthIt,
}

/// One column's encoding (one entry per Parquet leaf), compression and data page size
/// (`None`: polars' default, 1 MiB).
#[derive(Debug, Clone)]
struct ColumnCoding {
    encodings: Vec<Encoding>,
    /// Whose pages these are when not polars' (which still writes a column they decline).
    pages: PageWriter,
    compress: Compress,
    page_bytes: Option<usize>,
}

/// Who writes a column's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageWriter {
    Polars,
    /// A span list: `list_pages.rs`.
    List,
    /// A dictionary-encoded text column: `dictionary_pages.rs`.
    Dictionary,
}

impl PageWriter {
    /// The pages of each Parquet leaf of the column, or `None` to leave them to polars.
    fn leaves(self, array: &dyn Array, field: &ParquetType) -> Option<Vec<Vec<Page>>> {
        match self {
            PageWriter::Polars => None,
            PageWriter::List => Some(list_leaf_pages(array, field)?.into_iter().map(|page| vec![page]).collect()),
            PageWriter::Dictionary => Some(vec![dictionary_pages(array, field)?]),
        }
    }
}

impl ColumnCoding {
    fn of(field: &ArrowField) -> Self {
        let integer = matches!(field.dtype, ArrowDataType::Int64 | ArrowDataType::UInt64);
        if integer && DELTA_COLUMNS.contains(&field.name.as_str()) {
            return ColumnCoding {
                encodings: vec![Encoding::DeltaBinaryPacked],
                pages: PageWriter::Polars,
                compress: Compress::Never,
                page_bytes: None,
            };
        }
        if field.name.as_str() == DOCUMENT {
            // Documents are unique, but most rows have none, so polars' distinct-ratio test
            // would put them all in one dictionary page that every lookup decompresses whole.
            return ColumnCoding {
                encodings: vec![Encoding::Plain],
                pages: PageWriter::Polars,
                compress: Compress::Always,
                page_bytes: Some(DOCUMENT_PAGE_BYTES),
            };
        }
        let encodings = polars_parquet::write::get_dtype_encoding(&field.dtype);
        let pages = if NEVER_NULL_LISTS.contains(&field.name.as_str()) {
            PageWriter::List
        } else if field.dtype == ArrowDataType::Utf8View && encodings == [Encoding::RleDictionary] {
            PageWriter::Dictionary
        } else {
            PageWriter::Polars
        };
        ColumnCoding { encodings, pages, compress: Compress::WhenWorthIt, page_bytes: None }
    }
}

/// Writes frames of one schema as row groups of a Parquet file, each column coded as
/// [`ColumnCoding::of`] says.
pub(super) struct BlockWriter<W: Write> {
    writer: FileWriter<W>,
    fields: Vec<ParquetType>,
    codings: Vec<ColumnCoding>,
    options: WriteOptions,
    /// One zstd context for every page: polars' writer creates and zeroes one per page.
    zstd: zstd::bulk::Compressor<'static>,
}

impl<W: Write> BlockWriter<W> {
    pub(super) fn new(out: W, schema: &Schema) -> Result<Self> {
        let mut schema = schema.to_arrow(CompatLevel::newest());
        schema.iter_values_mut().for_each(require_lists);
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: COMPRESSION,
            data_page_size: None,
        };
        let codings = schema.iter_values().map(ColumnCoding::of).collect();
        let writer = FileWriter::try_new(out, schema, options).map_err(polars_error)?;
        let fields = writer.parquet_schema().fields().to_vec();
        let zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(zstd_error)?;
        Ok(BlockWriter { writer, fields, codings, options, zstd })
    }

    /// Writes the frame as one row group.
    pub(super) fn write_row_group(&mut self, frame: &DataFrame) -> Result<()> {
        self.write_row_group_with(frame, None)
    }

    /// Writes the frame as one row group, the text columns' pages from the spans themselves
    /// (`texts`, one per row, in order) rather than from the frame's own columns.
    pub(super) fn write_row_group_of_spans(&mut self, frame: &DataFrame, mut texts: SpanTexts<'_>) -> Result<()> {
        self.write_row_group_with(frame, Some(&mut texts))
    }

    fn write_row_group_with(&mut self, frame: &DataFrame, mut texts: Option<&mut SpanTexts<'_>>) -> Result<()> {
        let mut rechunked;
        let frame = if frame.columns().iter().any(|column| column.n_chunks() > 1) {
            rechunked = frame.clone();
            &*rechunked.rechunk_mut()
        } else {
            frame
        };
        let Some(batch) = frame.iter_chunks(CompatLevel::newest(), false).next().filter(|batch| !batch.is_empty())
        else {
            return Ok(());
        };
        let mut columns = Vec::new();
        for ((array, field), coding) in batch.columns().iter().zip(&self.fields).zip(&self.codings) {
            // One entry per Parquet leaf: its pages.
            let leaves = match texts.as_deref_mut() {
                Some(texts) if let Some(values) = texts.column(field.name()) => {
                    let dictionary =
                        texts.take_dictionary(field.name()).filter(|_| coding.pages == PageWriter::Dictionary);
                    vec![self.text_pages(values, dictionary, field, coding)?]
                }
                _ => match coding.pages.leaves(array.as_ref(), field) {
                    Some(leaves) => leaves,
                    None => self.polars_pages(array.as_ref(), field, coding)?,
                },
            };
            for pages in leaves {
                columns.push(Ok(compressed(pages, coding.compress, &mut self.zstd)?));
            }
        }
        self.writer.write(batch.len() as u64, DynIter::new(columns.into_iter())).map_err(polars_error)
    }

    /// The pages of a text column from its values: the documents plain (`document_pages.rs`),
    /// other text from its dictionary (`dictionary_pages.rs`) when it has one, or else by polars
    /// from a string array of the values.
    fn text_pages<'a>(
        &self,
        values: impl Iterator<Item = Option<&'a str>>,
        dictionary: Option<Dictionary<'a>>,
        field: &ParquetType,
        coding: &ColumnCoding,
    ) -> Result<Vec<Page>> {
        if field.name() == DOCUMENT {
            let documents: Vec<Option<&str>> = values.collect();
            return document_pages(&documents, field).ok_or_else(not_documents);
        }
        if let Some(pages) = dictionary.and_then(|dictionary| dictionary.into_pages(field)) {
            return Ok(pages);
        }
        let array = MutableBinaryViewArray::<str>::from_iter(values).freeze();
        let [pages]: [Vec<Page>; 1] = self.polars_pages(&array, field, coding)?.try_into().map_err(|_| not_text())?;
        Ok(pages)
    }

    /// The pages of each Parquet leaf of the column, as polars' writer encodes them.
    fn polars_pages(&self, array: &dyn Array, field: &ParquetType, coding: &ColumnCoding) -> Result<Vec<Vec<Page>>> {
        let options = WriteOptions { data_page_size: coding.page_bytes, ..self.options };
        let leaves = array_to_columns(array, field.clone(), options, &coding.encodings).map_err(polars_error)?;
        let leaves = leaves.into_iter().map(|pages| pages.collect());
        leaves.collect::<PolarsResult<_>>().map_err(polars_error)
    }

    /// Ends the file with this key-value metadata beside the Arrow schema polars reads back.
    pub(super) fn finish(mut self, metadata: KeyValue) -> Result<()> {
        let arrow_schema = schema_to_metadata_key(self.writer.schema());
        self.writer.end(Some(vec![arrow_schema, metadata])).map(drop).map_err(polars_error)
    }
}

/// Marks the span lists and their elements as never null (Parquet `required`), as
/// `schema.rs` builds them (a span without exceptions has an empty list): polars' writer walks
/// one definition level per optional level for every row of every leaf, so two fewer levels
/// make their level encoding cheaper (it was a quarter of the flush). The elements' fields stay
/// optional, as do other blocks' lists (a metric point without a histogram has none).
fn require_lists(field: &mut ArrowField) {
    if let (true, ArrowDataType::LargeList(element)) =
        (NEVER_NULL_LISTS.contains(&field.name.as_str()), &mut field.dtype)
    {
        field.is_nullable = false;
        element.is_nullable = false;
    }
}

/// A column chunk's pages, compressed as `compress` says: with [`Compress::WhenWorthIt`], only if
/// that makes the chunk at least [`MIN_SAVING`] smaller (zstd barely shrinks random ids, and
/// decompressing them costs every scan and lookup).
fn compressed(pages: Vec<Page>, compress: Compress, zstd: &mut zstd::bulk::Compressor<'static>) -> Result<ColumnPages> {
    let mut packed = Vec::with_capacity(pages.len());
    if compress != Compress::Never {
        for page in &pages {
            packed.push(zstd.compress(page_bytes(page)).map_err(zstd_error)?);
        }
    }
    let raw: usize = pages.iter().map(|page| page_bytes(page).len()).sum();
    let small: usize = packed.iter().map(Vec::len).sum();
    let keep_packed = match compress {
        Compress::Never => false,
        Compress::Always => true,
        Compress::WhenWorthIt => (small as f64) <= raw as f64 * (1.0 - MIN_SAVING),
    };
    let ready: Result<Vec<CompressedPage>, ParquetError> = if keep_packed {
        Ok(pages.into_iter().zip(packed).map(|(page, bytes)| compressed_page(page, bytes)).collect())
    } else {
        pages.into_iter().map(|page| compress_page(page, Vec::new(), CompressionOptions::Uncompressed)).collect()
    };
    Ok(DynStreamingIterator::new(ReadyPages { pages: ready.map_err(parquet_error)?.into_iter(), current: None }))
}

/// The bytes a page would hold uncompressed.
fn page_bytes(page: &Page) -> &[u8] {
    match page {
        Page::Data(page) => page.buffer(),
        Page::Dict(page) => &page.buffer,
    }
}

/// `page` with its bytes replaced by `bytes`, their [`COMPRESSION`].
fn compressed_page(page: Page, bytes: Vec<u8>) -> CompressedPage {
    let codec = COMPRESSION.into();
    match page {
        Page::Data(page) => CompressedPage::Data(CompressedDataPage::new(
            page.header().clone(),
            CowBuffer::Owned(bytes),
            codec,
            page.buffer().len(),
            page.descriptor.clone(),
            page.num_rows.unwrap_or_default(),
        )),
        Page::Dict(page) => CompressedPage::Dict(CompressedDictPage::new(
            CowBuffer::Owned(bytes),
            codec,
            page.buffer.len(),
            page.num_values,
            page.is_sorted,
        )),
    }
}

fn not_text() -> StoreError {
    StoreError::Block("a text column is not one leaf".to_owned())
}

fn not_documents() -> StoreError {
    StoreError::Block("the document column is not an optional text leaf".to_owned())
}

fn parquet_error(error: ParquetError) -> StoreError {
    polars_error(PolarsError::from(error))
}

fn zstd_error(error: std::io::Error) -> StoreError {
    StoreError::Block(format!("zstd: {error}"))
}

/// The pages of one column chunk, compressed already, handed to the writer in order.
struct ReadyPages {
    pages: std::vec::IntoIter<CompressedPage>,
    current: Option<CompressedPage>,
}

impl FallibleStreamingIterator for ReadyPages {
    type Item = CompressedPage;
    type Error = PolarsError;

    fn advance(&mut self) -> PolarsResult<()> {
        self.current = self.pages.next();
        Ok(())
    }

    fn get(&self) -> Option<&CompressedPage> {
        self.current.as_ref()
    }
}

/// A column chunk's pages as the writer takes them.
type ColumnPages = DynStreamingIterator<'static, CompressedPage, PolarsError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{SERVICE, TRACE_HI};

    #[test]
    fn text_columns_and_span_lists_have_their_own_page_writers() {
        let field = |name: &str, dtype: ArrowDataType| ArrowField::new(name.into(), dtype, true);
        let writer = |field: ArrowField| ColumnCoding::of(&field).pages;
        assert_eq!(writer(field(SERVICE, ArrowDataType::Utf8View)), PageWriter::Dictionary);
        assert_eq!(writer(field(DOCUMENT, ArrowDataType::Utf8View)), PageWriter::Polars, "plain, in small pages");
        assert_eq!(writer(field(TRACE_HI, ArrowDataType::UInt64)), PageWriter::Polars);
        let list = ArrowDataType::LargeList(Box::new(field("item", ArrowDataType::Struct(vec![]))));
        assert_eq!(writer(field(ANNOTATIONS, list)), PageWriter::List);
    }
}
