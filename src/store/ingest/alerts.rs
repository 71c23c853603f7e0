//! The alert outbox: a row per new story and channel, and each delivery attempt.

use super::*;

pub(in crate::store) fn alert_attempt(
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

/// Queues an alert per channel for each topic with alerts that flags this new article,
/// unless the story was already queued for that topic.
pub(super) fn queue_alerts(
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
