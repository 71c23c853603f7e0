//! kabar: a news-monitoring daemon.
//!
//! # Layout
//!
//! The crate follows the pipeline an article travels, then the ways out, in layers
//! that import one way (ARCHITECTURE.md, "Layers"; `tests/layers.rs` checks it):
//!
//! * `model`, `text`, `metrics`, `fault`: plain data, text folding, counters, injected
//!   failures for tests.
//! * `query`: the topic and search language (lexer, parser, forms, matcher), pure.
//! * `pipeline`: the stages, each a synchronous function with its own settings types:
//!   `schedule`, `decode`, `parse`, `clean`, `dedup`, `classify`.
//! * `fetch`: the only network code.
//! * `config`: reads the TOML file strictly and builds the stages' settings from it.
//! * `store`: SQLite (migrations, the single writer thread, read-only readers); the
//!   only module that names rusqlite.
//! * `poll`: runs one feed through fetch and the stages and hands it to the store.
//! * `read`: searches and listings over the stored archive, for `cli` and `api`.
//! * `opml`, `output`: subscription lists; table/json/ndjson/csv printing.
//! * `alerts`, `reindex`, `pages`: the outbox's delivery; topics re-evaluated over the
//!   archive; article pages fetched for their full text.
//! * `api`: the HTTP API over its own `AppState`.
//! * `daemon`: the scheduler loop; shutdown is an argument.
//! * `cli`: the command line.

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
pub mod pages;
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
