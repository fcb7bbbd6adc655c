//! Keyword names, the scopes each keyword may be used in, and "did you mean" suggestions.
//!
//! Scopes follow spec 3.2–3.5: trace-level keywords at the top level; segment keywords also
//! inside `service(){}` and `edge(){}` braces; `root` only inside service braces; list keywords
//! (`first`, `last`, `index`) only inside rootcause braces; `coverage` only under
//! `rootcause.responsetime.*`; annotations, groups and complex keywords only at the top level.

use super::ast::{Keyword, RootCauseKind, RootCauseList};

/// Where a condition is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Trace,
    Service,
    Edge,
    RootCause(RootCauseKind, RootCauseList),
}

/// Keywords without a value that the parser handles itself, listed for suggestions.
const COMPLEX_NAMES: &[&str] = &[
    "service",
    "edge",
    "id",
    "annotation",
    "group.name",
    "group.arn",
    "rootcause.fault.service",
    "rootcause.fault.entity",
    "rootcause.fault.exception",
    "rootcause.error.service",
    "rootcause.error.entity",
    "rootcause.error.exception",
    "rootcause.responsetime.service",
    "rootcause.responsetime.entity",
    "rootcause.json",
    "json",
];

const SIMPLE: &[Keyword] = &[
    Keyword::ResponseTime,
    Keyword::Duration,
    Keyword::HttpStatus,
    Keyword::Index,
    Keyword::Coverage,
    Keyword::HttpUrl,
    Keyword::HttpMethod,
    Keyword::HttpUserAgent,
    Keyword::HttpClientIp,
    Keyword::User,
    Keyword::Name,
    Keyword::Type,
    Keyword::Message,
    Keyword::AvailabilityZone,
    Keyword::InstanceId,
    Keyword::ResourceArn,
    Keyword::Ok,
    Keyword::Error,
    Keyword::Fault,
    Keyword::Throttle,
    Keyword::Partial,
    Keyword::Inferred,
    Keyword::First,
    Keyword::Last,
    Keyword::Remote,
    Keyword::Root,
];

impl Keyword {
    /// The canonical (lower-case) spelling; annotations print through `Display`.
    pub(crate) fn name(&self) -> &'static str {
        use Keyword::*;
        match self {
            ResponseTime => "responsetime",
            Duration => "duration",
            HttpStatus => "http.status",
            Index => "index",
            Coverage => "coverage",
            HttpUrl => "http.url",
            HttpMethod => "http.method",
            HttpUserAgent => "http.useragent",
            HttpClientIp => "http.clientip",
            User => "user",
            Name => "name",
            Type => "type",
            Message => "message",
            AvailabilityZone => "availabilityzone",
            InstanceId => "instance.id",
            ResourceArn => "resource.arn",
            Ok => "ok",
            Error => "error",
            Fault => "fault",
            Throttle => "throttle",
            Partial => "partial",
            Inferred => "inferred",
            First => "first",
            Last => "last",
            Remote => "remote",
            Root => "root",
            Annotation(_) => "annotation",
        }
    }

    /// A keyword other than an annotation, from its lower-case spelling.
    pub(crate) fn simple(lower: &str) -> Option<Keyword> {
        SIMPLE.iter().find(|keyword| keyword.name() == lower).cloned()
    }

    /// Whether the keyword may be used in `scope`.
    pub(crate) fn allowed_in(&self, scope: Scope) -> bool {
        use Keyword::*;
        use Scope::{Edge, Service, Trace};
        let in_list = matches!(scope, Scope::RootCause(..));
        match self {
            Duration | Annotation(_) => scope == Trace,
            Ok | Error | Fault | Throttle | Partial | ResponseTime | HttpStatus | HttpUrl | HttpMethod
            | HttpUserAgent | HttpClientIp | User | AvailabilityZone | InstanceId | ResourceArn => {
                matches!(scope, Trace | Service | Edge)
            }
            Inferred => matches!(scope, Trace | Service | Scope::RootCause(_, RootCauseList::Service)),
            Root => scope == Service,
            Name => scope == Service || in_list,
            Type => matches!(scope, Service | Scope::RootCause(_, RootCauseList::Service)),
            Message => matches!(scope, Scope::RootCause(_, RootCauseList::Exception)),
            First | Last | Index => in_list,
            Remote => matches!(scope, Scope::RootCause(_, RootCauseList::Entity)),
            Coverage => matches!(
                scope,
                Scope::RootCause(RootCauseKind::ResponseTime, RootCauseList::Service | RootCauseList::Entity)
            ),
        }
    }

    /// Where the keyword may be used, completing "it is valid …".
    pub(crate) fn valid_in(&self) -> &'static str {
        use Keyword::*;
        match self {
            Duration => "only at the top level (inside braces, use responsetime)",
            Annotation(_) => "only at the top level; annotations belong to the whole trace",
            Ok | Error | Fault | Throttle | Partial | ResponseTime | HttpStatus | HttpUrl | HttpMethod
            | HttpUserAgent | HttpClientIp | User | AvailabilityZone | InstanceId | ResourceArn => {
                "at the top level or inside service or edge braces"
            }
            Inferred => "at the top level, inside service braces or inside rootcause.*.service braces",
            Root => "only inside service braces",
            Name => "inside service braces or rootcause braces",
            Type => "inside service braces or rootcause.*.service braces",
            Message => "only inside rootcause.*.exception braces",
            First | Last | Index => "only inside rootcause braces",
            Remote => "only inside rootcause.*.entity braces",
            Coverage => "only inside rootcause.responsetime.service or rootcause.responsetime.entity braces",
        }
    }
}

impl Scope {
    /// Where we are, completing "… is not valid …".
    pub(crate) fn described(self) -> String {
        match self {
            Scope::Trace => "at the top level".to_owned(),
            Scope::Service => "inside service braces".to_owned(),
            Scope::Edge => "inside edge braces".to_owned(),
            Scope::RootCause(cause, list) => {
                format!("inside rootcause.{}.{} braces", cause_name(cause), list_name(list))
            }
        }
    }
}

pub(crate) fn cause_name(cause: RootCauseKind) -> &'static str {
    match cause {
        RootCauseKind::Fault => "fault",
        RootCauseKind::Error => "error",
        RootCauseKind::ResponseTime => "responsetime",
    }
}

pub(crate) fn list_name(list: RootCauseList) -> &'static str {
    match list {
        RootCauseList::Service => "service",
        RootCauseList::Entity => "entity",
        RootCauseList::Exception => "exception",
    }
}

/// The closest keyword to a misspelt word, if it is close enough to be a likely typo.
pub(crate) fn suggestion(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    let candidates = SIMPLE.iter().map(Keyword::name).chain(COMPLEX_NAMES.iter().copied());
    let (best, distance) =
        candidates.map(|name| (name, edit_distance(&lower, name))).min_by_key(|&(_, distance)| distance)?;
    let tolerated = (lower.chars().count() / 4).clamp(1, 3);
    (distance <= tolerated).then_some(best)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keywords_only() {
        assert_eq!(suggestion("responstime"), Some("responsetime"));
        assert_eq!(suggestion("http.stauts"), Some("http.status"));
        assert_eq!(suggestion("FAULTS"), Some("fault"));
        assert_eq!(suggestion("banana"), None);
    }

    #[test]
    fn every_simple_keyword_resolves_from_its_name() {
        for keyword in SIMPLE {
            assert_eq!(Keyword::simple(keyword.name()).as_ref(), Some(keyword));
        }
    }
}
