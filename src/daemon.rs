//! The daemon: one loop that starts each feed's poll when it is due.
//!
//! The loop sleeps until the earliest due feed, starts every feed that is due (the
//! fetcher's global and per-host limits decide how many run at once), and takes the
//! reports as polls finish; each report carries the feed's next due time, so a slow
//! or failing feed never delays another. Beside it run the services: topic
//! re-evaluation, alert delivery and the HTTP API.
//!
//! Shutdown is an argument: the loop stops when the future completes, lets polls in
//! flight finish for a moment, then stops them (a stopped poll stored nothing, so it is
//! simply polled again after a restart). Reload requests arrive on a channel (SIGHUP):
//! the configuration is read and validated again; an invalid one is logged and the old
//! one stays. The loop tells systemd READY, RELOADING, STOPPING and a STATUS line, and
//! feeds the watchdog only while the database writer still answers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sd_notify::NotifyState;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, Id, JoinSet};

use crate::config::Database;
use crate::config::{Config, FeedConfig, Live};
use crate::model::{ErrorKind, FeedError, FeedState, PollOutcome, PollRecord, Reindex};
use crate::pipeline::schedule;
use crate::poll::{self, Context, Report, Settings};
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
) -> anyhow::Result<(Vec<Report>, crate::pages::Counts)> {
    let Prepared { ctx, feeds, reindex } = prepare(config, writer).await?;
    let mut chosen: Vec<(FeedConfig, FeedState)> =
        feeds.into_iter().filter(|(f, _)| only.is_empty() || only.contains(&f.name)).collect();
    let mut renewing = None;
    if ctx.writer.shared() {
        // Beside a fleet's workers, a fetch polls only the hosts it can lease, and keeps
        // them leased while it runs.
        let host = |(f, s): &(FeedConfig, FeedState)| lease_host(f, s);
        let mut hosts: Vec<String> = chosen.iter().map(host).collect();
        hosts.sort();
        hosts.dedup();
        let held: HashMap<String, i64> = ctx
            .writer
            .claim(hosts.clone(), Vec::new(), true, config.lease)
            .await?
            .into_iter()
            .map(|l| (l.host, l.fence))
            .collect();
        let (renewer, lease) = (ctx.clone(), config.lease);
        renewing = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                if let Err(e) = renewer.writer.claim(hosts.clone(), Vec::new(), false, lease).await {
                    tracing::warn!(error = %e, "cannot renew the leases");
                }
            }
        }));
        let before = chosen.len();
        chosen.retain_mut(|pair| {
            let host = host(pair);
            pair.1.lease = held.get(&host).map(|&fence| crate::model::Lease { host, fence });
            pair.1.lease.is_some()
        });
        if chosen.len() < before {
            tracing::warn!(skipped = before - chosen.len(), "feeds left to the workers that hold their hosts");
        }
    }
    let total = chosen.len();
    let mut tasks = JoinSet::new();
    for (i, (feed, state)) in chosen.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(async move { (i, poll::poll(&ctx, &feed, &state).await) });
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
    // The pages of what was stored, waited for within a bound: those that fail for now
    // stay queued for the next fetch or the daemon.
    let mut pages = crate::pages::Counts::default();
    if !interrupted {
        pages = crate::pages::drain(&ctx, &config.database, config.fetch.timeout * 3).await;
        prune_once(&ctx, config.keep_fetches).await;
    }
    if !interrupted && !reindex.is_empty() {
        crate::reindex::run(&ctx.writer, &config.database, &config.topics, reindex, |topic, p| {
            progress(Progress::Reindexed(topic, p))
        })
        .await?;
    }
    if let Some(renewing) = renewing {
        renewing.abort();
        let _ = renewing.await;
    }
    if let Err(e) = ctx.writer.leave().await {
        tracing::warn!(error = %e, "cannot give the leases back; they run out on their own");
    }
    finish(ctx).await;
    Ok((reports.into_iter().flatten().collect(), pages))
}

