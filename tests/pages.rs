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

#[test]
fn teasers_get_their_pages_read_and_their_stories_decided_again() {
    let server = Server::start();
    let wire = rss(
        "Wire",
        &[teaser(
            "w1",
            "Indonesia dan India memperkuat kerjasama strategis di sektor digital",
            "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital…",
            server.url("/berita/1"),
        )],
    );
    let aggregator = rss(
        "Aggregator",
        &[
            teaser(
                "a1",
                "RI-India teken nota kesepahaman",
                "Kedua negara meneken nota kesepahaman di New Delhi. Selengkapnya",
                server.url("/2025/01/26/ri-india/"),
            ),
            teaser("a2", "Halaman yang hilang", "Ringkasan singkat…", server.url("/gone")),
            teaser("a3", "Bukan halaman", "Ringkasan singkat lain…", server.url("/file.pdf")),
        ],
    );
    server.route("/wire.xml", move |_| Response::new(200, wire.clone()));
    server.route("/agg.xml", move |_| Response::new(200, aggregator.clone()));
    server.route("/berita/1", |_| Response::new(200, WIRE).header("Content-Type", "text/html; charset=utf-8"));
    server.route("/2025/01/26/ri-india/", |_| Response::new(200, AGGREGATOR).header("Content-Type", "text/html"));
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
