//! The single writer: one thread owns the only writing connection and runs the jobs
//! sent to it, one at a time, each in its own transaction. A bounded queue in front
//! of it makes producers wait instead of piling up work. A second thread checkpoints
//! the WAL four times a second while there are commits, and after every commit while the
//! log is large, so commits seldom pay for it (see [`schema::WAL_RESTART_PAGES`] for
//! when they do).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::ingest::{self, State};
use super::sql::{Backend, Db, blocking};
use super::{StoreError, lock, schema};
use crate::config::Database;
use crate::metrics::WriteTimes;
use crate::model::{DueAlert, FeedState, IngestSummary, Lease, PageDone, PageOutcome, PollRecord, Reindex, TopicMatch};
use crate::pipeline::clean::SiteLines;
use crate::pipeline::dedup::index::Index;
use crate::pipeline::dedup::index::Params;

/// Jobs waiting for the writer; a producer past this waits for room. Small: a poll
/// waiting here holds all its articles, and the writer drains a job in milliseconds.
/// On a cold fetch of 200 feeds the writer is the slower side, so the queue is full:
/// 8 held 42.8 MiB at the peak, 4 holds 40.3 (and 0.94x the wall time), 2 holds 38.8
/// but starves the writer (1.04x).
pub const QUEUE: usize = 4;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

type Job = Box<dyn FnOnce(&mut State) + Send>;

pub struct Writer {
    site_lines: Arc<SiteLines>,
    write_times: Arc<WriteTimes>,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    checkpointer: Option<(std_mpsc::Sender<Checkpoint>, JoinHandle<()>)>,
    database: Database,
    /// This process's name in a fleet ("host:pid").
    worker: String,
    /// Held until the writer is dropped, after its threads have stopped (fields drop in
    /// order, and `Drop` joins the threads first).
    _lock: Option<lock::WriterLock>,
}

/// A job the writer has queued; [`Pending::outcome`] waits for its result.
pub struct Pending<T>(oneshot::Receiver<Result<T, StoreError>>);

impl<T> Pending<T> {
    pub async fn outcome(self) -> Result<T, StoreError> {
        self.0.await.map_err(|_| StoreError::WriterGone)?
    }
}

