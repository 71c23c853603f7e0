//! The write transactions: feed rows, and a poll with its articles.
//!
//! Runs on the writer thread only. Each public function is one `BEGIN IMMEDIATE`
//! transaction: a poll's feed state, fetch record and articles land together or not
//! at all.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior, params};

use std::panic::AssertUnwindSafe;

use super::StoreError;
use super::writer::State;
use crate::model::{
    Article, FeedState, IngestSummary, MoveState, PollOutcome, PollRecord, Reindex, Sketch, TopicMatch, Validators,
    rfc3339,
};
use crate::pipeline::clean::{self, SiteLines};
use crate::pipeline::dedup::index::{Index, Params};
use crate::pipeline::dedup::{self, Candidate, StoredIdentity, Verdict, sketch};

/// A published date more than this far past first sight is clamped to first sight.
const FUTURE_SLACK: i64 = 24 * 3600;

fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

pub(super) fn sync_feeds(
    conn: &mut Connection,
    feeds: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Vec<FeedState>, StoreError> {
    let tx = immediate(conn)?;
    let mut states = Vec::with_capacity(feeds.len());
    for (name, url) in feeds {
        tx.execute(
            "INSERT INTO feeds (name, config_url, url, created_at) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
            params![name, url, now.timestamp()],
        )?;
        // The configured URL changed: fetch the new one, with no old validators.
        let changed = tx.execute(
            "UPDATE feeds SET config_url = ?2, url = ?2, etag = NULL, last_modified = NULL,
                    moved_to = NULL, moved_since = NULL, moved_count = 0
             WHERE name = ?1 AND config_url <> ?2",
            params![name, url],
        )?;
        if changed > 0 {
            tracing::info!(feed = %name, url = %url, "feed URL changed in the configuration");
        }
        states.push(tx.query_row(
            "SELECT id, name, url, etag, last_modified, consecutive_failures, next_attempt_at,
                    moved_to, moved_since, moved_count
             FROM feeds WHERE name = ?1",
            [name],
            |r| {
                Ok(FeedState {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    url: r.get(2)?,
                    validators: Validators { etag: r.get(3)?, last_modified: r.get(4)? },
                    failures: r.get(5)?,
                    next_attempt_at: r.get::<_, Option<i64>>(6)?.and_then(|t| DateTime::from_timestamp(t, 0)),
                    moved: MoveState {
                        to: r.get(7)?,
                        since: r.get::<_, Option<i64>>(8)?.and_then(|t| DateTime::from_timestamp(t, 0)),
                        count: r.get(9)?,
                    },
                })
            },
        )?);
    }
    tx.commit()?;
    Ok(states)
}

pub(super) fn sync_topics(
    conn: &mut Connection,
    topics: &[(String, String)],
    now: i64,
) -> Result<Vec<(String, Reindex)>, StoreError> {
    let tx = immediate(conn)?;
    let newest: Option<i64> = tx.query_row("SELECT max(id) FROM articles", [], |r| r.get(0))?;
    let names: Vec<&str> = topics.iter().map(|(n, _)| n.as_str()).collect();
    // A topic no longer configured is forgotten (its matches stay); if it comes back,
    // it is re-evaluated from scratch.
    let stored: Vec<String> =
        tx.prepare("SELECT name FROM topics")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for name in stored.iter().filter(|n| !names.contains(&n.as_str())) {
        tx.execute("DELETE FROM topics WHERE name = ?1", [name])?;
    }
    for (name, query) in topics {
        let current: Option<String> =
            tx.query_row("SELECT query FROM topics WHERE name = ?1", [name], |r| r.get(0)).optional()?;
        if current.as_deref() == Some(query.as_str()) {
            continue;
        }
        // New or changed: every article stored so far is evaluated again.
        let (done, upto) = match newest {
            Some(max) => (Some(0), Some(max)),
            None => (None, None),
        };
        tx.execute(
            "INSERT INTO topics (name, query, reindex_done, reindex_upto, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET query = ?2, reindex_done = ?3, reindex_upto = ?4, updated_at = ?5",
            params![name, query, done, upto, now],
        )?;
        if current.is_some() {
            tracing::info!(topic = %name, "topic query changed; re-evaluating the stored articles");
        }
    }
    let pending = tx
        .prepare("SELECT name, reindex_done, reindex_upto FROM topics WHERE reindex_upto IS NOT NULL ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, Reindex { done: r.get(1)?, upto: r.get(2)? })))?
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(pending)
}

pub(super) fn replace_topic_matches(
    conn: &mut Connection,
    topic: &str,
    from: i64,
    to: i64,
    matches: &[(i64, TopicMatch)],
    finished: bool,
) -> Result<(), StoreError> {
    let tx = immediate(conn)?;
    let now = Utc::now().timestamp();
    tx.execute(
        "DELETE FROM article_topics WHERE topic = ?1 AND article_id BETWEEN ?2 AND ?3",
        params![topic, from, to],
    )?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO article_topics (topic, article_id, score, evidence, matched_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (id, m) in matches {
            let evidence = serde_json::to_string(&m.evidence).unwrap_or_else(|_| "[]".into());
            insert.execute(params![topic, id, m.score, evidence, now])?;
        }
    }
    if finished {
        tx.execute(
            "UPDATE topics SET reindex_done = NULL, reindex_upto = NULL, updated_at = ?2 WHERE name = ?1",
            params![topic, now],
        )?;
    } else {
        tx.execute("UPDATE topics SET reindex_done = ?2, updated_at = ?3 WHERE name = ?1", params![topic, to, now])?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn alert_attempt(
    conn: &mut Connection,
    id: i64,
    error: Option<&str>,
    next_attempt_at: i64,
) -> Result<(), StoreError> {
    let now = Utc::now().timestamp();
    let tx = immediate(conn)?;
    match error {
        None => tx.execute(
            "UPDATE alerts SET attempts = attempts + 1, delivered_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, now],
        )?,
        Some(e) => tx.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, e, next_attempt_at],
        )?,
    };
    tx.commit()?;
    Ok(())
}

/// Deletes up to `limit` of the oldest fetch-log rows started before `before`, in one
/// transaction; returns how many went (fewer than `limit`: none older are left).
pub(super) fn prune_fetches(conn: &mut Connection, before: i64, limit: usize) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    // Rows are appended about in time order, so the lowest ids are the oldest: the first
    // row inside the retention bounds the range, and finding it reads only the rows about
    // to go (a slow poll's row that landed after a newer one waits for the next prune).
    let deleted = tx.execute(
        "DELETE FROM fetches WHERE id IN (
             SELECT id FROM fetches
             WHERE id < coalesce((SELECT id FROM fetches WHERE started_at >= ?1 ORDER BY id LIMIT 1), 1 << 62)
               AND started_at < ?1
             ORDER BY id LIMIT ?2)",
        params![before, limit as i64],
    )?;
    tx.commit()?;
    Ok(deleted)
}

