//! Trace ids and segment ids as small `Copy` values.
//!
//! - An X-Ray trace id is `1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY`: version `1`, the trace's start
//!   time as 8 hex digits of epoch seconds, then 96 random bits as 24 hex digits.
//! - A W3C trace id (`traceparent`) is the same 128 bits as 32 hex digits, so the conversion is
//!   lossless both ways: `1-5759e988-bd862e3fe1be46a994272793` is `5759e988bd862e3fe1be46a994272793`.
//! - Segment, subsegment and exception ids are 64 bits written as 16 hex digits; the same value
//!   is a W3C span id.
//!
//! Upper-case hex is accepted and normalised to lower case, as every SDK writes lower case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::IdError;

/// A 128-bit trace id, stored as its W3C bytes: the first 4 bytes are X-Ray's epoch seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TraceId([u8; 16]);

/// A 64-bit segment, subsegment or span id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SegmentId(u64);

impl TraceId {
    /// Builds a trace id from the epoch seconds X-Ray embeds and 96 random bits.
    pub fn new(epoch_seconds: u32, random: [u8; 12]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&epoch_seconds.to_be_bytes());
        bytes[4..].copy_from_slice(&random);
        TraceId(bytes)
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        TraceId(bytes)
    }

    /// The W3C / OTLP byte form.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    pub fn as_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The first and last 8 bytes, big-endian: the store's `trace_hi` and `trace_lo` columns,
    /// two integers that group and join cheaply (`trace_hi` leads with X-Ray's epoch seconds).
    pub fn halves(self) -> (u64, u64) {
        let value = self.as_u128();
        ((value >> 64) as u64, value as u64)
    }

    /// The id from its [`halves`](Self::halves).
    pub fn from_halves(hi: u64, lo: u64) -> Self {
        TraceId::from_bytes(((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes())
    }

    /// The epoch seconds in the first 8 hex digits. For ids that came from W3C trace ids this
    /// is whatever the random generator produced, not a time.
    pub fn epoch_seconds(self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// Parses `1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY`.
    pub fn parse_xray(text: &str) -> Result<Self, IdError> {
        let rest = text.strip_prefix("1-").ok_or(IdError::TraceIdVersion)?;
        let (time, random) = match rest.split_once('-') {
            Some((time, random)) => (time, random),
            None => (rest, ""),
        };
        let mut bytes = [0u8; 16];
        if time.len() != 8 || !decode_hex(time, &mut bytes[..4]) {
            return Err(IdError::TraceIdTime);
        }
        if random.len() != 24 || !decode_hex(random, &mut bytes[4..]) {
            return Err(IdError::TraceIdRandom);
        }
        Ok(TraceId(bytes))
    }

    /// Parses a W3C trace id: 32 hex digits, not all zero.
    pub fn parse_w3c(text: &str) -> Result<Self, IdError> {
        let mut bytes = [0u8; 16];
        if text.len() != 32 || !decode_hex(text, &mut bytes) || bytes == [0u8; 16] {
            return Err(IdError::W3cTraceId);
        }
        Ok(TraceId(bytes))
    }

    /// The 32-hex-digit W3C form.
    pub fn to_w3c(self) -> String {
        encode_hex(&self.0)
    }
}

impl SegmentId {
    pub fn new(value: u64) -> Self {
        SegmentId(value)
    }

    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        SegmentId(u64::from_be_bytes(bytes))
    }

    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Parses exactly 16 hex digits.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let mut bytes = [0u8; 8];
        if text.len() != 16 || !decode_hex(text, &mut bytes) {
            return Err(IdError::SegmentId);
        }
        Ok(SegmentId::from_bytes(bytes))
    }
}

