//! Topics: the configured ones kept in step, matches written at ingest and replaced by
//! a re-evaluation.

use super::*;
use crate::store::sql::values_rows;

pub(in crate::store) fn sync_topics(
    db: &mut Db,
    topics: &[(String, String)],
    now: i64,
) -> Result<Vec<(String, Reindex)>, StoreError> {
    let tx = db.begin()?;
    let newest: Option<i64> = tx.value("SELECT max(id) FROM articles", &[])?;
    let names: Vec<&str> = topics.iter().map(|(n, _)| n.as_str()).collect();
    // A topic no longer configured is forgotten (its matches stay); if it comes back,
    // it is re-evaluated from scratch.
    let stored: Vec<String> = tx.all("SELECT name FROM topics", &[], |r| r.get(0))?;
    for name in stored.iter().filter(|n| !names.contains(&n.as_str())) {
        tx.exec("DELETE FROM topics WHERE name = ?1", args![name])?;
    }
    for (name, query) in topics {
        let current: Option<String> = tx.opt("SELECT query FROM topics WHERE name = ?1", args![name], |r| r.get(0))?;
        if current.as_deref() == Some(query.as_str()) {
            continue;
        }
        // New or changed: every article stored so far is evaluated again.
        let (done, upto) = match newest {
            Some(max) => (Some(0), Some(max)),
            None => (None, None),
        };
        tx.exec(
            "INSERT INTO topics (name, query, reindex_done, reindex_upto, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET query = ?2, reindex_done = ?3, reindex_upto = ?4, updated_at = ?5",
            args![name, query, done, upto, now],
        )?;
        if current.is_some() {
            tracing::info!(topic = %name, "topic query changed; re-evaluating the stored articles");
        }
    }
    let pending = tx.all(
        "SELECT name, reindex_done, reindex_upto FROM topics WHERE reindex_upto IS NOT NULL ORDER BY name",
        &[],
        |r| Ok((r.get(0)?, Reindex { done: r.get(1)?, upto: r.get(2)? })),
    )?;
    tx.commit()?;
    Ok(pending)
}

pub(in crate::store) fn replace_topic_matches(
    db: &mut Db,
    topic: &str,
    from: i64,
    to: i64,
    matches: &[(i64, TopicMatch)],
    finished: bool,
) -> Result<(), StoreError> {
    let tx = db.begin()?;
    let now = Utc::now().timestamp();
    tx.exec("DELETE FROM article_topics WHERE topic = ?1 AND article_id BETWEEN ?2 AND ?3", args![topic, from, to])?;
    for (id, m) in matches {
        let evidence = serde_json::to_string(&m.evidence).unwrap_or_else(|_| "[]".into());
        tx.exec(
            "INSERT INTO article_topics (topic, article_id, score, evidence, matched_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (topic, article_id) DO UPDATE SET score = excluded.score, evidence = excluded.evidence,
                         matched_at = excluded.matched_at",
            args![topic, id, m.score, evidence, now],
        )?;
    }
    if finished {
        tx.exec(
            "UPDATE topics SET reindex_done = NULL, reindex_upto = NULL, updated_at = ?2 WHERE name = ?1",
            args![topic, now],
        )?;
    } else {
        tx.exec("UPDATE topics SET reindex_done = ?2, updated_at = ?3 WHERE name = ?1", args![topic, to, now])?;
    }
    tx.commit()?;
    Ok(())
}

/// Writes the topic matches (replacing old ones on update).
pub(super) fn write_topics(tx: &Sql, id: i64, a: &Article, now: i64, replace: bool) -> Result<(), StoreError> {
    if replace {
        tx.exec("DELETE FROM article_topics WHERE article_id = ?1", args![id])?;
    }
    // A statement for up to ROWS matches: one round trip on PostgreSQL, and a few
    // distinct statement texts to keep prepared.
    const ROWS: usize = 8;
    let evidence: Vec<String> =
        a.topics.iter().map(|m| serde_json::to_string(&m.evidence).unwrap_or_else(|_| "[]".into())).collect();
    for (matches, evidence) in a.topics.chunks(ROWS).zip(evidence.chunks(ROWS)) {
        let rows = values_rows(matches.len(), 3, 3, |k| format!("(?{}, ?1, ?{}, ?{}, ?2)", k[0], k[1], k[2]));
        let sql = format!("INSERT INTO article_topics (topic, article_id, score, evidence, matched_at) VALUES {rows}");
        let mut params = Vec::with_capacity(matches.len() * 3 + 2);
        params.extend_from_slice(args![id, now]);
        for (m, e) in matches.iter().zip(evidence) {
            params.extend_from_slice(args![m.topic, m.score, *e]);
        }
        tx.exec(&sql, &params)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn flagged(topic: &str) -> Article {
        let mut a = article("g1", "Indonesia and India sign", BODY);
        a.topics = vec![TopicMatch { topic: topic.to_string(), score: 2.0, evidence: Vec::new() }];
        a
    }

    #[test]
    fn a_new_or_changed_topic_is_re_evaluated_over_what_is_stored() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        let q = |s: &str| vec![("digital".to_string(), s.to_string())];
        // No articles yet: nothing to re-evaluate.
        assert!(sync_topics(&mut state.db, &q("digital"), 0).unwrap().is_empty());
        record_poll(&mut state, PollRecord::fetched(id, vec![flagged("digital")])).unwrap();
        assert!(sync_topics(&mut state.db, &q("digital"), 0).unwrap().is_empty(), "unchanged");
        let pending = sync_topics(&mut state.db, &q("digital OR cyber"), 0).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].1.done, pending[0].1.upto), (0, 1));
    }

    #[test]
    fn matches_are_written_at_ingest_and_replaced_by_a_re_evaluation() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        sync_topics(&mut state.db, &[("digital".into(), "digital".into())], 0).unwrap();
        record_poll(&mut state, PollRecord::fetched(id, vec![flagged("digital")])).unwrap();
        assert_eq!(count(&mut state, "SELECT count(*) FROM article_topics WHERE topic = 'digital'"), 1);
        // The new query matches nothing in the range: the old match goes, the topic is done.
        replace_topic_matches(&mut state.db, "digital", 1, 1, &[], true).unwrap();
        assert_eq!(count(&mut state, "SELECT count(*) FROM article_topics WHERE topic = 'digital'"), 0);
        assert_eq!(count(&mut state, "SELECT count(*) FROM topics WHERE reindex_upto IS NOT NULL"), 0);
    }
}
