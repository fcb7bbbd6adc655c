//! Behaviour tests of fluoro-analyzer, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;
mod filter_corpus_matches_expected;
mod filter_latency_is_exact;
mod filter_matches_hand_worked_traces;
mod filter_never_panics;
mod filter_parses_to_typed_trees;
mod filter_print_round_trips;
mod groups_scope_graphs_and_searches;
mod insights_open_on_a_planted_fault_jump;
mod metric_series_roll_up_points;
mod percentiles_match_sorted_arrays;
mod petstore;
mod service_graph_counts_calls_per_edge;
mod service_graph_infers_downstream_nodes;
mod service_graph_reads_blocks_as_it_reads_recent_data;
mod span_versions_resolve_across_sources;
mod time_series_buckets_by_period;
mod trace_set_comparison_finds_the_planted_cause;
mod trace_summaries_describe_traces;
