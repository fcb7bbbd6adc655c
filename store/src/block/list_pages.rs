//! Data pages of the span list columns (`exceptions`, `annotations`), written here rather than
//! by polars' nested writer.
//!
//! polars encodes a nested leaf's repetition and definition levels with a generic iterator that
//! walks every level of every row, three times per leaf (counting, repetition, definition);
//! for the seven leaves of the two lists that was ~5 % of the server's samples under UDP load,
//! for lists that are mostly empty. Their shape is fixed — a `required` list of a `required`
//! struct of optional scalars — so the levels are plain to write from the list's offsets and
//! each leaf's validity:
//! - a row with an empty list is one slot: repetition 0, definition 0;
//! - a row with `n` elements is `n` slots: repetition 0 then 1s, definition 2 for a value
//!   and 1 for a null field.
//!
//! Values are `PLAIN`, as polars writes nested leaves. Any other shape (a null list, a null
//! element, another leaf type) returns `None` and is written by polars.

use polars::prelude::ArrowDataType;
use polars_arrow::array::{Array, BooleanArray, ListArray, PrimitiveArray, StructArray, Utf8ViewArray};
use polars_arrow::bitmap::Bitmap;
use polars_parquet::parquet::encoding::hybrid_rle::bitpacked_encode;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::statistics::ParquetStatistics;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{to_parquet_leaves, Encoding, Page, ParquetType};

use super::rle_hybrid::levels_v1;

/// Bits per level: repetition levels go to 1, definition levels to 2.
const REPETITION_BITS: u32 = 1;
const DEFINITION_BITS: u32 = 2;

/// One page per leaf of a list column in one row group, or `None` for a shape this does not
/// write (polars then writes the column).
pub(super) fn list_leaf_pages(array: &dyn Array, field: &ParquetType) -> Option<Vec<Page>> {
    let list = array.as_any().downcast_ref::<ListArray<i64>>()?;
    let elements = list.values().as_any().downcast_ref::<StructArray>()?;
    if list.validity().is_some() || elements.validity().is_some() {
        return None;
    }
    let lengths: Vec<usize> = list.offsets().lengths().collect();
    let slots: usize = lengths.iter().map(|length| (*length).max(1)).sum();
    let repetition = levels_v1(REPETITION_BITS, repetition_levels(&lengths))?;
    let leaves = to_parquet_leaves(field.clone());
    // The levels written below hold for optional leaves (definition 2 for a value) only.
    let optional = leaves.iter().all(|leaf| leaf.field_info.repetition == Repetition::Optional);
    if leaves.len() != elements.values().len() || !optional {
        return None;
    }
    let mut pages = Vec::with_capacity(leaves.len());
    for (values, leaf) in elements.values().iter().zip(leaves) {
        let values = values.sliced(list.offsets().first().to_owned() as usize, list.offsets().range() as usize);
        let mut buffer = repetition.clone();
        let definition = definition_levels(&lengths, values.validity());
        buffer.extend(levels_v1(DEFINITION_BITS, definition)?);
        plain_values(values.as_ref(), &mut buffer)?;
        let header = DataPageHeaderV1 {
            num_values: i32::try_from(slots).ok()?,
            encoding: Encoding::Plain.into(),
            definition_level_encoding: Encoding::Rle.into(),
            repetition_level_encoding: Encoding::Rle.into(),
            // The writer wants statistics on every page when the file has them; a leaf's values
            // are never used to skip a row group, so its null count alone.
            statistics: Some(null_count_only(values.null_count())),
        };
        // As polars' own pages: the writer takes the levels from the schema, not from here.
        let descriptor = Descriptor { primitive_type: leaf, max_def_level: 0, max_rep_level: 0 };
        let page = DataPage::new(DataPageHeader::V1(header), CowBuffer::Owned(buffer), descriptor, lengths.len());
        pages.push(Page::Data(page));
    }
    Some(pages)
}

fn null_count_only(nulls: usize) -> ParquetStatistics {
    let none = None::<Vec<u8>>;
    ParquetStatistics::new(none.clone(), none.clone(), Some(nulls as i64), None, none.clone(), none, None, None)
}

fn repetition_levels(lengths: &[usize]) -> impl Iterator<Item = u32> + '_ {
    lengths.iter().flat_map(|length| std::iter::once(0).chain(std::iter::repeat_n(1, length.saturating_sub(1))))
}

fn definition_levels<'a>(lengths: &'a [usize], validity: Option<&'a Bitmap>) -> impl Iterator<Item = u32> + 'a {
    let mut element = 0;
    lengths.iter().flat_map(move |length| {
        let first = element;
        element += length;
        let levels = (first..first + length).map(move |index| match validity {
            Some(validity) if !validity.get_bit(index) => 1,
            _ => 2,
        });
        (*length == 0).then_some(0).into_iter().chain(levels)
    })
}

/// The non-null values, `PLAIN`: strings with a 4-byte length, doubles as 8 bytes, booleans one
/// bit each from the lowest.
fn plain_values(values: &dyn Array, buffer: &mut Vec<u8>) -> Option<()> {
    match values.dtype() {
        ArrowDataType::Utf8View => {
            for text in values.as_any().downcast_ref::<Utf8ViewArray>()?.non_null_values_iter() {
                buffer.extend_from_slice(&u32::try_from(text.len()).ok()?.to_le_bytes());
                buffer.extend_from_slice(text.as_bytes());
            }
        }
        ArrowDataType::Float64 => {
            let numbers = values.as_any().downcast_ref::<PrimitiveArray<f64>>()?;
            numbers.non_null_values_iter().for_each(|number| buffer.extend_from_slice(&number.to_le_bytes()));
        }
        ArrowDataType::Boolean => {
            let flags = values.as_any().downcast_ref::<BooleanArray>()?;
            bitpacked_encode(buffer, flags.non_null_values_iter()).ok()?;
        }
        _ => return None,
    }
    Some(())
}
