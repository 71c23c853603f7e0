//! Feed rows, and the fetch log each poll adds to.

use super::*;

pub(in crate::store) fn sync_feeds(
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

/// Deletes up to `limit` of the oldest fetch-log rows started before `before`, in one
/// transaction; returns how many went (fewer than `limit`: none older are left).
pub(in crate::store) fn prune_fetches(conn: &mut Connection, before: i64, limit: usize) -> Result<usize, StoreError> {
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
