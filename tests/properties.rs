//! Bad input everywhere: property tests that no input makes a stage panic, plus the
//! inputs the fuzzers found (`fixtures/fuzz/`), replayed.

use std::path::Path;

use kabar::pipeline::{clean, decode, parse};
use kabar::poll::process;
use kabar::query::{Doc, Matcher, Query};
use proptest::prelude::*;

use crate::corpus::{LIMITS, example_topics, feed_config};

/// Strings that look like feeds: tags, entities, CDATA, declarations and text mixed.
fn xmlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<rss version=\"2.0\">".to_string()),
        Just("<channel>".to_string()),
        Just("<item>".to_string()),
        Just("</item>".to_string()),
        Just("<entry>".to_string()),
        Just("<feed xmlns=\"http://www.w3.org/2005/Atom\">".to_string()),
        Just("<title>".to_string()),
        Just("</title>".to_string()),
        Just("<guid>".to_string()),
        Just("<link>".to_string()),
        Just("<pubDate>".to_string()),
        Just("<![CDATA[".to_string()),
        Just("]]>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x1F600;".to_string()),
        Just("&nbsp;".to_string()),
        Just("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>".to_string()),
        Just("<!DOCTYPE x [<!ENTITY a \"b\">]>".to_string()),
        "[a-zA-Z0-9 ]{0,12}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// The topics every document of these tests is matched against.
fn topics() -> &'static kabar::pipeline::classify::Topics {
    static TOPICS: std::sync::OnceLock<kabar::pipeline::classify::Topics> = std::sync::OnceLock::new();
    TOPICS.get_or_init(example_topics)
}

/// HTML made of the pieces attacks are made of.
fn hostile_html() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<script>alert(1)</script>".to_string()),
        Just("<img src=x onerror=alert(1)>".to_string()),
        Just("<a href=\"javascript:alert(1)\">x</a>".to_string()),
        Just("<a href=\"#frag\">rel</a>".to_string()),
        Just("<a href=\"/path\">rel</a>".to_string()),
        Just("<svg onload=alert(1)>".to_string()),
        Just("<iframe src=//e.example>".to_string()),
        Just("<p style=\"x:expression(1)\">".to_string()),
        Just("<div onmouseover='x'>".to_string()),
        Just("&#106;avascript:".to_string()),
        Just("<scr".to_string()),
        Just("ipt>".to_string()),
        Just("<![CDATA[".to_string()),
        "[a-z <>=\"']{0,10}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// The tags of sanitised HTML (text is escaped, so every `<` opens a tag): each name,
/// and its attributes as `(name, value)`.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for part in html.split('<').skip(1) {
        let inner = part.split('>').next().unwrap_or("");
        let inner = inner.trim_start_matches('/');
        let name: String = inner.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let mut attrs = Vec::new();
        let mut rest = &inner[name.len()..];
        while let Some(eq) = rest.find('=') {
            let key = rest[..eq].trim().rsplit(' ').next().unwrap_or("").to_string();
            let after = rest[eq + 1..].trim_start();
            let (value, tail) = match after.strip_prefix('"') {
                Some(v) => v.split_once('"').unwrap_or((v, "")),
                None => after.split_once(' ').unwrap_or((after, "")),
            };
            attrs.push((key, value.to_string()));
            rest = tail;
        }
        out.push((name, attrs));
    }
    out
}

