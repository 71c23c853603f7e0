//! Hostile and careless clients: requests, queries, configuration files and a second
//! process, each tried against the real binary. None may take kabar down, make it lie,
//! or change stored data.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::{
    Item, Server, Setup, body, daemon_log, feed_toml, free_port, get_with, http_get, kabar, ndjson, ok, raw, rss, run,
    scalar, spawn_daemon, sqlite_only, stderr, terminate, wait_for,
};

fn stop(mut child: Child) -> std::process::ExitStatus {
    terminate(&child);
    child.wait().unwrap()
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A daemon with the API on `port` over one feed, ready once the feed's articles are in.
fn api_daemon(server: &Server, items: &[Item], http: &str) -> (Setup, Child, u16) {
    let port = free_port();
    server.route("/news.xml", {
        let doc = rss("news", items);
        move |_| crate::support::Response::new(200, doc.clone())
    });
    let feeds = feed_toml("news", &server.url("/news.xml"), "interval = \"1h\"");
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{http}\n\n{feeds}"));
    let child = spawn_daemon(&setup);
    let count = items.len();
    let ready = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && {
            let (s, _, b) = http_get(port, "/api/articles?all=true&limit=1000", None);
            s == 200 && json(&b).as_array().is_some_and(|a| a.len() == count)
        }
    });
    assert!(ready, "{}", daemon_log(&setup));
    (setup, child, port)
}

fn alive(port: u16) -> bool {
    http_get(port, "/healthz", None).0 == 200
}

#[test]
fn deeply_nested_and_huge_queries_are_refused_and_the_daemon_stays_up() {
    let server = Server::start();
    let items = [Item::new("a1", "Kerja sama digital", &body("kerja sama digital", 1))];
    let (setup, child, port) = api_daemon(&server, &items, "");
    // 2,500 nested parentheses (about 15 KB of URL) aborted the daemon before.
    let deep = format!("{}digital{}", "%28".repeat(2_500), "%29".repeat(2_500));
    let (status, _, answer) = http_get(port, &format!("/api/articles?q={deep}"), None);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(json(&answer)["parameter"], "q");
    assert!(json(&answer)["error"].as_str().unwrap().contains("at most 4000 characters"), "{answer}");
    // Within the length limit, past the nesting limit: refused at the column.
    let nested = format!("{}digital{}", "%28".repeat(40), "%29".repeat(40));
    let (status, _, answer) = http_get(port, &format!("/api/articles?q={nested}"), None);
    assert_eq!(status, 400, "{answer}");
    assert!(json(&answer)["error"].as_str().unwrap().contains("column 33: expected at most 32 levels"), "{answer}");
    // `"kerja sama"` 2,000 times took 17 s and 1.6 GB.
    let long = "%22kerja%20sama%22%20".repeat(2_000);
    assert_eq!(http_get(port, &format!("/api/articles?q={long}"), None).0, 414, "a 40 KB target");
    let many = "%22kerja%20sama%22%20".repeat(300);
    let (status, _, answer) = http_get(port, &format!("/api/articles?q={many}"), None);
    assert_eq!(status, 400, "{answer}");
    assert!(json(&answer)["error"].as_str().unwrap().contains("at most 200 words"), "{answer}");
    assert!(alive(port), "{}", daemon_log(&setup));
    // The CLI and `check` refuse as clearly, without aborting.
    let o = run(&setup.config, &["search", &format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000))]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("at most 4000 characters"), "{}", stderr(&o));
    let deep_topic = format!("[[topics]]\nname = \"t\"\nquery = '{}a{}'\n", "(".repeat(1_000), ")".repeat(1_000));
    let bad = Setup::new(&deep_topic);
    let o = run(&bad.config, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("levels of nesting"), "{}", stderr(&o));
    assert!(stop(child).success());
}

