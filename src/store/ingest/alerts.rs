//! The alert outbox: a row per new story and channel, and each delivery attempt.

use super::*;

pub(in crate::store) fn alert_attempt(
    db: &mut Db,
    id: i64,
    error: Option<&str>,
    next_attempt_at: i64,
) -> Result<(), StoreError> {
    let now = Utc::now().timestamp();
    let tx = db.begin()?;
    match error {
        None => tx.exec(
            "UPDATE alerts SET attempts = attempts + 1, delivered_at = ?2, last_error = NULL WHERE id = ?1",
            args![id, now],
        )?,
        Some(e) => tx.exec(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            args![id, e, next_attempt_at],
        )?,
    };
    tx.commit()?;
    Ok(())
}

/// Claims the alerts due at `now` (oldest first, at most `limit`) for `hold` seconds: no
/// other worker sees them due meanwhile, and rows another worker is claiming are skipped.
pub(in crate::store) fn claim_alerts(
    db: &mut Db,
    worker: &str,
    now: i64,
    limit: usize,
    hold: i64,
) -> Result<Vec<crate::model::DueAlert>, StoreError> {
    let tx = db.begin()?;
    let claimed = tx.all(
        "UPDATE alerts SET next_attempt_at = ?2, claimed_by = ?4
         WHERE id IN (SELECT id FROM alerts WHERE delivered_at IS NULL AND next_attempt_at <= ?1
                      ORDER BY next_attempt_at, id LIMIT ?3 FOR UPDATE SKIP LOCKED)
         RETURNING id, topic, channel, article_id, attempts",
        args![now, now + hold, limit, worker],
        crate::store::reader::due_alert,
    )?;
    tx.commit()?;
    Ok(claimed)
}

/// Queues an alert per channel for each topic with alerts that flags this new article,
/// unless the story was already queued for that topic.
pub(super) fn queue_alerts(
    tx: &Sql,
    alert_topics: &[(String, String)],
    article: &Article,
    id: i64,
    story: i64,
    now: i64,
) -> Result<(), StoreError> {
    for m in &article.topics {
        for (topic, channel) in alert_topics.iter().filter(|(t, _)| *t == m.topic) {
            tx.exec(
                "INSERT INTO alerts (topic, channel, story_id, article_id, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
                args![topic, channel, story, id, now],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn a_story_is_queued_once_per_channel_and_marked_when_delivered() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["wire", "copy"]);
        let channels = std::sync::Arc::new(vec![
            ("digital".to_string(), "webhook".to_string()),
            ("digital".to_string(), "command".to_string()),
        ]);
        for (feed, guid) in [(ids[0], "w1"), (ids[1], "c1")] {
            let mut a = article(guid, "Indonesia and India sign", BODY);
            a.topics = vec![TopicMatch { topic: "digital".into(), score: 1.0, evidence: Vec::new() }];
            let mut rec = PollRecord::fetched(feed, vec![a]);
            rec.alert_topics = channels.clone();
            record_poll(&mut state, rec).unwrap();
        }
        // Two channels, one story (the second feed's copy joins it): two alerts.
        assert_eq!(count(&mut state, "SELECT count(DISTINCT story_id) FROM articles"), 1);
        assert_eq!(count(&mut state, "SELECT count(*) FROM alerts"), 2);
        let first = count(&mut state, "SELECT min(id) FROM alerts");
        alert_attempt(&mut state.db, first, Some("HTTP 500"), 99).unwrap();
        assert_eq!(count(&mut state, &format!("SELECT next_attempt_at FROM alerts WHERE id = {first}")), 99);
        alert_attempt(&mut state.db, first, None, 0).unwrap();
        assert_eq!(count(&mut state, "SELECT count(*) FROM alerts WHERE delivered_at IS NOT NULL"), 1);
        assert_eq!(count(&mut state, &format!("SELECT attempts FROM alerts WHERE id = {first}")), 2);
    }
}
