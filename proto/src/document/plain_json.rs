//! Plain JSON read straight from the text: the common case of a segment document, driven
//! through the same visitors as serde_json, with serde_json reading everything else.
//!
//! - serde_json's reader was a quarter of ingest's instructions (its string scanning, number
//!   parsing and generic access calls: 22k of 88k a PetAdoptions document, `BENCHMARKS.md`).
//!   SDKs send compact JSON, and that is read here for less.
//! - *Plain* means: valid JSON; integers of at most 18 digits (they fit
//!   `u64` and `i64` alike), and floats (with a fraction or an exponent) that are finite and at
//!   most [`MAX_NUMBER_BYTES`] long; keys that do not start with `$` (serde_json's private
//!   tokens); nesting at most [`MAX_PLAIN_DEPTH`]. Anything else, syntax errors included, is
//!   [`NotPlain`], and the caller reads the document again with serde_json, which words every
//!   error: a document is refused with the same text either way.
//! - What the visitors see is what serde_json would hand them for the same text: strings
//!   borrowed, or decoded when they hold escapes (a lone surrogate is left to serde_json, which
//!   refuses it), `u64` for non-negative integers, `i64` for negative ones, `f64` for the rest (`-0`
//!   included) rounded correctly (serde_json's `float_roundtrip` and Rust's `f64::from_str` both
//!   round to nearest), `()` for `null`. Their problems (a wrong type, a missing field) are
//!   theirs, not this reader's, so they come out the same. The tests hold both readers equal.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Longer numbers are left to serde_json: no document time or count needs more.
const MAX_NUMBER_BYTES: usize = 32;
/// Integers up to this many digits fit `u64` and `i64` without overflow.
const MAX_INTEGER_DIGITS: usize = 18;
/// Deeper nesting is left to serde_json, which names its own limit (128).
const MAX_PLAIN_DEPTH: usize = 64;

/// The text is not plain JSON (or not JSON): read it with serde_json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotPlain;

impl fmt::Display for NotPlain {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("not plain JSON")
    }
}

impl std::error::Error for NotPlain {}

impl serde::de::Error for NotPlain {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotPlain
    }
}

/// Reads the whole of `text` as one value with `seed`.
pub(super) fn read_plain<'de, S: DeserializeSeed<'de>>(text: &'de str, seed: S) -> Result<S::Value, NotPlain> {
    let mut json = PlainJson { text, at: 0, depth: 0 };
    let value = seed.deserialize(&mut json)?;
    json.skip_whitespace();
    if json.at != text.len() {
        return Err(NotPlain);
    }
    Ok(value)
}

/// A cursor over the text.
struct PlainJson<'de> {
    text: &'de str,
    at: usize,
    depth: usize,
}

