//! Article pages: fetches the pages the store has queued (entries whose feed carries a
//! teaser, see `pipeline::extract::teaser`), extracts their main text, cleans and
//! classifies it like feed text, and hands the result to the writer, which re-decides
//! the article in one transaction.
//!
//! Pages go through the one fetcher, so the network policy (checked on every hop, with
//! the feed's own host as "home"), the body cap, the deadline and the per-host limits and
//! spacing are the ones the feeds have, shared with that host's polls. A page fetch never
//! delays a poll: it runs beside the scheduler, [`CONCURRENCY`] at a time. A transient
//! failure (no answer, a 5xx, a 429) is retried with capped backoff, [`MAX_ATTEMPTS`]
//! times; a final one (404, a bot wall, not HTML, no main text) is recorded on the
//! article as its `page_status`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use url::Url;

use crate::config::Database;
use crate::fetch;
use crate::model::{DuePage, Entry, ErrorKind, FeedError, PageDone, PageOutcome, Validators};
use crate::pipeline::{classify, clean, extract};
use crate::poll::Context;
use crate::store::{Reader, StoreError};

/// Pages fetched at once, over all hosts (each host also keeps its own limit).
pub const CONCURRENCY: usize = 4;
/// Attempts before a transient failure is final.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first retry waits this long, doubling up to [`MAX_RETRY`].
const FIRST_RETRY: i64 = 60;
const MAX_RETRY: i64 = 6 * 3600;
/// Pages read from the queue per round.
const BATCH: usize = 64;
/// How often the queue is looked at when it had nothing due.
const IDLE: Duration = Duration::from_secs(2);

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub fetched: usize,
    pub failed: usize,
    pub retried: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.fetched += other.fetched;
        self.failed += other.failed;
        self.retried += other.retried;
    }
}

impl Counts {
    fn total(&self) -> usize {
        self.fetched + self.failed + self.retried
    }

    fn add(&mut self, outcome: &PageOutcome) {
        match outcome {
            PageOutcome::Extracted { .. } => self.fetched += 1,
            PageOutcome::Failed { .. } => self.failed += 1,
            PageOutcome::Retry { .. } => self.retried += 1,
        }
    }
}

/// Why a round stopped early (the pages stay queued).
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the page queue: {0}")]
    Read(#[from] tokio::task::JoinError),
}

/// Fetches queued pages until `stop` turns true.
pub async fn run(ctx: Arc<Context>, database: Database, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match round(&ctx, &database).await {
            Ok(c) if c.total() > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "page round failed; the pages stay queued"),
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Rounds until no page is due now, or `within` has passed (`kabar fetch` waits so long
/// for the pages of what it stored).
pub async fn drain(ctx: &Context, database: &Database, within: Duration) -> Counts {
    let mut all = Counts::default();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, round(ctx, database)).await {
            Ok(Ok(c)) if c.total() > 0 => all += c,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "page round failed; the pages stay queued");
                return all;
            }
            _ => return all,
        }
    }
}

