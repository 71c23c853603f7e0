//! Configuration: a strict TOML file, read in two phases.
//!
//! Phase one ([`raw`]) deserialises exactly what the file says: unknown keys are
//! errors, every value keeps its place in the file. Phase two ([`validate`]) checks
//! every schedule, URL, size and topic query and turns them into [`Config`], the
//! type the rest of the program trusts. Every problem found is reported with its
//! line and column, all of them at once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use toml::Spanned;
use url::Url;

use crate::query::Query;

/// The file's shape, as written. Public so tests can walk every accepted key.
pub mod raw {
    use serde::Deserialize;
    use toml::Spanned;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawConfig {
        #[serde(default)]
        pub storage: RawStorage,
        #[serde(default)]
        pub fetch: RawFetch,
        #[serde(default)]
        pub schedule: RawSchedule,
        #[serde(default)]
        pub dedup: RawDedup,
        #[serde(default)]
        pub http: RawHttp,
        #[serde(default)]
        pub log: RawLog,
        #[serde(default)]
        pub feeds: Vec<RawFeed>,
        #[serde(default)]
        pub topics: Vec<RawTopic>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawStorage {
        pub database: Option<Spanned<String>>,
        pub keep_fetches: Option<Spanned<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawFetch {
        pub user_agent: Option<Spanned<String>>,
        pub concurrency: Option<Spanned<i64>>,
        pub per_host: Option<RawPerHost>,
        pub timeout: Option<Spanned<String>>,
        pub connect_timeout: Option<Spanned<String>>,
        pub max_body: Option<Spanned<String>>,
        pub max_redirects: Option<Spanned<i64>>,
        pub max_entries: Option<Spanned<i64>>,
        pub allow_networks: Option<Vec<Spanned<String>>>,
        pub ca_certificates: Option<Vec<Spanned<String>>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawPerHost {
        pub concurrency: Option<Spanned<i64>>,
        pub min_interval: Option<Spanned<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawSchedule {
        pub default: Option<Spanned<String>>,
        pub cron: Option<Spanned<String>>,
        pub timezone: Option<Spanned<String>>,
        pub jitter: Option<Spanned<String>>,
        pub max_backoff: Option<Spanned<String>>,
        pub min_interval: Option<Spanned<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawDedup {
        pub window: Option<Spanned<String>>,
        pub translation_window: Option<Spanned<String>>,
        pub near: Option<Spanned<f64>>,
        pub containment: Option<Spanned<f64>>,
        pub translation: Option<Spanned<f64>>,
        pub learn_boilerplate: Option<Spanned<i64>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawFeed {
        pub name: Spanned<String>,
        pub url: Spanned<String>,
        pub interval: Option<Spanned<String>>,
        pub cron: Option<Spanned<String>>,
        pub timezone: Option<Spanned<String>>,
        pub language: Option<Spanned<String>>,
        #[serde(default)]
        pub tags: Vec<String>,
        pub allow_self_signed: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawTopic {
        pub name: Spanned<String>,
        pub query: Spanned<String>,
        pub description: Option<String>,
        pub notify: Option<Spanned<RawNotify>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawNotify {
        pub webhook: Option<Spanned<String>>,
        pub command: Option<Vec<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawHttp {
        pub listen: Option<Spanned<String>>,
        pub token: Option<Spanned<String>>,
        pub hosts: Option<Vec<Spanned<String>>>,
        pub max_connections: Option<Spanned<i64>>,
        pub max_searches: Option<Spanned<i64>>,
        pub search_timeout: Option<Spanned<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawLog {
        pub level: Option<Spanned<String>>,
        pub format: Option<Spanned<String>>,
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; relative paths inside it resolve against its folder.
    pub path: PathBuf,
    pub database: PathBuf,
    /// How long the fetch log (`fetches`, one row per poll) keeps a poll.
    pub keep_fetches: Duration,
    pub fetch: FetchSettings,
    pub schedule: ScheduleSettings,
    pub dedup: DedupParams,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub feeds: Vec<FeedConfig>,
    pub topics: Vec<TopicConfig>,
}

/// The HTTP API: off unless `listen` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub listen: Option<std::net::SocketAddr>,
    /// Required from clients (`Authorization: Bearer …`) when set; always set when
    /// `listen` is not a loopback address.
    pub token: Option<String>,
    /// Names the API answers to in the `Host` header besides `localhost` and IP
    /// addresses (lower case, without a port): a request for any other name is refused,
    /// so a DNS-rebinding page cannot read the API.
    pub hosts: Vec<String>,
    /// Connections open at once (fewer when the descriptor limit leaves less room).
    pub max_connections: usize,
    /// Searches (`/api/articles`, topic feeds) running at once; past it, 503.
    pub max_searches: usize,
    /// How long one search may run before it is stopped.
    pub search_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            listen: None,
            token: None,
            hosts: Vec::new(),
            max_connections: 512,
            max_searches: 4,
            search_timeout: Duration::from_secs(10),
        }
    }
}

/// The longest any duration in the file may be: long enough for any real schedule,
/// short enough that no date arithmetic on it can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// The largest configuration file read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// The longest API token (an `Authorization` header is compared over this width).
pub const MAX_TOKEN_LEN: usize = 256;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSettings {
    /// An `EnvFilter` directive such as "info" or "kabar=debug"; `KABAR_LOG` overrides.
    pub level: Option<String>,
    pub json: bool,
}

/// Where a topic's new stories are delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notify {
    /// POSTed a JSON object per story.
    pub webhook: Option<Url>,
    /// Run with the JSON object on standard input.
    pub command: Option<Vec<String>>,
}

pub use crate::pipeline::dedup::index::Params as DedupParams;

#[derive(Debug, Clone, PartialEq)]
pub struct FetchSettings {
    pub user_agent: String,
    /// Fetches in flight at once, over all hosts.
    pub concurrency: usize,
    /// Fetches in flight at once to one host.
    pub per_host_concurrency: usize,
    /// Minimum time between two requests to one host.
    pub per_host_min_interval: Duration,
    /// Deadline for a whole fetch: connect, headers and body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest body accepted, counted after decompression.
    pub max_body: u64,
    pub max_redirects: usize,
    /// Entries kept from one document; the rest are dropped and the truncation noted.
    pub max_entries: usize,
    /// Networks a fetch may reach although they are not public.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// PEM files of certificate authorities trusted beside the system's (an internal CA).
    pub ca_certificates: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub default: Schedule,
    /// The shortest interval a feed may have, and the least gap between two cron times.
    pub min_interval: Duration,
    /// Fraction of the interval by which a poll is moved at random (0.1 = ±10 %).
    pub jitter: f64,
    /// Longest wait after repeated failures.
    pub max_backoff: Duration,
}

/// When a feed is due.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron {
        /// As written in the file (5 or 6 fields).
        expr: String,
        schedule: Box<cron::Schedule>,
        timezone: Tz,
    },
}

impl Schedule {
    /// The next regular time after `now` (without jitter or backoff).
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let later = |d: chrono::Duration| now.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC);
        match self {
            Schedule::Every(d) => later(chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX)),
            Schedule::Cron { schedule, timezone, .. } => schedule
                .after(&now.with_timezone(timezone))
                .next()
                .map(|t| t.with_timezone(&Utc))
                // Validation refuses a cron expression that never fires; one whose last
                // time has passed since (a year field) is checked weekly.
                .unwrap_or_else(|| later(chrono::Duration::days(7))),
        }
    }

    /// The typical gap between two polls: the interval, or the gap between the
    /// next two cron times. Backoff and jitter scale with it.
    pub fn period(&self, now: DateTime<Utc>) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron { .. } => {
                let a = self.next_after(now);
                let b = self.next_after(a);
                (b - a).to_std().unwrap_or(Duration::from_secs(3600))
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}", humantime::format_duration(*d)),
            Schedule::Cron { expr, timezone, .. } => write!(f, "cron \"{expr}\" ({timezone})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub url: Url,
    pub schedule: Schedule,
    /// The zone for dates written without one, and for `cron`.
    pub timezone: Tz,
    /// A language hint for entries too short to detect.
    pub language: Option<String>,
    pub tags: Vec<String>,
    /// Accept this feed's TLS certificate without verifying it.
    pub allow_self_signed: bool,
}

#[derive(Debug, Clone)]
pub struct TopicConfig {
    pub name: String,
    pub query: Query,
    pub description: Option<String>,
    pub notify: Option<Notify>,
}

/// Where the configuration is looked for, in order.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let mut tried = Vec::new();
    if let Some(env) = std::env::var_os("KABAR_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    for candidate in ["kabar.toml", "/etc/kabar/kabar.toml"] {
        let path = PathBuf::from(candidate);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path);
    }
    Err(ConfigError::NotFound { tried })
}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read_file(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// The text of a regular file of at most [`MAX_FILE_BYTES`]. A FIFO, a device or a
/// folder is refused without reading it (opened without blocking, then checked on the
/// open descriptor, so nothing can be swapped in between).
fn read_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        let message = format!("the file is {} bytes; at most {MAX_FILE_BYTES} are read", meta.len());
        return Err(Error::new(ErrorKind::InvalidInput, message));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(ErrorKind::InvalidInput, format!("the file grew past {MAX_FILE_BYTES} bytes")));
    }
    Ok(text)
}