/// `kabar refetch-pages`: queues again the pages that failed for good (`failed`) or
/// were read by an older extractor (`outdated`), and reads what it can of them within
/// `within`; the rest stay queued for the daemon or the next run, so the command can be
/// stopped and run again. Returns how many were queued, and what the reading did.
pub async fn refetch_pages(
    config: &Config,
    writer: Writer,
    failed: bool,
    outdated: bool,
    within: std::time::Duration,
) -> anyhow::Result<(usize, crate::pages::Counts)> {
    let Prepared { ctx, .. } = prepare(config, writer).await?;
    let queued = ctx.writer.requeue_pages(failed, outdated, crate::pipeline::extract::VERSION).await?;
    let counts = crate::pages::drain(&ctx, &config.database, within).await;
    finish(ctx).await;
    Ok((queued, counts))
}

struct Slot {
    feed: FeedConfig,
    state: FeedState,
    due: DateTime<Utc>,
    /// The poll under way, if any.
    running: Option<AbortHandle>,
}

/// What the daemon's services share: the current configuration, the poll context, and
/// a few live figures for STATUS, `/healthz` and `/metrics`.
struct Runtime {
    config: Arc<Live>,
    ctx: Arc<Context>,
    /// The database in use (a reload cannot move it).
    database: Database,
    in_flight: Arc<AtomicUsize>,
    started: Instant,
}

impl Runtime {
    fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// What the HTTP API reads of this daemon.
    fn api_state(&self) -> crate::api::AppState {
        crate::api::AppState {
            config: self.config.clone(),
            database: self.database.clone(),
            metrics: self.ctx.metrics.clone(),
            writer: self.ctx.writer.clone(),
            polls_in_flight: self.in_flight.clone(),
            started: self.started,
        }
    }
}

