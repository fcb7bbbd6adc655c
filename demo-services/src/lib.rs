//! The PetAdoptions demo application (spec `petadoptions.md`), instrumented both ways, with its
//! backends, its traffic generator and its faults. `fluoro demo` runs each service as its own
//! process (`fluoro demo-service NAME --config FILE`, served by [`serve`]) and the traffic
//! generator ([`run_generator`]) beside them.
//!
//! | module | holds |
//! |---|---|
//! | `services/` | one module per service, and [`serve`]: PetSite, PetSearch, payforadoption, petlistadoptions, the status updater (gateway + function), the workflow, petadoptionshistory, the AWS stand-in |
//! | `xray`, `xray_calls` | X-Ray instrumentation over proto's types: segments to the sidecar over UDP; SDK-style HTTP, AWS and SQL subsegments |
//! | `otel` | OpenTelemetry instrumentation: spans, logs and process metrics over OTLP/gRPC |
//! | `propagation` | `X-Amzn-Trace-Id` and `traceparent`, X-Ray-compatible ids |
//! | `sampling` | the X-Ray SDKs' centralized sampling against the sidecar: rules, reservoir quotas, fixed rates |
//! | `table`, `seed` | the pets table with its capacity model, and its 26 pets |
//! | `aws_client` | the services' SDK-like client of the AWS stand-in, with retries |
//! | `sql`, `params` | the SQLite adoptions database, the parameter store file |
//! | `traffic` | the traffic generator |
//! | `process` | the process's CPU time and resident memory |
//!
//! One adoption's way: `traffic.rs` → PetSite (`services/petsite.rs`) → PetSearch
//! (`petsearch.rs` → `aws_client.rs` → `services/aws.rs` → `table.rs`) → payforadoption
//! (`payforadoption.rs` → `sql.rs`, → status updater → table, → `amazon.com`) → SQS, SNS, and
//! for bunnies the workflow (`stepfunctions.rs`) → PetListAdoptions (`petlistadoptions.rs`).
//! X-Ray segments go to the sidecar `fluoro daemon`, OTLP to `fluoro serve`; both meet in one
//! trace through the propagated headers.

mod aws_client;
mod config;
mod error;
mod http_call;
mod otel;
mod params;
mod process;
mod propagation;
mod sampling;
mod seed;
mod services;
mod sql;
mod table;
mod time;
mod traffic;
mod xray;
mod xray_calls;

pub use config::{ServiceConfig, Urls, DEFAULT_MEMORY_CAP_MIB, DEFAULT_METRICS_INTERVAL_MS};
pub use error::{DemoError, Result};
pub use params::{get as get_parameter, put as put_parameter, ERRORMODE1};
pub use services::{serve, ServiceName};
pub use table::BillingMode;
pub use traffic::{run_generator, TrafficConfig};
