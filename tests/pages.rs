//! Full text against real processes: a teaser feed whose links lead to article pages on
//! 127.0.0.1, through `kabar fetch`; the page's text becomes the article's, dedup and
//! topics decide again on it, and failures are recorded, not retried forever.

use crate::support::{Item, Response, Server, Setup, feed_toml, ndjson, ok, rss};

const WIRE: &str = include_str!("fixtures/pages/wire.html");
const AGGREGATOR: &str = include_str!("fixtures/pages/aggregator.html");
const PARAGRAPHS: &str = include_str!("fixtures/pages/expected-paragraphs.txt");

/// A topic only the page can flag: the teasers never name it.
const TOPICS: &str = "[[topics]]\nname = \"iot\"\nquery = '\"Internet of Things\"'\n";

fn teaser(id: &str, title: &str, text: &str, link: String) -> Item {
    Item { link: Some(link), ..Item::new(id, title, text) }
}

fn show(setup: &Setup, id: i64) -> serde_json::Value {
    serde_json::from_str(&ok(&setup.config, &["show", &id.to_string(), "--format", "json"])).unwrap()
}

/// A wire feed and an aggregator feed, each with a teaser of the seed story whose link
/// leads to its page on `server`, the aggregator's also carrying `more` items; the pages
/// are served.
fn seed_feeds(server: &Server, more: Vec<Item>) {
    let wire = rss(
        "Wire",
        &[teaser(
            "w1",
            "Indonesia dan India memperkuat kerjasama strategis di sektor digital",
            "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital…",
            server.url("/berita/1"),
        )],
    );
    let mut items = vec![teaser(
        "a1",
        "RI-India teken nota kesepahaman",
        "Kedua negara meneken nota kesepahaman di New Delhi. Selengkapnya",
        server.url("/2025/01/26/ri-india/"),
    )];
    items.extend(more);
    let aggregator = rss("Aggregator", &items);
    server.route("/wire.xml", move |_| Response::new(200, wire.clone()));
    server.route("/agg.xml", move |_| Response::new(200, aggregator.clone()));
    server.route("/berita/1", |_| Response::new(200, WIRE).header("Content-Type", "text/html; charset=utf-8"));
    server.route("/2025/01/26/ri-india/", |_| Response::new(200, AGGREGATOR).header("Content-Type", "text/html"));
}

#[test]
fn teasers_get_their_pages_read_and_their_stories_decided_again() {
    let server = Server::start();
    seed_feeds(
        &server,
        vec![
            teaser("a2", "Halaman yang hilang", "Ringkasan singkat…", server.url("/gone")),
            teaser("a3", "Bukan halaman", "Ringkasan singkat lain…", server.url("/file.pdf")),
        ],
    );
    server.route("/gone", |_| Response::new(404, "not here").header("Content-Type", "text/html"));
    server.route("/file.pdf", |_| Response::new(200, "%PDF-1.7").header("Content-Type", "application/pdf"));
    let setup = Setup::new(&format!(
        "{}{}{TOPICS}",
        feed_toml("wire", &server.url("/wire.xml"), "full_text = \"auto\""),
        feed_toml("aggregator", &server.url("/agg.xml"), "full_text = \"auto\"")
    ));
    let summary = ok(&setup.config, &["fetch"]);
    assert!(summary.contains("pages: 2 read, 2 gave no text, 0 to retry later"), "{summary}");

    let rows = ndjson(&ok(&setup.config, &["search", "--all", "--format", "ndjson"]));
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let id = |guid_title: &str| rows.iter().find(|r| r["title"] == guid_title).unwrap()["id"].as_i64().unwrap();
    let wire = show(&setup, id("Indonesia dan India memperkuat kerjasama strategis di sektor digital"));
    let copy = show(&setup, id("RI-India teken nota kesepahaman"));
    for article in [&wire, &copy] {
        assert_eq!(article["page_status"], "ok", "{article:#}");
        let text = article["text"].as_str().unwrap().replace('\u{a0}', " ");
        for para in PARAGRAPHS.lines().filter(|l| !l.is_empty()).map(|l| l.replace('\u{a0}', " ")) {
            let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(&para), "missing {para:?} in\n{text}");
        }
        for chrome in ["Terpopuler", "Kirim Komentar", "Pedoman Media Siber", "Harga cabai rawit"] {
            assert!(!text.contains(chrome), "chrome {chrome:?} in\n{text}");
        }
        assert!(article["summary"].as_str().unwrap().len() < 120, "{article:#}");
        // The topic only the page names.
        assert!(article["topic_matches"].as_array().unwrap().iter().any(|m| m["topic"] == "iot"), "{article:#}");
    }
    let shown = ok(&setup.config, &["show", &wire["id"].to_string()]);
    assert!(shown.contains("page        ok") && shown.contains("the feed's text"), "{shown}");
    // The two teasers were different stories until their pages arrived; now one.
    assert_eq!(wire["copies"].as_array().unwrap().len(), 2, "{wire:#}");
    assert_eq!(wire["copies"], copy["copies"]);
    // Final failures are recorded, and not retried.
    assert_eq!(show(&setup, id("Halaman yang hilang"))["page_status"], "http");
    assert_eq!(show(&setup, id("Bukan halaman"))["page_status"], "not_html");
    let again = ok(&setup.config, &["fetch"]);
    assert!(!again.contains("pages:"), "{again}");
    for path in ["/berita/1", "/2025/01/26/ri-india/", "/gone", "/file.pdf"] {
        assert_eq!(server.hits(path), 1, "{path} fetched again");
    }
    // Asked to, the failed pages are queued and read again (still failing); the read
    // ones are not (their extractor is current).
    let refetched = ok(&setup.config, &["refetch-pages"]);
    assert!(refetched.contains("2 pages queued; 0 read, 2 gave no text"), "{refetched}");
    assert_eq!((server.hits("/gone"), server.hits("/berita/1")), (2, 1));
}

