//! Configuration: a strict TOML file, read in two phases.
//!
//! Phase one ([`raw`]) deserialises exactly what the file says: unknown keys are
//! errors, every value keeps its place in the file. Phase two (`validate`) checks
//! every schedule, URL, size and topic query and turns them into [`Config`], the
//! type the rest of the program trusts. Every problem found is reported with its
//! line and column, all of them at once.

mod diagnostics;
pub mod raw;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use url::Url;

use crate::fetch::Settings as FetchSettings;
use crate::pipeline::dedup::index::Params as DedupParams;
use crate::pipeline::schedule::{Schedule, Settings as ScheduleSettings};
use crate::query::Query;
pub use diagnostics::{ConfigError, Issue};
use diagnostics::{line_column, with_suggestion};
pub use validate::{SizeError, parse_size};

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; relative paths inside it resolve against its folder.
    pub path: PathBuf,
    /// Where articles are stored: the SQLite file (the default) or a PostgreSQL database.
    pub database: Database,
    /// How long the fetch log (`fetches`, one row per poll) keeps a poll.
    pub keep_fetches: Duration,
    /// On a database a fleet shares: how long a worker's hold on a host lasts unrenewed
    /// (it renews every third of it); a killed worker's hosts are taken over after it.
    pub lease: Duration,
    pub fetch: FetchSettings,
    /// Pages queued from one poll of one feed at most (`fetch.max_pages`); the entries
    /// past it keep their feed text.
    pub max_pages: usize,
    pub schedule: ScheduleSettings,
    pub dedup: DedupParams,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub feeds: Vec<FeedConfig>,
    pub topics: Vec<TopicConfig>,
}

/// The store: an embedded SQLite file, or a PostgreSQL database a fleet of workers shares.
#[derive(Clone, PartialEq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(Postgres),
}

/// A PostgreSQL database: libpq's connection string (URL or `key=value` form, a
/// Unix-socket folder as `host`), and the password read from a file or the environment
/// (never written in the configuration).
#[derive(Clone, PartialEq)]
pub struct Postgres {
    pub url: String,
    pub password: Option<String>,
}

impl Database {
    /// Whether there may be a store to read yet: the SQLite file exists (before the first
    /// fetch there is none); a PostgreSQL database is asked by connecting.
    pub fn exists(&self) -> bool {
        match self {
            Database::Sqlite(path) => path.exists(),
            Database::Postgres(_) => true,
        }
    }

    /// The SQLite file, when that is the store.
    pub fn sqlite(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

/// For logs and messages: the file, or the connection string (which holds no password).
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(pg) => write!(f, "{}", pg.url),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(pg) => f
                .debug_struct("Postgres")
                .field("url", &pg.url)
                .field("password", &pg.password.as_ref().map(|_| "…"))
                .finish(),
        }
    }
}

impl From<&Path> for Database {
    fn from(path: &Path) -> Self {
        Database::Sqlite(path.to_path_buf())
    }
}
impl From<&PathBuf> for Database {
    fn from(path: &PathBuf) -> Self {
        Database::Sqlite(path.clone())
    }
}
impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Database::Sqlite(path)
    }
}
impl From<&Database> for Database {
    fn from(db: &Database) -> Self {
        db.clone()
    }
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
    /// When an entry's page is fetched for its full text.
    pub full_text: crate::pipeline::extract::FullText,
}

/// The configuration a running daemon goes by: read by each service when it needs it,
/// replaced whole by a reload.
#[derive(Debug)]
pub struct Live(std::sync::RwLock<std::sync::Arc<Config>>);

impl Live {
    pub fn new(config: Config) -> Live {
        Live(std::sync::RwLock::new(std::sync::Arc::new(config)))
    }

    /// The configuration now; a reload after this call does not change what it returns.
    pub fn get(&self) -> std::sync::Arc<Config> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, config: Config) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(config);
    }
}

impl Config {
    /// The topics as the classifier takes them: name and query, in file order.
    pub fn topic_queries(&self) -> impl Iterator<Item = (&str, &Query)> {
        self.topics.iter().map(|t| (t.name.as_str(), &t.query))
    }
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
    validate::validate(raw, text, path).map_err(invalid)
}

pub const DEFAULT_USER_AGENT: &str =
    concat!("kabar/", env!("CARGO_PKG_VERSION"), " (news monitor; +https://github.com/kabar-news/kabar)");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

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
        assert_eq!(c.database, Database::Sqlite(PathBuf::from("/etc/kabar/data/k.db")));
        assert_eq!(c.fetch.max_body, 16 << 20);
        assert_eq!(c.fetch.concurrency, 32);
        assert!(matches!(c.feeds[0].schedule, Schedule::Every(d) if d == Duration::from_secs(1800)));
        assert!((c.schedule.jitter - 0.1).abs() < 1e-9);
    }

    #[test]
    fn postgres_takes_a_url_without_its_password_and_the_password_from_a_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\nignored\n").unwrap();
        let at = dir.path().join("k.toml");
        let pg = |storage: &str| parse(&format!("[storage]\n{storage}\n"), &at);
        let url = "postgresql://kabar@db.internal/kabar";
        let c = pg(&format!("backend = \"postgres\"\nurl = \"{url}\"\npassword_file = \"pw\"")).unwrap();
        assert_eq!(c.database, Database::Postgres(Postgres { url: url.into(), password: Some("s3cret".into()) }));
        assert!(!format!("{:?} {}", c.database, c.database).contains("s3cret"), "the password is never shown");
        let c =
            pg("backend = \"postgres\"\nurl = \"host=/run/postgresql dbname=kabar\"\npassword_env = \"PATH\"").unwrap();
        assert!(
            matches!(&c.database, Database::Postgres(p) if p.password.as_deref() == std::env::var("PATH").ok().as_deref())
        );
        let refused = |storage: &str, needle: &str| match pg(storage) {
            Err(ConfigError::Invalid { issues, .. }) => {
                assert!(issues.iter().any(|i| i.message.contains(needle)), "{storage}: {issues:?}")
            }
            other => panic!("{storage}: expected invalid, got {other:?}"),
        };
        refused("backend = \"postgres\"", "needs storage.url");
        refused("backend = \"postgres\"\nurl = \"postgresql://kabar:pw@db/kabar\"", "must not hold the password");
        refused("backend = \"postgres\"\nurl = \"host=db password=pw\"", "must not hold the password");
        refused("backend = \"postgres\"\nurl = \"postgres://db/k?password=pw\"", "must not hold the password");
        refused("backend = \"postgres\"\nurl = \"host=db\"\npassword_file = \"pw\"\npassword_env = \"X\"", "give one");
        refused("backend = \"postgres\"\nurl = \"host=db\"\npassword_file = \"none\"", "cannot read");
        refused(
            "backend = \"postgres\"\nurl = \"host=db\"\npassword_env = \"KABAR_NO_SUCH_VARIABLE\"",
            "has no KABAR_NO_SUCH_VARIABLE",
        );
        refused("backend = \"postgres\"\ndatabase = \"k.db\"\nurl = \"host=db\"", "PostgreSQL uses storage.url");
        refused("url = \"host=db\"", "is for backend = \"postgres\"");
        refused("backend = \"mysql\"", "not one of \"sqlite\", \"postgres\"");
        // A user name with no password is fine, in either form.
        assert!(pg("backend = \"postgres\"\nurl = \"postgres://kabar@db:5432/kabar\"").is_ok());
        assert!(pg("backend = \"postgres\"\nurl = \"user=kabar host=db\"").is_ok());
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
        assert!(crate::pipeline::schedule::parse_cron("0 */5 * * * *").is_ok());
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