/// Decodes `text`, twice as long as `out`, into `out` two digits a byte; `false` if a character
/// is no hex digit. One pass with a table and no branch per digit: every entity's ids are
/// decoded as it is read, and checking them first, then decoding them digit by digit cost ~0.6k
/// instructions per PetAdoptions document (`ingest_parse`, callgrind).
fn decode_hex(text: &str, out: &mut [u8]) -> bool {
    debug_assert_eq!(text.len(), out.len() * 2);
    let mut seen = 0;
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let (high, low) = (HEX_VALUES[usize::from(pair[0])], HEX_VALUES[usize::from(pair[1])]);
        seen |= high | low;
        *byte = (high << 4) | (low & 0xf);
    }
    seen < 16
}

/// Marks a character that is no hex digit in [`HEX_VALUES`]: above any digit's value, so it
/// shows in the values or'ed together.
const NOT_HEX: u8 = 0xff;

/// Each byte's value as a hex digit, either case, or [`NOT_HEX`].
static HEX_VALUES: [u8; 256] = {
    let mut values = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 16 {
        values[HEX_DIGITS[digit] as usize] = digit as u8;
        values[HEX_DIGITS[digit].to_ascii_uppercase() as usize] = digit as u8;
        digit += 1;
    }
    values
};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn encode_hex(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    write_hex(bytes, &mut text);
    String::from_utf8(text).unwrap_or_default()
}

/// `bytes` as lowercase hex into `out`, which is twice as long.
fn write_hex(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0xf)];
    }
}

/// Text written here: hex digits and dashes, ASCII, so the conversion cannot fail (it would
/// give an empty text rather than a panic).
fn ascii_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl TraceId {
    /// The X-Ray form in a buffer on the stack: ids are formatted for every span the
    /// write-ahead log encodes, where `format!` machinery and a `String` each cost more than the
    /// digits.
    fn xray_form(&self) -> [u8; 35] {
        let mut text = [b'-'; 35];
        text[0] = b'1';
        write_hex(&self.0[..4], &mut text[2..10]);
        write_hex(&self.0[4..], &mut text[11..]);
        text
    }
}

impl SegmentId {
    /// 16 lowercase hex digits in a buffer on the stack (see [`TraceId::xray_form`]).
    fn hex_form(&self) -> [u8; 16] {
        let mut text = [0; 16];
        write_hex(&self.0.to_be_bytes(), &mut text);
        text
    }
}

impl fmt::Display for TraceId {
    /// The X-Ray form, `1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii_text(&self.xray_form()))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii_text(&self.hex_form()))
    }
}

impl fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentId({self})")
    }
}

impl FromStr for TraceId {
    type Err = IdError;

    /// Accepts the X-Ray form and the W3C form.
    fn from_str(text: &str) -> Result<Self, IdError> {
        if text.len() == 32 && !text.contains('-') {
            Self::parse_w3c(text)
        } else {
            Self::parse_xray(text)
        }
    }
}

impl FromStr for SegmentId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        Self::parse(text)
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ascii_text(&self.xray_form()))
    }
}

impl Serialize for SegmentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ascii_text(&self.hex_form()))
    }
}

impl<'de> Deserialize<'de> for TraceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        TraceId::parse_xray(&text)
            .map_err(|error| serde::de::Error::custom(format!("{:?} is not a valid trace id ({error})", text)))
    }
}