/// The parts of a poll record every outcome stores.
struct Head {
    feed_id: i64,
    started_at: i64,
    http_status: Option<u16>,
    next_attempt_at: i64,
}

/// Records a poll. The recent-articles window gains the new articles only if the
/// transaction commits (a failure or a panic rolls it back too).
pub(super) fn record_poll(state: &mut State, rec: PollRecord) -> Result<IngestSummary, StoreError> {
    let now = Utc::now().timestamp();
    state.recent.evict(now);
    let mark = state.recent.mark();
    let mut learned = Vec::new();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        record_poll_tx(&mut state.conn, &mut state.recent, &mut learned, rec, now)
    }));
    match result {
        Ok(Ok(summary)) => {
            // Committed: what this poll taught about its sites' boilerplate holds now.
            for (site, line) in learned {
                state.site_lines.learn(&site, line);
            }
            Ok(summary)
        }
        Ok(Err(e)) => {
            state.recent.rollback(mark);
            Err(e)
        }
        Err(panic) => {
            state.recent.rollback(mark);
            Err(StoreError::Panicked(crate::panic_message(&*panic)))
        }
    }
}

fn record_poll_tx(
    conn: &mut Connection,
    recent: &mut Index,
    learned: &mut Vec<(String, u64)>,
    rec: PollRecord,
    now: i64,
) -> Result<IngestSummary, StoreError> {
    let tx = immediate(conn)?;
    let mut summary = IngestSummary::default();
    let mut bytes = None;
    let head = Head {
        feed_id: rec.feed_id,
        started_at: rec.started_at.timestamp(),
        http_status: rec.http_status,
        next_attempt_at: rec.next_attempt_at.timestamp(),
    };
    let alert_topics = rec.alert_topics.clone();
    let (status, error) = match rec.outcome {
        PollOutcome::Failed(e) => {
            tx.prepare_cached(
                "UPDATE feeds SET last_fetch_at = ?2, last_status = 'error', last_http_status = ?3,
                        last_error_kind = ?4, last_error = ?5, consecutive_failures = ?6,
                        next_attempt_at = ?7
                 WHERE id = ?1",
            )?
            .execute(params![
                head.feed_id,
                head.started_at,
                head.http_status,
                e.kind.as_str(),
                e.message,
                rec.failures,
                head.next_attempt_at
            ])?;
            ("error", Some(e))
        }
        PollOutcome::NotModified { validators, moved, new_url } => {
            record_success(&tx, &head, "not_modified", &validators, &moved, new_url.as_deref(), None, None)?;
            ("not_modified", None)
        }
        PollOutcome::Fetched {
            validators,
            moved,
            new_url,
            bytes: n,
            title,
            site_url,
            articles,
            truncated,
            warning,
        } => {
            record_success(
                &tx,
                &head,
                "ok",
                &validators,
                &moved,
                new_url.as_deref(),
                title.as_deref(),
                site_url.as_deref(),
            )?;
            bytes = Some(n);
            tx.prepare_cached("UPDATE feeds SET last_warning = ?2 WHERE id = ?1")?
                .execute(params![head.feed_id, warning])?;
            summary = ingest_articles(&tx, recent, learned, &alert_topics, head.feed_id, articles, now)?;
            summary.truncated = truncated;
            ("ok", None)
        }
    };
    tx.prepare_cached(
        "INSERT INTO fetches (feed_id, started_at, duration_ms, status, http_status, bytes, entries,
                              new, updated, duplicates, truncated, error_kind, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        head.feed_id,
        head.started_at,
        rec.duration.as_millis() as i64,
        status,
        head.http_status,
        bytes.map(|b| b as i64),
        summary.entries as i64,
        summary.new as i64,
        summary.updated as i64,
        summary.duplicates as i64,
        summary.truncated as i64,
        error.as_ref().map(|e| e.kind.as_str()),
        error.as_ref().map(|e| e.message.as_str()),
    ])?;
    tx.commit()?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn record_success(
    tx: &Transaction,
    head: &Head,
    status: &str,
    validators: &Validators,
    moved: &MoveState,
    new_url: Option<&str>,
    title: Option<&str>,
    site_url: Option<&str>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE feeds SET last_fetch_at = ?2, last_success_at = ?2, last_status = ?3,
                last_http_status = ?4, last_error_kind = NULL, last_error = NULL,
                consecutive_failures = 0, next_attempt_at = ?5, etag = ?6, last_modified = ?7,
                moved_to = ?8, moved_since = ?9, moved_count = ?10,
                url = COALESCE(?11, url), title = COALESCE(?12, title),
                site_url = COALESCE(?13, site_url)
         WHERE id = ?1",
    )?
    .execute(params![
        head.feed_id,
        head.started_at,
        status,
        head.http_status,
        head.next_attempt_at,
        validators.etag,
        validators.last_modified,
        moved.to,
        moved.since.map(|t| t.timestamp()),
        moved.count,
        new_url,
        title,
        site_url,
    ])?;
    Ok(())
}