/// Parses and validates configuration text that came from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let invalid = |issues| ConfigError::Invalid { path: path.to_path_buf(), issues };
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((0, 0));
        invalid(vec![Issue { line, column, message: with_suggestion(e.message()) }])
    })?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let lines = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let mut v = Validator { text, lines, issues: Vec::new() };
    let config = v.config(raw, path, &base);
    v.issues.sort_by_key(|i| (i.line, i.column));
    if v.issues.is_empty() { Ok(config) } else { Err(invalid(v.issues)) }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based; 0 when the position is unknown.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration file: pass --config PATH or set KABAR_CONFIG (looked for {})",
        .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { tried: Vec<PathBuf> },
    #[error("cannot read {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", render_issues(.path, .issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

fn render_issues(path: &Path, issues: &[Issue]) -> String {
    let lines: Vec<String> =
        issues.iter().map(|i| format!("{}:{}:{}: {}", path.display(), i.line, i.column, i.message)).collect();
    lines.join("\n")
}

/// Adds "did you mean" to serde's unknown-field message when a known key is close.
fn with_suggestion(message: &str) -> String {
    let message = message.trim_end();
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (strsim::jaro_winkler(unknown, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, key)) => format!("{message}; did you mean `{key}`?"),
        None => message.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

pub const DEFAULT_USER_AGENT: &str =
    concat!("kabar/", env!("CARGO_PKG_VERSION"), " (news monitor; +https://github.com/kabar-news/kabar)");

struct Validator<'a> {
    text: &'a str,
    /// Where each line starts (byte offsets), so a position costs a binary search:
    /// validation stays linear however many issues a large file has.
    lines: Vec<usize>,
    issues: Vec<Issue>,
}

