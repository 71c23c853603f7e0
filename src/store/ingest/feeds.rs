//! Feed rows, and the fetch log each poll adds to.

use super::*;

pub(in crate::store) fn sync_feeds(
    db: &mut Db,
    feeds: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Vec<FeedState>, StoreError> {
    let tx = db.begin()?;
    let mut states = Vec::with_capacity(feeds.len());
    for (name, url) in feeds {
        tx.exec(
            "INSERT INTO feeds (name, config_url, url, created_at) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
            args![name, url, now.timestamp()],
        )?;
        // The configured URL changed: fetch the new one, with no old validators.
        let changed = tx.exec(
            "UPDATE feeds SET config_url = ?2, url = ?2, etag = NULL, last_modified = NULL,
                    moved_to = NULL, moved_since = NULL, moved_count = 0
             WHERE name = ?1 AND config_url <> ?2",
            args![name, url],
        )?;
        if changed > 0 {
            tracing::info!(feed = %name, url = %url, "feed URL changed in the configuration");
        }
        states.push(tx.one(&format!("SELECT {STATE} FROM feeds WHERE name = ?1"), args![name], feed_state)?);
    }
    tx.commit()?;
    Ok(states)
}

/// The columns [`feed_state`] reads.
const STATE: &str =
    "id, name, url, etag, last_modified, consecutive_failures, next_attempt_at, moved_to, moved_since, moved_count";

fn feed_state(r: &crate::store::sql::Row) -> Result<FeedState, StoreError> {
    let time = |i: usize| -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(r.get::<Option<i64>>(i)?.and_then(|t| DateTime::from_timestamp(t, 0)))
    };
    Ok(FeedState {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        validators: Validators { etag: r.get(3)?, last_modified: r.get(4)? },
        failures: r.get(5)?,
        next_attempt_at: time(6)?,
        moved: MoveState { to: r.get(7)?, since: time(8)?, count: r.get(9)? },
        lease: None,
    })
}

/// The stored state of the feeds of these ids (a fleet worker's, of the feeds whose host
/// it just took over: another worker may have polled them), in one read.
pub(in crate::store) fn feed_states(db: &mut Db, ids: &[i64]) -> Result<Vec<FeedState>, StoreError> {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    db.on().all(
        &format!(
            "SELECT {STATE} FROM feeds WHERE id IN (SELECT CAST(x AS BIGINT) FROM unnest(string_to_array(?1, ',')) x)"
        ),
        args![list.join(",")],
        feed_state,
    )
}

/// Deletes up to `limit` of the oldest fetch-log rows started before `before`, in one
/// transaction; returns how many went (fewer than `limit`: none older are left).
pub(in crate::store) fn prune_fetches(db: &mut Db, before: i64, limit: usize) -> Result<usize, StoreError> {
    let tx = db.begin()?;
    if tx.backend() == Backend::Postgres && !super::fleet::take_duty(&tx)? {
        // Another worker of the fleet is pruning.
        return Ok(0);
    }
    // Rows are appended about in time order, so the lowest ids are the oldest: the first
    // row inside the retention bounds the range, and finding it reads only the rows about
    // to go (a slow poll's row that landed after a newer one waits for the next prune).
    let deleted = tx.exec(
        "DELETE FROM fetches WHERE id IN (
             SELECT id FROM fetches
             WHERE id < coalesce((SELECT id FROM fetches WHERE started_at >= ?1 ORDER BY id LIMIT 1), 4611686018427387904)
               AND started_at < ?1
             ORDER BY id LIMIT ?2)",
        args![before, limit as i64],
    )?;
    tx.commit()?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::model::{ErrorKind, FeedError};

    #[test]
    fn a_feed_keeps_its_id_and_forgets_its_validators_when_its_url_changes() {
        let (_dir, mut state) = state();
        let ids = feeds(&mut state, &["a", "b"]);
        state.db.on().exec("UPDATE feeds SET etag = 'x', last_modified = 'y' WHERE id = ?1", args![ids[0]]).unwrap();
        // Listed again, unchanged: the validators stay.
        assert_eq!(feeds(&mut state, &["a", "b"]), ids);
        let kept = sync_feeds(&mut state.db, &[("a".into(), "https://a.example/feed".into())], Utc::now()).unwrap();
        assert_eq!(kept[0].validators.etag.as_deref(), Some("x"));
        let moved = sync_feeds(&mut state.db, &[("a".into(), "https://a.example/new".into())], Utc::now()).unwrap();
        assert_eq!((moved[0].id, moved[0].url.as_str()), (ids[0], "https://a.example/new"));
        assert_eq!(moved[0].validators, Validators::default());
        assert_eq!(count(&mut state, "SELECT count(*) FROM feeds"), 2, "a feed left out of the list is not deleted");
    }

    #[test]
    fn pruning_the_fetch_log_deletes_only_older_rows_a_batch_at_a_time() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        let day = |d: i64| DateTime::from_timestamp(1_700_000_000 + d * 86_400, 0).unwrap();
        for d in 0..5 {
            let mut rec = PollRecord::fetched(id, Vec::new());
            rec.started_at = day(d);
            rec.outcome = PollOutcome::Failed(FeedError::new(ErrorKind::Timeout, "slow"));
            record_poll(&mut state, rec).unwrap();
        }
        assert_eq!(count(&mut state, "SELECT count(*) FROM fetches"), 5);
        let before = day(3).timestamp();
        assert_eq!(prune_fetches(&mut state.db, before, 2).unwrap(), 2);
        assert_eq!(prune_fetches(&mut state.db, before, 2).unwrap(), 1);
        assert_eq!(prune_fetches(&mut state.db, before, 2).unwrap(), 0);
        assert_eq!(count(&mut state, &format!("SELECT count(*) FROM fetches WHERE started_at >= {before}")), 2);
        assert_eq!(count(&mut state, "SELECT count(*) FROM fetches"), 2);
    }
}