impl<'de> PlainJson<'de> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace. SDKs send compact JSON: the next byte is the token.
    #[inline]
    fn next_token(&mut self) -> Result<u8, NotPlain> {
        match self.peek() {
            Some(byte) if byte > b' ' => Ok(byte),
            _ => {
                self.skip_whitespace();
                self.peek().ok_or(NotPlain)
            }
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), NotPlain> {
        if self.next_token()? != byte {
            return Err(NotPlain);
        }
        self.at += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str) -> Result<(), NotPlain> {
        if !self.text[self.at..].starts_with(word) {
            return Err(NotPlain);
        }
        self.at += word.len();
        Ok(())
    }

    /// A string's text, the cursor on its opening quote: borrowed from the document unless it
    /// holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'de, str>, NotPlain> {
        let start = self.at + 1;
        let stop = start + text_length(&self.text.as_bytes()[start..])?;
        if self.text.as_bytes()[stop] != b'"' {
            return self.escaped_string(start, stop).map(Cow::Owned);
        }
        self.at = stop + 1;
        // Both ends are ASCII bytes of valid UTF-8: always character boundaries.
        self.text.get(start..stop).map(Cow::Borrowed).ok_or(NotPlain)
    }

    /// The rest of a string from its first escape at `stop`, decoded.
    #[cold]
    fn escaped_string(&mut self, start: usize, mut stop: usize) -> Result<String, NotPlain> {
        let (text, bytes) = (self.text, self.text.as_bytes());
        let mut decoded = String::with_capacity(stop - start + 16);
        decoded.push_str(text.get(start..stop).ok_or(NotPlain)?);
        loop {
            match bytes[stop] {
                b'"' => {
                    self.at = stop + 1;
                    return Ok(decoded);
                }
                b'\\' => {
                    let after = unescape(bytes, stop + 1, &mut decoded)?;
                    let run = after + text_length(&bytes[after..])?;
                    decoded.push_str(text.get(after..run).ok_or(NotPlain)?);
                    stop = run;
                }
                _ => return Err(NotPlain),
            }
        }
    }

    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, NotPlain> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let negative = bytes[start] == b'-';
        let digits_start = start + usize::from(negative);
        let mut at = digits_start;
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at = skip_digits(bytes, at),
            _ => return Err(NotPlain),
        }
        let integer_end = at;
        if bytes.get(at) == Some(&b'.') {
            at = required_digits(bytes, at + 1)?;
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            at = required_digits(bytes, at)?;
        }
        self.at = at;
        if at - start > MAX_NUMBER_BYTES {
            return Err(NotPlain);
        }
        if at != integer_end {
            let value: f64 = self.text[start..at].parse().map_err(|_| NotPlain)?;
            return if value.is_finite() { visitor.visit_f64(value) } else { Err(NotPlain) };
        }
        let digits = &bytes[digits_start..integer_end];
        if digits.len() > MAX_INTEGER_DIGITS {
            return Err(NotPlain);
        }
        let magnitude = digits.iter().fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'));
        match (negative, magnitude) {
            (false, _) => visitor.visit_u64(magnitude),
            // serde_json reads `-0` as a float.
            (true, 0) => visitor.visit_f64(-0.0),
            (true, _) => visitor.visit_i64(-(magnitude as i64)),
        }
    }

    /// Moves past the comma before an object's or array's next item; `false` at its `close`,
    /// which is left for [`PlainJson::nested`].
    #[inline]
    fn next_item(&mut self, first: &mut bool, close: u8) -> Result<bool, NotPlain> {
        match self.next_token()? {
            byte if byte == close => return Ok(false),
            b',' if !*first => self.at += 1,
            _ if *first => {}
            _ => return Err(NotPlain),
        }
        *first = false;
        Ok(true)
    }

    fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T, NotPlain>, close: u8) -> Result<T, NotPlain> {
        self.depth += 1;
        if self.depth > MAX_PLAIN_DEPTH {
            return Err(NotPlain);
        }
        self.at += 1;
        let value = read(self)?;
        self.expect(close)?;
        self.depth -= 1;
        Ok(value)
    }
}

