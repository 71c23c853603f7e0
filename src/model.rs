//! The plain data that passes between pipeline stages.
//!
//! No stage's library types cross a boundary: quick-xml types stop in `parse`, reqwest
//! types in `fetch`, rusqlite types in `store`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One entry of a feed document, as `parse` hands it on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The GUID / Atom id / JSON Feed id exactly as the feed gave it; `None` when absent.
    pub guid: Option<String>,
    /// The entry's link, made absolute against the feed URL.
    pub link: Option<String>,
    /// The title as plain text (HTML titles are reduced to text).
    pub title: String,
    pub summary_html: Option<String>,
    pub content_html: Option<String>,
    pub authors: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// The language the entry or its feed declares.
    pub language: Option<String>,
}

/// A parsed feed document.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub language: Option<String>,
    /// The feed's own hint of how long to wait (RSS `<ttl>`).
    pub ttl: Option<Duration>,
    pub entries: Vec<Entry>,
    /// Entries dropped because the document held more than `max_entries`.
    pub truncated: usize,
    /// Something to tell the operator, such as an encoding that was not as declared.
    pub warning: Option<String>,
}

/// An entry after `clean` and `classify`: what `store` writes.
#[derive(Debug, Clone, Default)]
pub struct Article {
    pub entry: Entry,
    /// The link with tracking parameters and fragment removed, host lower-cased.
    pub canonical_url: Option<String>,
    /// Plain text for display: the richer of content and summary, boilerplate kept.
    pub text: String,
    /// Lines removed for matching and fingerprints (shown by `kabar show`).
    pub boilerplate: Vec<String>,
    pub language: Option<String>,
    /// Hash of the folded tokens of the text without boilerplate; `None` when the text
    /// is too short to identify a story.
    pub content_hash: Option<i64>,
    /// The title and text tokens as the search index stores them.
    pub index_title: String,
    pub index_body: String,
    /// The fingerprint near-duplicate and translation checks compare; `None` without text.
    pub sketch: Option<Sketch>,
    /// The identities of the text's short lines (`clean::line_hash`), each once, in order:
    /// what the writer counts to learn the site's boilerplate. Computed while processing,
    /// so the writer, the pipeline's one serial stage, only counts them.
    pub short_lines: Vec<u64>,
    pub topics: Vec<TopicMatch>,
    /// Its page is to be fetched for the full text (the feed's `full_text` and the
    /// teaser rule); the store queues it.
    pub wants_page: bool,
}

/// The fingerprint of an article's text (see `pipeline::dedup::sketch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    /// Low 16 bits of each bin's minimum, one-permutation MinHash over word 3-grams.
    pub bins: Vec<u16>,
    /// How many 3-grams the text has.
    pub shingles: u32,
    /// Hashes of the words that survive translation (numbers, names, acronyms, months).
    pub signals: Vec<u32>,
    /// Hashes of the numbers among them.
    pub numbers: Vec<u32>,
}

/// Why a topic flagged an article.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TopicMatch {
    pub topic: String,
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

/// One matched term and where it occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The word as it occurs in the article (folded).
    pub term: String,
    pub field: Field,
    /// Word position within the field, from 0.
    pub position: u32,
}

/// Where a word was found; title sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Body,
}

/// The classes of feed failure, stored as `feeds.last_error_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Dns,
    Connect,
    Tls,
    Timeout,
    Http,
    TooLarge,
    Redirect,
    BotWall,
    Parse,
    Encoding,
    SsrfBlocked,
    Storage,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Http => "http",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Redirect => "redirect",
            ErrorKind::BotWall => "bot_wall",
            ErrorKind::Parse => "parse",
            ErrorKind::Encoding => "encoding",
            ErrorKind::SsrfBlocked => "ssrf_blocked",
            ErrorKind::Storage => "storage",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of one feed's poll. Every failure is retried later (a feed is never
/// dropped); `retry_after` is the server's own request to wait.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct FeedError {
    pub kind: ErrorKind,
    pub message: String,
    pub http_status: Option<u16>,
    pub retry_after: Option<Duration>,
}

