//! The page queue: a row per article whose page is to be fetched, kept until the page is
//! read or has finally failed (a restart or a SIGKILL loses none), and the failures
//! recorded on the article.

use super::*;

/// Queues `id`'s page at `url`, due now.
pub(super) fn queue_page(tx: &Transaction, id: i64, url: &str, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO pages (article_id, url, next_attempt_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (article_id) DO UPDATE SET url = ?2, attempts = 0, next_attempt_at = ?3, last_error = NULL",
    )?
    .execute(params![id, url, now])?;
    tx.prepare_cached("UPDATE articles SET page_status = 'queued' WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// The page is done with (read, or failed for good): out of the queue.
pub(super) fn dequeue_page(tx: &Transaction, id: i64) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM pages WHERE article_id = ?1")?.execute([id])?;
    Ok(())
}

/// A page that failed: tried again at `retry_at`, or, with `status`, recorded on the
/// article and never tried again.
pub(in crate::store) fn page_failed(
    conn: &mut Connection,
    id: i64,
    error: &str,
    retry_at: Option<i64>,
    status: Option<&str>,
) -> Result<(), StoreError> {
    let tx = immediate(conn)?;
    match (retry_at, status) {
        (Some(at), _) => {
            tx.execute(
                "UPDATE pages SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE article_id = ?1",
                params![id, at, error],
            )?;
        }
        (None, status) => {
            dequeue_page(&tx, id)?;
            tx.execute("UPDATE articles SET page_status = ?2 WHERE id = ?1", params![id, status.unwrap_or("error")])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Queues again the pages of articles whose page failed for good (`failed`) or was read
/// by an older extractor than `version` (`outdated`); returns how many.
pub(in crate::store) fn requeue_pages(
    conn: &mut Connection,
    failed: bool,
    outdated: bool,
    version: u32,
    now: i64,
) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    let ids: Vec<(i64, String)> = tx
        .prepare(
            "SELECT id, url FROM articles
             WHERE url IS NOT NULL AND page_status IS NOT NULL AND page_status <> 'queued'
               AND ((?1 AND page_status <> 'ok') OR (?2 AND page_status = 'ok' AND COALESCE(page_extractor, 0) < ?3))",
        )?
        .query_map(params![failed, outdated, version], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, url) in &ids {
        queue_page(&tx, *id, url, now)?;
    }
    tx.commit()?;
    Ok(ids.len())
}