fn skip_digits(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

/// Skips one or more digits: a fraction or an exponent without any is not JSON.
fn required_digits(bytes: &[u8], at: usize) -> Result<usize, NotPlain> {
    let end = skip_digits(bytes, at);
    if end == at {
        return Err(NotPlain);
    }
    Ok(end)
}

/// How far a string's text runs before its closing quote, an escape or a control character
/// (which JSON forbids in strings); `NotPlain` at the end of the text. Eight bytes at a time, by
/// the bit trick that finds a zero byte in a word, then byte by byte near the end of the text.
/// Inlined into its callers: called, its setup was half its cost on strings of ~12 bytes (the
/// average here, keys included). Byte by byte through the table throughout took 4 % fewer
/// instructions but 4–7 % more time (`ingest_parse`, three interleaved rounds).
#[inline(always)]
fn text_length(bytes: &[u8]) -> Result<usize, NotPlain> {
    const ONES: u64 = u64::MAX / 255;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & (ONES << 7);
        if found != 0 {
            // The lowest flagged byte is exact; bytes above it may be flagged by a borrow.
            return Ok(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&byte| ENDS_PLAIN_TEXT[usize::from(byte)]).map(|end| at + end).ok_or(NotPlain)
}

/// Decodes the escape whose letter is at `at` onto `decoded`; where the text goes on after it.
fn unescape(bytes: &[u8], at: usize, decoded: &mut String) -> Result<usize, NotPlain> {
    let character = match bytes.get(at).ok_or(NotPlain)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unescape_unicode(bytes, at + 1, decoded),
        _ => return Err(NotPlain),
    };
    decoded.push(character);
    Ok(at + 1)
}

/// `\uXXXX`, or a surrogate pair of two; a lone surrogate is `NotPlain` (serde_json refuses it).
fn unescape_unicode(bytes: &[u8], at: usize, decoded: &mut String) -> Result<usize, NotPlain> {
    let first = hex_unit(bytes, at)?;
    let (code, after) = match first {
        0xD800..=0xDBFF => {
            if bytes.get(at + 4..at + 6) != Some(b"\\u") {
                return Err(NotPlain);
            }
            let second = hex_unit(bytes, at + 6)?;
            if !(0xDC00..=0xDFFF).contains(&second) {
                return Err(NotPlain);
            }
            (0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00), at + 10)
        }
        code => (code, at + 4),
    };
    decoded.push(char::from_u32(code).ok_or(NotPlain)?);
    Ok(after)
}

/// Four hex digits at `at`.
fn hex_unit(bytes: &[u8], at: usize) -> Result<u32, NotPlain> {
    let digits = bytes.get(at..at + 4).ok_or(NotPlain)?;
    digits.iter().try_fold(0, |unit, &digit| Ok(unit << 4 | char::from(digit).to_digit(16).ok_or(NotPlain)?))
}

/// The bytes that end a plain string's text: its quote, an escape, a control character.
const ENDS_PLAIN_TEXT: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

