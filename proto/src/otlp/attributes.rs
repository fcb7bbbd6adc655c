//! Attribute lookup, shared by every mapping and by events and resources.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

/// A span's, event's or resource's attributes, looked up by key. Lists are short (tens of
/// entries), so a linear scan beats building a map per span. The first of duplicate keys wins.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attributes<'a>(pub(super) &'a [KeyValue]);

impl<'a> Attributes<'a> {
    pub(super) fn value(self, key: &str) -> Option<&'a Value> {
        self.0.iter().find(|pair| pair.key == key)?.value.as_ref()?.value.as_ref()
    }

    pub(super) fn has_any(self, keys: &[&str]) -> bool {
        keys.iter().any(|key| self.value(key).is_some())
    }

    /// A non-empty string value; an empty string says nothing worth keeping.
    pub(super) fn str(self, key: &str) -> Option<&'a str> {
        match self.value(key)? {
            Value::StringValue(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    pub(super) fn first_str(self, keys: &[&str]) -> Option<&'a str> {
        keys.iter().find_map(|key| self.str(key))
    }

    /// An integer, also when sent as a decimal string or a whole double (SDKs differ).
    fn int(self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::IntValue(number) => Some(*number),
            Value::StringValue(text) => text.trim().parse().ok(),
            Value::DoubleValue(number) if number.fract() == 0.0 && number.abs() < 1e15 => Some(*number as i64),
            _ => None,
        }
    }

    pub(super) fn first_int(self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|key| self.int(key))
    }

    /// A port as text, from an integer or a string attribute.
    pub(super) fn first_port(self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| match self.value(key)? {
            Value::IntValue(port) => Some(port.to_string()),
            Value::StringValue(port) if !port.is_empty() => Some(port.clone()),
            _ => None,
        })
    }
}

pub(super) fn string_of(value: &AnyValue) -> Option<&str> {
    match value.value.as_ref()? {
        Value::StringValue(text) if !text.is_empty() => Some(text),
        _ => None,
    }
}

pub(super) fn owned<T: for<'a> From<&'a str>>(text: Option<&str>) -> Option<T> {
    text.map(T::from)
}
