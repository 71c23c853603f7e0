//! The stages an article passes, in order, and [`poll`], which runs one feed through
//! all of them.
//!
//! ```text
//! schedule → fetch → parse → clean → dedup → classify → store
//! ```
//!
//! Only `fetch` touches the network. `parse`, `clean`, `dedup` and `classify` are
//! plain synchronous functions (tests call them without a runtime); [`poll`] runs them
//! on a blocking thread and hands the result to the store's writer.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::{Config, FeedConfig};
use crate::fetch::{self, Fetcher};
use crate::metrics::{Metrics, PollFigures};
use crate::model::{
    Article, ErrorKind, FeedError, FeedState, IngestSummary, MoveState, ParsedFeed, PollOutcome, PollRecord,
};
use crate::pipeline::schedule::Settings as ScheduleSettings;
use crate::pipeline::{classify, clean, parse, schedule};
use crate::store::Writer;

/// A permanent redirect is applied to the feed's URL once it has been seen this many
/// times in a row, over at least [`MOVE_MIN_AGE`]; a single 301 may be a mistake.
pub const MOVE_CONFIRMATIONS: u32 = 3;
pub const MOVE_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// The longest wait before retrying a poll whose result could not be stored (a disk
/// full, say); a feed due sooner is retried at its next regular poll.
const STORAGE_RETRY: Duration = Duration::from_secs(60);

/// What every poll shares.
pub struct Context {
    pub writer: Arc<Writer>,
    /// Boilerplate lines learned per site (the writer learns, `clean` reads).
    pub site_lines: Arc<clean::SiteLines>,
    pub metrics: Arc<Metrics>,
    /// What a reload may change; a poll takes a snapshot when it starts.
    settings: RwLock<Arc<Settings>>,
    /// One permit per core: documents are processed (parsed, cleaned, classified)
    /// no more than that many at a time, however many fetches are in flight, so a
    /// burst of responses waits as compact bodies instead of half-built articles.
    processing: Arc<tokio::sync::Semaphore>,
    /// The time polls go by: the system's, or a test's (a permanent move is confirmed
    /// over a day; tests do not wait a day).
    clock: Clock,
}

/// Where "now" comes from.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The time polls go by when nothing else is said.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// The configuration a poll runs with.
pub struct Settings {
    pub fetcher: Fetcher,
    pub topics: Arc<classify::Topics>,
    /// (topic, channel) of every alert channel: new stories go into the outbox.
    pub alert_topics: Arc<Vec<(String, String)>>,
    /// Where each topic's alerts go.
    pub notify: Arc<std::collections::HashMap<String, crate::config::Notify>>,
    pub schedule: ScheduleSettings,
    pub limits: parse::Limits,
    /// Pages one poll of one feed queues at most.
    pub max_pages: usize,
}

impl Settings {
    pub fn new(config: &Config) -> Result<Settings, FeedError> {
        Ok(Settings {
            fetcher: Fetcher::new(&config.fetch)?,
            topics: Arc::new(classify::Topics::new(config.topic_queries())),
            alert_topics: Arc::new(
                config
                    .topics
                    .iter()
                    .filter_map(|t| Some((t, t.notify.as_ref()?)))
                    .flat_map(|(t, n)| {
                        let webhook = n.webhook.as_ref().map(|_| (t.name.clone(), "webhook".to_string()));
                        let command = n.command.as_ref().map(|_| (t.name.clone(), "command".to_string()));
                        webhook.into_iter().chain(command)
                    })
                    .collect(),
            ),
            notify: Arc::new(config.topics.iter().filter_map(|t| Some((t.name.clone(), t.notify.clone()?))).collect()),
            schedule: config.schedule.clone(),
            limits: parse::Limits { max_entries: config.fetch.max_entries, max_body: config.fetch.max_body },
            max_pages: config.max_pages,
        })
    }
}

impl Context {
    pub fn new(writer: Writer, settings: Settings) -> Context {
        Context::with_clock(writer, settings, system_clock())
    }

