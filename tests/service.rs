//! The system service: the HTTP API, topic Atom feeds, reload, alerts, systemd
//! notifications, the unit file and OPML.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{
    Item, Response, Server, Setup, body, daemon_log, feed_toml, free_port, http_get, ndjson, ok, rss, run,
    spawn_daemon, stderr, terminate, wait_for,
};

const TOPIC: &str = r#"
[[topics]]
name = "digital"
description = "Digital cooperation"
query = '(digital* OR siber) NEAR/10 ("kerja sama" OR kemitraan OR partnership)'
"#;

fn stop(mut child: Child) {
    terminate(&child);
    let _ = child.wait();
}

/// A wire story and its copy under a tracking URL, plus a story with hostile HTML. The
/// copy's feed answers only once the wire's two articles are stored in the database
/// `wire_first` names (set it once the setup exists), so the wire's story is always the
/// first copy.
fn news_server() -> (Server, Arc<std::sync::OnceLock<kabar::config::Database>>) {
    let server = Server::start();
    let wire = rss(
        "wire",
        &[
            Item::new("d1", "Indonesia dan India perkuat kerja sama digital", &body("kerja sama digital", 1)),
            Item::new(
                "x1",
                "Harga cabai naik",
                "<p onclick=\"steal()\">Harga cabai <script>alert(1)</script><a href=\"javascript:alert(2)\">naik</a> \
                 <a href=\"/berita/2\">lagi</a> di pasar induk pekan ini menurut pedagang setempat di Jakarta.</p>",
            ),
        ],
    );
    let copy = rss(
        "copy",
        &[Item {
            link: Some("https://news.example/d1?utm_source=copy".into()),
            ..Item::new("c1", "RI-India kerja sama digital", "Ringkasan.")
        }],
    );
    server.feed_with_etag("/wire.xml", wire, "\"w\"");
    let db: Arc<std::sync::OnceLock<kabar::config::Database>> = Arc::default();
    let wire_first = db.clone();
    server.route("/copy.xml", move |_| {
        let stored = wait_for(Duration::from_secs(15), || wire_first.get().is_some_and(wire_stored));
        assert!(stored, "the wire's articles were never stored");
        Response::new(200, copy.clone())
    });
    (server, db)
}

/// Whether the wire feed's two articles are in the database.
fn wire_stored(db: &kabar::config::Database) -> bool {
    let rows = crate::support::text_pairs(
        db,
        "SELECT a.guid, f.name FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE f.name = 'wire'",
    );
    rows.is_some_and(|r| r.len() >= 2)
}

