//! The daemon: one loop that starts each feed's poll when it is due.
//!
//! The loop sleeps until the earliest due feed, starts every feed that is due (the
//! fetcher's global and per-host limits decide how many run at once), and takes the
//! reports as polls finish; each report carries the feed's next due time, so a slow
//! or failing feed never delays another. Shutdown is an argument: the loop stops when
//! the future completes, lets polls in flight finish for a moment, then stops them
//! (a stopped poll stored nothing, so it is simply polled again after a restart).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::task::{Id, JoinSet};

use crate::config::{Config, FeedConfig};
use crate::model::{ErrorKind, FeedError, FeedState, PollOutcome, PollRecord, Reindex};
use crate::pipeline::{self, Context, Report, Settings, schedule};
use crate::store::Writer;

/// How long polls in flight may take to finish after shutdown is asked for.
pub const DRAIN: Duration = Duration::from_secs(3);

/// What the daemon and `kabar fetch` start from.
pub struct Prepared {
    pub ctx: Arc<Context>,
    /// Every configured feed with its stored state.
    pub feeds: Vec<(FeedConfig, FeedState)>,
    /// Topics whose matches over the stored archive are not for their current query.
    pub reindex: Vec<(String, Reindex)>,
}

/// Builds the shared poll context, and records the configured feeds and topics.
pub async fn prepare(config: &Config, writer: Writer) -> anyhow::Result<Prepared> {
    let settings = Settings::new(config).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let names = config.feeds.iter().map(|f| (f.name.clone(), f.url.to_string())).collect();
    let states = writer.sync_feeds(names).await.context("cannot record the configured feeds")?;
    let topics = config.topics.iter().map(|t| (t.name.clone(), t.query.source().to_string())).collect();
    let reindex = writer.sync_topics(topics).await.context("cannot record the configured topics")?;
    let ctx = Arc::new(Context::new(writer, settings));
    Ok(Prepared { ctx, feeds: config.feeds.iter().cloned().zip(states).collect(), reindex })
}

/// Closes the writer once every poll has let go of the context.
async fn finish(ctx: Arc<Context>) {
    match Arc::try_unwrap(ctx) {
        Ok(ctx) => match Arc::try_unwrap(ctx.writer) {
            Ok(writer) => writer.close().await,
            Err(_) => tracing::warn!("the database writer is still in use at shutdown"),
        },
        Err(_) => tracing::warn!("polls still hold the context at shutdown"),
    }
}

/// What a one-shot progress display is told.
pub enum Progress<'a> {
    /// A poll finished: the report, polls done, polls in all.
    Polled(&'a Report, usize, usize),
    /// A topic's re-evaluation over the archive moved on.
    Reindexed(&'a str, Reindex),
}

/// Polls each feed once, `feeds` (by name) or all of them, then re-evaluates new and
/// changed topics over the archive. Returns the reports in configuration order.
pub async fn fetch_once(
    config: &Config,
    writer: Writer,
    only: &[String],
    mut progress: impl FnMut(Progress),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Vec<Report>> {
    let Prepared { ctx, feeds, reindex } = prepare(config, writer).await?;
    let chosen: Vec<(FeedConfig, FeedState)> =
        feeds.into_iter().filter(|(f, _)| only.is_empty() || only.contains(&f.name)).collect();
    let total = chosen.len();
    let mut tasks = JoinSet::new();
    for (i, (feed, state)) in chosen.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(async move { (i, pipeline::poll(&ctx, &feed, &state).await) });
    }
    let mut reports: Vec<Option<Report>> = vec![None; total];
    let mut done = 0;
    let mut interrupted = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                None => break,
                Some(Ok((i, report))) => {
                    done += 1;
                    progress(Progress::Polled(&report, done, total));
                    reports[i] = Some(report);
                }
                Some(Err(e)) => tracing::error!(error = %e, "a poll task failed"),
            },
            _ = &mut shutdown => {
                tracing::warn!("interrupted; stopping the polls in flight");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                interrupted = true;
                break;
            }
        }
    }
    drop(tasks);
    if !interrupted && !reindex.is_empty() {
        crate::reindex::run(&ctx.writer, &config.database, &config.topics, reindex, |topic, p| {
            progress(Progress::Reindexed(topic, p))
        })
        .await?;
    }
    finish(ctx).await;
    Ok(reports.into_iter().flatten().collect())
}