    /// A context whose polls go by `clock`.
    pub fn with_clock(writer: Writer, settings: Settings, clock: Clock) -> Context {
        Context {
            clock,
            site_lines: writer.site_lines(),
            writer: Arc::new(writer),
            metrics: Arc::default(),
            settings: RwLock::new(Arc::new(settings)),
            processing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Now, by this context's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Polls that start from now on use `settings`; polls under way keep theirs.
    pub fn replace_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }
}

/// What a poll did.
#[derive(Debug, Clone)]
pub struct Report {
    pub feed: String,
    /// The feed's state for its next poll.
    pub state: FeedState,
    pub result: Result<Polled, FeedError>,
    /// Something the fetch wants the operator to know, such as a misdeclared encoding.
    pub warning: Option<String>,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    NotModified,
    Fetched(IngestSummary),
}

/// Fetches one feed, processes what came back and stores the result. Never fails:
/// every problem ends up in the report and in the feed's row.
pub async fn poll(ctx: &Context, feed: &FeedConfig, state: &FeedState) -> Report {
    let started_at = ctx.now();
    let clock = Instant::now();
    let settings = ctx.settings();
    let url = Url::parse(&state.url).unwrap_or_else(|_| feed.url.clone());
    let mut result = fetch_and_process(ctx, &settings, feed, state, &url).await;
    // Held until the writer's queue takes this poll, so processed articles never pile up
    // in memory behind a busy writer.
    let slot = result.as_mut().ok().and_then(|done| done.slot.take());
    let now = ctx.now();
    let mut rng = fastrand::Rng::new();
    let s = &settings.schedule;
    let mut next = state.clone();
    let (http_status, outcome) = match result {
        Ok(done) => {
            next.failures = 0;
            next.validators = done.validators.clone();
            next.moved = done.moved.clone();
            if let Some(new_url) = &done.new_url {
                tracing::info!(feed = %feed.name, from = %state.url, to = %new_url,
                    "feed moved permanently; fetching it at its new address from now on");
                next.url = new_url.clone();
            }
            next.next_attempt_at = Some(schedule::after_success(&feed.schedule, now, s.jitter, done.hint, &mut rng));
            (Some(done.http_status), done.into_outcome())
        }
        Err(e) => {
            next.failures = state.failures.saturating_add(1);
            next.next_attempt_at = Some(schedule::after_failure(
                &feed.schedule,
                now,
                next.failures,
                s.jitter,
                s.max_backoff,
                e.retry_after,
                &mut rng,
            ));
            (e.http_status, PollOutcome::Failed(e))
        }
    };
    let failed = match &outcome {
        PollOutcome::Failed(e) => Some(e.clone()),
        _ => None,
    };
    let not_modified = matches!(outcome, PollOutcome::NotModified { .. });
    let (warning, bytes) = match &outcome {
        PollOutcome::Fetched { warning, bytes, articles, .. } => {
            for topic in articles.iter().flat_map(|a| &a.topics) {
                ctx.metrics.record_topic_hits(&topic.topic, 1);
            }
            (warning.clone(), *bytes)
        }
        _ => (None, 0),
    };
    let record = PollRecord {
        feed_id: state.id,
        started_at,
        duration: clock.elapsed(),
        http_status,
        outcome,
        failures: next.failures,
        next_attempt_at: next.next_attempt_at.unwrap_or(now),
        alert_topics: settings.alert_topics.clone(),
        lease: state.lease.clone(),
    };
    let queued = ctx.writer.submit_poll(record).await;
    drop(slot);
    let stored = match queued {
        Ok(pending) => pending.outcome().await,
        Err(e) => Err(e),
    };
    let result = match stored {
        Err(e) => {
            // Nothing of this poll was stored: keep the old state and try again at the
            // next regular poll, or within STORAGE_RETRY if that is sooner.
            let retry = now + chrono::Duration::from_std(STORAGE_RETRY).unwrap_or_default();
            let regular = next.next_attempt_at.unwrap_or(retry);
            next = state.clone();
            next.next_attempt_at = Some(regular.min(retry));
            Err(FeedError::new(ErrorKind::Storage, e.to_string()))
        }
        Ok(_) if failed.is_some() => Err(failed.expect("checked")),
        Ok(_) if not_modified => Ok(Polled::NotModified),
        Ok(summary) => Ok(Polled::Fetched(summary)),
    };
    let summary = match &result {
        Ok(Polled::Fetched(s)) => *s,
        _ => IngestSummary::default(),
    };
    ctx.metrics.record_poll(
        &feed.name,
        &PollFigures {
            outcome: match &result {
                Ok(Polled::Fetched(_)) => "ok",
                Ok(Polled::NotModified) => "not_modified",
                Err(_) => "error",
            },
            error_kind: result.as_ref().err().map(|e| e.kind.as_str()),
            duration: clock.elapsed(),
            bytes,
            new: summary.new as u64,
            updated: summary.updated as u64,
            duplicates: summary.duplicates as u64,
            failures: next.failures,
            warned: warning.is_some() && result.is_ok(),
        },
    );
    match &result {
        Ok(Polled::Fetched(s)) => {
            tracing::info!(feed = %feed.name, entries = s.entries, new = s.new,
            updated = s.updated, duplicates = s.duplicates, "feed polled")
        }
        Ok(Polled::NotModified) => tracing::debug!(feed = %feed.name, "feed not modified"),
        Err(e) => tracing::warn!(feed = %feed.name, kind = %e.kind, error = %e.message,
            failures = next.failures, "feed poll failed"),
    }
    if let Some(w) = &warning {
        tracing::warn!(feed = %feed.name, warning = %w, "feed fetched with a warning");
    }
    Report { feed: feed.name.clone(), state: next, result, warning, duration: clock.elapsed() }
}

/// A successful fetch, processed and ready to store.
struct Processed {
    http_status: u16,
    validators: crate::model::Validators,
    moved: MoveState,
    new_url: Option<String>,
    hint: Option<Duration>,
    body: Option<(u64, ParsedFeed, Vec<Article>)>,
    /// The processing slot, when there was a body to process.
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Processed {
    fn into_outcome(self) -> PollOutcome {
        match self.body {
            None => PollOutcome::NotModified { validators: self.validators, moved: self.moved, new_url: self.new_url },
            Some((bytes, feed, articles)) => PollOutcome::Fetched {
                validators: self.validators,
                moved: self.moved,
                new_url: self.new_url,
                bytes,
                title: feed.title,
                site_url: feed.site_url,
                articles,
                truncated: feed.truncated,
                warning: feed.warning,
            },
        }
    }
}

async fn fetch_and_process(
    ctx: &Context,
    settings: &Settings,
    feed: &FeedConfig,
    state: &FeedState,
    url: &Url,
) -> Result<Processed, FeedError> {
    let access = fetch::Access::for_feed(&feed.url, feed.allow_self_signed);
    let fetched = settings.fetcher.fetch(url, &state.validators, &access).await?;
    let (moved, new_url) = observe_move(&state.moved, fetched.moved_permanently.as_ref(), ctx.now());
    let status = fetched.status;
    let Some(body) = fetched.body else {
        return Ok(Processed {
            http_status: status,
            validators: fetched.validators,
            moved,
            new_url,
            hint: fetched.max_age,
            body: None,
            slot: None,
        });
    };
    let bytes = body.len() as u64;
    let base = fetched.final_url.clone();
    let feed_cfg = feed.clone();
    let topics = settings.topics.clone();
    let limits = settings.limits;
    let site_lines = ctx.site_lines.clone();
    let charset = fetched.content_type.as_deref().and_then(charset_of).map(str::to_string);
    let permit = ctx.processing.clone().acquire_owned().await.expect("the processing semaphore is never closed");
    drop(fetched.slot);
    let processed = tokio::task::spawn_blocking(move || {
        crate::fault::maybe_panic_processing(&feed_cfg.name);
        process(&body, charset.as_deref(), &base, &feed_cfg, &topics, &site_lines, limits)
    })
    .await
    .unwrap_or_else(|join| {
        let message = match join.try_into_panic() {
            Ok(panic) => crate::panic_message(&*panic),
            Err(e) => e.to_string(),
        };
        Err(FeedError::new(ErrorKind::Internal, format!("internal error while processing the feed: {message}")))
    });
    let (parsed, mut articles) = processed.map_err(|e| FeedError { http_status: Some(status), ..e })?;
    for a in articles.iter_mut().filter(|a| a.wants_page).skip(settings.max_pages) {
        a.wants_page = false;
    }
    let hint = [fetched.max_age, parsed.ttl].into_iter().flatten().max();
    Ok(Processed {
        http_status: status,
        validators: fetched.validators,
        moved,
        new_url,
        hint,
        body: Some((bytes, parsed, articles)),
        slot: Some(permit),
    })
}

/// parse → clean → classify, for one document. Synchronous, no I/O.
pub fn process(
    body: &[u8],
    charset: Option<&str>,
    url: &Url,
    feed: &FeedConfig,
    topics: &classify::Topics,
    site_lines: &clean::SiteLines,
    limits: parse::Limits,
) -> Result<(ParsedFeed, Vec<Article>), FeedError> {
    let mut parsed = parse::parse(body, charset, url, feed.timezone, limits)?;
    let entries = std::mem::take(&mut parsed.entries);
    let feed_site = clean::site_of(Some(url.as_str()));
    let mut language = clean::DeclaredLanguage::default();
    let articles = entries
        .into_iter()
        .map(|entry| {
            let site = clean::site_of(entry.link.as_deref()).or_else(|| feed_site.clone());
            let learned = site.and_then(|s| site_lines.for_site(&s));
            let mut article = clean::clean_in(entry, feed.language.as_deref(), learned.as_deref(), &mut language);
            article.topics = classify::classify(&article, &feed.name, topics);
            article.wants_page = feed.full_text.wants_page(&article);
            article
        })
        .collect();
    Ok((parsed, articles))
}

/// The `charset` parameter of a Content-Type header.
pub(crate) fn charset_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then(|| v.trim().trim_matches('"'))
    })
}