#[test]
fn code_in_item_links_never_reaches_a_link() {
    let server = Server::start();
    let hostile = Item {
        link: Some("javascript:alert(document.domain)//".into()),
        ..Item::new(
            "j1",
            "Tautan berbahaya",
            "<p>Berita lengkap <a href=\"#more\">di sini</a> dan <a href=\"/lain\">lain</a> untuk pembaca.</p>",
        )
    };
    let data = Item { link: Some("data:text/html;base64,PHNjcmlwdD4=".into()), ..Item::new("d1", "Data", "Isi.") };
    let script = Item { link: Some("vbscript:msgbox(1)".into()), ..Item::new("v1", "VB", "Isi lain.") };
    let (setup, child, port) = api_daemon(&server, &[hostile, data, script], "");
    let rows = json(&http_get(port, "/api/articles?all=true", None).2);
    for row in rows.as_array().unwrap() {
        assert_eq!(row["url"], serde_json::Value::Null, "{row}");
        let (_, _, detail) = http_get(port, &format!("/api/articles/{}", row["id"]), None);
        for bad in ["javascript:", "vbscript:", "data:", "#more", "\"/lain\""] {
            assert!(!detail.contains(bad), "{bad} reached {detail}");
        }
    }
    let listed = ok(&setup.config, &["search", "--all", "--format", "ndjson"]);
    assert!(ndjson(&listed).iter().all(|r| r["url"].is_null()), "{listed}");
    assert!(stop(child).success());
}

#[test]
fn code_links_stay_out_of_topic_feeds() {
    let server = Server::start();
    let hostile = Item {
        link: Some("javascript:alert(document.domain)//".into()),
        ..Item::new("j1", "Tautan digital", "<p>Kerja sama <a href=\"#more\">digital</a> di sini.</p>")
    };
    let (setup, child, port) = api_daemon(&server, &[hostile], "\n[[topics]]\nname = \"digital\"\nquery = 'digital'\n");
    let (status, _, atom) = http_get(port, "/topics/digital.atom", None);
    assert_eq!(status, 200, "{atom}");
    assert!(atom.contains("Tautan digital"), "{atom}");
    assert!(!atom.contains("javascript:") && !atom.contains("rel=\"alternate\""), "{atom}");
    assert!(!atom.contains("#more"), "{atom}");
    assert!(stop(child).success());
    drop(setup);
}

