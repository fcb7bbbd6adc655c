//! Behaviour tests of fluoro-collector, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod configured_limits_are_enforced;
mod otlp_exporters_are_received;
mod otlp_log_exporters_are_received;
mod otlp_metric_exporters_are_received;
mod sampling_rules_steer_the_sdk;
mod sidecar_forwarding_survives_outage;
mod udp_harness;
mod udp_ingest_survives_garbage;
mod udp_workers_join_under_a_backlog;
mod xray_clients_put_and_get_traces;
mod xray_documents_read_back_as_sent;
