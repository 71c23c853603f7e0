//! A fleet of workers on one PostgreSQL database: each worker's heartbeat, the host
//! leases it claims (`FOR UPDATE SKIP LOCKED`, the lease written in the same statement),
//! the fence a poll commits under, and the dedup window kept in step with what the other
//! workers stored.

use super::articles::load_window_after;
use super::*;
use crate::model::Lease;

/// Held for the rest of a poll's transaction by every worker storing articles: the
/// copies of one story that two workers store at once are decided one after the other,
/// each against the other's committed rows, so only one becomes the story's first copy.
const DEDUP_LOCK: i64 = 0x6b61_6261_7202;

/// Held by whichever worker runs a fleet-wide duty (pruning the fetch log) right now;
/// the others skip it.
pub(in crate::store) const DUTY_LOCK: i64 = 0x6b61_6261_7203;

/// What a fleet worker's writer knows besides the window: who it is, and the newest
/// article its window has seen (its own or another worker's).
pub(in crate::store) struct Fleet {
    pub worker: String,
    pub seen: i64,
}

impl Fleet {
    pub fn new(worker: String, db: &mut Db) -> Result<Fleet, StoreError> {
        let seen: Option<i64> = db.on().value("SELECT max(id) FROM articles", &[])?;
        Ok(Fleet { worker, seen: seen.unwrap_or(0) })
    }
}

/// Before a poll's writes: the lease it ran under must still be this worker's, with the
/// same fence, unexpired. The row stays locked until the commit, so no one takes the
/// host over in between (a claim skips locked rows).
pub(super) fn check_lease(tx: &Sql, worker: &str, lease: &Lease) -> Result<(), StoreError> {
    let now = Utc::now().timestamp_millis();
    let held: Option<i64> = tx.opt(
        "SELECT fence FROM leases WHERE host = ?1 AND owner = ?2 AND fence = ?3 AND expires_at > ?4 FOR UPDATE",
        args![lease.host, worker, lease.fence, now],
        |r| r.get(0),
    )?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::LeaseLost { host: lease.host.clone(), fence: lease.fence }),
    }
}

/// Orders this transaction's dedup decisions after every other worker's, and brings the
/// window up to date with the articles they committed since it last looked.
pub(super) fn join_window(tx: &Sql, recent: &mut Index, fleet: &mut Fleet, now: i64) -> Result<(), StoreError> {
    tx.exec("SELECT pg_advisory_xact_lock(?1)", args![DEDUP_LOCK])?;
    fleet.seen = load_window_after(tx, recent, fleet.seen, now)?;
    Ok(())
}

/// One claim round: the worker's heartbeat, its leases renewed, and with `take`, up to
/// its fair share of `hosts` (among the workers heard from within a lease), hosts nobody
/// holds or whose lease ran out claimed; hosts past the share given back, but never one in
/// `busy` (a poll of it is under way). Returns the leases held now.
pub(in crate::store) fn claim(
    db: &mut Db,
    worker: &str,
    hosts: &[String],
    busy: &[String],
    take: bool,
    lease: i64,
    now: i64,
) -> Result<Vec<Lease>, StoreError> {
    // `now` is in milliseconds, as the tables hold them; `lease` in seconds.
    let lease = lease * 1000;
    let tx = db.begin()?;
    let list = hosts.join("\n");
    tx.exec(
        "INSERT INTO workers (id, started_at, heartbeat_at) VALUES (?1, ?2, ?2)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = ?2",
        args![worker, now],
    )?;
    tx.exec(
        "INSERT INTO leases (host) SELECT unnest(string_to_array(?1, E'\\n')) ON CONFLICT DO NOTHING",
        args![list],
    )?;
    tx.exec("UPDATE leases SET expires_at = ?3 WHERE owner = ?1 AND expires_at > ?2", args![worker, now, now + lease])?;
    let live: i64 = tx.value("SELECT count(*) FROM workers WHERE heartbeat_at > ?1", args![now - lease])?;
    let share = (hosts.len() as i64 + live.max(1) - 1) / live.max(1);
    let held: i64 = tx.value(
        "SELECT count(*) FROM leases WHERE owner = ?1 AND expires_at > ?2 AND host = ANY(string_to_array(?3, E'\\n'))",
        args![worker, now, list],
    )?;
    if !take {
        // Only heard from: the others count this worker before it takes a share.
    } else if held < share {
        tx.exec(
            "UPDATE leases SET owner = ?1, expires_at = ?3, fence = fence + 1, claimed_at = ?2
             WHERE host IN (SELECT host FROM leases
                            WHERE (owner IS NULL OR expires_at <= ?2) AND host = ANY(string_to_array(?4, E'\\n'))
                            ORDER BY host LIMIT ?5 FOR UPDATE SKIP LOCKED)",
            args![worker, now, now + lease, list, share - held],
        )?;
    } else if held > share {
        // Another worker joined: make room for it.
        tx.exec(
            "UPDATE leases SET owner = NULL, expires_at = 0
             WHERE host IN (SELECT host FROM leases WHERE owner = ?1 AND expires_at > ?2
                              AND NOT host = ANY(string_to_array(?4, E'\\n'))
                            ORDER BY host DESC LIMIT ?3 FOR UPDATE SKIP LOCKED)",
            args![worker, now, held - share, busy.join("\n")],
        )?;
    }
    let leases = tx.all(
        "SELECT host, fence FROM leases WHERE owner = ?1 AND expires_at > ?2 ORDER BY host",
        args![worker, now],
        |r| Ok(Lease { host: r.get(0)?, fence: r.get(1)? }),
    )?;
    tx.commit()?;
    Ok(leases)
}

/// A worker stopping cleanly: its leases go back and it leaves the count of workers, so
/// the others take its hosts at once.
pub(in crate::store) fn leave(db: &mut Db, worker: &str) -> Result<(), StoreError> {
    let tx = db.begin()?;
    tx.exec("UPDATE leases SET owner = NULL, expires_at = 0 WHERE owner = ?1", args![worker])?;
    tx.exec(
        "UPDATE alerts SET next_attempt_at = ?2, claimed_by = NULL WHERE claimed_by = ?1 AND delivered_at IS NULL",
        args![worker, Utc::now().timestamp()],
    )?;
    tx.exec("DELETE FROM workers WHERE id = ?1", args![worker])?;
    tx.commit()
}

/// Whether this transaction holds the fleet's duty lock now (taken until it ends), or
/// another worker is at the duty.
pub(super) fn take_duty(tx: &Sql) -> Result<bool, StoreError> {
    tx.value("SELECT pg_try_advisory_xact_lock(?1)", args![DUTY_LOCK])
}
