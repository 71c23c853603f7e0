//! Every document of the shared corpus goes through parse and clean without a panic;
//! one that is not a feed gets a clear error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use kabar::config::FeedConfig;
use kabar::model::ErrorKind;
use kabar::pipeline::parse::Limits;
use kabar::poll::process;

use crate::support::corpus;

/// The default limits.
pub const LIMITS: Limits = Limits { max_entries: 1000, max_body: 16 << 20 };

/// The example configuration's topics, compiled: every path that processes documents in
/// tests runs them through topic matching too.
pub fn example_topics() -> kabar::pipeline::classify::Topics {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kabar.toml");
    let config = kabar::config::load(&path).unwrap();
    assert!(!config.topics.is_empty());
    kabar::pipeline::classify::Topics::new(config.topic_queries())
}

/// A feed configuration for processing files outside any daemon.
pub fn feed_config(name: &str) -> FeedConfig {
    let text = format!("[[feeds]]\nname = \"{name}\"\nurl = \"https://corpus.example/feed.xml\"\n");
    let config = kabar::config::parse(&text, Path::new("test.toml")).unwrap();
    config.feeds.into_iter().next().unwrap()
}

/// Every document of the corpus at `root`, in path order.
fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    files(root, &mut paths);
    paths.sort();
    paths
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if !matches!(path.file_name().and_then(|n| n.to_str()), Some("MANIFEST.tsv" | "SOURCES.md")) {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_file_parses_or_fails_clearly() {
    let Some(root) = corpus() else { return };
    let paths = corpus_files(&root);
    assert!(paths.len() >= 2000, "expected the whole corpus, found {} files", paths.len());
    let feed = feed_config("corpus");
    let url = feed.url.clone();
    let topics = example_topics();
    let (mut parsed, mut articles, mut failed, mut flagged) = (0, 0, Vec::new(), 0);
    let mut panics = Vec::new();
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| {
            process(&bytes, None, &url, &feed, &topics, &Default::default(), LIMITS)
        })) {
            Ok(Ok((_, a))) => {
                parsed += 1;
                articles += a.len();
                flagged += a.iter().filter(|a| !a.topics.is_empty()).count();
                for a in &a {
                    // Cleaning never leaves markup-sized gaps: no line is only spaces.
                    assert!(a.text.lines().all(|l| l.is_empty() || !l.trim().is_empty()), "{}", path.display());
                }
            }
            Ok(Err(e)) => {
                assert_eq!(e.kind, ErrorKind::Parse, "{}: {e}", path.display());
                assert!(e.message.len() > 10, "{}: unclear error {e}", path.display());
                failed.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
            Err(_) => panics.push(path.display().to_string()),
        }
    }
    crate::support::figure(
        "corpus",
        &format!(
            "{} files, {parsed} parsed ({articles} entries, {flagged} flagged by the example topics), {} refused with a parse error, 0 panics",
            paths.len(),
            failed.len()
        ),
    );
    assert!(panics.is_empty(), "panicked on {panics:#?}");
    // The well-formed feeds of the parser projects all parse.
    for must in [
        "feed-rs/feed-rs/fixture/rss2/rss_2.0_example_1.xml",
        "feed-rs/feed-rs/fixture/atom/atom_example_2.xml",
        "feed-rs/feed-rs/fixture/jsonfeed/jsonfeed_example_1.json",
        "feed-rs/feed-rs/fixture/rss1/rss_1.0_example_1.xml",
        "feed-rs/feed-rs/fixture/rss0/rss_0.91_spec_1.xml",
    ] {
        assert!(!failed.iter().any(|f| f == must), "{must} should parse");
    }
    // The figures ARCHITECTURE.md quotes.
    assert!(parsed >= 1_998, "only {parsed} of {} parsed", paths.len());
    assert!(articles >= 9_392, "only {articles} entries");
}

