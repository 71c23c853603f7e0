//! The file's shape, as written: unknown keys are errors, every value keeps its place
//! in the file. Public so tests can walk every accepted key.

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
    pub backend: Option<Spanned<String>>,
    pub database: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub lease: Option<Spanned<String>>,
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
    pub full_text: Option<Spanned<String>>,
    pub max_pages: Option<Spanned<i64>>,
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
    pub full_text: Option<Spanned<String>>,
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
