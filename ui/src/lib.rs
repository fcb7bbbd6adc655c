//! Fluoro's HTTP surface: the X-Ray-compatible query API over the analyzer, the JSON API and
//! the dashboard. The ingest side of the X-Ray API (`PutTraceSegments`, `BatchGetTraces`,
//! sampling) is the collector's; `fluoro serve` serves both on one port.
//!
//! | module | holds |
//! |---|---|
//! | `api` | [`api_router`]: the query operations in the X-Ray REST-JSON shapes |

mod api;

pub use api::api_router;
