//! Crash safety (RELIABILITY.md D1, D2): kill the daemon with SIGKILL at random moments
//! while it ingests, many times in a row; after each kill the database is sound, every
//! article seen before is still there, no poll is half stored, a reader started right
//! after the kill works, and ingestion resumes.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Item, Server, Setup, body, kabar, run, stderr, wait_for};

const FEEDS: usize = 6;
const BATCH: usize = 25;

/// guid → feed of every stored article, and whether the database checks out.
fn stored(db: &std::path::Path) -> (BTreeMap<String, String>, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let mut stmt = conn.prepare("SELECT a.guid, f.name FROM articles a JOIN feeds f ON f.id = a.feed_id").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap();
    (rows.map(Result::unwrap).collect(), check)
}

#[test]
fn sigkill_during_ingest_loses_nothing_committed() {
    let cycles: usize = std::env::var("KABAR_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(30);
    let server = Server::start();
    // Every request brings a new batch of BATCH articles.
    let toml = server.busy_feeds("c", FEEDS, BATCH, |f, n, i| {
        Item::new(&format!("c{f}-{n}-{i}"), &format!("Crash test {f}/{n}/{i}"), &body(&format!("crash {f} {n}"), i))
    });
    let setup = Setup::new(&toml);
    let db = setup.database();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut reader_failures = 0;
    for cycle in 0..cycles {
        let mut child = kabar()
            .arg("--config")
            .arg(&setup.config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it start (the first cycle creates the database), then kill it at a random moment.
        if cycle == 0 {
            assert!(wait_for(Duration::from_secs(20), || db.exists()));
        }
        std::thread::sleep(Duration::from_millis(rng.u64(100..1200)));
        child.kill().unwrap();
        child.wait().unwrap();
        // A reader started right after the kill works (the WAL is recovered or read).
        let o = run(&setup.config, &["search", "--all", "--format", "csv", "--limit", "100000"]);
        if !o.status.success() {
            reader_failures += 1;
            eprintln!("reader after kill {cycle}: {}", stderr(&o));
        }
        let (articles, check) = stored(&db);
        assert_eq!(check, "ok", "integrity after kill {cycle}");
        let missing: Vec<&String> = seen.iter().filter(|g| !articles.contains_key(*g)).collect();
        assert!(missing.is_empty(), "kill {cycle} lost committed articles: {missing:?}");
        let mut per_feed: BTreeMap<&str, usize> = BTreeMap::new();
        for feed in articles.values() {
            *per_feed.entry(feed).or_default() += 1;
        }
        assert!(per_feed.values().all(|n| n % BATCH == 0), "kill {cycle} left a partial poll: {per_feed:?}");
        seen.extend(articles.into_keys());
    }
    assert_eq!(reader_failures, 0);
    // Ingestion resumes.
    let before = seen.len();
    let mut child = kabar().arg("--config").arg(&setup.config).arg("run").stderr(Stdio::null()).spawn().unwrap();
    let resumed = wait_for(Duration::from_secs(20), || stored(&db).0.len() > before);
    crate::support::terminate(&child);
    assert!(child.wait().unwrap().success());
    assert!(resumed, "no ingestion after the kills");
    eprintln!("crash: {cycles} SIGKILL cycles, {before} articles kept, 0 corrupt, 0 lost, 0 partial, 0 reader errors");
}