#[test]
fn a_transient_failure_stays_queued_across_runs_and_never_is_feed_text() {
    let server = Server::start();
    let feed = rss("Wire", &[teaser("w1", "Judul", "Ringkasan singkat…", server.url("/busy"))]);
    server.route("/wire.xml", move |_| Response::new(200, feed.clone()));
    server.route("/busy", |_| Response::new(503, "try later").header("Content-Type", "text/html"));
    let setup = Setup::new(&feed_toml("wire", &server.url("/wire.xml"), "full_text = \"auto\""));
    let summary = ok(&setup.config, &["fetch"]);
    assert!(summary.contains("pages: 0 read, 0 gave no text, 1 to retry later"), "{summary}");
    let rows = ndjson(&ok(&setup.config, &["search", "--all", "--format", "ndjson"]));
    let article = show(&setup, rows[0]["id"].as_i64().unwrap());
    assert_eq!(article["page_status"], "queued");
    assert_eq!(article["text"], "Ringkasan singkat…");
    // A second run: the page is not due yet (a minute's backoff), and still queued.
    ok(&setup.config, &["fetch"]);
    assert_eq!(server.hits("/busy"), 1);
    assert_eq!(show(&setup, rows[0]["id"].as_i64().unwrap())["page_status"], "queued");
    // With full_text = "never" the feed's text is the article and no page is asked for.
    let plain = Setup::new(&feed_toml("wire", &server.url("/wire.xml"), "full_text = \"never\""));
    ok(&plain.config, &["fetch"]);
    let rows = ndjson(&ok(&plain.config, &["search", "--all", "--format", "ndjson"]));
    assert!(show(&plain, rows[0]["id"].as_i64().unwrap())["page_status"].is_null());
    assert_eq!(server.hits("/busy"), 1);
}