/// The stored fields an update compares against.
struct Existing {
    id: i64,
    title: String,
    text: String,
    url: Option<String>,
    published: Option<i64>,
}

fn ingest_articles(
    tx: &Transaction,
    recent: &mut Index,
    learned: &mut Vec<(String, u64)>,
    alert_topics: &[(String, String)],
    feed_id: i64,
    articles: Vec<Article>,
    now: i64,
) -> Result<IngestSummary, StoreError> {
    let mut summary = IngestSummary { entries: articles.len(), ..IngestSummary::default() };
    let mut trusted: bool = tx.query_row("SELECT guids_trusted FROM feeds WHERE id = ?1", [feed_id], |r| r.get(0))?;
    if trusted && !dedup::guids_usable(&articles) {
        distrust_guids(tx, feed_id, "its GUIDs repeat or are positions")?;
        trusted = false;
    }
    if trusted && let Some(reused) = find_reused_guid(tx, feed_id, &articles)? {
        distrust_guids(tx, feed_id, &format!("it reused the GUID {reused:?} for another article"))?;
        trusted = false;
    }
    let keys = dedup::entry_keys(&articles, trusted);
    let mut fts = PendingFts::default();
    for (mut article, key) in articles.into_iter().zip(keys) {
        let existing = tx
            .prepare_cached(
                "SELECT id, title, text, url, published FROM articles WHERE feed_id = ?1 AND entry_key = ?2",
            )?
            .query_row(params![feed_id, key], |r| {
                Ok(Existing { id: r.get(0)?, title: r.get(1)?, text: r.get(2)?, url: r.get(3)?, published: r.get(4)? })
            })
            .optional()?;
        let (published, published_raw) = clamp_published(article.entry.published, now);
        match existing {
            Some(row) => {
                let changed = row.title != article.entry.title
                    || row.text != article.text
                    || row.url != article.entry.link
                    || row.published != published;
                if changed {
                    update_article(tx, row.id, &article, published, published_raw, now)?;
                    fts.push(row.id, &mut article, true);
                    summary.updated += 1;
                } else {
                    tx.prepare_cached("UPDATE articles SET last_seen = ?2 WHERE id = ?1")?
                        .execute(params![row.id, now])?;
                    summary.unchanged += 1;
                }
            }
            None => {
                let verdict = find_verdict(tx, recent, &article, now)?;
                let id = insert_article(tx, feed_id, &key, &article, published, published_raw, verdict, now)?;
                let story = match verdict {
                    Verdict::Duplicate { of, .. } => of,
                    Verdict::Original => id,
                };
                if let Some(sketch) = &article.sketch {
                    save_sketch(tx, id, sketch)?;
                    recent.insert(id, story, now, article.language.clone(), sketch.clone());
                }
                queue_alerts(tx, alert_topics, &article, id, story, now)?;
                let threshold = recent.params().learn_boilerplate;
                if threshold > 0
                    && let Some(site) = clean::site_of(article.entry.link.as_deref())
                {
                    count_site_lines(tx, &site, &article.short_lines, threshold, now, learned)?;
                }
                summary.new += 1;
                if matches!(verdict, Verdict::Duplicate { .. }) {
                    summary.duplicates += 1;
                }
                fts.push(id, &mut article, false);
            }
        }
    }
    fts.write(tx)?;
    Ok(summary)
}

