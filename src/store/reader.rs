//! Read-only queries for listings. Each `Reader` has its own connection; in WAL mode
//! it reads a consistent snapshot while the writer commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use std::cell::RefCell;

use super::sql::{Backend, Db, Param, Row, Sql, Value, args, blocking};
use super::{StoreError, schema};
use crate::config::Database;
use std::collections::HashMap;

use crate::model::{
    ArticleDetail, ArticleRow, DueAlert, DuePage, FeedStatus, HostLease, Reindex, StoryCopy, TopicCount, TopicMatch,
    WorkerStatus, rfc3339,
};

pub struct Reader {
    db: RefCell<Db>,
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
    pub fn open(at: impl Into<Database>) -> Result<Reader, StoreError> {
        Ok(Reader { db: RefCell::new(schema::open_reader(&at.into())?), budget: None })
    }

    /// Bounds every read after this by `budget`: a statement past it stops (SQLite's
    /// progress handler; PostgreSQL's `statement_timeout`) and a scan stops between rows,
    /// with [`StoreError::OutOfBudget`].
    pub fn set_budget(&mut self, budget: Budget) -> Result<(), StoreError> {
        match &mut *self.db.borrow_mut() {
            Db::Sqlite(conn) => {
                let watched = budget.clone();
                conn.progress_handler(BUDGET_STEPS, Some(move || watched.spent()))?;
            }
            Db::Postgres(pg) => {
                let left = budget.deadline.saturating_duration_since(Instant::now()).as_millis().max(1);
                let client = pg.client();
                blocking(Backend::Postgres, || client.batch_execute(&format!("SET statement_timeout = {left}")))?;
            }
        }
        self.budget = Some(budget);
        Ok(())
    }

    fn out_of_budget(&self) -> bool {
        self.budget.as_ref().is_some_and(Budget::spent)
    }

    /// A statement's error, or [`StoreError::OutOfBudget`] when the budget stopped it.
    fn failed(&self, e: StoreError) -> StoreError {
        if self.out_of_budget() { StoreError::OutOfBudget } else { e }
    }

    /// Runs `f` over this reader's connection.
    fn with<T: Send>(&self, f: impl FnOnce(&Sql) -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
        let mut db = self.db.borrow_mut();
        let db: &mut Db = &mut db;
        blocking(db.backend(), || f(&db.on())).map_err(|e| self.failed(e))
    }

