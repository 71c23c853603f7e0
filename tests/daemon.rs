//! `kabar run` as a child process against a loopback server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{
    Item, Response, Server, Setup, body, daemon_log, feed_toml, ndjson, rss, run, spawn_daemon, stderr, terminate,
    wait_for,
};

/// SQLite's integrity check; PostgreSQL's server keeps its own.
fn integrity_ok(db: &kabar::config::Database) -> bool {
    let Some(path) = db.sqlite() else {
        return true;
    };
    let conn = rusqlite::Connection::open(path).unwrap();
    let result: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    result == "ok"
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn the_daemon_polls_conditionally_backs_off_and_stops_on_sigterm() {
    let server = Server::start();
    server.feed_with_etag("/a.xml", rss("a", &[Item::new("a1", "Alpha", &body("alpha", 1))]), "\"a-v1\"");
    server.feed_with_last_modified(
        "/b.xml",
        rss("b", &[Item::new("b1", "Beta", &body("beta", 1))]),
        "Sat, 25 Jan 2025 08:00:00 GMT",
    );
    server.route("/fail.xml", |_| Response::new(500, "internal error"));
    let feeds = [
        feed_toml("a", &server.url("/a.xml"), "interval = \"1s\""),
        feed_toml("b", &server.url("/b.xml"), "interval = \"1s\""),
        feed_toml("fail", &server.url("/fail.xml"), "interval = \"1s\""),
    ]
    .concat();
    let setup = Setup::new(&feeds);
    let mut child = spawn_daemon(&setup);

    let polled = wait_for(Duration::from_secs(20), || server.hits("/a.xml") >= 6 && server.hits("/b.xml") >= 6);
    assert!(polled, "healthy feeds were not polled on schedule: {}", daemon_log(&setup));

    // Conditional GET: after the first fetch every request carries the validators, and
    // the answers are 304s (nothing is stored twice).
    for r in &server.requests("/a.xml")[1..] {
        assert_eq!(r.header("if-none-match"), Some("\"a-v1\""));
    }
    for r in &server.requests("/b.xml")[1..] {
        assert_eq!(r.header("if-modified-since"), Some("Sat, 25 Jan 2025 08:00:00 GMT"));
    }

    // The failing feed backs off: its gaps grow while the healthy feeds keep a
    // one-second rhythm.
    let fails = server.requests("/fail.xml");
    assert!(fails.len() >= 3, "{} requests to the failing feed", fails.len());
    assert!(fails.len() < server.hits("/a.xml"), "the failing feed was not backed off");
    let gaps: Vec<f64> = fails.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).collect();
    assert!(gaps[1] > gaps[0] * 1.5, "backoff gaps {gaps:?}");
    let healthy = server.requests("/a.xml");
    let max_gap = healthy.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).fold(0.0, f64::max);
    assert!(max_gap < 2.5, "the healthy feed waited {max_gap:.1}s between polls");

    let feeds = ndjson(&crate::support::ok(&setup.config, &["feeds", "--format", "ndjson"]));
    let fail = feeds.iter().find(|f| f["name"] == "fail").unwrap();
    assert_eq!(fail["last_error_kind"], "http");
    assert!(fail["failures"].as_u64().unwrap() >= 2, "{fail}");
    let a = feeds.iter().find(|f| f["name"] == "a").unwrap();
    assert_eq!((a["status"].as_str(), a["articles"].as_i64()), (Some("not_modified"), Some(1)));

    // SIGTERM: a clean exit within 5 seconds, the WAL folded back, the database sound.
    let asked = Instant::now();
    terminate(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    let Some(status) = status else {
        let _ = child.kill();
        panic!("kabar did not stop within 5 s of SIGTERM: {}", daemon_log(&setup));
    };
    assert!(status.success(), "exit status {status}: {}", daemon_log(&setup));
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());
    if let Some(path) = setup.database().sqlite() {
        let wal = kabar::store::wal_path(path);
        assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0, "WAL left behind");
    }
    assert!(integrity_ok(&setup.database()));
    assert!(daemon_log(&setup).contains("stopped"));
}

#[test]
fn searches_never_fail_while_the_daemon_ingests() {
    let server = Server::start();
    const FEEDS: usize = 8;
    const ITEMS: usize = 25;
    let toml = server.busy_feeds("f", FEEDS, ITEMS, |f, n, i| {
        Item::new(
            &format!("f{f}-{n}-{i}"),
            &format!("Digital cooperation update {f}/{n}/{i}"),
            &body(&format!("digital cooperation {f} {n} {i}"), i),
        )
    });
    let setup = Setup::new(&toml);
    let mut child = spawn_daemon(&setup);
    assert!(
        wait_for(Duration::from_secs(20), || setup.database().exists() && server.hits("/f0.xml") >= 1),
        "no ingest: {}",
        daemon_log(&setup)
    );
    let start = Instant::now();
    let mut runs = 0;
    let mut seen_counts = Vec::new();
    while start.elapsed() < Duration::from_secs(6) {
        for args in [
            &["search", "digital NEAR/3 cooperation", "--format", "ndjson", "--limit", "20"][..],
            &["search", "--all", "--format", "csv", "--limit", "1000"][..],
            &["feeds", "--format", "json"][..],
        ] {
            let o = run(&setup.config, args);
            let err = stderr(&o);
            assert!(o.status.success(), "kabar {args:?} failed during ingest: {err}");
            assert!(!err.contains("locked") && !err.contains("busy"), "{err}");
            runs += 1;
        }
        let o = run(&setup.config, &["search", "--all", "--format", "ndjson", "--limit", "100000"]);
        assert!(o.status.success(), "a full listing failed during ingest: {}", stderr(&o));
        seen_counts.push(ndjson(&String::from_utf8_lossy(&o.stdout)).len());
    }
    terminate(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).is_some_and(|s| s.success()));
    assert!(runs >= 15, "only {runs} queries ran");
    // Readers saw the archive grow, always in whole polls of ITEMS articles.
    assert!(seen_counts.last() > seen_counts.first(), "{seen_counts:?}");
    assert!(seen_counts.iter().all(|c| c % ITEMS == 0), "a reader saw a partial poll: {seen_counts:?}");
    assert!(integrity_ok(&setup.database()));
}

