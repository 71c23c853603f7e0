//! Phase two: every schedule, URL, size and topic query checked, and turned into
//! [`Config`] and the stages' own settings types.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use toml::Spanned;
use url::Url;

use super::diagnostics::{Issue, byte_offset_of_column, string_content_start};
use super::*;
use crate::pipeline::extract::FullText;

/// Checks `raw` (read from `text`, the file at `path`): the configuration, or every
/// problem found, in the order they appear in the file.
pub(super) fn validate(raw: raw::RawConfig, text: &str, path: &Path) -> Result<Config, Vec<Issue>> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let lines = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let mut v = Validator { text, lines, issues: Vec::new() };
    let config = v.config(raw, path, &base);
    v.issues.sort_by_key(|i| (i.line, i.column));
    if v.issues.is_empty() { Ok(config) } else { Err(v.issues) }
}

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

    fn storage(&mut self, raw: &raw::RawStorage, base: &Path) -> Database {
        let backend = raw.backend.as_ref().map_or("sqlite", |b| b.get_ref().as_str());
        match backend {
            "sqlite" => {
                for (key, value) in
                    [("url", &raw.url), ("password_file", &raw.password_file), ("password_env", &raw.password_env)]
                {
                    if let Some(v) = value {
                        self.issue(
                            v,
                            format!("storage.{key} is for backend = \"postgres\"; SQLite uses storage.database"),
                        );
                    }
                }
                Database::Sqlite(match &raw.database {
                    Some(db) if db.get_ref().trim().is_empty() => {
                        self.issue(db, "storage.database must not be empty");
                        PathBuf::new()
                    }
                    Some(db) => base.join(db.get_ref()),
                    None => default_database(),
                })
            }
            "postgres" => {
                if let Some(db) = &raw.database {
                    self.issue(db, "storage.database is the SQLite file; PostgreSQL uses storage.url");
                }
                let url = match &raw.url {
                    None => {
                        let at = raw.backend.as_ref().expect("the backend was named");
                        self.issue(at, "backend = \"postgres\" needs storage.url (\"postgresql://user@host/db\", or \"host=/run/postgresql dbname=kabar\")");
                        String::new()
                    }
                    Some(url) => {
                        let text = url.get_ref().trim();
                        if text.is_empty() {
                            self.issue(url, "storage.url must not be empty");
                        } else if has_password(text) {
                            self.issue(url, "storage.url must not hold the password: put it in a file (storage.password_file) or the environment (storage.password_env)");
                        }
                        text.to_string()
                    }
                };
                let password = match (&raw.password_file, &raw.password_env) {
                    (Some(file), Some(_)) => {
                        self.issue(file, "storage.password_file and storage.password_env: give one");
                        None
                    }
                    (Some(file), None) => {
                        let path = base.join(file.get_ref());
                        match std::fs::read_to_string(&path) {
                            Ok(text) => Some(text.lines().next().unwrap_or_default().to_string()),
                            Err(e) => {
                                self.issue(file, format!("storage.password_file: cannot read {}: {e}", path.display()));
                                None
                            }
                        }
                    }
                    (None, Some(name)) => match env_password(name.get_ref()) {
                        Some(p) => Some(p),
                        None => {
                            self.issue(
                                name,
                                format!("storage.password_env: the environment has no {}", name.get_ref()),
                            );
                            None
                        }
                    },
                    (None, None) => None,
                };
                Database::Postgres(Postgres { url, password })
            }
            other => {
                let at = raw.backend.as_ref().expect("the backend was named");
                self.issue(at, format!("storage.backend {other:?} is not one of \"sqlite\", \"postgres\""));
                Database::Sqlite(default_database())
            }
        }
    }

    fn config(&mut self, raw: raw::RawConfig, path: &Path, base: &Path) -> Config {
        let database = self.storage(&raw.storage, base);
        let keep_fetches = self
            .duration(raw.storage.keep_fetches.as_ref(), "storage.keep_fetches", false)
            .unwrap_or(Duration::from_secs(90 * 86_400));
        let lease =
            self.duration(raw.storage.lease.as_ref(), "storage.lease", false).unwrap_or(Duration::from_secs(30));
        if let Some(at) = &raw.storage.lease
            && lease < Duration::from_secs(3)
        {
            self.issue(at, "storage.lease must be at least 3s (it is renewed every third of it)");
        }
        let fetch = self.fetch(&raw.fetch, base);
        let full_text = self.full_text(raw.fetch.full_text.as_ref(), "fetch.full_text").unwrap_or_default();
        let max_pages = self.count(raw.fetch.max_pages.as_ref(), "fetch.max_pages", 20, 0, 1000);
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
            if let Some(feed) = self.feed(f, &schedule, full_text) {
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
        Config {
            path: path.to_path_buf(),
            database,
            keep_fetches,
            lease,
            fetch,
            max_pages,
            schedule,
            dedup,
            http,
            log,
            feeds,
            topics,
        }
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

    /// `auto`, `always` or `never`.
    fn full_text(&mut self, value: Option<&Spanned<String>>, key: &str) -> Option<FullText> {
        let v = value?;
        let parsed = FullText::parse(v.get_ref().trim());
        if parsed.is_none() {
            self.issue(v, format!("{key} must be \"auto\", \"always\" or \"never\", not {:?}", v.get_ref()));
        }
        parsed
    }

    fn feed(&mut self, raw: &raw::RawFeed, schedules: &ScheduleSettings, full_text: FullText) -> Option<FeedConfig> {
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
        let full_text = self.full_text(raw.full_text.as_ref(), "full_text").unwrap_or(full_text);
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
            full_text,
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
        let schedule = match Schedule::cron(value.get_ref(), timezone) {
            Ok(s) => s,
            Err(e) => {
                self.issue(value, e.to_string());
                return None;
            }
        };
        let times = schedule.times_after(Utc::now(), 10);
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
        Some(schedule)
    }
}

/// A size that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SizeError {
    #[error("{0:?} is not a size like \"16MiB\"")]
    NotASize(String),
    #[error("unknown size unit {0:?} (use B, KB, KiB, MB, MiB, GB, GiB)")]
    Unit(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// "16MiB", "512KB", "1048576": a size in bytes.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| SizeError::NotASize(s.to_string()))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => return Err(SizeError::Unit(other.to_string())),
    };
    n.checked_mul(factor).ok_or_else(|| SizeError::TooLarge(s.to_string()))
}

fn secs(d: Duration) -> i64 {
    d.as_secs().min(i64::MAX as u64) as i64
}

fn parse_percent(s: &str) -> Option<f64> {
    let n: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    n.is_finite().then_some(n)
}

/// The environment's value of `name`, for `storage.password_env` (a function so the
/// tests can stand in for the environment).
fn env_password(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Whether a libpq connection string carries a password: a URL's `user:password@`, a
/// `password=` parameter or key.
fn has_password(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let rest = &url[url.find("//").map_or(0, |i| i + 2)..];
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
        userinfo.is_some_and(|u| u.contains(':')) || lower.contains("password=")
    } else {
        lower.split_whitespace().any(|kv| kv.trim_start().starts_with("password"))
    }
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
