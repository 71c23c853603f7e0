//! The stages an article passes, in order:
//!
//! ```text
//! schedule → (fetch) → decode → parse → clean → dedup → classify → (store)
//! ```
//!
//! Every stage here is a plain synchronous function of its input: no network, no
//! database, no configuration file, no async. The network is `crate::fetch`, the
//! database `crate::store`, and `crate::poll` runs one feed through all of them. Each
//! stage owns its settings types (`schedule::Schedule`, `parse::Limits`,
//! `dedup::index::Params`); `crate::config` builds them from the file.

pub mod classify;
pub mod clean;
pub mod decode;
pub mod dedup;
pub mod extract;
pub mod parse;
pub mod schedule;