/// Search-index rows, written after the poll's other writes. FTS5 flushes its in-memory index
/// whenever a statement in the transaction opens a savepoint, so rows interleaved with other
/// writes make one small segment per article (and merge work for each); written together they
/// make one segment per poll.
#[derive(Default)]
struct PendingFts(Vec<(i64, bool, String, String)>);

impl PendingFts {
    /// Takes the article's index text, its last use.
    fn push(&mut self, id: i64, a: &mut Article, replace: bool) {
        self.0.push((id, replace, std::mem::take(&mut a.index_title), std::mem::take(&mut a.index_body)));
    }

    fn write(self, tx: &Transaction) -> Result<(), StoreError> {
        for (id, replace, title, body) in self.0 {
            if replace {
                tx.prepare_cached("DELETE FROM articles_fts WHERE rowid = ?1")?.execute([id])?;
            }
            tx.prepare_cached("INSERT INTO articles_fts (rowid, title, body) VALUES (?1, ?2, ?3)")?
                .execute(params![id, title, body])?;
        }
        Ok(())
    }
}

/// A GUID this document uses that is stored for a different article.
fn find_reused_guid(tx: &Transaction, feed_id: i64, articles: &[Article]) -> Result<Option<String>, StoreError> {
    let mut stmt =
        tx.prepare_cached("SELECT canonical_url, title FROM articles WHERE feed_id = ?1 AND entry_key = ?2")?;
    for a in articles {
        let Some(guid) = a.entry.guid.as_deref() else {
            continue;
        };
        let stored = stmt
            .query_row(params![feed_id, dedup::guid_key(guid)], |r| {
                Ok(StoredIdentity { canonical_url: r.get(0)?, title: r.get(1)? })
            })
            .optional()?;
        if stored.is_some_and(|s| dedup::guid_reused(&s, a)) {
            return Ok(Some(guid.to_string()));
        }
    }
    Ok(None)
}

