//! Data pages of a block's `document` column, written from the spans' documents rather than by
//! polars' writer from a string array.
//!
//! Through polars, a flush copied every document (~1.2 KB of a UDP document's ~1.5 KB of text)
//! into a string view array only for the plain encoder to copy it again into pages: ~1.8 % of
//! the server's CPU under UDP load. Here each document goes once from the span into its page.
//! The pages are what polars writes for the column: `PLAIN`, V1, definition levels (a bit per
//! row: 1 with a document), then each document's length (4 bytes, little-endian) and bytes, cut
//! into pages of about [`DOCUMENT_PAGE_BYTES`] so that a trace lookup decompresses only the
//! pages of its rows. Each page's statistics are polars' too (truncated least and greatest
//! document, null count): other readers skip pages by them (DuckDB answers `document IS NOT
//! NULL` from them).

use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1};
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{Encoding, Page, ParquetType};

use super::column_coding::DOCUMENT_PAGE_BYTES;
use super::dictionary_pages::{text_statistics, DEFINITION_BITS};
use super::rle_hybrid::levels_v1;

/// The document column's pages for one row group, a document (or none) per row, or `None`
/// when the column is not the optional leaf it is in a span block.
pub(super) fn document_pages(documents: &[Option<&str>], field: &ParquetType) -> Option<Vec<Page>> {
    let ParquetType::PrimitiveType(leaf) = field else { return None };
    if leaf.field_info.repetition != Repetition::Optional {
        return None;
    }
    let mut pages = Vec::new();
    let mut first = 0;
    while first < documents.len() || pages.is_empty() {
        let rows = rows_of_next_page(&documents[first..]);
        pages.push(page(&documents[first..first + rows], leaf)?);
        first += rows;
    }
    Some(pages)
}

/// How many of `documents` the next page holds: at least one, and rows until its values reach
/// [`DOCUMENT_PAGE_BYTES`].
fn rows_of_next_page(documents: &[Option<&str>]) -> usize {
    let mut bytes = 0;
    for (row, document) in documents.iter().enumerate() {
        if bytes >= DOCUMENT_PAGE_BYTES {
            return row;
        }
        bytes += document.map_or(0, |document| 4 + document.len());
    }
    documents.len()
}

fn page(documents: &[Option<&str>], leaf: &PrimitiveType) -> Option<Page> {
    let mut buffer = levels_v1(DEFINITION_BITS, documents.iter().map(|document| u32::from(document.is_some())))?;
    let values: usize = documents.iter().flatten().map(|document| 4 + document.len()).sum();
    buffer.reserve(values);
    for document in documents.iter().flatten() {
        buffer.extend_from_slice(&u32::try_from(document.len()).ok()?.to_le_bytes());
        buffer.extend_from_slice(document.as_bytes());
    }
    let nulls = documents.iter().filter(|document| document.is_none()).count();
    let (min, max) = (documents.iter().flatten().min().copied(), documents.iter().flatten().max().copied());
    let header = DataPageHeaderV1 {
        num_values: i32::try_from(documents.len()).ok()?,
        encoding: Encoding::Plain.into(),
        definition_level_encoding: Encoding::Rle.into(),
        repetition_level_encoding: Encoding::Rle.into(),
        statistics: Some(text_statistics(min, max, nulls)),
    };
    // As polars' own pages: the writer takes the levels from the schema, not from here.
    let descriptor = Descriptor { primitive_type: leaf.clone(), max_def_level: 0, max_rep_level: 0 };
    Some(Page::Data(DataPage::new(DataPageHeader::V1(header), CowBuffer::Owned(buffer), descriptor, documents.len())))
}
