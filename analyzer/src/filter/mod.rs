//! The X-Ray filter-expression language (`../shared/spec/filter-expressions.md`): text in,
//! typed tree out. Evaluation compiles the tree elsewhere.
//!
//! `lexer.rs → parser.rs (checks scopes with keyword.rs) → ast.rs`; `display.rs` prints the
//! canonical form. When you add a keyword, touch `ast::Keyword`, its name, type and scope in
//! `keyword.rs`, and the corpus in `tests/filter_corpus/parse.txt`.

mod ast;
mod compile;
mod display;
mod frames;
mod keyword;
mod lexer;
mod parser;
mod root_cause_json;

pub use ast::{
    Comparison, EdgeFilter, EqualityOp, FilterExpr, GroupRef, Keyword, NodeId, NodeSelector, NumberOp, RootCauseFilter,
    RootCauseKind, RootCauseList, ServiceFilter, StringOp, Test, ValueType,
};
pub use compile::MAX_GROUP_DEPTH;
pub use compile::{compile_filter, CompiledFilter, GroupResolver, MatchFrames, NoGroups};
pub use parser::{parse_filter, MAX_DEPTH};
