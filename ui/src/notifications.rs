//! `GET /api/notifications`: the notifier's counters and the last delivery status of every
//! (source, URL) pair, e.g. whether alarm `slow`'s webhook got its last notification and why not.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::notifier::{NotificationsSnapshot, NotifierHandle};

/// The notification status route; merge beside [`alarms_router`](crate::alarms_router).
pub fn notifications_router(notifier: NotifierHandle) -> Router {
    Router::new().route("/api/notifications", get(notifications)).with_state(notifier)
}

async fn notifications(State(notifier): State<NotifierHandle>) -> Json<NotificationsSnapshot> {
    Json(notifier.snapshot())
}