/// Text of about 600 words, different for every `seed`, so each article adds its own
/// postings to the search index.
fn long_text(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let words: Vec<String> = (0..600)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("k{:x}", x % 50_000)
        })
        .collect();
    format!("<p>{}</p>", words.join(" "))
}

/// Rows stored so far, through the CLI (which the size limit of the daemon does not touch).
fn stored_rows(setup: &Setup) -> usize {
    stored_guids(setup).len()
}

/// The GUID of every stored row, one entry per row (a GUID twice is a row doubled).
fn stored_guids(setup: &Setup) -> Vec<String> {
    let o = run(&setup.config, &["search", "--all", "--format", "ndjson", "--limit", "100000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    ndjson(&String::from_utf8_lossy(&o.stdout)).iter().map(|r| r["guid"].as_str().unwrap_or("").to_string()).collect()
}

/// RELIABILITY D4. A file size limit on the daemon (`RLIMIT_FSIZE`, with `SIGXFSZ`
/// ignored) stands in for a full disk: a write past it fails as one past the end of a
/// full disk does. Polls must fail with a `storage` error, the daemon stay up, nothing be
/// stored by halves, and ingest resume once the limit is raised.
#[test]
fn a_full_disk_fails_polls_with_storage_errors_and_ingest_resumes_with_room() {
    use std::os::unix::process::CommandExt;
    if crate::support::sqlite_only("a full disk under the daemon's own files") {
        return;
    }
    const FEEDS: usize = 4;
    const ITEMS: usize = 10;
    const LIMIT: u64 = 3 << 20;
    let server = Server::start();
    let toml = server.busy_feeds("f", FEEDS, ITEMS, |f, n, i| {
        let id = format!("f{f}-{n}-{i}");
        Item::new(&id, &format!("Story {id}"), &long_text((f * 1_000_000 + n * 1000 + i) as u64))
    });
    let setup = Setup::new(&toml);
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).unwrap();
    let mut command = crate::support::kabar();
    command.arg("--config").arg(&setup.config).arg("run").env("KABAR_LOG", "info").stdout(Stdio::null()).stderr(log);
    // SAFETY: setrlimit and signal are async-signal-safe, and nothing else runs between
    // fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: LIMIT, rlim_max: libc::RLIM_INFINITY };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start kabar run");
    let storage_errors = || daemon_log(&setup).lines().filter(|l| l.contains("kind=storage")).count();
    // Feeds whose poll failed with a storage error: every one of them, not just log lines.
    let failing_feeds = || {
        let log = daemon_log(&setup);
        (0..FEEDS)
            .filter(|f| log.lines().any(|l| l.contains("kind=storage") && l.contains(&format!("feed=f{f} "))))
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(60), || failing_feeds() == FEEDS),
        "no storage errors; database {} bytes; log:\n{}",
        std::fs::metadata(setup.file()).map(|m| m.len()).unwrap_or(0),
        daemon_log(&setup)
    );
    assert!(child.try_wait().unwrap().is_none(), "the daemon exited on a full disk:\n{}", daemon_log(&setup));
    let full_guids = stored_guids(&setup);
    let when_full = full_guids.len();
    assert!(when_full > 0 && when_full % ITEMS == 0, "{when_full} rows: a poll stored by halves");

    // Room again: the same polls go through, with nothing lost or doubled.
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: prlimit on our own child, with a valid limit and no old-limit pointer.
    let raised =
        unsafe { libc::prlimit(child.id() as libc::pid_t, libc::RLIMIT_FSIZE, &unlimited, std::ptr::null_mut()) };
    assert_eq!(raised, 0, "{}", std::io::Error::last_os_error());
    assert!(
        wait_for(Duration::from_secs(30), || stored_rows(&setup) >= when_full + FEEDS * ITEMS),
        "ingest did not resume: {} rows, {when_full} when full; log:\n{}",
        stored_rows(&setup),
        daemon_log(&setup)
    );
    terminate(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", daemon_log(&setup));
    assert!(integrity_ok(&setup.database()));
    let guids = stored_guids(&setup);
    let rows = guids.len();
    assert_eq!(rows % ITEMS, 0, "{rows} rows: a poll stored by halves");
    // Nothing lost (every row of the full disk is still there) and nothing doubled.
    let distinct: std::collections::HashSet<&String> = guids.iter().collect();
    assert_eq!(distinct.len(), rows, "a row was stored twice");
    assert!(full_guids.iter().all(|g| distinct.contains(g)), "a row stored before the disk filled was lost");
    crate::support::figure(
        "full disk (D4)",
        &format!(
            "{FEEDS} of {FEEDS} feeds failed with storage errors ({} in all), {when_full} rows when full, {rows} at the end, none lost or doubled",
            storage_errors()
        ),
    );
}