#[test]
fn requests_outside_the_api_get_json_errors() {
    let server = Server::start();
    let items = [Item::new("a1", "Kerja sama digital", &body("kerja sama digital", 1))];
    let (setup, child, port) = api_daemon(&server, &items, "hosts = [\"kabar.example.org\"]");
    let error = |(status, _, body): (u16, _, String), want: u16| {
        assert_eq!(status, want, "{body}");
        let v = json(&body);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        v
    };
    // Invalid UTF-8 in the path, a long target, large headers, other methods, bodies.
    error(
        raw(
            port,
            format!("GET /api/articles/%FF%FE HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        400,
    );
    error(
        raw(
            port,
            format!("GET /api/articles?q=%FF HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        400,
    );
    error(get_with(port, &format!("/api/articles?q={}", "a".repeat(20_000)), ""), 414);
    error(get_with(port, "/api/feeds", &format!("X-Filler: {}\r\n", "b".repeat(40_000))), 431);
    let post = format!(
        "POST /api/feeds HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    error(raw(port, post.as_bytes()), 405);
    let body = format!(
        "GET /api/feeds HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    error(raw(port, body.as_bytes()), 413);
    // Host names: loopback names and addresses and the configured name answer; a
    // rebinding page's own name does not.
    for host in ["localhost", "127.0.0.1", "[::1]", "kabar.example.org", "KABAR.example.org."] {
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw(port, request.as_bytes()).0, 200, "{host}");
    }
    let rebinding = format!("GET /api/articles HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n");
    let v = error(raw(port, rebinding.as_bytes()), 421);
    assert!(v["error"].as_str().unwrap().contains("[http] hosts"));
    // Another site's page: by Origin or by the browser's Sec-Fetch-Site.
    error(get_with(port, "/api/articles", "Origin: https://attacker.example\r\n"), 403);
    error(get_with(port, "/api/articles", "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: cors\r\n"), 403);
    assert_eq!(get_with(port, "/api/articles", &format!("Origin: http://127.0.0.1:{port}\r\n")).0, 200);
    assert_eq!(get_with(port, "/healthz", "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\n").0, 200);
    // Unknown filters name themselves instead of answering nothing.
    let v = error(http_get(port, "/api/articles?topic=nosuch", None), 400);
    assert_eq!(v["parameter"], "topic");
    let v = error(http_get(port, "/api/articles?feed=nosuch", None), 400);
    assert_eq!(v["parameter"], "feed");
    let v = error(http_get(port, "/api/articles?since=99999999d", None), 400);
    assert_eq!(v["parameter"], "since");
    assert!(alive(port));
    assert!(stop(child).success());
    // The CLI names them the same way, with exit code 1 (the age panicked before).
    for (args, needle) in [
        (&["search", "--since", "99999999d"][..], "reaches back past any date"),
        (&["search", "--topic", "nosuch"][..], "unknown topic \"nosuch\""),
        (&["search", "--feed", "nosuch"][..], "unknown feed \"nosuch\""),
    ] {
        let o = run(&setup.config, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_token_is_compared_whatever_the_case_of_its_scheme() {
    let server = Server::start();
    let items = [Item::new("a1", "Satu", &body("satu", 1))];
    let token = "0123456789abcdef0123";
    let port = free_port();
    server.route("/news.xml", {
        let doc = rss("news", &items);
        move |_| crate::support::Response::new(200, doc.clone())
    });
    let feeds = feed_toml("news", &server.url("/news.xml"), "interval = \"1h\"");
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{token}\"\n\n{feeds}"));
    let child = spawn_daemon(&setup);
    assert!(wait_for(Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(get_with(port, "/api/feeds", &format!("Authorization: {scheme} {token}\r\n")).0, 200, "{scheme}");
    }
    for given in ["0123456789abcdef012", "0123456789abcdef01234", "", "0123456789abcdef0124"] {
        assert_eq!(get_with(port, "/api/feeds", &format!("Authorization: Bearer {given}\r\n")).0, 401, "{given:?}");
    }
    assert_eq!(get_with(port, "/api/feeds", &format!("Authorization: Basic {token}\r\n")).0, 401);
    assert!(stop(child).success());
    // A token that no header can carry is refused by `check`.
    let bad = Setup::new("[http]\nlisten = \"127.0.0.1:8787\"\ntoken = \"ééééééééééééééééé\"\n");
    let o = run(&bad.config, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("printable ASCII"), "{}", stderr(&o));
}

#[test]
fn searches_are_capped_budgeted_and_stopped_when_their_client_goes() {
    let server = Server::start();
    let items: Vec<Item> =
        (0..30).map(|i| Item::new(&format!("s{i}"), &format!("Berita {i}"), &body("berita", i))).collect();
    let port = free_port();
    server.route("/news.xml", {
        let doc = rss("news", &items);
        move |_| crate::support::Response::new(200, doc.clone())
    });
    let feeds = feed_toml("news", &server.url("/news.xml"), "interval = \"1h\"");
    let setup = Setup::new(&format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\nmax_searches = 1\nsearch_timeout = \"2s\"\n\n{feeds}"
    ));
    // Each article a search reads takes 500 ms: 30 articles would take 15 s.
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).unwrap();
    let child = kabar()
        .arg("--config")
        .arg(&setup.config)
        .arg("run")
        .env("KABAR_FAULT", "slow-search:500")
        .env("KABAR_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok() && {
                let (s, _, b) = http_get(port, "/api/feeds", None);
                s == 200 && json(&b)[0]["articles"] == 30
            }
        }),
        "{}",
        daemon_log(&setup)
    );
    // The budget: stopped after 2 s with a clear error, not 15 s.
    let started = Instant::now();
    let (status, _, answer) = http_get(port, "/api/articles?q=berita&all=1&limit=1000", None);
    let took = started.elapsed();
    assert_eq!(status, 503, "{answer}");
    assert!(json(&answer)["error"].as_str().unwrap().contains("time budget"), "{answer}");
    assert!(took < Duration::from_secs(5), "the search ran {took:?}");
    // The cap: a second search while one runs is refused at once, with Retry-After.
    let first = std::thread::spawn(move || http_get(port, "/api/articles?q=berita&all=1&limit=1000", None).0);
    std::thread::sleep(Duration::from_millis(600));
    let (status, headers, answer) = http_get(port, "/api/articles?q=berita", None);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(headers.get("retry-after").map(String::as_str), Some("1"));
    assert!(json(&answer)["error"].as_str().unwrap().contains("too many searches"));
    assert_eq!(first.join().unwrap(), 503);
    // Cancellation: a client that goes away frees its slot within a row's time.
    let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(gone, "GET /api/articles?q=berita&all=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(gone);
    let freed = wait_for(Duration::from_millis(1_500), || daemon_log(&setup).contains("its client went away"));
    assert!(freed, "{}", daemon_log(&setup));
    assert_eq!(http_get(port, "/api/articles?limit=1", None).0, 200, "the slot was not freed");
    assert!(stop(child).success());
}

#[test]
fn slow_clients_cannot_crowd_out_requests() {
    let server = Server::start();
    let items = [Item::new("a1", "Satu", &body("satu", 1))];
    let (setup, child, port) = api_daemon(&server, &items, "max_connections = 16");
    // Twice the cap in half-open requests: headers that never end, and idle keep-alives.
    let mut hogs = Vec::new();
    for i in 0..32 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
        }
        hogs.push(s);
    }
    // A real request still gets in, quickly, every time.
    for _ in 0..10 {
        let started = Instant::now();
        assert!(alive(port), "{}", daemon_log(&setup));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    let fds = crate::support::open_fds(child.id());
    assert!(fds < 16 + 40, "{fds} descriptors open with a cap of 16 connections");
    drop(hogs);
    // A head that never ends is closed when its time is up (10 s), cap or no cap.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = slow.read(&mut buf);
    let took = started.elapsed();
    assert!(matches!(read, Ok(0)) || read.is_err(), "the server answered a head that never ended: {read:?}");
    assert!(took > Duration::from_secs(8) && took < Duration::from_secs(13), "closed after {took:?}");
    assert!(stop(child).success());
}

#[test]
fn a_second_writer_is_refused_and_names_the_first() {
    if sqlite_only("one writer per database file (PostgreSQL takes a fleet of writers)") {
        return;
    }
    let server = Server::start();
    let doc = rss("a", &[Item::new("a1", "Satu", &body("satu", 1))]);
    server.route("/a.xml", move |_| crate::support::Response::new(200, doc.clone()));
    let setup = Setup::new(&feed_toml("a", &server.url("/a.xml"), "interval = \"1h\""));
    // Two daemons started at once on a new database: exactly one runs.
    let spawn = |name: &str| {
        let log = std::fs::File::create(setup.dir.path().join(name)).unwrap();
        let null = std::process::Stdio::null();
        kabar().arg("--config").arg(&setup.config).arg("run").stdout(null).stderr(log).spawn().unwrap()
    };
    let (mut one, mut two) = (spawn("one.log"), spawn("two.log"));
    let exited =
        wait_for(Duration::from_secs(20), || one.try_wait().unwrap().is_some() || two.try_wait().unwrap().is_some());
    assert!(exited, "neither daemon refused");
    let (mut running, loser, loser_log) = match one.try_wait().unwrap() {
        Some(status) => (two, status, "one.log"),
        None => (one, two.try_wait().unwrap().unwrap(), "two.log"),
    };
    let refused = std::fs::read_to_string(setup.dir.path().join(loser_log)).unwrap();
    assert_eq!(loser.code(), Some(1), "{refused}");
    assert!(refused.contains(&format!("pid {}", running.id())), "{refused}");
    assert!(!refused.contains("already exists"), "{refused}");
    // `kabar fetch` beside it refuses too, and stores nothing.
    assert!(wait_for(Duration::from_secs(10), || server.hits("/a.xml") >= 1));
    let hits = server.hits("/a.xml");
    let o = run(&setup.config, &["fetch"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("in use by another writer") && stderr(&o).contains("run"), "{}", stderr(&o));
    assert_eq!(server.hits("/a.xml"), hits, "the refused fetch polled");
    // Readers are welcome meanwhile.
    assert_eq!(ndjson(&ok(&setup.config, &["search", "--format", "ndjson"])).len(), 1);
    terminate(&running);
    assert!(running.wait().unwrap().success());
    // Once it is gone, the database is free again.
    let fetched = ok(&setup.config, &["fetch"]);
    assert!(fetched.contains("1 feed: 1 ok"), "{fetched}");
}

#[test]
fn a_database_path_that_is_a_folder_is_named_as_such() {
    if sqlite_only("a database file") {
        return;
    }
    let setup = Setup::new("");
    std::fs::create_dir(setup.file()).unwrap();
    for args in [&["fetch"][..], &["search"][..]] {
        let o = run(&setup.config, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains("is a folder, not a database file"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn bad_durations_and_schedules_are_refused_by_check() {
    let cases = [
        ("interval = \"18446744073709551615s\"", "at most 366d"),
        ("interval = \"1s\"", "at least 5s"),
        ("interval = \"400d\"", "at most 366d"),
        ("cron = \"0 0 31 2 *\"", "never fires"),
        ("cron = \"* * * * * *\"", "more often than every 5s"),
    ];
    for (schedule, needle) in cases {
        let setup = Setup::raw(&format!(
            "[schedule]\nmin_interval = \"5s\"\n\n{}",
            feed_toml("a", "https://e.org/feed", schedule)
        ));
        let o = run(&setup.config, &["check"]);
        assert_eq!(o.status.code(), Some(1), "{schedule}: {}", crate::support::stdout(&o));
        assert!(stderr(&o).contains(needle), "{schedule}: {}", stderr(&o));
    }
    // The floor by default: one second (170 polls in 8 s were accepted before).
    let setup = Setup::raw(&feed_toml("a", "https://e.org/feed", "interval = \"1ns\""));
    let o = run(&setup.config, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("at least 1s"), "{}", stderr(&o));
    let setup =
        Setup::raw(&format!("[storage]\nkeep_fetches = \"999999999999d\"\n{}", feed_toml("a", "https://e.org/", "")));
    assert_eq!(run(&setup.config, &["check"]).status.code(), Some(1));
}

#[test]
fn a_fifo_a_device_or_a_folder_is_not_read_as_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for path in [fifo.as_path(), std::path::Path::new("/dev/zero"), dir.path()] {
        let started = Instant::now();
        let o = kabar().arg("--config").arg(path).arg("check").output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", path.display());
        assert!(stderr(&o).contains("not a regular file"), "{}: {}", path.display(), stderr(&o));
        assert!(started.elapsed() < Duration::from_secs(5), "{}: {:?}", path.display(), started.elapsed());
    }
    let big = dir.path().join("big.toml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(65 << 20).unwrap();
    let o = kabar().arg("--config").arg(&big).arg("check").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("at most"), "{}", stderr(&o));
}

#[test]
fn a_reload_from_a_fifo_leaves_the_scheduler_polling() {
    let server = Server::start();
    let doc = rss("a", &[Item::new("a1", "Satu", &body("satu", 1))]);
    server.route("/a.xml", move |_| crate::support::Response::new(200, doc.clone()));
    let setup = Setup::new(&feed_toml("a", &server.url("/a.xml"), "interval = \"1s\""));
    let child = spawn_daemon(&setup);
    assert!(wait_for(Duration::from_secs(15), || server.hits("/a.xml") >= 2), "{}", daemon_log(&setup));
    // The configuration file becomes a FIFO nobody writes, then SIGHUP, many times.
    std::fs::remove_file(&setup.config).unwrap();
    let c = std::ffi::CString::new(setup.config.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for _ in 0..20 {
        // SAFETY: kill(2) on our child with a valid signal.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = server.hits("/a.xml");
    assert!(
        wait_for(Duration::from_secs(10), || server.hits("/a.xml") >= before + 3),
        "the scheduler stopped: {}",
        daemon_log(&setup)
    );
    assert!(daemon_log(&setup).contains("not a regular file"), "{}", daemon_log(&setup));
    let started = Instant::now();
    assert!(stop(child).success());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn polls_in_flight_never_underflow_after_a_storm_of_reloads() {
    let server = Server::start();
    let doc = rss("s", &[Item::new("s1", "Satu", &body("satu", 1))]);
    server.route("/f.xml", move |_| crate::support::Response::new(200, doc.clone()));
    let port = free_port();
    let feeds: String =
        (0..40).map(|i| feed_toml(&format!("f{i}"), &server.url("/f.xml"), "interval = \"1s\"")).collect();
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n\n{feeds}"));
    let child = spawn_daemon(&setup);
    assert!(wait_for(Duration::from_secs(15), || server.hits("/f.xml") >= 80), "{}", daemon_log(&setup));
    // Reloads that remove and re-add 39 feeds while their polls come and go: a removed
    // feed's poll that had just finished was counted out twice before.
    let full = std::fs::read_to_string(&setup.config).unwrap();
    let one = format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n\n{}",
        feed_toml("f0", &server.url("/f.xml"), "interval = \"1s\"")
    );
    let one = full.split("[http]").next().unwrap().to_string() + &one;
    for i in 0..80 {
        std::fs::write(&setup.config, if i % 2 == 0 { &one } else { &full }).unwrap();
        // SAFETY: kill(2) on our child with a valid signal.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(40));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (_, _, metrics) = http_get(port, "/metrics", None);
    let in_flight: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kabar_polls_in_flight "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(in_flight <= 40.0, "polls in flight: {in_flight}");
    assert!(stop(child).success());
}

#[test]
fn the_fetch_log_is_pruned_to_its_retention() {
    let server = Server::start();
    let doc = rss("a", &[Item::new("a1", "Satu", &body("satu", 1))]);
    server.route("/a.xml", move |_| crate::support::Response::new(200, doc.clone()));
    let setup = Setup::raw(&format!(
        "[storage]\ndatabase = \"kabar.db\"\nkeep_fetches = \"2s\"\n\n{}",
        feed_toml("a", &server.url("/a.xml"), "")
    ));
    let count = |db: &kabar::config::Database| scalar(db, "SELECT count(*) FROM fetches");
    ok(&setup.config, &["fetch"]);
    ok(&setup.config, &["fetch"]);
    assert_eq!(count(&setup.database()), 2);
    std::thread::sleep(Duration::from_millis(3_100));
    ok(&setup.config, &["fetch"]);
    assert_eq!(count(&setup.database()), 1, "the two polls older than 2 s were kept");
}

#[test]
fn check_is_linear_in_the_number_of_feeds() {
    let mut text = String::with_capacity(100_000 * 80);
    for i in 0..100_000 {
        text.push_str(&format!("[[feeds]]\nname = \"f{i}\"\nurl = \"https://e{}.example/feed\"\n", i % 997));
    }
    text.push_str("[[feeds]]\nname = \"f5\"\nurl = \"https://e.example/dup\"\n");
    let started = Instant::now();
    let e = kabar::config::parse(&text, std::path::Path::new("big.toml")).unwrap_err();
    let took = started.elapsed();
    assert!(e.to_string().contains("feed name \"f5\" is used twice"), "{e}");
    // 100,000 feeds took 15.6 s (quadratic); linear, they take well under a second in
    // a release build. This bound only catches the quadratic case in a debug build.
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_reader_without_write_access_to_the_folder_still_reads() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to read as another user");
        return;
    }
    if sqlite_only("a database file's permissions") {
        return;
    }
    let server = Server::start();
    let doc = rss("a", &[Item::new("a1", "Satu", &body("satu", 1))]);
    server.route("/a.xml", move |_| crate::support::Response::new(200, doc.clone()));
    let setup = Setup::new(&feed_toml("a", &server.url("/a.xml"), ""));
    ok(&setup.config, &["fetch"]);
    let db = setup.file();
    assert!(!kabar::store::wal_path(&db).exists(), "fetch left its log behind");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read(&db).unwrap();
    // Read as nobody: the folder and the file readable, neither writable.
    let o = kabar()
        .arg("--config")
        .arg(&setup.config)
        .args(["search", "--format", "ndjson"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ndjson(&String::from_utf8_lossy(&o.stdout)).len(), 1);
    assert_eq!(std::fs::read(&db).unwrap(), before);
}
