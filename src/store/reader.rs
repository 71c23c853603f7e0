//! Read-only queries for listings. Each `Reader` has its own connection; in WAL mode
//! it reads a consistent snapshot while the writer commits.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{StoreError, schema};
use std::collections::HashMap;

use crate::model::{
    ArticleDetail, ArticleRow, DueAlert, DuePage, FeedStatus, Reindex, StoryCopy, TopicCount, TopicMatch, rfc3339,
};

pub struct Reader {
    conn: Connection,
    budget: Option<Budget>,
}

/// How long a read may run, and a flag that stops it sooner (its client went away).
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    cancelled: Arc<AtomicBool>,
}

impl Budget {
    pub fn new(deadline: Instant) -> Budget {
        Budget { deadline, cancelled: Arc::default() }
    }

    /// The flag that cancels the read when set.
    pub fn cancelled(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    fn spent(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// SQLite steps between two looks at the budget: a few microseconds of work.
const BUDGET_STEPS: i32 = 1_000;

/// An article's HTML as published, and its link (the base for relative links).
#[derive(Debug, Clone)]
pub struct ArticleHtml {
    pub url: Option<String>,
    pub html: Option<String>,
}

/// What a scan is restricted to. Times are Unix seconds against `sort_time`
/// (published, else first seen).
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    pub feed: Option<String>,
    pub topic: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// An FTS5 expression over the folded tokens.
    pub fts: Option<String>,
}

/// An article as a scan yields it: enough to match a query against.
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub id: i64,
    pub story_id: i64,
    pub feed: String,
    pub title: String,
    pub text: String,
    pub boilerplate: Vec<String>,
    pub language: Option<String>,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        Ok(Reader { conn: schema::open_reader(path)?, budget: None })
    }

    /// Bounds every read after this by `budget`: a statement past it stops (SQLite's
    /// progress handler) and a scan stops between rows, with [`StoreError::OutOfBudget`].
    pub fn set_budget(&mut self, budget: Budget) -> Result<(), StoreError> {
        let watched = budget.clone();
        self.conn.progress_handler(BUDGET_STEPS, Some(move || watched.spent()))?;
        self.budget = Some(budget);
        Ok(())
    }

    fn out_of_budget(&self) -> bool {
        self.budget.as_ref().is_some_and(Budget::spent)
    }

    /// A statement's error, or [`StoreError::OutOfBudget`] when the budget stopped it.
    fn failed(&self, e: rusqlite::Error) -> StoreError {
        if self.out_of_budget() { StoreError::OutOfBudget } else { StoreError::Sqlite(e) }
    }

