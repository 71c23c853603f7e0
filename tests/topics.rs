//! Topics: the digital-cooperation topic of config/kabar.toml on a labelled set, and
//! search finding exactly what a topic with the same query flags.

use std::collections::BTreeSet;
use std::path::Path;

use kabar::config::TopicConfig;
use kabar::model::Entry;
use kabar::pipeline::classify::{Topics, classify};
use kabar::pipeline::clean;
use kabar::query::{Doc, Matcher, Query};
use kabar::read::{SearchParams, search};
use kabar::store::{Reader, ScanFilter};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Set {
    article: Vec<Labelled>,
}

#[derive(Debug, Deserialize)]
struct Labelled {
    id: String,
    flag: bool,
    lang: String,
    title: String,
    text: String,
}

fn example_topic(name: &str) -> TopicConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kabar.toml");
    let config = kabar::config::load(&path).unwrap();
    config.topics.into_iter().find(|t| t.name == name).unwrap()
}

fn entry(a: &Labelled) -> Entry {
    let html: String = a.text.split("\n\n").map(|p| format!("<p>{}</p>", p.trim())).collect();
    Entry {
        guid: Some(a.id.clone()),
        link: Some(format!("https://news.example/{}", a.id)),
        title: a.title.clone(),
        content_html: Some(html),
        ..Entry::default()
    }
}

