//! The page queue: a row per article whose page is to be fetched, kept until the page is
//! read or has finally failed (a restart or a SIGKILL loses none), and the failures
//! recorded on the article.

use super::*;

/// Queues `id`'s page at `url`, due now.
pub(super) fn queue_page(tx: &Sql, id: i64, url: &str, now: i64) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO pages (article_id, url, next_attempt_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (article_id) DO UPDATE SET url = ?2, attempts = 0, next_attempt_at = ?3, last_error = NULL",
        args![id, url, now],
    )?;
    tx.exec("UPDATE articles SET page_status = 'queued' WHERE id = ?1", args![id])?;
    Ok(())
}

/// The page is done with (read, or failed for good): out of the queue.
pub(super) fn dequeue_page(tx: &Sql, id: i64) -> Result<(), StoreError> {
    tx.exec("DELETE FROM pages WHERE article_id = ?1", args![id])?;
    Ok(())
}

/// A page that failed: tried again at `retry_at`, or, with `status`, recorded on the
/// article and never tried again.
pub(in crate::store) fn page_failed(
    db: &mut Db,
    id: i64,
    error: &str,
    retry_at: Option<i64>,
    status: Option<&str>,
) -> Result<(), StoreError> {
    let tx = db.begin()?;
    match (retry_at, status) {
        (Some(at), _) => {
            tx.exec(
                "UPDATE pages SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE article_id = ?1",
                args![id, at, error],
            )?;
        }
        (None, status) => {
            dequeue_page(&tx, id)?;
            tx.exec("UPDATE articles SET page_status = ?2 WHERE id = ?1", args![id, status.unwrap_or("error")])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Queues again the pages of articles whose page failed for good (`failed`) or was read
/// by an older extractor than `version` (`outdated`); returns how many.
pub(in crate::store) fn requeue_pages(
    db: &mut Db,
    failed: bool,
    outdated: bool,
    version: u32,
    now: i64,
) -> Result<usize, StoreError> {
    let tx = db.begin()?;
    let ids: Vec<(i64, String)> = tx.all(
        "SELECT id, url FROM articles
             WHERE url IS NOT NULL AND page_status IS NOT NULL AND page_status <> 'queued'
               AND ((?1 AND page_status <> 'ok') OR (?2 AND page_status = 'ok' AND COALESCE(page_extractor, 0) < ?3))",
        args![failed, outdated, version],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (id, url) in &ids {
        queue_page(&tx, *id, url, now)?;
    }
    tx.commit()?;
    Ok(ids.len())
}
