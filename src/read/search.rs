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

/// Windows of recent days a search with index terms tries first, widest last.
const WINDOWS_DAYS: [i64; 3] = [7, 30, 365];

/// Newest first. One row per story (its first copy, with the number of copies) unless
/// `all` is set.
///
/// A search with index terms over a long range tries the last 7, 30 and 365 days
/// first: the index's matches form a set that every row is checked against, and over
/// a whole archive a common word's set is tens of thousands of ids. When a window
/// already holds `limit` results they are the answer, since everything outside it is
/// older; otherwise the next window starts over.
pub fn search(reader: &Reader, p: &SearchParams) -> Result<Vec<ArticleRow>, StoreError> {
    if p.limit == 0 {
        return Ok(Vec::new());
    }
    let filter = ScanFilter {
        feed: p.feed.clone(),
        topic: p.topic.clone(),
        since: p.since,
        until: p.until,
        fts: p.query.as_ref().and_then(Query::fts),
    };
    // The same compiled matcher a topic with this query gets.
    let matcher = p.query.as_ref().map(|q| Matcher::new([&q.expr]));
    if filter.fts.is_some() && p.until.is_none() {
        let now = chrono::Utc::now().timestamp();
        for days in WINDOWS_DAYS {
            let since = now - days * 86_400;
            if p.since.is_some_and(|s| s >= since) {
                break;
            }
            let picked = pick(reader, &ScanFilter { since: Some(since), ..filter.clone() }, matcher.as_ref(), p)?;
            if picked.len() >= p.limit {
                return reader.rows(&picked, !p.all);
            }
        }
    }
    let picked = pick(reader, &filter, matcher.as_ref(), p)?;
    reader.rows(&picked, !p.all)
}

/// The ids of the first `p.limit` results `filter` and `matcher` pass, newest first:
/// articles with `p.all`, stories without.
fn pick(
    reader: &Reader,
    filter: &ScanFilter,
    matcher: Option<&Matcher>,
    p: &SearchParams,
) -> Result<Vec<i64>, StoreError> {
    let mut picked: Vec<i64> = Vec::new();
    let mut stories = HashSet::new();
    reader.scan(filter, |row| {
        crate::fault::maybe_slow_search();
        if let Some(m) = matcher {
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
    Ok(picked)
}
