//! Fluoro's answers to on-call questions: the filter-expression language, trace summaries, the
//! service graph, latency histograms, trace-set comparison, groups and alarms. Only the
//! filter-expression front end is implemented so far; the rest is tracked in the analyzer issue.
//!
//! | module | holds |
//! |---|---|
//! | `filter::lexer` | tokens with 1-based character columns; hands `#[...]` to serde_json |
//! | `filter::parser` | [`parse_filter`]: recursive descent, scope and operator-type checks |
//! | `filter::keyword` | keyword names, the scopes each is valid in, "did you mean" |
//! | `filter::ast` | [`FilterExpr`] and its typed parts, shaped for compilation to columnar expressions |
//! | `filter::display` | the canonical print: `parse_filter(&expr.to_string()) == Ok(expr)` |
//! | `error` | [`FilterError`]: what was wrong, the column, what was expected |
//!
//! ```
//! use fluoro_analyzer::{parse_filter, Comparison, FilterExpr, Keyword, NumberOp, Test};
//!
//! let expr = parse_filter("responseTime > 5").unwrap();
//! let slow = Comparison { keyword: Keyword::ResponseTime, test: Test::Number(NumberOp::Gt, 5.0) };
//! assert_eq!(expr, FilterExpr::Compare(slow));
//! assert_eq!(expr.to_string(), "responsetime > 5");
//!
//! let error = parse_filter(r#"responsetime > "x""#).unwrap_err();
//! assert_eq!(error.to_string(), "expected a number after > at column 16");
//! ```

mod error;
mod filter;

pub use error::{FilterError, Result};
pub use filter::{
    parse_filter, Comparison, EdgeFilter, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp,
    RootCauseFilter, RootCauseKind, RootCauseList, ServiceFilter, StringOp, Test, ValueType, MAX_DEPTH,
};
