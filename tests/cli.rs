//! `kabar fetch` from a loopback server, then every listing and output format.

use crate::support::{Item, Server, Setup, body, feed_toml, ndjson, ok, rss, run, stderr, stdout};

const TOPICS: &str = r#"
[[topics]]
name = "digital-cooperation"
query = '''
(digital* OR siber OR cyber* OR "kecerdasan buatan" OR "artificial intelligence")
NEAR/15
(cooperat* OR partnership* OR MoU OR "kerja sama" OR kerjasama OR kemitraan OR "nota kesepahaman")
'''

[[topics]]
name = "health"
query = "kesehatan OR health"
"#;

fn seed() -> (String, String) {
    let seed = include_str!("fixtures/seed-article.txt");
    let (title, text) = seed.split_once('\n').unwrap();
    (title.trim().to_string(), text.to_string())
}

/// Three feeds on one server: a wire with the seed story, an aggregator with a copy
/// under a tracking URL, and one that always fails.
fn world() -> (Server, Setup) {
    let server = Server::start();
    let (title, text) = seed();
    let wire = rss(
        "ANTARA",
        &[
            Item::new("antara-1", &title, &text.replace("\n\n", "</p><p>")),
            Item::new(
                "antara-2",
                "Harga cabai naik \u{1b}[2J\u{1b}]0;pwned\u{7} menjelang Lebaran",
                &body("harga cabai", 2),
            ),
        ],
    );
    let aggregator = rss(
        "Aggregator",
        &[Item {
            link: Some("https://news.example/antara-1?utm_source=agg&fbclid=xyz".into()),
            ..Item::new("agg-1", "RI dan India perkuat kerja sama digital", "Ringkasan singkat.")
        }],
    );
    server.feed_with_etag("/wire.xml", wire, "\"w1\"");
    server.feed_with_last_modified("/agg.xml", aggregator, "Sun, 26 Jan 2025 10:00:00 GMT");
    server.route("/broken.xml", |_| crate::support::Response::new(500, "oops"));
    let feeds = [
        feed_toml("wire", &server.url("/wire.xml"), "language = \"id\""),
        feed_toml("aggregator", &server.url("/agg.xml"), ""),
        feed_toml("broken", &server.url("/broken.xml"), ""),
    ]
    .concat();
    let setup = Setup::new(&format!("{feeds}\n{TOPICS}"));
    (server, setup)
}