impl FeedError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> FeedError {
        FeedError { kind, message: message.into(), http_status: None, retry_after: None }
    }
}

/// The stored conditional-GET validators, verbatim from the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A permanent redirect seen on recent polls, not yet applied to the feed's URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveState {
    pub to: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub count: u32,
}

/// What a poll needs to know about a feed, kept in the database across restarts.
#[derive(Debug, Clone)]
pub struct FeedState {
    pub id: i64,
    pub name: String,
    /// Where the feed is fetched (the configured URL, or where it moved to).
    pub url: String,
    pub validators: Validators,
    pub failures: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub moved: MoveState,
    /// The host's lease this worker polls it under (a fleet on PostgreSQL); `None` for
    /// a database one process writes.
    pub lease: Option<Lease>,
}

/// A worker of a fleet, as `kabar workers` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub worker: String,
    pub started: String,
    pub heartbeat: String,
    /// Seconds since the last heartbeat.
    pub heartbeat_age: i64,
    /// Hosts it holds an unexpired lease on.
    pub hosts: i64,
}

/// A host's lease, as `kabar workers` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct HostLease {
    pub host: String,
    /// Who holds it; `None` when nobody does or the lease ran out.
    pub worker: Option<String>,
    pub expires: Option<String>,
    pub fence: i64,
}

/// A worker's hold on a host: its feeds are polled by this worker alone, and a poll's
/// results commit only while `fence` is still the host's (no one took it over since).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    pub host: String,
    pub fence: i64,
}

/// What one poll found, for the store to record in one transaction.
#[derive(Debug)]
pub struct PollRecord {
    pub feed_id: i64,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub http_status: Option<u16>,
    pub outcome: PollOutcome,
    /// Consecutive failures after this poll (0 after a success).
    pub failures: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// (topic, channel) for every alert channel: a story a topic flags for the first
    /// time is queued once per channel.
    pub alert_topics: std::sync::Arc<Vec<(String, String)>>,
    /// The lease the poll ran under: it commits only while that lease holds.
    pub lease: Option<Lease>,
}

impl PollRecord {
    /// A successful poll, now, that brought `articles` and nothing else to record (no
    /// validators, no move, no alert channels): how tests and the benchmark store articles.
    pub fn fetched(feed_id: i64, articles: Vec<Article>) -> PollRecord {
        PollRecord {
            feed_id,
            started_at: Utc::now(),
            duration: Duration::ZERO,
            http_status: Some(200),
            outcome: PollOutcome::Fetched {
                validators: Validators::default(),
                moved: MoveState::default(),
                new_url: None,
                bytes: 0,
                title: None,
                site_url: None,
                articles,
                truncated: 0,
                warning: None,
            },
            failures: 0,
            next_attempt_at: Utc::now(),
            alert_topics: Default::default(),
            lease: None,
        }
    }
}

#[derive(Debug)]
pub enum PollOutcome {
    NotModified {
        validators: Validators,
        moved: MoveState,
        new_url: Option<String>,
    },
    Fetched {
        validators: Validators,
        moved: MoveState,
        new_url: Option<String>,
        bytes: u64,
        title: Option<String>,
        site_url: Option<String>,
        articles: Vec<Article>,
        truncated: usize,
        warning: Option<String>,
    },
    Failed(FeedError),
}

/// What storing a poll's articles did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    pub entries: usize,
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub duplicates: usize,
    pub truncated: usize,
}

/// One article as listings print it (the `--format ndjson` contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleRow {
    pub id: i64,
    pub feed: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: String,
    pub published: Option<String>,
    pub fetched: String,
    pub language: Option<String>,
    pub topics: Vec<String>,
    pub duplicate_of: Option<i64>,
    pub duplicate_reason: Option<String>,
    pub similarity: Option<f64>,
    pub story: i64,
    pub sources: i64,
}

