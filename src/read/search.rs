//! A search over the stored articles, shared by the CLI and any other front end.
//!
//! The search index narrows the candidates (see [`Query::fts`]); the same matcher
//! the topics use decides, over the same text (boilerplate left out), so a search
//! finds exactly what a topic with that query flags.

use std::collections::HashSet;

use crate::model::ArticleRow;
use crate::pipeline::clean;
use crate::query::{Doc, Matcher, Query};
use crate::store::{Reader, ScanFilter, StoreError};

#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub query: Option<Query>,
    pub topic: Option<String>,
    pub feed: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// Every copy instead of one row per story.
    pub all: bool,
    pub limit: usize,
}

/// Newest first. One row per story (its first copy, with the number of copies) unless
/// `all` is set.
pub fn search(reader: &Reader, p: &SearchParams) -> Result<Vec<ArticleRow>, StoreError> {
    let filter = ScanFilter {
        feed: p.feed.clone(),
        topic: p.topic.clone(),
        since: p.since,
        until: p.until,
        fts: p.query.as_ref().and_then(Query::fts),
    };
    let mut picked: Vec<i64> = Vec::new();
    let mut stories = HashSet::new();
    if p.limit == 0 {
        return Ok(Vec::new());
    }
    // The same compiled matcher a topic with this query gets.
    let matcher = p.query.as_ref().map(|q| Matcher::new([&q.expr]));
    reader.scan(&filter, |row| {
        crate::fault::maybe_slow_search();
        if let Some(m) = &matcher {
            let kept = clean::kept_text(&row.text, &row.boilerplate);
            let doc = Doc::new(&row.title, &kept, row.language.as_deref(), &row.feed);
            if m.matches(&doc).is_empty() {
                return true;
            }
        }
        if p.all {
            picked.push(row.id);
        } else if stories.insert(row.story_id) {
            picked.push(row.story_id);
        }
        picked.len() < p.limit
    })?;
    reader.rows(&picked, !p.all)
}
