//! Behaviour tests of fluoro-analyzer, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod filter_corpus_matches_expected;
mod filter_never_panics;
mod filter_parses_to_typed_trees;
mod filter_print_round_trips;