#[test]
fn digital_cooperation_precision_and_recall() {
    let set: Set = toml::from_str(include_str!("fixtures/topics/digital-cooperation.toml")).unwrap();
    assert!(set.article.len() >= 25);
    let topic = example_topic("digital-cooperation");
    let topics = Topics::new([(topic.name.as_str(), &topic.query)]);
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for a in &set.article {
        let article = clean::clean(entry(a), Some(&a.lang), None);
        let flagged = !classify(&article, "test", &topics).is_empty();
        match (a.flag, flagged) {
            (true, true) => tp += 1,
            (false, true) => {
                fp += 1;
                eprintln!("  flagged but should not be: {}", a.id);
            }
            (true, false) => {
                fn_ += 1;
                eprintln!("  missed: {}", a.id);
            }
            (false, false) => {}
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    crate::support::figure(
        "topic digital-cooperation",
        &format!(
            "precision {precision:.3}, recall {recall:.3} ({tp} flagged rightly, {fp} wrongly, {fn_} missed, of {} articles)",
            set.article.len()
        ),
    );
    assert!(precision >= 0.95, "precision {precision:.3}");
    assert!(recall >= 0.95, "recall {recall:.3}");
}

#[tokio::test]
async fn search_finds_exactly_what_a_topic_would_flag() {
    // An archive of every labelled article in the repository.
    let store = crate::support::Store::temporary();
    let db = store.database.clone();
    let writer = kabar::store::Writer::open(&db, Default::default()).unwrap();
    let state = writer.sync_feeds(vec![("f".into(), "https://f.example/".into())]).await.unwrap().remove(0);
    let mut articles = Vec::new();
    let topics: Set = toml::from_str(include_str!("fixtures/topics/digital-cooperation.toml")).unwrap();
    for a in &topics.article {
        articles.push(clean::clean(entry(a), Some(&a.lang), None));
    }
    for file in [include_str!("fixtures/dedup/stories.toml"), include_str!("fixtures/dedup/holdout.toml")] {
        let v: toml::Value = toml::from_str(file).unwrap();
        for a in v["article"].as_array().unwrap() {
            let l = Labelled {
                id: a["id"].as_str().unwrap().into(),
                flag: false,
                lang: a["lang"].as_str().unwrap().into(),
                title: a["title"].as_str().unwrap().into(),
                text: a["text"].as_str().unwrap().into(),
            };
            articles.push(clean::clean(entry(&l), Some(&l.lang), None));
        }
    }
    let record = kabar::model::PollRecord::fetched(state.id, articles);
    writer.record_poll(record).await.unwrap();
    writer.close().await;

    let reader = Reader::open(&db).unwrap();
    let digital = example_topic("digital-cooperation");
    let queries = [
        digital.query.source().to_string(),
        "kerjasama".into(),
        "\"kerja sama\"".into(),
        "kerja-sama digital*".into(),
        "cybersecurity OR \"cyber security\"".into(),
        "agreement".into(),
        "title:mou OR title:memorandum".into(),
        "(prabowo OR modi) NEAR/5 india".into(),
        "lang:en AI".into(),
        "digital* -bank".into(),
        "NOT digital".into(),
        "kesepaham*".into(),
        "\"transformasi digital\"".into(),
        "pekerjaan OR dikerjakan".into(),
    ];
    let mut total = 0;
    for q in &queries {
        let query = Query::parse(q).unwrap();
        // What a topic with this query flags: the matcher over every article.
        let matcher = Matcher::new([&query.expr]);
        let mut flagged = BTreeSet::new();
        reader
            .scan(&ScanFilter::default(), |row| {
                let kept = clean::kept_text(&row.text, &row.boilerplate);
                let doc = Doc::new(&row.title, &kept, row.language.as_deref(), &row.feed);
                if !matcher.matches(&doc).is_empty() {
                    flagged.insert(row.id);
                }
                true
            })
            .unwrap();
        let params = SearchParams { query: Some(query), all: true, limit: 100_000, ..SearchParams::default() };
        let found: BTreeSet<i64> = search(&reader, &params).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(found, flagged, "search and topic disagree on {q}");
        total += found.len();
    }
    assert!(total > 40, "the queries should find something: {total}");
}

/// Words whose forms the documents below are made of.
const VOCABULARY: &[&str] = &["kerja", "sama", "kerjasama", "digital", "economy", "banjir", "flood", "plan", "mou"];

/// Query texts over the same words: whole words, prefixes, phrases, NEAR.
const QUERIES: &[&str] = &[
    "kerjasama",
    "\"kerja sama\"",
    "kerja sama",
    "digital",
    "digital*",
    "kerja*",
    "economy",
    "banjir OR flood",
    "\"kerja sama\" NEAR/5 digital",
    "plan AND mou",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

    /// The search index narrows a search to the documents its FTS5 expression admits; every
    /// document the matcher flags must be among them, or search would miss what a topic flags.
    /// Documents are forms of the vocabulary (Indonesian prefixes and suffixes, English
    /// inflections), some written as two words at any point (`bekerja sama`, `digi talkan`).
    #[test]
    fn the_index_expression_admits_every_match(
        units in proptest::collection::vec(
            (proptest::sample::select(VOCABULARY), proptest::prelude::any::<usize>(), 0..12usize), 1..5),
        query in proptest::sample::select(QUERIES),
    ) {
        let body = units
            .iter()
            .map(|(word, pick, cut)| {
                let forms = kabar::query::forms::word_forms(word);
                let form = &forms[pick % forms.len()];
                // ASCII forms: any byte is a place to split; 0 and past the end leave it whole.
                if (1..form.len()).contains(cut) { format!("{} {}", &form[..*cut], &form[*cut..]) } else { form.clone() }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let q = Query::parse(query).unwrap();
        let matched = !Matcher::new([&q.expr]).matches(&Doc::new("", &body, Some("id"), "f")).is_empty();
        // The index as the migrations make it, fed as the store feeds it.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(&fts_ddl()).unwrap();
        conn.execute("INSERT INTO articles_fts (rowid, title, body) VALUES (1, '', ?1)", [kabar::text::token_string(&body)])
            .unwrap();
        let admitted: i64 = conn
            .query_row("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?1", [q.fts().unwrap()], |r| r.get(0))
            .unwrap();
        proptest::prop_assert!(!matched || admitted == 1, "{query} matches {body:?} but the index expression does not admit it");
    }
}

/// The statement that creates the search index, taken from the migrations themselves.
fn fts_ddl() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        if let Some(start) = sql.find("CREATE VIRTUAL TABLE articles_fts") {
            let end = start + sql[start..].find(");").expect("the statement ends") + 2;
            return sql[start..end].to_string();
        }
    }
    panic!("no migration creates articles_fts");
}

/// A feed with a few stories for topic tests.
fn topic_world() -> (crate::support::Server, crate::support::Setup, String) {
    use crate::support::{Item, Server, body, feed_toml, rss};
    let server = Server::start();
    let items = vec![
        Item::new("a1", "Indonesia dan Jepang sepakati kerja sama digital", &body("kerja sama digital", 1)),
        Item::new("a2", "Harga beras naik di Jakarta", &body("harga beras", 2)),
        Item::new("a3", "Bank digital catat laba", &body("bank digital", 3)),
        Item::new("a4", "RI dan Australia bekerja sama di bidang pertahanan", &body("pertahanan", 4)),
    ];
    server.feed_with_etag("/f.xml", rss("f", &items), "\"v1\"");
    let feeds = feed_toml("f", &server.url("/f.xml"), "");
    let setup = crate::support::Setup::new(&format!("{feeds}\n[[topics]]\nname = \"digital\"\nquery = \"digital\"\n"));
    (server, setup, feeds)
}

fn topic_counts(setup: &crate::support::Setup) -> Vec<serde_json::Value> {
    crate::support::ndjson(&crate::support::ok(&setup.config, &["topics", "--format", "ndjson"]))
}

#[test]
fn a_changed_topic_is_re_evaluated_over_the_archive_by_fetch() {
    let (_server, setup, feeds) = topic_world();
    crate::support::ok(&setup.config, &["fetch"]);
    let t = topic_counts(&setup);
    assert_eq!((t[0]["name"].as_str(), t[0]["all"].as_i64()), (Some("digital"), Some(2)));

    // Change the query and add a topic: the feed answers 304, nothing new is stored, yet
    // both topics now reflect the whole archive.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let text = text.replace(
        "[[topics]]\nname = \"digital\"\nquery = \"digital\"\n",
        "[[topics]]\nname = \"digital\"\nquery = \"digital NEAR/3 \\\"kerja sama\\\"\"\n\n[[topics]]\nname = \"cooperation\"\nquery = \"kerjasama\"\n",
    );
    assert!(text.contains("cooperation") && text.contains(&feeds));
    std::fs::write(&setup.config, text).unwrap();
    let out = crate::support::ok(&setup.config, &["fetch"]);
    assert!(out.contains("0 new articles"), "{out}");
    let t = topic_counts(&setup);
    let count = |name: &str| t.iter().find(|x| x["name"] == name).unwrap()["all"].as_i64().unwrap();
    assert_eq!(count("digital"), 1, "{t:?}");
    assert_eq!(count("cooperation"), 2, "kerja sama and bekerja sama: {t:?}");
    assert!(t.iter().all(|x| x["reindex"].is_null()), "{t:?}");
    // `topics test` previews a query with the same counts.
    let preview = crate::support::ok(&setup.config, &["topics", "test", "kerjasama"]);
    assert!(preview.contains("2 stories (2 articles) of the 4 stored articles match"), "{preview}");
}

#[test]
fn the_daemon_re_evaluates_a_changed_topic_in_the_background() {
    let (_server, setup, _) = topic_world();
    crate::support::ok(&setup.config, &["fetch"]);
    let text = std::fs::read_to_string(&setup.config).unwrap().replace("query = \"digital\"", "query = \"beras\"");
    std::fs::write(&setup.config, text).unwrap();
    let mut child = crate::support::spawn_daemon(&setup);
    let done = crate::support::wait_for(std::time::Duration::from_secs(15), || {
        let t = topic_counts(&setup);
        t[0]["all"].as_i64() == Some(1) && t[0]["reindex"].is_null()
    });
    crate::support::terminate(&child);
    let _ = child.wait();
    assert!(done, "{:?}\n{}", topic_counts(&setup), crate::support::daemon_log(&setup));
    let hits = crate::support::ndjson(&crate::support::ok(
        &setup.config,
        &["search", "--topic", "digital", "--format", "ndjson"],
    ));
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["title"], "Harga beras naik di Jakarta");
}