impl<'de> Deserialize<'de> for SegmentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        SegmentId::parse(&text)
            .map_err(|error| serde::de::Error::custom(format!("{:?} is not a valid id ({error})", text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_the_epoch_half_and_the_random_half() {
        let id = TraceId::parse_xray("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(id.halves(), (0x5759_e988_bd86_2e3f, 0xe1be_46a9_9427_2793));
        assert_eq!(TraceId::from_halves(0x5759_e988_bd86_2e3f, 0xe1be_46a9_9427_2793), id);
    }

    #[test]
    fn xray_and_w3c_forms_are_the_same_bits() {
        let id = TraceId::parse_xray("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(id.to_w3c(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(id.epoch_seconds(), 0x5759e988);
        assert_eq!(TraceId::parse_w3c("5759e988bd862e3fe1be46a994272793").unwrap(), id);
        assert_eq!(id.to_string(), "1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn ids_serialize_as_their_text_forms() {
        let trace = TraceId::parse_xray("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        let segment = SegmentId::new(0x0000_0fed_cba9_8765);
        assert_eq!(serde_json::to_string(&trace).unwrap(), r#""1-5759e988-bd862e3fe1be46a994272793""#);
        assert_eq!(serde_json::to_string(&segment).unwrap(), r#""00000fedcba98765""#, "zero-padded");
        assert_eq!(segment.to_string(), "00000fedcba98765");
    }

    #[test]
    fn upper_case_hex_is_normalised() {
        let id = SegmentId::parse("53995C3F42CD8AD8").unwrap();
        assert_eq!(id.to_string(), "53995c3f42cd8ad8");
    }

    #[test]
    fn every_byte_but_a_hex_digit_is_refused_anywhere_in_an_id() {
        for byte in 0..=u8::MAX {
            for at in [0, 7, 15] {
                let mut text = *b"53995c3f42cd8ad8";
                text[at] = byte;
                let parsed = std::str::from_utf8(&text).map(|text| SegmentId::parse(text).is_ok());
                assert_eq!(parsed.unwrap_or(false), byte.is_ascii_hexdigit(), "{byte:#x} at {at}");
            }
        }
    }

    #[test]
    fn each_malformed_part_has_its_own_error() {
        assert_eq!(TraceId::parse_xray("2-5759e988-bd862e3fe1be46a994272793"), Err(IdError::TraceIdVersion));
        assert_eq!(TraceId::parse_xray("1-zz59e988-bd862e3fe1be46a994272793"), Err(IdError::TraceIdTime));
        assert_eq!(TraceId::parse_xray("1-5759e988-bd862e3fe1be46a99427279"), Err(IdError::TraceIdRandom));
        assert_eq!(TraceId::parse_w3c(&"0".repeat(32)), Err(IdError::W3cTraceId));
        assert_eq!(SegmentId::parse("53995c3f42cd8ad"), Err(IdError::SegmentId));
        // Multi-byte characters must not be sliced mid-way.
        assert_eq!(SegmentId::parse("53995c3f42cd8aé"), Err(IdError::SegmentId));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn xray_and_w3c_forms_convert_both_ways(
            bytes in any::<[u8; 16]>().prop_filter("an all-zero W3C trace id is invalid", |bytes| *bytes != [0; 16])
        ) {
            let id = TraceId::from_bytes(bytes);
            prop_assert_eq!(TraceId::parse_w3c(&id.to_w3c()), Ok(id));
            prop_assert_eq!(TraceId::parse_xray(&id.to_string()), Ok(id));
            let w3c_via_xray = TraceId::parse_xray(&id.to_string()).map(TraceId::to_w3c);
            prop_assert_eq!(w3c_via_xray, Ok(id.to_w3c()));
            prop_assert_eq!(id.to_string().parse::<TraceId>(), Ok(id));
            prop_assert_eq!(id.to_w3c().parse::<TraceId>(), Ok(id));
        }

        #[test]
        fn xray_form_round_trips_for_every_id(bytes in any::<[u8; 16]>()) {
            let id = TraceId::from_bytes(bytes);
            prop_assert_eq!(TraceId::parse_xray(&id.to_string()), Ok(id));
        }

        #[test]
        fn segment_id_round_trips_through_its_text(value in any::<u64>()) {
            let id = SegmentId::new(value);
            prop_assert_eq!(SegmentId::parse(&id.to_string()), Ok(id));
            prop_assert_eq!(SegmentId::from_bytes(id.to_bytes()), id);
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = TraceId::parse_xray(&text);
            let _ = TraceId::parse_w3c(&text);
            let _ = text.parse::<TraceId>();
            let _ = SegmentId::parse(&text);
        }
    }
}
