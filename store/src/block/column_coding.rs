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
//! Every other column is written as polars writes it.

use std::io::Write;

use polars::prelude::*;
use polars_parquet::parquet::error::ParquetError;
use polars_parquet::write::{
    array_to_columns, schema_to_metadata_key, CompressionOptions, Compressor, DynIter, DynStreamingIterator, Encoding,
    FallibleStreamingIterator, FileWriter, KeyValue, ParquetType, StatisticsOptions, Version, WriteOptions,
};

use crate::columns::{DOCUMENT, END_US, START_US};
use crate::error::{polars_error, Result};

/// Integer columns whose successive values are close, and which every query reads:
/// delta-encoded, not compressed.
const DELTA_COLUMNS: [&str; 2] = [START_US, END_US];

/// The codec of every other column.
const COMPRESSION: CompressionOptions = CompressionOptions::Zstd(None);

/// Data pages of the raw documents: a trace lookup decompresses only the pages holding its
/// rows, so small pages keep it from decompressing a row group's worth of documents.
pub(super) const DOCUMENT_PAGE_BYTES: usize = 128 * 1024;

/// One column's encoding (one entry per Parquet leaf), codec and data page size (`None`:
/// polars' default, 1 MiB).
#[derive(Debug, Clone)]
struct ColumnCoding {
    encodings: Vec<Encoding>,
    compression: CompressionOptions,
    page_bytes: Option<usize>,
}

impl ColumnCoding {
    fn of(field: &ArrowField) -> Self {
        let integer = matches!(field.dtype, ArrowDataType::Int64 | ArrowDataType::UInt64);
        if integer && DELTA_COLUMNS.contains(&field.name.as_str()) {
            return ColumnCoding {
                encodings: vec![Encoding::DeltaBinaryPacked],
                compression: CompressionOptions::Uncompressed,
                page_bytes: None,
            };
        }
        if field.name.as_str() == DOCUMENT {
            // Documents are unique, but most rows have none, so polars' distinct-ratio test
            // would put them all in one dictionary page that every lookup decompresses whole.
            return ColumnCoding {
                encodings: vec![Encoding::Plain],
                compression: COMPRESSION,
                page_bytes: Some(DOCUMENT_PAGE_BYTES),
            };
        }
        ColumnCoding {
            encodings: polars_parquet::write::get_dtype_encoding(&field.dtype),
            compression: COMPRESSION,
            page_bytes: None,
        }
    }
}

/// Writes frames of one schema as row groups of a Parquet file, each column coded as
/// [`ColumnCoding::of`] says.
pub(super) struct BlockWriter<W: Write> {
    writer: FileWriter<W>,
    fields: Vec<ParquetType>,
    codings: Vec<ColumnCoding>,
    options: WriteOptions,
}

impl<W: Write> BlockWriter<W> {
    pub(super) fn new(out: W, schema: &Schema) -> Result<Self> {
        let schema = schema.to_arrow(CompatLevel::newest());
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: COMPRESSION,
            data_page_size: None,
        };
        let codings = schema.iter_values().map(ColumnCoding::of).collect();
        let writer = FileWriter::try_new(out, schema, options).map_err(polars_error)?;
        let fields = writer.parquet_schema().fields().to_vec();
        Ok(BlockWriter { writer, fields, codings, options })
    }

    /// Writes the frame as one row group.
    pub(super) fn write_row_group(&mut self, frame: &DataFrame) -> Result<()> {
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
            let options = WriteOptions { data_page_size: coding.page_bytes, ..self.options };
            let pages = array_to_columns(array, field.clone(), options, &coding.encodings).map_err(polars_error)?;
            columns.extend(pages.into_iter().map(|pages| Ok(compressed(pages, coding.compression))));
        }
        self.writer.write(batch.len() as u64, DynIter::new(columns.into_iter())).map_err(polars_error)
    }

    /// Ends the file with this key-value metadata beside the Arrow schema polars reads back.
    pub(super) fn finish(mut self, metadata: KeyValue) -> Result<()> {
        let arrow_schema = schema_to_metadata_key(self.writer.schema());
        self.writer.end(Some(vec![arrow_schema, metadata])).map(drop).map_err(polars_error)
    }
}

/// A column's pages, compressed with `compression` as they are written.
fn compressed(
    pages: DynIter<'static, PolarsResult<polars_parquet::write::Page>>,
    compression: CompressionOptions,
) -> DynStreamingIterator<'static, polars_parquet::write::CompressedPage, PolarsError> {
    let pages = pages.map(|page| page.map_err(|error| ParquetError::FeatureNotSupported(error.to_string())));
    DynStreamingIterator::new(Compressor::new_from_vec(pages, compression, Vec::new()).map_err(PolarsError::from))
}