impl Validator<'_> {
    fn issue_at(&mut self, offset: usize, message: impl Into<String>) {
        let offset = offset.min(self.text.len());
        let line = self.lines.partition_point(|&start| start <= offset);
        let start = self.lines[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        self.issues.push(Issue { line, column, message: message.into() });
    }

    fn issue<T>(&mut self, value: &Spanned<T>, message: impl Into<String>) {
        self.issue_at(value.span().start, message);
    }

    fn config(&mut self, raw: raw::RawConfig, path: &Path, base: &Path) -> Config {
        let database = match &raw.storage.database {
            Some(db) if db.get_ref().trim().is_empty() => {
                self.issue(db, "storage.database must not be empty");
                PathBuf::new()
            }
            Some(db) => base.join(db.get_ref()),
            None => default_database(),
        };
        let keep_fetches = self
            .duration(raw.storage.keep_fetches.as_ref(), "storage.keep_fetches", false)
            .unwrap_or(Duration::from_secs(90 * 86_400));
        let fetch = self.fetch(&raw.fetch, base);
        let schedule = self.schedule(&raw.schedule);
        let dedup = self.dedup(&raw.dedup);
        let http = self.http(&raw.http);
        let log = self.log(&raw.log);
        let mut feeds: Vec<FeedConfig> = Vec::new();
        let mut feed_names = std::collections::HashSet::new();
        for f in &raw.feeds {
            if !feed_names.insert(f.name.get_ref().as_str()) {
                self.issue(&f.name, format!("feed name {:?} is used twice", f.name.get_ref()));
            }
            if let Some(feed) = self.feed(f, &schedule) {
                feeds.push(feed);
            }
        }
        let mut topics: Vec<TopicConfig> = Vec::new();
        let mut topic_names = std::collections::HashSet::new();
        for t in &raw.topics {
            if !topic_names.insert(t.name.get_ref().as_str()) {
                self.issue(&t.name, format!("topic name {:?} is used twice", t.name.get_ref()));
            }
            self.check_name(&t.name, "topic");
            match Query::parse(t.query.get_ref()) {
                Ok(query) => topics.push(TopicConfig {
                    name: t.name.get_ref().clone(),
                    query,
                    description: t.description.clone(),
                    notify: t.notify.as_ref().and_then(|n| self.notify(n)),
                }),
                Err(e) => {
                    let offset = string_content_start(self.text, t.query.span().start)
                        + byte_offset_of_column(t.query.get_ref(), e.column);
                    self.issue_at(offset, format!("topic {:?}: query: {}", t.name.get_ref(), e.message));
                }
            }
        }
        Config { path: path.to_path_buf(), database, keep_fetches, fetch, schedule, dedup, http, log, feeds, topics }
    }

    fn http(&mut self, raw: &raw::RawHttp) -> HttpSettings {
        let d = HttpSettings::default();
        let token = raw.token.as_ref().and_then(|t| {
            let v = t.get_ref().trim();
            if !v.chars().all(|c| c.is_ascii_graphic()) {
                // A header value carries visible ASCII only: any other token could never match.
                self.issue(t, "http.token must be printable ASCII without spaces");
                None
            } else if v.len() < 16 || v.len() > MAX_TOKEN_LEN {
                self.issue(t, format!("http.token must be 16 to {MAX_TOKEN_LEN} characters"));
                None
            } else {
                Some(v.to_string())
            }
        });
        let hosts = raw
            .hosts
            .iter()
            .flatten()
            .filter_map(|h| {
                let name = h.get_ref().trim().trim_end_matches('.').to_ascii_lowercase();
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if !valid {
                    self.issue(
                        h,
                        format!("http.hosts: {:?} is not a host name like \"kabar.example.org\"", h.get_ref()),
                    );
                }
                valid.then_some(name)
            })
            .collect();
        let max_connections =
            self.count(raw.max_connections.as_ref(), "http.max_connections", d.max_connections, 8, 100_000);
        let max_searches = self.count(raw.max_searches.as_ref(), "http.max_searches", d.max_searches, 1, 256);
        let search_timeout =
            self.duration(raw.search_timeout.as_ref(), "http.search_timeout", false).unwrap_or(d.search_timeout);
        let listen = raw.listen.as_ref().and_then(|l| match l.get_ref().trim().parse::<std::net::SocketAddr>() {
            Ok(addr) if !addr.ip().is_loopback() && token.is_none() && raw.token.is_none() => {
                self.issue(l, "http.listen on a non-loopback address needs http.token");
                None
            }
            Ok(addr) => Some(addr),
            Err(_) => {
                self.issue(l, format!("http.listen {:?} is not an address like \"127.0.0.1:8787\"", l.get_ref()));
                None
            }
        });
        HttpSettings { listen, token, hosts, max_connections, max_searches, search_timeout }
    }

    fn log(&mut self, raw: &raw::RawLog) -> LogSettings {
        let level =
            raw.level.as_ref().and_then(|l| match tracing_subscriber::EnvFilter::builder().parse(l.get_ref().trim()) {
                Ok(_) => Some(l.get_ref().trim().to_string()),
                Err(e) => {
                    self.issue(l, format!("log.level {:?}: {e}", l.get_ref()));
                    None
                }
            });
        let json = match raw.format.as_ref() {
            None => false,
            Some(f) if f.get_ref() == "text" => false,
            Some(f) if f.get_ref() == "json" => true,
            Some(f) => {
                self.issue(f, "log.format must be \"text\" or \"json\"");
                false
            }
        };
        LogSettings { level, json }
    }

    fn notify(&mut self, raw: &Spanned<raw::RawNotify>) -> Option<Notify> {
        let n = raw.get_ref();
        let webhook = n.webhook.as_ref().and_then(|w| match Url::parse(w.get_ref().trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                self.issue(w, format!("notify.webhook {:?} is not an http(s) URL", w.get_ref()));
                None
            }
        });
        let command = n.command.clone().filter(|c| !c.is_empty() && !c[0].trim().is_empty());
        if n.command.is_some() && command.is_none() {
            self.issue(raw, "notify.command must name a program, like [\"/usr/local/bin/alert\", \"--quiet\"]");
        }
        if n.webhook.is_none() && n.command.is_none() {
            self.issue(raw, "notify needs a webhook, a command, or both");
        }
        (webhook.is_some() || command.is_some()).then_some(Notify { webhook, command })
    }

    fn dedup(&mut self, raw: &raw::RawDedup) -> DedupParams {
        let d = DedupParams::default();
        let window = self.duration(raw.window.as_ref(), "dedup.window", false).map_or(d.window, secs);
        let translation_window = self
            .duration(raw.translation_window.as_ref(), "dedup.translation_window", false)
            .map_or(d.translation_window, secs);
        DedupParams {
            window,
            translation_window,
            near: self.share(raw.near.as_ref(), "dedup.near", d.near),
            containment: self.share(raw.containment.as_ref(), "dedup.containment", d.containment),
            translation: self.share(raw.translation.as_ref(), "dedup.translation", d.translation),
            learn_boilerplate: self.count(
                raw.learn_boilerplate.as_ref(),
                "dedup.learn_boilerplate",
                d.learn_boilerplate as usize,
                0,
                1000,
            ) as u32,
        }
    }

    /// A threshold above 0 (zero would call everything a copy) and at most 1.
    fn share(&mut self, value: Option<&Spanned<f64>>, key: &str, default: f64) -> f64 {
        match value {
            Some(v) if *v.get_ref() > 0.0 && *v.get_ref() <= 1.0 => *v.get_ref(),
            Some(v) => {
                self.issue(v, format!("{key} must be a number above 0 and at most 1"));
                default
            }
            None => default,
        }
    }

    fn fetch(&mut self, raw: &raw::RawFetch, base: &Path) -> FetchSettings {
        let ca_certificates = raw
            .ca_certificates
            .iter()
            .flatten()
            .filter_map(|p| {
                let path = base.join(p.get_ref().trim());
                match std::fs::read_to_string(&path) {
                    Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => Some(path),
                    Ok(_) => {
                        self.issue(p, format!("fetch.ca_certificates: {} holds no PEM certificate", path.display()));
                        None
                    }
                    Err(e) => {
                        self.issue(p, format!("fetch.ca_certificates: cannot read {}: {e}", path.display()));
                        None
                    }
                }
            })
            .collect();
        let per_host = raw.per_host.as_ref();
        FetchSettings {
            user_agent: match &raw.user_agent {
                Some(ua) if ua.get_ref().trim().is_empty() || ua.get_ref().contains(['\r', '\n']) => {
                    self.issue(ua, "fetch.user_agent must be one non-empty line");
                    DEFAULT_USER_AGENT.to_string()
                }
                Some(ua) => ua.get_ref().clone(),
                None => DEFAULT_USER_AGENT.to_string(),
            },
            concurrency: self.count(raw.concurrency.as_ref(), "fetch.concurrency", 32, 1, 4096),
            per_host_concurrency: self.count(
                per_host.and_then(|p| p.concurrency.as_ref()),
                "fetch.per_host.concurrency",
                2,
                1,
                64,
            ),
            per_host_min_interval: self
                .duration(per_host.and_then(|p| p.min_interval.as_ref()), "fetch.per_host.min_interval", true)
                .unwrap_or(Duration::from_secs(1)),
            timeout: self.duration(raw.timeout.as_ref(), "fetch.timeout", false).unwrap_or(Duration::from_secs(20)),
            connect_timeout: self
                .duration(raw.connect_timeout.as_ref(), "fetch.connect_timeout", false)
                .unwrap_or(Duration::from_secs(10)),
            max_body: match &raw.max_body {
                Some(s) => match parse_size(s.get_ref()) {
                    Ok(n) if n >= 1024 => n,
                    Ok(_) => {
                        self.issue(s, "fetch.max_body must be at least 1KiB");
                        16 << 20
                    }
                    Err(e) => {
                        self.issue(s, format!("fetch.max_body: {e}"));
                        16 << 20
                    }
                },
                None => 16 << 20,
            },
            max_redirects: self.count(raw.max_redirects.as_ref(), "fetch.max_redirects", 5, 0, 20),
            max_entries: self.count(raw.max_entries.as_ref(), "fetch.max_entries", 1000, 1, 1_000_000),
            allow_networks: raw
                .allow_networks
                .iter()
                .flatten()
                .filter_map(|n| match n.get_ref().trim().parse::<ipnet::IpNet>() {
                    Ok(net) => Some(net),
                    Err(_) => match n.get_ref().trim().parse::<std::net::IpAddr>() {
                        Ok(ip) => Some(ipnet::IpNet::from(ip)),
                        Err(_) => {
                            self.issue(
                                n,
                                format!("fetch.allow_networks: {:?} is not a network like \"10.0.0.0/8\"", n.get_ref()),
                            );
                            None
                        }
                    },
                })
                .collect(),
            ca_certificates,
        }
    }

    fn schedule(&mut self, raw: &raw::RawSchedule) -> ScheduleSettings {
        let timezone = self.timezone(raw.timezone.as_ref());
        let min_interval =
            self.duration(raw.min_interval.as_ref(), "schedule.min_interval", false).unwrap_or(Duration::from_secs(1));
        let default = match (&raw.default, &raw.cron) {
            (Some(d), Some(_)) => {
                self.issue(d, "schedule: give `default` (an interval) or `cron`, not both");
                None
            }
            (_, Some(c)) => self.cron(c, timezone, min_interval),
            (Some(d), None) => self.interval(d, "schedule.default", min_interval),
            (None, None) => None,
        };
        let jitter = match &raw.jitter {
            Some(j) => match parse_percent(j.get_ref()) {
                Some(p) if (0.0..=50.0).contains(&p) => p / 100.0,
                _ => {
                    self.issue(j, "schedule.jitter must be a percentage from 0% to 50%, like \"10%\"");
                    0.1
                }
            },
            None => 0.1,
        };
        ScheduleSettings {
            default: default.unwrap_or(Schedule::Every(Duration::from_secs(30 * 60).max(min_interval))),
            min_interval,
            jitter,
            max_backoff: self
                .duration(raw.max_backoff.as_ref(), "schedule.max_backoff", false)
                .unwrap_or(Duration::from_secs(12 * 3600)),
        }
    }

    fn feed(&mut self, raw: &raw::RawFeed, schedules: &ScheduleSettings) -> Option<FeedConfig> {
        let before = self.issues.len();
        self.check_name(&raw.name, "feed");
        let url = match Url::parse(raw.url.get_ref().trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(u) => {
                self.issue(&raw.url, format!("feed url must be http or https with a host, not {:?}", u.as_str()));
                None
            }
            Err(e) => {
                self.issue(&raw.url, format!("feed url {:?} is not a URL: {e}", raw.url.get_ref()));
                None
            }
        };
        let timezone = self.timezone(raw.timezone.as_ref());
        let schedule = match (&raw.interval, &raw.cron) {
            (Some(i), Some(_)) => {
                self.issue(i, "a feed takes `interval` or `cron`, not both");
                None
            }
            (Some(i), None) => self.interval(i, "interval", schedules.min_interval),
            (None, Some(c)) => self.cron(c, timezone, schedules.min_interval),
            (None, None) => Some(schedules.default.clone()),
        };
        let language = raw.language.as_ref().and_then(|l| {
            let code = l.get_ref().trim().to_ascii_lowercase();
            if code.len() >= 2 && code.len() <= 8 && code.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
                Some(code)
            } else {
                self.issue(l, format!("language {:?} is not a language code like \"id\" or \"en\"", l.get_ref()));
                None
            }
        });
        if self.issues.len() > before {
            return None;
        }
        Some(FeedConfig {
            name: raw.name.get_ref().clone(),
            url: url?,
            schedule: schedule?,
            timezone,
            language,
            tags: raw.tags.clone(),
            allow_self_signed: raw.allow_self_signed.unwrap_or(false),
        })
    }

    fn check_name(&mut self, name: &Spanned<String>, what: &str) {
        let n = name.get_ref();
        if n.is_empty() || n.len() > 100 || !n.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)) {
            self.issue(name, format!("{what} name {n:?} must be 1-100 letters, digits, '-', '_' or '.'"));
        }
    }

    fn count(&mut self, value: Option<&Spanned<i64>>, key: &str, default: usize, min: i64, max: i64) -> usize {
        match value {
            Some(v) if (min..=max).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                self.issue(v, format!("{key} must be between {min} and {max}"));
                default
            }
            None => default,
        }
    }

    /// A duration of at most [`MAX_DURATION`].
    fn duration(&mut self, value: Option<&Spanned<String>>, key: &str, zero_ok: bool) -> Option<Duration> {
        let v = value?;
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.issue(v, format!("{key} must be longer than zero"));
                None
            }
            Ok(d) if d > MAX_DURATION => {
                self.issue(v, format!("{key} must be at most {}d", MAX_DURATION.as_secs() / 86_400));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.issue(v, format!("{key}: {:?} is not a duration like \"15m\" or \"1h30m\" ({e})", v.get_ref()));
                None
            }
        }
    }

    fn timezone(&mut self, value: Option<&Spanned<String>>) -> Tz {
        match value {
            Some(v) => match Tz::from_str(v.get_ref().trim()) {
                Ok(tz) => tz,
                Err(_) => {
                    self.issue(v, format!("unknown timezone {:?} (use a name like \"Asia/Jakarta\")", v.get_ref()));
                    Tz::UTC
                }
            },
            None => Tz::UTC,
        }
    }

    /// A polling interval: a duration no shorter than `min` (`schedule.min_interval`).
    fn interval(&mut self, value: &Spanned<String>, key: &str, min: Duration) -> Option<Schedule> {
        let d = self.duration(Some(value), key, false)?;
        if d < min {
            let min = humantime::format_duration(min);
            self.issue(value, format!("{key} must be at least {min} (schedule.min_interval)"));
            return None;
        }
        Some(Schedule::Every(d))
    }

    /// A cron schedule that fires, with no two of its next times closer than `min`.
    fn cron(&mut self, value: &Spanned<String>, timezone: Tz, min: Duration) -> Option<Schedule> {
        let schedule = match parse_cron(value.get_ref()) {
            Ok(s) => s,
            Err(e) => {
                self.issue(value, e);
                return None;
            }
        };
        let now = Utc::now().with_timezone(&timezone);
        let times: Vec<_> = schedule.after(&now).take(10).collect();
        if times.is_empty() {
            self.issue(value, format!("cron {:?} never fires (no such date from now on)", value.get_ref().trim()));
            return None;
        }
        let gap = times.windows(2).filter_map(|w| (w[1] - w[0]).to_std().ok()).min();
        if gap.is_some_and(|g| g < min) {
            let min = humantime::format_duration(min);
            self.issue(
                value,
                format!("cron {:?} fires more often than every {min} (schedule.min_interval)", value.get_ref().trim()),
            );
            return None;
        }
        Some(Schedule::Cron { expr: value.get_ref().trim().to_string(), schedule: Box::new(schedule), timezone })
    }
}