/// No file of the corpus reads worse than it did through feed-rs (`fixtures/corpus-floor.tsv`):
/// it still parses, with at least as many entries, and as many of them with a title, a
/// link, a date and a text.
#[test]
fn no_corpus_file_reads_worse_than_through_feed_rs() {
    let Some(root) = corpus() else { return };
    let floor =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus-floor.tsv")).unwrap();
    let url = url::Url::parse("https://corpus.example/feed.xml").unwrap();
    let (mut worse, mut totals, mut floors) = (Vec::new(), [0usize; 6], [0usize; 6]);
    for line in floor.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, was_ok) = (cols[0], cols[1] == "ok");
        let was: Vec<usize> = cols[2..7].iter().map(|c| c.parse().unwrap()).collect();
        let bytes = std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let now = match kabar::pipeline::parse::parse(&bytes, None, &url, chrono_tz::UTC, LIMITS) {
            Ok(f) => {
                let e = &f.entries;
                let count = |p: &dyn Fn(&kabar::model::Entry) -> bool| e.iter().filter(|x| p(x)).count();
                Some([
                    e.len(),
                    count(&|x| !x.title.trim().is_empty()),
                    count(&|x| x.link.is_some()),
                    count(&|x| x.published.is_some()),
                    count(&|x| x.summary_html.is_some() || x.content_html.is_some()),
                ])
            }
            Err(_) => None,
        };
        floors[0] += usize::from(was_ok);
        for (i, n) in was.iter().enumerate() {
            floors[i + 1] += n;
        }
        match now {
            None if was_ok => worse.push(format!("{file}: parsed before, refused now")),
            None => {}
            Some(n) => {
                totals[0] += 1;
                for (i, name) in ["entries", "titles", "links", "dates", "texts"].iter().enumerate() {
                    totals[i + 1] += n[i];
                    if n[i] < was[i] {
                        worse.push(format!("{file}: {name} {} before, {} now", was[i], n[i]));
                    }
                }
            }
        }
    }
    crate::support::figure(
        "corpus against feed-rs",
        &format!(
            "files parsed {} (was {}), entries {} ({}), titles {} ({}), links {} ({}), dates {} ({}), texts {} ({}); {} files read worse",
            totals[0],
            floors[0],
            totals[1],
            floors[1],
            totals[2],
            floors[2],
            totals[3],
            floors[3],
            totals[4],
            floors[4],
            totals[5],
            floors[5],
            worse.len()
        ),
    );
    assert!(worse.is_empty(), "{}", worse.join("\n"));
}

#[test]
fn an_html_page_is_refused_as_such() {
    let page = crate::support::fixture("feeds/not-a-feed.html");
    let bytes = std::fs::read(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let feed = feed_config("x");
    let e = process(&bytes, None, &feed.url, &feed, &Default::default(), &Default::default(), LIMITS).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parse);
    assert!(e.message.contains("HTML page"), "{e}");
}

/// The teaser rule (`full_text = "auto"`) on the corpus's real feeds: the Tempo snapshots
/// (a title and one sentence per item) are teasers, and full-text blogs among the real
/// feeds in `ranchero-rsparser` are not.
#[test]
fn the_teaser_rule_fetches_pages_for_teaser_feeds_and_not_for_full_text_ones() {
    let Some(root) = corpus() else { return };
    let share = |dir: &str, only: &[&str]| {
        let mut paths = Vec::new();
        files(&root.join(dir), &mut paths);
        let feed = feed_config("teasers");
        let (mut teasers, mut all) = (0usize, 0usize);
        for path in paths.iter().filter(|p| only.is_empty() || only.iter().any(|o| p.ends_with(o))) {
            let Ok((_, articles)) = process(
                &std::fs::read(path).unwrap(),
                None,
                &feed.url,
                &feed,
                &Default::default(),
                &Default::default(),
                LIMITS,
            ) else {
                continue;
            };
            for a in articles.iter().filter(|a| a.entry.link.is_some()) {
                all += 1;
                teasers += usize::from(kabar::pipeline::extract::teaser(a).is_some());
            }
        }
        (teasers, all)
    };
    let (t, n) = share("tempo-rss", &[]);
    crate::support::figure("teaser rule: tempo-rss", &format!("{t} of {n} entries are teasers"));
    assert!(n > 1000 && t * 100 >= n * 99, "{t} of {n}");
    let blogs =
        ["DaringFireball.rss", "inessential.json", "manton.rss", "russcox.atom", "allthis.atom", "monkeydom.rss"];
    let (t, n) = share("ranchero-rsparser", &blogs);
    crate::support::figure("teaser rule: full-text blogs", &format!("{t} of {n} entries are teasers"));
    // Measured 24 of 121: link posts and micro-posts of a few words, which are teasers.
    assert!(n > 50 && t * 4 <= n, "{t} of {n}");
}

/// A document's declared language is trusted once its articles agree with it
/// (`clean::DeclaredLanguage`): over the whole corpus, the languages stored are the
/// ones detecting every article gives, but for a handful.
#[test]
fn trusting_a_declared_language_changes_almost_no_article() {
    let Some(root) = corpus() else { return };
    let paths = corpus_files(&root);
    let feed = feed_config("corpus");
    let topics = example_topics();
    let (mut total, mut differ) = (0, Vec::new());
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        let Ok((_, articles)) = process(&bytes, None, &feed.url, &feed, &topics, &Default::default(), LIMITS) else {
            continue;
        };
        for a in &articles {
            total += 1;
            let kept = kabar::pipeline::clean::kept_text(&a.text, &a.boilerplate);
            let every =
                kabar::pipeline::clean::detect_language(&a.entry.title, &kept, a.entry.language.as_deref(), None);
            if a.language != every {
                differ.push(format!("{}: {:?} for {:?}", path.display(), a.language, every));
            }
        }
    }
    crate::support::figure(
        "declared languages",
        &format!("{} of {total} entries differ from detecting each", differ.len()),
    );
    assert!(total >= 9_392, "only {total} entries");
    assert!(differ.len() * 1000 <= total, "{} of {total} differ: {differ:#?}", differ.len());
}