/// Stops using GUIDs as keys for this feed and re-keys its stored rows by link (or
/// title and date), so the next fetch finds them again.
fn distrust_guids(tx: &Transaction, feed_id: i64, why: &str) -> Result<(), StoreError> {
    tx.execute("UPDATE feeds SET guids_trusted = 0 WHERE id = ?1", [feed_id])?;
    let rows: Vec<(i64, Option<String>, String, Option<i64>)> = tx
        .prepare(
            "SELECT id, canonical_url, title, published FROM articles WHERE feed_id = ?1 AND entry_key LIKE 'g:%'",
        )?
        .query_map([feed_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut rekey = tx.prepare("UPDATE OR IGNORE articles SET entry_key = ?2 WHERE id = ?1")?;
    for (id, canonical, title, published) in &rows {
        let published = published.and_then(|p| DateTime::from_timestamp(p, 0));
        rekey.execute(params![id, dedup::fallback_key(canonical.as_deref(), title, published)])?;
    }
    if rows.is_empty() {
        tracing::info!(feed_id, "keying this feed's entries by link, not GUID: {why}");
    } else {
        tracing::warn!(feed_id, rekeyed = rows.len(), "no longer keying this feed's entries by GUID: {why}");
    }
    Ok(())
}

/// The duplicate decision for a new row: an earlier article with the same canonical
/// URL or the same text (indexed lookups), else a near copy, teaser or translation
/// among the recent articles (the in-memory window). Nothing here scans.
fn find_verdict(tx: &Transaction, recent: &Index, article: &Article, now: i64) -> Result<Verdict, StoreError> {
    let candidate =
        |r: &rusqlite::Row| -> rusqlite::Result<Candidate> { Ok(Candidate { id: r.get(0)?, story_id: r.get(1)? }) };
    let same_url = match article.canonical_url.as_deref().filter(|u| dedup::url_identifies_article(u)) {
        Some(u) => tx
            .prepare_cached("SELECT id, story_id FROM articles WHERE canonical_url = ?1 ORDER BY id LIMIT 1")?
            .query_row([u], candidate)
            .optional()?,
        None => None,
    };
    let same_content = match article.content_hash {
        Some(h) if same_url.is_none() => tx
            .prepare_cached("SELECT id, story_id FROM articles WHERE content_hash = ?1 ORDER BY id LIMIT 1")?
            .query_row([h], candidate)
            .optional()?,
        _ => None,
    };
    let exact = dedup::verdict(same_url, same_content);
    if exact != Verdict::Original {
        return Ok(exact);
    }
    let Some(sketch) = &article.sketch else {
        return Ok(Verdict::Original);
    };
    let mut load_error = None;
    let found =
        recent.find(sketch, &article.index_body, article.language.as_deref(), now, |id| {
            match stored_shingles(tx, id) {
                Ok(s) => s,
                Err(e) => {
                    load_error = Some(e);
                    None
                }
            }
        });
    if let Some(e) = load_error {
        return Err(e);
    }
    Ok(match found {
        Some(m) => {
            Verdict::Duplicate { of: m.story, reason: m.reason, similarity: (m.similarity * 1000.0).round() / 1000.0 }
        }
        None => Verdict::Original,
    })
}

/// The 3-gram hashes of a stored article's text without its boilerplate.
fn stored_shingles(tx: &Transaction, id: i64) -> Result<Option<Vec<u64>>, StoreError> {
    let row: Option<(String, Option<String>)> = tx
        .prepare_cached("SELECT text, boilerplate FROM articles WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map(|(text, boilerplate)| {
        let removed: Vec<String> = boilerplate.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or_default();
        sketch::shingle_hashes(&clean::kept_text(&text, &removed))
    }))
}

fn save_sketch(tx: &Transaction, id: i64, s: &Sketch) -> Result<(), StoreError> {
    let bins: Vec<u8> = s.bins.iter().flat_map(|b| b.to_le_bytes()).collect();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO article_sketches (article_id, bins, shingles, signals, numbers)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, bins, s.shingles, u32_bytes(&s.signals), u32_bytes(&s.numbers)])?;
    Ok(())
}

fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Queues an alert per channel for each topic with alerts that flags this new article,
/// unless the story was already queued for that topic.
fn queue_alerts(
    tx: &Transaction,
    alert_topics: &[(String, String)],
    article: &Article,
    id: i64,
    story: i64,
    now: i64,
) -> Result<(), StoreError> {
    for m in &article.topics {
        for (topic, channel) in alert_topics.iter().filter(|(t, _)| *t == m.topic) {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO alerts (topic, channel, story_id, article_id, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![topic, channel, story, id, now])?;
        }
    }
    Ok(())
}

/// Counts each short line of a new article (`lines`: their identities, each once) for its
/// site; a line reaching `threshold` articles is learned as that site's boilerplate
/// (applied once the poll commits).
fn count_site_lines(
    tx: &Transaction,
    site: &str,
    lines: &[u64],
    threshold: u32,
    now: i64,
    learned: &mut Vec<(String, u64)>,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO site_lines (host, line_hash, articles, last_seen) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (host, line_hash) DO UPDATE SET articles = articles + 1, last_seen = ?3
         RETURNING articles",
    )?;
    for &hash in lines {
        let articles: i64 = upsert.query_row(params![site, hash as i64, now], |r| r.get(0))?;
        if articles == i64::from(threshold) {
            learned.push((site.to_string(), hash));
        }
    }
    Ok(())
}

/// Lines not seen for this long, and not learned, are forgotten.
const FORGET_LINES_AFTER: i64 = 30 * 86_400;

/// Loads the learned boilerplate lines (forgetting stale counts first).
pub(super) fn load_site_lines(conn: &Connection, threshold: u32, now: i64) -> Result<SiteLines, StoreError> {
    let lines = SiteLines::default();
    if threshold == 0 {
        return Ok(lines);
    }
    conn.execute(
        "DELETE FROM site_lines WHERE articles < ?1 AND last_seen < ?2",
        params![threshold, now - FORGET_LINES_AFTER],
    )?;
    let mut stmt = conn.prepare("SELECT host, line_hash FROM site_lines WHERE articles >= ?1")?;
    let mut rows = stmt.query([threshold])?;
    while let Some(r) = rows.next()? {
        let host: String = r.get(0)?;
        lines.learn(&host, r.get::<_, i64>(1)? as u64);
    }
    Ok(lines)
}

/// Rebuilds the window of recent articles from their stored sketches.
pub(super) fn load_recent(conn: &Connection, params: Params, now: i64) -> Result<Index, StoreError> {
    let since = now - params.window;
    let mut index = Index::new(params);
    let mut stmt = conn.prepare(
        "SELECT a.id, a.story_id, a.first_seen, a.language, s.bins, s.shingles, s.signals, s.numbers
         FROM article_sketches s JOIN articles a ON a.id = s.article_id
         WHERE a.first_seen >= ?1 ORDER BY a.first_seen, a.id",
    )?;
    let mut rows = stmt.query([since])?;
    while let Some(r) = rows.next()? {
        let bins: Vec<u8> = r.get(4)?;
        let sketch = Sketch {
            bins: bins.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect(),
            shingles: r.get(5)?,
            signals: u32s(&r.get::<_, Vec<u8>>(6)?),
            numbers: u32s(&r.get::<_, Vec<u8>>(7)?),
        };
        index.insert(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, sketch);
    }
    Ok(index)
}

/// Dates more than a day past first sight are clamped to first sight; the feed's
/// value is kept beside it.
fn clamp_published(published: Option<DateTime<Utc>>, now: i64) -> (Option<i64>, Option<String>) {
    match published.map(|p| p.timestamp()) {
        Some(p) if p > now + FUTURE_SLACK => (Some(now), Some(rfc3339(p))),
        other => (other, None),
    }
}

/// The stored form of an article's content columns, shared by insert and update.
struct Columns<'a> {
    a: &'a Article,
    authors: Option<String>,
    boilerplate: Option<String>,
    published: Option<i64>,
    published_raw: Option<String>,
    updated: Option<i64>,
}