/// Runs the daemon until `shutdown` completes; each message on `reloads` re-reads the
/// configuration file.
pub async fn run(
    config: Config,
    writer: Writer,
    shutdown: impl Future<Output = ()>,
    mut reloads: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let listener = match config.http.listen {
        Some(addr) => {
            Some(crate::api::server::bind(addr).with_context(|| format!("cannot listen on {addr} ([http] listen)"))?)
        }
        None => None,
    };
    let Prepared { ctx, feeds, reindex } = prepare(&config, writer).await?;
    let runtime = Arc::new(Runtime {
        database: config.database.clone(),
        config: Arc::new(Live::new(config)),
        ctx: ctx.clone(),
        in_flight: Arc::default(),
        started: Instant::now(),
    });
    let (stop, stopped) = watch::channel(false);
    let mut services: JoinSet<()> = JoinSet::new();
    let mut reindexing = start_reindex(&runtime, reindex);
    services.spawn(crate::alerts::run(ctx.clone(), runtime.database.clone(), stopped.clone()));
    services.spawn(crate::pages::run(ctx.clone(), runtime.database.clone(), stopped.clone()));
    services.spawn(prune_fetch_log(runtime.clone(), stopped.clone()));
    services.spawn(merge_search_index(runtime.clone(), stopped.clone()));
    if let Some(listener) = listener {
        tracing::info!(address = %listener.local_addr()?, "HTTP API listening");
        services.spawn(crate::api::serve(listener, Arc::new(runtime.api_state()), stopped.clone()));
    }

    let now = Utc::now();
    let mut rng = fastrand::Rng::new();
    let mut slots: Vec<Slot> = feeds
        .into_iter()
        .map(|(feed, state)| Slot {
            due: schedule::at_startup(&feed.schedule, state.next_attempt_at, now, &mut rng),
            feed,
            state,
            running: None,
        })
        .collect();
    let config = runtime.config();
    // On a database a fleet shares, a worker polls the hosts it holds a lease on.
    let mut fleet = ctx.writer.shared().then(|| Leases::new(config.lease));
    if let Some(leases) = fleet.as_mut() {
        leases.claim(&ctx, &mut slots).await;
    }
    tracing::info!(feeds = slots.len(), topics = config.topics.len(), database = %runtime.database,
        worker = ctx.writer.worker(), "kabar is running");
    notify(&[NotifyState::Ready, NotifyState::Status(&status_line(&slots, &runtime))]);

    let watchdog = sd_notify::watchdog_enabled();
    let mut tick = tokio::time::interval(watchdog.map_or(Duration::from_secs(30), |w| w / 2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tasks: JoinSet<Report> = JoinSet::new();
    let mut running: HashMap<Id, String> = HashMap::new();
    // A reload reads and validates the file on a blocking thread, so a slow or huge file
    // never holds up the loop; a request that arrives meanwhile starts another after it.
    let mut reading: Option<tokio::task::JoinHandle<anyhow::Result<(Config, Settings)>>> = None;
    let mut read_again = false;
    tokio::pin!(shutdown);
    loop {
        let mine = |s: &Slot| fleet.as_ref().is_none_or(|f| f.holds(s));
        let next_due = slots.iter().filter(|s| s.running.is_none() && mine(s)).map(|s| s.due).min();
        let wait = next_due
            .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(3600));
        let claim_in = fleet.as_ref().map_or(Duration::from_secs(3600), Leases::next_claim);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(claim_in), if fleet.is_some() => {
                if let Some(leases) = fleet.as_mut() {
                    leases.claim(&ctx, &mut slots).await;
                }
            }
            Some(()) = reloads.recv() => {
                if reading.is_some() {
                    read_again = true;
                    continue;
                }
                let mut states = vec![NotifyState::Reloading];
                states.extend(NotifyState::monotonic_usec_now().ok());
                notify(&states);
                reading = Some(read_config(&runtime));
            }
            read = async { reading.as_mut().expect("guarded").await }, if reading.is_some() => {
                reading = None;
                let outcome = match read {
                    Ok(Ok((new, settings))) => reload(&runtime, new, settings, &mut slots, &mut running).await,
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(anyhow::anyhow!("reading the configuration failed: {e}")),
                };
                let line = match outcome {
                    Ok(pending) => {
                        if !pending.is_empty() {
                            if let Some(old) = reindexing.take() {
                                old.abort();
                            }
                            reindexing = start_reindex(&runtime, pending);
                        }
                        status_line(&slots, &runtime)
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "reload failed; still running on the previous configuration");
                        format!("reload failed, running on the previous configuration: {e:#}")
                    }
                };
                notify(&[NotifyState::Ready, NotifyState::Status(&line)]);
                if std::mem::take(&mut read_again) {
                    reading = Some(read_config(&runtime));
                }
            }
            _ = tick.tick() => {
                // Feed the watchdog only while the writer still answers in time.
                let answered = tokio::time::timeout(watchdog.map_or(Duration::from_secs(10), |w| w / 2), ctx.writer.ping()).await;
                match answered {
                    Ok(Ok(())) => notify(&[NotifyState::Watchdog, NotifyState::Status(&status_line(&slots, &runtime))]),
                    _ => tracing::error!("the database writer did not answer; not feeding the watchdog"),
                }
            }
            _ = tokio::time::sleep(wait) => {
                let now = Utc::now();
                for slot in slots.iter_mut().filter(|s| s.running.is_none() && s.due <= now) {
                    let lease = match &fleet {
                        None => None,
                        Some(leases) => match leases.lease_of(slot) {
                            Some(lease) => Some(lease),
                            None => continue,
                        },
                    };
                    let (ctx, feed, mut state) = (ctx.clone(), slot.feed.clone(), slot.state.clone());
                    state.lease = lease;
                    let counted = InFlight::new(runtime.clone());
                    let handle = tasks.spawn(async move {
                        let _counted = counted;
                        poll::poll(&ctx, &feed, &state).await
                    });
                    running.insert(handle.id(), slot.feed.name.clone());
                    slot.running = Some(handle);
                }
            }
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => match done {
                Ok((id, report)) => {
                    let name = running.remove(&id);
                    // A feed removed by a reload while polling has no slot any more.
                    if let Some(slot) = name.and_then(|n| slots.iter_mut().find(|s| s.feed.name == n)) {
                        slot.due = report.state.next_attempt_at.unwrap_or_else(Utc::now);
                        slot.state = report.state;
                        slot.running = None;
                    }
                }
                Err(e) => {
                    let name = running.remove(&e.id());
                    if e.is_cancelled() {
                        continue;
                    }
                    // The poll itself panicked (processing panics are caught inside).
                    if let Some(slot) = name.and_then(|n| slots.iter_mut().find(|s| s.feed.name == n)) {
                        slot.running = None;
                        record_crash(&ctx, slot, &e).await;
                    }
                }
            },
        }
    }
    notify(&[NotifyState::Stopping]);
    tracing::info!(in_flight = tasks.len(), "shutting down");
    let _ = stop.send(true);
    if let Some(handle) = reindexing {
        // A batch is one transaction: stopping between or inside batches loses nothing.
        handle.abort();
        let _ = handle.await;
    }
    let drained = tokio::time::timeout(DRAIN, async {
        while tasks.join_next().await.is_some() {}
        while services.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(stopped = tasks.len() + services.len(), "stopping work still under way");
        tasks.abort_all();
        services.abort_all();
        while tasks.join_next().await.is_some() {}
        while services.join_next().await.is_some() {}
    }
    if let Some(read) = reading {
        read.abort();
    }
    drop(runtime);
    if fleet.is_some()
        && let Err(e) = ctx.writer.leave().await
    {
        tracing::warn!(error = %e, "cannot give this worker's leases back; they run out on their own");
    }
    finish(ctx).await;
    tracing::info!("stopped");
    Ok(())
}

