//! kabar: a news-monitoring daemon.
//!
//! # Layout
//!
//! The crate follows the pipeline an article travels, then the ways out:
//!
//! * `config`: reads the TOML file strictly (unknown keys are errors with line and
//!   column) and turns it into validated settings the rest of the program trusts.
//! * `model`: the plain data that passes between stages (entries, articles, errors).
//! * `text`: normalisation shared by documents and queries (NFKC, case and accent
//!   folding, tokens).
//! * `pipeline`: the stages, in order — `schedule` (when each feed is due),
//!   `fetch` (the only network code), `parse` (RSS, Atom, JSON Feed), `clean` (HTML to
//!   text, boilerplate, canonical URL, language), `dedup` (entry keys and the
//!   duplicate decision), `classify` (topic flags with evidence); `pipeline::poll`
//!   runs one feed through all of them.
//! * `query`: the topic and search language (lexer, parser, matcher) and the search
//!   that the CLI and any other front end share.
//! * `store`: SQLite — migrations, the single writer thread, read-only readers. The
//!   only module that names rusqlite.
//! * `daemon`: the scheduler loop; shutdown is an argument.
//! * `reindex`: re-evaluates new and changed topics over the stored archive.
//! * `metrics`: counters for `/metrics`.
//! * `alerts`: delivers new stories of topics with `notify` from the outbox.
//! * `api`: the HTTP API, topic Atom feeds, `/metrics`, `/healthz`.
//! * `cli` and `output`: the command line and its table/json/ndjson/csv printing;
//!   `opml`: subscription lists in and out; `fault`: injected failures for tests.

pub mod config;
pub mod model;
pub mod text;

pub mod fetch;
pub mod pipeline;
pub mod poll;

pub mod query;
pub mod read;

pub mod store;

pub mod daemon;
pub mod metrics;

pub mod alerts;
pub mod api;
pub mod reindex;

pub mod cli;
pub mod fault;
pub mod opml;
pub mod output;

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}
