//! Fluoro's answers to on-call questions: the filter-expression language, trace summaries, the
//! service graph, latency histograms, trace-set comparison, groups and alarms. Nothing is
//! implemented yet; the work is tracked in the analyzer issue.
