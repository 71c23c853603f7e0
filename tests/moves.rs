//! A feed that moved for good: a permanent redirect seen three times over at least a day
//! moves the feed (RELIABILITY F8), the sightings surviving polls and restarts; a
//! temporary redirect, or a chain with one in it, never does; nothing is stored twice.
//! The polls run on a clock the test sets, so the day takes no time.

use crate::support::{Store, scalar};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::DateTime;
use kabar::model::FeedState;
use kabar::poll::{Context, Settings, poll};
use kabar::store::Writer;

use crate::support::{Item, Response, Server, body, feed_toml, rss};

/// A clock the test moves by hand, in Unix seconds.
fn manual_clock(start: i64) -> (Arc<AtomicI64>, kabar::poll::Clock) {
    let now = Arc::new(AtomicI64::new(start));
    let read = now.clone();
    (now, Arc::new(move || DateTime::from_timestamp(read.load(Ordering::SeqCst), 0).unwrap()))
}

struct Run {
    config: kabar::config::Config,
    db: kabar::config::Database,
}

impl Run {
    /// A writer and a poll context on the clock, as after a (re)start; the feeds' stored
    /// state, by name.
    async fn start(&self, clock: &kabar::poll::Clock) -> (Context, Vec<FeedState>) {
        let writer = Writer::open(&self.db, Default::default()).unwrap();
        let names = self.config.feeds.iter().map(|f| (f.name.clone(), f.url.to_string())).collect();
        let states = writer.sync_feeds(names).await.unwrap();
        let settings = Settings::new(&self.config).unwrap();
        (Context::with_clock(writer, settings, clock.clone()), states)
    }

    async fn poll_all(&self, ctx: &Context, states: &mut [FeedState]) {
        for (feed, state) in self.config.feeds.iter().zip(states.iter_mut()) {
            let report = poll(ctx, feed, state).await;
            assert!(report.result.is_ok(), "{}: {:?}", feed.name, report.result);
            *state = report.state;
        }
    }
}

async fn close(ctx: Context) {
    let Ok(writer) = Arc::try_unwrap(ctx.writer) else { panic!("the writer is still shared") };
    writer.close().await;
}

fn count(db: &kabar::config::Database, sql: &str) -> i64 {
    scalar(db, sql)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_move_is_applied_after_three_sightings_over_a_day_and_survives_restarts() {
    let server = Server::start();
    let doc = rss(
        "moving",
        &[Item::new("m1", "Moved story", &body("moved", 1)), Item::new("m2", "Second", &body("moved", 2))],
    );
    for new in ["/new.xml", "/new2.xml", "/new3.xml"] {
        let doc = doc.replace("moving", new);
        server.route(new, move |_| Response::new(200, doc.clone()));
    }
    server.route("/old.xml", |_| Response::new(301, "").header("Location", "/new.xml"));
    server.route("/temporary.xml", |_| Response::new(302, "").header("Location", "/new2.xml"));
    server.route("/chain.xml", |_| Response::new(301, "").header("Location", "/mid.xml"));
    server.route("/mid.xml", |_| Response::new(302, "").header("Location", "/new3.xml"));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let text = [
        format!("[storage]\n{}[fetch]\nper_host = {{ concurrency = 8, min_interval = \"0s\" }}\n", store.toml),
        feed_toml("moved", &server.url("/old.xml"), ""),
        feed_toml("temporary", &server.url("/temporary.xml"), ""),
        feed_toml("chain", &server.url("/chain.xml"), ""),
    ]
    .concat();
    let config = kabar::config::parse(&text, &dir.path().join("kabar.toml")).unwrap();
    let run = Run { db: config.database.clone(), config };
    let t0 = 1_750_000_000;
    let (now, clock) = manual_clock(t0);

    // First sighting, then a restart: the sighting was stored with the feed.
    let (ctx, mut states) = run.start(&clock).await;
    run.poll_all(&ctx, &mut states).await;
    assert_eq!((states[0].moved.count, states[0].moved.since.map(|t| t.timestamp())), (1, Some(t0)));
    close(ctx).await;
    let (ctx, mut states) = run.start(&clock).await;
    assert_eq!(states[0].moved.count, 1, "the sighting did not survive the restart");
    assert!(states[0].moved.to.as_deref().is_some_and(|t| t.ends_with("/new.xml")));

    // Second sighting 12 h later; a third after 20 h is not yet a day.
    now.store(t0 + 12 * 3600, Ordering::SeqCst);
    run.poll_all(&ctx, &mut states).await;
    now.store(t0 + 20 * 3600, Ordering::SeqCst);
    run.poll_all(&ctx, &mut states).await;
    assert_eq!(states[0].moved.count, 3);
    assert!(states[0].url.ends_with("/old.xml"), "moved before a day had passed");
    close(ctx).await;

    // After a day: the move applies; from then on the new address is fetched directly.
    let (ctx, mut states) = run.start(&clock).await;
    now.store(t0 + 25 * 3600, Ordering::SeqCst);
    run.poll_all(&ctx, &mut states).await;
    assert!(states[0].url.ends_with("/new.xml"), "{:?}", states[0]);
    let old_hits = server.hits("/old.xml");
    now.store(t0 + 26 * 3600, Ordering::SeqCst);
    run.poll_all(&ctx, &mut states).await;
    assert_eq!(server.hits("/old.xml"), old_hits, "the old address was fetched after the move");
    // A temporary redirect, and a chain with a temporary one in it, never move a feed.
    for (i, name) in [(1, "temporary"), (2, "chain")] {
        assert_eq!(states[i].moved.count, 0, "{name}: {:?}", states[i].moved);
        assert!(!states[i].url.contains("/new"), "{name} moved: {}", states[i].url);
    }
    close(ctx).await;

    // Nothing stored twice: two articles per feed, whatever address they came from; the
    // configured address is kept beside the one fetched.
    assert_eq!(
        count(&run.db, "SELECT count(*) FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE f.name = 'moved'"),
        2
    );
    assert_eq!(count(&run.db, "SELECT count(*) FROM articles"), 6);
    assert_eq!(
        count(
            &run.db,
            "SELECT count(*) FROM feeds WHERE name = 'moved' AND config_url LIKE '%/old.xml' AND url LIKE '%/new.xml'"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fetch_log_keeps_its_retention_by_the_clock() {
    let server = Server::start();
    let doc = rss("a", &[Item::new("a1", "Satu", &body("satu", 1))]);
    server.route("/a.xml", move |_| Response::new(200, doc.clone()));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let text =
        format!("[storage]\n{}keep_fetches = \"30d\"\n{}", store.toml, feed_toml("a", &server.url("/a.xml"), ""));
    let config = kabar::config::parse(&text, &dir.path().join("kabar.toml")).unwrap();
    let run = Run { db: config.database.clone(), config };
    let day = 86_400;
    let t0 = 1_750_000_000;
    let (now, clock) = manual_clock(t0);
    let (ctx, mut states) = run.start(&clock).await;
    // Polls 40, 31, 29 and 1 days before the last.
    for age in [40, 31, 29, 1] {
        now.store(t0 + (40 - age) * day, Ordering::SeqCst);
        run.poll_all(&ctx, &mut states).await;
    }
    now.store(t0 + 40 * day, Ordering::SeqCst);
    kabar::daemon::prune_once(&ctx, run.config.keep_fetches).await;
    close(ctx).await;
    assert_eq!(count(&run.db, "SELECT count(*) FROM fetches"), 2, "the 40- and 31-day-old polls should be gone");
    assert_eq!(count(&run.db, "SELECT min(started_at) FROM fetches"), t0 + 11 * day);
}
