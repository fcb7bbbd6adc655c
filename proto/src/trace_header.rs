//! The `X-Amzn-Trace-Id` HTTP header, which carries a trace from one service to the next
//! (spec `xray.md` §2.4).
//!
//! ```text
//! Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5
//! ```
//!
//! - `key=value` fields separated by `;`. Spaces around fields, keys and values, empty fields
//!   and a trailing `;` are tolerated: proxies and hand-written clients produce all of them.
//! - Keys are case-sensitive, as in the SDKs: `root=…` is an unknown key, not a `Root`.
//! - `Root` is an X-Ray trace id, `Parent` the 16-hex-digit id of the calling segment or
//!   subsegment, `Sampled` is `1`, `0` or `?` (the receiver decides). Every field is optional:
//!   a load balancer may add `Root` alone, a client may send `Sampled=0` alone.
//! - `Lineage` (Lambda loop detection) and `Self` (added by ALB) are kept verbatim, and so are
//!   unknown keys, in order: the spec requires propagating them, and they may come from an SDK
//!   newer than us.
//! - Known fields may appear once and may not be empty: no id or flag is empty, and an empty
//!   `Lineage` or `Self` would be a second way of writing "absent". An unknown key's empty value
//!   is kept, since we cannot know what it means.
//! - Writing is canonical: `Root`, `Parent`, `Sampled`, `Lineage`, `Self`, then the unknown keys,
//!   absent fields left out. So `parse(h.to_string()) == h` for every non-empty header `parse`
//!   can return, and a canonical header survives `parse` and `to_string` byte for byte.
//! - The header comes from outside: anything malformed is a [`HeaderError`] saying what was
//!   wrong and what was expected, never a panic.
//!
//! ```
//! use fluoro_proto::{Sampled, SegmentId, TraceHeader};
//!
//! let header: TraceHeader = "Root=1-5759e988-bd862e3fe1be46a994272793; Sampled=?".parse().unwrap();
//! assert_eq!(header.sampled, Some(Sampled::Requested));
//! let downstream = header.child(SegmentId::new(0x53995c3f42cd8ad8));
//! assert_eq!(
//!     downstream.to_string(),
//!     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?"
//! );
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::HeaderError;
use crate::id::{SegmentId, TraceId};

const ROOT: &str = "Root";
const PARENT: &str = "Parent";
const SAMPLED: &str = "Sampled";
const LINEAGE: &str = "Lineage";
const SELF: &str = "Self";

/// A parsed `X-Amzn-Trace-Id` header.
///
/// The fields are public so callers can build headers directly; [`TraceHeader::parse`] only ever
/// returns `lineage` and `self_id` non-empty, and `extra` keys that are not known keys, contain
/// no `=` or `;` and have no surrounding spaces. Headers built by hand that keep to this
/// round-trip through `to_string` and `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceHeader {
    /// `Root`: the trace this request belongs to.
    pub root: Option<TraceId>,
    /// `Parent`: the upstream segment or subsegment, the new segment's `parent_id`.
    pub parent: Option<SegmentId>,
    /// `Sampled`: absent means the receiver makes its own decision.
    pub sampled: Option<Sampled>,
    /// `Lineage`, e.g. `a87bd80c:1|68fd508a:5`, kept verbatim.
    pub lineage: Option<String>,
    /// ALB's `Self` value, kept verbatim.
    pub self_id: Option<String>,
    /// Unknown `key=value` fields, in the order they came.
    pub extra: Vec<(String, String)>,
}

/// The `Sampled` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sampled {
    /// `Sampled=1`.
    Yes,
    /// `Sampled=0`.
    No,
    /// `Sampled=?`: the caller deferred the decision to the receiver.
    Requested,
}

impl Sampled {
    /// The header value: `1`, `0` or `?`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sampled::Yes => "1",
            Sampled::No => "0",
            Sampled::Requested => "?",
        }
    }

    fn parse(value: &str) -> Result<Self, HeaderError> {
        match value {
            "1" => Ok(Sampled::Yes),
            "0" => Ok(Sampled::No),
            "?" => Ok(Sampled::Requested),
            _ => Err(HeaderError::Sampled { value: value.to_owned() }),
        }
    }
}

