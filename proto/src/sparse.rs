//! [`Sparse`]: a part of a row that most rows leave empty, kept in a box only when it is not.
//!
//! A row is moved several times on its way into the store (into the batch, into recent data,
//! into the flush's order), and every pass of a flush walks it: a 216-byte summary that most
//! rows leave empty made a third of each row's bytes (`BENCHMARKS.md`).

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value with an empty state that a `&'static` can point at.
pub trait Empty: Default + PartialEq + 'static {
    const EMPTY: &'static Self;
}

/// Reads as a `T` (the empty one when nothing is held) and allocates on the first write through
/// `DerefMut`. Serialized as the `T` itself, so the encoding is the same as an inline `T`'s.
#[derive(Clone, Default)]
pub struct Sparse<T>(Option<Box<T>>);

impl<T: Empty> Sparse<T> {
    /// Whether a box is held (an emptied one still counts).
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Empty> From<T> for Sparse<T> {
    fn from(value: T) -> Self {
        Sparse((value != *T::EMPTY).then(|| Box::new(value)))
    }
}

impl<T: Empty> Deref for Sparse<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or(T::EMPTY)
    }
}

impl<T: Empty> DerefMut for Sparse<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: Empty> PartialEq for Sparse<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Empty + fmt::Debug> fmt::Debug for Sparse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Empty + Serialize> Serialize for Sparse<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de, T: Empty + Deserialize<'de>> Deserialize<'de> for Sparse<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Sparse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{AwsSummary, SpanRow};

    #[test]
    fn empty_values_hold_no_box_and_read_as_empty() {
        let empty = Sparse::from(AwsSummary::default());
        assert!(!empty.is_allocated());
        assert_eq!(empty.operation, None);
        let mut written = empty.clone();
        written.operation = Some("PutItem".into());
        assert!(written.is_allocated());
        assert_eq!(written.operation.as_deref(), Some("PutItem"));
        assert_ne!(written, empty);
        assert_eq!(Sparse::from(AwsSummary::default()), { Sparse::<AwsSummary>(Some(Box::default())) });
    }

    #[test]
    fn encodes_as_the_value_itself() {
        let summary =
            AwsSummary { operation: Some("Scan".into()), region: Some("us-east-1".into()), ..Default::default() };
        for value in [summary, AwsSummary::default()] {
            let inline = postcard::to_allocvec(&value).unwrap();
            let sparse = Sparse::from(value.clone());
            assert_eq!(postcard::to_allocvec(&sparse).unwrap(), inline);
            assert_eq!(postcard::from_bytes::<Sparse<AwsSummary>>(&inline).unwrap(), sparse);
        }
    }

    /// Rows are moved several times each on the way into the store and walked by every pass of
    /// a flush: the rarely set parts stay out of line.
    #[test]
    fn rows_stay_small() {
        assert!(std::mem::size_of::<SpanRow>() <= 400, "{} bytes", std::mem::size_of::<SpanRow>());
    }
}