/// Tracks a permanent redirect across polls. Returns the new state and, once the
/// move is confirmed, the URL to fetch from now on.
pub fn observe_move(prev: &MoveState, seen: Option<&Url>, now: DateTime<Utc>) -> (MoveState, Option<String>) {
    let Some(target) = seen else {
        return (MoveState::default(), None);
    };
    let target = target.as_str();
    let state = if prev.to.as_deref() == Some(target) {
        MoveState { to: prev.to.clone(), since: prev.since.or(Some(now)), count: prev.count.saturating_add(1) }
    } else {
        MoveState { to: Some(target.to_string()), since: Some(now), count: 1 }
    };
    let old_enough = state.since.is_some_and(|since| (now - since).to_std().unwrap_or_default() >= MOVE_MIN_AGE);
    if state.count >= MOVE_CONFIRMATIONS && old_enough {
        (MoveState::default(), Some(target.to_string()))
    } else {
        (state, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn a_permanent_move_applies_after_three_sightings_over_a_day() {
        let new = Url::parse("https://e.org/new").unwrap();
        let (s1, apply) = observe_move(&MoveState::default(), Some(&new), t(0));
        assert_eq!((s1.count, apply), (1, None));
        let (s2, apply) = observe_move(&s1, Some(&new), t(12));
        assert_eq!((s2.count, apply), (2, None));
        // Third sighting, but only 20 hours after the first: not yet.
        let (s3, apply) = observe_move(&s2, Some(&new), t(20));
        assert_eq!((s3.count, apply), (3, None));
        let (s4, apply) = observe_move(&s3, Some(&new), t(25));
        assert_eq!(apply.as_deref(), Some("https://e.org/new"));
        assert_eq!(s4, MoveState::default());
        // A poll without the redirect (or with a temporary one) forgets the sightings.
        let (reset, apply) = observe_move(&s3, None, t(30));
        assert_eq!((reset, apply), (MoveState::default(), None));
        // A different target starts over.
        let other = Url::parse("https://e.org/other").unwrap();
        let (s, _) = observe_move(&s3, Some(&other), t(30));
        assert_eq!(s.count, 1);
    }
}