fn api_setup(server: &Server, port: u16, extra: &str) -> Setup {
    let feeds = [
        feed_toml("wire", &server.url("/wire.xml"), "interval = \"1h\""),
        feed_toml("copy", &server.url("/copy.xml"), "interval = \"1h\""),
    ]
    .concat();
    Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n{feeds}\n{TOPIC}"))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn the_http_api_answers_every_endpoint_and_refuses_bad_parameters() {
    let (server, wire_first) = news_server();
    let port = free_port();
    let setup = api_setup(&server, port, "");
    let _ = wire_first.set(setup.database());
    let child = spawn_daemon(&setup);
    let ready = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && server.hits("/copy.xml") >= 1
            && server.hits("/wire.xml") >= 1
    }) && wait_for(Duration::from_secs(10), || {
        let (s, _, b) = http_get(port, "/api/articles?all=true", None);
        s == 200 && json(&b).as_array().is_some_and(|a| a.len() == 3)
    });
    assert!(ready, "{}", daemon_log(&setup));

    // Health, headers.
    let (status, headers, body) = http_get(port, "/healthz", None);
    assert_eq!(status, 200);
    assert_eq!(json(&body)["status"], "ok");
    assert_eq!(headers.get("x-content-type-options").map(String::as_str), Some("nosniff"));
    assert!(headers.get("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));

    // Articles: one row per story by default, the query language, every copy on request.
    let stories = json(&http_get(port, "/api/articles", None).2);
    assert_eq!(stories.as_array().unwrap().len(), 2);
    let story = stories.as_array().unwrap().iter().find(|s| s["sources"] == 2).expect("the copied story");
    assert_eq!(story["topics"], serde_json::json!(["digital"]));
    let hits = json(&http_get(port, "/api/articles?q=%22kerja%20sama%22%20NEAR%2F3%20digital&all=1", None).2);
    assert_eq!(hits.as_array().unwrap().len(), 2);
    for (query, parameter) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("since=last%20tuesday", "since"),
        ("until=2025-13-45", "until"),
        ("q=digital%20AND%20(kerja", "q"),
        ("all=maybe", "all"),
    ] {
        let (status, _, body) = http_get(port, &format!("/api/articles?{query}"), None);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(json(&body)["parameter"], parameter, "{query}: {body}");
    }
    let (status, _, body) = http_get(port, "/api/articles?colour=red", None);
    assert_eq!(status, 400);
    assert!(json(&body)["error"].as_str().unwrap().contains("unknown parameter"));

    // One article, with its HTML sanitised.
    let all = json(&http_get(port, "/api/articles?all=true&limit=10", None).2);
    let hostile = all.as_array().unwrap().iter().find(|a| a["title"] == "Harga cabai naik").unwrap();
    let (status, _, body) = http_get(port, &format!("/api/articles/{}", hostile["id"]), None);
    assert_eq!(status, 200);
    let detail = json(&body);
    let html = detail["html"].as_str().unwrap();
    for bad in ["<script", "onclick", "javascript:"] {
        assert!(!html.contains(bad), "{bad} survived: {html}");
    }
    assert!(html.contains("href=\"https://news.example/berita/2\""), "{html}");
    assert_eq!(http_get(port, "/api/articles/abc", None).0, 400);
    assert_eq!(http_get(port, "/api/articles/999999", None).0, 404);
    assert_eq!(http_get(port, "/nowhere", None).0, 404);

    // Feeds and topics.
    let feeds = json(&http_get(port, "/api/feeds", None).2);
    assert_eq!(feeds.as_array().unwrap().len(), 2);
    let topics = json(&http_get(port, "/api/topics", None).2);
    assert_eq!(topics[0]["name"], "digital");
    assert_eq!(topics[0]["all"], 1);

    // The topic's Atom feed: one entry per story, parseable by feed-rs, sanitised.
    let (status, headers, atom) = http_get(port, "/topics/digital.atom", None);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("application/atom+xml"));
    let parsed = feed_rs::parser::parse(atom.as_bytes()).expect("the Atom feed parses");
    assert_eq!(parsed.entries.len(), 1, "one entry per story: {atom}");
    assert_eq!(parsed.entries[0].title.as_ref().unwrap().content, "Indonesia dan India perkuat kerja sama digital");
    assert!(atom.contains("2 sources carry this story"), "{atom}");
    assert_eq!(http_get(port, "/topics/nosuch.atom", None).0, 404);

    // Metrics.
    let (status, _, metrics) = http_get(port, "/metrics", None);
    assert_eq!(status, 200);
    for needle in [
        "kabar_fetches_total{feed=\"wire\",result=\"ok\"} 1",
        "kabar_topic_hits_total{topic=\"digital\"} 2",
        "kabar_database_bytes",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    // The daemon has written, so its log is there (it is emptied only at exit).
    // (PostgreSQL's server keeps its own log: there, the database's size is what it reports.)
    let gauge = if crate::support::on_postgres() { "kabar_database_bytes " } else { "kabar_wal_bytes " };
    let bytes = metrics.lines().find_map(|l| l.strip_prefix(gauge)).map(|v| v.parse::<f64>().unwrap());
    assert!(bytes.is_some_and(|b| b > 0.0), "{gauge}{bytes:?}:\n{metrics}");
    let writes =
        metrics.lines().find_map(|l| l.strip_prefix("kabar_write_seconds_count ")).map(|v| v.parse::<u64>().unwrap());
    assert!(writes.is_some_and(|n| n > 0), "kabar_write_seconds_count {writes:?}:\n{metrics}");
    stop(child);
}