fn query_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("AND ".to_string()),
        Just("OR ".to_string()),
        Just("NOT ".to_string()),
        Just("-".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"".to_string()),
        Just("*".to_string()),
        Just("NEAR/3 ".to_string()),
        Just("NEAR ".to_string()),
        Just("title:".to_string()),
        Just("lang:".to_string()),
        Just("feed:".to_string()),
        Just("kerja sama ".to_string()),
        "[a-zé]{1,8} ",
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every stage, topic matching included, on documents of tags, entities and text in
    /// any order: no panic, and the entry keys of one document are all different.
    #[test]
    fn the_feed_path_never_panics(text in xmlish(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let feed = feed_config("p");
        let topics = topics();
        for input in [text.as_bytes(), &bytes[..]] {
            if let Ok((_, articles)) = process(input, None, &feed.url, &feed, topics, &Default::default(), LIMITS) {
                for trust in [true, false] {
                    let keys = kabar::pipeline::dedup::entry_keys(&articles, trust);
                    let distinct: std::collections::HashSet<&String> = keys.iter().collect();
                    prop_assert_eq!(distinct.len(), articles.len(), "keys {:?}", keys);
                }
            }
            let _ = decode::decode(input, Some("iso-8859-1"));
        }
    }

    #[test]
    fn the_query_language_never_panics(q in query_text(), title in "\\PC{0,40}", body in "\\PC{0,200}") {
        match Query::parse(&q) {
            Ok(query) => {
                let _ = query.fts();
                let m = Matcher::new([&query.expr]);
                let _ = m.matches(&Doc::new(&title, &body, Some("id"), "f"));
            }
            Err(e) => {
                prop_assert!(e.column >= 1 && e.column <= q.chars().count() + 1, "column {} for {:?}", e.column, q);
                prop_assert!(e.message.starts_with("expected "));
            }
        }
    }

    /// Queries built around the limits (nesting of every kind, many words, long text):
    /// each parses within every limit, or is refused at a column inside the query; one
    /// that parses is walked by the index expression and the matcher without trouble.
    #[test]
    fn queries_at_the_limits_parse_within_them_or_are_refused_at_a_column(
        opens in prop::collection::vec(prop_oneof![Just("("), Just("NOT ("), Just("-("), Just("title:("), Just("a NEAR (")], 0..60),
        words in 1usize..260,
        padding in 0usize..4_200,
    ) {
        use kabar::query::limits::{MAX_CHARS, MAX_DEPTH, MAX_WORDS};
        let mut q: String = opens.concat();
        let inner: Vec<String> = (0..words).map(|i| format!("w{i}")).collect();
        q.push_str(&inner.join(" "));
        q.push_str(&" ".repeat(padding));
        for open in opens.iter().rev() {
            q.push_str(&")".repeat(open.matches('(').count()));
        }
        // `NOT (`, `-(`, `title:(` and `a NEAR (` open two levels each.
        let depth: usize = opens.iter().map(|o| if *o == "(" { 1 } else { 2 }).sum();
        let near_words = opens.iter().filter(|o| **o == "a NEAR (").count();
        // NOT inside NEAR is a syntax error of its own (NOT has no position).
        let not_in_near = opens
            .iter()
            .position(|o| o.starts_with("a NEAR"))
            .is_some_and(|i| opens[i..].iter().any(|o| o.starts_with("NOT") || o.starts_with('-')));
        match Query::parse(&q) {
            Ok(query) => {
                prop_assert!(depth <= MAX_DEPTH && words + near_words <= MAX_WORDS && q.chars().count() <= MAX_CHARS);
                prop_assert!(!not_in_near);
                let _ = query.fts();
                let _ = Matcher::new([&query.expr]).matches(&Doc::new("w1 a", "w2 w3 a", Some("id"), "f"));
            }
            Err(e) => {
                let past = depth > MAX_DEPTH || words + near_words > MAX_WORDS || q.chars().count() > MAX_CHARS;
                prop_assert!(past || (not_in_near && e.message.contains("both sides of NEAR")), "{}", e);
                prop_assert!(e.column >= 1 && e.column <= q.chars().count() + 1, "column {} for {:?}", e.column, q);
            }
        }
    }

    /// The text helpers on any text: no panic, and whatever comes out of the sanitiser
    /// holds no script, no event handler and no link that is code.
    #[test]
    fn text_helpers_never_panic(s in "\\PC{0,200}", any_text in ".{0,100}", hostile in hostile_html()) {
        let _ = clean::html_to_text(&s);
        let _ = clean::canonical_url(&s);
        let _ = clean::split_boilerplate(&s, None);
        let _ = parse::parse_date(&any_text, chrono_tz::UTC);
        let _ = kabar::text::tokens(&s);
        for input in [s.as_str(), hostile.as_str()] {
            for base in [Some("https://e.example/"), Some("javascript:alert(1)//"), None] {
                let clean = kabar::api::sanitise(input, base).to_ascii_lowercase();
                for (tag, attrs) in tags(&clean) {
                    prop_assert!(!matches!(tag.as_str(), "script" | "iframe" | "style" | "object" | "embed" | "svg"), "<{}> survived in {:?} -> {:?}", tag, input, clean);
                    for (name, value) in attrs {
                        prop_assert!(!name.starts_with("on"), "{}= survived in {:?} -> {:?}", name, input, clean);
                        let v = value.trim_start();
                        let code = ["javascript:", "vbscript:", "data:"].iter().any(|p| v.starts_with(p));
                        prop_assert!(!code, "{}=\"{}\" survived in {:?} -> {:?}", name, value, input, clean);
                    }
                }
            }
        }
    }

    #[test]
    fn config_errors_never_panic_and_have_positions(text in "[a-z_\\[\\]=\"'{}.,0-9 \\n#%/:-]{0,300}") {
        match kabar::config::parse(&text, Path::new("k.toml")) {
            Ok(_) => {}
            Err(kabar::config::ConfigError::Invalid { issues, .. }) => {
                prop_assert!(!issues.is_empty());
                for i in &issues {
                    prop_assert!(i.line >= 1 && !i.message.is_empty(), "{:?}", i);
                }
            }
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }
}

/// Inputs the fuzzers once found interesting or crashing; each must still run cleanly.
#[test]
fn fuzz_findings_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let feed = feed_config("fuzz");
    let mut replayed = 0;
    for target in ["feed", "query"] {
        let entries = std::fs::read_dir(dir.join(target)).unwrap_or_else(|e| panic!("fixtures/fuzz/{target}: {e}"));
        for e in entries.flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            match target {
                "feed" => {
                    let _ = process(&bytes, None, &feed.url, &feed, topics(), &Default::default(), LIMITS);
                }
                _ => {
                    if let Ok(q) = Query::parse(&String::from_utf8_lossy(&bytes)) {
                        let _ = q.fts();
                        let _ = Matcher::new([&q.expr]).matches(&Doc::new("a b", "c d", None, "f"));
                    }
                }
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no saved fuzz input replayed");
    crate::support::figure("fuzz findings", &format!("{replayed} saved inputs replayed, 0 panics"));
}
