//! The write transactions, one file per thing written: `feeds` (and the fetch log),
//! `polls`, `articles`, `topics`, `alerts`, `site_lines`.
//!
//! Runs on the writer thread only, over the [`State`] it owns. Each function the writer
//! calls is one `BEGIN IMMEDIATE` transaction: a poll's feed state, fetch record and
//! articles land together or not at all.

mod alerts;
mod articles;
mod feeds;
mod fleet;
mod pages;
mod polls;
mod site_lines;
mod topics;

use super::sql::{Backend, Db, Sql, args};
use chrono::{DateTime, Utc};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::StoreError;
use crate::model::{
    Article, FeedState, IngestSummary, MoveState, PollOutcome, PollRecord, Reindex, Sketch, TopicMatch, Validators,
    rfc3339,
};
use crate::pipeline::clean::{self, SiteLines};
use crate::pipeline::dedup::index::{Index, Params};
use crate::pipeline::dedup::{self, Candidate, StoredIdentity, Verdict, sketch};

/// What the writer thread owns: the connection (either backend), and the in-memory window of recent
/// articles that dedup compares new ones with (kept in step with what is committed).
pub(in crate::store) struct State {
    pub db: Db,
    pub recent: Index,
    /// Boilerplate lines learned per site, shared with the polls.
    pub site_lines: Arc<SiteLines>,
    /// On a database a fleet of workers shares (PostgreSQL): who this worker is.
    pub fleet: Option<Fleet>,
}

pub(in crate::store) use alerts::{alert_attempt, claim_alerts};
pub(in crate::store) use articles::{apply_page, load_recent, merge_index_step};
pub(in crate::store) use feeds::{feed_states, prune_fetches, sync_feeds};
pub(in crate::store) use fleet::{Fleet, claim, leave};
pub(in crate::store) use pages::{page_failed, requeue_pages};
pub(in crate::store) use polls::record_poll;
pub(in crate::store) use site_lines::load_site_lines;
pub(in crate::store) use topics::{replace_topic_matches, sync_topics};

/// A migrated database in a temporary folder and the writer's state over it, and the
/// articles the entity tests store, for the unit tests of this folder.
#[cfg(test)]
mod testing {
    use super::*;
    use crate::model::Entry;

    pub(super) fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::Sqlite(crate::store::schema::open_writer(&dir.path().join("k.db")).unwrap());
        let recent = articles::load_recent(&db.on(), Params::default(), Utc::now().timestamp()).unwrap();
        (dir, State { db, recent, site_lines: Arc::default(), fleet: None })
    }

    /// Feeds by name, created with their ids.
    pub(super) fn feeds(state: &mut State, names: &[&str]) -> Vec<i64> {
        let list: Vec<(String, String)> =
            names.iter().map(|n| (n.to_string(), format!("https://{n}.example/feed"))).collect();
        feeds::sync_feeds(&mut state.db, &list, Utc::now()).unwrap().iter().map(|f| f.id).collect()
    }

    pub(super) fn article(guid: &str, title: &str, body: &str) -> Article {
        let entry = Entry {
            guid: Some(guid.to_string()),
            link: Some(format!("https://news.example/{guid}")),
            title: title.to_string(),
            content_html: Some(body.to_string()),
            ..Entry::default()
        };
        clean::clean(entry, Some("en"), None)
    }

    pub(super) fn count(state: &mut State, sql: &str) -> i64 {
        state.db.on().value(sql, &[]).unwrap()
    }

    pub(super) const BODY: &str = "<p>The ministers of Indonesia and India signed a memorandum on digital \
        cooperation in Jakarta on Tuesday, covering data centres, cyber security and training \
        for forty thousand engineers over the next five years.</p>";
}