#[test]
fn a_token_guards_the_api() {
    let (server, wire_first) = news_server();
    let port = free_port();
    let setup = api_setup(&server, port, "token = \"0123456789abcdef0123\"");
    let _ = wire_first.set(setup.database());
    let child = spawn_daemon(&setup);
    assert!(wait_for(Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));
    let (status, headers, body) = http_get(port, "/api/feeds", None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(headers.get("x-content-type-options").map(String::as_str), Some("nosniff"));
    assert_eq!(http_get(port, "/api/feeds", Some("wrong-token-wrong-token")).0, 401);
    assert_eq!(http_get(port, "/api/feeds", Some("0123456789abcdef0123")).0, 200);
    stop(child);
    // A non-loopback address without a token is refused by `check`.
    let open = Setup::new("[http]\nlisten = \"0.0.0.0:8787\"\n");
    let o = run(&open.config, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("needs http.token"), "{}", stderr(&o));
}

#[test]
fn reload_applies_a_valid_configuration_and_keeps_the_old_one_otherwise() {
    let server = Server::start();
    for name in ["a", "b"] {
        let doc = rss(name, &[Item::new(&format!("{name}1"), &format!("Story {name}"), &body(name, 1))]);
        server.feed_with_etag(&format!("/{name}.xml"), doc, &format!("\"{name}\""));
    }
    let setup = Setup::new(&feed_toml("a", &server.url("/a.xml"), "interval = \"1s\""));
    let child = spawn_daemon(&setup);
    assert!(wait_for(Duration::from_secs(15), || server.hits("/a.xml") >= 2), "{}", daemon_log(&setup));

    // Invalid: an unknown key. The daemon keeps polling on the old configuration.
    let good = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(&setup.config, format!("{good}\nintervall = \"5m\"\n")).unwrap();
    let before = server.hits("/a.xml");
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGHUP);
    }
    assert!(
        wait_for(Duration::from_secs(10), || daemon_log(&setup).contains("reload failed")),
        "{}",
        daemon_log(&setup)
    );
    assert!(wait_for(Duration::from_secs(10), || server.hits("/a.xml") >= before + 2), "the old feed set stopped");
    assert_eq!(server.hits("/b.xml"), 0);

    // Valid: feed a removed, feed b added.
    let new = good.replace(
        &feed_toml("a", &server.url("/a.xml"), "interval = \"1s\""),
        &feed_toml("b", &server.url("/b.xml"), "interval = \"1s\""),
    );
    assert!(new.contains("/b.xml") && !new.contains("/a.xml"));
    std::fs::write(&setup.config, new).unwrap();
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGHUP);
    }
    assert!(wait_for(Duration::from_secs(10), || server.hits("/b.xml") >= 1), "{}", daemon_log(&setup));
    assert!(daemon_log(&setup).contains("configuration reloaded"));
    let a_after = server.hits("/a.xml");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(server.hits("/a.xml"), a_after, "a removed feed was fetched after the reload");
    assert!(server.hits("/b.xml") >= 2, "the added feed keeps its schedule");
    stop(child);
    // Its articles stay.
    let rows = ndjson(&ok(&setup.config, &["search", "--format", "ndjson"]));
    assert!(rows.iter().any(|r| r["feed"] == "a") && rows.iter().any(|r| r["feed"] == "b"));
}

/// A webhook receiver that fails `fail` times, then accepts; counts accepted bodies.
fn receiver(server: &Server, fail: usize, delay: Duration) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    server.route("/hook", move |_| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(delay);
        if n < fail { Response::new(500, "not now") } else { Response::new(204, "") }
    });
    calls
}