struct Slot {
    feed: FeedConfig,
    state: FeedState,
    due: DateTime<Utc>,
    running: bool,
}

/// Runs the scheduler until `shutdown` completes.
pub async fn run(config: Config, writer: Writer, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Prepared { ctx, feeds, reindex } = prepare(&config, writer).await?;
    // Re-evaluate new and changed topics over the archive, beside the polls.
    let reindexing = (!reindex.is_empty()).then(|| {
        let (ctx, database, topics) = (ctx.clone(), config.database.clone(), config.topics.clone());
        tokio::spawn(async move {
            let result = crate::reindex::run(&ctx.writer, &database, &topics, reindex, |_, _| {}).await;
            if let Err(e) = result {
                tracing::error!(error = %format!("{e:#}"), "re-evaluating topics failed; it resumes at the next start");
            }
        })
    });
    let now = Utc::now();
    let mut rng = fastrand::Rng::new();
    let mut slots: Vec<Slot> = feeds
        .into_iter()
        .map(|(feed, state)| Slot {
            due: schedule::at_startup(&feed.schedule, state.next_attempt_at, now, &mut rng),
            feed,
            state,
            running: false,
        })
        .collect();
    tracing::info!(feeds = slots.len(), topics = config.topics.len(), database = %config.database.display(),
        "kabar is running");
    let mut tasks: JoinSet<Report> = JoinSet::new();
    let mut running: HashMap<Id, usize> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        let next_due = slots.iter().filter(|s| !s.running).map(|s| s.due).min();
        let wait = next_due
            .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {
                let now = Utc::now();
                for (i, slot) in slots.iter_mut().enumerate() {
                    if slot.running || slot.due > now {
                        continue;
                    }
                    slot.running = true;
                    let (ctx, feed, state) = (ctx.clone(), slot.feed.clone(), slot.state.clone());
                    let handle = tasks.spawn(async move { pipeline::poll(&ctx, &feed, &state).await });
                    running.insert(handle.id(), i);
                }
            }
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => match done {
                Ok((id, report)) => {
                    if let Some(i) = running.remove(&id) {
                        let slot = &mut slots[i];
                        slot.due = report.state.next_attempt_at.unwrap_or_else(Utc::now);
                        slot.state = report.state;
                        slot.running = false;
                    }
                }
                Err(e) => {
                    // The poll itself panicked (processing panics are caught inside).
                    if let Some(i) = running.remove(&e.id()) {
                        let slot = &mut slots[i];
                        slot.running = false;
                        record_crash(&ctx, slot, &e).await;
                    }
                }
            },
        }
    }
    tracing::info!(in_flight = tasks.len(), "shutting down");
    if let Some(handle) = reindexing {
        // A batch is one transaction: stopping between or inside batches loses nothing.
        handle.abort();
        let _ = handle.await;
    }
    let drained = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!(stopped = tasks.len(), "stopping polls still in flight");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    finish(ctx).await;
    tracing::info!("stopped");
    Ok(())
}

/// Records a poll that panicked as that feed's `internal` error and backs it off.
async fn record_crash(ctx: &Context, slot: &mut Slot, e: &tokio::task::JoinError) {
    let message = if e.is_panic() { "internal error: the poll panicked".to_string() } else { e.to_string() };
    tracing::error!(feed = %slot.feed.name, error = %message, "poll failed");
    let now = Utc::now();
    let failures = slot.state.failures.saturating_add(1);
    let settings = ctx.settings();
    let s = &settings.schedule;
    let next = schedule::after_failure(
        &slot.feed.schedule,
        now,
        failures,
        s.jitter,
        s.max_backoff,
        None,
        &mut fastrand::Rng::new(),
    );
    let record = PollRecord {
        feed_id: slot.state.id,
        started_at: now,
        duration: Duration::ZERO,
        http_status: None,
        outcome: PollOutcome::Failed(FeedError::new(ErrorKind::Internal, message)),
        failures,
        next_attempt_at: next,
        alert_topics: Default::default(),
    };
    if let Err(e) = ctx.writer.record_poll(record).await {
        tracing::error!(feed = %slot.feed.name, error = %e, "cannot record the failure");
    }
    slot.state.failures = failures;
    slot.state.next_attempt_at = Some(next);
    slot.due = next;
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