impl Writer {
    /// Takes the database's writer lock (refusing when another process writes it), opens
    /// the database (creating and migrating it as needed), loads the recent articles that
    /// dedup compares with, and starts the writer.
    pub fn open(at: impl Into<Database>, dedup: Params) -> Result<Writer, StoreError> {
        let at = at.into();
        let now = Utc::now().timestamp();
        // What dedup compares with and the boilerplate learned, from the stored archive.
        let load = |db: &mut Db| -> Result<(SiteLines, Index), StoreError> {
            let site_lines = ingest::load_site_lines(&db.on(), dedup.learn_boilerplate, now)?;
            Ok((site_lines, ingest::load_recent(&db.on(), dedup, now)?))
        };
        let (mut db, (site_lines, recent), lock, checkpointer) = match &at {
            Database::Sqlite(path) => {
                schema::prepare_folder(path)?;
                let lock = lock::acquire(path, &command_line())?;
                let mut conn = schema::open_writer(path)?;
                let checkpointer = start_checkpointer(path)?;
                let wake = checkpointer.0.clone();
                conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
                    let pages = i64::from(pages);
                    if pages >= schema::WAL_RESTART_PAGES {
                        // Busy (the checkpoint thread is at it) is fine: the next commit tries again.
                        let _ = wal.checkpoint();
                    } else if pages >= schema::WAL_RESTART_PAGES / 2 {
                        let _ = wake.send(Checkpoint::Now);
                    }
                    Ok(())
                }))?;
                let mut db = Db::Sqlite(conn);
                let loaded = load(&mut db)?;
                (db, loaded, Some(lock), Some(checkpointer))
            }
            // Any number of workers write one PostgreSQL database; its server keeps the log.
            Database::Postgres(pg) => {
                let (db, loaded) = blocking(Backend::Postgres, || {
                    let mut db = schema::open_postgres(pg, true)?;
                    let loaded = load(&mut db)?;
                    Ok::<_, StoreError>((db, loaded))
                })?;
                (db, loaded, None, None)
            }
        };
        let site_lines = Arc::new(site_lines);
        let worker = worker_name();
        let fleet = match db.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(blocking(Backend::Postgres, || ingest::Fleet::new(worker.clone(), &mut db))?),
        };
        tracing::debug!(articles = recent.len(), learned_lines = site_lines.len(), "dedup state loaded");
        let mut state = State { db, recent, site_lines: site_lines.clone(), fleet };
        let write_times = Arc::new(WriteTimes::default());
        let times = write_times.clone();
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("kabar-writer".into())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    crate::fault::maybe_freeze_writer();
                    let started = std::time::Instant::now();
                    job(&mut state);
                    times.record(started.elapsed());
                }
                // Fold the WAL back into the database before closing; closing the last
                // connection then removes the WAL file.
                if let Db::Sqlite(conn) = state.db
                    && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                {
                    tracing::warn!(error = %e, "final checkpoint failed");
                }
            })
            .map_err(|e| StoreError::Panicked(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            site_lines,
            write_times,
            jobs: Some(jobs),
            thread: Some(thread),
            checkpointer,
            worker,
            database: at,
            _lock: lock,
        })
    }

    /// The database this writes.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Whether other workers may write the same database (PostgreSQL): then a worker
    /// polls only the hosts it holds a lease on.
    pub fn shared(&self) -> bool {
        matches!(self.database, Database::Postgres(_))
    }

    /// This process's name among the workers of a fleet.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// One claim round on a shared database: the heartbeat, the held leases renewed for
    /// `lease`, and with `take`, this worker's share of `hosts` claimed (and what is past
    /// its share given back, but none of `busy`). Returns the leases held.
    pub async fn claim(
        &self,
        hosts: Vec<String>,
        busy: Vec<String>,
        take: bool,
        lease: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        let worker = self.worker.clone();
        let lease = lease.as_secs().max(1) as i64;
        self.call(move |state| {
            ingest::claim(&mut state.db, &worker, &hosts, &busy, take, lease, Utc::now().timestamp_millis())
        })
        .await
    }

    /// Claims up to `limit` alerts due at `now` for `hold` seconds (`FOR UPDATE SKIP
    /// LOCKED`: no two workers get one alert); a delivery attempt then records its outcome.
    pub async fn claim_alerts(&self, now: i64, limit: usize, hold: i64) -> Result<Vec<DueAlert>, StoreError> {
        let worker = self.worker.clone();
        self.call(move |state| ingest::claim_alerts(&mut state.db, &worker, now, limit, hold)).await
    }

    /// The stored state of the feeds of `ids` (on a shared database: the feeds of hosts
    /// this worker just took over).
    pub async fn feed_states(&self, ids: Vec<i64>) -> Result<Vec<FeedState>, StoreError> {
        self.call(move |state| ingest::feed_states(&mut state.db, &ids)).await
    }

    /// Gives this worker's leases back (a clean stop), so others take its hosts at once.
    pub async fn leave(&self) -> Result<(), StoreError> {
        if !self.shared() {
            return Ok(());
        }
        let worker = self.worker.clone();
        self.call(move |state| ingest::leave(&mut state.db, &worker)).await
    }

    /// How long each job took the writer, for `/metrics`.
    pub fn write_times(&self) -> Arc<WriteTimes> {
        self.write_times.clone()
    }

    /// The boilerplate lines learned per site, which `clean` reads.
    pub fn site_lines(&self) -> Arc<SiteLines> {
        self.site_lines.clone()
    }

    /// Runs `f` on the writer thread. A panic inside is caught and returned as an
    /// error (its transaction rolls back); the writer keeps running.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut State) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f).await?.outcome().await
    }

    /// Queues `f` for the writer thread (waiting while the queue is full) and returns at once.
    async fn submit<T, F>(&self, f: F) -> Result<Pending<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut State) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(state)))
                .unwrap_or_else(|panic| Err(StoreError::Panicked(crate::panic_message(&*panic))));
            let _ = reply.send(result);
        });
        let jobs = self.jobs.as_ref().ok_or(StoreError::WriterGone)?;
        jobs.send(job).await.map_err(|_| StoreError::WriterGone)?;
        Ok(Pending(answer))
    }

    /// Makes sure every configured feed has a row (a changed URL resets its
    /// validators) and returns their stored state, in the order given.
    pub async fn sync_feeds(&self, feeds: Vec<(String, String)>) -> Result<Vec<FeedState>, StoreError> {
        self.call(move |state| ingest::sync_feeds(&mut state.db, &feeds, Utc::now())).await
    }

    /// Records the configured topics. Returns the ones whose stored matches are not for
    /// their current query yet (new or changed), with how far re-evaluation got.
    pub async fn sync_topics(&self, topics: Vec<(String, String)>) -> Result<Vec<(String, Reindex)>, StoreError> {
        self.call(move |state| ingest::sync_topics(&mut state.db, &topics, Utc::now().timestamp())).await
    }

    /// Replaces `topic`'s matches among articles `from..=to` and records the progress;
    /// with `finished`, the topic is current.
    pub async fn replace_topic_matches(
        &self,
        topic: String,
        from: i64,
        to: i64,
        matches: Vec<(i64, TopicMatch)>,
        finished: bool,
    ) -> Result<(), StoreError> {
        self.call(move |state| ingest::replace_topic_matches(&mut state.db, &topic, from, to, &matches, finished)).await
    }

    /// Records one delivery attempt of an alert: delivered, or failed with `error` and
    /// tried again at `next_attempt_at`.
    /// Queues again the pages that failed for good (`failed`) or were read by an
    /// extractor older than `version` (`outdated`); returns how many.
    pub async fn requeue_pages(&self, failed: bool, outdated: bool, version: u32) -> Result<usize, StoreError> {
        self.call(move |state| ingest::requeue_pages(&mut state.db, failed, outdated, version, Utc::now().timestamp()))
            .await
    }

    /// Stores what fetching an article's page came to.
    pub async fn page_done(&self, done: PageDone) -> Result<(), StoreError> {
        self.call(move |state| {
            let now = Utc::now().timestamp();
            match done.outcome {
                PageOutcome::Extracted { article, extractor } => {
                    ingest::apply_page(state, done.article_id, *article, extractor, &done.alert_topics, now)
                }
                PageOutcome::Retry { error, at } => {
                    ingest::page_failed(&mut state.db, done.article_id, &error, Some(at), None)
                }
                PageOutcome::Failed { status, error } => {
                    ingest::page_failed(&mut state.db, done.article_id, &error, None, Some(&status))
                }
            }
        })
        .await
    }

    pub async fn alert_attempt(&self, id: i64, error: Option<String>, next_attempt_at: i64) -> Result<(), StoreError> {
        self.call(move |state| ingest::alert_attempt(&mut state.db, id, error.as_deref(), next_attempt_at)).await
    }

    /// Deletes the fetch log's rows started before `before` (Unix seconds), a batch per
    /// transaction so polls queued meanwhile go in between; returns how many went.
    pub async fn prune_fetches(&self, before: i64) -> Result<usize, StoreError> {
        const BATCH: usize = 5_000;
        let mut total = 0;
        loop {
            let deleted = self.call(move |state| ingest::prune_fetches(&mut state.db, before, BATCH)).await?;
            total += deleted;
            if deleted < BATCH {
                return Ok(total);
            }
        }
    }

    /// Merges the search index's segments into one, a step per job so polls queued
    /// meanwhile go in between; returns the steps that did work (none when the index
    /// is one segment already, or on PostgreSQL).
    pub async fn merge_index(&self) -> Result<usize, StoreError> {
        // A bound, should a step ever keep reporting work: a million articles take ~100.
        const MAX_STEPS: usize = 100_000;
        let mut steps = 0;
        while steps < MAX_STEPS && self.call(|state| ingest::merge_index_step(&mut state.db)).await? {
            steps += 1;
        }
        Ok(steps)
    }

    /// Answers once the writer has done everything queued before: the watchdog asks
    /// this, so a stuck writer stops the pings.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(|_| Ok(())).await
    }

    /// Jobs waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.jobs.as_ref().map_or(0, |j| j.max_capacity() - j.capacity())
    }

    /// Records one poll: the feed's new state, the fetch, and its articles, in one
    /// transaction.
    pub async fn record_poll(&self, record: PollRecord) -> Result<IngestSummary, StoreError> {
        self.submit_poll(record).await?.outcome().await
    }

    /// Queues a poll and returns once the queue has taken it; the caller can free what it
    /// holds for the poll (its processing slot) before awaiting the outcome.
    pub async fn submit_poll(&self, record: PollRecord) -> Result<Pending<IngestSummary>, StoreError> {
        self.submit(move |state| ingest::record_poll(state, record)).await
    }

    /// Stops accepting jobs, finishes the queued ones, checkpoints and closes.
    pub async fn close(mut self) {
        let handles = self.stop_handles();
        let _ = tokio::task::spawn_blocking(move || join_all(handles)).await;
    }

    fn stop_handles(&mut self) -> Vec<JoinHandle<()>> {
        self.jobs = None;
        let mut handles = Vec::new();
        if let Some((stop, handle)) = self.checkpointer.take() {
            let _ = stop.send(Checkpoint::Stop);
            handles.push(handle);
        }
        handles.extend(self.thread.take());
        handles
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        join_all(self.stop_handles());
    }
}