    /// Calls `visit` for each article passing `filter`, newest first, until it
    /// returns false.
    pub fn scan(&self, filter: &ScanFilter, mut visit: impl FnMut(ScanRow) -> bool + Send) -> Result<(), StoreError> {
        // The sort time comes last, for PostgreSQL's pages.
        let select = "SELECT a.id, a.story_id, f.name, a.title, a.text, a.boilerplate, a.language, a.sort_time
             FROM articles a JOIN feeds f ON f.id = a.feed_id";
        let backend = self.db.borrow().backend();
        let shortlist: String;
        let mut params: Vec<Value> = Vec::new();
        let mut clauses: Vec<&str> = Vec::new();
        match (backend, &filter.fts, filter.since) {
            // The full-text match is a set the articles are checked against while the
            // sort-time index is walked newest first (`+a.id` keeps SQLite from fetching
            // every match by id and sorting them, text and all, before the first row), so a
            // search reads rows only until the caller has enough. The match is bounded by
            // article id: the least id among the articles in the range (read from the
            // sort-time index) is where the range's ids start, so the match skips the older
            // part of the archive. (`+id` keeps SQLite from answering min(id) by walking
            // the table in id order.)
            (Backend::Sqlite, Some(fts), Some(since)) => {
                clauses.push(
                    "+a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?1
                                AND rowid >= (SELECT min(+id) FROM articles WHERE sort_time >= ?2))",
                );
                params.push(fts.value());
                params.push(Value::Int(since));
            }
            (Backend::Sqlite, Some(fts), None) => {
                clauses.push("+a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?)");
                params.push(fts.value());
            }
            // The same shortlist as a `tsquery` over the GIN index of the same word forms
            // (its lists of alternatives made short: see `tsquery`).
            (Backend::Postgres, Some(fts), _) => {
                shortlist = super::tsquery::tsquery(fts);
                clauses.push("a.id IN (SELECT article_id FROM article_words WHERE words @@ to_tsquery('simple', ?))");
                params.push(shortlist.value());
            }
            (_, None, _) => {}
        }
        if let Some(feed) = &filter.feed {
            clauses.push("f.name = ?");
            params.push(feed.value());
        }
        if let Some(topic) = &filter.topic {
            clauses.push("EXISTS (SELECT 1 FROM article_topics t WHERE t.article_id = a.id AND t.topic = ?)");
            params.push(topic.value());
        }
        if let Some(since) = filter.since {
            clauses.push("a.sort_time >= ?");
            params.push(Value::Int(since));
        }
        if let Some(until) = filter.until {
            clauses.push("a.sort_time < ?");
            params.push(Value::Int(until));
        }
        let sql = |clauses: &[&str], limit: &str| {
            let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
            format!("{select}{filter} ORDER BY a.sort_time DESC, a.id DESC{limit}")
        };
        let mut spent = false;
        let budget = self.budget.clone();
        let mut visit = |r: &Row| -> Result<bool, StoreError> {
            if !visit(scan_row(r)?) {
                return Ok(false);
            }
            spent = budget.as_ref().is_some_and(Budget::spent);
            Ok(!spent)
        };
        if backend == Backend::Sqlite {
            // SQLite steps through the rows as they are read: the caller's stop is the end.
            self.with(|db| db.each(&sql(&clauses, ""), &params, &mut visit))?;
        } else {
            // PostgreSQL sends a statement's every row, and plans for all of them: the
            // walk goes in pages after the last row seen, each larger than the one before.
            let mut page = PG_FIRST_PAGE;
            let mut after: Option<(i64, i64)> = None;
            loop {
                let mut clauses = clauses.clone();
                let mut params = params.clone();
                if let Some((sort_time, id)) = after {
                    clauses.push("(a.sort_time, a.id) < (?, ?)");
                    params.extend([Value::Int(sort_time), Value::Int(id)]);
                }
                let (mut rows, mut more) = (0, true);
                self.with(|db| {
                    db.each(&sql(&clauses, &format!(" LIMIT {page}")), &params, |r| {
                        rows += 1;
                        after = Some((r.get(7)?, r.get(0)?));
                        more = visit(r)?;
                        Ok(more)
                    })
                })?;
                if !more || rows < page {
                    break;
                }
                page = (page * 4).min(PG_LAST_PAGE);
            }
        }
        if spent { Err(StoreError::OutOfBudget) } else { Ok(()) }
    }

    /// Articles with ids after `after` up to `upto`, in id order, at most `limit`.
    pub fn scan_range(&self, after: i64, upto: i64, limit: usize) -> Result<Vec<ScanRow>, StoreError> {
        self.with(|db| {
            db.all(
                "SELECT a.id, a.story_id, f.name, a.title, a.text, a.boilerplate, a.language
                 FROM articles a JOIN feeds f ON f.id = a.feed_id
                 WHERE a.id > ?1 AND a.id <= ?2 ORDER BY a.id LIMIT ?3",
                args![after, upto, limit],
                scan_row,
            )
        })
    }

    /// The HTML an article came with (content, else summary) and its link, for serving
    /// after sanitising.
    pub fn article_html(&self, id: i64) -> Result<Option<ArticleHtml>, StoreError> {
        self.with(|db| {
            db.opt("SELECT url, coalesce(content_html, summary_html) FROM articles WHERE id = ?1", args![id], |r| {
                Ok(ArticleHtml { url: web_url(r.get(0)?), html: r.get(1)? })
            })
        })
    }

    /// Alerts due for delivery at `now`, oldest first.
    pub fn due_alerts(&self, now: i64, limit: usize) -> Result<Vec<DueAlert>, StoreError> {
        self.with(|db| {
            db.all(
                "SELECT id, topic, channel, article_id, attempts FROM alerts
                 WHERE delivered_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
                args![now, limit],
                due_alert,
            )
        })
    }

    /// Pages due for fetching by `now`, oldest first, with their feeds.
    pub fn due_pages(&self, now: i64, limit: usize) -> Result<Vec<DuePage>, StoreError> {
        self.with(|db| {
            db.all(
                "SELECT p.article_id, p.url, f.config_url, f.name, a.title, a.language, p.attempts
                 FROM pages p JOIN articles a ON a.id = p.article_id JOIN feeds f ON f.id = a.feed_id
                 WHERE p.next_attempt_at <= ?1 ORDER BY p.next_attempt_at, p.article_id LIMIT ?2",
                args![now, limit],
                |r| {
                    Ok(DuePage {
                        article_id: r.get(0)?,
                        url: r.get(1)?,
                        feed_url: r.get(2)?,
                        feed: r.get(3)?,
                        title: r.get(4)?,
                        language: r.get(5)?,
                        attempts: r.get(6)?,
                    })
                },
            )
        })
    }

    /// Pages queued, and the soonest one's due time.
    pub fn queued_pages(&self) -> Result<(i64, Option<i64>), StoreError> {
        self.with(|db| db.one("SELECT count(*), min(next_attempt_at) FROM pages", &[], |r| Ok((r.get(0)?, r.get(1)?))))
    }

    /// Alerts not delivered yet.
    pub fn pending_alerts(&self) -> Result<i64, StoreError> {
        self.with(|db| db.value("SELECT count(*) FROM alerts WHERE delivered_at IS NULL", &[]))
    }

    /// Topics being re-evaluated over the archive, with their progress.
    pub fn topic_progress(&self) -> Result<HashMap<String, Reindex>, StoreError> {
        let rows = self.with(|db| {
            db.all("SELECT name, reindex_done, reindex_upto FROM topics WHERE reindex_upto IS NOT NULL", &[], |r| {
                Ok((r.get(0)?, Reindex { done: r.get(1)?, upto: r.get(2)? }))
            })
        })?;
        Ok(rows.into_iter().collect())
    }

    /// The listing rows for `ids`, in that order. With `story_topics`, a row's topics
    /// are those of every copy of its story.
    pub fn rows(&self, ids: &[i64], story_topics: bool) -> Result<Vec<ArticleRow>, StoreError> {
        // A comma-separated list of topic names (SQLite's `group_concat` takes no
        // separator beside DISTINCT, and its default is the comma).
        let list = |distinct: &str| match self.db.borrow().backend() {
            Backend::Sqlite => format!("group_concat({distinct}t.topic)"),
            Backend::Postgres => format!("string_agg({distinct}t.topic, ',')"),
        };
        let topics_sql = if story_topics {
            format!(
                "(SELECT {} FROM article_topics t
                  JOIN articles c ON c.id = t.article_id WHERE c.story_id = a.story_id)",
                list("DISTINCT ")
            )
        } else {
            format!("(SELECT {} FROM article_topics t WHERE t.article_id = a.id)", list(""))
        };
        let sql = format!(
            "SELECT a.id, f.name, a.guid, a.url, a.title, a.published, a.first_seen, a.language,
                    a.duplicate_of, a.duplicate_reason, a.similarity, a.story_id,
                    (SELECT count(*) FROM articles s WHERE s.story_id = a.story_id),
                    {topics_sql}
             FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE a.id = ?1"
        );
        self.with(|db| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(db.opt(&sql, args![id], article_row)?);
            }
            Ok(out)
        })
    }

    /// Articles dated (published, else first seen) since `since` (Unix seconds), per
    /// feed name: a range of `articles_feed_sort` per feed, so it costs the articles
    /// counted, not the archive.
    pub fn articles_since(&self, since: i64) -> Result<HashMap<String, i64>, StoreError> {
        let rows = self.with(|db| {
            db.all(
                "SELECT f.name, (SELECT count(*) FROM articles a WHERE a.feed_id = f.id AND a.sort_time >= ?1)
                 FROM feeds f",
                args![since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?;
        Ok(rows.into_iter().collect())
    }

    /// The topics article `id` matched, with their evidence, by topic name.
    pub fn topic_matches(&self, id: i64) -> Result<Vec<TopicMatch>, StoreError> {
        self.with(|db| {
            db.all(
                "SELECT topic, score, evidence FROM article_topics WHERE article_id = ?1 ORDER BY topic",
                args![id],
                |r| {
                    let evidence: String = r.get(2)?;
                    Ok(TopicMatch {
                        topic: r.get(0)?,
                        score: r.get(1)?,
                        evidence: serde_json::from_str(&evidence).unwrap_or_default(),
                    })
                },
            )
        })
    }

    /// Every copy of a story, first stored first.
    pub fn copies(&self, story: i64) -> Result<Vec<StoryCopy>, StoreError> {
        self.with(|db| {
            db.all(
                "SELECT a.id, f.name, a.title, a.url, a.first_seen, a.duplicate_reason, a.similarity
                 FROM articles a JOIN feeds f ON f.id = a.feed_id
                 WHERE a.story_id = ?1 ORDER BY a.id",
                args![story],
                |r| {
                    Ok(StoryCopy {
                        id: r.get(0)?,
                        feed: r.get(1)?,
                        title: r.get(2)?,
                        url: web_url(r.get(3)?),
                        first_seen: rfc3339(r.get(4)?),
                        duplicate_reason: r.get(5)?,
                        similarity: r.get(6)?,
                    })
                },
            )
        })
    }

    /// Everything about one article, with the copies of its story.
    pub fn detail(&self, id: i64) -> Result<Option<ArticleDetail>, StoreError> {
        let Some(row) = self.rows(&[id], false)?.pop() else {
            return Ok(None);
        };
        let (canonical_url, authors, first_seen, published_raw, text, boilerplate, summary, page_status) =
            self.with(|db| {
                db.one(
                    "SELECT canonical_url, authors, first_seen, published_raw, text, boilerplate, summary, page_status
                     FROM articles WHERE id = ?1",
                    args![id],
                    |r| {
                        Ok((
                            r.get::<Option<String>>(0)?,
                            json_list(r.get(1)?),
                            rfc3339(r.get(2)?),
                            r.get::<Option<String>>(3)?,
                            r.get::<String>(4)?,
                            json_list(r.get(5)?),
                            r.get::<Option<String>>(6)?,
                            r.get::<Option<String>>(7)?,
                        ))
                    },
                )
            })?;
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
        self.with(|db| {
            db.all(
                "SELECT f.name, f.url, f.title, f.last_status, f.last_http_status, f.last_fetch_at,
                        f.last_success_at, f.next_attempt_at, f.consecutive_failures, f.last_error_kind,
                        f.last_error, (SELECT count(*) FROM articles a WHERE a.feed_id = f.id), f.last_warning
                 FROM feeds f ORDER BY f.name",
                &[],
                |r| {
                    let time =
                        |i: usize| -> Result<Option<String>, StoreError> { Ok(r.get::<Option<i64>>(i)?.map(rfc3339)) };
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
                },
            )
        })
    }

    /// Stories flagged per topic (a story counts once however many copies it has):
    /// first seen in the last 24 hours, 7 days, ever.
    pub fn topic_counts(&self, now: i64) -> Result<Vec<TopicCount>, StoreError> {
        self.with(|db| {
            db.all(
                "SELECT t.topic,
                        count(DISTINCT CASE WHEN a.first_seen >= ?1 THEN a.story_id END),
                        count(DISTINCT CASE WHEN a.first_seen >= ?2 THEN a.story_id END),
                        count(DISTINCT a.story_id)
                 FROM article_topics t JOIN articles a ON a.id = t.article_id
                 GROUP BY t.topic ORDER BY t.topic",
                args![now - 86_400, now - 7 * 86_400],
                |r| {
                    Ok(TopicCount {
                        name: r.get(0)?,
                        last_24h: r.get(1)?,
                        last_7d: r.get(2)?,
                        all: r.get(3)?,
                        configured: true,
                        reindex: None,
                    })
                },
            )
        })
    }

    /// Whether a feed of this name is stored (configured now or before).
    pub fn has_feed(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|db| db.value("SELECT EXISTS (SELECT 1 FROM feeds WHERE name = ?1)", args![name]))
    }

    /// Whether a topic of this name is recorded or flagged any stored article.
    pub fn has_topic(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|db| {
            db.value(
                "SELECT EXISTS (SELECT 1 FROM topics WHERE name = ?1)
                     OR EXISTS (SELECT 1 FROM article_topics WHERE topic = ?1)",
                args![name],
            )
        })
    }

    /// The bytes the database takes on PostgreSQL's disk (for `/metrics`; SQLite's are
    /// its files').
    pub fn database_bytes(&self) -> Result<u64, StoreError> {
        self.with(|db| db.value("SELECT pg_database_size(current_database())", &[]))
    }

    /// The workers of a fleet heard from, newest heartbeat first, with the hosts each
    /// holds at `now`; none on SQLite (one process writes it).
    pub fn workers(&self, now: i64) -> Result<Vec<WorkerStatus>, StoreError> {
        if self.db.borrow().backend() == Backend::Sqlite {
            return Ok(Vec::new());
        }
        self.with(|db| {
            db.all(
                "SELECT w.id, w.started_at, w.heartbeat_at,
                        (SELECT count(*) FROM leases l WHERE l.owner = w.id AND l.expires_at > ?1)
                 FROM workers w ORDER BY w.heartbeat_at DESC, w.id",
                args![now * 1000],
                |r| {
                    let heartbeat = r.get::<i64>(2)? / 1000;
                    Ok(WorkerStatus {
                        worker: r.get(0)?,
                        started: rfc3339(r.get::<i64>(1)? / 1000),
                        heartbeat: rfc3339(heartbeat),
                        heartbeat_age: now - heartbeat,
                        hosts: r.get(3)?,
                    })
                },
            )
        })
    }

    /// Every host's lease at `now`, by host; none on SQLite.
    pub fn leases(&self, now: i64) -> Result<Vec<HostLease>, StoreError> {
        if self.db.borrow().backend() == Backend::Sqlite {
            return Ok(Vec::new());
        }
        self.with(|db| {
            db.all("SELECT host, owner, expires_at, fence FROM leases ORDER BY host", &[], |r| {
                let expires = r.get::<i64>(2)? / 1000;
                let live = expires > now;
                Ok(HostLease {
                    host: r.get(0)?,
                    worker: r.get::<Option<String>>(1)?.filter(|_| live),
                    expires: live.then(|| rfc3339(expires)),
                    fence: r.get(3)?,
                })
            })
        })
    }

    /// Number of articles stored.
    pub fn article_count(&self) -> Result<i64, StoreError> {
        self.with(|db| db.value("SELECT count(*) FROM articles", &[]))
    }
}

/// An alert from the columns `id, topic, channel, article_id, attempts`.
pub(in crate::store) fn due_alert(r: &Row) -> Result<DueAlert, StoreError> {
    Ok(DueAlert { id: r.get(0)?, topic: r.get(1)?, channel: r.get(2)?, article_id: r.get(3)?, attempts: r.get(4)? })
}

/// The rows of a PostgreSQL scan's first page, and the most of any later one.
const PG_FIRST_PAGE: usize = 64;
const PG_LAST_PAGE: usize = 4096;

fn scan_row(r: &Row) -> Result<ScanRow, StoreError> {
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

fn article_row(r: &Row) -> Result<ArticleRow, StoreError> {
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
        published: r.get::<Option<i64>>(5)?.map(rfc3339),
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
