//! Behaviour tests of fluoro-ui, one module per behaviour, in one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_bodies_never_panic;
mod api_server;
mod python_script;

mod compare_answers_json_clients;
mod configured_query_limits_are_enforced;
mod configured_query_window_is_enforced;
mod dashboard_is_served_with_a_strict_csp;
mod dashboard_refuses_traversal_and_cross_origin;
mod demo_scenario_reaches_only_a_running_demo;
mod groups_answer_xray_clients;
mod histogram_answers_json_clients;
mod metrics_answer_json_clients;
mod service_graph_answers_xray_clients;
mod trace_summaries_answer_xray_clients;
mod webhooks_get_each_alarm_notification_once;