impl TraceHeader {
    /// Parses a header value such as `Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1`.
    pub fn parse(header: &str) -> Result<Self, HeaderError> {
        let mut fields = header.split(';').map(str::trim).filter(|field| !field.is_empty()).peekable();
        if fields.peek().is_none() {
            return Err(HeaderError::Empty);
        }
        let mut parsed = TraceHeader::default();
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                return Err(HeaderError::MissingEquals { field: field.to_owned() });
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(HeaderError::EmptyKey { field: field.to_owned() });
            }
            parsed.set_field(key, value.trim())?;
        }
        Ok(parsed)
    }

    /// The header to send downstream from this service's segment or subsegment `parent`: same
    /// `Root`, `Sampled`, `Lineage` and unknown keys, new `Parent`. `Self` is dropped because it
    /// names the load balancer hop that delivered this request, not the next one. A caller that
    /// received `Sampled=?` sets `sampled` to its own decision.
    pub fn child(&self, parent: SegmentId) -> TraceHeader {
        TraceHeader { parent: Some(parent), self_id: None, ..self.clone() }
    }

    fn set_field(&mut self, key: &str, value: &str) -> Result<(), HeaderError> {
        match key {
            ROOT => {
                let root = TraceId::parse_xray(value)
                    .map_err(|reason| HeaderError::Root { value: value.to_owned(), reason })?;
                set_once(&mut self.root, ROOT, root)
            }
            PARENT => {
                let parent = SegmentId::parse(value)
                    .map_err(|reason| HeaderError::Parent { value: value.to_owned(), reason })?;
                set_once(&mut self.parent, PARENT, parent)
            }
            SAMPLED => set_once(&mut self.sampled, SAMPLED, Sampled::parse(value)?),
            LINEAGE => set_once(&mut self.lineage, LINEAGE, non_empty(LINEAGE, value)?),
            SELF => set_once(&mut self.self_id, SELF, non_empty(SELF, value)?),
            _ => {
                self.extra.push((key.to_owned(), value.to_owned()));
                Ok(())
            }
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, key: &'static str, value: T) -> Result<(), HeaderError> {
    if slot.is_some() {
        return Err(HeaderError::Duplicate { key });
    }
    *slot = Some(value);
    Ok(())
}

fn non_empty(key: &'static str, value: &str) -> Result<String, HeaderError> {
    if value.is_empty() {
        return Err(HeaderError::EmptyValue { key });
    }
    Ok(value.to_owned())
}

impl FromStr for TraceHeader {
    type Err = HeaderError;

    fn from_str(header: &str) -> Result<Self, HeaderError> {
        Self::parse(header)
    }
}

impl fmt::Display for Sampled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TraceHeader {
    /// The canonical form: known fields in a fixed order, then the unknown ones as they came.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields = FieldWriter { f, first: true };
        if let Some(root) = self.root {
            fields.write(ROOT, root)?;
        }
        if let Some(parent) = self.parent {
            fields.write(PARENT, parent)?;
        }
        if let Some(sampled) = self.sampled {
            fields.write(SAMPLED, sampled)?;
        }
        if let Some(lineage) = &self.lineage {
            fields.write(LINEAGE, lineage)?;
        }
        if let Some(self_id) = &self.self_id {
            fields.write(SELF, self_id)?;
        }
        for (key, value) in &self.extra {
            fields.write(key, value)?;
        }
        Ok(())
    }
}

/// Writes `key=value` fields with a `;` between them and none at the end.
struct FieldWriter<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    first: bool,
}

