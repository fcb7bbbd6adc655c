//! Fluoro's HTTP surface: the X-Ray-compatible REST API, the JSON API and the dashboard.
//! Nothing is implemented yet; the work is tracked in the API issue.