/// The whole path in a running daemon: two teaser feeds, their pages read, the two
/// stories become one, the topic only the pages name alerts once, `/metrics` counts the
/// pages; and a page that redirects to an internal address is refused, not fetched.
#[test]
fn a_daemon_reads_pages_joins_the_story_and_alerts_once() {
    let server = Server::start();
    seed_feeds(&server, vec![teaser("a2", "Dialihkan", "Ringkasan singkat…", server.url("/redirect"))]);
    server
        .route("/redirect", |_| Response::new(302, "").header("Location", "http://169.254.169.254/latest/meta-data/"));
    let dir = tempfile::tempdir().unwrap();
    let (script, out) = crate::support::alert_recorder(dir.path());
    let port = crate::support::free_port();
    let setup = Setup::new(&format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\n\n{}{}{TOPICS}notify = {{ command = [\"{}\"] }}\n",
        feed_toml("wire", &server.url("/wire.xml"), "full_text = \"auto\"\ninterval = \"1h\""),
        feed_toml("aggregator", &server.url("/agg.xml"), "full_text = \"auto\"\ninterval = \"1h\""),
        script.display()
    ));
    let mut child = crate::support::spawn_daemon(&setup);
    let alerted = crate::support::wait_for(std::time::Duration::from_secs(30), || {
        !crate::support::recorded_alerts(&out).is_empty()
    });
    let settled = crate::support::wait_for(std::time::Duration::from_secs(20), || {
        let (_, _, metrics) = crate::support::http_get(port, "/metrics", None);
        metrics.contains("kabar_pages_total{outcome=\"ok\"} 2") && metrics.contains("outcome=\"ssrf_blocked\"")
    });
    // Time for a second alert, were one to come.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (_, _, metrics) = crate::support::http_get(port, "/metrics", None);
    crate::support::terminate(&child);
    let _ = child.wait();
    assert!(alerted && settled, "{metrics}\n{}", crate::support::daemon_log(&setup));
    assert!(metrics.contains("kabar_page_extract_seconds_count 2"), "{metrics}");
    let lines = crate::support::recorded_alerts(&out);
    assert_eq!(lines.len(), 1, "alerted {} times: {lines:?}", lines.len());
    let alert: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(alert["topic"], "iot");
    let rows = ndjson(&ok(&setup.config, &["search", "--format", "ndjson"]));
    let stories: Vec<&serde_json::Value> = rows.iter().filter(|r| r["title"] != "Dialihkan").collect();
    assert_eq!(stories.len(), 1, "{rows:#?}");
    let redirected = rows.iter().find(|r| r["title"] == "Dialihkan").unwrap()["id"].as_i64().unwrap();
    assert_eq!(show(&setup, redirected)["page_status"], "ssrf_blocked");
}

/// The seed story as such sites publish it: a wire page, an aggregator's copy in a
/// WordPress template, the wire's English version, and beside them another story in the
/// wire's own template (the same navigation, lists, "Baca juga" widget and footer). Once
/// the pages are read the first three are one story, the English one as a translation,
/// and the neighbour stays a story of its own: shared chrome makes no copy.
#[test]
fn the_seed_story_across_templates_and_languages_is_one_story_and_its_neighbour_is_not() {
    let server = Server::start();
    let item = |id: &str, title: &str, text: &str, path: &str| teaser(id, title, text, server.url(path));
    let wire = rss(
        "Wire",
        &[
            item(
                "w1",
                "Indonesia dan India memperkuat kerjasama strategis di sektor digital",
                "Pemerintah Indonesia dan India telah membentuk kerja sama strategis…",
                "/berita/1",
            ),
            item("w2", "Harga cabai rawit naik dua kali lipat", "Harga cabai rawit di pasar induk naik…", "/berita/2"),
        ],
    );
    let english = rss(
        "Wire English",
        &[item(
            "e1",
            "Indonesia, India strengthen strategic cooperation in digital sector",
            "The governments of Indonesia and India have formed a strategic partnership…",
            "/en/1",
        )],
    );
    let aggregator = rss(
        "Aggregator",
        &[item(
            "a1",
            "RI-India teken nota kesepahaman",
            "Kedua negara meneken nota kesepahaman. Selengkapnya",
            "/agg/1",
        )],
    );
    server.route("/wire.xml", move |_| Response::new(200, wire.clone()));
    server.route("/en.xml", move |_| Response::new(200, english.clone()));
    server.route("/agg.xml", move |_| Response::new(200, aggregator.clone()));
    let html = |body: &'static str| {
        move |_: &crate::support::Request| Response::new(200, body).header("Content-Type", "text/html")
    };
    server.route("/berita/1", html(WIRE));
    server.route("/berita/2", html(include_str!("fixtures/pages/wire-other-story.html")));
    server.route("/en/1", html(include_str!("fixtures/pages/wire-en.html")));
    server.route("/agg/1", html(AGGREGATOR));
    let setup = Setup::new(
        &[
            feed_toml("wire", &server.url("/wire.xml"), "full_text = \"auto\"\nlanguage = \"id\""),
            feed_toml("wire-en", &server.url("/en.xml"), "full_text = \"auto\"\nlanguage = \"en\""),
            feed_toml("aggregator", &server.url("/agg.xml"), "full_text = \"auto\"\nlanguage = \"id\""),
        ]
        .concat(),
    );
    let summary = ok(&setup.config, &["fetch"]);
    assert!(summary.contains("pages: 4 read"), "{summary}");
    let rows = ndjson(&ok(&setup.config, &["search", "--all", "--format", "ndjson"]));
    let by_title = |t: &str| rows.iter().find(|r| r["title"].as_str().unwrap().starts_with(t)).unwrap().clone();
    let seed = by_title("Indonesia dan India");
    let english = by_title("Indonesia, India");
    let copy = by_title("RI-India");
    let neighbour = by_title("Harga cabai");
    assert_eq!(seed["story"], english["story"], "{rows:#?}");
    assert_eq!(seed["story"], copy["story"], "{rows:#?}");
    assert_ne!(neighbour["story"], seed["story"], "{rows:#?}");
    let reasons: Vec<String> = show(&setup, seed["id"].as_i64().unwrap())["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duplicate_reason"].as_str().unwrap_or("first").to_string())
        .collect();
    assert!(reasons.iter().any(|r| r == "translation"), "{reasons:?}");
    // The translation says why: the names and numbers, and the loanwords, both share.
    let copies = show(&setup, seed["id"].as_i64().unwrap())["copies"].as_array().unwrap().clone();
    let translated = copies.iter().find(|c| c["duplicate_reason"] == "translation").unwrap()["id"].as_i64().unwrap();
    let evidence = show(&setup, translated)["translation_evidence"].clone();
    let names: Vec<&str> = evidence["names"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    let words: Vec<&str> = evidence["words"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(["india", "indonesia", "hafid", "mou"].iter().all(|n| names.contains(n)), "{evidence:#}");
    assert!(
        words.contains(&"digital")
            && words.iter().any(|w| ["technology = teknologi", "teknologi = technology"].contains(w)),
        "{evidence:#}"
    );
    let shown = ok(&setup.config, &["show", &translated.to_string()]);
    assert!(shown.contains("translation of") && shown.contains("loanwords both write alike"), "{shown}");
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(show(&setup, english["id"].as_i64().unwrap())["language"], "en");
}

/// Pages that are too big, a gzip bomb, or nested 100,000 deep end in a typed status, the
/// feed's text stays the article's, and `kabar fetch` finishes.
#[test]
fn hostile_pages_end_in_a_typed_status_and_the_feed_text_stays() {
    let server = Server::start();
    let items: Vec<Item> = ["huge", "bomb", "deep"]
        .iter()
        .map(|p| teaser(p, &format!("Judul {p}"), "Ringkasan singkat…", server.url(&format!("/{p}"))))
        .collect();
    let feed = rss("Wire", &items);
    server.route("/wire.xml", move |_| Response::new(200, feed.clone()));
    let huge = format!("<html><body><p>{}</p></body></html>", "kata ".repeat(17 << 20 >> 2));
    server.route("/huge", move |_| Response::new(200, huge.clone()).header("Content-Type", "text/html"));
    let bomb = crate::hostile::gzip_bomb();
    server.route("/bomb", move |_| {
        Response::new(200, bomb.clone()).header("Content-Type", "text/html").header("Content-Encoding", "gzip")
    });
    let deep = format!("<html><body>{}<p>deep</p></body></html>", "<div>".repeat(100_000));
    server.route("/deep", move |_| Response::new(200, deep.clone()).header("Content-Type", "text/html"));
    let setup = Setup::new(&feed_toml("wire", &server.url("/wire.xml"), "full_text = \"always\""));
    let summary = ok(&setup.config, &["fetch"]);
    assert!(summary.contains("pages: 0 read, 3 gave no text, 0 to retry later"), "{summary}");
    let rows = ndjson(&ok(&setup.config, &["search", "--all", "--format", "ndjson"]));
    for (title, status) in [("Judul huge", "too_large"), ("Judul bomb", "too_large"), ("Judul deep", "too_complex")] {
        let id = rows.iter().find(|r| r["title"] == title).unwrap()["id"].as_i64().unwrap();
        let article = show(&setup, id);
        assert_eq!(article["page_status"], status, "{article:#}");
        assert_eq!(article["text"], "Ringkasan singkat…");
    }
}