    /// Calls `visit` for each article passing `filter`, newest first, until it
    /// returns false.
    pub fn scan(&self, filter: &ScanFilter, mut visit: impl FnMut(ScanRow) -> bool) -> Result<(), StoreError> {
        let mut sql = String::from(
            "SELECT a.id, a.story_id, f.name, a.title, a.text, a.boilerplate, a.language
             FROM articles a JOIN feeds f ON f.id = a.feed_id",
        );
        let mut args: Vec<Value> = Vec::new();
        let mut clauses: Vec<&str> = Vec::new();
        // The full-text match is a set the articles are checked against while the sort-time
        // index is walked newest first (`+a.id` keeps SQLite from fetching every match by id
        // and sorting them, text and all, before the first row), so a search reads rows only
        // until the caller has enough.
        match (&filter.fts, filter.since) {
            // The full-text match is bounded by article id: the least id among the articles
            // in the range (read from the sort-time index) is where the range's ids start,
            // so the match skips the older part of the archive. (`+id` keeps SQLite from
            // answering min(id) by walking the table in id order.)
            (Some(fts), Some(since)) => {
                clauses.push(
                    "+a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?1
                                AND rowid >= (SELECT min(+id) FROM articles WHERE sort_time >= ?2))",
                );
                args.push(Value::Text(fts.clone()));
                args.push(Value::Integer(since));
            }
            (Some(fts), None) => {
                clauses.push("+a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?)");
                args.push(Value::Text(fts.clone()));
            }
            (None, _) => {}
        }
        if let Some(feed) = &filter.feed {
            clauses.push("f.name = ?");
            args.push(Value::Text(feed.clone()));
        }
        if let Some(topic) = &filter.topic {
            clauses.push("EXISTS (SELECT 1 FROM article_topics t WHERE t.article_id = a.id AND t.topic = ?)");
            args.push(Value::Text(topic.clone()));
        }
        if let Some(since) = filter.since {
            clauses.push("a.sort_time >= ?");
            args.push(Value::Integer(since));
        }
        if let Some(until) = filter.until {
            clauses.push("a.sort_time < ?");
            args.push(Value::Integer(until));
        }
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY a.sort_time DESC, a.id DESC");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args)).map_err(|e| self.failed(e))?;
        while let Some(r) = rows.next().map_err(|e| self.failed(e))? {
            if !visit(scan_row(r)?) {
                break;
            }
            if self.out_of_budget() {
                return Err(StoreError::OutOfBudget);
            }
        }
        Ok(())
    }

    /// Articles with ids after `after` up to `upto`, in id order, at most `limit`.
    pub fn scan_range(&self, after: i64, upto: i64, limit: usize) -> Result<Vec<ScanRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.id, a.story_id, f.name, a.title, a.text, a.boilerplate, a.language
             FROM articles a JOIN feeds f ON f.id = a.feed_id
             WHERE a.id > ?1 AND a.id <= ?2 ORDER BY a.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![after, upto, limit as i64], scan_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The HTML an article came with (content, else summary) and its link, for serving
    /// after sanitising.
    pub fn article_html(&self, id: i64) -> Result<Option<ArticleHtml>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT url, coalesce(content_html, summary_html) FROM articles WHERE id = ?1", [id], |r| {
                Ok(ArticleHtml { url: web_url(r.get(0)?), html: r.get(1)? })
            })
            .optional()?)
    }

    /// Alerts due for delivery at `now`, oldest first.
    pub fn due_alerts(&self, now: i64, limit: usize) -> Result<Vec<DueAlert>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, topic, channel, article_id, attempts FROM alerts
             WHERE delivered_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit as i64], |r| {
            Ok(DueAlert {
                id: r.get(0)?,
                topic: r.get(1)?,
                channel: r.get(2)?,
                article_id: r.get(3)?,
                attempts: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Pages due for fetching by `now`, oldest first, with their feeds.
    pub fn due_pages(&self, now: i64, limit: usize) -> Result<Vec<DuePage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.article_id, p.url, f.config_url, f.name, a.title, a.language, p.attempts
             FROM pages p JOIN articles a ON a.id = p.article_id JOIN feeds f ON f.id = a.feed_id
             WHERE p.next_attempt_at <= ?1 ORDER BY p.next_attempt_at, p.article_id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit as i64], |r| {
            Ok(DuePage {
                article_id: r.get(0)?,
                url: r.get(1)?,
                feed_url: r.get(2)?,
                feed: r.get(3)?,
                title: r.get(4)?,
                language: r.get(5)?,
                attempts: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Pages queued, and the soonest one's due time.
    pub fn queued_pages(&self) -> Result<(i64, Option<i64>), StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*), min(next_attempt_at) FROM pages", [], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    /// Alerts not delivered yet.
    pub fn pending_alerts(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM alerts WHERE delivered_at IS NULL", [], |r| r.get(0))?)
    }

    /// Topics being re-evaluated over the archive, with their progress.
    pub fn topic_progress(&self) -> Result<HashMap<String, Reindex>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT name, reindex_done, reindex_upto FROM topics WHERE reindex_upto IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, Reindex { done: r.get(1)?, upto: r.get(2)? })))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The listing rows for `ids`, in that order. With `story_topics`, a row's topics
    /// are those of every copy of its story.
    pub fn rows(&self, ids: &[i64], story_topics: bool) -> Result<Vec<ArticleRow>, StoreError> {
        let topics_sql = if story_topics {
            "(SELECT group_concat(DISTINCT t.topic) FROM article_topics t
              JOIN articles c ON c.id = t.article_id WHERE c.story_id = a.story_id)"
        } else {
            "(SELECT group_concat(t.topic) FROM article_topics t WHERE t.article_id = a.id)"
        };
        let sql = format!(
            "SELECT a.id, f.name, a.guid, a.url, a.title, a.published, a.first_seen, a.language,
                    a.duplicate_of, a.duplicate_reason, a.similarity, a.story_id,
                    (SELECT count(*) FROM articles s WHERE s.story_id = a.story_id),
                    {topics_sql}
             FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE a.id = ?1"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = stmt.query_row([id], article_row).optional()? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Articles dated (published, else first seen) since `since` (Unix seconds), per
    /// feed name: a range of `articles_feed_sort` per feed, so it costs the articles
    /// counted, not the archive.
    pub fn articles_since(&self, since: i64) -> Result<HashMap<String, i64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.name, (SELECT count(*) FROM articles a WHERE a.feed_id = f.id AND a.sort_time >= ?1)
             FROM feeds f",
        )?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The topics article `id` matched, with their evidence, by topic name.
    pub fn topic_matches(&self, id: i64) -> Result<Vec<TopicMatch>, StoreError> {
        let matches = self
            .conn
            .prepare_cached("SELECT topic, score, evidence FROM article_topics WHERE article_id = ?1 ORDER BY topic")?
            .query_map([id], |r| {
                let evidence: String = r.get(2)?;
                Ok(TopicMatch {
                    topic: r.get(0)?,
                    score: r.get(1)?,
                    evidence: serde_json::from_str(&evidence).unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(matches)
    }

    /// Every copy of a story, first stored first.
    pub fn copies(&self, story: i64) -> Result<Vec<StoryCopy>, StoreError> {
        let copies = self
            .conn
            .prepare_cached(
                "SELECT a.id, f.name, a.title, a.url, a.first_seen, a.duplicate_reason, a.similarity
                 FROM articles a JOIN feeds f ON f.id = a.feed_id
                 WHERE a.story_id = ?1 ORDER BY a.id",
            )?
            .query_map([story], |r| {
                Ok(StoryCopy {
                    id: r.get(0)?,
                    feed: r.get(1)?,
                    title: r.get(2)?,
                    url: web_url(r.get(3)?),
                    first_seen: rfc3339(r.get(4)?),
                    duplicate_reason: r.get(5)?,
                    similarity: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(copies)
    }

    /// Everything about one article, with the copies of its story.
    pub fn detail(&self, id: i64) -> Result<Option<ArticleDetail>, StoreError> {
        let Some(row) = self.rows(&[id], false)?.pop() else {
            return Ok(None);
        };
        let (canonical_url, authors, first_seen, published_raw, text, boilerplate, summary, page_status) =
            self.conn.query_row(
                "SELECT canonical_url, authors, first_seen, published_raw, text, boilerplate, summary, page_status
                 FROM articles WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        json_list(r.get(1)?),
                        rfc3339(r.get(2)?),
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        json_list(r.get(5)?),
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )?;
        let topic_matches = self.topic_matches(id)?;
        let copies = self.copies(row.story)?;
        Ok(Some(ArticleDetail {
            row,
            canonical_url,
            summary,
            page_status,
            authors,
            first_seen,
            published_raw,
            text,
            boilerplate,
            topic_matches,
            copies,
            translation_evidence: None,
        }))
    }

    /// Every feed in the database, by name.
    pub fn feeds(&self) -> Result<Vec<FeedStatus>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT f.name, f.url, f.title, f.last_status, f.last_http_status, f.last_fetch_at,
                    f.last_success_at, f.next_attempt_at, f.consecutive_failures, f.last_error_kind,
                    f.last_error, (SELECT count(*) FROM articles a WHERE a.feed_id = f.id), f.last_warning
             FROM feeds f ORDER BY f.name",
        )?;
        let rows = stmt.query_map([], |r| {
            let time = |i: usize| -> rusqlite::Result<Option<String>> { Ok(r.get::<_, Option<i64>>(i)?.map(rfc3339)) };
            Ok(FeedStatus {
                name: r.get(0)?,
                url: r.get(1)?,
                title: r.get(2)?,
                status: r.get(3)?,
                http_status: r.get(4)?,
                last_fetch: time(5)?,
                last_success: time(6)?,
                next_due: time(7)?,
                failures: r.get(8)?,
                last_error_kind: r.get(9)?,
                last_error: r.get(10)?,
                articles: r.get(11)?,
                warning: r.get(12)?,
                configured: true,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stories flagged per topic (a story counts once however many copies it has):
    /// first seen in the last 24 hours, 7 days, ever.
    pub fn topic_counts(&self, now: i64) -> Result<Vec<TopicCount>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT t.topic,
                    count(DISTINCT CASE WHEN a.first_seen >= ?1 THEN a.story_id END),
                    count(DISTINCT CASE WHEN a.first_seen >= ?2 THEN a.story_id END),
                    count(DISTINCT a.story_id)
             FROM article_topics t JOIN articles a ON a.id = t.article_id
             GROUP BY t.topic ORDER BY t.topic",
        )?;
        let rows = stmt.query_map(params![now - 86_400, now - 7 * 86_400], |r| {
            Ok(TopicCount {
                name: r.get(0)?,
                last_24h: r.get(1)?,
                last_7d: r.get(2)?,
                all: r.get(3)?,
                configured: true,
                reindex: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a feed of this name is stored (configured now or before).
    pub fn has_feed(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row("SELECT EXISTS (SELECT 1 FROM feeds WHERE name = ?1)", [name], |r| r.get(0))?)
    }

    /// Whether a topic of this name is recorded or flagged any stored article.
    pub fn has_topic(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM topics WHERE name = ?1)
                 OR EXISTS (SELECT 1 FROM article_topics WHERE topic = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }

    /// Number of articles stored.
    pub fn article_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM articles", [], |r| r.get(0))?)
    }
}

fn scan_row(r: &Row) -> rusqlite::Result<ScanRow> {
    Ok(ScanRow {
        id: r.get(0)?,
        story_id: r.get(1)?,
        feed: r.get(2)?,
        title: r.get(3)?,
        text: r.get(4)?,
        boilerplate: json_list(r.get(5)?),
        language: r.get(6)?,
    })
}

fn article_row(r: &Row) -> rusqlite::Result<ArticleRow> {
    // Topic names cannot hold a comma (see config), so group_concat's list splits cleanly.
    let topics: Option<String> = r.get(13)?;
    let mut topics: Vec<String> = topics.map(|t| t.split(',').map(str::to_string).collect()).unwrap_or_default();
    topics.sort();
    Ok(ArticleRow {
        id: r.get(0)?,
        feed: r.get(1)?,
        guid: r.get(2)?,
        url: web_url(r.get(3)?),
        title: r.get(4)?,
        published: r.get::<_, Option<i64>>(5)?.map(rfc3339),
        fetched: rfc3339(r.get(6)?),
        language: r.get(7)?,
        duplicate_of: r.get(8)?,
        duplicate_reason: r.get(9)?,
        similarity: r.get(10)?,
        story: r.get(11)?,
        sources: r.get(12)?,
        topics,
    })
}

/// A stored link as served: only an http(s) URL (rows stored before links were checked
/// at parse time may hold a `javascript:` one).
fn web_url(link: Option<String>) -> Option<String> {
    link.filter(|l| crate::model::is_web_url(l))
}

fn json_list(value: Option<String>) -> Vec<String> {
    value.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default()
}
