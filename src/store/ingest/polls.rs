//! A poll: the feed's new state, its fetch-log row and its articles, in one
//! transaction.

use super::articles::ingest_articles;
use super::*;

/// The parts of a poll record every outcome stores.
struct Head {
    feed_id: i64,
    started_at: i64,
    http_status: Option<u16>,
    next_attempt_at: i64,
}

/// Records a poll. The recent-articles window gains the new articles only if the
/// transaction commits (a failure or a panic rolls it back too).
pub(in crate::store) fn record_poll(state: &mut State, rec: PollRecord) -> Result<IngestSummary, StoreError> {
    let now = Utc::now().timestamp();
    state.recent.evict(now);
    let mark = state.recent.mark();
    let seen = state.fleet.as_ref().map(|f| f.seen);
    let mut learned = Vec::new();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        record_poll_tx(&mut state.db, &mut state.recent, &mut learned, rec, now, state.fleet.as_mut())
    }));
    if !matches!(result, Ok(Ok(_)))
        && let (Some(fleet), Some(seen)) = (state.fleet.as_mut(), seen)
    {
        fleet.seen = seen;
    }
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
    db: &mut Db,
    recent: &mut Index,
    learned: &mut Vec<(String, u64)>,
    rec: PollRecord,
    now: i64,
    mut fleet: Option<&mut fleet::Fleet>,
) -> Result<IngestSummary, StoreError> {
    let tx = db.begin()?;
    if let (Some(fleet), Some(lease)) = (fleet.as_deref(), &rec.lease) {
        fleet::check_lease(&tx, &fleet.worker, lease)?;
    }
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
            tx.exec(
                "UPDATE feeds SET last_fetch_at = ?2, last_status = 'error', last_http_status = ?3,
                        last_error_kind = ?4, last_error = ?5, consecutive_failures = ?6,
                        next_attempt_at = ?7
                 WHERE id = ?1",
                args![
                    head.feed_id,
                    head.started_at,
                    head.http_status,
                    e.kind.as_str(),
                    e.message,
                    rec.failures,
                    head.next_attempt_at
                ],
            )?;
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
            tx.exec("UPDATE feeds SET last_warning = ?2 WHERE id = ?1", args![head.feed_id, warning])?;
            if let Some(fleet) = fleet.as_deref_mut()
                && !articles.is_empty()
            {
                fleet::join_window(&tx, recent, fleet, now)?;
            }
            summary = ingest_articles(&tx, recent, learned, &alert_topics, head.feed_id, articles, now)?;
            if let Some(fleet) = fleet
                && summary.new > 0
            {
                // Under the dedup lock, every id up to the newest is in the window now.
                fleet.seen = tx.value::<Option<i64>>("SELECT max(id) FROM articles", &[])?.unwrap_or(fleet.seen);
            }
            summary.truncated = truncated;
            ("ok", None)
        }
    };
    tx.exec(
        "INSERT INTO fetches (feed_id, started_at, duration_ms, status, http_status, bytes, entries,
                              new, updated, duplicates, truncated, error_kind, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        args![
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
        ],
    )?;
    tx.commit()?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn record_success(
    tx: &Sql,
    head: &Head,
    status: &str,
    validators: &Validators,
    moved: &MoveState,
    new_url: Option<&str>,
    title: Option<&str>,
    site_url: Option<&str>,
) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE feeds SET last_fetch_at = ?2, last_success_at = ?2, last_status = ?3,
                last_http_status = ?4, last_error_kind = NULL, last_error = NULL,
                consecutive_failures = 0, next_attempt_at = ?5, etag = ?6, last_modified = ?7,
                moved_to = ?8, moved_since = ?9, moved_count = ?10,
                url = COALESCE(?11, url), title = COALESCE(?12, title),
                site_url = COALESCE(?13, site_url)
         WHERE id = ?1",
        args![
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
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::model::{ErrorKind, FeedError};

    #[test]
    fn a_poll_lands_whole_and_the_same_entries_again_add_nothing() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        let batch =
            || vec![article("g1", "Indonesia and India sign", BODY), article("g2", "Rice prices rise", "<p>Rice.</p>")];
        let first = record_poll(&mut state, PollRecord::fetched(id, batch())).unwrap();
        assert_eq!((first.entries, first.new, first.updated), (2, 2, 0));
        let again = record_poll(&mut state, PollRecord::fetched(id, batch())).unwrap();
        assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 2));
        assert_eq!(count(&mut state, "SELECT count(*) FROM articles"), 2);
        assert_eq!(count(&mut state, "SELECT count(*) FROM fetches"), 2);
        assert_eq!(count(&mut state, "SELECT count(*) FROM articles_fts"), 2);
        assert_eq!(state.recent.len(), 2, "the window holds what was committed");
    }

    #[test]
    fn a_failed_poll_is_stored_on_the_feed_and_counted() {
        let (_dir, mut state) = state();
        let id = feeds(&mut state, &["a"])[0];
        for failures in 1..=2 {
            let mut rec = PollRecord::fetched(id, Vec::new());
            rec.outcome = PollOutcome::Failed(FeedError::new(ErrorKind::Timeout, "no answer"));
            rec.failures = failures;
            record_poll(&mut state, rec).unwrap();
        }
        let (kind, failures, status): (String, i64, String) = state
            .db
            .on()
            .one("SELECT last_error_kind, consecutive_failures, last_status FROM feeds WHERE id = ?1", args![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((kind.as_str(), failures, status.as_str()), ("timeout", 2, "error"));
        assert_eq!(count(&mut state, "SELECT count(*) FROM articles"), 0);
    }
}
