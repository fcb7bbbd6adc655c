//! Columns built a value at a time ([`Numbers`], [`Flags`]) for frames the analyzer fills
//! itself, such as the trace frame: a validity bitmap is started only when the first null
//! arrives. Most such columns have none, and polars' builders pushed a validity bit for every
//! value (3 % of a latency histogram's time).

use polars::prelude::*;
use polars_arrow::array::BooleanArray;
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::datatypes::ArrowDataType;

/// Which of a column's values are valid, kept only once one is not.
#[derive(Debug, Default)]
struct Validity {
    bits: Option<MutableBitmap>,
}

impl Validity {
    /// Records whether the value after the first `before` is valid.
    #[inline(always)]
    fn push(&mut self, before: usize, valid: bool) {
        match &mut self.bits {
            Some(bits) => bits.push(valid),
            None if valid => {}
            None => self.start(before),
        }
    }

    /// Starts the bitmap at the first null, after `before` valid values.
    #[cold]
    fn start(&mut self, before: usize) {
        let mut bits = MutableBitmap::with_capacity(before + 1);
        bits.extend_constant(before, true);
        bits.push(false);
        self.bits = Some(bits);
    }

    fn finish(self) -> Option<Bitmap> {
        self.bits.map(Bitmap::from)
    }
}

/// A numeric column of type `T` being filled.
#[derive(Debug)]
pub(crate) struct Numbers<T: PolarsNumericType> {
    values: Vec<T::Native>,
    validity: Validity,
}

impl<T: PolarsNumericType> Numbers<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Numbers { values: Vec::with_capacity(capacity), validity: Validity::default() }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: Option<T::Native>) {
        self.validity.push(self.values.len(), value.is_some());
        self.values.push(value.unwrap_or_default());
    }

    pub(crate) fn finish(self, name: &str) -> Column {
        ChunkedArray::<T>::from_vec_validity(name.into(), self.values, self.validity.finish()).into_column()
    }
}

/// A boolean column being filled.
#[derive(Debug)]
pub(crate) struct Flags {
    values: MutableBitmap,
    validity: Validity,
}

impl Flags {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Flags { values: MutableBitmap::with_capacity(capacity), validity: Validity::default() }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: Option<bool>) {
        self.validity.push(self.values.len(), value.is_some());
        self.values.push(value.unwrap_or_default());
    }

    pub(crate) fn finish(self, name: &str) -> Column {
        let array = BooleanArray::new(ArrowDataType::Boolean, self.values.into(), self.validity.finish());
        BooleanChunked::with_chunk(name.into(), array).into_column()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_filled_a_value_at_a_time_equal_polars_own() {
        let numbers: Vec<Option<i64>> = vec![Some(3), Some(-1), None, Some(7), None];
        let flags: Vec<Option<bool>> = vec![Some(true), Some(false), Some(true), None, Some(false)];
        for take in [0, 2, 5] {
            let mut filled = Numbers::<Int64Type>::with_capacity(0);
            numbers[..take].iter().for_each(|value| filled.push(*value));
            let expected = Int64Chunked::new("n".into(), &numbers[..take]).into_column();
            assert!(filled.finish("n").equals_missing(&expected), "first {take} numbers");
            let mut filled = Flags::with_capacity(1);
            flags[..take].iter().for_each(|value| filled.push(*value));
            let expected = BooleanChunked::new("f".into(), &flags[..take]).into_column();
            assert!(filled.finish("f").equals_missing(&expected), "first {take} flags");
        }
        let mut all_valid = Numbers::<UInt64Type>::with_capacity(2);
        all_valid.push(Some(1));
        all_valid.push(Some(2));
        assert_eq!(all_valid.finish("v").null_count(), 0);
    }
}
