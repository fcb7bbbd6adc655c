//! The insight loop of `fluoro serve`: every tick, the closed minutes past their grace are
//! evaluated (`fluoro_analyzer::Insights::evaluate`, off the async workers), and each insight
//! opened or closed is logged and sent on the notice channel.
//!
//! The channel is the notification hook: whoever holds the receiver (the webhook notifier)
//! gets every [`InsightNotice`]; without a receiver, notices are only logged. A full channel
//! drops the notice (counted in the log): evaluation never waits for a notifier.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use fluoro_analyzer::{Groups, InsightNotice, InsightSettings, InsightState, Insights, TRACE_TAIL_US};
use fluoro_store::Store;
use serde::Deserialize;
use tokio::sync::mpsc;

pub(crate) const DEFAULT_TICK: Duration = Duration::from_secs(10);
const DEFAULT_GRACE_SECONDS: u64 = 60;
const DEFAULT_BACKFILL_MINUTES: u64 = 60;
/// Insights open and close a few at a time; a full channel drops (and logs) the notice.
const NOTICE_CHANNEL_CAPACITY: usize = 256;
/// A week of minutes: more would scan a long stretch of the store in one go.
const MAX_BACKFILL_MINUTES: u64 = 7 * 24 * 60;

/// `[insights]` of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InsightsSection {
    pub(crate) tick_seconds: Option<f64>,
    pub(crate) grace_seconds: Option<u64>,
    pub(crate) backfill_minutes: Option<u64>,
    /// Where insights of groups with `NotificationsEnabled` are posted when they open and close.
    #[serde(default)]
    pub(crate) webhooks: Vec<String>,
}

/// The loop's timing and the analyzer's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopConfig {
    pub(crate) tick: Duration,
    pub(crate) grace: Duration,
    pub(crate) settings: InsightSettings,
}

impl InsightsSection {
    pub(crate) fn loop_config(&self) -> anyhow::Result<LoopConfig> {
        let tick = match self.tick_seconds {
            Some(seconds) => {
                anyhow::ensure!(
                    (0.1..=3600.0).contains(&seconds),
                    "insights.tick_seconds must be between 0.1 and 3600"
                );
                Duration::from_secs_f64(seconds)
            }
            None => DEFAULT_TICK,
        };
        let grace = self.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
        let tail = (TRACE_TAIL_US / 1_000_000) as u64;
        anyhow::ensure!(grace >= tail, "insights.grace_seconds must be at least {tail} (a trace's tail is read)");
        let backfill = self.backfill_minutes.unwrap_or(DEFAULT_BACKFILL_MINUTES);
        anyhow::ensure!(
            (1..=MAX_BACKFILL_MINUTES).contains(&backfill),
            "insights.backfill_minutes must be between 1 and {MAX_BACKFILL_MINUTES}"
        );
        let settings = InsightSettings { backfill_minutes: backfill as i64, ..InsightSettings::default() };
        Ok(LoopConfig { tick, grace: Duration::from_secs(grace), settings })
    }
}

impl InsightsSection {
    /// `webhooks`, each checked as alarms' `AlarmActions` are (http(s), a host, at most 5).
    pub(crate) fn webhooks(&self) -> anyhow::Result<Vec<String>> {
        anyhow::ensure!(
            self.webhooks.len() <= fluoro_analyzer::MAX_ALARM_ACTIONS,
            "insights.webhooks may hold at most {} URLs",
            fluoro_analyzer::MAX_ALARM_ACTIONS
        );
        for url in &self.webhooks {
            fluoro_analyzer::check_webhook_url(url).map_err(|why| anyhow::anyhow!("insights.webhooks entry {why}"))?;
        }
        Ok(self.webhooks.clone())
    }
}

/// The notification hook of the loop: each insight opened or closed in a group with
/// `NotificationsEnabled` goes to `webhooks` (nothing when there are none).
pub(crate) fn notice_sender(
    notifier: &fluoro_ui::NotifierHandle,
    webhooks: Vec<String>,
) -> Option<mpsc::Sender<InsightNotice>> {
    if webhooks.is_empty() {
        return None;
    }
    Some(notifier.sender(NOTICE_CHANNEL_CAPACITY, move |notice: InsightNotice| {
        notice.notifications_enabled.then(|| fluoro_ui::insight_notification(&notice.insight, &webhooks))
    }))
}

/// Opens `insights.json` (blocking: call before the runtime or in `spawn_blocking`).
pub(crate) fn open(path: &std::path::Path, config: &LoopConfig) -> anyhow::Result<Insights> {
    Insights::open(path, config.settings).with_context(|| format!("cannot open insights {}", path.display()))
}

/// Runs the loop until the task is aborted; `notices` is the notification hook.
pub(crate) fn spawn(
    store: Arc<Store>,
    groups: Arc<Groups>,
    insights: Arc<Insights>,
    config: LoopConfig,
    notices: Option<mpsc::Sender<InsightNotice>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(config.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let through = last_closed_minute(config.grace);
            let (store, groups, insights) = (store.clone(), groups.clone(), insights.clone());
            let evaluated = tokio::task::spawn_blocking(move || insights.evaluate(&store, &groups, through)).await;
            match evaluated {
                Ok(Ok(opened_or_closed)) => opened_or_closed.into_iter().for_each(|notice| announce(notice, &notices)),
                Ok(Err(error)) => tracing::warn!(error = %error, "insight evaluation failed; retried next tick"),
                Err(error) => tracing::warn!(error = %error, "insight evaluation task failed"),
            }
        }
    })
}

/// The start of the last minute that ended at least `grace` ago (Unix seconds).
fn last_closed_minute(grace: Duration) -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64);
    let closed_by = now - grace.as_secs() as i64;
    closed_by - closed_by.rem_euclid(60) - 60
}

fn announce(notice: InsightNotice, notices: &Option<mpsc::Sender<InsightNotice>>) {
    let insight = &notice.insight;
    let what = if insight.state == InsightState::Active { "insight opened" } else { "insight closed" };
    tracing::info!(
        insight_id = %insight.insight_id,
        group = %insight.group_name,
        root_cause = %insight.root_cause_service_id.name,
        start = insight.start_time,
        end = ?insight.end_time,
        summary = %insight.summary,
        "{what}"
    );
    if let Some(sender) = notices {
        if let Err(error) = sender.try_send(notice) {
            tracing::warn!(error = %error, "insight notice dropped: the notifier is not keeping up");
        }
    }
}
