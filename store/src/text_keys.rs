//! Text columns as keys: each row of a scan's text column as a dense key into the column's
//! distinct values ([`KeyedText`]), for queries that compare and group strings but rarely
//! print them (the service graph).
//!
//! A block's text columns are dictionary-encoded, and a row group's dictionary holds a few
//! dozen values: read as keys (`block::key_pages`), each dictionary entry is looked up once
//! and each row costs a 4-byte key, where polars' reader builds a 16-byte string view per row
//! and the query then hashes or compares each row's string again. Recent data and columns
//! polars has already read come in as strings and are keyed through a cache of their views
//! ([`crate::view_keys::ViewKeys`]).

use polars::prelude::*;
use polars_arrow::array::Array;

use crate::view_keys::ViewKeys;

/// The key of a null row.
pub const NO_KEY: u32 = u32::MAX;

/// A column's distinct values, each with a dense key (0, 1, … in order of first sight).
#[derive(Debug, Default, Clone)]
pub struct TextValues {
    values: Vec<String>,
    keys: PlHashMap<String, u32>,
}

impl TextValues {
    /// The key of `value`, given a new one when it is new.
    pub fn key(&mut self, value: &str) -> u32 {
        if let Some(key) = self.keys.get(value) {
            return *key;
        }
        let key = self.values.len() as u32;
        self.values.push(value.to_owned());
        self.keys.insert(value.to_owned(), key);
        key
    }

    /// The value of a key; `None` for [`NO_KEY`].
    pub fn text(&self, key: u32) -> Option<&str> {
        self.values.get(key as usize).map(String::as_str)
    }

    /// Distinct values so far.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every value, by key.
    pub fn values(&self) -> &[String] {
        &self.values
    }
}

/// One text column of a scan: each row's key into `values`, [`NO_KEY`] for null.
#[derive(Debug, Default, Clone)]
pub struct KeyedText {
    pub values: TextValues,
    pub keys: Vec<u32>,
}

impl KeyedText {
    /// The keys of a column polars has read, chunk by chunk (each chunk's views cached apart:
    /// views of different arrays may point at different bytes).
    pub fn from_strings(column: &StringChunked) -> KeyedText {
        let mut keyed = KeyedText { values: TextValues::default(), keys: Vec::with_capacity(column.len()) };
        keyed.push_strings(column);
        keyed
    }

    /// Appends the keys of `column`'s rows.
    pub fn push_strings(&mut self, column: &StringChunked) {
        for array in column.downcast_iter() {
            let mut cache = ViewKeys::default();
            for (index, view) in array.views().iter().enumerate() {
                let key = match array.is_valid(index) {
                    true => cache.key(view, || self.values.key(array.value(index))),
                    false => NO_KEY,
                };
                self.keys.push(key);
            }
        }
    }

    /// The value of a row; `None` when null.
    pub fn get(&self, row: usize) -> Option<&str> {
        self.values.text(self.keys[row])
    }

    /// Keeps the rows whose `keep` is true, in order.
    pub fn retain_rows(&mut self, keep: &[bool]) {
        let mut flags = keep.iter();
        self.keys.retain(|_| flags.next().copied().unwrap_or(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_get_one_key_across_chunks_and_lengths() {
        let long = "AWS::ElasticBeanstalk::Environment";
        let mut values = StringChunked::new("s".into(), &[Some("petsite"), None, Some(long), Some("petsite")]);
        values.append(&StringChunked::new("s".into(), &[Some(long), Some("payforadoption"), Some(long)])).unwrap();
        assert_eq!(values.chunks().len(), 2, "the test needs views from two arrays");
        let keyed = KeyedText::from_strings(&values);
        assert_eq!(keyed.keys, vec![0, NO_KEY, 1, 0, 1, 2, 1]);
        assert_eq!((keyed.values.text(1), keyed.values.text(NO_KEY)), (Some(long), None));
        assert_eq!(keyed.values.len(), 3);
        let rows: Vec<Option<&str>> = (0..keyed.keys.len()).map(|row| keyed.get(row)).collect();
        assert_eq!(rows, values.iter().collect::<Vec<_>>());
    }
}
