//! Behaviour tests of fluoro-ui, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]
