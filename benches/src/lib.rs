//! Fluoro's benchmarks and load generator. Each benchmark measures against a baseline run in the
//! same process (see `BENCHMARKS.md`). Nothing is implemented yet.