/// Every page due now, [`CONCURRENCY`] at a time.
pub async fn round(ctx: &Context, database: &Database) -> Result<Counts, RoundError> {
    let db = database.clone();
    let now = Utc::now().timestamp();
    let due = tokio::task::spawn_blocking(move || -> Result<Vec<DuePage>, StoreError> {
        if !db.exists() {
            return Ok(Vec::new());
        }
        Reader::open(&db)?.due_pages(now, BATCH)
    })
    .await??;
    let mut counts = Counts::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut due = due.into_iter();
    loop {
        while tasks.len() < CONCURRENCY {
            let Some(page) = due.next() else { break };
            let (ctx_settings, site_lines, metrics) = (ctx.settings(), ctx.site_lines.clone(), ctx.metrics.clone());
            tasks.spawn(async move {
                let outcome = fetch_one(&ctx_settings, &site_lines, &metrics, &page).await;
                (page, outcome)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let Ok((page, outcome)) = joined else { continue };
        counts.add(&outcome);
        log(&page, &outcome);
        let done = PageDone { article_id: page.article_id, outcome, alert_topics: ctx.settings().alert_topics.clone() };
        ctx.writer.page_done(done).await?;
    }
    Ok(counts)
}

fn log(page: &DuePage, outcome: &PageOutcome) {
    match outcome {
        PageOutcome::Extracted { article, .. } => {
            tracing::info!(feed = %page.feed, article = page.article_id, url = %page.url,
                chars = article.text.len(), "page read")
        }
        PageOutcome::Retry { error, .. } => {
            tracing::info!(feed = %page.feed, article = page.article_id, url = %page.url, error = %error,
                attempts = page.attempts + 1, "page fetch failed; retrying later")
        }
        PageOutcome::Failed { status, error } => {
            tracing::warn!(feed = %page.feed, article = page.article_id, url = %page.url, status = %status,
                error = %error, "page gave no text")
        }
    }
}

/// A failure that may pass: no answer in time, a refused or reset connection, a name
/// that did not resolve, a server error or a "too many requests".
fn transient(e: &FeedError) -> bool {
    match e.kind {
        ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Dns => true,
        ErrorKind::Http => e.http_status.is_none_or(|s| s >= 500 || s == 429 || s == 408),
        _ => false,
    }
}

/// When attempt `attempts + 1` failed transiently: the next try, or a final failure.
fn retry_or_fail(attempts: u32, kind: &str, error: String) -> PageOutcome {
    if attempts + 1 >= MAX_ATTEMPTS {
        return PageOutcome::Failed { status: kind.to_string(), error };
    }
    let wait = (FIRST_RETRY << attempts.min(16)).min(MAX_RETRY);
    PageOutcome::Retry { error, at: Utc::now().timestamp() + wait }
}

async fn fetch_one(
    settings: &crate::poll::Settings,
    site_lines: &clean::SiteLines,
    metrics: &crate::metrics::Metrics,
    page: &DuePage,
) -> PageOutcome {
    let Ok(url) = Url::parse(&page.url) else {
        return PageOutcome::Failed { status: "bad_url".into(), error: format!("{:?} is not a URL", page.url) };
    };
    let feed_url = Url::parse(&page.feed_url).unwrap_or_else(|_| url.clone());
    let access = fetch::Access::for_feed(&feed_url, false);
    let fetched = match settings.fetcher.fetch(&url, &Validators::default(), &access).await {
        Ok(f) => f,
        Err(e) if transient(&e) => {
            metrics.record_page("retry", None);
            return retry_or_fail(page.attempts, e.kind.as_str(), e.message);
        }
        Err(e) => {
            metrics.record_page(e.kind.as_str(), None);
            return PageOutcome::Failed { status: e.kind.as_str().into(), error: e.message };
        }
    };
    let content_type = fetched.content_type.clone().unwrap_or_default().to_ascii_lowercase();
    if !content_type.is_empty() && !content_type.contains("html") {
        metrics.record_page("not_html", None);
        return PageOutcome::Failed { status: "not_html".into(), error: format!("served as {content_type}") };
    }
    let charset = crate::poll::charset_of(&content_type).map(str::to_string);
    let body = fetched.body.unwrap_or_default();
    drop(fetched.slot);
    let (topics, final_url) = (settings.topics.clone(), fetched.final_url.clone());
    let (title, language, feed, link) =
        (page.title.clone(), page.language.clone(), page.feed.clone(), page.url.clone());
    let learned = clean::site_of(Some(&page.url)).and_then(|s| site_lines.for_site(&s));
    let work = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let page = extract::extract(&body, charset.as_deref(), Some(&final_url));
        let took = started.elapsed();
        let article = page.map(|p| article_from_page(p, title, link, language.as_deref(), &feed, &topics, learned));
        (article, took)
    });
    match work.await {
        Ok((Ok(article), took)) => {
            metrics.record_page("ok", Some(took));
            PageOutcome::Extracted { article: Box::new(article), extractor: extract::VERSION }
        }
        Ok((Err(e), took)) => {
            metrics.record_page(e.status(), Some(took));
            PageOutcome::Failed { status: e.status().into(), error: e.to_string() }
        }
        Err(e) => {
            metrics.record_page("internal", None);
            PageOutcome::Failed { status: "internal".into(), error: format!("internal error while extracting: {e}") }
        }
    }
}

/// The page's text as an article: cleaned (boilerplate, fingerprint, language, sketch)
/// and classified exactly as feed text is.
fn article_from_page(
    page: extract::Page,
    title: String,
    link: String,
    language: Option<&str>,
    feed: &str,
    topics: &classify::Topics,
    learned: Option<Arc<std::collections::HashSet<u64>>>,
) -> crate::model::Article {
    let html: String = page
        .text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("<p>{}</p>", quick_xml::escape::partial_escape(l)))
        .collect();
    let entry = Entry {
        title,
        link: Some(link),
        content_html: Some(html),
        language: page.language.clone(),
        published: page.published,
        ..Entry::default()
    };
    let mut article = clean::clean(entry, language, learned.as_deref());
    if page.canonical_url.is_some() {
        article.canonical_url = page.canonical_url;
    }
    article.topics = classify::classify(&article, feed, topics);
    article
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_back_off_then_end() {
        let timeout = FeedError::new(ErrorKind::Timeout, "slow");
        assert!(transient(&timeout));
        let gone = FeedError { http_status: Some(404), ..FeedError::new(ErrorKind::Http, "HTTP 404") };
        assert!(!transient(&gone));
        let busy = FeedError { http_status: Some(503), ..FeedError::new(ErrorKind::Http, "HTTP 503") };
        assert!(transient(&busy));
        assert!(!transient(&FeedError::new(ErrorKind::SsrfBlocked, "internal")));
        let now = Utc::now().timestamp();
        let waits: Vec<i64> = (0..MAX_ATTEMPTS - 1)
            .map(|a| match retry_or_fail(a, "timeout", "x".into()) {
                PageOutcome::Retry { at, .. } => at - now,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(waits.windows(2).all(|w| w[1] >= w[0] * 2 - 1), "{waits:?}");
        assert!(matches!(retry_or_fail(MAX_ATTEMPTS - 1, "timeout", "x".into()), PageOutcome::Failed { .. }));
    }
}