/// A cron expression of 5 fields (minute first) or 6 (seconds first).
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {}", expr.trim()),
        6 => expr.trim().to_string(),
        n => {
            return Err(format!(
                "cron {expr:?} has {n} fields; expected 5 (minute hour day month weekday) or 6 (with seconds first)"
            ));
        }
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("cron {expr:?}: {e}"))
}

/// "16MiB", "512KB", "1048576": a size in bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{s:?} is not a size like \"16MiB\""))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => {
            return Err(format!("unknown size unit {other:?} (use B, KB, KiB, MB, MiB, GB, GiB)"));
        }
    };
    n.checked_mul(factor).ok_or_else(|| format!("{s:?} is too large"))
}

fn secs(d: Duration) -> i64 {
    d.as_secs().min(i64::MAX as u64) as i64
}

fn parse_percent(s: &str) -> Option<f64> {
    let n: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    n.is_finite().then_some(n)
}

fn default_database() -> PathBuf {
    match std::env::var_os("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
        // systemd may pass several directories separated by ':'; the first is ours.
        Some(dirs) => {
            let dirs = dirs.to_string_lossy().into_owned();
            PathBuf::from(dirs.split(':').next().unwrap_or(".")).join("kabar.db")
        }
        None => PathBuf::from("kabar.db"),
    }
}