fn accepted(server: &Server, fail: usize) -> Vec<serde_json::Value> {
    server.requests("/hook").iter().skip(fail).map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

#[test]
fn alerts_are_delivered_once_after_failures() {
    let (server, wire_first) = news_server();
    let calls = receiver(&server, 2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let (script, out) = crate::support::alert_recorder(dir.path());
    let topic = TOPIC.replace(
        "description = \"Digital cooperation\"",
        &format!("notify = {{ webhook = \"{}\", command = [\"{}\"] }}", server.url("/hook"), script.display()),
    );
    let feeds =
        [feed_toml("wire", &server.url("/wire.xml"), ""), feed_toml("copy", &server.url("/copy.xml"), "")].concat();
    let setup = Setup::new(&format!("{feeds}\n{topic}"));
    let _ = wire_first.set(setup.database());
    let child = spawn_daemon(&setup);
    // Two failures then success: 1 s and 2 s of backoff.
    let delivered = wait_for(Duration::from_secs(20), || calls.load(Ordering::SeqCst) >= 3);
    // Longer than the next step of the backoff (4 s), so a wrong retry would show.
    std::thread::sleep(Duration::from_secs(5));
    stop(child);
    assert!(delivered, "{}", daemon_log(&setup));
    // The attempts were spaced by the backoff: about 1 s, then about 2 s (times are
    // whole seconds and the outbox is read once a second, hence the slack).
    let at: Vec<std::time::Instant> = server.requests("/hook").iter().map(|r| r.at).collect();
    let gaps: Vec<f64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    assert!(gaps.len() == 2 && (0.5..2.6).contains(&gaps[0]) && (1.5..3.6).contains(&gaps[1]), "gaps {gaps:?}");
    assert!(gaps[1] > gaps[0], "the backoff did not grow: {gaps:?}");
    let bodies = accepted(&server, 2);
    assert_eq!(bodies.len(), 1, "the story was delivered {} times", bodies.len());
    assert_eq!(bodies[0]["topic"], "digital");
    assert_eq!(bodies[0]["article"]["title"], "Indonesia dan India perkuat kerja sama digital");
    assert!(bodies[0]["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "no further attempt after success");
    // The command got the same story once.
    let lines = crate::support::recorded_alerts(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(json(&lines[0])["article"]["title"], "Indonesia dan India perkuat kerja sama digital");
}

#[test]
fn sigterm_during_delivery_loses_no_alert() {
    let (server, wire_first) = news_server();
    // The first attempt hangs past the shutdown; the daemon must not mark it delivered.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    server.route("/hook", move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_secs(8));
        }
        Response::new(204, "")
    });
    let topic = TOPIC.replace(
        "description = \"Digital cooperation\"",
        &format!("notify = {{ webhook = \"{}\" }}", server.url("/hook")),
    );
    let feeds =
        [feed_toml("wire", &server.url("/wire.xml"), ""), feed_toml("copy", &server.url("/copy.xml"), "")].concat();
    let setup = Setup::new(&format!("{feeds}\n{topic}"));
    let _ = wire_first.set(setup.database());
    let child = spawn_daemon(&setup);
    assert!(wait_for(Duration::from_secs(20), || calls.load(Ordering::SeqCst) >= 1), "{}", daemon_log(&setup));
    stop(child);
    let child = spawn_daemon(&setup);
    let redelivered = wait_for(Duration::from_secs(20), || calls.load(Ordering::SeqCst) >= 2);
    std::thread::sleep(Duration::from_secs(2));
    stop(child);
    assert!(redelivered, "the alert was lost: {}", daemon_log(&setup));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    let (server, wire_first) = news_server();
    let setup = Setup::new(&feed_toml("wire", &server.url("/wire.xml"), "interval = \"1h\""));
    let _ = wire_first.set(setup.database());
    let socket_path = setup.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).unwrap();
    let child = crate::support::kabar()
        .arg("--config")
        .arg(&setup.config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stderr(log)
        .spawn()
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let read_until = |want: &str, seen: &mut Vec<String>| {
        let mut buf = [0u8; 4096];
        for _ in 0..50 {
            let Ok(n) = socket.recv(&mut buf) else { break };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(msg.clone());
            if msg.lines().any(|l| l == want) {
                return true;
            }
        }
        false
    };
    assert!(read_until("READY=1", &mut seen), "{seen:?}");
    assert!(seen.last().unwrap().contains("STATUS=1 feeds"), "{seen:?}");
    assert!(read_until("WATCHDOG=1", &mut seen), "{seen:?}");
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGHUP);
    }
    assert!(read_until("RELOADING=1", &mut seen), "{seen:?}");
    assert!(seen.last().unwrap().contains("MONOTONIC_USEC="), "{seen:?}");
    assert!(read_until("READY=1", &mut seen), "{seen:?}");
    terminate(&child);
    assert!(read_until("STOPPING=1", &mut seen), "{seen:?}");
    let mut child = child;
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_unit_file_verifies_and_is_confined() {
    let unit = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/kabar.service")).unwrap();
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=",
        "ExecStartPre=/usr/local/bin/kabar --config /etc/kabar/kabar.toml check",
        "StateDirectory=kabar",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        crate::support::skip_or_fail("systemd-analyze is not installed: the unit was not verified");
        return;
    }
    // verify checks that the programs exist: point the unit at the built binary.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kabar.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/kabar", env!("CARGO_BIN_EXE_kabar"))).unwrap();
    let verify =
        std::process::Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&copy).output().unwrap();
    assert!(verify.status.success() && verify.stderr.is_empty(), "{}", String::from_utf8_lossy(&verify.stderr));
    let security =
        std::process::Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&copy).output().unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for kabar.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    crate::support::figure("unit (U1)", &format!("systemd-analyze verify clean, security exposure {exposure}"));
    assert!(exposure <= 1.5, "exposure {exposure}");
}