/// A fleet worker's leases: which hosts it polls, under which fence, and when it claims
/// again (every third of a lease; after a failure, backing off up to a lease).
struct Leases {
    lease: Duration,
    held: HashMap<String, i64>,
    next: tokio::time::Instant,
    failures: u32,
    /// Whether a claim round has been heard: the first only says this worker is there,
    /// so workers starting together share the hosts from their first claim.
    heard: bool,
}

/// How long a starting worker waits, once heard from, before it takes its share.
const FIRST_CLAIM_AFTER: Duration = Duration::from_secs(2);

impl Leases {
    fn new(lease: Duration) -> Leases {
        Leases { lease, held: HashMap::new(), next: tokio::time::Instant::now(), failures: 0, heard: false }
    }

    fn next_claim(&self) -> Duration {
        self.next.saturating_duration_since(tokio::time::Instant::now())
    }

    fn holds(&self, slot: &Slot) -> bool {
        self.held.contains_key(&slot_host(slot))
    }

    fn lease_of(&self, slot: &Slot) -> Option<crate::model::Lease> {
        let host = slot_host(slot);
        self.held.get(&host).map(|&fence| crate::model::Lease { host, fence })
    }

    /// A claim round. Feeds of a host newly held are read again from the database (another
    /// worker may have polled them since), and become due when it says.
    async fn claim(&mut self, ctx: &Context, slots: &mut [Slot]) {
        let mut hosts: Vec<String> = slots.iter().map(slot_host).collect();
        hosts.sort();
        hosts.dedup();
        let busy: Vec<String> = slots.iter().filter(|s| s.running.is_some()).map(slot_host).collect();
        match ctx.writer.claim(hosts, busy, self.heard, self.lease).await {
            Ok(leases) => {
                self.failures = 0;
                let held: HashMap<String, i64> = leases.into_iter().map(|l| (l.host, l.fence)).collect();
                let gained: Vec<usize> = (0..slots.len())
                    .filter(|&i| {
                        let host = slot_host(&slots[i]);
                        held.get(&host).is_some_and(|fence| self.held.get(&host) != Some(fence))
                    })
                    .collect();
                let lost = self.held.keys().filter(|h| !held.contains_key(*h)).count();
                if !gained.is_empty() || lost > 0 {
                    tracing::info!(
                        hosts = held.len(),
                        feeds_gained = gained.len(),
                        hosts_lost = lost,
                        "leases changed"
                    );
                }
                self.held = held;
                let ids: Vec<i64> = gained.iter().map(|&i| slots[i].state.id).collect();
                if !ids.is_empty() {
                    match ctx.writer.feed_states(ids).await {
                        Ok(states) => {
                            let now = Utc::now();
                            let by_id: HashMap<i64, FeedState> = states.into_iter().map(|s| (s.id, s)).collect();
                            for &i in &gained {
                                if let Some(state) = by_id.get(&slots[i].state.id) {
                                    slots[i].due = state.next_attempt_at.map_or(now, |t| t.max(now));
                                    slots[i].state = state.clone();
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot read the state of the feeds just claimed"),
                    }
                }
                let every = if self.heard { self.lease / 3 } else { FIRST_CLAIM_AFTER.min(self.lease / 3) };
                self.heard = true;
                self.next = tokio::time::Instant::now() + every;
            }
            Err(e) => {
                // Without the database, no lease can be trusted: stop polling until a
                // claim goes through again.
                self.failures += 1;
                self.held.clear();
                let wait = (self.lease / 3 * 2u32.saturating_pow(self.failures.min(6))).min(self.lease);
                tracing::error!(error = %e, retry_in = ?wait, "cannot claim hosts; polling nothing until the database answers");
                notify(&[NotifyState::Status(&format!("cannot reach the database to claim hosts: {e}"))]);
                self.next = tokio::time::Instant::now() + wait;
            }
        }
    }
}

/// The host a feed is fetched from now (where it moved to, else as configured), as leases
/// name it (see `fetch::host_key`).
fn lease_host(feed: &FeedConfig, state: &FeedState) -> String {
    let url = url::Url::parse(&state.url).unwrap_or_else(|_| feed.url.clone());
    crate::fetch::host_key(&url)
}

fn slot_host(slot: &Slot) -> String {
    lease_host(&slot.feed, &slot.state)
}

/// How often the fetch log is pruned to `storage.keep_fetches`.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Prunes the fetch log at start and then every [`PRUNE_EVERY`], until `stop`.
async fn prune_fetch_log(runtime: Arc<Runtime>, stop: watch::Receiver<bool>) {
    periodically(tokio::time::Instant::now(), PRUNE_EVERY, stop, || {
        let runtime = runtime.clone();
        async move { prune_once(&runtime.ctx, runtime.config().keep_fetches).await }
    })
    .await
}

/// Deletes fetch-log rows older than `keep`, by the context's clock.
pub async fn prune_once(ctx: &Context, keep: Duration) {
    let before = ctx.now().timestamp() - keep.as_secs() as i64;
    match ctx.writer.prune_fetches(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "fetch log pruned"),
        Err(e) => tracing::warn!(error = %e, "pruning the fetch log failed"),
    }
}

/// How often the search index is merged into one segment ([`Writer::merge_index`]),
/// and how long after the start the first time.
const MERGE_EVERY: Duration = Duration::from_secs(24 * 3600);
const MERGE_FIRST: Duration = Duration::from_secs(600);

/// Merges the search index [`MERGE_FIRST`] after the start and then every
/// [`MERGE_EVERY`], until `stop`: searches over a large archive open each of their
/// terms once per segment.
async fn merge_search_index(runtime: Arc<Runtime>, stop: watch::Receiver<bool>) {
    periodically(tokio::time::Instant::now() + MERGE_FIRST, MERGE_EVERY, stop, || {
        let runtime = runtime.clone();
        async move {
            let started = Instant::now();
            match runtime.ctx.writer.merge_index().await {
                Ok(0) => {}
                Ok(steps) => tracing::info!(steps, took = ?started.elapsed(), "search index merged"),
                Err(e) => tracing::warn!(error = %e, "merging the search index failed"),
            }
        }
    })
    .await
}

/// Runs `job` at `first` and then every `period` until `stop`; a run that overlaps
/// the next tick makes it skip, not pile up.
async fn periodically<F, Fut>(
    first: tokio::time::Instant,
    period: Duration,
    mut stop: watch::Receiver<bool>,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut every = tokio::time::interval_at(first, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => job().await,
            _ = stop.changed() => return,
        }
    }
}

/// Counts a poll in flight for as long as it lives: dropped when the poll ends, is
/// aborted or panics, so the count can neither leak nor underflow.
struct InFlight(Arc<Runtime>);

impl InFlight {
    fn new(runtime: Arc<Runtime>) -> InFlight {
        runtime.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(runtime)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads and validates the configuration file again, on a blocking thread.
fn read_config(runtime: &Runtime) -> tokio::task::JoinHandle<anyhow::Result<(Config, Settings)>> {
    let path = runtime.config().path.clone();
    tokio::task::spawn_blocking(move || {
        let new = crate::config::load(&path)?;
        let settings = Settings::new(&new).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        Ok((new, settings))
    })
}

/// Re-evaluates `pending` topics over the archive in the background.
fn start_reindex(runtime: &Arc<Runtime>, pending: Vec<(String, Reindex)>) -> Option<tokio::task::JoinHandle<()>> {
    if pending.is_empty() {
        return None;
    }
    let runtime = runtime.clone();
    Some(tokio::spawn(async move {
        let topics = runtime.config().topics.clone();
        let result = crate::reindex::run(&runtime.ctx.writer, &runtime.database, &topics, pending, |_, _| {}).await;
        if let Err(e) = result {
            tracing::error!(error = %format!("{e:#}"), "re-evaluating topics failed; it resumes at the next start");
        }
    }))
}

/// Reads the configuration again and applies it: feeds added start, removed feeds
/// stop (their articles stay), changed schedules take effect, feed state (backoff,
/// validators) is kept, and new or changed topics are returned for re-evaluation.
async fn reload(
    runtime: &Runtime,
    new: Config,
    settings: Settings,
    slots: &mut Vec<Slot>,
    running: &mut HashMap<Id, String>,
) -> anyhow::Result<Vec<(String, Reindex)>> {
    let old = runtime.config();
    if new.database != old.database {
        tracing::warn!("storage.database changed; restart kabar to use the new database");
    }
    if new.http != old.http {
        tracing::warn!("[http] changed; restart kabar to apply it");
    }
    let writer = &runtime.ctx.writer;
    let names = new.feeds.iter().map(|f| (f.name.clone(), f.url.to_string())).collect();
    let states = writer.sync_feeds(names).await.context("cannot record the configured feeds")?;
    let topics = new.topics.iter().map(|t| (t.name.clone(), t.query.source().to_string())).collect();
    let pending = writer.sync_topics(topics).await.context("cannot record the configured topics")?;
    runtime.ctx.replace_settings(settings);

    let now = Utc::now();
    let mut rng = fastrand::Rng::new();
    let (mut added, mut removed, mut changed) = (0, 0, 0);
    slots.retain(|s| {
        let keep = new.feeds.iter().any(|f| f.name == s.feed.name);
        if !keep {
            removed += 1;
            // A removed feed is not fetched again, not even by a poll under way.
            if let Some(handle) = &s.running {
                handle.abort();
                running.remove(&handle.id());
            }
        }
        keep
    });
    for (feed, state) in new.feeds.iter().cloned().zip(states) {
        match slots.iter_mut().find(|s| s.feed.name == feed.name) {
            Some(slot) => {
                let schedule_changed = slot.feed.schedule.to_string() != feed.schedule.to_string();
                if schedule_changed || slot.feed.url != feed.url {
                    changed += 1;
                }
                if schedule_changed && slot.state.failures == 0 {
                    slot.due = slot.due.min(feed.schedule.next_after(now));
                }
                if slot.feed.url != feed.url {
                    slot.state = state;
                    slot.due = now;
                }
                slot.feed = feed;
            }
            None => {
                added += 1;
                slots.push(Slot {
                    due: schedule::at_startup(&feed.schedule, state.next_attempt_at, now, &mut rng),
                    feed,
                    state,
                    running: None,
                });
            }
        }
    }
    tracing::info!(added, removed, changed, topics_to_reevaluate = pending.len(), "configuration reloaded");
    runtime.config.replace(new);
    Ok(pending)
}

/// One line for systemd's STATUS.
fn status_line(slots: &[Slot], runtime: &Runtime) -> String {
    let failing = slots.iter().filter(|s| s.state.failures > 0).count();
    let next = slots.iter().filter(|s| s.running.is_none()).map(|s| s.due).min();
    let next = next.map_or("-".to_string(), |d| format!("{}s", (d - Utc::now()).num_seconds().max(0)));
    format!(
        "{} feeds, {failing} failing, {} polling, next poll in {next}",
        slots.len(),
        runtime.in_flight.load(Ordering::Relaxed)
    )
}

/// Tells systemd (when it is listening) how the daemon is doing.
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
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
        lease: slot.state.lease.clone(),
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

/// Turns each SIGHUP into a reload request.
pub async fn hangups(reload: mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reloading is off");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the configuration");
        if reload.send(()).await.is_err() {
            return;
        }
    }
}
