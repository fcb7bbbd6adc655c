//! Webhook notifications: each [`Notification`] (a subject, a JSON message and the URLs to tell)
//! is POSTed to every URL as an SNS HTTP/S notification document, by a background task.
//! Alarm transitions (`notifier/alarm_message.rs`) are one producer; anything else with a
//! subject and a document (insights opened or closed) can use [`NotifierHandle::notify`] too.
//!
//! Rules (SNS's HTTP/S delivery, simplified):
//! - One delivery per (notification, URL); a delivery is sent once and sent again only after a
//!   failed attempt: no answer within the attempt timeout, a connection error, 5xx, 408 or 429.
//!   Every attempt carries the same `MessageId` (body and `x-amz-sns-message-id`), so a receiver
//!   that answered too late can drop the repeat. Any other answer outside 2xx (redirects are not
//!   followed) gives the delivery up at once: the receiver refused that document.
//! - Attempts back off exponentially (`first_backoff`, doubling, at most `max_backoff`) and stop
//!   after `max_attempts`; then the delivery is failed.
//! - Waiting deliveries sit in one bounded queue; when it is full the oldest waiting one is
//!   dropped (a newer state is worth more than an older one) and counted.
//! - At most `max_in_flight` deliveries run at once, each in its own task, so a dead webhook
//!   holds one slot (at most `max_attempts` × `attempt_timeout` plus backoff), not the others.
//! - Every outcome is one log line, a Prometheus counter ([`NotifierHandle::prometheus`]) and the
//!   last status per source and URL ([`NotifierHandle::snapshot`], `GET /api/notifications`).

mod alarm_message;
mod delivery;
mod insight_message;
mod status;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fluoro_analyzer::{AlarmHistoryItem, MetricAlarm};
use tokio::sync::{mpsc, Notify, Semaphore};

pub use alarm_message::alarm_notification;
pub use insight_message::insight_notification;
pub use status::{DeliveryOutcome, DeliveryStatus, NotificationCounts, NotificationsSnapshot};

use delivery::Delivery;
use status::Status;

/// How deliveries are retried and bounded; [`Default`] holds the server's values.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Deliveries waiting for a slot; beyond it the oldest waiting one is dropped.
    pub queue_capacity: usize,
    /// Deliveries under way at once.
    pub max_in_flight: usize,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// One attempt, from connecting to the end of the answer's headers.
    pub attempt_timeout: Duration,
}

const DEFAULT_QUEUE_CAPACITY: usize = 1000;
const DEFAULT_MAX_IN_FLIGHT: usize = 16;
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const DEFAULT_FIRST_BACKOFF: Duration = Duration::from_secs(1);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Transitions waiting between the evaluation loop and the notifier ([`NotifierHandle::alarm_transition_sender`]).
const TRANSITION_CHANNEL_CAPACITY: usize = 256;

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            first_backoff: DEFAULT_FIRST_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

/// What to tell whom: SNS's `Subject` and `Message` (a JSON document, sent as a string inside
/// the envelope, as SNS does), to every URL in `urls`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Whose notification this is, e.g. `alarm/slow`: the key of its delivery status.
    pub source: String,
    pub subject: String,
    pub message: serde_json::Value,
    /// Unix seconds: the envelope's `Timestamp`.
    pub timestamp: i64,
    pub urls: Vec<String>,
}

/// Hands notifications to the running notifier; cheap to clone.
#[derive(Debug, Clone)]
pub struct NotifierHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: NotifierConfig,
    queue: Mutex<VecDeque<Delivery>>,
    wake: Notify,
    status: Status,
    client: reqwest::Client,
}

/// Starts the notifier's dispatcher on the current tokio runtime.
pub fn spawn_notifier(config: NotifierConfig) -> NotifierHandle {
    let client = reqwest::Client::builder()
        .timeout(config.attempt_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fluoro/", env!("CARGO_PKG_VERSION"), " notifier"))
        .build()
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        config,
        queue: Mutex::new(VecDeque::new()),
        wake: Notify::new(),
        status: Status::default(),
        client,
    });
    tokio::spawn(dispatch(shared.clone()));
    NotifierHandle { shared }
}

impl NotifierHandle {
    /// Queues one delivery per URL; never waits (a full queue drops its oldest delivery).
    pub fn notify(&self, notification: Notification) {
        for delivery in Delivery::per_url(&notification) {
            self.enqueue(delivery);
        }
    }

    /// Queues the notifications of alarm transitions, as `Alarms::evaluate` returns them.
    pub fn notify_alarm_transitions(&self, transitions: &[(MetricAlarm, AlarmHistoryItem)]) {
        for (alarm, item) in transitions {
            self.notify(alarm_notification(alarm, item));
        }
    }

    /// A channel whose transitions are notified: the hook of the server's alarm evaluation loop
    /// (`transitions: Some(handle.alarm_transition_sender())`).
    pub fn alarm_transition_sender(&self) -> mpsc::Sender<(MetricAlarm, AlarmHistoryItem)> {
        self.sender(TRANSITION_CHANNEL_CAPACITY, |(alarm, item)| Some(alarm_notification(&alarm, &item)))
    }

    /// A channel for any producer (insights opened or closed): each value sent becomes the
    /// notification `to_notification` makes of it (none: nothing to tell). Must be called on a
    /// tokio runtime; the forwarding task ends when every sender is dropped.
    pub fn sender<T: Send + 'static>(
        &self,
        capacity: usize,
        to_notification: impl Fn(T) -> Option<Notification> + Send + 'static,
    ) -> mpsc::Sender<T> {
        let (sender, mut receiver) = mpsc::channel::<T>(capacity.max(1));
        let handle = self.clone();
        tokio::spawn(async move {
            while let Some(value) = receiver.recv().await {
                if let Some(notification) = to_notification(value) {
                    handle.notify(notification);
                }
            }
        });
        sender
    }

    /// The counters as Prometheus text, for `/metrics`.
    pub fn prometheus(&self) -> String {
        self.shared.status.prometheus(self.queue_depth())
    }

    /// Counters and the last status of every (source, URL).
    pub fn snapshot(&self) -> NotificationsSnapshot {
        self.shared.status.snapshot(self.queue_depth())
    }

    fn queue_depth(&self) -> usize {
        self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn enqueue(&self, delivery: Delivery) {
        let dropped = {
            let mut queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped =
                if queue.len() >= self.shared.config.queue_capacity.max(1) { queue.pop_front() } else { None };
            queue.push_back(delivery);
            dropped
        };
        self.shared.status.queued();
        if let Some(dropped) = dropped {
            tracing::warn!(
                source = %dropped.source,
                url = %dropped.url,
                message_id = %dropped.message_id,
                "notification dropped: the queue is full"
            );
            self.shared.status.finished(&dropped, DeliveryOutcome::Dropped, 0, Some("the queue was full".to_owned()));
        }
        self.shared.wake.notify_one();
    }
}

/// Takes a slot, then the oldest waiting delivery, and runs it in its own task.
async fn dispatch(shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.config.max_in_flight.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let delivery = loop {
            let next = shared.queue.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
            match next {
                Some(delivery) => break delivery,
                None => shared.wake.notified().await,
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            delivery::deliver(&shared.client, &shared.config, &shared.status, delivery).await;
            drop(slot);
        });
    }
}
