//! Behaviour tests of fluoro-store, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod blocks_in_a_bucket;
mod corrupted_files_never_panic;
mod data_dir_is_owner_only;
mod keyed_scans_match_string_scans;
mod logs_are_kept_beside_spans;
mod metrics_are_kept_beside_spans;
mod model;
mod one_collector_holds_the_maintenance_lease;
mod only_traces_of_the_same_time_are_shared;
mod queries_stop_at_their_deadline;
mod recovery;
mod retention_and_compaction;
mod scans_of_a_range;
mod trace_assembly;
