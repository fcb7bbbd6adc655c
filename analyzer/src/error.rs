//! Errors of the analyzer. Filter-expression errors reach users verbatim (the API answers them
//! as `InvalidRequestException`), so each says what was wrong, the 1-based column (counted in
//! characters), and what was expected.

use std::path::PathBuf;

use thiserror::Error;

use crate::groups::{MAX_GROUPS, MAX_GROUP_DEPTH};

pub type Result<T, E = AnalyzerError> = std::result::Result<T, E>;
/// The filter front end's own result: its errors are always [`FilterError`]s.
pub(crate) type FilterResult<T> = std::result::Result<T, FilterError>;

/// Why an analysis failed.
#[derive(Debug, Error)]
pub enum AnalyzerError {
    /// The filter expression does not parse; the message is the user's to read.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// The expression parses but cannot be evaluated here (e.g. an unknown group).
    #[error("{0}")]
    Unsupported(String),
    /// A request the analyzer refuses: a bad time range, a bad page token.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("store: {0}")]
    Store(#[from] fluoro_store::StoreError),
    #[error("columnar engine: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// `insights.json` cannot be read, parsed or written.
    #[error("{0}")]
    Insights(String),
    /// What the store returned breaks what the analyzer relies on (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a group operation was refused or the groups file could not be used. X-Ray answers every
/// refusal, an unknown group included, with `InvalidRequestException`.
#[derive(Debug, Error)]
pub enum GroupError {
    /// A bad name, ARN, tag or insights setting; the message says which and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// The group's filter expression does not parse; the parser's message, with its column.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// The quoted name or ARN of a group that does not exist.
    #[error("group {0:?} does not exist")]
    NotFound(String),
    #[error("cannot create more than {MAX_GROUPS} groups besides Default")]
    LimitExceeded,
    /// Groups referring to each other in a loop, shown as the chain of names.
    #[error("group filter expressions refer to each other in a loop: {0}")]
    Cycle(String),
    #[error("group {0:?} nests group references more than {MAX_GROUP_DEPTH} deep")]
    TooDeep(String),
    #[error("cannot read groups from {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("groups file {path} is not valid: {reason}")]
    InvalidFile { path: PathBuf, reason: String },
    #[error("cannot save groups to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Why a filter expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterError {
    #[error("empty expression at column {column}; expected a condition such as fault or responsetime > 5")]
    Empty { column: usize },
    /// A token was missing after another: `expected a number after > at column 16`.
    #[error("expected {expected} after {after} at column {column}")]
    ExpectedAfter { expected: String, after: String, column: usize },
    #[error("unexpected {found} at column {column}; expected {expected}")]
    Unexpected { found: String, expected: String, column: usize },
    #[error("unknown keyword \"{word}\" at column {column}{}", did_you_mean(.suggestion))]
    UnknownKeyword { word: String, column: usize, suggestion: Option<String> },
    #[error("{operator} cannot compare {keyword}, {value_type}, at column {column}; use {allowed}")]
    OperatorType { operator: String, keyword: String, value_type: String, column: usize, allowed: String },
    #[error("{keyword} at column {column} is not valid {scope}; it is valid {valid_in}")]
    Scope { keyword: String, column: usize, scope: String, valid_in: String },
    #[error("unterminated string starting at column {column}; expected a closing \"")]
    UnterminatedString { column: usize },
    #[error("unknown escape \\{escape} in a string at column {column}; only \\\" and \\\\ are escapes")]
    UnknownEscape { escape: char, column: usize },
    #[error("unexpected character '{character}' at column {column}")]
    UnexpectedCharacter { character: char, column: usize },
    #[error("unbalanced {open} at column {column}: no {close} before the end of the expression")]
    Unclosed { open: char, close: char, column: usize },
    #[error("unbalanced {close} at column {column}: no {open} before it")]
    Unopened { open: char, close: char, column: usize },
    #[error("expression nested too deeply at column {column}; at most {limit} levels of (), {{}} and ! are allowed")]
    TooDeep { column: usize, limit: usize },
    #[error("rootcause.responsetime has no exception list (column {column}); use rootcause.responsetime.service or rootcause.responsetime.entity")]
    NoResponseTimeExceptions { column: usize },
    #[error("number at column {column} is too large")]
    NumberTooLarge { column: usize },
    #[error("invalid JSON at column {column}: {message}")]
    InvalidJson { message: String, column: usize },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|keyword| format!(" (did you mean {keyword}?)")).unwrap_or_default()
}

impl FilterError {
    /// The 1-based column, in characters, the error points at.
    pub fn column(&self) -> usize {
        match self {
            FilterError::Empty { column }
            | FilterError::ExpectedAfter { column, .. }
            | FilterError::Unexpected { column, .. }
            | FilterError::UnknownKeyword { column, .. }
            | FilterError::OperatorType { column, .. }
            | FilterError::Scope { column, .. }
            | FilterError::UnterminatedString { column }
            | FilterError::UnknownEscape { column, .. }
            | FilterError::UnexpectedCharacter { column, .. }
            | FilterError::Unclosed { column, .. }
            | FilterError::Unopened { column, .. }
            | FilterError::TooDeep { column, .. }
            | FilterError::NoResponseTimeExceptions { column }
            | FilterError::NumberTooLarge { column }
            | FilterError::InvalidJson { column, .. } => *column,
        }
    }
}

/// Why an alarm operation was refused or the alarms file could not be used.
#[derive(Debug, Error)]
pub enum AlarmError {
    /// A bad name, period, count or threshold; the message says which and what was expected.
    #[error("{0}")]
    Invalid(String),
    #[error("alarm {0:?} does not exist")]
    NotFound(String),
    #[error("cannot create more than {0} alarms")]
    LimitExceeded(usize),
    #[error("cannot read alarms from {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("alarms file {path} is not valid: {reason}")]
    InvalidFile { path: PathBuf, reason: String },
    #[error("cannot save alarms to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}