/// Byte offset where the content of the TOML string starting at `start` begins:
/// after the quotes, and after the newline that opens a multi-line string.
fn string_content_start(text: &str, start: usize) -> usize {
    let rest = &text[start.min(text.len())..];
    for delim in ["'''", "\"\"\"", "'", "\""] {
        if let Some(after) = rest.strip_prefix(delim) {
            let mut offset = start + delim.len();
            if delim.len() == 3 {
                if after.starts_with("\r\n") {
                    offset += 2;
                } else if after.starts_with('\n') {
                    offset += 1;
                }
            }
            return offset;
        }
    }
    start
}

/// Byte offset of a 1-based character column within `s`.
fn byte_offset_of_column(s: &str, column: usize) -> usize {
    s.char_indices().nth(column.saturating_sub(1)).map(|(i, _)| i).unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Config {
        parse(text, Path::new("/etc/kabar/kabar.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn issues(text: &str) -> Vec<Issue> {
        match parse(text, Path::new("k.toml")) {
            Err(ConfigError::Invalid { issues, .. }) => issues,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_and_relative_paths_resolve_against_the_file() {
        let c = parse_ok(
            r#"
[storage]
database = "data/k.db"

[[feeds]]
name = "a"
url = "https://example.org/feed.xml"
"#,
        );
        assert_eq!(c.database, PathBuf::from("/etc/kabar/data/k.db"));
        assert_eq!(c.fetch.max_body, 16 << 20);
        assert_eq!(c.fetch.concurrency, 32);
        assert!(matches!(c.feeds[0].schedule, Schedule::Every(d) if d == Duration::from_secs(1800)));
        assert!((c.schedule.jitter - 0.1).abs() < 1e-9);
    }

    #[test]
    fn unknown_key_names_line_column_and_the_key_meant() {
        let found = issues("[[feeds]]\nname = \"a\"\nurl = \"https://e.org/\"\nintervall = \"5m\"\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (4, 1));
        assert!(found[0].message.contains("unknown field `intervall`"), "{}", found[0].message);
        assert!(found[0].message.contains("did you mean `interval`?"), "{}", found[0].message);
    }

    #[test]
    fn every_bad_value_is_reported_with_its_position() {
        let found = issues(
            r#"[fetch]
max_body = "16 parsecs"
concurrency = 0

[schedule]
jitter = "80%"

[[feeds]]
name = "bad name"
url = "ftp://example.org/"
interval = "soon"

[[feeds]]
name = "b"
url = "https://example.org/"
cron = "* * *"
timezone = "Mars/Olympus"

[[topics]]
name = "t"
query = '''
digital AND (cooperation'''
"#,
        );
        let lines: Vec<usize> = found.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![2, 3, 6, 9, 10, 11, 16, 17, 22], "{found:#?}");
        let topic = found.last().unwrap();
        // The query error points into the query text, at its end.
        assert_eq!(topic.column, 25, "{topic:?}");
        assert!(topic.message.contains("expected"), "{topic:?}");
    }

    #[test]
    fn five_and_six_field_cron_with_timezone() {
        let c = parse_ok(
            r#"[[feeds]]
name = "a"
url = "https://example.org/"
cron = "*/10 6-22 * * *"
timezone = "Asia/Jakarta"
"#,
        );
        let s = &c.feeds[0].schedule;
        // 23:05 UTC is 06:05 in Jakarta: the next poll is 06:10 local.
        let now = DateTime::parse_from_rfc3339("2025-01-26T23:05:00Z").unwrap().to_utc();
        assert_eq!(s.next_after(now).to_rfc3339(), "2025-01-26T23:10:00+00:00");
        // 16:00 UTC is 23:00 in Jakarta: nothing until 06:00 local (23:00 UTC).
        let late = DateTime::parse_from_rfc3339("2025-01-26T16:00:00Z").unwrap().to_utc();
        assert_eq!(s.next_after(late).to_rfc3339(), "2025-01-26T23:00:00+00:00");
        assert!(parse_cron("0 */5 * * * *").is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("512 KB"), Ok(512_000));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("12 furlongs").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn duplicate_names_are_errors() {
        let found = issues(
            "[[feeds]]\nname = \"a\"\nurl = \"https://e.org/\"\n[[feeds]]\nname = \"a\"\nurl = \"https://e.org/2\"\n",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 5);
    }
}