impl<'a> Columns<'a> {
    fn new(a: &'a Article, published: Option<i64>, published_raw: Option<String>) -> Columns<'a> {
        Columns {
            a,
            authors: json_list(&a.entry.authors),
            boilerplate: json_list(&a.boilerplate),
            published,
            published_raw,
            updated: a.entry.updated.map(|u| u.timestamp()),
        }
    }

    /// Named parameters for the columns both statements write.
    fn params(&self) -> Vec<(&'static str, &dyn ToSql)> {
        let a = self.a;
        vec![
            (":guid", &a.entry.guid),
            (":url", &a.entry.link),
            (":canonical_url", &a.canonical_url),
            (":title", &a.entry.title),
            (":authors", &self.authors),
            (":summary_html", &a.entry.summary_html),
            (":content_html", &a.entry.content_html),
            (":text", &a.text),
            (":boilerplate", &self.boilerplate),
            (":language", &a.language),
            (":published", &self.published),
            (":published_raw", &self.published_raw),
            (":updated", &self.updated),
            (":content_hash", &a.content_hash),
        ]
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_article(
    tx: &Transaction,
    feed_id: i64,
    key: &str,
    a: &Article,
    published: Option<i64>,
    published_raw: Option<String>,
    verdict: Verdict,
    now: i64,
) -> Result<i64, StoreError> {
    let (duplicate_of, reason, similarity) = match verdict {
        Verdict::Original => (None, None, None),
        Verdict::Duplicate { of, reason, similarity } => (Some(of), Some(reason.as_str()), Some(similarity)),
    };
    let columns = Columns::new(a, published, published_raw);
    let sort_time = published.unwrap_or(now);
    let mut params = columns.params();
    params.extend_from_slice(&[
        (":feed_id", &feed_id as &dyn ToSql),
        (":entry_key", &key),
        (":now", &now),
        (":sort_time", &sort_time),
        (":duplicate_of", &duplicate_of),
        (":duplicate_reason", &reason),
        (":similarity", &similarity),
    ]);
    tx.prepare_cached(
        "INSERT INTO articles (feed_id, entry_key, guid, url, canonical_url, title, authors,
                               summary_html, content_html, text, boilerplate, language, published,
                               published_raw, updated, first_seen, last_seen, changed_at, sort_time,
                               content_hash, duplicate_of, duplicate_reason, similarity, story_id)
         VALUES (:feed_id, :entry_key, :guid, :url, :canonical_url, :title, :authors,
                 :summary_html, :content_html, :text, :boilerplate, :language, :published,
                 :published_raw, :updated, :now, :now, :now, :sort_time,
                 :content_hash, :duplicate_of, :duplicate_reason, :similarity, COALESCE(:duplicate_of, 0))",
    )?
    .execute(params.as_slice())?;
    let id = tx.last_insert_rowid();
    if duplicate_of.is_none() {
        tx.prepare_cached("UPDATE articles SET story_id = id WHERE id = ?1")?.execute([id])?;
    }
    write_topics(tx, id, a, now, false)?;
    Ok(id)
}

fn update_article(
    tx: &Transaction,
    id: i64,
    a: &Article,
    published: Option<i64>,
    published_raw: Option<String>,
    now: i64,
) -> Result<(), StoreError> {
    let columns = Columns::new(a, published, published_raw);
    let mut params = columns.params();
    params.extend_from_slice(&[(":id", &id as &dyn ToSql), (":now", &now)]);
    tx.prepare_cached(
        "UPDATE articles SET guid = :guid, url = :url, canonical_url = :canonical_url, title = :title,
                authors = :authors, summary_html = :summary_html, content_html = :content_html,
                text = :text, boilerplate = :boilerplate, language = :language,
                published = :published, published_raw = :published_raw, updated = :updated,
                last_seen = :now, changed_at = :now, sort_time = COALESCE(:published, first_seen),
                content_hash = :content_hash
         WHERE id = :id",
    )?
    .execute(params.as_slice())?;
    write_topics(tx, id, a, now, true)
}

/// Writes the topic matches (replacing old ones on update).
fn write_topics(tx: &Transaction, id: i64, a: &Article, now: i64, replace: bool) -> Result<(), StoreError> {
    if replace {
        tx.prepare_cached("DELETE FROM article_topics WHERE article_id = ?1")?.execute([id])?;
    }
    let mut topic = tx.prepare_cached(
        "INSERT INTO article_topics (topic, article_id, score, evidence, matched_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for m in &a.topics {
        let evidence = serde_json::to_string(&m.evidence).unwrap_or_else(|_| "[]".into());
        topic.execute(params![m.topic, id, m.score, evidence, now])?;
    }
    Ok(())
}

fn json_list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}
