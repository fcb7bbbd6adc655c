//! The server's work on a clock, beside the requests it answers: group metrics for each closed
//! minute (`GroupMetricsRecorder`) and alarm evaluation (`Alarms::evaluate` over
//! `StoreMetrics`). Both run their store reads on the blocking pool, one pass at a time; on
//! stop, a pass under way finishes before the store is closed.
//!
//! Alarm transitions are logged (one line each) and handed to an optional channel, the seam a
//! notifier (webhooks) plugs into.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluoro_analyzer::{AlarmHistoryItem, Alarms, GroupMetricsRecorder, Groups, MetricAlarm, StoreMetrics};
use fluoro_store::Store;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How often due minutes are looked for: cheap when none is due, and a minute's metrics are
/// then at most this late after its grace delay.
const GROUP_METRICS_TICK: Duration = Duration::from_secs(2);

/// One alarm transition: the alarm after it, and its history entry.
pub(crate) type AlarmTransition = (MetricAlarm, AlarmHistoryItem);

/// What the background work reads and where alarm transitions go.
pub(crate) struct LiveParts {
    pub(crate) store: Arc<Store>,
    pub(crate) groups: Arc<Groups>,
    pub(crate) alarms: Arc<Alarms>,
    pub(crate) recorder: GroupMetricsRecorder,
    pub(crate) alarm_interval: Duration,
    /// Every transition, when some notifier listens; a full channel drops it with a warning.
    pub(crate) transitions: Option<mpsc::Sender<AlarmTransition>>,
}

/// The running background tasks.
pub(crate) struct Live {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Live {
    pub(crate) fn start(parts: LiveParts) -> Live {
        let (stop, stopped) = watch::channel(false);
        let metrics = record_group_metrics(parts.recorder, parts.store.clone(), parts.groups, stopped.clone());
        let alarms = evaluate_alarms(parts.store, parts.alarms, parts.alarm_interval, parts.transitions, stopped);
        Live { stop, tasks: vec![tokio::spawn(metrics), tokio::spawn(alarms)] }
    }

    /// Stops both loops, waiting for a pass under way.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn record_group_metrics(
    mut recorder: GroupMetricsRecorder,
    store: Arc<Store>,
    groups: Arc<Groups>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(GROUP_METRICS_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        let (store, groups) = (store.clone(), groups.clone());
        let pass = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let outcome = recorder.record_due(&store, &groups, unix_now());
            (recorder, outcome, started.elapsed())
        });
        match pass.await {
            Ok((back, Ok(minutes), elapsed)) => {
                recorder = back;
                if let (Some(first), Some(last)) = (minutes.first(), minutes.last()) {
                    tracing::debug!(
                        first,
                        last,
                        minutes = minutes.len(),
                        elapsed_ms = elapsed.as_millis() as u64,
                        "group metrics computed"
                    );
                }
            }
            Ok((back, Err(error), _)) => {
                recorder = back;
                tracing::warn!(error = %error, "cannot compute group metrics; retrying on the next tick");
            }
            Err(error) => {
                tracing::error!(error = %error, "group metrics stopped");
                return;
            }
        }
    }
}

async fn evaluate_alarms(
    store: Arc<Store>,
    alarms: Arc<Alarms>,
    interval: Duration,
    transitions: Option<mpsc::Sender<AlarmTransition>>,
    mut stopped: watch::Receiver<bool>,
) {
    // The first evaluation waits one interval, as between any two: after a restart the group
    // metrics' catch-up gets that long to fill the missed minutes before alarms read them.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        let (store, alarms) = (store.clone(), alarms.clone());
        let pass = tokio::task::spawn_blocking(move || alarms.evaluate(&StoreMetrics::new(&store), unix_now()));
        match pass.await {
            Ok(Ok(changes)) => changes.into_iter().for_each(|change| announce(change, transitions.as_ref())),
            Ok(Err(error)) => tracing::warn!(error = %error, "cannot save alarm states"),
            Err(error) => {
                tracing::error!(error = %error, "alarm evaluation stopped");
                return;
            }
        }
    }
}

fn announce(transition: AlarmTransition, notifier: Option<&mpsc::Sender<AlarmTransition>>) {
    let item = &transition.1;
    tracing::info!(
        alarm = %item.alarm_name,
        change = %format!("{} -> {}", item.old_state.as_str(), item.new_state.as_str()),
        reason = %item.reason,
        "alarm state changed"
    );
    if let Some(notifier) = notifier {
        if let Err(error) = notifier.try_send(transition) {
            tracing::warn!(error = %error, "alarm transition not handed to the notifier");
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs() as i64).unwrap_or_default()
}