impl FieldWriter<'_, '_> {
    fn write(&mut self, key: &str, value: impl fmt::Display) -> fmt::Result {
        let separator = if self.first { "" } else { ";" };
        self.first = false;
        write!(self.f, "{separator}{key}={value}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ROOT_ID: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn root() -> anyhow::Result<TraceId> {
        Ok(TraceId::parse_xray(ROOT_ID)?)
    }

    fn error_message(header: &str) -> String {
        match TraceHeader::parse(header) {
            Ok(parsed) => panic!("{header:?} parsed as {parsed:?}, an error was expected"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn root_parent_and_sampled() -> anyhow::Result<()> {
        let text = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let header = TraceHeader::parse(text)?;
        assert_eq!(header.root, Some(root()?));
        assert_eq!(header.parent, Some(SegmentId::new(0x53995c3f42cd8ad8)));
        assert_eq!(header.sampled, Some(Sampled::Yes));
        assert_eq!(header.lineage, None);
        assert_eq!(header.self_id, None);
        assert!(header.extra.is_empty());
        assert_eq!(header.to_string(), text);
        Ok(())
    }

    #[test]
    fn each_sampled_value() -> anyhow::Result<()> {
        for (text, sampled) in [("1", Sampled::Yes), ("0", Sampled::No), ("?", Sampled::Requested)] {
            let header: TraceHeader = format!("Sampled={text}").parse()?;
            assert_eq!(header, TraceHeader { sampled: Some(sampled), ..TraceHeader::default() });
            assert_eq!(header.to_string(), format!("Sampled={text}"));
        }
        Ok(())
    }

    #[test]
    fn root_alone_as_a_load_balancer_adds_it() -> anyhow::Result<()> {
        let header = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793")?;
        assert_eq!(header, TraceHeader { root: Some(root()?), ..TraceHeader::default() });
        Ok(())
    }

    #[test]
    fn lineage_is_kept_verbatim() -> anyhow::Result<()> {
        let text = "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:1|68fd508a:5";
        let header = TraceHeader::parse(text)?;
        assert_eq!(header.lineage.as_deref(), Some("a87bd80c:1|68fd508a:5"));
        assert_eq!(header.to_string(), text);
        Ok(())
    }

    #[test]
    fn alb_self_comes_first_and_is_written_after_the_known_fields() -> anyhow::Result<()> {
        let header =
            TraceHeader::parse("Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678")?;
        // ALB's Self value is not always a valid trace id (23 hex digits here, as in the ALB
        // docs), which is one reason it is kept as text.
        assert_eq!(header.self_id.as_deref(), Some("1-67891234-12456789abcdef012345678"));
        assert_eq!(header.root, Some(TraceId::parse_xray("1-67891233-abcdef012345678912345678")?));
        assert_eq!(
            header.to_string(),
            "Root=1-67891233-abcdef012345678912345678;Self=1-67891234-12456789abcdef012345678"
        );
        Ok(())
    }

    #[test]
    fn unknown_keys_are_kept_in_order_and_written_back() -> anyhow::Result<()> {
        let text = "Root=1-5759e988-bd862e3fe1be46a994272793;Zeta=1;root=lower;Alpha=a=b;Empty=;Zeta=2";
        let header = TraceHeader::parse(text)?;
        let extra: Vec<(&str, &str)> = header.extra.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        assert_eq!(extra, [("Zeta", "1"), ("root", "lower"), ("Alpha", "a=b"), ("Empty", ""), ("Zeta", "2")]);
        assert_eq!(header.to_string(), text);
        Ok(())
    }

    #[test]
    fn fields_are_written_in_canonical_order() -> anyhow::Result<()> {
        let header = TraceHeader::parse(
            "Foo=bar;Self=1-abc;Lineage=a87bd80c:1;Sampled=0;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793",
        )?;
        assert_eq!(
            header.to_string(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;\
             Lineage=a87bd80c:1;Self=1-abc;Foo=bar"
        );
        Ok(())
    }

    #[test]
    fn spaces_empty_fields_and_a_trailing_semicolon_are_tolerated() -> anyhow::Result<()> {
        let header = TraceHeader::parse(
            "  Root = 1-5759e988-bd862e3fe1be46a994272793 ;; Parent=\t53995c3f42cd8ad8 ; Sampled =1 ; Foo = a b ;",
        )?;
        assert_eq!(
            header.to_string(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Foo=a b"
        );
        Ok(())
    }

    #[test]
    fn upper_case_ids_are_normalised() -> anyhow::Result<()> {
        let header = TraceHeader::parse("Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995C3F42CD8AD8")?;
        assert_eq!(header.to_string(), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8");
        Ok(())
    }

    #[test]
    fn child_replaces_the_parent_and_drops_self() -> anyhow::Result<()> {
        let header = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;\
             Lineage=a87bd80c:1;Self=1-abc;Foo=bar",
        )?;
        let child = header.child(SegmentId::new(0x70de5b6f19ff9a0a));
        assert_eq!(
            child.to_string(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=70de5b6f19ff9a0a;Sampled=1;\
             Lineage=a87bd80c:1;Foo=bar"
        );
        Ok(())
    }

    #[test]
    fn each_error_has_its_message() {
        let cases = [
            ("", "empty header: key=value fields separated by \";\" expected"),
            (" ; ;", "empty header: key=value fields separated by \";\" expected"),
            ("Root=1-5759e988-bd862e3fe1be46a994272793;abc", "field \"abc\" has no \"=\": key=value expected"),
            ("=abc", "field \"=abc\" has an empty key: key=value expected"),
            ("Root=1-zz", "Root \"1-zz\" is not a valid trace id (8 hex digits expected after \"1-\")"),
            ("Root=", "Root \"\" is not a valid trace id (\"1-\" expected at the start)"),
            (
                "Root=5759e988bd862e3fe1be46a994272793",
                "Root \"5759e988bd862e3fe1be46a994272793\" is not a valid trace id (\"1-\" expected at the start)",
            ),
            ("Parent=53995c3f42cd8ad", "Parent \"53995c3f42cd8ad\" is not a valid segment id (16 hex digits expected)"),
            ("Sampled=2", "Sampled \"2\": 0, 1 or ? expected"),
            ("Sampled=", "Sampled \"\": 0, 1 or ? expected"),
            ("Sampled=true", "Sampled \"true\": 0, 1 or ? expected"),
            ("Lineage=", "Lineage is empty: a value expected, or no Lineage field at all"),
            ("Self= ", "Self is empty: a value expected, or no Self field at all"),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272793",
                "Root appears twice: one Root field expected",
            ),
            ("Sampled=1;Sampled=0", "Sampled appears twice: one Sampled field expected"),
        ];
        for (header, message) in cases {
            assert_eq!(error_message(header), message, "for {header:?}");
        }
    }

    #[test]
    fn multi_byte_characters_do_not_panic() {
        assert_eq!(
            error_message("Root=1-é759e988-bd862e3fe1be46a994272793"),
            "Root \"1-é759e988-bd862e3fe1be46a994272793\" is not a valid trace id (8 hex digits expected after \"1-\")"
        );
        assert_eq!(error_message("Parent=é"), "Parent \"é\" is not a valid segment id (16 hex digits expected)");
    }

    /// A value as `parse` returns it: no `;`, no surrounding whitespace, maybe empty.
    const VALUE: &str = "([^;\\s]([^;]*[^;\\s])?)?";
    /// An unknown key as `parse` returns it: also no `=`, and not empty.
    const KEY: &str = "[^;=\\s]([^;=]*[^;=\\s])?";

    fn sampled() -> impl Strategy<Value = Sampled> {
        prop_oneof![Just(Sampled::Yes), Just(Sampled::No), Just(Sampled::Requested)]
    }

    fn extra_field() -> impl Strategy<Value = (String, String)> {
        let known = [ROOT, PARENT, SAMPLED, LINEAGE, SELF];
        (KEY.prop_filter("a known key is not an extra", move |key| !known.contains(&key.as_str())), VALUE)
    }

    fn trace_header() -> impl Strategy<Value = TraceHeader> {
        let non_empty_value = VALUE.prop_filter("Lineage and Self are never empty", |value| !value.is_empty());
        (
            proptest::option::of(any::<[u8; 16]>().prop_map(TraceId::from_bytes)),
            proptest::option::of(any::<u64>().prop_map(SegmentId::new)),
            proptest::option::of(sampled()),
            proptest::option::of(non_empty_value.clone()),
            proptest::option::of(non_empty_value),
            proptest::collection::vec(extra_field(), 0..4),
        )
            .prop_map(|(root, parent, sampled, lineage, self_id, extra)| TraceHeader {
                root,
                parent,
                sampled,
                lineage,
                self_id,
                extra,
            })
            .prop_filter("an empty header does not parse", |header| *header != TraceHeader::default())
    }

    proptest! {
        #[test]
        fn every_header_round_trips_through_its_text(header in trace_header()) {
            prop_assert_eq!(TraceHeader::parse(&header.to_string()), Ok(header));
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = TraceHeader::parse(&text);
        }

        /// Header-like text reaches deeper into the parser than arbitrary strings, and whatever
        /// parses prints in a form that parses back to the same header.
        #[test]
        fn header_like_text_never_panics_and_reparses(
            text in "( ?(Root|Parent|Sampled|Lineage|Self|Foo)? ?=? ?(1-[0-9a-fA-F-]{0,34}|[0-9a-f]{0,17}|[01?]|[a-z:|é ]{0,6}) ?;?){0,6}"
        ) {
            if let Ok(header) = TraceHeader::parse(&text) {
                prop_assert_eq!(TraceHeader::parse(&header.to_string()), Ok(header));
            }
        }
    }
}
