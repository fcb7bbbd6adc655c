//! Behaviour tests of fluoro-proto, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod invalid_documents_name_the_field;
mod live_python_sdk_documents_parse;
mod parsers_never_panic;
mod python_sdk_documents_round_trip;