/// This process's name in a fleet: the machine's host name and the process id.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    format!("{}:{}", if host.is_empty() { "kabar" } else { host }, std::process::id())
}

/// This process's arguments, for the lock file ("run", "--config k.toml fetch").
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let line = args.join(" ");
    line.chars().filter(|c| !c.is_control()).take(120).collect()
}

fn join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.join();
    }
}

/// What the checkpoint thread is told: checkpoint now (the log is large), or stop.
enum Checkpoint {
    Now,
    Stop,
}

fn start_checkpointer(path: &Path) -> Result<(std_mpsc::Sender<Checkpoint>, JoinHandle<()>), StoreError> {
    let conn = schema::open_writer(path)?;
    let (wake, woken) = std_mpsc::channel::<Checkpoint>();
    let handle = std::thread::Builder::new()
        .name("kabar-checkpoint".into())
        .spawn(move || {
            // The database's version when the log was last found all copied back: an idle
            // daemon wakes here but does not checkpoint.
            let mut backfilled = None;
            loop {
                match woken.recv_timeout(CHECKPOINT_EVERY) {
                    Ok(Checkpoint::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    Ok(Checkpoint::Now) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                }
                // One checkpoint answers every wake-up queued meanwhile.
                if woken.try_iter().any(|signal| matches!(signal, Checkpoint::Stop)) {
                    break;
                }
                let version: Option<i64> = conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok();
                if version.is_some() && version == backfilled {
                    continue;
                }
                // PASSIVE never waits for readers or the writer.
                match conn.wal_checkpoint_v2(None::<&str>, rusqlite::wal::CheckpointMode::PASSIVE) {
                    Ok((frames, copied)) if frames == copied => backfilled = version,
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "checkpoint skipped"),
                }
            }
        })
        .map_err(|e| StoreError::Panicked(format!("cannot start the checkpoint thread: {e}")))?;
    Ok((wake, handle))
}
