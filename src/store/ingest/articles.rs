//! Articles: a new one inserted with its sketch and search-index rows, a changed one
//! updated, the duplicate decision against the recent window, GUIDs a feed reuses, and
//! the window rebuilt at start.

use super::alerts::queue_alerts;
use super::pages::{dequeue_page, queue_page};
use super::site_lines::count_site_lines;
use super::topics::write_topics;
use super::*;
use crate::store::sql::{Col, Param, Row, Value, values_rows};
use crate::text;
use std::collections::{HashMap, HashSet};

/// A published date more than this far past first sight is clamped to first sight.
const FUTURE_SLACK: i64 = 24 * 3600;

/// The stored fields an update compares against.
struct Existing {
    id: i64,
    title: String,
    text: String,
    url: Option<String>,
    published: Option<i64>,
    /// The feed's text, when the page's text replaced it.
    summary: Option<String>,
    canonical_url: Option<String>,
}

pub(super) fn ingest_articles(
    tx: &Sql,
    recent: &mut Index,
    learned: &mut Vec<(String, u64)>,
    alert_topics: &[(String, String)],
    feed_id: i64,
    articles: Vec<Article>,
    now: i64,
) -> Result<IngestSummary, StoreError> {
    let mut summary = IngestSummary { entries: articles.len(), ..IngestSummary::default() };
    let mut trusted: bool = tx.one("SELECT guids_trusted FROM feeds WHERE id = ?1", args![feed_id], |r| r.get(0))?;
    if trusted && !dedup::guids_usable(&articles) {
        distrust_guids(tx, feed_id, "its GUIDs repeat or are positions")?;
        trusted = false;
    }
    let mut stored = HashMap::new();
    let mut asked = HashSet::new();
    if trusted {
        let guid_keys: Vec<String> =
            articles.iter().filter_map(|a| a.entry.guid.as_deref().map(dedup::guid_key)).collect();
        stored = stored_rows(tx, feed_id, &guid_keys)?;
        asked.extend(guid_keys);
        if let Some(reused) = find_reused_guid(&stored, &articles) {
            distrust_guids(tx, feed_id, &format!("it reused the GUID {reused:?} for another article"))?;
            trusted = false;
            (stored, asked) = (HashMap::new(), HashSet::new());
        }
    }
    let keys = dedup::entry_keys(&articles, trusted);
    let missing: Vec<String> = keys.iter().filter(|k| !asked.contains(*k)).cloned().collect();
    stored.extend(stored_rows(tx, feed_id, &missing)?);
    let new = articles.iter().zip(&keys).filter(|(_, k)| !stored.contains_key(*k)).map(|(a, _)| a);
    let mut firsts = FirstCopies::read(tx, new)?;
    let mut seen_again = Vec::new();
    let mut fts = PendingFts::default();
    for (mut article, key) in articles.into_iter().zip(keys) {
        let (published, published_raw) = clamp_published(article.entry.published, now);
        match stored.get(&key) {
            Some(row) => {
                // An article whose page replaced its text is compared by the feed's text.
                let feed_text = row.summary.as_deref().unwrap_or(&row.text);
                let changed = row.title != article.entry.title
                    || feed_text != article.text
                    || row.url != article.entry.link
                    || row.published != published;
                if changed {
                    // The feed changed the entry: its text again, and its page read again.
                    update_article(tx, row.id, &article, published, published_raw, now)?;
                    tx.exec("UPDATE articles SET summary = NULL, page_status = NULL WHERE id = ?1", args![row.id])?;
                    dequeue_page(tx, row.id)?;
                    if article.wants_page
                        && let Some(url) = article.entry.link.as_deref().filter(|u| crate::model::is_web_url(u))
                    {
                        queue_page(tx, row.id, url, now)?;
                    }
                    // Its link and text hash changed: later lookups in this poll ask the database.
                    firsts.stale = true;
                    fts.push(row.id, &mut article, true);
                    summary.updated += 1;
                } else {
                    seen_again.push(row.id);
                    summary.unchanged += 1;
                }
            }
            None => {
                let (same_url, same_content) = firsts.of(tx, &article)?;
                let verdict = find_verdict_among(tx, recent, &article, now, None, same_url, same_content)?;
                let id = insert_article(tx, feed_id, &key, &article, published, published_raw, verdict, now)?;
                let story = match verdict {
                    Verdict::Duplicate { of, .. } => of,
                    Verdict::Original => id,
                };
                firsts.stored(&article, Candidate { id, story_id: story });
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
    for ids in seen_again.chunks(LOOKUPS) {
        let mut params = vec![Value::Int(now)];
        params.extend(padded(ids.iter().map(|id| Value::Int(*id)).collect()));
        tx.exec(
            &format!("UPDATE articles SET last_seen = ?1 WHERE id IN ({})", in_list(params.len() - 1, 2)),
            &params,
        )?;
    }
    fts.write(tx)?;
    Ok(summary)
}

/// Keys (or ids) a statement looks up at once: a poll's lookups take a few statements,
/// not one per article (each is a round trip on PostgreSQL).
const LOOKUPS: usize = 256;

/// `values` padded with its last to a power of two, so a statement's list comes in a
/// few lengths and each length is prepared once (a repeat in an `IN` list changes nothing).
fn padded(mut values: Vec<Value<'_>>) -> Vec<Value<'_>> {
    if let Some(last) = values.last().cloned() {
        values.resize(values.len().next_power_of_two(), last);
    }
    values
}

/// `?first, ?first+1, …`: `n` parameters for an `IN` list.
fn in_list(n: usize, first: usize) -> String {
    values_rows(n, 1, first, |k| format!("?{}", k[0]))
}

/// The statement [`stored_rows`] runs for `n` keys (after padding).
fn stored_rows_sql(n: usize) -> String {
    format!(
        "SELECT entry_key, id, title, text, url, published, summary, canonical_url
         FROM articles WHERE feed_id = ?1 AND entry_key IN ({})",
        in_list(n, 2)
    )
}

/// The statement [`first_copies`] runs for `n` values of `column` (after padding).
///
/// PostgreSQL's form looks each value up on its own. Its plan is made once per connection,
/// often while `articles` is nearly empty; planned then, the `IN` form reads the whole table
/// (a hash join), and it keeps doing so as the table grows until the next `ANALYZE`. A lookup
/// by one value is an index search at any size.
fn first_copies_sql(backend: Backend, column: &str, n: usize) -> String {
    if backend == Backend::Postgres {
        let cast = if column == "content_hash" { "::bigint" } else { "::text" };
        let keys = values_rows(n, 1, 1, |k| format!("(?{}{cast})", k[0]));
        return format!(
            "SELECT v.k, f.id, f.story_id FROM (VALUES {keys}) v(k) CROSS JOIN LATERAL
               (SELECT id, story_id FROM articles WHERE {column} = v.k AND story_id <> 0 ORDER BY id LIMIT 1) f"
        );
    }
    format!(
        "SELECT {column}, id, story_id FROM articles WHERE id IN
           (SELECT min(id) FROM articles WHERE {column} IN ({}) AND story_id <> 0 GROUP BY {column})",
        in_list(n, 1)
    )
}

/// The feed's stored rows with these entry keys, by key.
fn stored_rows(tx: &Sql, feed_id: i64, keys: &[String]) -> Result<HashMap<String, Existing>, StoreError> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(LOOKUPS) {
        let mut params = vec![Value::Int(feed_id)];
        params.extend(padded(chunk.iter().map(|k| k.value()).collect()));
        tx.each(&stored_rows_sql(params.len() - 1), &params, |r| {
            let row = Existing {
                id: r.get(1)?,
                title: r.get(2)?,
                text: r.get(3)?,
                url: r.get(4)?,
                published: r.get(5)?,
                summary: r.get(6)?,
                canonical_url: r.get(7)?,
            };
            out.insert(r.get(0)?, row);
            Ok(true)
        })?;
    }
    Ok(out)
}

/// The first stored copy of each canonical link and of each text hash a poll's new
/// articles carry, read for the whole poll, and kept up to date with what the poll
/// inserts (a first copy stored earlier has the lesser id, so it stays the answer).
struct FirstCopies {
    by_url: HashMap<String, Candidate>,
    by_content: HashMap<i64, Candidate>,
    /// An update in this poll changed a stored row's link or hash: ask the database.
    stale: bool,
}

impl FirstCopies {
    fn read<'a>(tx: &Sql, new: impl Iterator<Item = &'a Article>) -> Result<FirstCopies, StoreError> {
        let (mut urls, mut hashes) = (Vec::new(), Vec::new());
        for a in new {
            if let Some(u) = identifying_url(a) {
                urls.push(Value::Text(u.to_string().into()));
            }
            if let Some(h) = a.content_hash {
                hashes.push(Value::Int(h));
            }
        }
        Ok(FirstCopies {
            by_url: first_copies(tx, "canonical_url", &urls)?,
            by_content: first_copies(tx, "content_hash", &hashes)?,
            stale: false,
        })
    }

    /// The earliest article with the same canonical link, and (when none) with the same text.
    fn of(&self, tx: &Sql, a: &Article) -> Result<(Option<Candidate>, Option<Candidate>), StoreError> {
        if self.stale {
            return exact_candidates(tx, a, None);
        }
        let same_url = identifying_url(a).and_then(|u| self.by_url.get(u));
        let same_content = match a.content_hash {
            Some(h) if same_url.is_none() => self.by_content.get(&h),
            _ => None,
        };
        Ok((same_url.copied(), same_content.copied()))
    }

    /// `a` was stored as `c`: the first copy of its link and text unless one was already known.
    fn stored(&mut self, a: &Article, c: Candidate) {
        if let Some(u) = &a.canonical_url {
            self.by_url.entry(u.clone()).or_insert(c);
        }
        if let Some(h) = a.content_hash {
            self.by_content.entry(h).or_insert(c);
        }
    }
}

/// The article's canonical link when it names one article (not a home page or a section).
fn identifying_url(a: &Article) -> Option<&str> {
    a.canonical_url.as_deref().filter(|u| dedup::url_identifies_article(u))
}

/// For each of `keys` in `column`, the least id (and its story) among stored rows in a
/// story with that value, by value.
fn first_copies<K: Col + Eq + std::hash::Hash>(
    tx: &Sql,
    column: &str,
    keys: &[Value],
) -> Result<HashMap<K, Candidate>, StoreError> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(LOOKUPS) {
        let chunk = padded(chunk.to_vec());
        tx.each(&first_copies_sql(tx.backend(), column, chunk.len()), &chunk, |r| {
            out.insert(r.get(0)?, Candidate { id: r.get(1)?, story_id: r.get(2)? });
            Ok(true)
        })?;
    }
    Ok(out)
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

    fn write(self, tx: &Sql) -> Result<(), StoreError> {
        if tx.backend() == Backend::Postgres {
            return write_words(tx, self.0);
        }
        for (id, replace, title, body) in self.0 {
            if replace {
                tx.exec("DELETE FROM articles_fts WHERE rowid = ?1", args![id])?;
            }
            tx.exec("INSERT INTO articles_fts (rowid, title, body) VALUES (?1, ?2, ?3)", args![id, &title, &body])?;
        }
        Ok(())
    }
}

/// PostgreSQL's search rows: the same words as lexemes, as they are (no parser, no
/// stemming, none dropped but those past PostgreSQL's lexeme size), made distinct here,
/// and up to `ROWS` articles a statement, since a round trip per article was most of a
/// poll's storing time.
fn write_words(tx: &Sql, pending: Vec<(i64, bool, String, String)>) -> Result<(), StoreError> {
    const ROWS: usize = 16;
    const MAX_LEXEME: usize = 2046;
    // One statement cannot write a row twice: an article indexed twice in a poll keeps its last text.
    let mut ids = HashSet::new();
    let mut rows: Vec<(i64, String)> = Vec::with_capacity(pending.len());
    for (id, _, title, body) in pending.into_iter().rev() {
        if ids.insert(id) {
            let mut seen = HashSet::new();
            let words: Vec<&str> = text::split_tokens(&title)
                .chain(text::split_tokens(&body))
                .filter(|w| w.len() <= MAX_LEXEME && seen.insert(*w))
                .collect();
            rows.push((id, words.join(" ")));
        }
    }
    rows.reverse();
    for chunk in rows.chunks(ROWS) {
        let values = values_rows(chunk.len(), 2, 1, |k| {
            format!("(?{}, array_to_tsvector(string_to_array(?{}, ' ')))", k[0], k[1])
        });
        let sql = format!(
            "INSERT INTO article_words (article_id, words) VALUES {values}
             ON CONFLICT (article_id) DO UPDATE SET words = excluded.words"
        );
        let mut params = Vec::with_capacity(chunk.len() * 2);
        for (id, words) in chunk {
            params.extend_from_slice(args![*id, *words]);
        }
        tx.exec(&sql, &params)?;
    }
    Ok(())
}

/// A GUID this document uses that is stored (in `stored`, by key) for a different article.
fn find_reused_guid(stored: &HashMap<String, Existing>, articles: &[Article]) -> Option<String> {
    articles.iter().find_map(|a| {
        let guid = a.entry.guid.as_deref()?;
        let row = stored.get(&dedup::guid_key(guid))?;
        let identity = StoredIdentity { canonical_url: row.canonical_url.clone(), title: row.title.clone() };
        dedup::guid_reused(&identity, a).then(|| guid.to_string())
    })
}

/// Stops using GUIDs as keys for this feed and re-keys its stored rows by link (or
/// title and date), so the next fetch finds them again.
fn distrust_guids(tx: &Sql, feed_id: i64, why: &str) -> Result<(), StoreError> {
    tx.exec("UPDATE feeds SET guids_trusted = 0 WHERE id = ?1", args![feed_id])?;
    let rows: Vec<(i64, Option<String>, String, Option<i64>)> = tx.all(
        "SELECT id, canonical_url, title, published FROM articles WHERE feed_id = ?1 AND entry_key LIKE 'g:%'",
        args![feed_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    for (id, canonical, title, published) in &rows {
        let published = published.and_then(|p| DateTime::from_timestamp(p, 0));
        // A key another row of the feed holds already stays as it was.
        tx.exec(
            "UPDATE articles SET entry_key = ?2 WHERE id = ?1
                AND NOT EXISTS (SELECT 1 FROM articles o WHERE o.feed_id = ?3 AND o.entry_key = ?2)",
            args![id, &dedup::fallback_key(canonical.as_deref(), title, published), feed_id],
        )?;
    }
    if rows.is_empty() {
        tracing::info!(feed_id, "keying this feed's entries by link, not GUID: {why}");
    } else {
        tracing::warn!(feed_id, rekeyed = rows.len(), "no longer keying this feed's entries by GUID: {why}");
    }
    Ok(())
}

/// The earliest article (outside story `outside`) with the same canonical URL, and when
/// there is none, the earliest with the same text (indexed lookups).
fn exact_candidates(
    tx: &Sql,
    article: &Article,
    outside: Option<i64>,
) -> Result<(Option<Candidate>, Option<Candidate>), StoreError> {
    let candidate = |r: &Row| -> Result<Candidate, StoreError> { Ok(Candidate { id: r.get(0)?, story_id: r.get(1)? }) };
    let same_url = match identifying_url(article) {
        Some(u) => tx.opt(
            "SELECT id, story_id FROM articles WHERE canonical_url = ?1 AND story_id <> ?2 ORDER BY id LIMIT 1",
            args![u, outside.unwrap_or(0)],
            candidate,
        )?,
        None => None,
    };
    let same_content = match article.content_hash {
        Some(h) if same_url.is_none() => tx.opt(
            "SELECT id, story_id FROM articles WHERE content_hash = ?1 AND story_id <> ?2 ORDER BY id LIMIT 1",
            args![h, outside.unwrap_or(0)],
            candidate,
        )?,
        _ => None,
    };
    Ok((same_url, same_content))
}

/// The duplicate decision for `article` against every story but `outside`: an earlier
/// article with the same canonical URL or the same text (found by the caller), else a
/// near copy, teaser or translation among the recent articles (the in-memory window).
/// Nothing here scans.
fn find_verdict_among(
    tx: &Sql,
    recent: &Index,
    article: &Article,
    now: i64,
    outside: Option<i64>,
    same_url: Option<Candidate>,
    same_content: Option<Candidate>,
) -> Result<Verdict, StoreError> {
    let exact = dedup::verdict(same_url, same_content);
    if exact != Verdict::Original {
        return Ok(exact);
    }
    let Some(sketch) = &article.sketch else {
        return Ok(Verdict::Original);
    };
    let mut load_error = None;
    let found = recent.find_outside(sketch, &article.index_body, article.language.as_deref(), now, outside, |id| {
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
fn stored_shingles(tx: &Sql, id: i64) -> Result<Option<Vec<u64>>, StoreError> {
    let row: Option<(String, Option<String>)> =
        tx.opt("SELECT text, boilerplate FROM articles WHERE id = ?1", args![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(row.map(|(text, boilerplate)| {
        let removed: Vec<String> = boilerplate.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or_default();
        sketch::shingle_hashes(&clean::kept_text(&text, &removed))
    }))
}

fn save_sketch(tx: &Sql, id: i64, s: &Sketch) -> Result<(), StoreError> {
    let bins: Vec<u8> = s.bins.iter().flat_map(|b| b.to_le_bytes()).collect();
    tx.exec(
        "INSERT INTO article_sketches (article_id, bins, shingles, signals, numbers) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (article_id) DO UPDATE SET bins = excluded.bins, shingles = excluded.shingles,
                     signals = excluded.signals, numbers = excluded.numbers",
        args![id, &bins, s.shingles, &u32_bytes(&s.signals), &u32_bytes(&s.numbers)],
    )?;
    Ok(())
}

fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Adds to the window the articles after id `after` still inside it (another worker's,
/// on a shared database); returns the newest id seen.
pub(super) fn load_window_after(tx: &Sql, index: &mut Index, after: i64, now: i64) -> Result<i64, StoreError> {
    let since = now - index.params().window;
    let mut newest = after;
    tx.each(
        "SELECT a.id, a.story_id, a.first_seen, a.language, s.bins, s.shingles, s.signals, s.numbers
         FROM article_sketches s JOIN articles a ON a.id = s.article_id
         WHERE a.id > ?1 AND a.first_seen >= ?2 ORDER BY a.id",
        args![after, since],
        |r| {
            let id: i64 = r.get(0)?;
            newest = newest.max(id);
            index.insert(id, r.get(1)?, r.get(2)?, r.get(3)?, sketch_of(r)?);
            Ok(true)
        },
    )?;
    Ok(newest)
}

/// The sketch in columns 4 to 7 of a window row.
fn sketch_of(r: &Row) -> Result<Sketch, StoreError> {
    let bins: Vec<u8> = r.get(4)?;
    Ok(Sketch {
        bins: bins.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect(),
        shingles: r.get(5)?,
        signals: u32s(&r.get::<Vec<u8>>(6)?),
        numbers: u32s(&r.get::<Vec<u8>>(7)?),
    })
}

/// Rebuilds the window of recent articles from their stored sketches.
pub(in crate::store) fn load_recent(conn: &Sql, params: Params, now: i64) -> Result<Index, StoreError> {
    let since = now - params.window;
    let mut index = Index::new(params);
    conn.each(
        "SELECT a.id, a.story_id, a.first_seen, a.language, s.bins, s.shingles, s.signals, s.numbers
         FROM article_sketches s JOIN articles a ON a.id = s.article_id
         WHERE a.first_seen >= ?1 ORDER BY a.first_seen, a.id",
        args![since],
        |r| {
            index.insert(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, sketch_of(r)?);
            Ok(true)
        },
    )?;
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

    /// The columns both statements write, as parameters ?1 to ?14.
    fn params(&self) -> Vec<Value<'_>> {
        let a = self.a;
        args![
            a.entry.guid,
            a.entry.link,
            a.canonical_url,
            a.entry.title,
            self.authors,
            a.entry.summary_html,
            a.entry.content_html,
            a.text,
            self.boilerplate,
            a.language,
            self.published,
            self.published_raw,
            self.updated,
            a.content_hash,
        ]
        .to_vec()
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_article(
    tx: &Sql,
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
    params.extend_from_slice(args![feed_id, key, now, sort_time, duplicate_of, reason, similarity]);
    let id: i64 = tx.value(
        "INSERT INTO articles (guid, url, canonical_url, title, authors, summary_html, content_html, text,
                               boilerplate, language, published, published_raw, updated, content_hash,
                               feed_id, entry_key, first_seen, last_seen, changed_at, sort_time,
                               duplicate_of, duplicate_reason, similarity, story_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 ?15, ?16, ?17, ?17, ?17, ?18, ?19, ?20, ?21, COALESCE(?19, CAST(0 AS BIGINT)))
         RETURNING id",
        &params,
    )?;
    // A first copy is its own story (on PostgreSQL a trigger sets it in the insert).
    if duplicate_of.is_none() && tx.backend() == Backend::Sqlite {
        tx.exec("UPDATE articles SET story_id = id WHERE id = ?1", args![id])?;
    }
    write_topics(tx, id, a, now, false)?;
    if a.wants_page
        && let Some(url) = a.entry.link.as_deref().filter(|u| crate::model::is_web_url(u))
    {
        queue_page(tx, id, url, now)?;
    }
    Ok(id)
}

fn update_article(
    tx: &Sql,
    id: i64,
    a: &Article,
    published: Option<i64>,
    published_raw: Option<String>,
    now: i64,
) -> Result<(), StoreError> {
    let columns = Columns::new(a, published, published_raw);
    let mut params = columns.params();
    params.extend_from_slice(args![id, now]);
    tx.exec(
        "UPDATE articles SET guid = ?1, url = ?2, canonical_url = ?3, title = ?4, authors = ?5,
                summary_html = ?6, content_html = ?7, text = ?8, boilerplate = ?9, language = ?10,
                published = ?11, published_raw = ?12, updated = ?13, content_hash = ?14,
                last_seen = ?16, changed_at = ?16, sort_time = COALESCE(?11, first_seen)
         WHERE id = ?15",
        &params,
    )?;
    write_topics(tx, id, a, now, true)
}

fn json_list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}

/// The page of article `id` was read: its main text (`page`, cleaned and classified)
/// becomes the article's text, the feed's text is kept as `summary`, and the article is
/// indexed, matched and decided again in this one transaction. A teaser stored as a new
/// story that the page shows to be a copy joins the earlier story, with every copy that
/// had joined it. A story a topic now flags is queued for alerts once, as at ingest.
pub(in crate::store) fn apply_page(
    state: &mut State,
    id: i64,
    mut page: Article,
    extractor: u32,
    alert_topics: &[(String, String)],
    now: i64,
) -> Result<(), StoreError> {
    let tx = state.db.begin()?;
    let row: Option<(i64, Option<String>)> =
        tx.opt("SELECT story_id, canonical_url FROM articles WHERE id = ?1", args![id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let Some((old_story, canonical)) = row else {
        dequeue_page(&tx, id)?;
        tx.commit()?;
        return Ok(());
    };
    // The page's own canonical link (or og:url) says which article it is, better than a
    // feed's link, which may be a tracking URL; without one the stored URL stays.
    if page.canonical_url.is_none() {
        page.canonical_url = canonical;
    }
    let (same_url, same_content) = exact_candidates(&tx, &page, Some(old_story))?;
    let verdict = find_verdict_among(&tx, &state.recent, &page, now, Some(old_story), same_url, same_content)?;
    tx.exec(
        "UPDATE articles SET summary = COALESCE(summary, text), text = ?2, boilerplate = ?3,
                language = COALESCE(?4, language), content_hash = ?5, canonical_url = ?6,
                page_status = 'ok', page_extractor = ?7, changed_at = ?8
         WHERE id = ?1",
        args![
            id,
            &page.text,
            json_list(&page.boilerplate),
            &page.language,
            page.content_hash,
            &page.canonical_url,
            extractor,
            now
        ],
    )?;
    if let Some(sketch) = &page.sketch {
        save_sketch(&tx, id, sketch)?;
    }
    write_topics(&tx, id, &page, now, true)?;
    let story = match verdict {
        Verdict::Duplicate { of, reason, similarity } if of != old_story => {
            tx.exec(
                "UPDATE articles SET duplicate_of = ?2, duplicate_reason = ?3, similarity = ?4 WHERE id = ?1",
                args![id, of, reason.as_str(), similarity],
            )?;
            tx.exec("UPDATE articles SET story_id = ?2 WHERE story_id = ?1", args![old_story, of])?;
            of
        }
        _ => old_story,
    };
    queue_alerts(&tx, alert_topics, &page, id, story, now)?;
    let mut fts = PendingFts::default();
    fts.push(id, &mut page, true);
    fts.write(&tx)?;
    dequeue_page(&tx, id)?;
    tx.commit()?;
    // The window learns what was committed, and only then.
    if story != old_story {
        state.recent.merge_story(old_story, story);
    }
    if let Some(sketch) = page.sketch.take() {
        state.recent.insert(id, story, now, page.language.clone(), sketch);
    }
    Ok(())
}

/// Leaf pages one step of [`merge_index_step`] writes, about: a step takes tens of
/// milliseconds, so polls queued meanwhile wait little.
pub(in crate::store) const MERGE_PAGES: i64 = 1000;

/// One step of merging the search index's segments into one: FTS5's `merge` with a
/// negative budget takes segments of every level, as `optimize` does, but about
/// [`MERGE_PAGES`] leaf pages at a time. Whether the step did any work. FTS5 keeps
/// a segment per transaction and merges them by levels as they come; at a million
/// articles a search opens every term in each of some twenty segments, so a query of
/// 800 word forms spends most of its time there (see docs/performance.md).
/// PostgreSQL's GIN index has no segments: nothing to do there.
pub(in crate::store) fn merge_index_step(db: &mut Db) -> Result<bool, StoreError> {
    let Db::Sqlite(conn) = db else { return Ok(false) };
    let before = conn.total_changes();
    conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES('merge', ?1)", [-MERGE_PAGES])?;
    // The command itself counts as one change.
    Ok(conn.total_changes() - before > 1)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    /// SQLite plans a statement again when a value bound to it may change the plan;
    /// the duplicate lookups by canonical URL and content hash were planned again for
    /// every article until the writer asked for the planner's stability guarantee. They
    /// are made once a poll now, for all its articles.
    #[test]
    fn the_lookups_of_an_ingest_are_planned_once() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["a", "b"]);
        for round in 0..6 {
            let batch = (0..5)
                .map(|i| {
                    let n = round * 5 + i;
                    let body = format!("<p>Story {n}: {BODY} Item number {n} of the day, in {n} words more.</p>");
                    article(&format!("g{n}"), &format!("Report {n} from the ministry"), &body)
                })
                .collect();
            record_poll(&mut state, PollRecord::fetched(ids[round as usize % 2], batch)).unwrap();
        }
        let Db::Sqlite(conn) = &state.db else { unreachable!() };
        // Each poll looks its five articles up once by key, link and text (padded to 8).
        for sql in [
            stored_rows_sql(8),
            first_copies_sql(Backend::Sqlite, "canonical_url", 8),
            first_copies_sql(Backend::Sqlite, "content_hash", 8),
        ] {
            let st = conn.prepare_cached(&sql).unwrap();
            assert_eq!(st.get_status(rusqlite::StatementStatus::Run), 6, "{sql}");
            assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0, "{sql}");
        }
    }

    #[test]
    fn copies_within_one_poll_join_the_poll_s_first_copy() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["aggregator"]);
        let mut same_link = article("b", "Indonesia and India: the pact", "<p>Another text entirely, about ports.</p>");
        same_link.canonical_url = Some("https://news.example/a".to_string());
        let poll = vec![
            article("a", "Indonesia and India sign", BODY),
            article("c", "Indonesia, India sign digital pact", BODY),
            same_link,
        ];
        let summary = record_poll(&mut state, PollRecord::fetched(ids[0], poll)).unwrap();
        assert_eq!((summary.new, summary.duplicates), (3, 2));
        let first = count(&mut state, "SELECT id FROM articles WHERE guid = 'a'");
        for (guid, reason) in [("c", "content"), ("b", "url")] {
            let of = count(&mut state, &format!("SELECT duplicate_of FROM articles WHERE guid = '{guid}'"));
            assert_eq!(of, first, "{guid}");
            let why: String = state
                .db
                .on()
                .value(&format!("SELECT duplicate_reason FROM articles WHERE guid = '{guid}'"), &[])
                .unwrap();
            assert_eq!(why, reason, "{guid}");
        }
    }

    #[test]
    fn a_copy_of_an_entry_changed_in_the_same_poll_is_found() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["wire", "mirror"]);
        let old = "<p>An early version of the story, two lines long, about a port in Surabaya.</p>";
        record_poll(&mut state, PollRecord::fetched(ids[0], vec![article("w1", "Port deal", old)])).unwrap();
        // The wire rewrites its entry and, in the same poll, carries a copy of the new text.
        let poll = vec![article("w1", "Port deal", BODY), article("w2", "Port deal, again", BODY)];
        let summary = record_poll(&mut state, PollRecord::fetched(ids[0], poll)).unwrap();
        assert_eq!((summary.updated, summary.new, summary.duplicates), (1, 1, 1));
        let first = count(&mut state, "SELECT id FROM articles WHERE guid = 'w1'");
        assert_eq!(count(&mut state, "SELECT duplicate_of FROM articles WHERE guid = 'w2'"), first);
    }

    #[test]
    fn a_copy_on_another_feed_joins_the_first_copys_story() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["wire", "aggregator"]);
        record_poll(&mut state, PollRecord::fetched(ids[0], vec![article("w1", "Indonesia and India sign", BODY)]))
            .unwrap();
        let copy = article("a1", "Indonesia, India sign digital pact", BODY);
        let summary = record_poll(&mut state, PollRecord::fetched(ids[1], vec![copy])).unwrap();
        assert_eq!((summary.new, summary.duplicates), (1, 1));
        assert_eq!(count(&mut state, "SELECT count(DISTINCT story_id) FROM articles"), 1);
        let first: i64 = count(&mut state, &format!("SELECT id FROM articles WHERE feed_id = {}", ids[0]));
        assert_eq!(count(&mut state, &format!("SELECT duplicate_of FROM articles WHERE feed_id = {}", ids[1])), first);
    }

    #[test]
    fn a_teaser_whose_page_repeats_a_stored_story_joins_it_with_its_copies() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["wire", "aggregator", "mirror"]);
        record_poll(&mut state, PollRecord::fetched(ids[0], vec![article("w1", "Indonesia and India sign", BODY)]))
            .unwrap();
        let teaser = "<p>A short note on a pact signed in Jakarta.</p>";
        record_poll(&mut state, PollRecord::fetched(ids[1], vec![article("t1", "Pact signed", teaser)])).unwrap();
        // A mirror of the teaser, which joins the teaser's story.
        record_poll(&mut state, PollRecord::fetched(ids[2], vec![article("m1", "Pact signed", teaser)])).unwrap();
        assert_eq!(count(&mut state, "SELECT count(DISTINCT story_id) FROM articles"), 2);
        let teaser_id = count(&mut state, &format!("SELECT id FROM articles WHERE feed_id = {}", ids[1]));
        let wire_id = count(&mut state, &format!("SELECT id FROM articles WHERE feed_id = {}", ids[0]));
        let mut page = article("t1", "Pact signed", BODY);
        page.topics = vec![TopicMatch { topic: "digital".into(), score: 1.0, evidence: Vec::new() }];
        let channels = [("digital".to_string(), "webhook".to_string())];
        apply_page(&mut state, teaser_id, page.clone(), 1, &channels, Utc::now().timestamp()).unwrap();
        // One story now, the mirror included; the teaser kept as the summary.
        assert_eq!(count(&mut state, "SELECT count(DISTINCT story_id) FROM articles"), 1);
        assert_eq!(count(&mut state, &format!("SELECT story_id FROM articles WHERE id = {teaser_id}")), wire_id);
        assert_eq!(
            count(&mut state, "SELECT count(*) FROM articles WHERE summary IS NOT NULL AND page_status = 'ok'"),
            1
        );
        assert_eq!(count(&mut state, "SELECT count(*) FROM article_topics WHERE topic = 'digital'"), 1);
        assert_eq!(count(&mut state, "SELECT count(*) FROM alerts"), 1);
        // The window knows: a new copy of the teaser's text joins the one story.
        let later =
            record_poll(&mut state, PollRecord::fetched(ids[2], vec![article("m2", "Pact signed again", teaser)]))
                .unwrap();
        assert_eq!(later.duplicates, 1);
        assert_eq!(count(&mut state, "SELECT count(DISTINCT story_id) FROM articles"), 1);
        // The same page again queues no second alert for the story.
        apply_page(&mut state, teaser_id, page, 1, &channels, Utc::now().timestamp()).unwrap();
        assert_eq!(count(&mut state, "SELECT count(*) FROM alerts"), 1);
    }

    #[test]
    fn the_window_is_rebuilt_from_the_stored_sketches() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        let articles =
            vec![article("g1", "Indonesia and India sign", BODY), article("g2", "Rice", "<p>Rice prices rise.</p>")];
        record_poll(&mut state, PollRecord::fetched(id, articles)).unwrap();
        let rebuilt = load_recent(&state.db.on(), Params::default(), Utc::now().timestamp()).unwrap();
        assert_eq!(rebuilt.len(), state.recent.len());
        assert_eq!(rebuilt.len(), 2);
    }

    #[test]
    fn a_date_far_past_first_sight_is_clamped_and_the_written_date_kept() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        let mut a = article("g1", "From the future", BODY);
        a.entry.published = Some(Utc::now() + chrono::Duration::days(400));
        record_poll(&mut state, PollRecord::fetched(id, vec![a])).unwrap();
        let (published, first_seen): (i64, i64) = state
            .db
            .on()
            .one("SELECT published, first_seen FROM articles", &[], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(published, first_seen);
        assert_eq!(count(&mut state, "SELECT count(*) FROM articles WHERE published_raw IS NOT NULL"), 1);
    }
}
