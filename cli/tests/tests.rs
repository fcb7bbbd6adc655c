//! Behaviour tests of the `fluoro` and `trace` binaries, run as real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dashboard;
mod demo;
mod server;

mod dashboard_lists_and_narrows_traces;
mod dashboard_loads_every_page;
mod dashboard_manages_groups;
mod dashboard_renders_segment_strings_as_text;
mod dashboard_searches_logs;
mod dashboard_shows_a_trace_timeline;
mod dashboard_shows_insights;
mod dashboard_shows_the_service_map;
mod fluoro_daemon_relays_raw_documents;
mod fluoro_demo_fills_the_map;
mod fluoro_demo_petsite_in_a_browser;
mod fluoro_demo_samples_by_the_sidecars_rules;
mod fluoro_demo_stops_every_child_on_ctrl_c;
mod fluoro_demo_switches_scenarios;
mod fluoro_serve_ingests_real_sdks;
mod fluoro_serve_keeps_alarms;
mod fluoro_serve_keeps_logs;
mod fluoro_serve_keeps_metrics;
mod fluoro_serve_opens_insights;
mod fluoro_serve_survives_sigkill;
mod trace_compare_queries_a_running_server;
mod trace_filter_queries_a_running_server;
mod trace_get_shows_a_waterfall;
mod trace_histogram_queries_a_running_server;
mod trace_logs_queries_a_running_server;