#[test]
fn opml_round_trip() {
    let export = crate::support::fixture("feeds/subscriptions.opml");
    let setup = Setup::new(&feed_toml("existing", "https://existing.example/feed/", ""));
    let printed = ok(&setup.config, &["import-opml", export.to_str().unwrap()]);
    let entries = printed.matches("[[feeds]]").count();
    // 13 outlines with a feed: one already configured, one listed twice (imported once).
    assert_eq!(entries, 11, "{printed}");
    assert_eq!(printed.matches("https://www.antaranews.example/rss/terkini.xml").count(), 1, "{printed}");
    assert!(!printed.contains("https://existing.example/feed/"), "an already configured feed was imported again");
    // The file keeps its permissions (a token may be in it), and no temporary is left.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&setup.config, std::fs::Permissions::from_mode(0o640)).unwrap();
    ok(&setup.config, &["import-opml", "--append", export.to_str().unwrap()]);
    let mode = std::fs::metadata(&setup.config).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640, "the configuration's mode became {mode:o}");
    let folder = setup.config.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let check = ok(&setup.config, &["check"]);
    assert!(check.contains(&format!("ok ({} feeds", entries + 1)), "{check}");
    let exported = ok(&setup.config, &["export-opml"]);
    let subs = kabar::opml::read(&exported).unwrap();
    assert_eq!(subs.len(), entries + 1);
    assert!(subs.iter().any(|s| s.url == "https://www.lowy.example/the-interpreter/rss"));
    // Not OPML: a clear error, and the configuration untouched.
    let before = std::fs::read_to_string(&setup.config).unwrap();
    let feed = crate::support::fixture("parse/userland.xml");
    let o = run(&setup.config, &["import-opml", "--append", feed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not OPML"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&setup.config).unwrap(), before);
}

#[test]
fn a_frozen_writer_silences_the_watchdog() {
    let (server, wire_first) = news_server();
    let setup = Setup::new(&feed_toml("wire", &server.url("/wire.xml"), "interval = \"1h\""));
    let _ = wire_first.set(setup.database());
    let socket_path = setup.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut child = crate::support::kabar()
        .arg("--config")
        .arg(&setup.config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .env("KABAR_FAULT", "freeze-writer:3")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut pings = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(8) {
        if let Ok(n) = socket.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "WATCHDOG=1")
        {
            pings.push(start.elapsed());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(pings.iter().any(|t| *t < Duration::from_secs(3)), "no ping while the writer answered: {pings:?}");
    let last = *pings.last().unwrap();
    assert!(last < Duration::from_millis(4500), "pings went on after the writer froze: {pings:?}");
    crate::support::figure(
        "watchdog (S4)",
        &format!(
            "{} pings, the last {last:?} after start; none in the {:?} after the writer froze",
            pings.len(),
            Duration::from_secs(8) - last
        ),
    );
}