impl<'de> Deserializer<'de> for &mut PlainJson<'de> {
    type Error = NotPlain;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
        match self.next_token()? {
            b'{' => self.nested(|json| visitor.visit_map(Items { json, first: true }), b'}'),
            b'[' => self.nested(|json| visitor.visit_seq(Items { json, first: true }), b']'),
            b'"' => match self.string()? {
                Cow::Borrowed(text) => visitor.visit_borrowed_str(text),
                Cow::Owned(text) => visitor.visit_string(text),
            },
            b'-' | b'0'..=b'9' => self.number(visitor),
            b't' => self.literal("true").and_then(|()| visitor.visit_bool(true)),
            b'f' => self.literal("false").and_then(|()| visitor.visit_bool(false)),
            b'n' => self.literal("null").and_then(|()| visitor.visit_unit()),
            _ => Err(NotPlain),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// An object's entries or an array's elements; the closing brace or bracket is left for
/// [`PlainJson::nested`].
struct Items<'a, 'de> {
    json: &'a mut PlainJson<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Items<'_, 'de> {
    type Error = NotPlain;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, NotPlain> {
        if !self.json.next_item(&mut self.first, b'}')? {
            return Ok(None);
        }
        if self.json.next_token()? != b'"' {
            return Err(NotPlain);
        }
        let key = self.json.string()?;
        if key.starts_with('$') {
            return Err(NotPlain);
        }
        match key {
            Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some),
            Cow::Owned(key) => seed.deserialize(StringDeserializer::new(key)).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, NotPlain> {
        self.json.expect(b':')?;
        seed.deserialize(&mut *self.json)
    }
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = NotPlain;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, NotPlain> {
        if !self.json.next_item(&mut self.first, b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.json).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::marker::PhantomData;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// What this reader makes of `text` as a `Value`, or `None` when it leaves it to serde_json.
    fn plain_value(text: &str) -> Option<Value> {
        read_plain(text, PhantomData::<Value>).ok()
    }

    #[test]
    fn plain_json_reads_as_serde_json_does() {
        let texts = [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-2,"g":1.5,"h":-0,"i":0,"j":1e3,"k":-2.5E-3}"#,
            " { \"spaced\" :\t[ 1 ,\n2 ] , \"empty\" : { } , \"none\" : [ ] }\r\n",
            r#"[{"a":"é ünïcode ✓"},"x",7,123456789012345678,-123456789012345678]"#,
            r#"{"t":1733270400.125,"u":1733270400.1234567,"v":0.1,"w":5e-324,"x":1.7976931348623157e308}"#,
            r#"{"dup":1,"dup":2}"#,
            r#"{"escapes":"\"\\\/\b\f\n\r\t","unicode":"\u0041\u00e9\u2713\ud83d\ude00\u0000","key\u0021":1}"#,
            r#"["\n","a\nb","\\\\",  "ends with \"" , "\u00e9t\u00e9 and a long tail after the escapes"]"#,
            "\"top\"",
            "42",
            "null",
        ];
        for text in texts {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(plain_value(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn what_is_not_plain_is_left_to_serde_json() {
        let texts = [
            "{\"a\":\"control \u{1} character\"}",
            // Lone surrogates, which serde_json refuses, and escapes that are not JSON.
            r#""\ud83d""#,
            r#""\ud83d\u0041""#,
            r#""\ude00""#,
            r#""\ud83d\""#,
            r#""\x""#,
            r#""\u12g4""#,
            r#""\u+123""#,
            r#""\u12""#,
            r#""\"#,
            r#"{"\u0024x":1}"#,
            r#"{"$serde_json::private::RawValue":"1"}"#,
            "1234567890123456789",
            "1e400",
            "0.12345678901234567890123456789012345",
            // Not JSON at all: serde_json words the error.
            "{\"a\":1,}",
            "[1,]",
            "[,1]",
            "{,\"a\":1}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "1e+",
            "tru",
            "nul",
            "{\"a\":1} x",
            "\"unterminated",
            "{\"a\":",
            "[1",
            "",
            "   ",
            "'single'",
        ];
        for text in texts {
            assert_eq!(plain_value(text), None, "{text}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_plain_limit_is_left_to_serde_json() {
        let depth = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert!(plain_value(&depth(MAX_PLAIN_DEPTH)).is_some());
        assert_eq!(plain_value(&depth(MAX_PLAIN_DEPTH + 1)), None);
    }

    #[test]
    fn strings_are_scanned_to_their_quote_at_every_offset() {
        // Every position of the quote, the escape and the control character relative to the
        // eight-byte words, including the byte-by-byte tail at the end of the text.
        for length in 0..40 {
            let body = "ab✓cdefghijklmnopqrstuvwxyz0123456789ABCDEFG".chars().take(length).collect::<String>();
            let text = format!("[\"{body}\",1]");
            assert_eq!(plain_value(&text), serde_json::from_str(&text).ok(), "{text}");
            let escaped = format!("[\"{body}\\n{body}\",1]");
            assert_eq!(plain_value(&escaped), serde_json::from_str(&escaped).ok(), "{escaped}");
            let control = format!("[\"{body}\u{1f}\",1]");
            assert_eq!(plain_value(&control), None, "{control:?}");
        }
    }

    /// Documents of every shape: the Python SDK's captures, a PetAdoptions segment, and
    /// documents with problems the visitors find (wrong types, nulls, a missing field, repeated
    /// keys, unknown fields, an array of subsegments).
    fn documents() -> Vec<String> {
        let captures =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xray-python-sdk/documents.jsonl"));
        let ids =
            r#""trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1465510000.125,"end_time":1465510000.5"#;
        let mut documents: Vec<String> =
            captures.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect();
        documents.extend([
            format!(
                r#"{{"name":"checkout-api","id":"70de5b6f19ff9a0a",{ids},"origin":"AWS::ECS::Container","http":{{"request":{{"method":"POST","url":"https://checkout.example.com/api/orders","client_ip":"10.0.12.34","user_agent":"okhttp/4.12.0"}},"response":{{"status":200,"content_length":1234}}}},"annotations":{{"customer_tier":"gold","order_items":3,"vip":true,"ratio":0.5}},"aws":{{"ecs":{{"container":"checkout-7d9f"}},"xray":{{"sdk":"X-Ray for Python","sdk_version":"2.14.0"}}}},"subsegments":[{{"id":"53995c3f42cd8ad8","name":"DynamoDB","namespace":"aws","start_time":1465510000.2,"end_time":1465510000.3,"aws":{{"operation":"PutItem","table_name":"orders","region":"us-east-1","retries":0}},"http":{{"response":{{"status":200}}}}}},{{"id":"1c9b3d1e0f5a7c2b","name":"render","start_time":1465510000.3,"end_time":1465510000.4,"metadata":{{"default":{{"template":"receipt-v2","sizes":[1,2.5,-3,null]}}}},"fault":true,"cause":{{"exceptions":[{{"id":"0123456789abcdef","message":"boom","stack":[{{"path":"app.py","line":12,"label":"render"}}]}}]}}}}]}}"#
            ),
            format!(r#"{{"name":"a","id":"70de5b6f19ff9a0a",{ids},"http":{{"response":{{"status":"200"}}}}}}"#),
            format!(r#"{{"name":"a","id":"70de5b6f19ff9a0a",{ids},"error":1,"user":null,"annotations":{{"bad key!":1}}}}"#),
            format!(r#"{{"id":"70de5b6f19ff9a0a",{ids},"name":"first","name":"second","unknown":{{"deep":[[{{}}]]}}}}"#),
            format!(r#"{{"id":"70de5b6f19ff9a0a",{ids}}}"#),
            format!(r#"{{"name":"a","id":"70de5b6f19ff9a0a",{ids},"subsegments":[null,{{"name":"b"}}]}}"#),
            format!(r#"[{{"name":"s","id":"70de5b6f19ff9a0a",{ids},"type":"subsegment","parent_id":"1111111111111111"}}]"#),
            format!(r#"{{"name":"a","id":"70de5b6f19ff9a0a",{ids},"in_progress":true,"end_time":null}}"#),
            "[]".to_owned(),
            "null".to_owned(),
            "\"text\"".to_owned(),
        ]);
        documents
    }

    /// Both readers make the same document of `bytes`, or refuse it with the same error.
    fn same_either_way(bytes: &[u8]) -> Result<(), TestCaseError> {
        let rules = crate::validation::Rules::default();
        let plain_first = crate::document::parse_document_with(bytes, &rules);
        let serde_json_only = crate::document::parse_document_by(
            bytes,
            &rules,
            crate::document::schema::TopLevel::read_without_plain_json,
        );
        prop_assert_eq!(plain_first, serde_json_only, "{}", String::from_utf8_lossy(bytes));
        Ok(())
    }

    #[test]
    fn documents_read_the_same_as_with_serde_json_alone() {
        let documents = documents();
        for document in &documents {
            same_either_way(document.as_bytes()).unwrap();
        }
        // And the plain reader is what read them, escapes included.
        let plain = documents
            .iter()
            .filter(|text| read_plain(text, &mut crate::document::schema::TopLevel::new()).is_ok())
            .count();
        assert_eq!(plain, documents.len());
        assert!(documents.iter().any(|text| text.contains('\\')), "no document with an escape");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn changed_documents_read_the_same_as_with_serde_json_alone(
            document in proptest::sample::select(documents()),
            at in any::<prop::sample::Index>(),
            length in 0..48usize,
            how in 0..3usize,
            byte in any::<u8>(),
            fragment in proptest::sample::select(&["null", "{", "}", "[", "]", "\"", ",", ":", "1e999", "-0", "01", "1.", "\"\\n\"", "[[", "true", " ", "\"$x\":1,"][..]),
        ) {
            let mut bytes = document.into_bytes();
            let at = at.index(bytes.len());
            match how {
                0 => bytes[at] = byte,
                1 => drop(bytes.drain(at..(at + length).min(bytes.len()))),
                _ => drop(bytes.splice(at..at, fragment.bytes())),
            }
            same_either_way(&bytes)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn numbers_read_as_serde_json_reads_them(
            mantissa in "-?(0|[1-9][0-9]{0,19})",
            fraction in proptest::option::of("[0-9]{1,17}"),
            exponent in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
        ) {
            let text = format!("{mantissa}{}{}", fraction.map(|digits| format!(".{digits}")).unwrap_or_default(), exponent.unwrap_or_default());
            let expected: Option<Value> = serde_json::from_str(&text).ok();
            if let Some(plain) = plain_value(&text) {
                prop_assert_eq!(Some(plain.clone()), expected.clone(), "{}", text);
                // Same kind of number too, and floats to the bit.
                let (plain, expected) = (plain.as_number().cloned(), expected.and_then(|value| value.as_number().cloned()));
                prop_assert_eq!(plain.as_ref().map(|number| (number.as_u64(), number.as_i64())), expected.as_ref().map(|number| (number.as_u64(), number.as_i64())));
                prop_assert_eq!(plain.and_then(|number| number.as_f64()).map(f64::to_bits), expected.and_then(|number| number.as_f64()).map(f64::to_bits));
            }
        }

        #[test]
        fn decimals_below_two_to_the_53_read_to_the_same_bits(integer in 0u64..(1 << 53), point in 1usize..24, negative: bool) {
            let digits = format!("{integer:0>24}");
            let (whole, fraction) = digits.split_at(24 - point);
            let whole = match whole.trim_start_matches('0') {
                "" => "0",
                whole => whole,
            };
            let text = format!("{}{whole}.{fraction}", if negative { "-" } else { "" });
            let expected: Value = serde_json::from_str(&text).unwrap();
            let plain = plain_value(&text);
            prop_assert_eq!(plain.as_ref().and_then(Value::as_f64).map(f64::to_bits), expected.as_f64().map(f64::to_bits), "{}", text);
        }

        #[test]
        fn any_float_reads_to_the_same_bits(value in any::<f64>().prop_filter("finite", |value| value.is_finite())) {
            for text in [format!("{value}"), format!("{value:e}"), format!("{value:.9}")] {
                let expected: Value = serde_json::from_str(&text).unwrap();
                if let Some(plain) = plain_value(&text) {
                    prop_assert_eq!(plain.as_f64().map(f64::to_bits), expected.as_f64().map(f64::to_bits), "{}", text);
                }
            }
        }

        #[test]
        fn any_string_reads_back_as_serde_json_wrote_it(text in any::<String>()) {
            let written = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(plain_value(&written), Some(Value::String(text.clone())));
            // And with every character escaped, as an SDK that writes ASCII only would.
            let escaped: String = text.encode_utf16().map(|unit| format!("\\u{unit:04x}")).collect();
            prop_assert_eq!(plain_value(&format!("\"{escaped}\"")), Some(Value::String(text)));
        }

        #[test]
        fn any_text_is_read_as_serde_json_reads_it_or_left_to_it(text in "[ \\[\\]{}:,\"a-c0-9.eE+\\-\\\\tfrunl]{0,24}") {
            if let Some(plain) = plain_value(&text) {
                prop_assert_eq!(Some(plain), serde_json::from_str::<Value>(&text).ok(), "{}", text);
            }
        }
    }
}