#[test]
fn fetch_then_query_in_every_format() {
    let (server, setup) = world();
    // The wire first, so its copy is the first one of the story.
    let out = ok(&setup.config, &["fetch", "wire"]);
    assert!(out.contains("1 feed: 1 ok, 0 failed; 2 new articles (0 copies)"), "{out}");
    let out = ok(&setup.config, &["fetch", "aggregator", "broken"]);
    assert!(out.contains("2 feeds: 1 ok, 1 failed; 1 new article (1 copy)"), "{out}");
    assert!(out.contains("error: http") && out.contains("HTTP 500"), "{out}");
    assert_eq!(server.hits("/wire.xml"), 1);

    // ndjson: one object per story, with the contract's fields and types.
    let rows = ndjson(&ok(&setup.config, &["search", "--format", "ndjson"]));
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for r in &rows {
        assert!(r["id"].is_i64() && r["story"].is_i64() && r["sources"].is_i64(), "{r}");
        assert!(r["feed"].is_string() && r["title"].is_string() && r["fetched"].is_string(), "{r}");
        assert!(r["topics"].is_array(), "{r}");
        for key in ["guid", "url", "published", "language", "duplicate_of", "duplicate_reason", "similarity"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let story = rows.iter().find(|r| r["sources"] == 2).expect("the seed story has two copies");
    assert_eq!(story["feed"], "wire");
    assert_eq!(story["topics"], serde_json::json!(["digital-cooperation"]));
    assert_eq!(story["language"], "id");
    assert_eq!(story["published"], "2025-01-26T03:00:00Z");

    // --all shows the copy, pointing at the first.
    let all = ndjson(&ok(&setup.config, &["search", "--all", "--format", "ndjson"]));
    assert_eq!(all.len(), 3);
    let copy = all.iter().find(|r| r["feed"] == "aggregator").unwrap();
    assert_eq!(copy["duplicate_of"], story["id"]);
    assert_eq!(copy["duplicate_reason"], "url");
    assert_eq!(copy["story"], story["id"]);

    // The query language over the archive, and topics.
    let hits = ndjson(&ok(&setup.config, &["search", "\"nota kesepahaman\" India", "--format", "ndjson"]));
    assert_eq!(hits.len(), 1);
    let none = ndjson(&ok(&setup.config, &["search", "MEMBACA OR komentar", "--format", "ndjson"]));
    assert!(none.is_empty(), "boilerplate lines must not match: {none:?}");
    let flagged: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&setup.config, &["search", "--topic", "digital-cooperation", "--format", "json"]))
            .unwrap();
    assert_eq!(flagged.len(), 1);
    let since = |when: &str| ndjson(&ok(&setup.config, &["search", "--since", when, "--format", "ndjson"])).len();
    assert_eq!((since("2025-01-26"), since("2025-01-27")), (2, 0));
    // A query with --since: the full-text match is bounded by the range's least article id.
    let matching_since =
        |q: &str, when: &str| ndjson(&ok(&setup.config, &["search", q, "--since", when, "--format", "ndjson"])).len();
    assert_eq!((matching_since("India", "2025-01-20"), matching_since("India", "2025-01-27")), (1, 0));
    assert_eq!(matching_since("India OR cabai", "2025-01-20"), 2);
    let until = ndjson(&ok(&setup.config, &["search", "--until", "2025-01-26", "--format", "ndjson"]));
    assert_eq!(until.len(), 2, "a date given to --until includes that day");

    // CSV with a header, and a table with no control characters from feed data.
    let csv = ok(&setup.config, &["search", "--format", "csv"]);
    assert!(csv.starts_with("id,feed,guid,url,title,published,fetched,language,topics,"), "{csv}");
    assert_eq!(csv.lines().count(), 3);
    let table = ok(&setup.config, &["search"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("Harga cabai naik"), "{table}");
    assert!(table.bytes().all(|b| b >= 0x20 || b == b'\n' || b == b'\t'), "control bytes in {table:?}");

    // show: text and JSON, with evidence, copies and the boilerplate set aside.
    let id = story["id"].as_i64().unwrap().to_string();
    let text = ok(&setup.config, &["show", &id]);
    assert!(text.contains("digital-cooperation (score"), "{text}");
    assert!(text.contains("copies of this story"), "{text}");
    assert!(text.contains("left out of matching") && text.contains("Tinggalkan komentar"), "{text}");
    let detail: serde_json::Value =
        serde_json::from_str(&ok(&setup.config, &["show", &id, "--format", "json"])).unwrap();
    assert_eq!(detail["copies"].as_array().unwrap().len(), 2);
    assert!(detail["topic_matches"][0]["evidence"][0]["term"].is_string());

    // feeds and topics.
    let feeds = ndjson(&ok(&setup.config, &["feeds", "--format", "ndjson"]));
    let broken = feeds.iter().find(|f| f["name"] == "broken").unwrap();
    assert_eq!(broken["last_error_kind"], "http");
    assert_eq!(broken["failures"], 1);
    assert!(broken["next_due"].is_string());
    let wire = feeds.iter().find(|f| f["name"] == "wire").unwrap();
    assert_eq!((wire["status"].as_str(), wire["articles"].as_i64()), (Some("ok"), Some(2)));
    let topics = ndjson(&ok(&setup.config, &["topics", "--format", "ndjson"]));
    let digital = topics.iter().find(|t| t["name"] == "digital-cooperation").unwrap();
    assert_eq!(digital["all"], 1);
    let health = topics.iter().find(|t| t["name"] == "health").unwrap();
    assert_eq!(health["all"], 0);
    let table = ok(&setup.config, &["feeds"]);
    assert!(table.contains("broken") && table.contains("HTTP 500"), "{table}");

    // A second fetch is conditional: 304s, nothing new.
    let out = ok(&setup.config, &["fetch"]);
    assert!(out.contains("3 feeds: 2 ok, 1 failed; 0 new articles"), "{out}");
    assert_eq!(server.requests("/wire.xml")[1].header("if-none-match"), Some("\"w1\""));
    assert_eq!(server.requests("/agg.xml")[1].header("if-modified-since"), Some("Sun, 26 Jan 2025 10:00:00 GMT"));
}

#[test]
fn bad_invocations_fail_clearly() {
    let (_server, setup) = world();
    let o = run(&setup.config, &["fetch", "nosuchfeed"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown feed \"nosuchfeed\" (configured: wire, aggregator, broken)"),
        "{}",
        stderr(&o)
    );

    // Before anything was fetched there is no database to query.
    let o = run(&setup.config, &["search"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("run `kabar fetch` or `kabar run` first"), "{}", stderr(&o));

    ok(&setup.config, &["fetch", "wire"]);
    let o = run(&setup.config, &["search", "digital AND (kerja"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("invalid query: column 19: expected ')'"), "{err}");
    assert!(err.contains("  digital AND (kerja\n                    ^"), "{err}");

    let o = run(&setup.config, &["search", "--since", "yesterday-ish"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&setup.config, &["show", "999999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no article with id 999999"));
    let o = run(&setup.config, &["search", "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
    assert!(stdout(&o).is_empty());
}

#[test]
fn extract_prints_a_pages_main_text_and_what_it_knows() {
    let page = crate::support::fixture("pages/wire.html");
    let page = page.to_str().unwrap();
    let out = crate::support::kabar().args(["extract", page, "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["language"], "id");
    assert_eq!(json["published"], "2025-01-26T07:05:00Z");
    assert_eq!(
        json["canonical_url"],
        "https://www.antaranews.example/berita/4610001/indonesia-dan-india-memperkuat-kerjasama-digital"
    );
    assert!(json["title"].as_str().unwrap().starts_with("Indonesia dan India"), "{json}");
    assert!(json["boilerplate"].as_array().unwrap().iter().any(|b| b == "Editor: Primayanti"), "{json}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // Text: paragraphs separated by blank lines; the same from standard input.
    let text = crate::support::kabar().args(["extract", page]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    let paragraphs: Vec<&str> = text.trim_end().split("\n\n").collect();
    assert!(paragraphs.len() >= 12 && paragraphs.iter().all(|p| !p.trim().is_empty() && !p.contains('\n')), "{text}");
    let mut child = crate::support::kabar()
        .args(["extract", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&std::fs::read(page).unwrap()).unwrap();
    assert_eq!(String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap(), text);
    // Not a page: exit 1 with the status.
    let feed = crate::support::fixture("parse/userland.xml");
    let refused = crate::support::kabar().args(["extract", feed.to_str().unwrap()]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("not_html") || stderr(&refused).contains("no_main_text"), "{}", stderr(&refused));
}