/// Everything `kabar show` prints about one article.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleDetail {
    #[serde(flatten)]
    pub row: ArticleRow,
    pub canonical_url: Option<String>,
    /// The feed's own text, when the page's main text replaced it as `text`.
    pub summary: Option<String>,
    /// `queued`, `ok`, or why the page gave no text; absent when no page was wanted.
    pub page_status: Option<String>,
    pub authors: Vec<String>,
    pub first_seen: String,
    pub published_raw: Option<String>,
    pub text: String,
    pub boilerplate: Vec<String>,
    pub topic_matches: Vec<TopicMatch>,
    pub copies: Vec<StoryCopy>,
    /// For a translation of its story's first copy: what the two share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation_evidence: Option<TranslationEvidence>,
}

/// Why two articles in two languages were taken for one story: the names, numbers,
/// months and acronyms both have, and the loanwords both write alike: each as the
/// translation writes it, then as the first copy does where that differs
/// ("technology = teknologi", "russian = rusia"; a month is "m3").
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TranslationEvidence {
    /// The first copy it translates.
    pub of: i64,
    pub names: Vec<String>,
    pub words: Vec<String>,
}

/// One copy of a story.
#[derive(Debug, Clone, Serialize)]
pub struct StoryCopy {
    pub id: i64,
    pub feed: String,
    pub title: String,
    pub url: Option<String>,
    pub first_seen: String,
    pub duplicate_reason: Option<String>,
    pub similarity: Option<f64>,
}

/// One feed as `kabar feeds` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct FeedStatus {
    pub name: String,
    pub url: String,
    pub title: Option<String>,
    pub status: Option<String>,
    pub http_status: Option<u16>,
    pub last_fetch: Option<String>,
    pub last_success: Option<String>,
    pub next_due: Option<String>,
    pub failures: u32,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    /// From the last successful fetch, e.g. an encoding that was not as declared.
    pub warning: Option<String>,
    pub articles: i64,
    /// False for a feed that is in the database but no longer in the configuration.
    pub configured: bool,
}

/// One topic as `kabar topics` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct TopicCount {
    pub name: String,
    pub last_24h: i64,
    pub last_7d: i64,
    pub all: i64,
    pub configured: bool,
    /// While the stored archive is re-evaluated for a new or changed topic.
    pub reindex: Option<Reindex>,
}

/// Progress of re-evaluating a topic over the stored archive: article ids done, of
/// those to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reindex {
    pub done: i64,
    pub upto: i64,
}

impl Reindex {
    pub fn percent(&self) -> i64 {
        if self.upto <= 0 { 100 } else { (self.done * 100 / self.upto).clamp(0, 100) }
    }
}

/// An alert waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueAlert {
    pub id: i64,
    pub topic: String,
    pub channel: String,
    pub article_id: i64,
    pub attempts: u32,
}

/// Whether `link` is an absolute http or https URL with a host: the only links kabar
/// stores, serves or resolves against (`javascript:`, `data:`, `vbscript:` and the rest
/// are code or content, never a place to go).
pub fn is_web_url(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A page due for fetching, with what fetching it needs.
#[derive(Debug, Clone)]
pub struct DuePage {
    pub article_id: i64,
    pub url: String,
    /// The feed's configured URL: a page on the same IP-literal or localhost host as the
    /// feed may be fetched as the feed is (the network policy's "home" host).
    pub feed_url: String,
    pub feed: String,
    pub title: String,
    /// The article's language hint (its feed's, as stored).
    pub language: Option<String>,
    pub attempts: u32,
}

/// What fetching an article's page came to.
#[derive(Debug, Clone)]
pub enum PageOutcome {
    /// The page's main text, cleaned and classified like feed text.
    Extracted { article: Box<Article>, extractor: u32 },
    /// A transient failure: tried again at `at` (Unix seconds).
    Retry { error: String, at: i64 },
    /// A final one, stored on the article as `status`.
    Failed { status: String, error: String },
}

/// One page done, for the writer.
#[derive(Debug, Clone)]
pub struct PageDone {
    pub article_id: i64,
    pub outcome: PageOutcome,
    /// (topic, channel) of every alert channel, as for a poll.
    pub alert_topics: std::sync::Arc<Vec<(String, String)>>,
}
